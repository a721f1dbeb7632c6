import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { readJsonBody } from '../../src/gateway/read-json-body.js';
import { defaultMaxJsonValues } from '../../src/protocol/json-value-count.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('readJsonBody', () => {
  it('parses the body, and refuses one past the limit or not JSON', async () => {
    const body = (text: string, limit = 1000): Promise<unknown> => {
      const req = Object.assign(new PassThrough(), { headers: {} });
      const read = readJsonBody(req as unknown as IncomingMessage, limit);
      req.end(text);
      return read;
    };
    expect(await body('{"a": [1, 2]}')).toEqual({ a: [1, 2] });
    await expect(body('{"a": 1}', 5)).rejects.toMatchObject({ status: 413, kind: 'too_large' });
    await expect(body('{"secret words"')).rejects.toMatchObject({ status: 400, message: expect.not.stringContaining('secret') as unknown });
    // A byte order mark before the JSON is ignored.
    expect(await body('\uFEFF{"a": 1}')).toEqual({ a: 1 });
  });

  it('refuses a body of more JSON values than its limit before parsing it, with a 413; commas and brackets inside strings do not count', async () => {
    const body = (text: string, maxJsonValues?: number): Promise<unknown> => {
      const req = Object.assign(new PassThrough(), { headers: {} });
      const read = readJsonBody(req as unknown as IncomingMessage, 64 * 1024 * 1024, maxJsonValues === undefined ? {} : { maxJsonValues });
      req.end(text);
      return read;
    };
    const objects = (count: number): string => `{"model":"m","x":[${Array.from({ length: count }, () => '{}').join(',')}]}`;
    // The body, its list and the comma between its fields count three; each object one, and each comma between them one more.
    for (const limit of [1000, defaultMaxJsonValues]) {
      const fits = (limit - 2) / 2;
      expect(await body(objects(fits), limit === defaultMaxJsonValues ? undefined : limit)).toMatchObject({ model: 'm' });
      await expect(body(objects(fits + 1), limit === defaultMaxJsonValues ? undefined : limit)).rejects.toMatchObject({ status: 413, kind: 'too_large', message: expect.stringContaining(`more than ${String(limit)} JSON values`) });
    }
    // Text of commas and brackets is one value, escaped quotes and backslashes and all.
    for (const content of ['\\",[{', '\\\\', '\\"']) {
      const text = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: content.repeat(2000) }], x: [1, 2, 3] });
      expect(await body(text, 10)).toMatchObject({ model: 'm' });
      await expect(body(text, 1)).rejects.toMatchObject({ status: 413 });
    }
  });

  it('refuses bytes that are not UTF-8 rather than send a prompt changed to U+FFFD; a character split across chunks is whole', async () => {
    const bytes = (chunks: readonly Buffer[], headers: Record<string, string> = {}): Promise<unknown> => {
      const req = Object.assign(new PassThrough(), { headers });
      const read = readJsonBody(req as unknown as IncomingMessage, 1000);
      for (const chunk of chunks) req.write(chunk);
      req.end();
      return read;
    };
    const latin1 = Buffer.from('{"q": "caf\u00e9"}', 'latin1');
    await expect(bytes([latin1])).rejects.toMatchObject({ status: 400, kind: 'invalid_request', message: expect.stringContaining('not valid UTF-8') });
    await expect(bytes([latin1], { 'content-type': 'application/json; charset=iso-8859-1' })).rejects.toMatchObject({ status: 400 });
    await expect(bytes([Buffer.from('{"q": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])).rejects.toMatchObject({ status: 400 });
    const utf8 = Buffer.from('{"q": "caf\u00e9 \ud83d\ude00"}');
    expect(await bytes([utf8.subarray(0, 11), utf8.subarray(11)])).toEqual({ q: 'caf\u00e9 \ud83d\ude00' });
  });

  it('refuses a compressed body by its encoding, not as text that is not JSON', async () => {
    const req = Object.assign(new PassThrough(), { headers: { 'content-encoding': 'gzip' } });
    await expect(readJsonBody(req as unknown as IncomingMessage, 1000)).rejects.toMatchObject({ status: 415, message: "content-encoding 'gzip' is not supported: send the body uncompressed" });
    // A coding that is not a plain token is not quoted back (messages reach logs).
    const odd = Object.assign(new PassThrough(), { headers: { 'content-encoding': 'gzip; my secret' } });
    await expect(readJsonBody(odd as unknown as IncomingMessage, 1000)).rejects.toMatchObject({ status: 415, message: 'this content-encoding is not supported: send the body uncompressed' });
    // identity, or an empty coding list, is no coding at all.
    for (const none of ['identity', ' Identity ', '']) {
      const plain = Object.assign(new PassThrough(), { headers: { 'content-encoding': none } });
      const read = readJsonBody(plain as unknown as IncomingMessage, 1000);
      plain.end('{}');
      expect(await read).toEqual({});
    }
  });

  it('refuses a transfer coding other than chunked with a 501 naming it (RFC 9112, 6.1), not as text that is not UTF-8', async () => {
    const gzipped = Object.assign(new PassThrough(), { headers: { 'transfer-encoding': 'gzip, chunked' } });
    await expect(readJsonBody(gzipped as unknown as IncomingMessage, 1000)).rejects.toMatchObject({ status: 501, message: "transfer-encoding 'gzip' is not supported: send the body uncompressed, with transfer-encoding chunked or a content-length" });
    const chunked = Object.assign(new PassThrough(), { headers: { 'transfer-encoding': 'Chunked' } });
    const read = readJsonBody(chunked as unknown as IncomingMessage, 1000);
    chunked.end('{}');
    expect(await read).toEqual({});
  });

  it("stops waiting for the rest of a body when its cancellation comes (a shutdown), with the caller's error", async () => {
    const { Cancellation } = await import('../../src/gateway/cancellation.js');
    const { ClientError } = await import('../../src/gateway/client-error.js');
    const cancellation = new Cancellation();
    const req = Object.assign(new PassThrough(), { headers: {} });
    const read = readJsonBody(req as unknown as IncomingMessage, 1000, { abandon: { cancellation, because: () => new ClientError(503, 'overloaded', 'shutting down') } });
    req.write('{"a": ');
    cancellation.cancel();
    await expect(read).rejects.toMatchObject({ status: 503, message: 'shutting down' });
    // Read to its end first, nothing is left listening for the cancellation.
    const later = new Cancellation();
    const whole = Object.assign(new PassThrough(), { headers: {} });
    const done = readJsonBody(whole as unknown as IncomingMessage, 1000, { abandon: { cancellation: later, because: () => new ClientError(503, 'overloaded', 'shutting down') } });
    whole.end('{}');
    expect(await done).toEqual({});
    let heard = 0;
    later.onCancel(() => (heard += 1));
    later.cancel();
    expect(heard).toBe(1);
  });

  it('lets go of the raw chunks and its listeners once parsed, though the request lives on while the answer streams', async () => {
    const req = Object.assign(new PassThrough(), { headers: {} });
    let chunk: Buffer | undefined = Buffer.from(JSON.stringify({ text: 'x'.repeat(100_000) }));
    const raw = new WeakRef(chunk);
    const read = readJsonBody(req as unknown as IncomingMessage, 1_000_000);
    req.end(chunk);
    chunk = undefined;
    expect(await read).toEqual({ text: 'x'.repeat(100_000) });
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(req.listenerCount('data')).toBe(0);
    expect(raw.deref()).toBeUndefined();
    // One error listener is left, which holds nothing: an error after the end must not throw.
    expect(req.listenerCount('error')).toBe(1);
    expect(() => req.emit('error', new Error('late'))).not.toThrow();
  });
});

describe('readJsonBody on bodies it cannot read as JSON', () => {
  const read = (text: string, headers: Record<string, string> = {}): Promise<unknown> => {
    const req = Object.assign(new PassThrough(), { headers });
    const reading = readJsonBody(req as unknown as IncomingMessage, 1000);
    req.end(text);
    return reading;
  };

  it('an empty body says it is empty, not that its quoting is wrong', async () => {
    await expect(read('')).rejects.toMatchObject({ status: 400, message: 'request body is empty: send the request as a JSON object' });
    await expect(read(' \n')).rejects.toMatchObject({ status: 400, message: 'request body is empty: send the request as a JSON object' });
  });

  it('a charset that is not ASCII-compatible is a 415 naming it; UTF-8, ASCII and Latin-1 labels are read', async () => {
    await expect(read('{}', { 'content-type': 'application/json; charset=utf-16' })).rejects.toMatchObject({ status: 415, message: "charset 'utf-16' is not supported: send the JSON body as UTF-8" });
    await expect(read('{}', { 'content-type': 'application/json; charset=UTF-32LE' })).rejects.toMatchObject({ status: 415 });
    for (const contentType of ['application/json; charset=UTF-8', 'application/json;charset="utf-8"', 'application/json; charset=us-ascii', 'text/plain; charset=ISO-8859-1', 'application/json']) {
      expect(await read('{"a": 1}', { 'content-type': contentType })).toEqual({ a: 1 });
    }
  });
});
