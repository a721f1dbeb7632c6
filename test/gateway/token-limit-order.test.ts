import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { estimatePromptTokens } from '../../src/protocol/chat.js';
import { closedAfterEach, singleEndpointConfig, startScriptedUpstream, startTestEmulator } from './helpers/fleet.js';

// Which refusal a request past its tenant's token limit gets, and what it carries: a prompt too
// long for every window is told so first (clients compact on it), every limit refusal carries the
// caller's limits, and a default budget the caller never chose makes no short prompt "too long".

const apiKey = 'sk-limit-order';
const { cleanups } = closedAfterEach();

async function gatewayWith(tokensPerMinute: number, contextWindow: number, dialect: 'anthropic' | 'openai' = 'anthropic'): Promise<string> {
  const replica = await startTestEmulator({ servedModelName: 'm' });
  cleanups.push(() => replica.close());
  const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey, '', dialect, { contextWindow, tokensPerMinute }), logger: false });
  cleanups.push(() => gateway.close());
  return gateway.listen(0, '127.0.0.1');
}

const post = (url: string, path: string, body: object): Promise<Response> =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'x-api-key': apiKey, authorization: `Bearer ${apiKey}`, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify(body) });

function promptOf(body: object): number {
  const parsed = anthropicDialect.parseRequest(body);
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return estimatePromptTokens(parsed.value);
}

describe('refusals past a token limit', () => {
  it('a wait under a second is said in milliseconds, as retry-after-ms gives it; a longer one in seconds', async () => {
    // An upstream that never answers holds the first request's tokens while the second is asked.
    const silent = await startScriptedUpstream(() => undefined);
    cleanups.push(() => silent.close());
    const gateway = createGateway({ config: singleEndpointConfig(silent.url, apiKey, '', 'openai', { tokensPerMinute: 6_000_000 }), logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const holding = new AbortController();
    const first = fetch(`${url}/v1/chat/completions`, { method: 'POST', signal: holding.signal, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5_950_000, messages: [{ role: 'user', content: 'hi' }] }) }).catch(() => undefined);
    try {
      await expect.poll(() => silent.arrivals()).toBe(1);
      const short = await post(url, '/v1/chat/completions', { model: 'm', max_tokens: 80_000, messages: [{ role: 'user', content: 'hi' }] });
      expect(short.status).toBe(429);
      const shortMs = Number(short.headers.get('retry-after-ms'));
      expect(shortMs).toBeLessThan(1000);
      expect(((await short.json()) as { error: { message: string } }).error.message).toMatch(new RegExp(`retry after ${String(shortMs)} ms$`));
      const long = await post(url, '/v1/chat/completions', { model: 'm', max_tokens: 1_000_000, messages: [{ role: 'user', content: 'hi' }] });
      expect(long.status).toBe(429);
      expect(((await long.json()) as { error: { message: string } }).error.message).toMatch(new RegExp(`retry after ${long.headers.get('retry-after') ?? '?'} s$`));
    } finally {
      holding.abort();
      await first;
    }
  });

  it('no room left for thinking: a 429 carrying the limits, as every limit refusal does', async () => {
    const url = await gatewayWith(1000, 131_072);
    const refused = await post(url, '/v1/messages', { model: 'm', max_tokens: 8000, thinking: { type: 'enabled', budget_tokens: 4000 }, messages: [{ role: 'user', content: 'hi' }] });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-should-retry')).toBe('false');
    expect(refused.headers.get('anthropic-ratelimit-tokens-limit')).toBe('1000');
  });

  it('a prompt over every window gets the context refusal first, with thinking or without', async () => {
    const body = { model: 'm', max_tokens: 64_000, messages: [{ role: 'user', content: 'fleet '.repeat(10_000) }] };
    const url = await gatewayWith(promptOf(body) + 500, 4096);
    for (const extra of [{}, { thinking: { type: 'enabled', budget_tokens: 32_000 } }]) {
      const refused = await post(url, '/v1/messages', { ...body, ...extra });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/^prompt is too long: \d+ tokens > 4096 maximum/);
    }
  });

  it('without max_tokens, a short prompt is no context refusal because of the default budget: the 429 says to set max_tokens', async () => {
    const url = await gatewayWith(1000, 2048, 'openai');
    const refused = await post(url, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(refused.status).toBe(429);
    const message = ((await refused.json()) as { error: { message: string } }).error.message;
    expect(message).toMatch(/send max_tokens \(the limit leaves about \d+ tokens for the answer; a larger max_tokens is lowered to that\)$/);
    // As it says: a max_tokens above what the limit leaves is served, lowered.
    const leaves = Number(/leaves about (\d+) tokens/.exec(message)?.[1]);
    const served = await post(url, '/v1/chat/completions', { model: 'm', max_tokens: leaves + 500, messages: [{ role: 'user', content: 'hi' }] });
    expect(served.status).toBe(200);
    await served.arrayBuffer();
  });
});
