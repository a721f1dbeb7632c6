import type { ServerResponse } from 'node:http';
import { stringifyJson } from './raw-json.js';

/** Reason phrases of statuses Node does not name (it writes 'unknown'): Anthropic's overload. */
const reasonPhrases: Readonly<Record<number, string>> = { 529: 'Overloaded' };

/**
 * A whole JSON response with its length, the head written once. `headers` is completed in place
 * (content type and length): callers pass an object of their own, which saves a copy per response.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = stringifyJson(body);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(text));
  const reason = reasonPhrases[status];
  if (reason === undefined) res.writeHead(status, headers);
  else res.writeHead(status, reason, headers);
  res.end(text);
}
