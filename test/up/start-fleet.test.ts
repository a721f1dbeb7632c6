import Anthropic from '@anthropic-ai/sdk';
import { createServer } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet, loadFleetOrThrow } from '../../src/domain/load-fleet.js';
import type { Fleet } from '../../src/domain/fleet.js';
import { idPattern } from '../../src/domain/id-pattern.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { StartFleetError, StartFleetStopped, distinctReplicaEndpointId, nthSeed, replicaEndpointId, startFleet, type RunningFleet } from '../../src/up/start-fleet.js';
import { readText, smallYamlPath } from '../helpers/paths.js';
import { curlToFetch } from './curl-to-fetch.js';

let fleet: Fleet;
let running: RunningFleet;

beforeAll(async () => {
  fleet = loadFleetOrThrow(smallYamlPath);
  running = await startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, seed: 7 });
});

afterAll(async () => {
  await running.close();
});

/** `switchyard_requests_total` samples of the gateway: which endpoint served which route. */
async function servedBy(url: string): Promise<{ route: string; endpoint: string; status: string }[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/^switchyard_requests_total\{([^}]*)\} (\d+)/gm)].map((match) => {
    const labels = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    return { route: labels.route ?? '', endpoint: labels.endpoint ?? '', status: labels.status ?? '' };
  });
}

describe('startFleet on examples/small.yaml', () => {
  it('starts one emulator per inference allocation, scaled down, and a gateway config that passed the schema', () => {
    const inference = running.plan.allocations.filter((a) => a.kind === 'inference');
    expect(running.scaling).toHaveLength(inference.length);
    for (const allocation of inference) {
      const scaled = running.scaling.find((s) => s.service === allocation.workload && s.pool === allocation.pool);
      expect(scaled).toMatchObject({ plannedReplicas: allocation.replicas, chipsPerReplica: allocation.chipsPerReplica, emulators: 1 });
    }
    expect(running.endpoints.map((e) => e.id).sort()).toEqual(inference.map((a) => `${a.pool}-0`).sort());
    expect(new Set(running.endpoints.map((e) => e.seed)).size).toBe(running.endpoints.length);
    expect(new Set(running.endpoints.map((e) => e.dialect))).toEqual(new Set(['openai', 'anthropic']));
    // Every jurisdiction of a route has an Anthropic-dialect endpoint: a caller held to one still gets thinking and token counts.
    for (const route of running.routes) {
      const endpoints = running.endpoints.filter((e) => route.endpoints.includes(e.id));
      for (const jurisdiction of new Set(endpoints.map((e) => e.jurisdiction))) expect([route.model, jurisdiction, endpoints.some((e) => e.jurisdiction === jurisdiction && e.dialect === 'anthropic')]).toEqual([route.model, jurisdiction, true]);
    }
    for (const endpoint of running.endpoints) {
      expect(endpoint.model).toBe(`${endpoint.service}@${endpoint.pool}`);
      const pool = fleet.pools.find((p) => p.id === endpoint.pool);
      expect(endpoint).toMatchObject({ provider: pool?.provider, region: pool?.region, jurisdiction: pool?.jurisdiction, chip: pool?.chip.id });
      expect(endpoint.capacity).toBeGreaterThan(0);
      // Committed capacity is free at the margin; on-demand costs its chips over the replica's output tokens.
      const option = running.plan.options.find((o) => o.workload === endpoint.service && o.pool === endpoint.pool && 'tokensPerSecondPerReplica' in o);
      if (option === undefined || !('tokensPerSecondPerReplica' in option)) throw new Error('no plan option');
      expect(endpoint.marginalCostPerMillionTokens).toBeCloseTo((option.marginalCostPerReplicaHour / (option.tokensPerSecondPerReplica * 3600)) * 1e6, 4);
      if (pool?.pricing === 'committed') expect(endpoint.marginalCostPerMillionTokens).toBe(0);
    }
    const config = running.config;
    expect(config.endpoints).toHaveLength(running.endpoints.length);
    expect(config.endpoints.every((e) => e.contextWindow === 131_072 && e.longContext === false)).toBe(true);
    expect(config.tenants).toEqual([expect.objectContaining({ id: 'demo', apiKeySha256: hashApiKey(running.apiKey), jurisdictions: ['eu', 'us'] })]);
    expect(config.routes.map((r) => r.policy)).toEqual([['cost', 'least-load'], ['cost', 'least-load']]);
    expect(running.apiKey).toMatch(/^sy-demo-[A-Za-z0-9_-]{32}$/);
    expect(running.warnings).toEqual([]);
  });

  it('routes only to endpoints inside each service\'s jurisdictions', () => {
    expect(running.routes.map((r) => r.model)).toEqual(fleet.services.map((s) => s.id));
    for (const route of running.routes) {
      const service = fleet.services.find((s) => s.id === route.model);
      expect(route.endpoints.length).toBeGreaterThan(0);
      for (const id of route.endpoints) {
        const endpoint = running.endpoints.find((e) => e.id === id);
        expect(endpoint?.service).toBe(route.model);
        expect(service?.jurisdictions).toContain(endpoint?.jurisdiction);
      }
    }
  });

  it('answers every service through both SDK dialects, streaming and not', async () => {
    const openai = new OpenAI({ apiKey: running.apiKey, baseURL: `${running.url}/v1`, maxRetries: 0 });
    const anthropic = new Anthropic({ apiKey: running.apiKey, baseURL: running.url, maxRetries: 0 });
    for (const route of running.routes) {
      const completion = await openai.chat.completions.create({ model: route.model, max_tokens: 12, messages: [{ role: 'user', content: `hello ${route.model}` }] });
      expect(completion.model).toBe(route.model);
      expect(completion.choices[0]?.message.content?.length).toBeGreaterThan(0);
      expect(completion.usage?.completion_tokens).toBeGreaterThan(0);

      const message = await anthropic.messages.create({ model: route.model, max_tokens: 12, messages: [{ role: 'user', content: `hello ${route.model}` }] });
      expect(message.model).toBe(route.model);
      const block = message.content[0];
      expect(block?.type === 'text' ? block.text.length : 0).toBeGreaterThan(0);

      const stream = await openai.chat.completions.create({ model: route.model, max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'stream please' }] });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text.length).toBeGreaterThan(0);

      const streamed = await anthropic.messages.stream({ model: route.model, max_tokens: 8, messages: [{ role: 'user', content: 'stream please' }] }).finalMessage();
      expect(streamed.stop_reason).toBe('max_tokens');
    }
    // Every answer came from an endpoint of its own route, inside the service's jurisdictions.
    const served = await servedBy(running.url);
    expect(served.length).toBeGreaterThan(0);
    for (const sample of served) {
      expect(sample.status).toBe('200');
      const route = running.routes.find((r) => r.model === sample.route);
      expect(route?.endpoints).toContain(sample.endpoint);
    }
    // The cheapest endpoints of the two routes speak different upstream dialects: both were exercised.
    const dialects = new Set(served.map((s) => running.endpoints.find((e) => e.id === s.endpoint)?.dialect));
    expect(dialects).toEqual(new Set(['openai', 'anthropic']));
  });

  it('never widens jurisdictions: a US service asked to stay in the EU is refused, not served', async () => {
    const response = await fetch(`${running.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${running.apiKey}`, 'content-type': 'application/json', 'x-switchyard-jurisdiction': 'eu' },
      body: JSON.stringify({ model: 'chat-us', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(503);
    const wrongKey = await fetch(`${running.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-key', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-us', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(wrongKey.status).toBe(401);
  });

  it('the printed curl lines work as written', async () => {
    expect(running.curl.openai).toContain(`${running.url}/v1/chat/completions`);
    expect(running.curl.anthropic).toContain(`${running.url}/v1/messages`);
    const openai = await curlToFetch(running.curl.openai);
    expect(openai.status).toBe(200);
    const openaiBody = (await openai.json()) as { model: string; choices: { message: { content: string } }[] };
    expect(openaiBody.model).toBe(running.routes[0]?.model);
    expect(openaiBody.choices[0]?.message.content.length).toBeGreaterThan(0);
    const anthropic = await curlToFetch(running.curl.anthropic);
    expect(anthropic.status).toBe(200);
    const anthropicBody = (await anthropic.json()) as { type: string; content: { type: string; text: string }[] };
    expect(anthropicBody.type).toBe('message');
    expect(anthropicBody.content[0]?.text.length).toBeGreaterThan(0);
  });
});

describe('startFleet lifecycle', () => {
  it('seeds near 2^53 wrap to distinct whole numbers rather than failing to start an emulator', async () => {
    const top = Number.MAX_SAFE_INTEGER;
    expect([0, 1, 2, 3].map((ordinal) => nthSeed(top - 2, ordinal))).toEqual([top - 2, top - 1, top, 0]);
    const wrapped = await startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 2, plan: running.plan, seed: top });
    try {
      expect(wrapped.endpoints.map((e) => e.seed)).toEqual([top, 0, 1, 2, 3, 4, 5, 6]);
    } finally {
      await wrapped.close();
    }
  });

  it('several replicas per allocation get ids pool-k, dialects alternating per service (Anthropic first) and distinct seeds; close() releases every port', async () => {
    const several = await startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 2, plan: running.plan, seed: 100, apiKey: 'sy-test-key' });
    let closed = false;
    try {
      expect(several.apiKey).toBe('sy-test-key');
      expect(several.endpoints).toHaveLength(8);
      expect(several.scaling.every((s) => s.emulators === 2)).toBe(true);
      for (const pool of ['gcp-usc1-v6e', 'aws-use1-h100', 'azure-weu-h100', 'gcp-euw4-v6e']) {
        expect(several.endpoints.filter((e) => e.pool === pool).map((e) => [e.id, e.dialect])).toEqual([
          [`${pool}-0`, 'anthropic'],
          [`${pool}-1`, 'openai'],
        ]);
      }
      // Two replicas in every jurisdiction of a route: both dialects there (Anthropic's alone give thinking and count tokens, OpenAI's JSON mode).
      for (const route of several.routes) {
        const endpoints = several.endpoints.filter((e) => route.endpoints.includes(e.id));
        for (const jurisdiction of new Set(endpoints.map((e) => e.jurisdiction))) expect([route.model, jurisdiction, new Set(endpoints.filter((e) => e.jurisdiction === jurisdiction).map((e) => e.dialect))]).toEqual([route.model, jurisdiction, new Set(['anthropic', 'openai'])]);
      }
      expect(several.endpoints.map((e) => e.seed)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
      expect((await fetch(`${several.url}/healthz`)).status).toBe(200);
      const urls = [several.url, ...several.endpoints.map((e) => e.url)];
      await several.close();
      closed = true;
      await several.close(); // idempotent
      for (const url of urls) await expect(fetch(`${url}/health`)).rejects.toThrow();
    } finally {
      if (!closed) await several.close();
    }
  });

  it('replica ids stay within the 128 characters an id may have, distinct, for a pool id of up to 128 (R47)', () => {
    expect(replicaEndpointId('gcp-usc1-v6e', 3)).toBe('gcp-usc1-v6e-3');
    const long = `p${'x'.repeat(127)}`;
    const ids = [0, 1, 10, 123].map((k) => replicaEndpointId(long, k));
    for (const id of ids) {
      expect(id.length).toBeLessThanOrEqual(128);
      expect(id).toMatch(idPattern);
    }
    expect(new Set(ids).size).toBe(4);
    expect(ids[2]).toMatch(/^px+\.[0-9a-f]{8}-10$/);
    // Two long pool ids alike in their start stay apart.
    expect(replicaEndpointId(`${long.slice(0, 127)}y`, 0)).not.toBe(ids[0]);
    // A pool named as another's hashed id (R48: crafted) would share its replica's id: made another way.
    const crafted = (ids[0] ?? '').slice(0, -'-0'.length);
    expect(replicaEndpointId(crafted, 0)).toBe(ids[0]);
    const taken = new Set<string>();
    const apart = [distinctReplicaEndpointId(long, 0, taken), distinctReplicaEndpointId(crafted, 0, taken), distinctReplicaEndpointId(crafted, 1, taken)];
    expect(apart[0]).toBe(ids[0]);
    expect(apart[1]).toMatch(/^px+\.[0-9a-f]{8}-0$/);
    expect(apart[2]).toBe(`${crafted}-1`);
    expect(new Set(apart).size).toBe(3);
    for (const id of apart) expect(id.length).toBeLessThanOrEqual(128);
  });

  it('an infeasible plan still starts what it placed, with a warning; a plan with nothing to serve is refused', async () => {
    const infeasible = { ...running.plan, status: 'infeasible' as const, problems: ['made up for the test'], allocations: running.plan.allocations.filter((a) => a.workload !== 'assist-eu') };
    const partial = await startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, plan: infeasible });
    try {
      expect(partial.routes.map((r) => r.model)).toEqual(['chat-us']);
      expect(partial.warnings).toEqual([expect.stringContaining('INFEASIBLE (made up for the test)'), "service 'assist-eu' has no planned replicas: no route for it"]);
    } finally {
      await partial.close();
    }
    const nothing = { ...infeasible, allocations: [] };
    // The refusal says why, as the plan does.
    await expect(startFleet(fleet, { port: 0, plan: nothing })).rejects.toThrow(new StartFleetError('the plan places no inference replica: made up for the test; nothing to start'));
    const noServices = parseFleet(readText(smallYamlPath).replace(/^services:[\s\S]*?^trainingJobs:/m, 'trainingJobs:').replace(/^ {2}survive:.*$/m, ''), 'no-services.yaml');
    if (!noServices.ok) throw new Error(noServices.problems.map((p) => p.message).join('; '));
    await expect(startFleet(noServices.value, { port: 0 })).rejects.toThrow(/no inference replica \(the fleet has no services\)/);
  });

  it('a stop asked while the emulators start stops before the gateway: nothing is left listening', async () => {
    const servers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;
    const shared = 1 + running.endpoints.length;
    await expect.poll(servers).toBe(shared);
    let asked = 0;
    // No after planning, yes once the emulators are up.
    await expect(startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan, stopRequested: () => (asked += 1) > 1 })).rejects.toThrow(StartFleetStopped);
    expect(asked).toBe(2);
    await expect.poll(servers).toBe(shared);
  });

  it('emulators slower than real time get gateway timeouts stretched with them', async () => {
    const slow = await startFleet(fleet, { port: 0, speed: 0.01, replicasPerPool: 1, plan: running.plan });
    try {
      expect(slow.config.resilience).toMatchObject({ ttftTimeoutMs: 1_000_000, deadlineMs: 12_000_000 });
      // At least the default's 10 s stretched, more where a window-long prefill step needs it (below).
      expect(slow.config.resilience.tokenIdleTimeoutMs).toBeGreaterThanOrEqual(1_000_000);
    } finally {
      await slow.close();
    }
    expect(running.config.resilience).toMatchObject({ ttftTimeoutMs: 10_000, deadlineMs: 120_000 });
  });

  it("a route's TTFT timeout and the gap between tokens hold a window-long prompt's prefill as its replica takes it, where the gateway's 10 s would cut it", async () => {
    const realTime = await startFleet(fleet, { port: 0, speed: 1, replicasPerPool: 1, plan: running.plan });
    await realTime.close();
    const measured: number[] = [];
    for (const route of running.routes) {
      const endpoint = running.endpoints.find((candidate) => candidate.id === route.endpoints[0]);
      if (endpoint === undefined) throw new Error(`no endpoint for ${route.model}`);
      // A prompt that fills the window but for its one output token, asked of the replica itself at
      // speed 200: its time to the answer, scaled back to real time, is what the gateway must wait.
      // Scaled by 200, a busy machine's delay of a few milliseconds reads as seconds: the least of
      // three asks is the replica's own time.
      const promptTokens = endpoint.contextWindow - 64;
      const times: number[] = [];
      for (let ask = 0; ask < 3; ask++) {
        const started = performance.now();
        const answer = await fetch(`${endpoint.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: endpoint.model, max_tokens: 1, messages: [{ role: 'user', content: 'word '.repeat((promptTokens * 4) / 5) }] }) });
        times.push((performance.now() - started) * 200);
        expect(answer.status).toBe(200);
        await answer.text();
      }
      const realTimeMs = Math.min(...times);
      measured.push(realTimeMs);
      const own = realTime.config.routes.find((candidate) => candidate.model === route.model)?.resilience;
      expect(own?.ttftTimeoutMs ?? realTime.config.resilience.ttftTimeoutMs).toBeGreaterThan(realTimeMs);
      expect(own?.deadlineMs ?? realTime.config.resilience.deadlineMs).toBeGreaterThan(own?.ttftTimeoutMs ?? realTime.config.resilience.ttftTimeoutMs);
    }
    // The example's 131,072-token windows: at least one route's replica takes longer than the default.
    expect(Math.max(...measured)).toBeGreaterThan(10_000);
    expect(realTime.config.resilience.tokenIdleTimeoutMs).toBeGreaterThan(10_000);
  });

  it('a service with one replica in each of two jurisdictions gets an Anthropic-dialect one in each: a caller held to either counts tokens', async () => {
    const twoJurisdictions = parseFleet(
      [
        'version: 1',
        'pools:',
        '  - { id: us-h100, provider: aws, region: us-east-1, jurisdiction: us, chip: h100, chips: 64, pricing: on-demand }',
        '  - { id: eu-h100, provider: azure, region: westeurope, jurisdiction: eu, chip: h100, chips: 64, pricing: on-demand }',
        'services:',
        '  - { id: chat, model: llama-3.1-8b, requestsPerSecond: 10, inputTokens: 1000, outputTokens: 200, slo: { ttftMs: 1000, tpotMs: 50 }, jurisdictions: [us, eu] }',
        // Surviving a provider's loss places a replica in each.
        'policy:',
        '  survive: { lose: provider, keep: 0.5 }',
      ].join('\n'),
      'two-jurisdictions.yaml',
    );
    if (!twoJurisdictions.ok) throw new Error(twoJurisdictions.problems.map((problem) => problem.message).join('; '));
    const started = await startFleet(twoJurisdictions.value, { port: 0, speed: 200, replicasPerPool: 1 });
    try {
      expect(started.endpoints.map((e) => [e.jurisdiction, e.dialect]).sort()).toEqual([['eu', 'anthropic'], ['us', 'anthropic']]);
      for (const jurisdiction of ['us', 'eu']) {
        const counted = await fetch(`${started.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': started.apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-switchyard-jurisdiction': jurisdiction }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }) });
        expect([jurisdiction, counted.status]).toEqual([jurisdiction, 200]);
      }
    } finally {
      await started.close();
    }
  });

  it("each replica's log lines name it, so a rehearsal's log says which one a fault was set on", async () => {
    const lines: string[] = [];
    const started = await startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan, log: (line) => lines.push(line) });
    try {
      const [first, second] = started.endpoints;
      if (first === undefined || second === undefined) throw new Error('small.yaml starts at least two replicas');
      for (const endpoint of [first, second]) expect((await fetch(`${endpoint.url}/admin/faults`, { method: 'POST', body: JSON.stringify({ addedLatencyMs: 5 }) })).status).toBe(200);
      expect(lines.map((line) => line.replace(/faults now \{.*\}$/, 'faults now ...'))).toEqual([`switchyard emulate ${first.id}: faults now ...`, `switchyard emulate ${second.id}: faults now ...`]);
    } finally {
      await started.close();
    }
  });

  it('a model whose window-long prefill takes minutes still gets a gateway config that holds together (every deadline above the gap between tokens)', async () => {
    const parsed = parseFleet(`${readText(smallYamlPath)}\nmodels:\n  - { id: llama-3.1-70b, contextWindow: 1000000 }\n`, 'huge-window.yaml');
    if (!parsed.ok) throw new Error(parsed.problems.map((problem) => problem.message).join('; '));
    const realTime = await startFleet(parsed.value, { port: 0, speed: 1, replicasPerPool: 1, plan: running.plan });
    try {
      const idle = realTime.config.resilience.tokenIdleTimeoutMs;
      expect(idle).toBeGreaterThan(120_000);
      expect(realTime.config.resilience.deadlineMs).toBeGreaterThan(idle);
      for (const route of realTime.config.routes) expect(route.resilience?.deadlineMs ?? realTime.config.resilience.deadlineMs).toBeGreaterThan(idle);
    } finally {
      await realTime.close();
    }
  });

  it("a window longer than a replica's KV cache holds is cut to it, the gateway routing by the emulator's window, and said once per pool (E25)", async () => {
    const parsed = parseFleet(`${readText(smallYamlPath)}\nmodels:\n  - { id: llama-3.1-70b, contextWindow: 10000000 }\n`, 'too-long-window.yaml');
    if (!parsed.ok) throw new Error(parsed.problems.map((problem) => problem.message).join('; '));
    const started = await startFleet(parsed.value, { port: 0, speed: 200, replicasPerPool: 2, plan: running.plan });
    try {
      const modelWindow = new Map(parsed.value.services.map((service) => [service.id, service.model.contextWindow ?? 0]));
      const cut = new Set<string>();
      for (const endpoint of started.endpoints) {
        const listed = (await (await fetch(`${endpoint.url}/v1/models`)).json()) as { data: { max_model_len: number }[] };
        expect(started.config.endpoints.find((configured) => configured.id === endpoint.id)?.contextWindow).toBe(listed.data[0]?.max_model_len);
        if (endpoint.contextWindow < (modelWindow.get(endpoint.service) ?? 0)) cut.add(`service '${endpoint.service}' on pool '${endpoint.pool}' serves a window of ${endpoint.contextWindow.toLocaleString('en-US')} tokens, not its model's ${(modelWindow.get(endpoint.service) ?? 0).toLocaleString('en-US')}`);
      }
      expect(cut.size).toBeGreaterThan(0);
      expect(started.warnings.filter((warning) => warning.includes('KV cache holds no more')).map((warning) => warning.split(':')[0])).toEqual([...cut]);
    } finally {
      await started.close();
    }
  });

  it('a model that names no context window gets one window, which the gateway routes by and its emulators hold to', async () => {
    const windowless: Fleet = { ...fleet, services: fleet.services.map((service) => {
      const { contextWindow: _dropped, ...model } = service.model;
      return { ...service, model };
    }) };
    const started = await startFleet(windowless, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan });
    try {
      const windows = new Set(started.config.endpoints.map((endpoint) => endpoint.contextWindow));
      expect([...windows]).toEqual([32_768]);
      for (const endpoint of started.endpoints) {
        const listed = (await (await fetch(`${endpoint.url}/v1/models`)).json()) as { data: { max_model_len: number | null }[] };
        expect(listed.data[0]?.max_model_len).toBe(32_768);
      }
    } finally {
      await started.close();
    }
    // A service whose own requests are longer than the default gets a window that holds them.
    const [first, ...others] = windowless.services;
    if (first === undefined) throw new Error('no service');
    const long = await startFleet({ ...windowless, services: [{ ...first, inputTokens: 30_000, outputTokens: 6_000 }, ...others] }, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan });
    try {
      const served = long.endpoints.filter((endpoint) => endpoint.service === first.id).map((endpoint) => endpoint.id);
      expect(served.length).toBeGreaterThan(0);
      expect(long.config.endpoints.filter((endpoint) => served.includes(endpoint.id)).map((endpoint) => endpoint.contextWindow)).toEqual(served.map(() => 36_000));
    } finally {
      await long.close();
    }
  });

  it('--emulator-ports puts the emulated replicas on consecutive ports; a taken one or a range past 65535 is said as such, leaving nothing behind', async () => {
    const count = running.endpoints.length;
    const first = await freeRange(count);
    const placed = await startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan, emulatorPorts: first });
    try {
      expect(placed.endpoints.map((endpoint) => Number(new URL(endpoint.url).port)).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, index) => first + index));
    } finally {
      await placed.close();
    }
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(first + 1, '127.0.0.1', resolve));
    try {
      await expect(startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan, emulatorPorts: first })).rejects.toMatchObject({ name: 'EmulatorError', code: 'EADDRINUSE', message: `port ${String(first + 1)} is in use (--emulator-ports ${String(first)} gives the ${String(count)} emulated replicas ports ${String(first)} to ${String(first + count - 1)}); choose another first port, or leave the flag out and free ports are picked` });
      // The replicas that did start were stopped: their ports are free again.
      for (const port of [first, ...Array.from({ length: count - 2 }, (_, index) => first + 2 + index)]) expect(await canListen(port)).toBe(true);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
    await expect(startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan, emulatorPorts: 65_535 })).rejects.toMatchObject({ name: 'UpPortsError', message: expect.stringContaining('would run past 65535') });
    // The gateway's own port inside the range is said before anything starts, naming both flags.
    await expect(startFleet(fleet, { port: first + 1, speed: 200, replicasPerPool: 1, plan: running.plan, emulatorPorts: first })).rejects.toMatchObject({ name: 'UpPortsError', message: `the gateway's port ${String(first + 1)} is among the emulated replicas' ports (${String(first)} to ${String(first + count - 1)}, from --emulator-ports); give the gateway another with --port, or the replicas another first port` });
    expect(await canListen(first)).toBe(true);
    await expect(startFleet(fleet, { port: 0, plan: running.plan, emulatorPorts: 0 })).rejects.toThrow(RangeError);
  });

  it('warns, once started, when the open files left hold few requests in flight (E44: it failed under load, unsaid)', async () => {
    const crowded = await startFleet(fleet, { port: 0, speed: 200, replicasPerPool: 1, plan: running.plan, openFiles: () => ({ used: 1000, limit: 1024 }) });
    try {
      expect(crowded.warnings).toContainEqual(expect.stringContaining('the process holds 1000 of its 1024 open files (ulimit -n)'));
    } finally {
      await crowded.close();
    }
  });

  it('a taken gateway port fails cleanly and leaves no emulator behind', async () => {
    const port = Number(new URL(running.url).port);
    const servers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;
    // Only the shared fleet (its gateway and emulators) listens once the earlier tests' servers are gone.
    const shared = 1 + running.endpoints.length;
    await expect.poll(servers).toBe(shared);
    // Held before the emulators start (E44: they could take it otherwise), a port in use starts none.
    let most = 0;
    let sampling = true;
    const sample = (): void => {
      most = Math.max(most, servers());
      if (sampling) setImmediate(sample);
    };
    sample();
    await expect(startFleet(fleet, { port, speed: 200, replicasPerPool: 1, plan: running.plan })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    sampling = false;
    expect(most).toBe(shared);
    await expect.poll(servers).toBe(shared);
  });
});

/** A first port of `count` consecutive free ones, below the ephemeral range (where the system's own picks would collide). */
async function freeRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const first = 20_000 + Math.floor(Math.random() * 12_000);
    const held: ReturnType<typeof createServer>[] = [];
    let free = true;
    for (let port = first; port < first + count && free; port += 1) {
      const server = createServer();
      free = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (free) held.push(server);
    }
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
    if (free) return first;
  }
  throw new Error('no free range of ports');
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (free) await new Promise((resolve) => server.close(resolve));
  return free;
}
