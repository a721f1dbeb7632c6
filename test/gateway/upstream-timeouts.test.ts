import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it, vi } from 'vitest';
import type { ChatEvent, ChatRequest } from '../../src/protocol/chat.js';
import { openaiDialect } from '../../src/protocol/openai/openai-dialect.js';
import { Cancellation } from '../../src/gateway/cancellation.js';
import { createPooledUpstreamClient } from '../../src/gateway/upstream-client.js';

// A file of its own: undici's coarse clock starts with the first request a module makes, and it
// must start under the fake timers below for them to move it.

const request: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], stream: true, includeUsage: true, finalAssistant: 'answer' };

// The gateway's own timers (ttftTimeoutMs, tokenIdleTimeoutMs, deadlineMs, up to a day) decide how
// long an upstream may think or pause: undici's 300 s defaults must not cut in first.
it('an upstream may take longer than 300 s before its headers and between chunks', async () => {
  const writer = openaiDialect.createStreamWriter({ includeUsage: true, created: 0 });
  let waiting: ServerResponse | undefined;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      waiting = res;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = createPooledUpstreamClient();
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  try {
    const pending = client.send({ id: 'u', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, dialect: 'openai', apiKey: undefined }, request, new Cancellation());
    await vi.waitFor(() => expect(waiting).toBeDefined(), { interval: 5 });
    await vi.advanceTimersByTimeAsync(301_000);
    waiting?.writeHead(200, { 'content-type': 'text/event-stream' });
    waiting?.write(writer.write({ type: 'start', id: 'x', model: 'm', inputTokens: 1 }) + writer.write({ type: 'text', text: 'slow' }));
    const response = await pending;
    if (response.kind !== 'events') throw new Error(`expected events, got ${JSON.stringify(response)}`);
    expect((await response.events.next()).value).toMatchObject({ type: 'start' });
    expect((await response.events.next()).value).toMatchObject({ type: 'text', text: 'slow' });
    await vi.advanceTimersByTimeAsync(301_000);
    waiting?.end(writer.write({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1 } }));
    const rest: ChatEvent[] = [];
    for (let next = await response.events.next(); next.done !== true; next = await response.events.next()) rest.push(next.value);
    expect(rest).toEqual([expect.objectContaining({ type: 'finish' })]);
  } finally {
    vi.useRealTimers();
    await client.close();
    server.closeAllConnections();
    server.close();
  }
});
