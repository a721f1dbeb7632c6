import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { defaultMaxJsonValues, holdsMoreJsonValues } from '../protocol/json-value-count.js';
import { isQuotableName } from '../protocol/request-problem.js';
import { withoutByteOrderMark } from '../protocol/without-byte-order-mark.js';
import type { Cancellation } from './cancellation.js';
import { ClientError } from './client-error.js';
import { retryAfterHeaders } from '../protocol/retry-after-headers.js';

/** How the gateway reads a body, beyond its limit. */
export interface BodyReading {
  /** Asked for each chunk's bytes (the gateway's budget of body bytes held at once): a 503 to retry when it refuses them. */
  readonly take?: (bytes: number) => boolean;
  /** Stops the reading when its cancellation comes first (a shutdown), with its error. */
  readonly abandon?: { readonly cancellation: Cancellation; readonly because: () => ClientError };
  /** Called once the headers pass and the body is about to be read (where a 100 Continue is sent). */
  readonly beforeReading?: () => void;
  /** How many JSON values the body may hold (see holdsMoreJsonValues): a 413 past that. */
  readonly maxJsonValues?: number;
}

/**
 * A request's JSON body, at most `limit` bytes: a 413 ClientError past that (before reading, when
 * its Content-Length says so) or past `reading.maxJsonValues` values, a 400 for an empty body or
 * text that is not UTF-8 or not JSON (never quoting it), a 415 for a compressed body or a charset
 * other than UTF-8, a 499 for a client that left mid-body.
 */
export function readJsonBody(req: IncomingMessage, limit: number, reading: BodyReading = {}): Promise<unknown> {
  // A transfer coding other than chunked (gzip, say) would be read as the body's bytes: refused as
  // RFC 9112 (6.1) says, rather than as text that is "not UTF-8".
  const transfer = req.headers['transfer-encoding']?.toLowerCase().split(',').find((coding) => coding.trim() !== 'chunked')?.trim();
  if (transfer !== undefined) {
    const named = isQuotableName(transfer) ? `transfer-encoding '${transfer}'` : 'this transfer-encoding';
    return Promise.reject(new ClientError(501, 'invalid_request', `${named} is not supported: send the body uncompressed, with transfer-encoding chunked or a content-length`));
  }
  const coding = req.headers['content-encoding']?.trim().toLowerCase();
  // An empty coding list means no coding (RFC 9110, 8.4).
  if (coding !== undefined && coding !== '' && coding !== 'identity') {
    // Read as text, a compressed body would be refused as "not JSON": say what is wrong instead.
    // The header is the caller's text: named only when it is a plain name.
    const named = isQuotableName(coding) ? `content-encoding '${coding}'` : 'this content-encoding';
    return Promise.reject(new ClientError(415, 'invalid_request', `${named} is not supported: send the body uncompressed`));
  }
  // JSON is UTF-8 (RFC 8259, 8.1). A body in a charset that is not ASCII-compatible (UTF-16, UTF-32)
  // would only read as "not JSON"; others (ISO-8859-1, as Java clients label JSON) are read as UTF-8,
  // which is right for the ASCII that JSON serialisers write, escaping the rest.
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && /^(utf-?(16|32)|ucs-?[24])/.test(charset)) {
    const named = isQuotableName(charset) ? `charset '${charset}'` : 'this charset';
    return Promise.reject(new ClientError(415, 'invalid_request', `${named} is not supported: send the JSON body as UTF-8`));
  }
  // A body declared too large is refused before any of it is sent or read.
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  const { abandon } = reading;
  reading.beforeReading?.();
  // Plain events, not `for await`: the async iterator costs measurably per request on the hot path.
  let budget = reading.take;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Read to its end, or refused: nothing more to stop.
    const stopWatching = abandon === undefined
      ? undefined
      : abandon.cancellation.onCancel(() => {
          req.removeAllListeners('data');
          req.pause();
          reject(abandon.because());
        });
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading here; after the answer, the rest is read and dropped (see discardRestOfBody).
        req.removeAllListeners('data');
        req.pause();
        stopWatching?.();
        reject(tooLarge(limit));
        return;
      }
      if (budget !== undefined && !budget(chunk.length)) {
        req.removeAllListeners('data');
        req.pause();
        stopWatching?.();
        reject(new ClientError(503, 'overloaded', 'the gateway holds as many request bodies as it takes at once (limits.maxBodyBytesInFlight): retry shortly', { headers: retryAfterHeaders(1000) }));
        return;
      }
      chunks.push(chunk);
    };
    // A client that leaves mid-body is a 499, not the gateway's own error.
    const onError = (): void => {
      stopWatching?.();
      reject(new ClientError(499, 'invalid_request', 'the client went away while sending the body'));
    };
    req.on('data', onData);
    req.once('error', onError);
    req.once('end', () => {
      stopWatching?.();
      budget = undefined;
      // The request lives as long as its answer streams: listeners of the reading would hold this
      // reader (its chunk list, its promise) that long. An error after the end is nobody's now.
      req.removeListener('data', onData);
      req.removeListener('error', onError);
      req.on('error', ignoreError);
      if (size > limit) return;
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      // Decoded as it is, a byte that is not UTF-8 would become U+FFFD and a changed prompt go upstream.
      if (!isUtf8(bytes)) {
        reject(new ClientError(400, 'invalid_request', 'request body is not valid UTF-8: send the JSON body as UTF-8 (JSON is UTF-8; another charset, such as ISO-8859-1, is not converted)'));
        return;
      }
      const maxValues = reading.maxJsonValues ?? defaultMaxJsonValues;
      if (holdsMoreJsonValues(bytes, maxValues)) {
        reject(new ClientError(413, 'too_large', `request body holds more than ${String(maxValues)} JSON values (objects, arrays and their entries), which would hold the gateway up parsing them: send less (data in tool calls as a string, or in fewer turns), or ask the operator to raise limits.maxJsonValues`));
        return;
      }
      const raw = bytes.toString('utf8');
      const text = withoutByteOrderMark(raw);
      if (text.trim() === '') {
        reject(new ClientError(400, 'invalid_request', 'request body is empty: send the request as a JSON object'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch {
        // JSON.parse quotes the body in its message: not in a log, not back to the client.
        reject(new ClientError(400, 'invalid_request', 'request body is not valid JSON; check its quoting, commas and brackets'));
      }
    });
  });
}

function ignoreError(): void {}

function tooLarge(limit: number): ClientError {
  return new ClientError(413, 'too_large', `request body exceeds the ${limit}-byte limit: send less (images by URL rather than inline), or ask the operator to raise limits.maxBodyBytes`);
}
