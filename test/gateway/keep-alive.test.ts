import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { closedAfterEach, openAIChunk, singleEndpointConfig, startScriptedUpstream } from './helpers/fleet.js';

// Anthropic's streams carry `ping` events through pauses; a caller's proxy or idle timeout that
// cuts a silent connection must not cut an answer whose model is merely quiet.

const apiKey = 'sk-keep-alive';
const { cleanups } = closedAfterEach();

/** A gateway over one upstream that answers as `respond` writes. */
async function gatewayOver(respond: Parameters<typeof startScriptedUpstream>[0]): Promise<string> {
  const upstream = await startScriptedUpstream(respond);
  const gateway = createGateway({ config: singleEndpointConfig(upstream.url, apiKey), logger: false, keepAliveMs: 40 });
  cleanups.push(() => gateway.close(), () => upstream.close());
  return gateway.listen(0, '127.0.0.1');
}

/** An upstream that sends "Hello", is silent for `pauseMs`, then " world" and the end. */
function pausingGateway(pauseMs: number): Promise<string> {
  return gatewayOver((res) => {
    res.write(openAIChunk({ role: 'assistant', content: 'Hello' }));
    setTimeout(() => res.end(openAIChunk({ content: ' world' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'), pauseMs);
  });
}

/** An upstream that sends `chunks` one every `everyMs`, then the end. */
function steadyGateway(chunks: readonly object[], everyMs: number): Promise<string> {
  return gatewayOver((res) => {
    let index = 0;
    const next = (): void => {
      const chunk = chunks[index];
      index += 1;
      if (chunk === undefined) res.end(openAIChunk({ content: ' done' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
      else res.write(openAIChunk(chunk), () => setTimeout(next, everyMs));
    };
    next();
  });
}

async function streamed(url: string, path: '/v1/messages' | '/v1/chat/completions'): Promise<string> {
  const headers = path === '/v1/messages' ? { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' } : { authorization: `Bearer ${apiKey}` };
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  expect(response.status).toBe(200);
  return response.text();
}

const pings = (body: string): number => body.split('event: ping\ndata: {"type":"ping"}\n\n').length - 1;

describe('keep-alive pings', () => {
  it('an Anthropic stream silent for a while is sent pings between its events, and only then', async () => {
    const paused = await streamed(await pausingGateway(400), '/v1/messages');
    const [before, after] = paused.split('"text":" world"');
    // The one ping Anthropic sends after the first block starts, then those of the pause.
    expect(pings(before ?? '')).toBeGreaterThanOrEqual(3);
    expect(pings(after ?? '')).toBe(0);
    expect(paused).toMatch(/event: message_stop\ndata: \{"type":"message_stop"\}\n\n$/);
    expect(pings(await streamed(await pausingGateway(0), '/v1/messages'))).toBe(1);
  });

  it('a stream that keeps sending is not pinged; one whose upstream reasons, which Anthropic callers are not shown, is', async () => {
    // 30 chunks 10 ms apart: a sweep every 40 ms finds something written since the last (a sweep that
    // pinged regardless would send seven or more); one late timer on a loaded machine may cost one ping.
    const steady = await streamed(await steadyGateway(Array.from({ length: 30 }, (_, index) => ({ content: ` t${String(index)}` })), 10), '/v1/messages');
    expect(pings(steady)).toBeLessThanOrEqual(2);
    // An open model's reasoning writes nothing to an Anthropic caller: its stream is silent meanwhile.
    const reasoning = await streamed(await steadyGateway([{ role: 'assistant', content: 'Hi' }, ...Array.from({ length: 30 }, () => ({ reasoning_content: 'hmm ' }))], 10), '/v1/messages');
    expect(reasoning).not.toContain('hmm');
    expect(pings(reasoning)).toBeGreaterThanOrEqual(3);
  });

  it("an OpenAI stream gets no frames of the gateway's own: OpenAI's API has no keep-alive", async () => {
    const paused = await streamed(await pausingGateway(200), '/v1/chat/completions');
    expect(paused.split('\n\n').filter((frame) => frame !== '' && !frame.startsWith('data: '))).toEqual([]);
    expect(paused).toMatch(/data: \[DONE\]\n\n$/);
  });
});
