import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import { mayRunIn, type Fleet, type Pool, type Service } from '../domain/fleet.js';
import type { DialectName } from '../protocol/dialect.js';
import { maxIdChars } from '../domain/id-pattern.js';
import { knownJurisdictions } from '../domain/jurisdictions.js';
import { formatProblem } from '../domain/spec-problem.js';
import { EmulatorError, startEmulator, type RunningEmulator } from '../emulator/index.js';
import { defaultRoutePolicy, longestTimeoutMs, parseGatewayConfig, resilienceConfigSchema, type EndpointConfig, type GatewayConfig, type RouteConfig, type RoutingPolicyName } from '../gateway/gateway-config.js';
import { createGateway, type Gateway } from '../gateway/gateway-server.js';
import { hashApiKey } from '../gateway/tenant-auth.js';
import { planFleet, type PlanSettings } from '../planner/plan-fleet.js';
import { marginalPricePerChipHour } from '../planner/plan-options.js';
import type { InferenceOptionReport, Plan } from '../planner/plan-report.js';
import { curlLines, type CurlLines } from './curl-lines.js';
import { openFilesWarning, readOpenFiles, type OpenFiles } from './open-files.js';
import { fleetTimeouts, type FleetTimeouts, type GatewayTimeouts, type ReplicaTiming } from './fleet-timeouts.js';

/**
 * `switchyard up`: plan a fleet, start emulated replicas for its inference
 * allocations (scaled down to a few per allocation), and a gateway in front of
 * them. Everything runs in this process; the handle closes it all.
 */

export interface StartFleetOptions {
  /** Gateway port; 0 picks a free one. Default 8080. */
  readonly port?: number;
  /** Address the gateway listens on. Default 127.0.0.1 (emulators always listen on loopback). */
  readonly host?: string;
  /** Most emulated replicas started for one (service, pool) allocation. Default 2. */
  readonly replicasPerPool?: number;
  /** Emulator speed-up over real time. Default 1. */
  readonly speed?: number;
  /** Seed of the first emulator; each further emulator gets the next one. Default 0. */
  readonly seed?: number;
  /** Port of the first emulator; each further one listens on the next (for a firewall or a proxy that names them). Default: ports the system picks. */
  readonly emulatorPorts?: number;
  /** A plan already made for this fleet; planned with `planSettings` otherwise. */
  readonly plan?: Plan;
  readonly planSettings?: PlanSettings;
  /** Asked once the plan is made: true stops before anything starts (Ctrl-C while planning). */
  readonly stopRequested?: () => boolean;
  /** The demo tenant's key; a fresh random one otherwise. */
  readonly apiKey?: string;
  /** The gateway's JSON request logs; default none. */
  readonly logger?: Logger | false;
  /** Where emulators report errors (never prompt or completion text); default nowhere. */
  readonly log?: (line: string) => void;
  /** The process's open files and limit, read once all is started; the system's (readOpenFiles) by default. */
  readonly openFiles?: () => OpenFiles | undefined;
}

/** How far one planned allocation was scaled down. */
export interface UpScaling {
  readonly service: string;
  readonly pool: string;
  readonly chip: string;
  readonly plannedReplicas: number;
  readonly chipsPerReplica: number;
  readonly emulators: number;
}

/** One emulated replica behind the gateway. */
export interface UpEndpoint {
  readonly id: string;
  readonly service: string;
  readonly pool: string;
  readonly provider: string;
  readonly region: string;
  readonly jurisdiction: string;
  readonly chip: string;
  readonly dialect: DialectName;
  /** The emulator's own base URL (loopback). */
  readonly url: string;
  /** Model name the emulator serves: `${service}@${pool}`. */
  readonly model: string;
  readonly seed: number;
  readonly capacity: number;
  readonly contextWindow: number;
  readonly marginalCostPerMillionTokens: number;
}

export interface UpRoute {
  /** The public model name: the service id. */
  readonly model: string;
  readonly jurisdictions: readonly string[];
  readonly endpoints: readonly string[];
  readonly policy: readonly RoutingPolicyName[];
}

export interface RunningFleet {
  /** The gateway's base URL. */
  readonly url: string;
  /** The demo tenant's raw key (the gateway holds only its SHA-256). */
  readonly apiKey: string;
  readonly plan: Plan;
  readonly config: GatewayConfig;
  readonly routes: readonly UpRoute[];
  readonly endpoints: readonly UpEndpoint[];
  readonly scaling: readonly UpScaling[];
  /** Things a user should know: an infeasible plan, services left without replicas. */
  readonly warnings: readonly string[];
  /** Ready-to-paste curl lines for the first route, one per inbound dialect. */
  readonly curl: CurlLines;
  /**
   * Closes the gateway (its requests in flight get the config's grace period), then every emulator.
   * Safe to call more than once; a later call with `graceMs` 0 ends the gateway's grace at once.
   */
  close(options?: { readonly graceMs?: 0 }): Promise<void>;
}

/** The fleet cannot be brought up (nothing to serve); the message says why. */
/** Stopped on request after planning, before any emulator or the gateway started. */
export class StartFleetStopped extends Error {
  constructor() {
    super('stopped before starting anything');
    this.name = 'StartFleetStopped';
  }
}

export class StartFleetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartFleetError';
  }
}

/** Ports asked for that cannot all be had (emulators past 65535, the gateway's among the emulators'): said before anything starts. */
export class UpPortsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpPortsError';
  }
}

const demoTenantId = 'demo';

interface ReplicaSpec {
  readonly service: Service;
  readonly pool: Pool;
  readonly option: InferenceOptionReport | undefined;
  readonly id: string;
  readonly dialect: DialectName;
  readonly seed: number;
}

/**
 * The gateway endpoint id of a pool's k-th replica, `<pool>-<k>`, within the 128 characters an id
 * may have: a pool id too long for its suffix keeps its start and a hash of the whole, so ids stay
 * distinct (R47: a valid 127-character pool id made `up` fail with an internal error).
 */
export function replicaEndpointId(poolId: string, k: number, salt = 0): string {
  const plain = `${poolId}-${String(k)}`;
  if (plain.length <= maxIdChars && salt === 0) return plain;
  const hashed = salt === 0 ? poolId : `${poolId}\u0000${String(salt)}`;
  const suffix = `.${createHash('sha256').update(hashed).digest('hex').slice(0, 8)}-${String(k)}`;
  return `${poolId.slice(0, maxIdChars - suffix.length)}${suffix}`;
}

/**
 * replicaEndpointId, made another way (salted) while it is one `taken` holds, and then taken: a pool
 * named as another's hashed id (R48: crafted, `<start>.<8 hex>`) would share a replica's id.
 */
export function distinctReplicaEndpointId(poolId: string, k: number, taken: Set<string>): string {
  let id = replicaEndpointId(poolId, k);
  for (let salt = 1; taken.has(id); salt += 1) id = replicaEndpointId(poolId, k, salt);
  taken.add(id);
  return id;
}

/** Plans (unless given a plan), starts the emulators and the gateway, and returns a handle that closes them. */
export async function startFleet(fleet: Fleet, options: StartFleetOptions = {}): Promise<RunningFleet> {
  const replicasPerPool = options.replicasPerPool ?? 2;
  if (!Number.isInteger(replicasPerPool) || replicasPerPool < 1) throw new RangeError(`replicasPerPool must be a positive whole number, got ${replicasPerPool}`);
  const first = options.emulatorPorts;
  if (first !== undefined && (!Number.isInteger(first) || first < 1 || first > 65_535)) throw new RangeError(`emulatorPorts must be a port from 1 to 65535, got ${first}`);
  const speed = options.speed ?? 1;
  const baseSeed = options.seed ?? 0;
  const plan = options.plan ?? (await planFleet(fleet, options.planSettings));
  // Let a signal that arrived while the solver held the thread be handled before anything starts.
  await new Promise((resolve) => setImmediate(resolve));
  if (options.stopRequested?.() === true) throw new StartFleetStopped();

  const warnings: string[] = [];
  if (plan.status === 'infeasible' || plan.status === 'timed-out') warnings.push(`the plan is ${plan.status.toUpperCase()} (${plan.problems.join('; ')}); starting what it placed`);

  const services = new Map(fleet.services.map((service) => [service.id, service]));
  const pools = new Map(fleet.pools.map((pool) => [pool.id, pool]));
  const replicas: ReplicaSpec[] = [];
  const scaling: UpScaling[] = [];
  const perPool = new Map<string, number>();
  const replicaIds = new Set<string>();
  for (const allocation of plan.allocations) {
    if (allocation.kind !== 'inference') continue;
    const service = services.get(allocation.workload);
    const pool = pools.get(allocation.pool);
    const planned = allocation.replicas ?? 0;
    if (service === undefined || pool === undefined || planned < 1) continue;
    // Residency is never relaxed, not even for a demo.
    if (!mayRunIn(service, pool.jurisdiction)) continue;
    const option = plan.options.find((o): o is InferenceOptionReport => 'tokensPerSecondPerReplica' in o && o.workload === service.id && o.pool === pool.id);
    const count = Math.min(planned, replicasPerPool);
    scaling.push({ service: service.id, pool: pool.id, chip: pool.chip.id, plannedReplicas: planned, chipsPerReplica: allocation.chipsPerReplica ?? option?.chipsPerReplica ?? 0, emulators: count });
    for (let i = 0; i < count; i += 1) {
      const k = perPool.get(pool.id) ?? 0;
      perPool.set(pool.id, k + 1);
      // Upstream dialects alternate over each service's replicas in each jurisdiction, Anthropic's
      // first: a caller held to one jurisdiction (its tenant, or its header) then has an
      // Anthropic-dialect endpoint (only those give extended thinking and count tokens), and both
      // dialects (only OpenAI's give JSON mode) once the jurisdiction has two replicas.
      const ordinal = replicas.length;
      const ofServiceThere = replicas.filter((replica) => replica.service === service && replica.pool.jurisdiction === pool.jurisdiction).length;
      replicas.push({ service, pool, option, id: distinctReplicaEndpointId(pool.id, k, replicaIds), dialect: ofServiceThere % 2 === 0 ? 'anthropic' : 'openai', seed: nthSeed(baseSeed, ordinal) });
    }
  }
  for (const service of fleet.services) {
    if (!replicas.some((r) => r.service === service)) warnings.push(`service '${service.id}' has no planned replicas: no route for it`);
  }
  if (replicas.length === 0) {
    // Why, as `switchyard plan` says it: the user's next step is to fix the spec.
    const why = fleet.services.length === 0 ? ' (the fleet has no services)' : plan.problems.length > 0 ? `: ${plan.problems.join('; ')}` : '';
    throw new StartFleetError(`the plan places no inference replica${why}; nothing to start`);
  }

  if (first !== undefined && first + replicas.length - 1 > 65_535) {
    throw new UpPortsError(`${String(replicas.length)} emulated replicas from port ${String(first)} would run past 65535; choose a first port of at most ${String(65_536 - replicas.length)} with --emulator-ports`);
  }
  const gatewayPort = options.port ?? 8080;
  if (first !== undefined && gatewayPort >= first && gatewayPort < first + replicas.length) {
    throw new UpPortsError(`the gateway's port ${String(gatewayPort)} is among the emulated replicas' ports (${String(first)} to ${String(first + replicas.length - 1)}, from --emulator-ports); give the gateway another with --port, or the replicas another first port`);
  }
  const host = options.host ?? '127.0.0.1';
  // The gateway's port is held while the emulators take ports the system picks, one of which could
  // otherwise be it (E44: a free --port said to be in use); a port in use fails here, before any starts.
  const releasePort = await holdPort(gatewayPort, host);
  let emulators: RunningEmulator[];
  try {
    emulators = await startAll(replicas, fleet, speed, options.log ?? (() => undefined), first);
  } finally {
    await releasePort();
  }
  // A signal that came while the emulators started: stop before the gateway and the banner.
  await new Promise((resolve) => setImmediate(resolve));
  if (options.stopRequested?.() === true) {
    await Promise.allSettled(emulators.map((emulator) => emulator.close()));
    throw new StartFleetStopped();
  }
  let gateway: Gateway | undefined;
  let gatewayGraceMs = 0;
  let closed: Promise<void> | undefined;
  const close = (options: { readonly graceMs?: 0 } = {}): Promise<void> => {
    if (closed !== undefined && options.graceMs === 0) void gateway?.close({ graceMs: 0 });
    closed ??= (async () => {
      // The emulators keep serving while the gateway lets its requests in flight finish.
      if (gateway !== undefined) await gateway.close({ graceMs: gatewayGraceMs }).catch(() => undefined);
      await Promise.allSettled(emulators.map((emulator) => emulator.close()));
    })();
    return closed;
  };

  try {
    const endpoints = replicas.map((replica, index): UpEndpoint => {
      const emulator = emulators[index];
      if (emulator === undefined) throw new Error('unreachable: one emulator per replica');
      return endpointFor(replica, emulator);
    });
    // Once per service and pool: a window its replicas' KV cache cuts (they serve the rest, and the gateway routes by it).
    const cut = new Map<string, string>();
    replicas.forEach((replica, index) => {
      const emulator = emulators[index];
      if (emulator === undefined || emulator.contextWindow >= emulator.modelContextWindow) return;
      cut.set(`${replica.service.id}@${replica.pool.id}`, `service '${replica.service.id}' on pool '${replica.pool.id}' serves a window of ${emulator.contextWindow.toLocaleString('en-US')} tokens, not its model's ${emulator.modelContextWindow.toLocaleString('en-US')}: a replica's KV cache holds no more (as vLLM, which will not start with a longer max_model_len); longer prompts go to other endpoints or are refused`);
    });
    warnings.push(...cut.values());
    const routes: UpRoute[] = fleet.services.flatMap((service) => {
      const ids = endpoints.filter((e) => e.service === service.id && mayRunIn(service, e.jurisdiction)).map((e) => e.id);
      return ids.length === 0 ? [] : [{ model: service.id, jurisdictions: service.jurisdictions, endpoints: ids, policy: defaultRoutePolicy }];
    });
    const apiKey = options.apiKey ?? `sy-demo-${randomBytes(24).toString('base64url')}`;
    const timingOf = (id: string): ReplicaTiming => {
      const index = endpoints.findIndex((endpoint) => endpoint.id === id);
      const emulator = emulators[index];
      const endpoint = endpoints[index];
      if (emulator === undefined || endpoint === undefined) throw new Error('unreachable: one emulator per endpoint');
      const prefill = emulator.prefillTime(endpoint.contextWindow);
      return { windowFirstTokenMs: prefill.firstTokenMs, windowPrefillMs: prefill.replicaMs, tpotMs: emulator.tpotMs };
    };
    const timeouts = fleetTimeouts(
      { ttftTimeoutMs: slowed(gatewayDefaults.ttftTimeoutMs, speed), tokenIdleTimeoutMs: slowed(gatewayDefaults.tokenIdleTimeoutMs, speed), deadlineMs: slowed(gatewayDefaults.deadlineMs, speed) },
      routes.map((route) => ({ model: route.model, outputTokens: services.get(route.model)?.outputTokens ?? 0, replicas: route.endpoints.map(timingOf) })),
      longestTimeoutMs,
      gatewayDefaults.circuitBreaker.windowMs,
    );
    const config = buildGatewayConfig(fleet, endpoints, routes, apiKey, gatewayPort, host, timeouts);
    gatewayGraceMs = config.listen.shutdownGraceMs;
    gateway = createGateway({ config, logger: options.logger ?? false, processMetrics: true });
    const url = await gateway.listen(config.listen.port, config.listen.host);
    const files = openFilesWarning((options.openFiles ?? readOpenFiles)(), replicasPerPool);
    if (files !== undefined) warnings.push(files);
    const first = routes[0];
    if (first === undefined) throw new Error('unreachable: at least one route');
    return { url, apiKey, plan, config, routes, endpoints, scaling, warnings, curl: curlLines(url, apiKey, first.model), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Listens on `port` (not 0, which any free one serves) until the returned function is called. */
async function holdPort(port: number, host: string): Promise<() => Promise<void>> {
  if (port === 0) return () => Promise.resolve();
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

async function startAll(replicas: readonly ReplicaSpec[], fleet: Fleet, speed: number, log: (line: string) => void, firstPort: number | undefined): Promise<RunningEmulator[]> {
  const started = await Promise.allSettled(
    replicas.map((replica, index) =>
      startEmulator({
        model: replica.service.model,
        chip: replica.pool.chip,
        port: firstPort === undefined ? 0 : firstPort + index,
        host: '127.0.0.1',
        seed: replica.seed,
        speed,
        inputTokens: replica.service.inputTokens,
        outputTokens: replica.service.outputTokens,
        tpotMs: replica.service.tpotMs,
        ttftMs: replica.service.ttftMs,
        precision: replica.service.precision,
        measuredProfiles: fleet.measuredProfiles,
        servedModelName: servedModelName(replica.service.id, replica.pool.id),
        log,
        logName: replica.id,
      }),
    ),
  );
  const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.allSettled(running.map((emulator) => emulator.close()));
    // The emulator's own advice (its --port flag) is not up's.
    const reason: unknown = failed.reason;
    if (firstPort !== undefined && reason instanceof EmulatorError && (reason.code === 'EADDRINUSE' || reason.code === 'EACCES')) {
      const port = firstPort + started.indexOf(failed);
      const why = reason.code === 'EADDRINUSE' ? 'is in use' : 'needs privileges this process lacks (ports below 1024)';
      throw new EmulatorError(`port ${String(port)} ${why} (--emulator-ports ${String(firstPort)} gives ${replicas.length === 1 ? `the one emulated replica port ${String(firstPort)}` : `the ${String(replicas.length)} emulated replicas ports ${String(firstPort)} to ${String(firstPort + replicas.length - 1)}`}); choose another first port, or leave the flag out and free ports are picked`, reason.code);
    }
    throw reason;
  }
  return running;
}

/**
 * The seed of the `ordinal`-th emulator: the next after the base, wrapping to 0 past 2^53 - 1 so it
 * stays a whole number (a sum past 2^53 would lose precision and give two emulators one seed).
 */
export function nthSeed(base: number, ordinal: number): number {
  const room = Number.MAX_SAFE_INTEGER - base;
  return ordinal <= room ? base + ordinal : ordinal - room - 1;
}

/** The model name an emulated replica of `service` on `pool` serves. */
export function servedModelName(service: string, pool: string): string {
  return `${service}@${pool}`;
}

function endpointFor(replica: ReplicaSpec, emulator: RunningEmulator): UpEndpoint {
  const { service, pool, option } = replica;
  const chipsPerReplica = option?.chipsPerReplica ?? emulator.profile.chipsPerReplica;
  const tokensPerHour = (option?.tokensPerSecondPerReplica ?? emulator.profile.outputTokensPerSecond) * 3600;
  // A replica costs its chips' marginal price (0 on committed pools), spread over the output tokens it serves.
  const replicaHour = option?.marginalCostPerReplicaHour ?? marginalPricePerChipHour(pool) * chipsPerReplica;
  const perMillion = tokensPerHour > 0 ? (replicaHour / tokensPerHour) * 1e6 : 0;
  return {
    id: replica.id,
    service: service.id,
    pool: pool.id,
    provider: pool.provider,
    region: pool.region,
    jurisdiction: pool.jurisdiction,
    chip: pool.chip.id,
    dialect: replica.dialect,
    url: emulator.url,
    model: emulator.model,
    seed: replica.seed,
    capacity: Math.max(1, emulator.stats().capacity),
    contextWindow: emulator.contextWindow,
    marginalCostPerMillionTokens: Math.min(1e6, Number(perMillion.toPrecision(6))),
  };
}

function buildGatewayConfig(fleet: Fleet, endpoints: readonly UpEndpoint[], routes: readonly UpRoute[], apiKey: string, port: number, host: string, timeouts: FleetTimeouts): GatewayConfig {
  const used = new Set([...fleet.pools.map((p) => p.jurisdiction), ...fleet.services.flatMap((s) => s.jurisdictions)]);
  const extra = [...used].filter((j) => !knownJurisdictions.includes(j)).sort();
  const tenantJurisdictions = [...new Set(fleet.services.flatMap((s) => s.jurisdictions))].sort();
  const timeoutsOwn = sameTimeouts(timeouts.gateway, gatewayDefaults) ? {} : timeouts.gateway;
  const windowOwn = timeouts.circuitWindowMs === gatewayDefaults.circuitBreaker.windowMs ? {} : { circuitBreaker: { windowMs: timeouts.circuitWindowMs } };
  const resilience = Object.keys(timeoutsOwn).length + Object.keys(windowOwn).length === 0 ? undefined : { ...timeoutsOwn, ...windowOwn };
  const raw = {
    version: 1,
    ...(extra.length === 0 ? {} : { jurisdictions: extra }),
    listen: { port, host },
    endpoints: endpoints.map(
      (e): Omit<EndpointConfig, 'longContext' | 'prefill' | 'autoToolChoice' | 'structuredOutputs' | 'images' | 'imageUrls' | 'thinking' | 'tokenCounting' | 'weight' | 'apiKeyEnv'> => ({
        id: e.id,
        url: e.url,
        dialect: e.dialect,
        model: e.model,
        provider: e.provider,
        region: e.region,
        jurisdiction: e.jurisdiction,
        chip: e.chip,
        pool: e.pool,
        contextWindow: e.contextWindow,
        marginalCostPerMillionTokens: e.marginalCostPerMillionTokens,
        capacity: e.capacity,
      }),
    ),
    routes: routes.map((r): RouteConfig => {
      const own = timeouts.routes.get(r.model);
      return { model: r.model, endpoints: [...r.endpoints], policy: [...r.policy], ...(own === undefined ? {} : { resilience: { ttftTimeoutMs: own.ttftTimeoutMs, deadlineMs: own.deadlineMs } }) };
    }),
    tenants: [{ id: demoTenantId, apiKeySha256: hashApiKey(apiKey), jurisdictions: tenantJurisdictions, requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000 }],
    // The gateway's timeouts (the defaults' 10 s to a first token or between tokens, 120 s in all)
    // stretched for emulators slower than real time, at most a day, and raised where the replicas'
    // prefills need it (see fleetTimeouts), or their answers would time out.
    // The circuit breaker's window covers those timeouts (see FleetTimeouts.circuitWindowMs).
    ...(resilience === undefined ? {} : { resilience }),
  };
  // Through the same parser as a config file (JSON is YAML): the schema, its defaults and the cross-checks.
  const parsed = parseGatewayConfig(JSON.stringify(raw), '<switchyard up>');
  if (!parsed.ok) throw new Error(`generated gateway config is invalid: ${parsed.problems.map(formatProblem).join('; ')}`);
  return parsed.value;
}

/** The gateway's own timeouts, which `up` stretches for slow emulators. */
const gatewayDefaults = resilienceConfigSchema.parse({});

function sameTimeouts(a: GatewayTimeouts, b: GatewayTimeouts): boolean {
  return a.ttftTimeoutMs === b.ttftTimeoutMs && a.tokenIdleTimeoutMs === b.tokenIdleTimeoutMs && a.deadlineMs === b.deadlineMs;
}

/** A real-time duration at an emulator speed below 1 (at 1 and above, as it is), at most the config's ceiling. */
function slowed(ms: number, speed: number): number {
  return speed >= 1 ? ms : Math.min(longestTimeoutMs, Math.round(ms / speed));
}

