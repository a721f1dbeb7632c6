import { timingSafeEqual } from 'node:crypto';
import { ClientError } from './client-error.js';
import { hashApiKey } from './hash-api-key.js';

/**
 * Who may read GET /metrics, which shows every tenant's id and use: anyone who reaches the port when
 * the config lists no scrape key (as scrapers expect), else a request that presents one of the listed
 * keys as `Authorization: Bearer <key>` (Prometheus' `authorization` scrape setting). Returns the
 * check, which throws a 401 for any other request; a tenant's key is no scrape key (the config refuses one).
 */
export function scrapeKeyCheck(scrapeKeySha256: string | readonly string[] | undefined): (bearer: string | undefined) => void {
  if (scrapeKeySha256 === undefined) return () => undefined;
  const digests = (typeof scrapeKeySha256 === 'string' ? [scrapeKeySha256] : scrapeKeySha256).map((hex) => Buffer.from(hex, 'hex'));
  return (bearer) => {
    const presented = bearer === undefined || bearer === '' ? undefined : Buffer.from(hashApiKey(bearer), 'hex');
    // Compared with every listed digest, in constant time each: no early answer tells which came close.
    let matched = false;
    for (const digest of digests) if (presented !== undefined && timingSafeEqual(presented, digest)) matched = true;
    if (!matched) throw new ClientError(401, 'authentication', "GET /metrics needs the gateway's scrape key: send it as \"Authorization: Bearer <key>\" (its SHA-256 is listed in the config's metrics.scrapeKeySha256)", { headers: { 'www-authenticate': 'Bearer realm="metrics"' }, isRetryable: false });
  };
}
