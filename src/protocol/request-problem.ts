import type { z } from 'zod';
import type { Parsed } from './chat.js';

/** A client's request that failed its dialect's schema, as a 400 naming the first bad field. */
export function invalidRequest(error: z.ZodError): Parsed<never> {
  const issue = error.issues[0];
  const param = issue?.path.join('.') ?? '';
  return { ok: false, problem: { status: 400, kind: 'invalid_request', message: `${param === '' ? 'request' : param}: ${issue?.message ?? 'invalid request'}`, param } };
}
