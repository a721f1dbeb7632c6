import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { cheapestFirstConfig, closedAfterEach, metricValue, readSse, scrape, singleEndpointConfig, startTestEmulator } from './helpers/fleet.js';

// What each tenant was charged, for a platform team to check its 429s and its bills against: the
// prompt and the answer as served, once the request settled, and nothing for a refused request.

const apiKey = 'sk-tenant-tokens';
const { cleanups } = closedAfterEach();

const chat = (url: string, body: object): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'how are the pools doing' }], ...body }) });

/** The total_tokens of the usage an OpenAI stream's last usage frame carries. */
function streamUsage(raw: string): number {
  let total = 0;
  for (const frame of raw.split('\n\n')) {
    const data = frame.startsWith('data: ') ? frame.slice(6) : '';
    if (data === '' || data === '[DONE]') continue;
    total = (JSON.parse(data) as { usage?: { total_tokens: number } | null }).usage?.total_tokens ?? total;
  }
  return total;
}

describe('switchyard_tenant_tokens_total', () => {
  it('counts what each request was charged, whole answers and streams, and nothing for a refusal', async () => {
    const replica = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => replica.close());
    const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey, '', 'openai', { requestsPerMinute: 2 }), logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const charged = async (): Promise<number> => metricValue(await scrape(url), 'switchyard_tenant_tokens_total', { tenant: 't' }) ?? 0;
    expect(await charged()).toBe(0);

    const whole = (await (await chat(url, { max_tokens: 12 })).json()) as { usage: { total_tokens: number } };
    expect(await charged()).toBe(whole.usage.total_tokens);
    const stream = await readSse(await chat(url, { max_tokens: 7, stream: true, stream_options: { include_usage: true } }), 'openai');
    const streamed = streamUsage(stream.raw);
    expect(streamed).toBeGreaterThan(0);
    await expect.poll(charged).toBe(whole.usage.total_tokens + streamed);
    // Two requests a minute: the third is refused, and charged nothing.
    expect((await chat(url, { max_tokens: 5 })).status).toBe(429);
    expect(await charged()).toBe(whole.usage.total_tokens + streamed);
  });

  it('a whole answer whose deadline passes while it is resumed elsewhere is charged what was generated for it', async () => {
    const cutting = await startTestEmulator({ servedModelName: 'm', faults: { cutAfterTokens: 5 } });
    cleanups.push(() => cutting.close());
    const hung = await startTestEmulator({ servedModelName: 'm', faults: { hangMs: -1 } });
    cleanups.push(() => hung.close());
    // e0 (cheapest) cuts its answers after 5 tokens; the resume goes to e1, which hangs.
    const config = cheapestFirstConfig([[cutting.url, 'openai'], [hung.url, 'openai']], apiKey, '{ retries: 0, ttftTimeoutMs: 1500, deadlineMs: 1500, tokenIdleTimeoutMs: 500 }');
    const gateway = createGateway({ config, logger: false });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const failed = await chat(url, { max_tokens: 40 });
    expect(failed.status).toBe(504);
    expect(((await failed.json()) as { error: { message: string } }).error.message).toMatch(/while the answer was being resumed elsewhere$/);
    const metrics = await scrape(url);
    const generated = (metricValue(metrics, 'switchyard_tokens_total', { endpoint: 'e0', direction: 'input' }) ?? 0) + (metricValue(metrics, 'switchyard_tokens_total', { endpoint: 'e0', direction: 'output' }) ?? 0);
    expect(generated).toBeGreaterThan(5);
    expect(metricValue(metrics, 'switchyard_tenant_tokens_total', { tenant: 't' })).toBe(generated);
  });
});

