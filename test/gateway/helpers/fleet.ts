import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator, type EmulatorOptions, type FaultsUpdate, type RunningEmulator } from '../../../src/emulator/index.js';
import { parseGatewayConfig, type GatewayConfig } from '../../../src/gateway/gateway-config.js';
import { createGateway, type Gateway } from '../../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../../src/gateway/tenant-auth.js';
import { afterEach } from 'vitest';

/** Shared test plumbing for the gateway fault tests: emulators, a counting proxy, SSE and metrics readers. */

/** A YAML gateway config, parsed, or an exception listing every problem. */
export function gatewayConfig(yaml: string): GatewayConfig {
  const parsed = parseGatewayConfig(yaml, 'test-gateway.yaml');
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return parsed.value;
}

/**
 * The YAML of a gateway config with one OpenAI-dialect endpoint `up` (us, a 131,072-token window)
 * serving model `m`, for the tenants given (YAML list items), with `extra` top-level YAML after them.
 */
export function oneEndpointYaml(upstreamUrl: string, tenants: string, extra = ''): string {
  return `
version: 1
endpoints:
  - { id: up, url: "${upstreamUrl}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: m, endpoints: [up], policy: [cost] }
tenants:
${tenants}
${extra}
`;
}

/**
 * A gateway config with one endpoint `up` (OpenAI-dialect unless told) serving model `m` to one
 * tenant `t` (in us) with key `apiKey`; `limits` sets the endpoint's window and the tenant's limits.
 */
export function singleEndpointConfig(upstreamUrl: string, apiKey: string, resilience = '', dialect: 'openai' | 'anthropic' = 'openai', limits: { readonly contextWindow?: number; readonly requestsPerMinute?: number; readonly tokensPerMinute?: number } = {}): GatewayConfig {
  return gatewayConfig(`
version: 1
endpoints:
  - { id: up, url: "${upstreamUrl}", dialect: ${dialect}, model: m, provider: p, region: r, jurisdiction: us, contextWindow: ${String(limits.contextWindow ?? 100_000_000)}, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: m, endpoints: [up], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: ${String(limits.requestsPerMinute ?? 1000)}, tokensPerMinute: ${String(limits.tokensPerMinute ?? 100_000_000)} }
${resilience === '' ? '' : `resilience: ${resilience}`}
`);
}

/**
 * A gateway config over upstreams, cheapest first (e0 free, e1 at 1, ...), on route `m`, for one tenant
 * `t` (us) with key `apiKey`. `endpointExtra` goes into every endpoint's flow map (', prefill: false');
 * `policy` is the route's ('[cost]' by default).
 */
export function cheapestFirstConfig(endpoints: readonly (readonly [url: string, dialect: 'openai' | 'anthropic'])[], apiKey: string, resilience: string, endpointExtra = '', policy = '[cost]'): GatewayConfig {
  const lines = endpoints.map(([url, dialect], index) => `  - { id: e${index}, url: "${url}", dialect: ${dialect}, model: m, provider: p${index}, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: ${index}, capacity: 8${endpointExtra} }`);
  const ids = endpoints.map((_, index) => `e${index}`).join(', ');
  return gatewayConfig(['version: 1', 'endpoints:', ...lines, 'routes:', `  - { model: m, endpoints: [${ids}], policy: ${policy} }`, 'tenants:', `  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }`, `resilience: ${resilience}`].join('\n'));
}

/** One emulated replica, and a gateway that reaches it as two endpoints, one per upstream dialect. */
export interface BothDialects {
  readonly replica: RunningEmulator;
  readonly gateway: Gateway;
  /** The gateway's URL: route `anthropic-upstream` reaches the replica in Anthropic's dialect, `openai-upstream` in OpenAI's. */
  readonly url: string;
  close(): Promise<void>;
}

/** A replica serving `servedModelName` behind a gateway with a route per upstream dialect, for one tenant (us) with key `apiKey`. */
export async function startBothDialects(servedModelName: string, apiKey: string): Promise<BothDialects> {
  const replica = await startTestEmulator({ servedModelName });
  const gateway = createGateway({
    config: gatewayConfig(`
version: 1
endpoints:
  - { id: via-anthropic, url: "${replica.url}", dialect: anthropic, model: ${servedModelName}, provider: p1, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: via-openai, url: "${replica.url}", dialect: openai, model: ${servedModelName}, provider: p2, region: r1, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: anthropic-upstream, endpoints: [via-anthropic], policy: [cost] }
  - { model: openai-upstream, endpoints: [via-openai], policy: [cost] }
tenants:
  - { id: t1, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
`),
    logger: false,
  });
  const url = await gateway.listen(0, '127.0.0.1');
  return {
    replica,
    gateway,
    url,
    close: async () => {
      await gateway.close();
      await replica.close();
    },
  };
}

/** A small, fast emulated replica: Llama 3.1 8B on H100, quiet logs. */
export function startTestEmulator(options: Partial<EmulatorOptions> & { readonly servedModelName: string; readonly faults?: FaultsUpdate }): Promise<RunningEmulator> {
  return startEmulator({ model: 'llama-3.1-8b', chip: 'h100', speed: 200, capacity: 8, log: () => undefined, ...options });
}

/** One chat request as it arrived at a proxy. */
export interface Arrival {
  readonly path: string;
  readonly body: string;
  readonly at: number;
}

/**
 * A loopback HTTP proxy in front of one upstream that records every request it
 * receives (path and body) before forwarding it. Breaks are passed through: an
 * unreachable upstream or a response cut mid-body destroys the client's socket,
 * and a client that goes away aborts the upstream request.
 */
export interface CountingProxy {
  readonly url: string;
  readonly arrivals: Arrival[];
  /** Points the proxy at another upstream (an emulator restarted on a new port). */
  setTarget(url: string): void;
  /** Called for every upstream answer status, before it is forwarded. */
  onStatus: ((status: number) => void) | undefined;
  close(): Promise<void>;
}

const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  let upstreamUrl = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const arrivals: Arrival[] = [];
  const proxy: { onStatus: ((status: number) => void) | undefined } = { onStatus: undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      arrivals.push({ path, body: body.toString('utf8'), at: Date.now() });
      const upstream = httpRequest(
        { host: upstreamUrl.hostname, port: upstreamUrl.port, path, method: req.method ?? 'POST', headers: forwardable(req.headers), agent },
        (answer) => {
          proxy.onStatus?.(answer.statusCode ?? 0);
          res.writeHead(answer.statusCode ?? 502, forwardable(answer.headers));
          res.flushHeaders();
          answer.on('data', (chunk: Buffer) => res.write(chunk));
          answer.on('end', () => res.end());
          answer.on('close', () => {
            if (!answer.complete) res.destroy();
          });
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    arrivals,
    setTarget: (next) => {
      upstreamUrl = new URL(next);
    },
    get onStatus() {
      return proxy.onStatus;
    },
    set onStatus(handler) {
      proxy.onStatus = handler;
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

/** How a streamed answer ended, as a client reading the raw frames sees it. */
export type StreamEnding =
  /** The dialect's terminal frame after a finish: OpenAI finish_reason then [DONE]; Anthropic message_stop. */
  | 'complete'
  /** An explicit error frame and no terminal frame. */
  | 'error-event'
  /** The body ended with neither: what a broken gateway would pass off as an answer. */
  | 'truncated'
  /** The connection broke while reading. */
  | 'reset';

export interface ReadStream {
  readonly status: number;
  readonly ending: StreamEnding;
  readonly text: string;
  readonly raw: string;
  readonly finishReason: string | undefined;
}

/** Reads a whole SSE response from the gateway and classifies its ending. */
export async function readSse(response: Response, dialect: 'openai' | 'anthropic'): Promise<ReadStream> {
  // Read chunk by chunk, so what arrived before a dropped connection is kept.
  let raw = '';
  let reset = false;
  const decoder = new TextDecoder();
  try {
    const reader = response.body?.getReader();
    for (;;) {
      const chunk = await reader?.read();
      if (chunk === undefined || chunk.done) break;
      raw += decoder.decode(chunk.value, { stream: true });
    }
  } catch {
    reset = true;
  }
  const frames = raw.split('\n\n').filter((frame) => frame.trim() !== '');
  let text = '';
  let finishReason: string | undefined;
  let errorFrame = false;
  let terminal = false;
  for (const frame of frames) {
    const lines = frame.split('\n');
    const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length);
    const data = lines.find((line) => line.startsWith('data: '))?.slice('data: '.length) ?? '';
    if (dialect === 'openai') {
      if (data === '[DONE]') {
        terminal = true;
        continue;
      }
      if (data === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        continue; // a frame cut off by a dropped connection
      }
      const json = parsed as { error?: unknown; choices?: { delta?: { content?: string }; finish_reason?: string | null }[] };
      if (json.error !== undefined) errorFrame = true;
      const choice = json.choices?.[0];
      text += choice?.delta?.content ?? '';
      if (typeof choice?.finish_reason === 'string') finishReason = choice.finish_reason;
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        continue; // a frame cut off by a dropped connection
      }
      const json = parsed as { type?: string; delta?: { type?: string; text?: string; stop_reason?: string | null } };
      if (event === 'error' || json.type === 'error') errorFrame = true;
      if (event === 'message_stop') terminal = true;
      if (json.type === 'content_block_delta' && json.delta?.type === 'text_delta') text += json.delta.text ?? '';
      if (json.type === 'message_delta' && typeof json.delta?.stop_reason === 'string') finishReason = json.delta.stop_reason;
    }
  }
  let ending: StreamEnding;
  if (reset) ending = 'reset';
  else if (errorFrame && !terminal) ending = 'error-event';
  else if (terminal && !errorFrame && finishReason !== undefined) ending = 'complete';
  else ending = 'truncated';
  return { status: response.status, ending, text, raw, finishReason };
}

/** The value of one Prometheus sample (labels in any order), or undefined when absent. */
export function metricValue(exposition: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  let total: number | undefined;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = new Map<string, string>();
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found.set(pair[1] ?? '', pair[2] ?? '');
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) total = (total ?? 0) + Number(match[3]);
  }
  return total;
}

export async function scrape(gatewayUrl: string): Promise<string> {
  return (await fetch(`${gatewayUrl}/metrics`)).text();
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(check: () => boolean, timeoutMs: number, everyMs = 10): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > until) return false;
    await delay(everyMs);
  }
}

/** One OpenAI `chat.completion.chunk` SSE frame. */
export function openAIChunk(delta: object, finishReason: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
}

export interface ScriptedUpstream {
  readonly url: string;
  /** Requests received so far. */
  readonly arrivals: () => number;
  /** Their bodies, parsed. */
  readonly bodies: unknown[];
  /** Their bodies as sent (a parse changes numbers beyond a double's). */
  readonly texts: string[];
  /** Their headers. */
  readonly headers: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/**
 * An OpenAI-dialect upstream that answers every request with a response the test
 * scripts (misbehaviours the emulator has no fault for: no usage, a break after the
 * finish, a stall, an error body of its own). `respond` runs once the request body
 * has arrived, after the head: 200 and SSE unless `head` says otherwise.
 */
export async function startScriptedUpstream(respond: (res: ServerResponse) => void, head: { status: number; contentType: string; headers?: Record<string, string> } = { status: 200, contentType: 'text/event-stream' }): Promise<ScriptedUpstream> {
  let arrivals = 0;
  const bodies: unknown[] = [];
  const texts: string[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    arrivals += 1;
    headers.push(req.headers);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      texts.push(Buffer.concat(chunks).toString('utf8'));
      bodies.push(JSON.parse(texts.at(-1) ?? ''));
      res.writeHead(head.status, { 'content-type': head.contentType, ...head.headers });
      respond(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals: () => arrivals,
    bodies,
    texts,
    headers,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What a test file starts, closed after each test, last first: cleanups to push, and scripted upstreams registered there. */
export interface ClosedAfterEach {
  readonly cleanups: (() => Promise<void>)[];
  scripted(respond: (res: ServerResponse) => void): Promise<ScriptedUpstream>;
}

/** Registers an afterEach that closes what the test started (errors on closing ignored). */
export function closedAfterEach(): ClosedAfterEach {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  return {
    cleanups,
    async scripted(respond) {
      const upstream = await startScriptedUpstream(respond);
      cleanups.push(() => upstream.close());
      return upstream;
    },
  };
}
