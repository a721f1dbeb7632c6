import { pino } from 'pino';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { describeReload, planReload } from '../../src/gateway/config-reload.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { connectFailureStatus } from '../../src/gateway/retry-policy.js';
import type { UpstreamClient, UpstreamResponse } from '../../src/gateway/upstream-client.js';
import { closedAfterEach, delay, gatewayConfig, metricValue, oneEndpointYaml, openAIChunk, scrape, startScriptedUpstream } from './helpers/fleet.js';
import { scriptedAnswer, scriptedClient, scriptedHang } from './helpers/scripted-client.js';
import { EventQueue } from '../../src/gateway/event-queue.js';
import type { ChatEvent } from '../../src/protocol/chat.js';

/** An answer's frames, as every upstream of these tests sends them. */
const answerFrames = openAIChunk({ role: 'assistant', content: 'Hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n';
const chatBody = (maxTokens: number): string => JSON.stringify({ model: 'm', max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] });
/** The status of a small chat request to the gateway at `url` with `key`, its body read. */
async function chatStatus(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: chatBody(5) });
  await response.text();
  return response.status;
}

/** A promise an upstream waits on, and the call that settles it (Node 20 has no Promise.withResolvers). */
function gate(): { readonly released: Promise<void>; readonly release: () => void } {
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { released, release };
}

/** An upstream answer that sends one token, then ends without a finish (a break) once `after` settles. */
function tokenThenBreak(after: Promise<void> = Promise.resolve()): UpstreamResponse {
  const events = new EventQueue<ChatEvent>();
  events.push({ type: 'start', id: 'scripted', model: 'm', inputTokens: 5 });
  events.push({ type: 'text', text: 'Hi' });
  void after.then(() => events.end());
  return { kind: 'events', events };
}

/** Endpoints us (free) and eu (dearer) serving `m`, for tenant t with key `key` in `jurisdictions`. */
const twoJurisdictions = (usUrl: string, euUrl: string, key: string, jurisdictions: string, resilience: string): string => `
version: 1
endpoints:
  - { id: us, url: "${usUrl}", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: eu, url: "${euUrl}", dialect: openai, model: m, provider: p2, region: r, jurisdiction: eu, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: m, endpoints: [us, eu], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(key)}, jurisdictions: [${jurisdictions}], requestsPerMinute: 1000, tokensPerMinute: 10000000 }
resilience: ${resilience}
`;

const yaml = (tenants: readonly string[], extra = ''): string => oneEndpointYaml('http://127.0.0.1:1', tenants.join('\n')) + extra;
const acme = `  - { id: acme, apiKeySha256: ${hashApiKey('sk-acme')}, jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;
const globex = `  - { id: globex, apiKeySha256: ${hashApiKey('sk-globex')}, jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;

describe('planReload (what a SIGHUP takes)', () => {
  it('takes tenants added, removed and changed, and nothing when the file is the same in another order', () => {
    const running = gatewayConfig(yaml([acme, globex]));
    const rotated = acme.replace(`apiKeySha256: ${hashApiKey('sk-acme')}`, `apiKeySha256: [${hashApiKey('sk-acme')}, ${hashApiKey('sk-acme-2')}]`);
    const initech = `  - { id: initech, apiKeySha256: ${hashApiKey('sk-initech')}, jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;
    expect(planReload(running, gatewayConfig(yaml([rotated, initech])))).toEqual({ apply: true, added: ['initech'], removed: ['globex'], changed: [{ id: 'acme', fields: ['apiKeySha256'] }], renamed: [] });
    const reordered = `  - { tokensPerMinute: 100000, requestsPerMinute: 60, jurisdictions: [us], apiKeySha256: ${hashApiKey('sk-acme')}, id: acme }`;
    expect(planReload(running, gatewayConfig(yaml([reordered, globex], 'resilience: {}')))).toEqual({ apply: true, added: [], removed: [], changed: [], renamed: [] });
  });

  it('takes a tenant added with a key of one removed as that tenant renamed (its limits carried, E43)', () => {
    const running = gatewayConfig(yaml([acme, globex]));
    const renamed = acme.replace('id: acme', 'id: acme-corp');
    // globex's keys split: one to a tenant of its own, and acme-corp took acme's.
    const split = `  - { id: globex-eu, apiKeySha256: [${hashApiKey('sk-globex')}, ${hashApiKey('sk-new')}], jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;
    expect(planReload(running, gatewayConfig(yaml([renamed, split])))).toEqual({ apply: true, added: ['acme-corp', 'globex-eu'], removed: ['acme', 'globex'], changed: [], renamed: [{ from: 'acme', to: 'acme-corp' }, { from: 'globex', to: 'globex-eu' }] });
    // A new tenant with keys of its own is no rename.
    const initech = `  - { id: initech, apiKeySha256: ${hashApiKey('sk-initech')}, jurisdictions: [us], requestsPerMinute: 60, tokensPerMinute: 100000 }`;
    expect(planReload(running, gatewayConfig(yaml([acme, initech])))).toMatchObject({ added: ['initech'], removed: ['globex'], renamed: [] });
  });

  it('says what it took, and what a tenant changed', () => {
    // A rename is said once, as a rename, not also as an addition and a removal (E57).
    expect(describeReload('g.yaml', { apply: true, added: ['initech', 'b'], removed: ['a'], changed: [{ id: 'acme', fields: ['apiKeySha256', 'jurisdictions'] }], renamed: [{ from: 'a', to: 'b' }] })).toBe('reloaded g.yaml: tenants added initech; renamed a to b (limits kept); changed acme (apiKeySha256, jurisdictions)');
    expect(describeReload('g.yaml', { apply: true, added: [], removed: [], changed: [], renamed: [] })).toBe('reloaded g.yaml: tenants unchanged');
    expect(describeReload('g.yaml', { apply: false, needsRestart: ['routes'] })).toContain('not applied: it changes routes, which take a restart');
  });

  it('takes nothing, tenants included, from a file that changes anything else', () => {
    const running = gatewayConfig(yaml([acme]));
    expect(planReload(running, gatewayConfig(yaml([acme, globex], 'resilience: { retries: 5 }\ncors: { allowOrigins: ["http://localhost:3000"] }')))).toEqual({ apply: false, needsRestart: ['cors', 'resilience'] });
    expect(planReload(running, gatewayConfig(yaml([acme]).replace('capacity: 8', 'capacity: 9')))).toEqual({ apply: false, needsRestart: ['endpoints'] });
  });
});

describe('a reload and the requests in flight', () => {
  const { cleanups } = closedAfterEach();

  it('a tenant renamed while its request is in flight (the same key) keeps its failover: the key is followed, as at admission', async () => {
    // us (free) never answers; eu answers. The request waits on us, the reload renames t, then us times out.
    const hung = await startScriptedUpstream(() => undefined);
    cleanups.push(() => hung.close());
    const eu = await startScriptedUpstream((res) => res.end(answerFrames));
    cleanups.push(() => eu.close());
    const yamlOf = (id: string): string => twoJurisdictions(hung.url, eu.url, 'sk-t', 'us, eu', '{ retries: 0, ttftTimeoutMs: 300 }').replace('- { id: t,', `- { id: ${id},`);
    const gateway = createGateway({ config: gatewayConfig(yamlOf('t')), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const answer = chatStatus(url, 'sk-t');
    await expect.poll(() => hung.arrivals(), { timeout: 5_000 }).toBe(1);
    expect(gateway.reload({ ok: true, value: gatewayConfig(yamlOf('t-renamed')) })).toMatchObject({ apply: true, added: ['t-renamed'], removed: ['t'] });
    expect(await answer).toBe(200);
    expect(eu.arrivals()).toBe(1);
  });

  it('a stream cut after a reload took its jurisdictions away ends saying so, not only that the upstream broke (E54), and never goes there', async () => {
    const cut = gate();
    // us sends a token, then its stream breaks once the reload is in.
    const upstream = scriptedClient({ us: () => tokenThenBreak(cut.released), eu: () => scriptedAnswer(['from eu']) });
    const yamlOf = (jurisdictions: string): string => twoJurisdictions('http://127.0.0.1:1', 'http://127.0.0.1:2', 'sk-t', jurisdictions, '{ retries: 0 }');
    const gateway = createGateway({ config: gatewayConfig(yamlOf('us')), logger: false, upstream });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-t', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(response.status).toBe(200);
    expect(gateway.reload({ ok: true, value: gatewayConfig(yamlOf('eu')) })).toMatchObject({ apply: true, changed: [{ id: 't', fields: ['jurisdictions'] }] });
    cut.release();
    const text = await response.text();
    expect(text).toContain('"content":"Hi"');
    expect(text).toContain("could not be resumed: the upstream stream broke; then no endpoint for model 'm': this request may use no jurisdiction now: a reload took them from its tenant, or took away the key it came with");
    expect(text).not.toContain('[DONE]');
    expect(upstream.calls.map((call) => call.endpoint)).toEqual(['us']);

    // A whole answer cut the same way fails with the refusal's hint: no retry helps (R69: the SDKs retried the 502 once).
    const again = gate();
    const whole = scriptedClient({ us: () => tokenThenBreak(again.released), eu: () => scriptedAnswer(['from eu']) });
    const second = createGateway({ config: gatewayConfig(yamlOf('us')), logger: false, upstream: whole });
    const secondUrl = await second.listen(0, '127.0.0.1');
    cleanups.push(() => second.close());
    const answer = fetch(`${secondUrl}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-t', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) });
    await expect.poll(() => whole.calls.length).toBe(1);
    expect(second.reload({ ok: true, value: gatewayConfig(yamlOf('eu')) })).toMatchObject({ apply: true });
    again.release();
    const refused = await answer;
    expect([refused.status, refused.headers.get('x-should-retry')]).toEqual([502, 'false']);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('this request may use no jurisdiction now: a reload took them from its tenant, or took away the key it came with');
    expect(whole.calls.map((call) => call.endpoint)).toEqual(['us']);
  });

  it('a stream no resume took over names routing only where it is about the caller: not a continuation no endpoint takes, and "each was tried" as such (R69)', async () => {
    // Each endpoint sends a token, then its stream breaks.
    const breaking = (): UpstreamResponse => tokenThenBreak();
    const streamed = async (yamlText: string): Promise<string> => {
      const gateway = createGateway({ config: gatewayConfig(yamlText), logger: false, upstream: scriptedClient({ us: breaking, eu: breaking }) });
      const url = await gateway.listen(0, '127.0.0.1');
      cleanups.push(() => gateway.close());
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-t', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) });
      return response.text();
    };
    const both = twoJurisdictions('http://127.0.0.1:1', 'http://127.0.0.1:2', 'sk-t', 'us, eu', '{ retries: 0 }');
    // No endpoint takes a prefill: the continuation goes nowhere, but the caller's request ends with a user turn.
    const noPrefill = await streamed(both.replaceAll('capacity: 8 }', 'prefill: false, capacity: 8 }'));
    expect(noPrefill).toContain('could not be resumed: the upstream stream broke"');
    expect(noPrefill).not.toContain('assistant turn');
    // Resumed on eu, which broke too: both tried, no retry left.
    const tried = await streamed(both);
    expect(tried).toContain('could not be resumed: the upstream stream broke; then no eligible endpoint was left to try: each was tried, as far as the retries allow"');
  });

  it("a tenant renamed (its key kept) keeps its buckets' levels: a rename lets no burst through (E43), and a request in flight settles against the new id", async () => {
    const { released, release } = gate();
    let arrivals = 0;
    const upstream = await startScriptedUpstream((res) => {
      arrivals += 1;
      // The first request is held (in flight across the reload); the others answer at once.
      if (arrivals === 1) {
        res.write(openAIChunk({ role: 'assistant', content: 'Hi' }));
        void released.then(() => res.end(openAIChunk({}, 'stop') + `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } })}\n\ndata: [DONE]\n\n`));
      } else res.end(answerFrames);
    });
    cleanups.push(() => upstream.close());
    const clock = 1_000_000;
    const tenantYaml = (id: string): string => oneEndpointYaml(upstream.url, `  - { id: ${id}, apiKeySha256: ${hashApiKey('sk-rename')}, jurisdictions: [us], requestsPerMinute: 3, tokensPerMinute: 100000 }`);
    const lines: string[] = [];
    const gateway = createGateway({ config: gatewayConfig(tenantYaml('acme')), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }), now: () => clock });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (maxTokens = 5): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-rename', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] }) });
    // Held with an estimate of 50,000 tokens: half the minute's 100,000.
    const held = await ask(50_000);
    expect(held.status).toBe(200);
    for (let index = 0; index < 2; index += 1) expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(429);
    expect(gateway.reload({ ok: true, value: gatewayConfig(tenantYaml('acme-corp')) })).toMatchObject({ apply: true, renamed: [{ from: 'acme', to: 'acme-corp' }] });
    // Said in the JSON log too, for pipelines that read only that.
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; renamed?: unknown }).find((line) => line.msg === 'config reloaded: tenants');
    expect(logged?.renamed).toEqual([{ from: 'acme', to: 'acme-corp' }]);
    // The clock has not moved: the minute's three requests are spent under either id.
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    // The held request, admitted as acme, is settled (1 + 1 tokens used) against acme-corp's bucket.
    release();
    await held.text();
    const state = await ask();
    expect(state.status).toBe(429);
    expect(Number(state.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(99_000);
  });

  it("starts a tenant it adds at 0 tokens charged, as a start does, so that increase() sees the new tenant's first request", async () => {
    const gateway = createGateway({ config: gatewayConfig(yaml([acme])), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const before = await scrape(url);
    expect(metricValue(before, 'switchyard_tenant_tokens_total', { tenant: 'acme' })).toBe(0);
    expect(metricValue(before, 'switchyard_tenant_tokens_total', { tenant: 'globex' })).toBeUndefined();
    gateway.reload({ ok: true, value: gatewayConfig(yaml([acme, globex])) });
    const after = await scrape(url);
    expect(metricValue(after, 'switchyard_tenant_tokens_total', { tenant: 'globex' })).toBe(0);
    // Its refusals too, which alerts watch (E23: their first after a start or reload was missed).
    for (const [text, tenant] of [[before, 'acme'], [after, 'globex']] as const) {
      expect([metricValue(text, 'switchyard_jurisdiction_rejections_total', { tenant }), metricValue(text, 'switchyard_rate_limited_total', { tenant, limit: 'requests' }), metricValue(text, 'switchyard_rate_limited_total', { tenant, limit: 'tokens' })]).toEqual([0, 0, 0]);
    }
  });

  /**
   * An upstream that answers the first request on each connection and resets a connection reused (a
   * stale pooled one) `resetAfterMs` after the request came, running `reuse.hook` (the test's reload)
   * just before; with no hook set, it answers every request. `resets` counts the resets.
   */
  async function resettingReused(resetAfterMs: number): Promise<{ url: string; reuse: { hook: (() => void) | undefined }; resets: () => number }> {
    const reuse: { hook: (() => void) | undefined } = { hook: undefined };
    let resets = 0;
    const seen = new WeakMap<object, number>();
    const server = createServer((req, res) => {
      const count = (seen.get(req.socket) ?? 0) + 1;
      seen.set(req.socket, count);
      const hook = reuse.hook;
      if (count > 1 && hook !== undefined) {
        setTimeout(() => {
          resets += 1;
          hook();
          req.socket.resetAndDestroy();
        }, resetAfterMs);
        return;
      }
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(answerFrames);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    return { url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`, reuse, resets: () => resets };
  }

  it.each([
    ['', 0, 0],
    [', a hedge waiting', 30, 100],
  ])('a resend a reload withdrew is no failure of the endpoint%s: no circuit opened, no upstream error, no failover; the request goes where it may', async (_case, hedgeAfterMs, resetAfterMs) => {
    // eu answers the first request on each connection and resets a connection reused (a stale pooled
    // one), after resetAfterMs; just before resetting, the test's reload narrows tenant t to us.
    const us = await startScriptedUpstream((res) => res.end(answerFrames));
    cleanups.push(() => us.close());
    const eu = await resettingReused(resetAfterMs);
    // eu is the cheaper; tenant o may use eu only; a circuit opens at the 2nd failure, and no panic routing would hide one.
    const yamlOf = (jurisdictions: string): string =>
      twoJurisdictions(us.url, eu.url, 'sk-t', jurisdictions, `{ retries: 2, panicRouting: false, hedgeAfterMs: ${String(hedgeAfterMs)}, circuitBreaker: { failureThreshold: 2 } }`)
        .replace('marginalCostPerMillionTokens: 0', 'marginalCostPerMillionTokens: 2')
        .replace('resilience:', `  - { id: o, apiKeySha256: ${hashApiKey('sk-o')}, jurisdictions: [eu], requestsPerMinute: 1000, tokensPerMinute: 10000000 }\nresilience:`);
    const lines: { msg: string; endpoint?: string }[] = [];
    const logger = pino({ base: null }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string; endpoint?: string }) });
    const gateway = createGateway({ config: gatewayConfig(yamlOf('us, eu')), logger });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (key: string): Promise<number> => chatStatus(url, key);
    for (let round = 0; round < 3; round += 1) {
      // A connection to eu made and pooled, tenant t wide again; the next request of t reuses it.
      gateway.reload({ ok: true, value: gatewayConfig(yamlOf('us, eu')) });
      eu.reuse.hook = undefined;
      expect(await ask('sk-t')).toBe(200);
      eu.reuse.hook = () => void gateway.reload({ ok: true, value: gatewayConfig(yamlOf('us')) });
      expect(await ask('sk-t')).toBe(200);
      // With a hedge, us may answer before eu's reset: the reset (and its reload) must come before the next round.
      await expect.poll(() => eu.resets(), { timeout: 5_000 }).toBe(round + 1);
    }
    // Every reused connection was reset, and its request withdrawn rather than sent again.
    await delay(50);
    eu.reuse.hook = undefined;
    const metrics = await scrape(url);
    expect(metricValue(metrics, 'switchyard_upstream_errors_total', { endpoint: 'eu' }) ?? 0).toBe(0);
    expect(metricValue(metrics, 'switchyard_circuit_state', { endpoint: 'eu' })).toBe(0);
    expect(metricValue(metrics, 'switchyard_upstream_resends_total', { endpoint: 'eu' }) ?? 0).toBe(0);
    expect(metricValue(metrics, 'switchyard_failovers_total') ?? 0).toBe(0);
    expect(lines.filter((line) => line.msg === 'upstream attempt failed')).toEqual([]);
    // The tenant that may use eu only is served there.
    expect(await ask('sk-o')).toBe(200);
  });

  it('a resend withdrawn with nowhere left for the request is answered with the jurisdiction refusal, not as a failed upstream', async () => {
    const us = await startScriptedUpstream((res) => res.end(answerFrames));
    cleanups.push(() => us.close());
    const eu = await resettingReused(0);
    const yamlOf = (jurisdictions: string): string => twoJurisdictions(us.url, eu.url, 'sk-t', jurisdictions, '{ retries: 2 }').replace('marginalCostPerMillionTokens: 0', 'marginalCostPerMillionTokens: 2');
    const gateway = createGateway({ config: gatewayConfig(yamlOf('us, eu')), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-t', 'content-type': 'application/json' }, body: chatBody(5) });
    expect((await ask()).status).toBe(200);
    // The reload leaves tenant t a jurisdiction no endpoint is in.
    eu.reuse.hook = () => void gateway.reload({ ok: true, value: gatewayConfig(yamlOf('jp')) });
    const refused = await ask();
    expect(eu.resets()).toBe(1);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-should-retry')).toBe('false');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('jurisdiction');
    expect(metricValue(await scrape(url), 'switchyard_upstream_errors_total', { endpoint: 'eu' }) ?? 0).toBe(0);
  });

  it.each([
    ['after', 200],
    ['before', 10],
  ])('a hedged pass whose one leg failed and whose other was withdrawn (%s the failure) counts the failover to the next endpoint', async (_order, resetAfterMs) => {
    // a (us, cheapest) answers a 500 after 100 ms; eu's reused connection is reset after resetAfterMs,
    // the test's reload narrowing tenant t to us just before; c (us) answers.
    const a = await startScriptedUpstream((res) => setTimeout(() => res.end('{"error":{"message":"boom"}}'), 100), { status: 500, contentType: 'application/json' });
    const c = await startScriptedUpstream((res) => res.end(answerFrames));
    cleanups.push(() => a.close(), () => c.close());
    const eu = await resettingReused(resetAfterMs);
    const yamlOf = (jurisdictions: string): string => `
version: 1
endpoints:
  - { id: a, url: "${a.url}", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: eu, url: "${eu.url}", dialect: openai, model: m, provider: p2, region: r, jurisdiction: eu, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
  - { id: c, url: "${c.url}", dialect: openai, model: m, provider: p3, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 2, capacity: 8 }
routes:
  - { model: m, endpoints: [a, eu, c], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey('sk-t')}, jurisdictions: [${jurisdictions}], requestsPerMinute: 1000, tokensPerMinute: 10000000 }
  - { id: o, apiKeySha256: ${hashApiKey('sk-o')}, jurisdictions: [eu], requestsPerMinute: 1000, tokensPerMinute: 10000000 }
resilience: { retries: 2, panicRouting: false, hedgeAfterMs: 50, circuitBreaker: { failureThreshold: 100 } }
`;
    const gateway = createGateway({ config: gatewayConfig(yamlOf('us, eu')), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (key: string): Promise<number> => chatStatus(url, key);
    // Tenant o pools a connection to eu; tenant t's request hedges to it.
    expect(await ask('sk-o')).toBe(200);
    eu.reuse.hook = () => void gateway.reload({ ok: true, value: gatewayConfig(yamlOf('us')) });
    expect(await ask('sk-t')).toBe(200);
    const metrics = await scrape(url);
    expect([metricValue(metrics, 'switchyard_retries_total') ?? 0, metricValue(metrics, 'switchyard_failovers_total') ?? 0]).toEqual([1, 1]);
  });

  it('a resend on a fresh connection (a stale pooled one lost the request) is asked of the jurisdictions as they are then', async () => {
    // The network replaced: each send holds until the test lets it fail, and keeps what it was given.
    const sends: { endpoint: string; mayResend: (() => boolean) | undefined; fail: () => void }[] = [];
    const upstream: UpstreamClient = {
      send: (target, _request, _cancellation, _requestId, mayResend) =>
        new Promise((resolve) => {
          sends.push({ endpoint: target.id, mayResend, fail: () => resolve({ kind: 'error', status: connectFailureStatus, message: 'lost', fromUpstream: false, retryAfter: undefined }) });
        }),
      countTokens: () => Promise.reject(new Error('not used')),
      close: () => Promise.resolve(),
    };
    const text = (jurisdictions: string): string => twoJurisdictions('http://127.0.0.1:1', 'http://127.0.0.1:2', 'sk-resend', jurisdictions, '{ retries: 0 }').replace('marginalCostPerMillionTokens: 0', 'marginalCostPerMillionTokens: 2');
    const gateway = createGateway({ config: gatewayConfig(text('us, eu')), logger: false, upstream });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const answer = fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-resend', 'content-type': 'application/json' }, body: chatBody(5) });
    await expect.poll(() => sends.length, { timeout: 5_000 }).toBe(1);
    const sent = sends[0];
    // eu is cheaper now: the request went there, and could go again.
    expect(sent?.endpoint).toBe('eu');
    expect(sent?.mayResend?.()).toBe(true);
    expect(gateway.reload({ ok: true, value: gatewayConfig(text('us')) })).toMatchObject({ apply: true });
    expect(sent?.mayResend?.()).toBe(false);
    sent?.fail();
    // Routed again with us only: the next send goes there.
    await expect.poll(() => sends.length, { timeout: 5_000 }).toBe(2);
    expect(sends[1]?.endpoint).toBe('us');
    expect(sends[1]?.mayResend?.()).toBe(true);
    sends[1]?.fail();
    expect((await answer).status).toBe(502);
  });

  it('narrows where a request already in flight may go: its resume never reaches a jurisdiction the reload took away', async () => {
    const { released, release } = gate();
    // The us endpoint sends a first token, then breaks once told to; on any later request it breaks at once.
    let usCalls = 0;
    const us = await startScriptedUpstream((res) => {
      usCalls += 1;
      if (usCalls > 1) {
        res.socket?.destroy();
        return;
      }
      res.write(openAIChunk({ role: 'assistant', content: 'Hello' }));
      void released.then(() => res.socket?.destroy());
    });
    const eu = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: ' world' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => us.close(), () => eu.close());
    const text = (jurisdictions: string): string => twoJurisdictions(us.url, eu.url, 'sk-inflight', jurisdictions, '{ retries: 1, backoffMs: 1, maxBackoffMs: 2, resumeStreams: true }');
    const gateway = createGateway({ config: gatewayConfig(text('us, eu')), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-inflight', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }) });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    while (!seen.includes('Hello')) seen += new TextDecoder().decode((await reader.read()).value);
    expect(gateway.reload({ ok: true, value: gatewayConfig(text('us')) })).toMatchObject({ apply: true, changed: [{ id: 't', fields: ['jurisdictions'] }] });
    release();
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      seen += new TextDecoder().decode(chunk.value);
    }
    // The break could only be resumed in eu, which the tenant may no longer use: an error event, not a resume there.
    expect(eu.arrivals()).toBe(0);
    expect(seen).toMatch(/data: \{"error":/);
    expect(seen).not.toContain('[DONE]');
  });
});

describe('a reload that raises a tenant limit', () => {
  const { cleanups } = closedAfterEach();

  it('is not undone when a request admitted before it is settled', async () => {
    let clock = 1_000_000;
    const { released, release } = gate();
    const upstream = await startScriptedUpstream((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'Hi' }));
      void released.then(() => res.end(openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    });
    cleanups.push(() => upstream.close());
    const text = (tokensPerMinute: number): string => oneEndpointYaml(upstream.url, `  - { id: t, apiKeySha256: ${hashApiKey('sk-raise')}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: ${String(tokensPerMinute)} }`);
    const gateway = createGateway({ config: gatewayConfig(text(6000)), logger: false, now: () => clock });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (maxTokens: number): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-raise', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] }) });
    const first = await ask(4000);
    expect(first.status).toBe(200);
    expect(gateway.reload({ ok: true, value: gatewayConfig(text(600_000)) })).toMatchObject({ apply: true });
    // Ten seconds at the new rate (10,000 tokens a second) refill the bucket far past the old capacity.
    clock += 10_000;
    release();
    await first.text();
    // Settled against the new limit, the refund does not cut the bucket back to the old 6,000.
    const big = await ask(50_000);
    expect(big.status).toBe(200);
    await big.text();
  });
});

describe('a reload while an attempt waits to be sent', () => {
  const { cleanups } = closedAfterEach();
  const ask = (url: string): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-waiting', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }) });
  const answered = (): ((res: import('node:http').ServerResponse) => void) => (res) => res.end(answerFrames);

  it("a hedge's second leg, chosen before the reload, is not sent to a jurisdiction it took away", async () => {
    // us never sends a first token; eu would answer at once.
    const us = await startScriptedUpstream(() => undefined);
    const eu = await startScriptedUpstream(answered());
    cleanups.push(() => us.close(), () => eu.close());
    const text = (jurisdictions: string): string => twoJurisdictions(us.url, eu.url, 'sk-waiting', jurisdictions, '{ retries: 0, hedgeAfterMs: 300, ttftTimeoutMs: 1000, deadlineMs: 5000 }');
    const gateway = createGateway({ config: gatewayConfig(text('us, eu')), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const answer = ask(url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(gateway.reload({ ok: true, value: gatewayConfig(text('us')) })).toMatchObject({ apply: true });
    expect((await answer).status).not.toBe(200);
    expect(eu.arrivals()).toBe(0);
  });

  it('a revisit after a backoff, chosen before the reload, is routed again and not sent where it may no longer go', async () => {
    // us refuses the key (its endpoint is banned for the request); eu is overloaded, to be revisited after a backoff.
    const us = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: 'bad key' } })), { status: 401, contentType: 'application/json' });
    const eu = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: 'busy' } })), { status: 503, contentType: 'application/json' });
    cleanups.push(() => us.close(), () => eu.close());
    const text = (jurisdictions: string): string => twoJurisdictions(us.url, eu.url, 'sk-waiting', jurisdictions, '{ retries: 2, backoffMs: 800, maxBackoffMs: 800, deadlineMs: 10000 }');
    const gateway = createGateway({ config: gatewayConfig(text('us, eu')), logger: false, random: () => 0.99 });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const answer = ask(url);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(eu.arrivals()).toBe(1);
    expect(gateway.reload({ ok: true, value: gatewayConfig(text('us')) })).toMatchObject({ apply: true });
    expect((await answer).status).not.toBe(200);
    expect(eu.arrivals()).toBe(1);
  });
});

describe('a revisit given up after its backoff', () => {
  const { cleanups } = closedAfterEach();

  it('is given back: the request may still go back to an endpoint it may use', async () => {
    const us = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: 'busy' } })), { status: 503, contentType: 'application/json' });
    const eu = await startScriptedUpstream((res) => res.end(JSON.stringify({ error: { message: 'slow down' } })), { status: 429, contentType: 'application/json' });
    cleanups.push(() => us.close(), () => eu.close());
    const text = (jurisdictions: string): string => twoJurisdictions(us.url, eu.url, 'sk-refund', jurisdictions, '{ retries: 1, backoffMs: 400, maxBackoffMs: 400, deadlineMs: 10000 }');
    const gateway = createGateway({ config: gatewayConfig(text('us, eu')), logger: false, random: () => 0.99 });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const answer = fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-refund', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }) });
    // us fails (503), eu is asked to wait (429: half a failure), so the one revisit goes to eu, after a backoff.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect([us.arrivals(), eu.arrivals()]).toEqual([1, 1]);
    expect(gateway.reload({ ok: true, value: gatewayConfig(text('us')) })).toMatchObject({ apply: true });
    expect((await answer).status).toBe(503);
    // eu never again; the revisit not made went to us instead.
    expect([us.arrivals(), eu.arrivals()]).toEqual([2, 1]);
  });
});

/**
 * A chat request with `key` whose head and first bytes go out, then `meanwhile` runs (a reload), then
 * the rest of the body: the status once the answer has ended.
 */
function sendAcross(gatewayUrl: string, key: string, body: string, meanwhile: () => void): Promise<number> {
  const url = new URL(gatewayUrl);
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: '/v1/chat/completions', method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.write(body.slice(0, 10));
    setTimeout(() => {
      try {
        meanwhile();
      } catch (error) {
        // A failed expectation in it fails the test now, not at its timeout.
        req.destroy();
        reject(error as Error);
        return;
      }
      req.end(body.slice(10));
    }, 80);
  });
}

const requestTenants = (lines: readonly string[]): (string | undefined)[] => lines.map((line) => JSON.parse(line) as { msg: string; tenant?: string }).filter((line) => line.msg === 'request').map((line) => line.tenant);

describe('a reload while a request sends its body: admitted as its key stands once the body is in', () => {
  const { cleanups } = closedAfterEach();

  it('a tenant removed meanwhile is a 401', async () => {
    const upstream = await startScriptedUpstream((res) => res.end(answerFrames));
    cleanups.push(() => upstream.close());
    const leaving = `  - { id: leaving, apiKeySha256: ${hashApiKey('sk-leaving')}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 10000000 }`;
    const staying = `  - { id: staying, apiKeySha256: ${hashApiKey('sk-staying')}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 10000000 }`;
    const gateway = createGateway({ config: gatewayConfig(oneEndpointYaml(upstream.url, `${leaving}\n${staying}`)), logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const status = sendAcross(url, 'sk-leaving', chatBody(5), () => {
      expect(gateway.reload({ ok: true, value: gatewayConfig(oneEndpointYaml(upstream.url, staying)) })).toMatchObject({ apply: true, removed: ['leaving'] });
    });
    expect(await status).toBe(401);
    expect(upstream.arrivals()).toBe(0);
  });

  it('follows a key moved to another tenant, and refuses one a rotation retired', async () => {
    const us = await startScriptedUpstream((res) => res.end(answerFrames));
    const eu = await startScriptedUpstream((res) => res.end(answerFrames));
    cleanups.push(() => us.close(), () => eu.close());
    const text = (aKeys: string, bKeys: string): string => `
version: 1
endpoints:
  - { id: us, url: "${us.url}", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: eu, url: "${eu.url}", dialect: openai, model: m, provider: p2, region: r, jurisdiction: eu, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: m, endpoints: [us, eu], policy: [cost] }
tenants:
  - { id: a, apiKeySha256: [${aKeys}], jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 10000000 }
  - { id: b, apiKeySha256: [${bKeys}], jurisdictions: [eu], requestsPerMinute: 1000, tokensPerMinute: 10000000 }
`;
    const [k1, k2, k3] = ['sk-k1', 'sk-k2', 'sk-k3'].map(hashApiKey) as [string, string, string];
    const lines: string[] = [];
    const gateway = createGateway({ config: gatewayConfig(text(`${k1}, ${k2}`, k3)), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }) });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const reloadTo = (next: string) => (): void => {
      expect(gateway.reload({ ok: true, value: gatewayConfig(next) })).toMatchObject({ apply: true });
    };
    // k1 moves from a (us) to b (eu) mid-upload: admitted as b, so served in eu, never in us.
    expect(await sendAcross(url, 'sk-k1', chatBody(5), reloadTo(text(k2, `${k3}, ${k1}`)))).toBe(200);
    expect([us.arrivals(), eu.arrivals()]).toEqual([0, 1]);
    expect(requestTenants(lines)).toEqual(['b']);
    // k2 is retired from a (which stays) mid-upload: refused, and no upstream reached.
    expect(await sendAcross(url, 'sk-k2', chatBody(5), reloadTo(text(hashApiKey('sk-k4'), `${k3}, ${k1}`)))).toBe(401);
    expect([us.arrivals(), eu.arrivals()]).toEqual([0, 1]);
  });

  /**
   * Tenant acme (6,000 tokens a minute) sends a 4,000-token request's body while a reload gives its key
   * to `tenantNow` with 600,000 and ten seconds pass; then a 50,000-token request.
   */
  const raiseLimitDuringUpload = async (tenantNow: string): Promise<{ readonly plan: unknown; readonly slow: number; readonly big: number; readonly logged: (string | undefined)[] }> => {
    let clock = 1_000_000;
    const upstream = await startScriptedUpstream((res) => res.end(answerFrames));
    cleanups.push(() => upstream.close());
    const text = (id: string, tokensPerMinute: number): string => oneEndpointYaml(upstream.url, `  - { id: ${id}, apiKeySha256: ${hashApiKey('sk-moving')}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: ${String(tokensPerMinute)} }`);
    const lines: string[] = [];
    const gateway = createGateway({ config: gatewayConfig(text('acme', 6000)), now: () => clock, logger: pino({ base: null }, { write: (line: string) => lines.push(line) }) });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    let plan: unknown;
    const slow = await sendAcross(url, 'sk-moving', chatBody(4000), () => {
      plan = gateway.reload({ ok: true, value: gatewayConfig(text(tenantNow, 600_000)) });
      clock += 10_000;
    });
    const big = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-moving', 'content-type': 'application/json' }, body: chatBody(50_000) });
    return { plan, slow, big: big.status, logged: requestTenants(lines) };
  };

  it('takes the limits the reload gave its tenant', async () => {
    const { plan, slow, big } = await raiseLimitDuringUpload('acme');
    expect(plan).toMatchObject({ apply: true, changed: [{ id: 'acme', fields: ['tokensPerMinute'] }] });
    expect(slow).toBe(200);
    // Admitted under the new limit: its bucket is not capped at the old 6,000, so a large request fits now.
    expect(big).toBe(200);
  });

  it("takes the key's tenant as renamed, with the limits the reload gave it", async () => {
    const { plan, slow, big, logged } = await raiseLimitDuringUpload('acme-corp');
    expect(plan).toMatchObject({ apply: true, added: ['acme-corp'], removed: ['acme'] });
    // The same key, its tenant renamed: served, as the tenant it is now.
    expect(slow).toBe(200);
    expect(logged[0]).toBe('acme-corp');
    expect(big).toBe(200);
  });
});

describe('a hedge chosen before a reload', () => {
  const { cleanups } = closedAfterEach();

  it('that takes its endpoint away goes to the next endpoint the tenant may use, at the hedge delay (E37)', async () => {
    const upstream = scriptedClient({ 'a-uk': scriptedHang, 'b-eu': () => scriptedAnswer(['from b-eu']), 'c-uk': () => scriptedAnswer(['from c-uk']) });
    const text = (jurisdictions: string): string => `
version: 1
endpoints:
  - { id: a-uk, url: "http://127.0.0.1:1", dialect: openai, model: m, provider: p, region: r, jurisdiction: uk, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: b-eu, url: "http://127.0.0.1:2", dialect: openai, model: m, provider: p, region: r, jurisdiction: eu, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
  - { id: c-uk, url: "http://127.0.0.1:3", dialect: openai, model: m, provider: p, region: r, jurisdiction: uk, contextWindow: 131072, marginalCostPerMillionTokens: 2, capacity: 8 }
routes:
  - { model: m, endpoints: [a-uk, b-eu, c-uk], policy: [cost], resilience: { hedgeAfterMs: 600 } }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey('sk-hedge-reload')}, jurisdictions: [${jurisdictions}], requestsPerMinute: 1000, tokensPerMinute: 10000000 }
resilience: { ttftTimeoutMs: 8000 }
`;
    const gateway = createGateway({ config: gatewayConfig(text('eu, uk')), logger: false, upstream });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const started = Date.now();
    const answer = fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-hedge-reload', 'content-type': 'application/json' }, body: chatBody(5) });
    await expect.poll(() => upstream.calls.length).toBe(1);
    // Chosen with the first attempt: b-eu, the next cheapest. The reload takes eu away before the delay ends.
    expect(gateway.reload({ ok: true, value: gatewayConfig(text('uk')) })).toMatchObject({ apply: true });
    const response = await answer;
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('from c-uk');
    expect(upstream.calls.map((call) => call.endpoint)).toEqual(['a-uk', 'c-uk']);
    // At the hedge delay, not after a-uk's 8 s TTFT timeout.
    expect(Date.now() - started).toBeLessThan(4000);
  });
});

describe('the names a reload gives', () => {
  const { cleanups } = closedAfterEach();

  it("are shown as written in a refusal's logged reason, as the first config's are (R35)", async () => {
    const lines: string[] = [];
    const text = (tenants: string): string => oneEndpointYaml('http://127.0.0.1:1', tenants);
    const first = `  - { id: team-a, apiKeySha256: ${hashApiKey('sk-first-tenant')}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 10000000 }`;
    // A name with a key's prefix, which the masking shows only because the config gives it.
    const added = `  - { id: sk-learn-team, apiKeySha256: ${hashApiKey('sk-added-tenant')}, jurisdictions: [us], requestsPerMinute: 1, tokensPerMinute: 10000000 }`;
    const gateway = createGateway({ config: gatewayConfig(text(first)), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }), upstream: scriptedClient({ up: () => scriptedAnswer(['ok']) }) });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    expect(gateway.reload({ ok: true, value: gatewayConfig(text(`${first}\n${added}`)) })).toMatchObject({ apply: true });
    const ask = (): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-added-tenant', 'content-type': 'application/json' }, body: chatBody(5) });
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(429);
    expect(lines.filter((line) => line.includes('request refused')).at(-1)).toContain('tenant sk-learn-team is over its');
  });
});

