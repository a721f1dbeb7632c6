import { distance } from 'fastest-levenshtein';
import type { IncomingMessage } from 'node:http';
import { jurisdictionNameRule } from '../domain/jurisdictions.js';
import { quoteIdentifier } from '../protocol/request-problem.js';
import { ClientError } from './client-error.js';
import { malformedJurisdictionHeader, parseJurisdictionHeader } from './route-request.js';

/** Header a caller may send to narrow (never widen) its tenant's jurisdictions, comma-separated. */
const jurisdictionHeader = 'x-switchyard-jurisdiction';

/**
 * The jurisdictions the request's header narrows to. A part that is no name (`us eu`, `us;eu`) is
 * refused with how to write several, rather than read as a name no endpoint has (a 503 that hides why).
 */
export function headerJurisdictionsOf(req: IncomingMessage): readonly string[] | undefined {
  const lines = jurisdictionHeaderLines(req);
  const malformed = malformedJurisdictionHeader(lines);
  if (malformed !== undefined) {
    // Node reads header bytes as Latin-1: past ASCII the value would come back garbled, so it is not shown.
    // eslint-disable-next-line no-control-regex -- a tab or control character is what is looked for
    const shown = /[^\x00-\x7e]/.test(malformed) ? 'holds characters past ASCII, which make' : /[\x00-\x1f\x7f]/.test(malformed) ? 'holds a tab or a control character, which makes' : `holds ${quoteIdentifier(malformed)}, which is`;
    throw new ClientError(400, 'invalid_request', `the ${jurisdictionHeader} header ${shown} no jurisdiction name (${jurisdictionNameRule}): separate several names with commas, as in '${jurisdictionHeader}: eu, uk'`, { isRetryable: false });
  }
  return parseJurisdictionHeader(lines);
}

/** The jurisdiction header's lines: Node joins repeated lines with commas, which would make their union. */
function jurisdictionHeaderLines(req: IncomingMessage): string | string[] | undefined {
  refuseMisspeltHeader(req);
  const joined = req.headers[jurisdictionHeader];
  // headersDistinct is built from every header on each read: only when a line may repeat.
  return joined?.includes(',') === true ? req.headersDistinct[jurisdictionHeader] : joined;
}

/**
 * A header meant for the gateway but misspelt would be ignored, and with it the narrowing the caller
 * asked for: refused, naming the one it reads. Meant for the gateway, case, dashes and underscores
 * aside: a name with `switchyard` in it (`x-switchyard-jurisdictions`, `switch-yard-jurisdiction`),
 * one within three edits of `x-switchyard-jurisdiction` (`x-swichyard-jrisdiction`), or a bare
 * `jurisdiction(s)` (`x-jurisdiction`). Other systems' headers (`cf-r2-jurisdiction`,
 * `x-customer-jurisdiction`) pass.
 */
function refuseMisspeltHeader(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] ?? '';
    if (!meansJurisdictionHeader(name) || name.toLowerCase() === jurisdictionHeader) continue;
    throw new ClientError(400, 'invalid_request', `unknown header ${quoteIdentifier(name)}: the gateway reads ${jurisdictionHeader} alone, and would have ignored this one (and the jurisdictions it names); did you mean ${jurisdictionHeader}?`, { isRetryable: false });
  }
}

const squeezedHeader = jurisdictionHeader.replace(/[-_]/g, '');

/** Whether a header name is the jurisdiction header or meant as it (see refuseMisspeltHeader). */
function meansJurisdictionHeader(name: string): boolean {
  // A name three edits from it keeps one of these (breaking all takes four), and most names,
  // the SDKs' x-stainless-* among them, have none: only the few that do are looked at closer.
  if (!/swi|yard|jur|isd|dict/i.test(name)) return false;
  const squeezed = name.toLowerCase().replace(/[-_]/g, '');
  return squeezed.includes('switchyard') || /^x?jurisdictions?$/.test(squeezed) || (Math.abs(squeezed.length - squeezedHeader.length) <= 3 && distance(squeezed, squeezedHeader) <= 3);
}

/**
 * The jurisdiction header sent as a chunked body's trailer, which the gateway does not read (RFC 9110
 * lets a server ignore trailers): ignored, it would lose the narrowing it asks for. Refused instead,
 * once the body is in, before the request is charged.
 */
export function refuseJurisdictionTrailer(req: IncomingMessage): void {
  const raw = req.rawTrailers;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] ?? '';
    if (meansJurisdictionHeader(name)) throw new ClientError(400, 'invalid_request', `the ${jurisdictionHeader} came as a trailer after the body (as ${quoteIdentifier(name)}), where the gateway does not read it: send it among the request's headers`, { isRetryable: false });
  }
}
