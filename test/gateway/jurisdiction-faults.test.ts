import { afterEach, describe, expect, it } from 'vitest';
import type { FaultsUpdate, RunningEmulator } from '../../src/emulator/index.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { gatewayConfig, metricValue, readSse, scrape, startCountingProxy, startTestEmulator, waitFor, type CountingProxy, type StreamEnding } from './helpers/fleet.js';
import { seededRandom } from './seeded-random.js';

/**
 * Jurisdiction is hard under any fault: six emulated replicas (two each in us,
 * eu and uk), each behind a counting proxy that records every request that
 * reaches it, a gateway in front, tenants with different allowed sets, and a
 * seeded random schedule of kills, restarts, refusals, error rates, hangs and
 * cuts while a few hundred mixed requests run. Every request carries a tag in
 * its prompt (continuations repeat the prompt, so resumed streams carry it too),
 * so each arrival at a replica is checked against that request's allowed set:
 * the tenant's jurisdictions, narrowed by the x-switchyard-jurisdiction header
 * and, for Anthropic callers, by inference_geo.
 */

const jurisdictions = ['us', 'eu', 'uk'] as const;
type Jurisdiction = (typeof jurisdictions)[number];

interface Tenant {
  readonly id: string;
  readonly key: string;
  readonly jurisdictions: readonly string[];
}

const tenants: readonly Tenant[] = [
  { id: 't-us', key: 'sk-j-us', jurisdictions: ['us'] },
  { id: 't-eu', key: 'sk-j-eu', jurisdictions: ['eu'] },
  { id: 't-eu-uk', key: 'sk-j-eu-uk', jurisdictions: ['eu', 'uk'] },
  { id: 't-all', key: 'sk-j-all', jurisdictions: ['us', 'eu', 'uk'] },
  // Allowed only where nothing is served: every request must be refused, never sent elsewhere.
  { id: 't-jp', key: 'sk-j-jp', jurisdictions: ['jp'] },
];

/** Public routes and the jurisdictions of the endpoints behind them. */
const routes: Readonly<Record<string, readonly Jurisdiction[]>> = {
  frontier: ['us', 'eu', 'uk'],
  'frontier-uk': ['uk'],
};

/** Who sends each request, drawn uniformly: the tenant with nothing servable is one draw in eight. */
const senders: readonly Tenant[] = [0, 1, 2, 3, 3, 2, 0, 4].map((index) => tenants[index] as Tenant);

/** Header values sent (undefined: no header). Raw, as a client might type them. */
const headerChoices: readonly (string | undefined)[] = [undefined, undefined, undefined, 'us', 'eu', 'uk', 'EU, uk', 'us,uk', 'jp', 'eu,jp', ''];

/** Anthropic inference_geo values sent (undefined: none); 'global' narrows nothing. */
const geographyChoices: readonly (string | undefined)[] = [undefined, undefined, undefined, 'us', 'EU', 'uk', 'global', 'jp'];

interface Replica {
  readonly id: string;
  readonly jurisdiction: Jurisdiction;
  readonly model: string;
  readonly dialect: 'openai' | 'anthropic';
  readonly proxy: CountingProxy;
  emulator: RunningEmulator | undefined;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startFleet(): Promise<Replica[]> {
  const replicas: Replica[] = [];
  for (const jurisdiction of jurisdictions) {
    for (const n of [1, 2]) {
      const model = `m-${jurisdiction}-${n}`;
      const emulator = await startTestEmulator({ servedModelName: model, seed: n });
      const proxy = await startCountingProxy(emulator.url);
      const replica: Replica = { id: `${jurisdiction}-${n}`, jurisdiction, model, dialect: n === 1 ? 'openai' : 'anthropic', proxy, emulator };
      replicas.push(replica);
      cleanups.push(async () => {
        await replica.emulator?.close();
        await proxy.close();
      });
    }
  }
  return replicas;
}

function fleetConfig(replicas: readonly Replica[]): ReturnType<typeof gatewayConfig> {
  const endpoints = replicas.map(
    (r, index) =>
      `  - { id: ${r.id}, url: "${r.proxy.url}", dialect: ${r.dialect}, model: ${r.model}, provider: p${index % 3}, region: ${r.jurisdiction}-r${index % 2}, jurisdiction: ${r.jurisdiction}, contextWindow: 131072, marginalCostPerMillionTokens: ${index % 3}, capacity: 8 }`,
  );
  const routeLines = Object.entries(routes).map(
    ([model, allowed]) => `  - { model: ${model}, endpoints: [${replicas.filter((r) => allowed.includes(r.jurisdiction)).map((r) => r.id).join(', ')}], policy: [least-load] }`,
  );
  const tenantLines = tenants.map((t) => `  - { id: ${t.id}, apiKeySha256: ${hashApiKey(t.key)}, jurisdictions: [${t.jurisdictions.join(', ')}], requestsPerMinute: 1000000, tokensPerMinute: 1000000000 }`);
  return gatewayConfig(`
version: 1
endpoints:
${endpoints.join('\n')}
routes:
${routeLines.join('\n')}
tenants:
${tenantLines.join('\n')}
resilience: { retries: 2, backoffMs: 5, maxBackoffMs: 40, ttftTimeoutMs: 250, deadlineMs: 3000, hedgeAfterMs: 120, circuitBreaker: { failureThreshold: 3, windowMs: 2000, openMs: 300 } }
`);
}

/** The jurisdictions a request may reach: the tenant's, narrowed (never widened) by the header and the geography. */
function allowedSet(tenant: Tenant, header: string | undefined, geography: string | undefined): Set<string> {
  let allowed = new Set(tenant.jurisdictions);
  if (header !== undefined) {
    const named = new Set(header.split(',').map((part) => part.trim().toLowerCase()).filter((part) => part !== ''));
    allowed = new Set([...allowed].filter((j) => named.has(j)));
  }
  const geo = geography?.toLowerCase();
  return geo === undefined || geo === 'global' ? allowed : new Set([...allowed].filter((j) => j === geo));
}

interface Sent {
  readonly tag: number;
  readonly tenant: Tenant;
  readonly header: string | undefined;
  /** Anthropic requests only. */
  readonly geography: string | undefined;
  readonly route: string;
  readonly dialect: 'openai' | 'anthropic';
  readonly stream: boolean;
  readonly allowed: Set<string>;
  /** Whether any endpoint of the route lies in the allowed set. */
  readonly servable: boolean;
  status: number;
  ending: StreamEnding | 'json';
  errorMessage: string | undefined;
  errorShapeOk: boolean;
}

async function send(gatewayUrl: string, sent: Sent): Promise<void> {
  const content = `[req:${sent.tag}] summarise the residency rules`;
  const maxTokens = 8 + (sent.tag % 17);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (sent.header !== undefined) headers['x-switchyard-jurisdiction'] = sent.header;
  let path: string;
  let body: unknown;
  if (sent.dialect === 'openai') {
    headers.authorization = `Bearer ${sent.tenant.key}`;
    path = '/v1/chat/completions';
    body = { model: sent.route, messages: [{ role: 'user', content }], max_tokens: maxTokens, ...(sent.stream ? { stream: true } : {}) };
  } else {
    headers['x-api-key'] = sent.tenant.key;
    headers['anthropic-version'] = '2023-06-01';
    path = '/v1/messages';
    body = { model: sent.route, max_tokens: maxTokens, messages: [{ role: 'user', content }], ...(sent.stream ? { stream: true } : {}), ...(sent.geography === undefined ? {} : { inference_geo: sent.geography }) };
  }
  let response: Response;
  try {
    response = await fetch(`${gatewayUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch {
    sent.status = -1;
    sent.ending = 'reset';
    return;
  }
  sent.status = response.status;
  if (response.status === 200 && sent.stream) {
    sent.ending = (await readSse(response, sent.dialect)).ending;
    return;
  }
  sent.ending = 'json';
  const json = (await response.json().catch(() => undefined)) as { type?: string; error?: { message?: string; type?: string } } | undefined;
  if (response.status !== 200) {
    sent.errorMessage = json?.error?.message;
    sent.errorShapeOk = typeof json?.error?.message === 'string' && (sent.dialect === 'openai' || json.type === 'error');
  }
}

/** One random fault (or a repair) on one replica, from the seeded schedule. */
async function applyRandomFault(replicas: readonly Replica[], random: () => number, log: string[]): Promise<void> {
  const replica = replicas[Math.floor(random() * replicas.length)];
  if (replica === undefined) return;
  const roll = random();
  if (replica.emulator === undefined) {
    // A dead replica comes back on restart (a new process on a new port behind the same address).
    if (roll < 0.6) {
      const emulator = await startTestEmulator({ servedModelName: replica.model, seed: 7 });
      replica.emulator = emulator;
      replica.proxy.setTarget(emulator.url);
      log.push(`${replica.id}: restart`);
    }
    return;
  }
  let fault: FaultsUpdate;
  if (roll < 0.15) {
    const dying = replica.emulator;
    replica.emulator = undefined;
    await dying.close();
    log.push(`${replica.id}: kill`);
    return;
  } else if (roll < 0.3) fault = { refuse: true };
  else if (roll < 0.42) fault = { errorRate: 0.3 + 0.7 * random(), errorStatus: [500, 502, 503, 429][Math.floor(random() * 4)] ?? 500 };
  else if (roll < 0.52) fault = { hangMs: -1 };
  else if (roll < 0.62) fault = { cutAfterTokens: 1 + Math.floor(random() * 6) };
  else if (roll < 0.68) fault = { addedLatencyMs: 30_000 };
  else fault = { errorRate: 0, refuse: false, hangMs: 0, cutAfterTokens: null, addedLatencyMs: 0 };
  replica.emulator.setFaults(fault);
  log.push(`${replica.id}: ${JSON.stringify(fault)}`);
}

async function runSchedule(seed: number): Promise<void> {
  const replicas = await startFleet();
  const gateway = createGateway({ config: fleetConfig(replicas), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());

  const requestRandom = seededRandom(seed * 7919 + 1);
  const faultRandom = seededRandom(seed * 104_729 + 2);
  // A stream of its own, so the requests and faults drawn stay those of the schedules before it.
  const geographyRandom = seededRandom(seed * 31 + 3);
  const total = 300;
  const requestsPerFault = 8;
  const sent: Sent[] = Array.from({ length: total }, (_, tag) => {
    const tenant = senders[Math.floor(requestRandom() * senders.length)] as Tenant;
    const header = headerChoices[Math.floor(requestRandom() * headerChoices.length)];
    const route = requestRandom() < 0.8 ? 'frontier' : 'frontier-uk';
    const dialect = requestRandom() < 0.5 ? 'openai' : 'anthropic';
    const geography = dialect === 'anthropic' ? geographyChoices[Math.floor(geographyRandom() * geographyChoices.length)] : undefined;
    const allowed = allowedSet(tenant, header, geography);
    return {
      tag,
      tenant,
      header,
      geography,
      route,
      dialect,
      stream: requestRandom() < 0.5,
      allowed,
      servable: (routes[route] ?? []).some((j) => allowed.has(j)),
      status: 0,
      ending: 'json',
      errorMessage: undefined,
      errorShapeOk: false,
    };
  });

  // The fault schedule runs alongside the load: one step per few requests sent, so a slower machine sees
  // the same schedule per request rather than more faults.
  const log: string[] = [];
  let loadDone = false;
  let next = 0;
  const chaos = (async () => {
    for (let step = 1; !loadDone; step += 1) {
      await waitFor(() => loadDone || next >= step * requestsPerFault, 60_000, 2);
      if (!loadDone) await applyRandomFault(replicas, faultRandom, log);
    }
  })();
  const worker = async (): Promise<void> => {
    while (next < sent.length) {
      const item = sent[next++];
      if (item !== undefined) await send(url, item);
    }
  };
  try {
    await Promise.all(Array.from({ length: 12 }, () => worker()));
  } finally {
    loadDone = true;
    await chaos;
  }

  // 1. No request ever reached an endpoint outside its allowed set, on any attempt, retry, hedge or resume.
  const byTag = new Map(sent.map((s) => [s.tag, s]));
  const violations: string[] = [];
  let arrivals = 0;
  for (const replica of replicas) {
    for (const arrival of replica.proxy.arrivals) {
      arrivals += 1;
      const tag = /\[req:(\d+)\]/.exec(arrival.body)?.[1];
      const request = tag === undefined ? undefined : byTag.get(Number(tag));
      const model = (JSON.parse(arrival.body) as { model?: string }).model;
      if (request === undefined) violations.push(`${replica.id}: untagged request ${arrival.body.slice(0, 120)}`);
      else if (!request.allowed.has(replica.jurisdiction)) violations.push(`${replica.id} (${replica.jurisdiction}) got req ${request.tag} of ${request.tenant.id} with header ${JSON.stringify(request.header)} and inference_geo ${JSON.stringify(request.geography)}, allowed ${[...request.allowed].join(',') || 'nothing'}`);
      if (model !== replica.model) violations.push(`${replica.id} got model ${String(model)}`);
    }
  }
  expect(violations, `seed ${seed}; faults: ${log.join('; ')}`).toEqual([]);

  // 2. Requests whose allowed set has no endpoint get 503 with a JSON error naming jurisdiction, in their dialect.
  const unservable = sent.filter((s) => !s.servable);
  const wrongRefusals = unservable.filter((s) => s.status !== 503 || !s.errorShapeOk || !/jurisdiction/i.test(s.errorMessage ?? ''));
  expect(wrongRefusals.map((s) => `req ${s.tag} ${s.tenant.id} ${JSON.stringify(s.header)} ${JSON.stringify(s.geography)} -> ${s.status} ${s.errorMessage ?? ''}`)).toEqual([]);

  // 3. The rest were served or failed cleanly: no stream ever ends looking complete when it is not.
  const servable = sent.filter((s) => s.servable);
  const unclean = servable.filter((s) => s.ending === 'truncated' || s.ending === 'reset' || ![200, 429, 502, 503, 504].includes(s.status));
  expect(unclean.map((s) => `req ${s.tag} -> ${s.status} ${s.ending}`)).toEqual([]);

  // The run was not vacuous: both kinds of request happened, many were served, and the faults bit (failovers).
  // Some schedules take most of the fleet down for a while, so "many" is a floor, not a majority.
  expect(unservable.length).toBeGreaterThan(20);
  expect(servable.filter((s) => s.status === 200).length).toBeGreaterThan(20);
  expect(arrivals).toBeGreaterThan(40);
  const narrowedByGeography = sent.filter((s) => s.geography !== undefined && s.geography.toLowerCase() !== 'global');
  // Served and refused both happened with the geography narrowing (how many served depends on the faults).
  expect(narrowedByGeography.some((s) => s.status === 200)).toBe(true);
  expect(narrowedByGeography.some((s) => !s.servable)).toBe(true);
  for (const j of jurisdictions) expect(replicas.filter((r) => r.jurisdiction === j).some((r) => r.proxy.arrivals.length > 0)).toBe(true);
  const metrics = await scrape(url);
  expect(metricValue(metrics, 'switchyard_upstream_errors_total') ?? 0).toBeGreaterThan(0);
  expect(metricValue(metrics, 'switchyard_failovers_total') ?? 0).toBeGreaterThan(0);
  expect(metricValue(metrics, 'switchyard_jurisdiction_rejections_total') ?? 0).toBeGreaterThan(0);
}

describe('jurisdiction under random fault schedules', () => {
  it.each([1, 2, 3])('seed %i: no request reaches an endpoint outside tenant set ∩ header set; unservable requests get a 503 naming jurisdiction', async (seed) => {
    await runSchedule(seed);
  });
});
