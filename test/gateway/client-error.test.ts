import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createJsonSink } from '../../src/gateway/answer-sink.js';
import { ClientError } from '../../src/gateway/client-error.js';
import type { ChatRequest } from '../../src/protocol/chat.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';

describe('ClientError.isRetryable', () => {
  it('is by default what the status says: true for the statuses the SDKs retry (408, 409, 429, 5xx), false for the rest (R68: a 400 read as retryable)', () => {
    expect([408, 409, 429, 500, 502, 503, 504, 529].map((status) => new ClientError(status, 'api_error', 'x').isRetryable)).toEqual([true, true, true, true, true, true, true, true]);
    expect([400, 401, 403, 404, 405, 413, 415, 417, 422, 431].map((status) => new ClientError(status, 'invalid_request', 'x').isRetryable)).toEqual(Array.from({ length: 10 }, () => false));
    // Told so, a 400 says it to the SDKs as well (no SDK retries one, but a client of its own may read the hint).
    expect(new ClientError(400, 'invalid_request', 'bad').responseHeaders).toEqual({ 'x-should-retry': 'false' });
  });

  it('a retryable status is retryable unless said otherwise, and a false one tells the SDKs not to retry', () => {
    const retryable = new ClientError(503, 'overloaded', 'busy', { headers: { 'retry-after': '1' } });
    expect([retryable.isRetryable, retryable.responseHeaders]).toEqual([true, { 'retry-after': '1' }]);
    const final = new ClientError(503, 'api_error', 'no endpoint in eu', { headers: { 'retry-after': '1' }, isRetryable: false });
    expect([final.isRetryable, final.responseHeaders]).toEqual([false, { 'retry-after': '1', 'x-should-retry': 'false' }]);
    // The hint is the flag's alone: the headers given stay as given.
    expect(final.headers).toEqual({ 'retry-after': '1' });
  });

  it("a JSON answer's failure carries the hint, its status in the caller's dialect and the request id", async () => {
    const request: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: 10, temperature: undefined, topP: undefined, stop: [], stream: false, includeUsage: false, finalAssistant: 'answer' };
    const failures = [new ClientError(502, 'api_error', 'cut; then the upstream refused the key', { isRetryable: false }), new ClientError(503, 'overloaded', 'cut; then busy')];
    const server = createServer((_req, res) => {
      const failure = failures.shift();
      if (failure === undefined) throw new Error('one failure a request');
      createJsonSink({ inbound: anthropicDialect, request, res, headers: { 'request-id': 'req_1' }, id: 'msg_1', createdSeconds: 0 }).fail(failure);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
      const final = await fetch(url);
      expect([final.status, final.headers.get('x-should-retry'), final.headers.get('request-id')]).toEqual([502, 'false', 'req_1']);
      expect(await final.json()).toMatchObject({ type: 'error', error: { type: 'api_error', message: 'cut; then the upstream refused the key' } });
      // An Anthropic caller's overload is 529, and a retry may be served.
      const busy = await fetch(url);
      expect([busy.status, busy.headers.get('x-should-retry')]).toEqual([529, null]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
