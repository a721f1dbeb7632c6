import { expect, it } from 'vitest';
import { EndpointPool } from '../../src/gateway/endpoint-pool.js';
import { retryAfterHeaders } from '../../src/protocol/retry-after-headers.js';
import { singleEndpointConfig } from './helpers/fleet.js';

const config = singleEndpointConfig('http://127.0.0.1:9', 'sk-pool', '{ circuitBreaker: { failureThreshold: 1, openMs: 5000 } }');

it('says when an ejected endpoint takes a probe again: what its open circuit has left, never under a second (a probe in flight has no schedule)', () => {
  let now = 1_000_000;
  const pool = new EndpointPool(config, {}, () => now);
  const endpoint = pool.get('up');
  if (endpoint === undefined) throw new Error('config');
  pool.setCircuit(endpoint, 'failure');
  expect(pool.msUntilProbe(['up'])).toBe(5000);
  now += 4700;
  expect(pool.msUntilProbe(['up'])).toBe(1000);
  now += 400;
  pool.setCircuit(endpoint, 'probe-start');
  expect(endpoint.circuit).toEqual({ status: 'half-open', probesInFlight: 1, failedProbes: 0 });
  // The SDKs read retry-after-ms first: a caller must not be told to come back in a millisecond.
  expect(retryAfterHeaders(pool.msUntilProbe(['up']))).toEqual({ 'retry-after': '1', 'retry-after-ms': '1000' });
  expect(pool.msUntilProbe([])).toBe(1000);
});

it("says an attempt sent before the circuit last opened is no verdict, open, half-open or closed again by a probe (R74: a late time-out reopened a recovered endpoint)", () => {
  let now = 1_000_000;
  const pool = new EndpointPool(config, {}, () => now);
  const endpoint = pool.get('up');
  if (endpoint === undefined) throw new Error('config');
  // Attempts 1 to 3 are out when the circuit opens.
  endpoint.attempts = 3;
  pool.setCircuit(endpoint, 'failure');
  expect(pool.sentBeforeOpening(endpoint, 3)).toBe(true);
  now += 5000;
  expect(pool.sentBeforeOpening(endpoint, 3)).toBe(true);
  // Attempt 4 probes, and its answer closes the circuit.
  endpoint.attempts = 4;
  pool.setCircuit(endpoint, 'probe-start');
  pool.setCircuit(endpoint, 'success');
  expect(pool.circuitOf(endpoint)).toBe('closed');
  expect(pool.sentBeforeOpening(endpoint, 4)).toBe(false);
  // Attempt 2 times out now: still no verdict, so a threshold of one does not reopen it.
  expect(pool.sentBeforeOpening(endpoint, 2)).toBe(true);
});
