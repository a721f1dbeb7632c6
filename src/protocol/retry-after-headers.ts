/**
 * Retry headers for a wait, as the gateway and the emulator write those they compute (a fixed
 * one-second Retry-After, for a failed limit store or an injected fault, is written as it is): Retry-After in whole
 * seconds, rounded up and at least 1 so a client never retries at once; and retry-after-ms, which
 * both official SDKs read first (and the gateway reads from its upstreams), for a wait shorter than
 * a second or not a whole number of them.
 */
export function retryAfterHeaders(retryAfterMs: number): Record<string, string> {
  if (!Number.isFinite(retryAfterMs)) return {};
  const ms = Math.max(1, Math.ceil(retryAfterMs));
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(ms) };
}
