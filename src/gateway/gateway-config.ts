import { z } from 'zod';
import { jurisdictionIdSchema, knownJurisdictions, repeatedJurisdiction, repeatedJurisdictions, unknownJurisdiction } from '../domain/jurisdictions.js';
import { idPattern, idRule } from '../domain/id-pattern.js';
import { SpecError, formatPath, inFileOrder, type Result, type SpecProblem } from '../domain/spec-problem.js';
import { closestMatch, didYouMean, someOf } from '../domain/suggest.js';
import { wrongKindOfFile } from '../domain/wrong-kind-of-file.js';
import { parseYamlSource, type YamlSource } from '../domain/yaml-source.js';
import { readSpecFile } from '../domain/read-spec-file.js';
import { problemsFromZod } from '../domain/zod-problems.js';
import { dialectNames } from '../protocol/dialect.js';
import { dialects } from '../protocol/dialects.js';
import { defaultMaxJsonValues } from '../protocol/json-value-count.js';
import { hiddenTenantKey, holdsKey, looksLikeKey, namesCredential, namesIdentity, withoutKeys } from './credential-text.js';
import { isRecord } from '../protocol/is-record.js';
import { hashApiKey } from './hash-api-key.js';

/**
 * The gateway config file (`switchyard gateway --config gateway.yaml`): the trust
 * boundary, validated like the fleet spec. Objects are strict so typos never
 * silently vanish; every problem comes back located (file:line:column, field path)
 * with a suggestion when there is a likely fix.
 *
 * Secrets never live in this file: tenants give the SHA-256 of their key, and
 * endpoints name the environment variable that holds the upstream key.
 */

const id = z.string().regex(idPattern, idRule);

/**
 * A model's name, as written: any text but control characters, line separators and text-direction
 * marks (R36: they reorder what a terminal shows), which would reach the metrics' exposition and the
 * log raw (E42: CR, NUL and ESC in a route's name were taken).
 */
const modelName = z
  .string()
  .min(1)
  // It labels metrics and log lines, as an id does (R47: a 100,000-character route name took /metrics to
  // 2 MB); 512, room for `up`'s <service>@<pool> of two 128-character ids (R48: 256 refused it).
  .max(512, 'a model name is at most 512 characters')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]*$/, 'a model name may not hold control characters, line separators or text-direction marks (they would reach metrics and logs as they are)');
const count = (max: number) => z.number().int().positive().max(max);
const milliseconds = (max: number) => z.number().int().min(0).max(max);
const keyHash = z.string().transform((hex) => hex.toLowerCase());
// An origin as a browser sends it (scheme://host[:port], no path), compared without case; or '*' for any page.
const origin = z.string().transform((text, context) => {
  if (text === '*') return text;
  const problem = originProblem(text);
  if (problem === undefined) return text.toLowerCase();
  context.addIssue({ code: 'custom', message: problem });
  return z.NEVER;
});

/**
 * Why a browser would never send `text` as its Origin, if it would not: the gateway compares origins
 * as written, so one a browser writes otherwise (a default port, a user, a Unicode host, a wildcard)
 * would match no page, and its page would be refused without a word.
 */
function originProblem(text: string): string | undefined {
  // file:// pages and sandboxed frames send the origin 'null', which any page can make itself send.
  if (text.toLowerCase() === 'null' || /^file:/i.test(text)) return "the 'null' origin (file:// pages, sandboxed frames) is not supported: any page can send it; serve the page from an http(s) origin and list that";
  // A browser sends these schemes for no page: the origin would match nothing.
  if (/^(wss?|ftp):/i.test(text)) return "no page has a ws://, wss:// or ftp:// origin: list the origin of the page that calls, such as 'https://app.example.com'";
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#\p{Cc}]+$/u.test(text)) return "an origin is scheme://host[:port] with no path, such as 'https://app.example.com', or '*' for any page";
  if (text.includes('*')) return "wildcards inside an origin are not supported: list each origin, or '*' alone for any page";
  if (!/^https?:/i.test(text)) return undefined;
  let sent: string;
  try {
    sent = new URL(text).origin;
  } catch {
    return "not a URL's origin: write scheme://host[:port], such as 'https://app.example.com'";
  }
  return sent === text.toLowerCase() ? undefined : `a browser sends this origin as '${sent}' (no user, no default port, the host in ASCII): write it so`;
}


const routingPolicyNames = ['cost', 'least-load', 'latency', 'prefix-affinity', 'weighted'] as const;
export type RoutingPolicyName = (typeof routingPolicyNames)[number];

export const endpointConfigSchema = z.strictObject({
  id,
  /** Base URL; the dialect decides the path (`/v1/chat/completions` or `/v1/messages`). */
  url: z.string().check((context) => {
    // A URL's parser says only "invalid" of a port past 65535: said here, with the bound.
    const port = /^https?:\/\/(?:[^/?#@]*@)?(?:\[[^\]]*\]|[^/?#:]*):(\d+)(?:[/?#]|$)/i.exec(context.value)?.[1];
    if (port !== undefined && isNoPort(port)) {
      context.issues.push({ code: 'custom', input: context.value, message: `port ${port} is no port to connect to: a port is 1 to 65535` });
      return;
    }
    if (isHttpUrl(context.value)) return;
    // A host and port without its scheme is the usual slip.
    const bare = /^[A-Za-z0-9.-]+:(\d{1,5})(\/[\w./-]*)?$/.exec(context.value);
    const scheme = bare?.[1] === '443' ? 'https' : 'http';
    // Its port said too, or the suggestion would lead to a second refusal (R51).
    const badPort = bare?.[1] !== undefined && isNoPort(bare[1]) ? bare[1] : undefined;
    if (badPort !== undefined) {
      context.issues.push({ code: 'custom', input: context.value, message: `expected an http:// or https:// base URL, and port ${badPort} is no port to connect to (a port is 1 to 65535)` });
      return;
    }
    context.issues.push({ code: 'custom', input: context.value, message: 'expected an http:// or https:// base URL', params: bare === null ? {} : { suggestion: `did you mean '${scheme}://${context.value}'?` } });
  }),
  dialect: z.enum(dialectNames),
  /** The model name the upstream expects. */
  model: modelName,
  provider: id,
  region: id,
  jurisdiction: jurisdictionIdSchema,
  /** Chip and pool are labels for metrics and logs; routing does not read them, but a refusal's second opinion prefers another pool (see second-opinion.ts). */
  chip: id.optional(),
  pool: id.optional(),
  /** Largest prompt plus output, in tokens. */
  contextWindow: count(1e9),
  /** Reserved for requests that fit no ordinary endpoint's window. */
  longContext: z.boolean().default(false),
  /**
   * Whether the upstream continues a trailing assistant turn (a prefill). Claude Opus and Sonnet
   * 4.6 and later refuse a conversation that ends with one: false keeps such requests, and the
   * resumes of broken streams, away from the endpoint.
   */
  prefill: z.boolean().default(true),
  /**
   * Whether the model may choose for itself whether to call the caller's tools (tool choice auto,
   * the default when tools are offered). vLLM allows it only when started with
   * --enable-auto-tool-choice and a tool-call parser; a named or required tool choice it serves
   * without. false keeps requests that leave the choice to the model away from the endpoint.
   */
  autoToolChoice: z.boolean().default(true),
  /**
   * Whether the upstream holds output to a JSON schema (structured output: a response format, strict
   * tools), as OpenAI, Anthropic and vLLM (guided decoding) do. false keeps requests that ask for it
   * away from the endpoint, rather than let it answer with unchecked JSON.
   */
  structuredOutputs: z.boolean().default(true),
  /**
   * Whether the model reads images (a vision model). false keeps requests that show it images away
   * from the endpoint: a text-only model's server refuses them (vLLM), or worse, ignores them.
   */
  images: z.boolean().default(true),
  /**
   * Which image URLs the endpoint's server may be given to fetch. A self-hosted model server (vLLM,
   * SGLang) fetches from inside its own network, so a tenant's URL could reach internal services
   * there. 'public' (the default): URLs whose host is not plainly local or private (the gateway
   * reads literal addresses and local names, not what names resolve to); 'any': those too, for a
   * server meant to fetch from an internal store; 'none': no URLs (images sent inline still go).
   */
  imageUrls: z.preprocess((value) => (value === false ? 'none' : value === true ? 'public' : value), z.enum(['public', 'any', 'none'])).default('public'),
  /**
   * Whether the upstream reads PDF documents (Anthropic's document blocks, OpenAI's file parts).
   * Unset: Anthropic-dialect endpoints do (Anthropic reads them), OpenAI-dialect ones do not (vLLM and
   * SGLang take no files; set true for OpenAI's own API). Requests with PDFs go only where they are read.
   */
  pdfs: z.boolean().optional(),
  /**
   * Anthropic-dialect endpoints only: whether the model gives extended thinking (Claude 3.7 and
   * later). false keeps requests that ask for it away from the endpoint.
   */
  thinking: z.boolean().default(true),
  /**
   * Anthropic-dialect endpoints only: whether the server counts tokens (POST
   * /v1/messages/count_tokens, which Anthropic serves and Claude Code calls). false keeps count
   * requests away from the endpoint; one that answers them 404 or 405 is passed over anyway.
   */
  tokenCounting: z.boolean().default(true),
  /** 0 for committed capacity: already paid for, free at the margin. */
  marginalCostPerMillionTokens: z.number().min(0).max(1e6),
  /** Concurrent requests the endpoint serves well; the denominator of its load. */
  capacity: count(1e7),
  /** Relative share under the `weighted` policy. */
  weight: z.number().positive().max(1e6).default(1),
  /** Name of the environment variable holding the upstream key (format checked below, without echoing it). */
  apiKeyEnv: z.string().optional(),
  /**
   * OpenAI dialect only: the request field for the output budget. `max_completion_tokens` for
   * OpenAI's reasoning models and Azure, which refuse `max_tokens`; TGI reads only `max_tokens`.
   */
  maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
  /**
   * Headers sent on every call to the endpoint, for what its API reads there and a request body
   * cannot say: an Anthropic beta (`anthropic-beta: context-1m-2025-08-07` for a 1M-token window),
   * an OpenAI project, a router's attribution. Not for keys (see apiKeyEnv), nor for headers the
   * gateway writes itself. Names and values are checked in checkEndpoint, not here: a schema's
   * message would quote a value, and its path a name, either of which may be a key pasted by
   * mistake. Only a value that is not text is refused here, at the headers field.
   */
  headers: z
    .record(z.string(), z.unknown())
    .check((context) => {
      const others = Object.values(context.value).filter((value) => typeof value !== 'string' && typeof value !== 'number').length;
      if (others > 0) context.issues.push({ code: 'custom', input: context.value, message: `a header's value is text or a number; ${others === 1 ? 'one here is' : `${String(others)} here are`} not (names and values not shown: they may hold a key)`, params: { suggestion: 'write each value as text, e.g. "anthropic-beta": "context-1m-2025-08-07"' } });
    })
    .transform((headers) => Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)])))
    .optional(),
});

/** Settings a route may set for its own requests (a large model's first token comes later than a small one's). */
const retries = z.number().int().min(0).max(20);
/** The longest timeout a config may set: a day. */
export const longestTimeoutMs = 864e5;
const ttftTimeoutMs = count(longestTimeoutMs);
const deadlineMs = count(longestTimeoutMs);
const hedgeAfterMs = milliseconds(longestTimeoutMs);

/** A route's own resilience: what it leaves out is the gateway's (`resilience:`). */
export const routeResilienceSchema = z.strictObject({
  retries: retries.optional(),
  ttftTimeoutMs: ttftTimeoutMs.optional(),
  deadlineMs: deadlineMs.optional(),
  hedgeAfterMs: hedgeAfterMs.optional(),
  resumeStreams: z.boolean().optional(),
});

/** A route's policy when it names none: free committed capacity first, then the least loaded. */
export const defaultRoutePolicy: readonly RoutingPolicyName[] = ['cost', 'least-load'];

export const routeConfigSchema = z.strictObject({
  /** The public model name clients send. */
  model: modelName,
  endpoints: z.array(id).min(1, 'at least one endpoint'),
  /** Applied lexicographically; see route-request.ts for the exact semantics. */
  policy: z.array(z.enum(routingPolicyNames)).min(1, 'at least one policy').default([...defaultRoutePolicy]),
  resilience: routeResilienceSchema.optional(),
});

/** The keys a tenant may hold at once (during rotations). */
const maxKeysPerTenant = 16;

export const tenantConfigSchema = z.strictObject({
  id,
  /**
   * Hex SHA-256 of the tenant's key, or a list of them while a key is rotated (format checked below,
   * without echoing it: it may be a pasted raw key).
   */
  apiKeySha256: z.union([keyHash, z.array(keyHash).min(1, 'at least one key hash')], { error: 'the hex SHA-256 of the key, or a list of them (while a key is rotated)' }),
  jurisdictions: z.array(jurisdictionIdSchema).min(1, 'at least one jurisdiction'),
  requestsPerMinute: count(1e9),
  tokensPerMinute: count(1e12),
});

export const circuitBreakerConfigSchema = z.strictObject({
  failureThreshold: count(1e6).default(5),
  windowMs: count(864e5).default(30_000),
  openMs: count(864e5).default(10_000),
  halfOpenProbes: count(1e4).default(1),
});

const resilienceFieldsSchema = z.strictObject({
  retries: retries.default(2),
  backoffMs: milliseconds(36e5).default(50),
  maxBackoffMs: milliseconds(36e5).default(2000),
  ttftTimeoutMs: ttftTimeoutMs.default(10_000),
  deadlineMs: deadlineMs.default(120_000),
  /**
   * After the first token, the longest silence an attempt may keep before it counts as broken
   * and is resumed. Default: 10 s, or half of the shortest deadlineMs (a route's included, see
   * fitIdleToRoutes) when that is shorter, so a stall can always be resumed before the deadline.
   */
  tokenIdleTimeoutMs: count(longestTimeoutMs).optional(),
  /** 0 turns hedging off. */
  hedgeAfterMs: hedgeAfterMs.default(0),
  resumeStreams: z.boolean().default(true),
  /** When every endpoint a request could use is ejected by its circuit, try them anyway rather than refuse (see route-request.ts). */
  panicRouting: z.boolean().default(true),
  circuitBreaker: circuitBreakerConfigSchema.prefault({}),
});

/** The stall timeout when none is written: 10 s, or half the deadline when that is shorter, so a stall can be resumed before it. */
export function defaultIdleMs(deadlineMs: number): number {
  return Math.max(1, Math.min(10_000, Math.floor(deadlineMs / 2)));
}

export const resilienceConfigSchema = resilienceFieldsSchema.transform((resilience) => ({ ...resilience, tokenIdleTimeoutMs: resilience.tokenIdleTimeoutMs ?? defaultIdleMs(resilience.deadlineMs) }));

export const gatewayConfigSchema = z.strictObject({
  version: z.literal(1),
  /** Jurisdictions beyond the built-in list. */
  jurisdictions: z.array(jurisdictionIdSchema).optional(),
  listen: z
    .strictObject({
      port: z.number().int().min(0).max(65_535).default(8080),
      // No spaces: Node would fail to listen with no word of this file; empty is refused by min(1).
      host: z.string().min(1).regex(/^\S*$/, 'an address without spaces, such as 127.0.0.1, or 0.0.0.0 for every interface').default('127.0.0.1'),
      /** On SIGTERM or SIGINT, how long requests in flight may run on before they are ended with an error. */
      shutdownGraceMs: milliseconds(864e5).default(10_000),
    })
    .prefault({}),
  endpoints: z.array(endpointConfigSchema).min(1, 'at least one endpoint'),
  routes: z.array(routeConfigSchema).min(1, 'at least one route'),
  tenants: z.array(tenantConfigSchema).min(1, 'at least one tenant'),
  // prefault (not default) so the inner defaults are filled in when the block is absent.
  resilience: resilienceConfigSchema.prefault({}),
  // Anthropic's own limit for a Messages request (32 MB): Claude Code's requests carry 115 KB or more
  // of tools and prompts before any conversation, and screenshots and PDFs go inline.
  // maxBodyBytesInFlight: the bodies of requests in flight, together (a streaming request holds its
  // images and documents until its answer ends, for resumes): past it, a 503 to retry, not an
  // out-of-memory crash; 1 GiB is a quarter of Node's default heap limit here. maxJsonValues: see
  // defaultMaxJsonValues.
  limits: z.strictObject({ maxBodyBytes: count(1 << 30).default(32 * 1024 * 1024), maxBodyBytesInFlight: count(2 ** 40).default(1 << 30), maxJsonValues: count(1 << 30).default(defaultMaxJsonValues) }).prefault({}),
  logging: z
    .strictObject({
      logPrompts: z.boolean().default(false),
      // The header a proxy in front writes the caller's address in (x-forwarded-for), logged as the client's instead of the peer's.
      clientAddressHeader: z
        .string()
        .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'a header name: letters, digits and !#$%&\'*+.^_`|~-')
        // Its value is logged as it came: a header that carries credentials would put keys in the log (R23).
        // Identity assertions too (Google IAP's x-goog-iap-jwt-assertion, Cloudflare Access's), which
        // endpoint headers may well be named after without being keys (R25), so only here.
        .refine((name) => !namesIdentity(name), 'a header that carries credentials or identity tokens (its value is logged): name the one your proxy writes the address in, such as x-forwarded-for')
        .transform((name) => name.toLowerCase())
        .optional(),
    })
    .prefault({}),
  // Who may read GET /metrics: anyone who reaches the port without the block (as scrapers expect), or
  // only a scraper that sends a key whose SHA-256 is listed (it shows every tenant's id and use).
  metrics: z
    .strictObject({
      scrapeKeySha256: z.union([keyHash, z.array(keyHash).min(1, 'at least one key hash')], { error: 'the hex SHA-256 of the scrape key, or a list of them (while it is rotated)' }).optional(),
    })
    .prefault({}),
  // Web pages that may call the API from a browser; none without the block.
  cors: z
    .strictObject({
      allowOrigins: z
        .array(origin)
        .min(1, "at least one origin, or leave cors out")
        .refine((origins) => !origins.includes('*') || origins.length === 1, "'*' allows every origin: list it alone, or list origins without it"),
      maxAgeSeconds: z.number().int().min(0).max(86_400).default(600),
    })
    .optional(),
});

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type EndpointConfig = z.output<typeof endpointConfigSchema>;
export type RouteConfig = z.output<typeof routeConfigSchema>;
export type TenantConfig = z.output<typeof tenantConfigSchema>;

/** A tenant's key hashes: one, or several while a key is rotated. */
export function keyHashesOf(tenant: Pick<TenantConfig, 'apiKeySha256'>): readonly string[] {
  return typeof tenant.apiKeySha256 === 'string' ? [tenant.apiKeySha256] : tenant.apiKeySha256;
}
export type ResilienceConfig = z.output<typeof resilienceConfigSchema>;

/** The resilience a route's requests get: the route's own settings over the gateway's. */
export function routeResilience(resilience: ResilienceConfig, route: Pick<RouteConfig, 'resilience'>): ResilienceConfig {
  const own = route.resilience;
  if (own === undefined) return resilience;
  return {
    ...resilience,
    retries: own.retries ?? resilience.retries,
    ttftTimeoutMs: own.ttftTimeoutMs ?? resilience.ttftTimeoutMs,
    deadlineMs: own.deadlineMs ?? resilience.deadlineMs,
    hedgeAfterMs: own.hedgeAfterMs ?? resilience.hedgeAfterMs,
    resumeStreams: own.resumeStreams ?? resilience.resumeStreams,
  };
}
export type CircuitBreakerConfig = z.output<typeof circuitBreakerConfigSchema>;

/**
 * The stall timeout's default fitted to the shortest deadline, a route's included: 10 s, or half of
 * that deadline when shorter, so a stall can be resumed before any request's deadline. One the
 * config wrote is kept (and checked against every deadline).
 */
function fitIdleToRoutes(resilience: ResilienceConfig, rawResilience: unknown, routes: readonly Placed<RouteConfig>[]): ResilienceConfig {
  if (typeof rawResilience === 'object' && rawResilience !== null && 'tokenIdleTimeoutMs' in rawResilience) return resilience;
  const shortest = Math.min(resilience.deadlineMs, ...routes.map(([route]) => route.resilience?.deadlineMs ?? Number.POSITIVE_INFINITY));
  return { ...resilience, tokenIdleTimeoutMs: defaultIdleMs(shortest) };
}

/**
 * Parses a gateway config's text. Never throws on bad input: problems come back as data, none
 * quoting what looks like a key, whatever field it was pasted into (see withoutKeys).
 */
export function parseGatewayConfig(text: string, file: string): Result<GatewayConfig> {
  const result = parseUnscrubbed(text, file);
  if (result.ok) return result;
  // Parsed once more only here, for what the problems must not quote: a valid config never pays for it.
  const parsed = parseYamlSource(text, file);
  const data = parsed.ok && isRecord(parsed.source.data) ? parsed.source.data : {};
  const declared = declaredNames(data);
  const keys = tenantKeysIn(data);
  const scrub = (words: string): string => withoutKeysListed(withoutKeys(words, declared), keys);
  // The path too: a key pasted as a field's name is named by it (R23).
  return { ok: false, problems: result.problems.map((problem) => ({ ...problem, path: withoutKeysListed(problem.path, keys), message: scrub(problem.message), ...(problem.suggestion === undefined ? {} : { suggestion: scrub(problem.suggestion) }) })) };
}

/** Text with every one of `keys` replaced, longest first (one may hold another). */
function withoutKeysListed(text: string, keys: readonly string[]): string {
  return [...keys].sort((a, b) => b.length - a.length).reduce((words, key) => words.split(key).join(hiddenTenantKey), text);
}

/**
 * Every text of a config (a value or a field's name, anywhere: an id, a reference to one, a
 * header) that is a tenant's key, its SHA-256 listed under a tenant's `apiKeySha256`, whatever
 * else is wrong with the file: a key pasted as a name is then named by no problem.
 */
function tenantKeysIn(data: Record<string, unknown>): string[] {
  const hashes = new Set<string>();
  for (const tenant of Array.isArray(data.tenants) ? data.tenants : []) {
    const listed: unknown = isRecord(tenant) ? tenant.apiKeySha256 : undefined;
    for (const hex of Array.isArray(listed) ? listed : [listed]) if (typeof hex === 'string') hashes.add(hex.toLowerCase());
  }
  if (hashes.size === 0) return [];
  const keys = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      if (hashes.has(hashApiKey(value))) keys.add(value);
    } else if (Array.isArray(value)) {
      value.forEach(visit);
    } else if (isRecord(value)) {
      for (const [name, inner] of Object.entries(value)) {
        visit(name);
        visit(inner);
      }
    }
  };
  visit(data);
  return [...keys];
}

/** The names a config gives its endpoints (ids, models), routes and tenants, as written. */
function declaredNames(data: Record<string, unknown>): ReadonlySet<string> {
  const names = new Set<string>();
  const each = (list: unknown, fields: readonly string[]): void => {
    if (!Array.isArray(list)) return;
    for (const item of list) if (isRecord(item)) for (const field of fields) if (typeof item[field] === 'string') names.add(item[field]);
  };
  each(data.endpoints, ['id', 'model']);
  each(data.routes, ['model']);
  each(data.tenants, ['id']);
  return names;
}

function parseUnscrubbed(text: string, file: string): Result<GatewayConfig> {
  const parsed = parseYamlSource(text, file);
  if (!parsed.ok) return { ok: false, problems: parsed.problems };
  const source = parsed.source;
  const checked = gatewayConfigSchema.safeParse(source.data);
  if (!checked.success) {
    const wrongKind = wrongKindOfFile(source.data, file, 'gateway');
    if (wrongKind !== undefined) return { ok: false, problems: [wrongKind] };
    // The parts that are valid are cross-checked too, so one round of fixes clears every problem.
    return { ok: false, problems: inFileOrder([...problemsFromZod(checked.error, source, gatewayConfigSchema, mayHoldSecret, nameMayBeKey), ...crossCheck(validParts(source.data), source)], file) };
  }
  const rawResilience = (source.data as { resilience?: unknown }).resilience;
  const config = { ...checked.data, resilience: fitIdleToRoutes(checked.data.resilience, rawResilience, wholeConfig(checked.data, rawResilience).routes) };
  const problems = crossCheck(wholeConfig(config, rawResilience), source);
  return problems.length > 0 ? { ok: false, problems: inFileOrder(problems, file) } : { ok: true, value: config };
}

/** Reads a gateway config from disk. */
export function loadGatewayConfig(file: string): Result<GatewayConfig> {
  const read = readSpecFile(file, 'the gateway config');
  return read.ok ? parseGatewayConfig(read.text, read.file) : { ok: false, problems: [read.problem] };
}

/**
 * Headers the gateway writes on upstream calls, which an endpoint's `headers` may not set: the
 * body's framing, type and compression (its client does not decompress), the keys, hop-by-hop
 * headers, and the request id it passes on.
 */
const managedHeaders: ReadonlySet<string> = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'accept', 'accept-encoding', 'content-encoding', 'proxy-connection', 'http2-settings', 'authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'anthropic-version', 'x-request-id']);

const headerNamePattern = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const headerValuePattern = /^[\t\x20-\x7e]*$/;

export function loadGatewayConfigOrThrow(file: string): GatewayConfig {
  const result = loadGatewayConfig(file);
  if (!result.ok) throw new SpecError(result.problems);
  return result.value;
}

type Report = (path: readonly PropertyKey[], code: SpecProblem['code'], message: string, suggestion?: string) => void;

/** What metrics and logs label a request that reached no route or no endpoint: no route or endpoint may be named so. */
export const unlabelled = 'none';

/**
 * An entry of a list, with its place in the file's list: whole when it passed its schema, else the
 * fields that pass their own (a list of ids keeps those that do, at their places), so an entry with
 * one bad field still has its references checked in the same round.
 */
type Placed<T> = readonly [value: Partial<T>, index: number];

/**
 * What the cross-checks read: every entry (whole, or the fields of it that are valid), at its index
 * in the file, and the names every entry gives. A part that failed its schema as a whole (not a
 * list) is undefined, and its checks are skipped.
 */
interface CheckedParts {
  /** Declared jurisdictions; undefined when the list itself is invalid (no jurisdiction is then checked). */
  readonly jurisdictions: readonly string[] | undefined;
  readonly endpoints: readonly Placed<EndpointConfig>[];
  readonly endpointIds: readonly (string | undefined)[] | undefined;
  readonly routes: readonly Placed<RouteConfig>[];
  readonly routeModels: readonly (string | undefined)[];
  readonly tenants: readonly Placed<TenantConfig>[];
  readonly tenantIds: readonly (string | undefined)[];
  readonly resilience: ResilienceConfig | undefined;
  /** The resilience fields written that are valid (the others are defaults), and those written that are not. */
  readonly resilienceWritten: ReadonlySet<string>;
  readonly resilienceInvalid: ReadonlySet<string>;
  /** metrics.scrapeKeySha256 as written: one hash, a list, or none. */
  readonly scrapeKeySha256: string | readonly string[] | undefined;
}

/** A config that passed its schema, for the cross-checks; `rawResilience`: its resilience block as written. */
function wholeConfig(config: GatewayConfig, rawResilience: unknown): CheckedParts {
  const placed = <T>(values: readonly T[]): Placed<T>[] => values.map((value, index) => [value, index] as const);
  return {
    jurisdictions: config.jurisdictions ?? [],
    endpoints: placed(config.endpoints),
    endpointIds: config.endpoints.map((endpoint) => endpoint.id),
    routes: placed(config.routes),
    routeModels: config.routes.map((route) => route.model),
    tenants: placed(config.tenants),
    tenantIds: config.tenants.map((tenant) => tenant.id),
    resilience: config.resilience,
    resilienceWritten: new Set(typeof rawResilience === 'object' && rawResilience !== null ? Object.keys(rawResilience) : []),
    resilienceInvalid: new Set(),
    scrapeKeySha256: config.metrics.scrapeKeySha256,
  };
}

/** The parts of a config that failed its schema which are valid on their own. */
function validParts(data: unknown): CheckedParts {
  const top = isRecord(data) ? data : {};
  const list = (value: unknown): unknown[] | undefined => (Array.isArray(value) ? value : undefined);
  const valid = <T>(entries: unknown[] | undefined, schema: z.ZodObject): Placed<T>[] =>
    (entries ?? []).flatMap((entry, index) => {
      const parsed = schema.safeParse(entry);
      if (parsed.success) return [[parsed.data as Partial<T>, index] as const];
      return isRecord(entry) ? [[validFields(schema, entry) as Partial<T>, index] as const] : [];
    });
  const named = (entries: unknown[] | undefined, field: string): (string | undefined)[] =>
    (entries ?? []).map((entry) => {
      const value = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)[field] : undefined;
      return typeof value === 'string' ? value : undefined;
    });
  const declared = z.array(jurisdictionIdSchema).optional().safeParse(top.jurisdictions);
  // A resilience block with a bad field keeps its valid ones: their orderings are checked in the same round.
  const rawResilience = isRecord(top.resilience) ? top.resilience : {};
  const whole = resilienceConfigSchema.safeParse(top.resilience ?? {});
  const kept = whole.success ? rawResilience : validFields(resilienceFieldsSchema, rawResilience);
  const resilience = whole.success ? whole : resilienceConfigSchema.safeParse(kept);
  const endpoints = list(top.endpoints);
  const routes = valid<RouteConfig>(list(top.routes), routeConfigSchema);
  return {
    jurisdictions: declared.success ? (declared.data ?? []) : undefined,
    endpoints: valid(endpoints, endpointConfigSchema),
    endpointIds: endpoints === undefined ? undefined : named(endpoints, 'id'),
    routes,
    routeModels: named(list(top.routes), 'model'),
    tenants: valid(list(top.tenants), tenantConfigSchema),
    tenantIds: named(list(top.tenants), 'id'),
    resilience: resilience.success ? fitIdleToRoutes(resilience.data, top.resilience, routes) : undefined,
    resilienceWritten: new Set(Object.keys(kept).filter((key) => key in resilienceFieldsSchema.shape)),
    resilienceInvalid: new Set(Object.keys(rawResilience).filter((key) => !(key in kept))),
    scrapeKeySha256: scrapeKeysOf(top.metrics),
  };
}

/** A metrics block's scrape key hashes as written, where they are strings (the schema says what else is wrong). */
function scrapeKeysOf(metrics: unknown): string | string[] | undefined {
  const written: unknown = isRecord(metrics) ? metrics.scrapeKeySha256 : undefined;
  if (typeof written === 'string') return written.toLowerCase();
  return Array.isArray(written) && written.every((hex) => typeof hex === 'string') ? written.map((hex) => hex.toLowerCase()) : undefined;
}

/**
 * The fields of an entry that failed its schema which pass their own: written ones only (no
 * defaults). A list that fails keeps the items that pass, at their places (a sparse array).
 */
function validFields(schema: z.ZodObject, entry: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape)) {
    const value = entry[key];
    if (value === undefined) continue;
    const parsed = field.safeParse(value);
    const list = arrayIn(field);
    const block = objectIn(field);
    if (parsed.success) fields[key] = parsed.data;
    // A nested block (a route's resilience) keeps its valid fields too.
    else if (block !== undefined && isRecord(value)) fields[key] = validFields(block, value);
    else if (Array.isArray(value) && list !== undefined) {
      const items: unknown[] = [];
      items.length = value.length;
      value.forEach((item: unknown, position) => {
        const parsedItem = (list.element as z.ZodType).safeParse(item);
        if (parsedItem.success) items[position] = parsedItem.data;
      });
      fields[key] = items;
    }
  }
  return fields;
}

/** The fields of route `index`'s resilience block that were written with a bad value (`valid` holds the others). */
function invalidRouteFields(source: YamlSource, index: number, valid: object): string[] {
  const routes = (source.data as { routes?: unknown }).routes;
  const entry: unknown = Array.isArray(routes) ? routes[index] : undefined;
  const block = typeof entry === 'object' && entry !== null ? (entry as { resilience?: unknown }).resilience : undefined;
  return typeof block === 'object' && block !== null ? Object.keys(block).filter((key) => !(key in valid)) : [];
}

/** The schema a field is under a default or an optional (a route's policy has a default). */
function unwrapped(field: z.core.SomeType): unknown {
  let current: unknown = field;
  while (current instanceof z.ZodDefault || current instanceof z.ZodOptional) current = current.unwrap();
  return current;
}

function arrayIn(field: z.core.SomeType): z.ZodArray | undefined {
  const inner = unwrapped(field);
  return inner instanceof z.ZodArray ? inner : undefined;
}

function objectIn(field: z.core.SomeType): z.ZodObject | undefined {
  const inner = unwrapped(field);
  return inner instanceof z.ZodObject ? inner : undefined;
}

/** Checks the schema cannot express: references, uniqueness, secrets in the wrong place, ordering of limits. */
function crossCheck(parts: CheckedParts, source: YamlSource): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const report: Report = (path, code, message, suggestion) => {
    problems.push({ code, file: source.file, ...source.locate(path), path: formatPath(path), message, ...(suggestion === undefined ? {} : { suggestion }) });
  };
  const declared = parts.jurisdictions;
  for (const { index, value } of repeatedJurisdictions(declared ?? [])) report(['jurisdictions', index], 'duplicate_id', ...repeatedJurisdiction(value));
  const jurisdictions = new Set([...knownJurisdictions, ...(declared ?? [])]);
  const checkJurisdiction = (path: readonly PropertyKey[], value: string): void => {
    if (declared === undefined || jurisdictions.has(value)) return;
    report(path, 'unknown_reference', ...unknownJurisdiction(value, jurisdictions));
  };

  // Read from every entry, valid or not, so it comes in the first round with the entry's other problems.
  parts.endpointIds?.forEach((value, index) => {
    if (value === unlabelled) report(['endpoints', index, 'id'], 'invalid_value', `'${unlabelled}' is reserved: metrics and logs label requests that reached no endpoint so`, 'give the endpoint another id');
  });
  parts.routeModels.forEach((value, index) => {
    if (value === unlabelled) report(['routes', index, 'model'], 'invalid_value', `'${unlabelled}' is reserved: metrics and logs label requests that reached no route so`, 'give the public model another name');
  });
  checkNamesAreNotKeys(parts, report);
  if (parts.endpointIds !== undefined) checkUnique(parts.endpointIds, ['endpoints'], 'id', 'endpoint id', report);
  checkUnique(parts.tenantIds, ['tenants'], 'id', 'tenant id', report);
  checkUnique(parts.routeModels, ['routes'], 'model', 'route model', report);
  for (const [endpoint, index] of parts.endpoints) checkEndpoint(endpoint, index, checkJurisdiction, report);
  const endpointIds = parts.endpointIds === undefined ? undefined : new Set(parts.endpointIds.filter((value) => value !== undefined));
  for (const [route, index] of parts.routes) checkRoute(route, index, endpointIds, report);
  checkTenants(parts.tenants, parts.scrapeKeySha256, checkJurisdiction, report);
  if (parts.resilience !== undefined) checkResilience(parts.resilience, parts.resilienceWritten, report, ['resilience'], parts.resilienceInvalid);
  // A route's own settings against the gateway's: only what the route wrote is its problem.
  const gatewayResilience = parts.resilience;
  if (gatewayResilience !== undefined) {
    for (const [route, index] of parts.routes) {
      if (route.resilience === undefined) continue;
      // The route's own bad values are reported as such, and so are the gateway's: neither stands for a default here.
      checkResilience(routeResilience(gatewayResilience, { resilience: route.resilience }), new Set(Object.keys(route.resilience)), report, ['routes', index, 'resilience'], new Set([...parts.resilienceInvalid, ...invalidRouteFields(source, index, route.resilience)]));
    }
  }
  return problems;
}

function checkUnique(values: readonly (string | undefined)[], path: readonly PropertyKey[], field: string, what: string, report: Report): void {
  const seen = new Map<string, number>();
  values.forEach((value, index) => {
    if (value === undefined) return;
    const first = seen.get(value);
    if (first !== undefined) report([...path, index, field], 'duplicate_id', `${what} '${value}' is already used by ${formatPath([...path, first])}`, `give each its own ${field}`);
    else seen.set(value, index);
  });
}

/** An endpoint's checks, each of the fields it reads (an entry that failed its schema may lack some). */
function checkEndpoint(endpoint: Partial<EndpointConfig>, index: number, checkJurisdiction: (path: readonly PropertyKey[], value: string) => void, report: Report): void {
  if (endpoint.jurisdiction !== undefined) checkJurisdiction(['endpoints', index, 'jurisdiction'], endpoint.jurisdiction);
  const url = endpoint.url === undefined ? undefined : new URL(endpoint.url);
  // Not echoed: the credentials are the problem.
  if (url !== undefined && (url.username !== '' || url.password !== '')) {
    report(['endpoints', index, 'url'], 'invalid_value', 'the URL carries credentials', "remove them and put the key in an environment variable named by 'apiKeyEnv'");
  }
  if (url !== undefined && url.hash !== '') {
    // Not echoed either: a fragment may carry a token (#access_token=...).
    report(['endpoints', index, 'url'], 'invalid_value', "the URL has a fragment (after '#'), which never reaches a server", 'remove it; a query string is kept and sent');
  }
  if (endpoint.maxTokensField !== undefined && endpoint.dialect !== undefined && !dialects[endpoint.dialect].upstream.budgetFieldVaries) {
    report(['endpoints', index, 'maxTokensField'], 'invalid_value', `maxTokensField applies to OpenAI-dialect endpoints; this one speaks ${endpoint.dialect}, whose budget is always max_tokens`, 'remove maxTokensField from this endpoint');
  }
  const headerNames = new Set<string>();
  for (const [name, value] of Object.entries(endpoint.headers ?? {})) {
    const lower = name.toLowerCase();
    const path = ['endpoints', index, 'headers', name];
    // A name with a key in it (a whole 'Authorization: Bearer sk-...' line written as a name) is not
    // echoed, nor put in the path: no other check of this header is made, as each would name it.
    if (holdsKey(name)) {
      report(['endpoints', index, 'headers'], 'invalid_value', 'a header name holds what looks like a key (not shown), which would sit in this file in plain text', "write the header's name alone; keys go in environment variables: name one in 'apiKeyEnv'");
      continue;
    }
    if (!headerNamePattern.test(name)) report(path, 'invalid_value', `'${name}' is no header name: a header name is letters, digits and !#$%&'*+.^_\`|~-`, 'remove the spaces or other characters, e.g. x-my-header');
    // Not echoed: the value may be a key pasted by mistake (its own check below says so).
    else if (!headerValuePattern.test(value)) report(path, 'invalid_value', `a header value is printable ASCII on one line; this one ${/[\r\n]/.test(value) ? 'has a line break' : 'has a character outside it'}`, /[\r\n]/.test(value) ? 'remove the line break (a copied value often ends in one)' : 'write the value in printable ASCII');
    if (managedHeaders.has(lower)) report(path, 'invalid_value', `'${lower}' is written by the gateway itself`, lower === 'authorization' || lower === 'x-api-key' || lower === 'api-key' ? "name the environment variable holding the key in 'apiKeyEnv'" : 'remove it');
    else if (headerNames.has(lower)) report(path, 'duplicate_id', `header '${lower}' is set twice (names compare without case)`, 'set it once; several values go in one, comma-separated');
    // Not echoed: a value that looks like a key is the problem.
    else if (namesCredential(lower) || holdsKey(value)) report(path, 'invalid_value', 'a credential (by its name or value), which would sit in this file in plain text', "keys go in environment variables: name one in 'apiKeyEnv'");
    headerNames.add(lower);
  }
  if (endpoint.apiKeyEnv !== undefined && (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(endpoint.apiKeyEnv) || looksLikeKey(endpoint.apiKeyEnv))) {
    // Not echoed either: a value that is not a variable name is likely the key itself.
    report(['endpoints', index, 'apiKeyEnv'], 'invalid_value', 'expected the name of an environment variable (letters, digits and _), not the key itself', 'e.g. apiKeyEnv: UPSTREAM_KEY, with the key in that variable');
  }
}

/** `endpointIds` undefined: the endpoint list itself is invalid, so references are not checked. */
function checkRoute(route: Partial<RouteConfig>, index: number, endpointIds: ReadonlySet<string> | undefined, report: Report): void {
  const listed = new Set<string>();
  route.endpoints?.forEach((endpointId, position) => {
    const path = ['routes', index, 'endpoints', position];
    if (endpointIds !== undefined && !endpointIds.has(endpointId)) {
      report(path, 'unknown_reference', `unknown endpoint '${endpointId}'`, didYouMean(endpointId, endpointIds) ?? (endpointIds.size === 0 ? 'no endpoint has a valid id yet: fix the endpoints above' : `known endpoints: ${someOf(endpointIds)}`));
    } else if (listed.has(endpointId)) {
      report(path, 'duplicate_id', `endpoint '${endpointId}' is listed twice in this route`, 'list each endpoint once');
    }
    listed.add(endpointId);
  });
  const policies = new Set<string>();
  route.policy?.forEach((name, position) => {
    if (policies.has(name)) report(['routes', index, 'policy', position], 'duplicate_id', `policy '${name}' is listed twice`, 'a repeated policy adds nothing: remove it');
    policies.add(name);
  });
}

/**
 * Names the gateway writes in every log line and metric label (tenant and endpoint ids, public model
 * names) must not be keys: one that is a tenant's own key (its SHA-256 is listed) is refused without
 * being quoted. Names that only look like keys are the user's (`hf_tgi_llama3_70b`, a region in capitals
 * beginning 'ASIA'): a look would refuse valid fleets, so problems only hide them (see withoutKeys).
 */
function checkNamesAreNotKeys(parts: CheckedParts, report: Report): void {
  const hashes = new Set(parts.tenants.flatMap(([tenant]) => (tenant.apiKeySha256 === undefined ? [] : keyHashesOf({ apiKeySha256: tenant.apiKeySha256 }))));
  const check = (names: readonly (string | undefined)[] | undefined, top: string, field: string, what: string): void => {
    names?.forEach((name, index) => {
      if (name === undefined) return;
      const suggestion = `name the ${what} for what it is; keys go in environment variables ('apiKeyEnv') or, a tenant's, as their SHA-256 ('apiKeySha256')`;
      if (hashes.has(hashApiKey(name))) report([top, index, field], 'invalid_value', `this ${what} is a tenant's API key (its SHA-256 is listed under a tenant's 'apiKeySha256'), and ${what}s are written in every log line and metric`, suggestion);
    });
  };
  check(parts.tenantIds, 'tenants', 'id', 'tenant id');
  check(parts.endpointIds, 'endpoints', 'id', 'endpoint id');
  check(parts.routeModels, 'routes', 'model', 'public model name');
}

function checkTenants(tenants: readonly Placed<TenantConfig>[], scrapeKeySha256: string | readonly string[] | undefined, checkJurisdiction: (path: readonly PropertyKey[], value: string) => void, report: Report): void {
  const byKeyHash = new Map<string, string>();
  tenants.forEach(([tenant, index]) => {
    tenant.jurisdictions?.forEach((jurisdiction, position) => checkJurisdiction(['tenants', index, 'jurisdictions', position], jurisdiction));
    for (const { index: position, value } of repeatedJurisdictions(tenant.jurisdictions ?? [])) report(['tenants', index, 'jurisdictions', position], 'duplicate_id', ...repeatedJurisdiction(value));
    if (tenant.apiKeySha256 === undefined) return;
    const listed = typeof tenant.apiKeySha256 !== 'string';
    const name = tenant.id === undefined ? formatPath(['tenants', index]) : `tenant '${tenant.id}'`;
    // Here, not in the schema: a union's own message hid it there (E51).
    if (listed && tenant.apiKeySha256.length > maxKeysPerTenant) report(['tenants', index, 'apiKeySha256'], 'invalid_value', `a list of ${String(tenant.apiKeySha256.length)} key hashes: at most ${String(maxKeysPerTenant)} keys`, 'remove the retired ones');
    keyHashesOf({ apiKeySha256: tenant.apiKeySha256 }).forEach((hex, position) => {
      const at = listed ? ['tenants', index, 'apiKeySha256', position] : ['tenants', index, 'apiKeySha256'];
      if (!isKeyHash(hex, at, report)) return;
      const other = byKeyHash.get(hex);
      if (other === name) report(at, 'duplicate_id', `${name} lists the same API key twice`, 'list each key once');
      else if (other !== undefined) report(at, 'duplicate_id', `${name} has the same API key as ${other}`, 'give every tenant its own key');
      else byKeyHash.set(hex, name);
    });
  });
  if (scrapeKeySha256 === undefined) return;
  const listed = typeof scrapeKeySha256 !== 'string';
  if (listed && scrapeKeySha256.length > maxKeysPerTenant) report(['metrics', 'scrapeKeySha256'], 'invalid_value', `a list of ${String(scrapeKeySha256.length)} key hashes: at most ${String(maxKeysPerTenant)} keys`, 'remove the retired ones');
  (typeof scrapeKeySha256 === 'string' ? [scrapeKeySha256] : scrapeKeySha256).forEach((hex, position) => {
    const at = listed ? ['metrics', 'scrapeKeySha256', position] : ['metrics', 'scrapeKeySha256'];
    if (!isKeyHash(hex, at, report)) return;
    const tenant = byKeyHash.get(hex);
    // A tenant's key would read every tenant's use, which is what the scrape key keeps from them.
    if (tenant !== undefined) report(at, 'duplicate_id', `the scrape key is the API key of ${tenant}, who would read every tenant's id and use in the metrics`, 'give the scraper a key of its own');
  });
}

/**
 * Whether a key hash as written (lowercased) is one: else its problem is reported at `at`, saying
 * what it looks like instead, without echoing it (it may be a raw key pasted by mistake).
 */
function isKeyHash(hex: string, at: readonly PropertyKey[], report: Report): boolean {
  if (/^[0-9a-f]{64}$/.test(hex)) return true;
  // Not echoed: a value that is not a SHA-256 is likely the raw key pasted by mistake.
  // Hex of about a hash's length is a hash cut or doubled; other hex (openssl rand -hex) is a key.
  const length = hex.length;
  const wrongLength = /^[0-9a-f]+$/.test(hex) && ((length >= 56 && length <= 72) || length === 128);
  // A hash with more around it (E51): sha256sum's whole line ('<hash>  -'), a space, a block scalar's line break.
  const trimmed = hex.trim();
  if (/^[0-9a-f]{64}$/.test(trimmed)) {
    report(at, 'invalid_value', 'expected the 64 hex digits alone; this has a space or a line break around them', "remove it (a block scalar, '|', adds a line break: write the value on the key's line)");
    return false;
  }
  // openssl's line: 'SHA2-256(stdin)= <hash>' (3.x), '(stdin)= <hash>' (1.1), lowercased here.
  if (/^[a-z0-9-]*\([^)]*\)=\s*[0-9a-f]{64}$/.test(trimmed)) {
    report(at, 'invalid_value', "expected the 64 hex digits alone; this is openssl's whole line ('SHA2-256(stdin)= ' and the digits)", "keep the 64 hex digits after '= ': printf %s \"$KEY\" | openssl dgst -sha256 -r | cut -d' ' -f1");
    return false;
  }
  if (/^[0-9a-f]{64}\s+\S/.test(trimmed)) {
    report(at, 'invalid_value', "expected the 64 hex digits alone; this has more after them (sha256sum's whole line ends with the name of what it read, '-')", "keep the 64 hex digits: printf %s \"$KEY\" | sha256sum | cut -d' ' -f1");
    return false;
  }
  report(at, 'invalid_value', wrongLength ? `expected the hex SHA-256 of the key, 64 hex digits; this has ${String(length)} (cut or pasted twice?)` : 'expected the hex SHA-256 of the key (64 hex digits), not the key itself', "compute it with: printf %s \"$KEY\" | sha256sum | cut -d' ' -f1");
  return false;
}

/**
 * Orderings between resilience settings, the gateway's (at ['resilience']) or a route's over them (at
 * ['routes', i, 'resilience']). A setting left out has its default, or for a route the gateway's: a
 * conflict with one is reported at the setting that was written, saying where the other comes from.
 * For a route, a conflict between two settings it did not write is the gateway's, reported there.
 */
function checkResilience(resilience: ResilienceConfig, written: ReadonlySet<string>, report: Report, at: readonly PropertyKey[], invalid: ReadonlySet<string> = new Set()): void {
  const forRoute = at[0] === 'routes';
  const inconsistent = (field: keyof ResilienceConfig, other: keyof ResilienceConfig, relation: string, why: string): void => {
    if (forRoute && !written.has(field) && !written.has(other)) return;
    // A field written with a bad value is reported as such; it stands for no default here.
    if (invalid.has(field) || invalid.has(other)) return;
    if (!written.has(field) && written.has(other)) {
      const source = forRoute ? `the gateway's resilience.${field}` : `the default ${field}`;
      // A route sets only some fields; the others (tokenIdleTimeoutMs, the backoffs) are the gateway's to change.
      const fix = !forRoute ? `set ${field} to fit` : field in routeResilienceSchema.shape ? `set ${field} for this route too` : `set resilience.${field} to fit`;
      report([...at, other], 'inconsistent', `${other} (${resilience[other] as number}) conflicts with ${source} (${resilience[field] as number}), which ${relation} it`, `${why}: ${fix}, or change ${other}`);
    } else if (forRoute && !written.has(other)) {
      // The route wrote this one; the other is the gateway's.
      const fix = other in routeResilienceSchema.shape ? `set ${other} for this route too` : `set resilience.${other} to fit`;
      report([...at, field], 'inconsistent', `${field} (${resilience[field] as number}) ${relation} the gateway's resilience.${other} (${resilience[other] as number})`, `${why}: ${fix}, or change ${field}`);
    } else {
      report([...at, field], 'inconsistent', `${field} (${resilience[field] as number}) ${relation} ${other} (${resilience[other] as number})`, why);
    }
  };
  if (resilience.backoffMs > resilience.maxBackoffMs) inconsistent('backoffMs', 'maxBackoffMs', 'exceeds', 'raise maxBackoffMs or lower backoffMs');
  if (resilience.ttftTimeoutMs > resilience.deadlineMs) inconsistent('ttftTimeoutMs', 'deadlineMs', 'exceeds', 'the first token must be due before the whole request is');
  if (resilience.tokenIdleTimeoutMs >= resilience.deadlineMs) inconsistent('tokenIdleTimeoutMs', 'deadlineMs', 'is not below', 'a stalled stream must be cut before the deadline to be resumed');
  if (resilience.hedgeAfterMs >= resilience.deadlineMs) inconsistent('hedgeAfterMs', 'deadlineMs', 'is not before', 'hedge earlier, or set 0 to turn hedging off');
}

/**
 * Where a config value may be a key pasted in the wrong place, so that a problem with it describes it
 * rather than quoting it: an endpoint's headers and key variable, a tenant's key hash, a URL with
 * credentials, a query, a fragment or a word with a key's prefix (a key pasted as the URL), and a CORS
 * origin with a user (and so maybe a password) or a key's prefix.
 */
function mayHoldSecret(path: readonly PropertyKey[], value: unknown): boolean {
  // A key pasted into any field (a limit, a flag): what is wrong there is said, not the key.
  if (typeof value === 'string' && holdsKey(value)) return true;
  const [top, , field] = path;
  if (top === 'tenants') return field === 'apiKeySha256';
  // The block holds nothing but the scrape key: a value anywhere in it may be that key (R79: 'metrics: <key>').
  if (top === 'metrics') return true;
  // An origin with a user and password, or a key pasted in the wrong list.
  if (top === 'cors') return typeof value === 'string' && (value.includes('@') || holdsKey(value));
  if (top !== 'endpoints') return false;
  if (field === 'headers' || field === 'apiKeyEnv') return true;
  // A key of digits pasted as the URL reads as a number.
  return field === 'url' && (typeof value === 'number' || (typeof value === 'string' && (/[@?#]/.test(value) || holdsKey(value))));
}

/**
 * Whether an unknown field's name may be a key pasted without its field name: one that looks like a
 * key, or in the metrics block, which holds nothing but the scrape key, any name but a misspelling of
 * its one field (R79: 'metrics: { <key>: 1 }' named the key).
 */
function nameMayBeKey(name: string, path: readonly PropertyKey[]): boolean {
  if (holdsKey(name) || looksLikeKey(name)) return true;
  if (path[0] !== 'metrics') return false;
  // A misspelling, or a part of the name ('scrapeKey', 'scrape_key'), is named, with its fix.
  const plain = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return closestMatch(name, ['scrapeKeySha256']) === undefined && !(plain.length >= 6 && 'scrapekeysha256'.includes(plain));
}

/** Whether a URL's port digits name no port to connect to (0, or past 65535). */
function isNoPort(digits: string): boolean {
  return Number(digits) === 0 || Number(digits) > 65_535;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
