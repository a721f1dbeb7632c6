import type { z } from 'zod';
import type { Parsed } from './chat.js';

/** A client's request that failed its dialect's schema, as a 400 naming the first bad field. */
export function invalidRequest(error: z.ZodError): Parsed<never> {
  const issue = error.issues[0];
  const param = issue?.path.join('.') ?? '';
  return { ok: false, problem: { status: 400, kind: 'invalid_request', message: `${param === '' ? 'request' : param}: ${issue?.message ?? 'invalid request'}`, param } };
}

/**
 * The message for message content that is neither a string nor text blocks: names the first other
 * block type sent (image, document, tool_use, thinking...), so a caller sees what was refused.
 */
export function unsupportedContent(blockName: string): (issue: { readonly input?: unknown }) => string {
  return (issue) => {
    const other = Array.isArray(issue.input) ? (issue.input as unknown[]).find((block) => (block as { type?: unknown } | null)?.type !== 'text') : undefined;
    const type = (other as { type?: unknown } | undefined)?.type;
    const named = typeof type === 'string' ? `'${type.slice(0, 40)}' ${blockName}s are not supported by this gateway yet` : 'not a string or an array of text ' + blockName + 's';
    return `content must be a string or an array of text ${blockName}s ({"type": "text", "text": ...}): ${named}`;
  };
}
