import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { releasingBody } from '../../src/gateway/releasing-body.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('releasingBody', () => {
  it('yields its bytes once, then holds them no more though the body object lives on (as undici keeps it)', async () => {
    let bytes: Buffer | undefined = Buffer.alloc(1_000_000, 'x');
    const held = new WeakRef(bytes);
    const body = releasingBody(bytes);
    bytes = undefined;
    expect([...body].map((chunk) => chunk.length)).toEqual([1_000_000]);
    // One-shot: a second read sends nothing rather than the body twice.
    expect([...body]).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(held.deref()).toBeUndefined();
    expect(body).toBeDefined();
  });
});
