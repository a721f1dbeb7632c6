import type { IncomingMessage } from 'node:http';
import { holdsKeyInId } from './credential-text.js';
import { presentedKeys } from './request-head.js';
import type { TenantDirectory } from './tenant-directory.js';

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

/**
 * A request's id: the caller's x-request-id when it is a plain token and no key, else `newId()`. It is
 * echoed, logged on every line and sent upstream, so a key pasted there (a provider's, or a tenant's
 * own, found by its hash, whole or as a piece between the id's punctuation) would be too (E42, R36).
 */
export function requestIdFrom(presented: string | undefined, headers: IncomingMessage['headers'], tenants: TenantDirectory, newId: () => string): string {
  if (presented === undefined || !requestIdPattern.test(presented) || holdsKeyInId(presented)) return newId();
  // The request's own key, glued to other words in any way ('req-<key>', R37, R38): found as text
  // in one pass. Keys under 8 characters are placeholders, no secret (see the logging docs).
  const keys = presentedKeys(headers);
  for (const own of [keys.bearer, keys.apiKeyHeader]) {
    if (own !== undefined && own.length >= 8 && presented.includes(own)) return newId();
  }
  const pieces = presented.split(/[.:@/+=]+/);
  return [presented, ...(pieces.length > 1 ? pieces : [])].some((piece) => tenants.authenticate(piece) !== undefined) ? newId() : presented;
}
