import { describe, expect, it } from 'vitest';
import { isLoopback } from '../../src/cli/is-loopback.js';

// Whether emulate's /admin/faults (no key) is reachable only from this machine: a loopback address
// in any spelling is; anything else, IPv4-mapped addresses outside 127/8 included, is not.
describe('isLoopback', () => {
  it('reads loopback in any case and dotted or IPv6 form', () => {
    for (const host of ['127.0.0.1', '127.1', '127.255.0.9', 'localhost', 'LOCALHOST', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:127.8.9.10']) expect([host, isLoopback(host)]).toEqual([host, true]);
  });

  it('reads every other address as beyond this machine, IPv4-mapped ones whose short form starts with 7f included', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '::ffff:7.250.0.1', '::ffff:0.127.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'example.com', '1127.0.0.1', '127.0.0.256', '127.999.999.999', '127.0.0.08']) expect([host, isLoopback(host)]).toEqual([host, false]);
  });
});
