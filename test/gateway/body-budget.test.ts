import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { closedAfterEach, gatewayConfig, startTestEmulator, waitFor } from './helpers/fleet.js';

// The bodies of requests in flight are held together within limits.maxBodyBytesInFlight (a
// streaming request holds its images for resumes until its answer ends): past it, a 503 to retry,
// in the caller's dialect, not a process out of memory; what a closed response held is given back.

const apiKey = 'sk-budget';
const { cleanups } = closedAfterEach();

describe('the budget of body bytes in flight', () => {
  it('refuses a body that would pass it with a 503 to retry, and takes one again once a response closes', async () => {
    const hung = await startTestEmulator({ servedModelName: 'm', faults: { hangMs: -1 } });
    const quick = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => hung.close(), () => quick.close());
    const config = gatewayConfig(`
version: 1
endpoints:
  - { id: hung, url: "${hung.url}", dialect: openai, model: m, provider: p, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: quick, url: "${quick.url}", dialect: openai, model: m, provider: p, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: slow, endpoints: [hung] }
  - { model: fast, endpoints: [quick] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000000 }
limits: { maxBodyBytes: 65536, maxBodyBytesInFlight: 100000 }
resilience: { ttftTimeoutMs: 60000, deadlineMs: 120000 }
`);
    const gateway = createGateway({ config, logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const body = (model: string): string => JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'fleet '.repeat(10_000) }] });
    const post = (path: string, model: string, signal?: AbortSignal): Promise<Response> => fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: body(model), ...(signal === undefined ? {} : { signal }) });
    // A 60 KB request held open (its upstream hangs), then another that would pass 100 KB together.
    const abort = new AbortController();
    const held = post('/v1/chat/completions', 'slow', abort.signal).catch((error: unknown) => error);
    expect(await waitFor(() => hung.stats().running + hung.stats().waiting > 0, 5000)).toBe(true);
    const refused = await post('/v1/chat/completions', 'fast');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('retry-after-ms')).toBe('1000');
    expect(await refused.json()).toMatchObject({ error: { type: 'server_error', message: expect.stringContaining('limits.maxBodyBytesInFlight') } });
    // In Anthropic's shape for an Anthropic caller (its overload status).
    const anthropic = await post('/v1/messages', 'fast');
    expect(anthropic.status).toBe(529);
    expect(await anthropic.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    // The held response closes: its bytes are given back, and the same request is served.
    abort.abort();
    await held;
    let status = 0;
    for (let tries = 0; tries < 50 && status !== 200; tries += 1) {
      status = (await post('/v1/chat/completions', 'fast')).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
  });
});
