import { isJurisdictionShaped } from '../domain/jurisdictions.js';
import { didYouMean, someOf } from '../domain/suggest.js';
import type { ChatMessage, ContentPart } from '../protocol/chat.js';
import type { UpstreamTraits } from '../protocol/dialect.js';
import { dialectTraits } from '../protocol/dialect-traits.js';
import { quoteIdentifier } from '../protocol/request-problem.js';
import type { CircuitStatus } from './circuit-breaker.js';
import type { EndpointConfig, GatewayConfig, RouteConfig, RoutingPolicyName } from './gateway-config.js';
import { hashRingFor, walkRing } from './hash-ring.js';
import { unitInterval } from './unit-interval.js';

/**
 * THE routing decision: (request, endpoint states, policy) -> ranked endpoints.
 * Pure: no I/O, no clock, randomness only through the `random` argument, so the
 * gateway and the simulator run the same code and tests can seed it.
 *
 * ELIGIBILITY (hard; each step has its own failure):
 *  1. a route exists for the public model name                     else 404 no_route
 *  2. the endpoint's jurisdiction is in the effective set: the tenant's
 *     jurisdictions, intersected with the request header's when one is given.
 *     The header can only narrow. An empty set allows nothing (never fail open) else 503 jurisdiction
 *  3a-3f. what the request needs of an endpoint, checked in this order from the endpoints in its
 *     jurisdictions (answerSteps): first the needs token counts share (capabilitySteps, checked by
 *     routeTokenCount from the same endpoints, so both refuse a request alike), then an answer's
 *     own; where endpoints give each but none gives all a request needs, the failure says so, with
 *     the code of the step that emptied the set:
 *  3a. a request for structured output (a JSON schema or JSON mode response format, or strict
 *     tools) goes only to endpoints that constrain output (structuredOutputs); JSON mode (any
 *     object) not to Anthropic-dialect ones, whose API has schemas only; a schema with an object
 *     open to properties it does not list (a map, any object) not to Anthropic-dialect ones,
 *     which close every object                                       else 400 structured_output
 *  3b. a request that shows the model images goes only to endpoints that read them (images),
 *     and one with images by URL only to endpoints that may fetch them (imageUrls)  else 400 images
 *  3c. a request with PDF documents goes only to endpoints that read them (pdfs, by default
 *     Anthropic-dialect ones)                                         else 400 pdfs
 *  3d. a request for extended thinking goes only to Anthropic-dialect endpoints that think
 *     (thinking): no other API gives thinking with the signature Anthropic checks when it comes
 *     back                                                           else 400 thinking
 *  3e. a request that ends with an assistant turn the upstream would continue (a prefill, a
 *     resumed answer, or any trailing assistant turn for an Anthropic-dialect upstream, which
 *     reads one only as a prefill) goes only to endpoints that take prefills  else 400 prefill
 *  3f. a request that leaves the choice of its tools to the model (tool choice auto) goes only
 *     to endpoints that allow it (autoToolChoice)                else 400 auto_tool_choice
 *  3g. a response format not where the request continues an assistant turn (constrained
 *     decoding would start the JSON over after it)                   else 400 structured_output
 *  4. promptTokens + maxOutputTokens <= contextWindow; a longContext endpoint only
 *     when no ordinary endpoint that passed step 2 fits (it is reserved for requests
 *     that need it, even while the ordinary ones are down)          else 400 context
 *  5. the circuit is not open (half-open: only while halfOpenInFlight < halfOpenProbes),
 *     and the endpoint is not in excludeEndpoints (already tried)  else 503 unavailable
 *     PANIC (policy.panic, resilience.panicRouting): when step 5 leaves nothing but some
 *     endpoint was held back by its circuit alone (not already tried), those endpoints are
 *     ranked anyway and the decision says `panic`. Breakers that ejected every endpoint are
 *     likelier wrong (a burst of timeouts, a fault since healed, one probe holding the only
 *     half-open slot) than the whole fleet down, and a refusal would fail the request for
 *     certain (Envoy's panic threshold, at its lowest setting). They are ranked in random
 *     order, not by policy: the breakers cannot tell which endpoint recovered, and a fixed
 *     order would send every request to the same few (the cheapest, say) while a recovered
 *     one further down waited for its half-open probe. Steps 1-4 are never relaxed.
 *
 * SCORING among the eligible, by the route's policy list, lexicographically:
 * the eligible endpoints start as one tier (in route order); each policy in turn
 * splits every tier of two or more into ordered sub-tiers; the result is the tiers
 * concatenated. So a later policy only ever reorders endpoints an earlier one
 * left tied, and what is still tied after the last policy keeps route order.
 * Endpoints inside a Retry-After they sent (backedOff) then go last, the one whose wait ends
 * first first (policy order among ends within 25 ms): one that asked for a second does not go
 * before full replicas that asked for 80 ms only because it is idle and cheaper.
 *  - cost:       marginalCostPerMillionTokens ascending (free committed capacity first),
 *                endpoints with room (outstanding < capacity) before full ones, so
 *                traffic spills to the cheapest paid capacity once the free is full.
 *  - latency:    ewmaTtftMs x (1 + outstanding / capacity) ascending (so load spreads
 *                before an average rises); at or past capacity x 4, doubling per request
 *                queued there. An endpoint with none (never measured, or its
 *                average forgotten: see EndpointPool) is tried first when it has nothing
 *                outstanding, so it gets measured, and last while a request to it is
 *                out: one request at a time finds out, the rest go where it is known.
 *  - least-load: power of two choices on load = outstanding / capacity: two distinct
 *                endpoints sampled with `random`; the lower-load one is the first
 *                tier (both of them, as one tier in the order sampled, when their loads
 *                tie, so ties no later policy splits go either way at random); then the
 *                rest by load ascending.
 *  - prefix-affinity: bounded-load consistent hashing (Mirrokni, Thorup, Zadimoghaddam
 *                2018) on prefixKey over a ring of the route's endpoint ids (virtual
 *                nodes in proportion to capacity): walking
 *                clockwise from hash(prefixKey), endpoints within the load bound come
 *                first, in walk order, then the others in walk order. Every position
 *                is its own tier. Without a prefixKey the policy leaves the tier tied.
 *  - weighted:   a weighted random order (exponential race, one draw each), so an
 *                endpoint is first with probability weight / sum of weights; every
 *                position is its own tier.
 * Numeric keys (cost, latency, least-load's remainder) tie within 5%: a tier
 * holds the values v with v - lead <= 0.05 * |lead|, where lead is the tier's
 * smallest (so 0 ties only with 0). Tiers are built from the smallest value up,
 * so ties are well defined even though "within 5%" is not transitive.
 * Load bound: an endpoint takes the request when
 *   outstanding + 1 <= ceil(1.25 * (total outstanding + 1) * capacity / total capacity)
 * over the tier being ranked: the paper's bound with c = 1.25, counting the new
 * request and weighting by capacity. Some endpoint always meets it.
 * Affinity only orders endpoints that are already eligible; it never adds one.
 */

export interface EndpointLiveState {
  /** Requests in flight to the endpoint now. */
  readonly outstanding: number;
  /** Exponentially weighted mean time to first token, or undefined before any sample. */
  readonly ewmaTtftMs: number | undefined;
  readonly circuit: CircuitStatus;
  /** Half-open probes in flight (0 unless the circuit is half-open). */
  readonly halfOpenInFlight: number;
  /** The endpoint asked (Retry-After) not to be sent requests yet: ranked after the others. */
  readonly backedOff: boolean;
  /** When that wait ends (epoch ms; read only while backedOff): of backed-off endpoints, the soonest first. */
  readonly backedOffUntil: number;
}

export type EndpointView = EndpointConfig & EndpointLiveState;

export interface RouteInput {
  /** The public model name the client sent. */
  readonly model: string;
  readonly tenantJurisdictions: readonly string[];
  /** From the request header; undefined when absent. An empty list allows nothing. */
  readonly headerJurisdictions?: readonly string[];
  /** The jurisdiction the request body asked for (Anthropic `inference_geo`); narrows like the header. */
  readonly requestedGeography?: string;
  /** Estimated (see estimateTokens in src/protocol/chat.ts). */
  readonly promptTokens: number;
  /** The client's max output tokens, or the gateway's default when it gave none. */
  readonly maxOutputTokens: number;
  /** A hash of the prompt prefix, for prefix-affinity. */
  readonly prefixKey?: string;
  /** Endpoints already tried by this request (retries, hedges). */
  readonly excludeEndpoints?: ReadonlySet<string>;
  /**
   * The request ends with an assistant turn: to be continued (a prefill, a resumed answer) or to be
   * answered after (an OpenAI caller's finished turn). Undefined: it ends with another turn.
   */
  readonly trailingAssistant?: 'continue' | 'answer';
  /**
   * The same as an Anthropic-dialect upstream receives the request, where it differs: its encoder
   * moves system messages to the system prompt and leaves out turns without text, so [user,
   * assistant, system] ends with the assistant turn there. Undefined: as trailingAssistant.
   */
  readonly joinedTrailingAssistant?: 'continue' | 'answer';
  /** The request offers tools and leaves the choice to call them to the model (tool choice auto). */
  readonly needsAutoToolChoice?: boolean;
  /**
   * The output the request needs constrained: 'json_object', any JSON object (JSON mode);
   * 'json_schema', an answer matching a schema; 'strict_tools', tool arguments held to their
   * schemas (and no response format). Undefined: none.
   */
  readonly structuredOutput?: 'json_object' | 'json_schema' | 'strict_tools';
  /**
   * Where that schema opens an object to properties it does not list (a map, or any object), as
   * words for a refusal and the field to name: not to endpoints whose API closes every object, where
   * a map could only be empty (E49).
   */
  readonly openObject?: { readonly place: string; readonly param: 'tools' | 'response_format' };
  /** The request shows the model images. */
  readonly hasImages?: boolean;
  /** The request shows the model PDF documents. */
  readonly hasPdfs?: boolean;
  /** Some of its images are URLs, for the upstream to fetch: 'local' when one's host is plainly not public. */
  readonly imageUrls?: 'public' | 'local';
  /**
   * The request asks for extended thinking it must get (`enabled`: the answer starts with a thinking
   * block). Adaptive thinking, where the model decides whether to think, is no requirement.
   */
  readonly thinking?: boolean;
}

export interface RoutingPolicy {
  /** Routes by public model name. */
  readonly routes: ReadonlyMap<string, RouteConfig>;
  readonly halfOpenProbes: number;
  /** Rank circuit-ejected endpoints when nothing else is available (see PANIC above). */
  readonly panic: boolean;
}

export type RouteFailureCode = 'no_route' | 'jurisdiction' | 'prefill' | 'auto_tool_choice' | 'structured_output' | 'images' | 'pdfs' | 'thinking' | 'token_counting' | 'context' | 'unavailable';

export type RouteDecision =
  | { readonly ok: true; readonly ranked: EndpointView[]; /** Ranked despite open circuits (see PANIC above). */ readonly panic: boolean }
  | {
      readonly ok: false;
      readonly status: 503 | 404 | 400;
      readonly code: Exclude<RouteFailureCode, 'unavailable' | 'context'>;
      readonly message: string;
      /** The request field the failure is about, where one is (structured_output: tools or response_format). */
      readonly param?: string;
    }
  | {
      readonly ok: false;
      readonly status: 400;
      readonly code: 'context';
      readonly message: string;
      /** The largest context window among the endpoints the request may use. */
      readonly largestWindow: number;
      /** The request's estimated prompt and its output budget, as routed. */
      readonly promptTokens: number;
      readonly outputTokens: number;
    }
  | {
      readonly ok: false;
      readonly status: 503;
      readonly code: 'unavailable';
      readonly message: string;
      /** This request's eligible endpoints that their circuits hold back: when one takes a request again is theirs to say. */
      readonly ejected: readonly string[];
    };

type RouteFailure = Extract<RouteDecision, { ok: false }>;

const tieTolerance = 0.05;
const affinityLoadFactor = 1.25;

const prefixKeyChars = 2048;

/**
 * The prefix-affinity key of a conversation: its system messages and its first other turn, joined
 * one per line, up to 2,048 characters. Every later turn of a conversation starts with these, so
 * the whole conversation keys alike and stays on the replica whose KV cache holds its history;
 * conversations that share only a system prompt spread out (each replica caches a shared system
 * prompt once), unless that prompt alone fills the key. Built from slices of each turn, never by
 * joining the whole conversation: a slice of a joined copy would keep that copy alive for as long
 * as the request streams.
 */
export function prefixKeyOf(messages: readonly { readonly role: string; readonly content: string; readonly parts?: ChatMessage['parts'] }[]): string {
  let key = '';
  for (const [index, message] of messages.entries()) {
    if (key.length >= prefixKeyChars) break;
    if (index > 0) key += '\n';
    key += (message.parts === undefined ? message.content : partsKey(message.parts)).slice(0, prefixKeyChars - key.length);
    if (message.role !== 'system') break;
  }
  return key;
}

/**
 * A turn with images as the key reads it: its text, and each image by a short stand-in (a URL's
 * start; for inline data its length and 32 characters from its middle, where encoders differ
 * most), so conversations that begin with different images key apart, as a vision model's cache
 * keys them, without hashing megabytes per request.
 */
function partsKey(parts: readonly ContentPart[]): string {
  return parts
    .map((part) => {
      // Each part cut to the key's length before the join: joined whole, a long text document would be
      // copied, and that copy kept alive by the key (a slice keeps its string) for the request's life.
      if (part.type === 'text') return part.text.slice(0, prefixKeyChars);
      const source = part.source;
      if (source.type === 'text') return `<document ${source.text.slice(0, prefixKeyChars)}>`;
      if (source.type === 'url') return `<image ${source.url.slice(0, 256)}>`;
      const middle = Math.floor(source.data.length / 2);
      return `<image ${String(source.data.length)} ${source.data.slice(middle, middle + 32)}>`;
    })
    .join('\n');
}

/** Builds the routing policy once per config. */
export function routingPolicyFromConfig(config: Pick<GatewayConfig, 'routes' | 'resilience'>): RoutingPolicy {
  return { routes: new Map(config.routes.map((route) => [route.model, route])), halfOpenProbes: config.resilience.circuitBreaker.halfOpenProbes, panic: config.resilience.panicRouting };
}

/**
 * A jurisdiction header's value as a list: comma-separated, trimmed, lowercased.
 * Undefined (no header) leaves the tenant's set; a present header that names
 * nothing gives [] and so allows nothing. Sent on several lines, each line
 * narrows: the jurisdictions every line names (a proxy that adds a line to pin a
 * request is never widened by a line the client sent).
 */
export function parseJurisdictionHeader(value: string | readonly string[] | undefined): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    const [first, ...rest] = value.map((line) => parseJurisdictionHeader(line) ?? []);
    return (first ?? []).filter((jurisdiction) => rest.every((line) => line.includes(jurisdiction)));
  }
  return value.split(',').map((part) => part.trim().toLowerCase()).filter((part) => part !== '');
}

/**
 * The first part of a jurisdiction header that is no jurisdiction name (`us eu`, `us;eu`): read as a
 * name it would narrow to nothing, and the 503 would hide the slip. Undefined when every part is one.
 */
export function malformedJurisdictionHeader(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  for (const line of typeof value === 'string' ? [value] : value) {
    for (const part of line.split(',')) {
      const name = part.trim();
      if (name !== '' && !isJurisdictionShaped(name)) return name;
    }
  }
  return undefined;
}

export function routeRequest(request: RouteInput, endpoints: readonly EndpointView[], policy: RoutingPolicy, random: () => number): RouteDecision {
  const place = inJurisdictionOf(request, endpoints, policy);
  if (!('route' in place)) return place;
  const { route, candidates, allowed, inJurisdiction } = place;
  const capable = capableOf(request, inJurisdiction, allowed, answerSteps);
  if ('ok' in capable) return capable;
  const formatting = request.structuredOutput === 'json_object' || request.structuredOutput === 'json_schema' ? capable.filter((endpoint) => !continuesAssistant(endpoint, request)) : capable;
  if (formatting.length === 0) return formatAfterPrefillFailure(request, allowed);
  const needed = request.promptTokens + request.maxOutputTokens;
  const fitting = fitContext(formatting, needed);
  if (fitting.length === 0) return contextFailure(request, allowed, formatting, needed);
  const available = fitting.filter((endpoint) => unavailableReason(endpoint, policy.halfOpenProbes, request.excludeEndpoints) === undefined);
  if (available.length > 0) return { ok: true, ranked: lastIfBackedOff(rankEndpoints(available, candidates, route, request.prefixKey, random)), panic: false };
  const ejected = policy.panic ? fitting.filter((endpoint) => request.excludeEndpoints?.has(endpoint.id) !== true) : [];
  if (ejected.length > 0) return { ok: true, ranked: shuffled(ejected, random), panic: true };
  return unavailableFailure(request, allowed, fitting, policy.halfOpenProbes);
}

/**
 * Where a token count (Anthropic's count_tokens) may go: the route's endpoints in the request's
 * jurisdictions, hard as for an answer, that count tokens (Anthropic-dialect endpoints not marked
 * tokenCounting: false) and could answer the same request (thinking, images, structured output:
 * one that could not may refuse to count it), not already asked, ranked by the route's policy.
 * Those with closed circuits come first; then half-open ones, then (under panic routing) open ones:
 * a count neither probes nor moves a circuit, which judges answers, so an endpoint an answer has
 * not yet probed may count (held back, it would stay so for counts while answers went elsewhere,
 * and every count fail for certain). Windows that fit the prompt come before all those, but a
 * prompt no window fits is still counted (that is what a client counts to find out): no output
 * budget applies, as nothing is generated.
 */
export function routeTokenCount(request: RouteInput, endpoints: readonly EndpointView[], policy: RoutingPolicy, random: () => number): RouteDecision {
  const place = inJurisdictionOf(request, endpoints, policy);
  if (!('route' in place)) return place;
  const { route, candidates, allowed, inJurisdiction } = place;
  // A route that counts nowhere is said so first: no other need of the request could change that.
  if (!inJurisdiction.some(counts)) return tokenCountingFailure(request, allowed);
  const capable = capableOf(request, inJurisdiction, allowed, countSteps);
  if ('ok' in capable) return capable;
  // A reserved long-context window counts only what it would answer: prompts no ordinary window
  // holds (R29: one counted a short prompt an ordinary endpoint had failed to count).
  const ordinaryFits = capable.some((endpoint) => !endpoint.longContext && request.promptTokens <= endpoint.contextWindow);
  const countable = ordinaryFits ? capable.filter((endpoint) => !endpoint.longContext) : capable;
  const available = countable.filter((endpoint) => request.excludeEndpoints?.has(endpoint.id) !== true && (endpoint.circuit !== 'open' || policy.panic));
  // Half-open endpoints are never "probe in flight" here: counts take no probe slot.
  if (available.length === 0) return unavailableFailure(request, allowed, countable, Number.POSITIVE_INFINITY);
  const fitting = fitContext(available, request.promptTokens);
  const rest = available.filter((endpoint) => !fitting.includes(endpoint));
  // Each by circuit (closed, half-open, open), then by the route's policy.
  const byCircuit = (group: readonly EndpointView[]): EndpointView[] =>
    (['closed', 'half-open', 'open'] as const).flatMap((circuit) => {
      const alike = group.filter((endpoint) => endpoint.circuit === circuit);
      return alike.length === 0 ? [] : rankEndpoints(alike, candidates, route, request.prefixKey, random);
    });
  // A Retry-After ranks an endpoint last among those of its fit, not after windows too small.
  // Backed-off counts by wait within their circuit's place, not across it (R24).
  const circuitRank = (endpoint: EndpointView): number => (endpoint.circuit === 'closed' ? 0 : endpoint.circuit === 'half-open' ? 1 : 2);
  return { ok: true, ranked: [...lastIfBackedOff(byCircuit(fitting), circuitRank), ...lastIfBackedOff(byCircuit(rest), circuitRank)], panic: available.every((endpoint) => endpoint.circuit === 'open') };
}

// ---- eligibility

/** The request's route, its endpoints, and those of them in its jurisdictions (some, or a failure). */
function inJurisdictionOf(request: RouteInput, endpoints: readonly EndpointView[], policy: RoutingPolicy): RouteFailure | { readonly route: RouteConfig; readonly candidates: EndpointView[]; readonly allowed: ReadonlySet<string>; readonly inJurisdiction: EndpointView[] } {
  const route = policy.routes.get(request.model);
  if (route === undefined) return noRoute(request.model, policy.routes);
  const candidates = routeCandidates(route, endpoints);
  if (candidates.length === 0) return { ok: false, status: 503, code: 'unavailable', message: `no endpoint for model ${quoteIdentifier(request.model)} is known to the gateway right now`, ejected: [] };
  const allowed = effectiveJurisdictions(request);
  const inJurisdiction = candidates.filter((endpoint) => allowed.has(endpoint.jurisdiction));
  if (inJurisdiction.length === 0) return jurisdictionFailure(request, allowed, candidates);
  return { route, candidates, allowed, inJurisdiction };
}

/** A capability a request may need of its endpoint: answers and counts check them in this one order. */
interface CapabilityStep {
  /** The capability, as a failure that names several says it. */
  readonly what: string;
  /** What a caller can do without it, said when no endpoint gives it with the request's other needs (`capable`: those that give the needs before it). */
  readonly without: string | ((request: RouteInput, capable: readonly EndpointView[]) => string);
  readonly needed: (request: RouteInput) => boolean;
  readonly gives: (endpoint: EndpointView, request: RouteInput) => boolean;
  readonly failure: (request: RouteInput, allowed: ReadonlySet<string>) => RouteFailure;
}

/** What answers and counts both need of an endpoint, checked first, from the same endpoints, so that both refuse a request alike. */
const capabilitySteps: readonly CapabilityStep[] = [
  { what: 'structured output', without: 'leave the format out (response_format, or output_config.format), or turn strict off on its tools', needed: (request) => request.structuredOutput !== undefined, gives: constrains, failure: structuredOutputFailure },
  { what: 'images', without: (request, capable) => (request.imageUrls !== undefined && capable.some((endpoint) => endpoint.images) ? 'send the images inline (base64), or the request without them' : 'send the request without images'), needed: (request) => request.hasImages === true, gives: (endpoint, request) => endpoint.images && fetches(endpoint, request.imageUrls), failure: imagesFailure },
  { what: 'PDF documents', without: "send the document's text instead", needed: (request) => request.hasPdfs === true, gives: readsPdfs, failure: pdfsFailure },
  { what: 'extended thinking', without: 'send thinking of type adaptive or disabled', needed: (request) => request.thinking === true, gives: thinks, failure: thinkingFailure },
];

/** An answer's needs: the shared ones, then those of answering (a prefill taken, tool choice left to the model). */
const answerSteps: readonly CapabilityStep[] = [
  ...capabilitySteps,
  { what: 'a prefill (continuing the last assistant turn)', without: 'end the conversation with a user turn', needed: (request) => request.trailingAssistant !== undefined || request.joinedTrailingAssistant !== undefined, gives: (endpoint, request) => takesEnding(endpoint, endingAt(endpoint, request)), failure: prefillFailure },
  { what: 'tool choice auto', without: 'name the tool to call, or require a call, in tool_choice', needed: (request) => request.needsAutoToolChoice === true, gives: (endpoint) => endpoint.autoToolChoice, failure: autoToolChoiceFailure },
];

/** A count's needs: the shared ones, then counting itself. */
const countSteps: readonly CapabilityStep[] = [...capabilitySteps, { what: 'token counting', without: "read the input tokens from an answer's usage instead", needed: () => true, gives: counts, failure: tokenCountingFailure }];

/**
 * The endpoints that give every capability the request needs, or why none does. Where some endpoint
 * in the request's jurisdictions gives the capability a step lacks but none gives it with those the
 * request needed before it, the failure says so: "none gives extended thinking" would be false of a
 * route that has it (R50, R51).
 */
function capableOf(request: RouteInput, endpoints: readonly EndpointView[], allowed: ReadonlySet<string>, steps: readonly CapabilityStep[]): readonly EndpointView[] | RouteFailure {
  let capable = endpoints;
  const before: CapabilityStep[] = [];
  for (const step of steps) {
    if (!step.needed(request)) continue;
    const giving = capable.filter((endpoint) => step.gives(endpoint, request));
    if (giving.length > 0) {
      capable = giving;
      before.push(step);
      continue;
    }
    const failure = step.failure(request, allowed);
    if (!endpoints.some((endpoint) => step.gives(endpoint, request))) return failure;
    const together = before.map((need) => need.what).join(' and ');
    return { ...failure, message: `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)} gives ${step.what} together with ${together}, which this request needs all of: some give each, none gives all; ${typeof step.without === 'string' ? step.without : step.without(request, capable)}, or ask the operator for a route whose endpoints give all` };
  }
  return capable;
}

/** What every server of the endpoint's dialect can be sent. */
function traitsOf(endpoint: EndpointView): UpstreamTraits {
  return dialectTraits[endpoint.dialect];
}

/** The turn the request ends with as the endpoint receives it. */
function endingAt(endpoint: EndpointView, request: RouteInput): RouteInput['trailingAssistant'] {
  return traitsOf(endpoint).systemPromptApart ? (request.joinedTrailingAssistant ?? request.trailingAssistant) : request.trailingAssistant;
}

/** Whether an endpoint can serve a request that ends so: a prefill only where prefills are taken. */
function takesEnding(endpoint: EndpointView, ending: 'continue' | 'answer' | undefined): boolean {
  return ending === undefined || endpoint.prefill || (ending === 'answer' && !traitsOf(endpoint).trailingAssistantIsPrefill);
}

/** Whether an endpoint constrains output as a request needs: JSON mode only where the API has it, open objects only where it keeps them open. */
function constrains(endpoint: EndpointView, request: RouteInput): boolean {
  const traits = traitsOf(endpoint);
  return endpoint.structuredOutputs && (request.structuredOutput !== 'json_object' || traits.jsonMode) && (request.openObject === undefined || !traits.closesEveryObject);
}

/** Whether the endpoint reads PDFs: as configured, else as its dialect's servers do. */
function readsPdfs(endpoint: EndpointView): boolean {
  return endpoint.pdfs ?? traitsOf(endpoint).pdfsByDefault;
}

/** Whether the endpoint gives extended thinking a caller can send back: its API signs thinking, and it is not marked thinking: false. */
function thinks(endpoint: EndpointView): boolean {
  return traitsOf(endpoint).signedThinking && endpoint.thinking;
}

/** Whether the endpoint counts tokens: its API has counting, and it is not marked tokenCounting: false. */
function counts(endpoint: EndpointView): boolean {
  return traitsOf(endpoint).countsTokens && endpoint.tokenCounting;
}

/** Whether the endpoint may be given the request's image URLs to fetch. */
function fetches(endpoint: EndpointView, urls: RouteInput['imageUrls']): boolean {
  return urls === undefined || endpoint.imageUrls === 'any' || (urls === 'public' && endpoint.imageUrls === 'public');
}

/** Whether the endpoint would continue the request's trailing assistant turn. */
function continuesAssistant(endpoint: EndpointView, request: RouteInput): boolean {
  const ending = endingAt(endpoint, request);
  return ending === 'continue' || (ending === 'answer' && traitsOf(endpoint).trailingAssistantIsPrefill);
}

/** The route's endpoints that have a view, each once, in route order. */
function routeCandidates(route: RouteConfig, endpoints: readonly EndpointView[]): EndpointView[] {
  // Plain loops: this runs per request, and flatMap is markedly slower in V8.
  const byId = new Map<string, EndpointView>();
  for (const endpoint of endpoints) byId.set(endpoint.id, endpoint);
  const candidates: EndpointView[] = [];
  // A large route's duplicates are found in a set: `includes` over hundreds of endpoints each is quadratic.
  const seen = route.endpoints.length > 16 ? new Set<EndpointView>() : undefined;
  for (const id of route.endpoints) {
    const endpoint = byId.get(id);
    if (endpoint === undefined || (seen === undefined ? candidates.includes(endpoint) : seen.has(endpoint))) continue;
    candidates.push(endpoint);
    seen?.add(endpoint);
  }
  return candidates;
}

/** The tenant's jurisdictions, narrowed by the header's and by the requested geography, when sent. */
export function effectiveJurisdictions(request: Pick<RouteInput, 'tenantJurisdictions' | 'headerJurisdictions' | 'requestedGeography'>): ReadonlySet<string> {
  let allowed = new Set(request.tenantJurisdictions);
  if (request.headerJurisdictions !== undefined) {
    const header = new Set(request.headerJurisdictions);
    allowed = new Set([...allowed].filter((jurisdiction) => header.has(jurisdiction)));
  }
  if (request.requestedGeography !== undefined) {
    const geography = request.requestedGeography;
    allowed = new Set([...allowed].filter((jurisdiction) => jurisdiction === geography));
  }
  return allowed;
}

/** Ordinary endpoints whose window fits; the reserved long-context ones only when none does. */
function fitContext(endpoints: readonly EndpointView[], needed: number): EndpointView[] {
  // NaN fits nothing: a broken estimate fails closed.
  const fits = endpoints.filter((endpoint) => needed <= endpoint.contextWindow);
  const ordinary = fits.filter((endpoint) => !endpoint.longContext);
  return ordinary.length > 0 ? ordinary : fits;
}

type UnavailableReason = 'circuit open' | 'half-open probe in flight' | 'already tried';
/** Each reason said of several endpoints. */
const severalUnavailable: Readonly<Record<UnavailableReason, string>> = { 'circuit open': 'circuits open', 'half-open probe in flight': 'half-open probes in flight', 'already tried': 'already tried' };

function unavailableReason(endpoint: EndpointView, halfOpenProbes: number, exclude: ReadonlySet<string> | undefined): UnavailableReason | undefined {
  if (endpoint.circuit === 'open') return 'circuit open';
  if (endpoint.circuit === 'half-open' && endpoint.halfOpenInFlight >= halfOpenProbes) return 'half-open probe in flight';
  if (exclude?.has(endpoint.id) === true) return 'already tried';
  return undefined;
}

/** A uniformly random order (Fisher-Yates with the injected random). */
function shuffled(endpoints: readonly EndpointView[], random: () => number): EndpointView[] {
  const order = [...endpoints];
  for (let index = order.length - 1; index > 0; index -= 1) {
    const other = Math.floor(unitInterval(random()) * (index + 1));
    [order[index], order[other]] = [order[other] as EndpointView, order[index] as EndpointView];
  }
  return order;
}

// ---- failures: one clear sentence each, safe to send to the client

function noRoute(model: string, routes: ReadonlyMap<string, RouteConfig>): RouteFailure {
  const known = [...routes.keys()];
  const hint = didYouMean(model, known) ?? `known models: ${someOf(known)}`;
  return { ok: false, status: 404, code: 'no_route', message: `no route for model ${quoteIdentifier(model)}; ${hint}` };
}

function jurisdictionFailure(request: RouteInput, allowed: ReadonlySet<string>, candidates: readonly EndpointView[]): RouteFailure {
  const model = quoteIdentifier(request.model);
  // What the tenant and the header allow: the geography only narrows it further.
  const beforeGeography = effectiveJurisdictions({ tenantJurisdictions: request.tenantJurisdictions, ...(request.headerJurisdictions === undefined ? {} : { headerJurisdictions: request.headerJurisdictions }) });
  let message: string;
  if (allowed.size > 0) {
    message = `no endpoint for model ${model} in jurisdictions ${list(allowed)}: candidates are in ${uniqueSorted(candidates.map((endpoint) => endpoint.jurisdiction)).join(', ')}`;
  } else if (request.requestedGeography !== undefined && beforeGeography.size > 0) {
    message = `no endpoint for model ${model}: the request's inference_geo ${quoteIdentifier(request.requestedGeography)} is not among the jurisdictions this request may use ${list(beforeGeography)}, so nothing is allowed`;
  } else if (request.headerJurisdictions !== undefined && request.headerJurisdictions.length === 0) {
    message = `no endpoint for model ${model}: the request's jurisdiction header names no jurisdiction (it is empty, or its lines have none in common), so nothing is allowed`;
  } else if (request.headerJurisdictions !== undefined) {
    message = `no endpoint for model ${model}: the request's jurisdiction header ${list(request.headerJurisdictions.slice(0, 10).map(shownHeaderValue))} names none of the tenant's allowed jurisdictions ${list(request.tenantJurisdictions)}, so nothing is allowed`;
  } else {
    // A tenant is configured with one jurisdiction at least: none is a reload's doing, which may
    // have narrowed the tenant's or revoked the request's key (E57: a revoked key read as the former).
    message = `no endpoint for model ${model}: this request may use no jurisdiction now: a reload took them from its tenant, or took away the key it came with`;
  }
  return { ok: false, status: 503, code: 'jurisdiction', message };
}

/**
 * A jurisdiction header's value as quoted back: a name, at most 32 characters; anything else (node
 * reads header bytes as Latin-1, so non-ASCII would come out garbled) is said to be no name.
 */
function shownHeaderValue(value: string): string {
  if (!/^[a-z0-9][a-z0-9._:-]*$/.test(value)) return '<not a jurisdiction name>';
  return value.length > 32 ? `${value.slice(0, 32)}...` : value;
}

function prefillFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const message = `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)} continues a conversation that ends with an assistant turn (a prefill): end it with a user turn`;
  return { ok: false, status: 400, code: 'prefill', message };
}

function autoToolChoiceFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const message = `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)} lets the model choose its tools (tool choice auto): name the tool to call or require a call in tool_choice, or ask the operator for a route whose endpoints allow it`;
  return { ok: false, status: 400, code: 'auto_tool_choice', message };
}

function structuredOutputFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const where = `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)}`;
  const param = request.structuredOutput === 'json_object' ? 'response_format' : (request.openObject?.param ?? (request.structuredOutput === 'strict_tools' ? 'tools' : 'response_format'));
  return { ok: false, status: 400, code: 'structured_output', message: `${where} ${structuredOutputNeed(request)}`, param };
}

/** What a request for structured output needs that no endpoint gave, and what to do. */
function structuredOutputNeed(request: RouteInput): string {
  if (request.openObject !== undefined && request.structuredOutput !== 'json_object') {
    return `holds output to this schema as it is: ${request.openObject.place} is an object open to properties it does not list (a map: additionalProperties or unevaluatedProperties true or a schema, or patternProperties; or an object of no properties: any object), which Anthropic-dialect endpoints close to its listed properties: write it with its properties listed and no map (additionalProperties false, no patternProperties or unevaluatedProperties), or ask the operator for a route with an endpoint that keeps it open (OpenAI dialect)`;
  }
  if (request.structuredOutput === 'json_object') return 'writes answers in JSON mode (response_format json_object; Anthropic-dialect endpoints have JSON schemas only): send a json_schema response format, or ask the operator for a route whose endpoints take JSON mode';
  if (request.structuredOutput === 'strict_tools') return 'holds tool arguments to their schemas (strict tools): leave strict out, or ask the operator for a route whose endpoints do';
  return 'holds answers to a JSON schema (structured output): leave the format out (response_format, or output_config.format), or ask the operator for a route whose endpoints do';
}

function formatAfterPrefillFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const message = `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)} can write a structured answer that continues the conversation's last assistant turn (constrained decoding starts the JSON over after it): end the conversation with a user turn`;
  return { ok: false, status: 400, code: 'structured_output', message, param: 'messages' };
}

function thinkingFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const message = `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)} gives extended thinking (Anthropic-dialect endpoints only, not marked thinking: false): send thinking of type adaptive (the model then decides whether to think, and any endpoint may answer) or disabled, or ask the operator for a route to a model that thinks`;
  return { ok: false, status: 400, code: 'thinking', message, param: 'thinking' };
}

function tokenCountingFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const message = `token counting for model ${quoteIdentifier(request.model)} is not served here: no endpoint in jurisdictions ${list(allowed)} counts tokens (Anthropic-dialect endpoints only, not marked tokenCounting: false); each answer's usage has its input tokens`;
  return { ok: false, status: 404, code: 'token_counting', message };
}

function pdfsFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const message = `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)} reads PDF documents (Anthropic-dialect endpoints, and others marked pdfs: true): send the document's text instead, or ask the operator for a route whose endpoints read PDFs`;
  return { ok: false, status: 400, code: 'pdfs', message, param: 'messages' };
}

function imagesFailure(request: RouteInput, allowed: ReadonlySet<string>): RouteFailure {
  const where = `no endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)}`;
  const message =
    request.imageUrls === 'local'
      ? `${where} reads images and may fetch them from a local or private address: send the images inline (base64), or ask the operator for a route whose endpoints may (imageUrls: any)`
      : request.imageUrls === 'public'
      ? `${where} reads images it is given by URL: send the images inline (base64), or ask the operator for a route whose endpoints read images and may fetch URLs`
      : `${where} reads images: send the request without them, or ask the operator for a route to a vision model`;
  return { ok: false, status: 400, code: 'images', message, param: 'messages' };
}

function contextFailure(request: RouteInput, allowed: ReadonlySet<string>, inJurisdiction: readonly EndpointView[], needed: number): RouteFailure {
  const largest = Math.max(...inJurisdiction.map((endpoint) => endpoint.contextWindow));
  // Where the model is served among the request's allowed jurisdictions: those the windows were read in.
  const served = new Set(inJurisdiction.map((endpoint) => endpoint.jurisdiction).filter((jurisdiction) => allowed.has(jurisdiction)));
  const where = `for model ${quoteIdentifier(request.model)} in jurisdictions ${list(served)} is ${String(largest)}`;
  // A prompt that fills the window alone: a smaller max_tokens would not help, and saying so would mislead.
  if (request.promptTokens >= largest) {
    return { ok: false, status: 400, code: 'context', message: `the prompt alone is about ${String(request.promptTokens)} tokens, and the largest context window ${where}: shorten the prompt`, largestWindow: largest, promptTokens: request.promptTokens, outputTokens: request.maxOutputTokens };
  }
  const message =
    `the request needs about ${String(needed)} tokens (prompt about ${String(request.promptTokens)} plus up to ${String(request.maxOutputTokens)} output) ` +
    `but the largest context window ${where}: shorten the prompt or lower max_tokens`;
  return { ok: false, status: 400, code: 'context', message, largestWindow: largest, promptTokens: request.promptTokens, outputTokens: request.maxOutputTokens };
}

function unavailableFailure(request: RouteInput, allowed: ReadonlySet<string>, fitting: readonly EndpointView[], halfOpenProbes: number): RouteFailure {
  const counts = new Map<UnavailableReason, number>();
  const ejected: string[] = [];
  for (const endpoint of fitting) {
    const reason = unavailableReason(endpoint, halfOpenProbes, request.excludeEndpoints);
    if (reason !== undefined) counts.set(reason, (counts.get(reason) ?? 0) + 1);
    if (reason === 'circuit open' || reason === 'half-open probe in flight') ejected.push(endpoint.id);
  }
  const reasons = [...counts].map(([reason, count]) => `${String(count)} ${count === 1 ? reason : severalUnavailable[reason]}`).join(', ');
  return { ok: false, status: 503, code: 'unavailable', message: `no available endpoint for model ${quoteIdentifier(request.model)} in jurisdictions ${list(allowed)}: ${reasons}`, ejected };
}

function list(values: Iterable<string>): string {
  return `[${uniqueSorted(values).join(', ')}]`;
}

function uniqueSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

// ---- scoring

/**
 * The ranking with endpoints inside their Retry-After moved last, in order. A 429 does not count
 * against a circuit (the endpoint is busy, not broken), so this is what keeps fresh requests
 * from going to it first while others have room.
 */
function lastIfBackedOff(ranked: EndpointView[], groupOf: (endpoint: EndpointView) => number = () => 0): EndpointView[] {
  if (!ranked.some((endpoint) => endpoint.backedOff)) return ranked;
  const waiting = ranked.filter((endpoint) => endpoint.backedOff);
  // Ends within waitTieMs of the soonest in their run are one (two asked for the same wait a moment
  // apart): those keep the order they were ranked in.
  const byEnd = [...waiting].sort((a, b) => groupOf(a) - groupOf(b) || a.backedOffUntil - b.backedOffUntil);
  const bucket = new Map<EndpointView, number>();
  let lead: EndpointView | undefined;
  let run = 0;
  for (const endpoint of byEnd) {
    if (lead === undefined || groupOf(endpoint) !== groupOf(lead) || endpoint.backedOffUntil - lead.backedOffUntil > waitTieMs) {
      lead = endpoint;
      run += 1;
    }
    bucket.set(endpoint, run);
  }
  // Sorting is stable: within a run, the ranked order.
  waiting.sort((a, b) => (bucket.get(a) ?? 0) - (bucket.get(b) ?? 0));
  return [...ranked.filter((endpoint) => !endpoint.backedOff), ...waiting];
}

/**
 * Waits that end this close together are one (see lastIfBackedOff): asked at about the same moment.
 * Small, since a wait may be exact to the millisecond (retry-after-ms): R25 saw 250 ms put an idle
 * paid endpoint's 300 ms wait level with full free replicas' 80 ms.
 */
const waitTieMs = 25;

type Tier = readonly EndpointView[];

interface ScoringContext {
  readonly route: RouteConfig;
  readonly prefixKey: string | undefined;
  readonly random: () => number;
  /** Every endpoint of the route with a view, eligible or not (the affinity ring holds them all). */
  readonly routeEndpoints: readonly EndpointView[];
}

function rankEndpoints(eligible: readonly EndpointView[], routeEndpoints: readonly EndpointView[], route: RouteConfig, prefixKey: string | undefined, random: () => number): EndpointView[] {
  const context: ScoringContext = { route, routeEndpoints, prefixKey, random };
  let tiers: Tier[] = [eligible];
  for (const name of route.policy) {
    const split: Tier[] = [];
    for (const tier of tiers) {
      if (tier.length > 1) split.push(...splitTier(name, tier, context));
      else split.push(tier);
    }
    tiers = split;
  }
  const ranked: EndpointView[] = [];
  for (const tier of tiers) ranked.push(...tier);
  return ranked;
}

function splitTier(name: RoutingPolicyName, tier: Tier, context: ScoringContext): Tier[] {
  switch (name) {
    case 'cost': {
      // Committed capacity is free only while it has room: a full endpoint goes behind every
      // endpoint with room, so traffic spills to paid capacity instead of queueing on free.
      const cost = (endpoint: EndpointView): number => endpoint.marginalCostPerMillionTokens;
      const full = (endpoint: EndpointView): boolean => outstandingOf(endpoint) >= endpoint.capacity;
      return [...numericTiers(tier.filter((endpoint) => !full(endpoint)), cost), ...numericTiers(tier.filter(full), cost)];
    }
    case 'latency':
      // The TTFT a request would see: the average, stretched by the share of the endpoint in use (a
      // queue behind the fastest is not fast). Alone, the bare average sent everything to one
      // endpoint until its TTFT rose, then to the next (E34). A full endpoint is not put after the
      // others outright: a hung one's lower bound, or one being measured, would then take the
      // overflow, each caller paying a TTFT timeout (R24). A request that would queue there (the
      // endpoint at or past capacity) waits for a sequence to end, far longer than a TTFT: 4x, doubling
      // for each already queued (R25, R27; capped only far beyond any real queue, so keys stay finite).
      return numericTiers(tier, (endpoint) => {
        const known = knownTtft(endpoint);
        if (known === undefined) return outstandingOf(endpoint) === 0 ? 0 : Number.MAX_VALUE;
        // Below the clock's millisecond an average reads as one: one of 0 (a TTFT the clock did not
        // see) stayed 0 at any load, and every request herded onto that endpoint.
        const ttft = Math.max(1, known);
        const outstanding = outstandingOf(endpoint);
        const capacity = Math.max(1, endpoint.capacity);
        return ttft * (outstanding < capacity ? 1 + outstanding / capacity : 2 ** (2 + Math.min(outstanding - capacity, 900)));
      });
    case 'least-load':
      return powerOfTwoTiers(tier, context.random);
    case 'prefix-affinity':
      return context.prefixKey === undefined ? [tier] : affinityTiers(tier, context.prefixKey, context.route, context.routeEndpoints);
    case 'weighted':
      return weightedOrder(tier, context.random).map((endpoint) => [endpoint]);
  }
}

/** Sorted by key (stable, so ties keep their order), grouped within tieTolerance of each group's smallest. */
function numericTiers(tier: Tier, key: (endpoint: EndpointView) => number): Tier[] {
  const sorted = tier.map((endpoint) => ({ endpoint, value: key(endpoint) })).sort((a, b) => a.value - b.value);
  const tiers: EndpointView[][] = [];
  let lead = Number.NaN;
  for (const { endpoint, value } of sorted) {
    const current = tiers.at(-1);
    if (current !== undefined && withinTolerance(lead, value)) current.push(endpoint);
    else {
      tiers.push([endpoint]);
      lead = value;
    }
  }
  return tiers;
}

function withinTolerance(lead: number, value: number): boolean {
  return value - lead <= tieTolerance * Math.abs(lead);
}

/**
 * The share of its capacity an endpoint would be using with this request on it: counting the
 * request itself, an idle endpoint of 32 ranks before an idle one of 4, and load per capacity
 * evens out when capacities differ (without it, both read 0 and the small one filled as fast).
 */
function load(endpoint: EndpointView): number {
  return endpoint.capacity > 0 ? (outstandingOf(endpoint) + 1) / endpoint.capacity : Number.POSITIVE_INFINITY;
}

/** In-flight requests, with a nonsensical count read as none. */
function outstandingOf(endpoint: EndpointView): number {
  return Number.isFinite(endpoint.outstanding) && endpoint.outstanding > 0 ? endpoint.outstanding : 0;
}

/** Power of two choices: the better of two random picks first, then the rest by load. */
function powerOfTwoTiers(tier: Tier, random: () => number): Tier[] {
  const [first, second] = sampleTwo(tier, random);
  // A tie (loads within 5%) stays one tier for the next policy, the lower load first and equal
  // loads in the order sampled: if nothing splits it, equal loads go either way at random. In
  // route order, at light load (every endpoint idle) the first endpoint would take every request
  // and the last none.
  const head = withinTolerance(Math.min(load(first), load(second)), Math.max(load(first), load(second))) ? [first, second] : [load(first) <= load(second) ? first : second];
  const rest = numericTiers(tier.filter((endpoint) => !head.includes(endpoint)), load);
  return [sortByLoad(head), ...rest];
}

function sortByLoad(tier: Tier): Tier {
  return [...tier].sort((a, b) => load(a) - load(b));
}

/** Two distinct members (the tier has at least two). */
function sampleTwo(tier: Tier, random: () => number): [EndpointView, EndpointView] {
  const firstIndex = Math.floor(unitInterval(random()) * tier.length);
  let secondIndex = Math.floor(unitInterval(random()) * (tier.length - 1));
  if (secondIndex >= firstIndex) secondIndex += 1;
  const first = tier[firstIndex];
  const second = tier[secondIndex];
  if (first === undefined || second === undefined) throw new Error('sampleTwo needs a tier of at least two');
  return [first, second];
}

/** How many endpoints the prefix-affinity ring walk orders; the rest of a larger tier follow in its order. */
const affinityWalkLength = 16;

/** Bounded-load consistent hashing: the ring walk from the prefix, within-bound endpoints first. */
function affinityTiers(tier: Tier, prefixKey: string, route: RouteConfig, routeEndpoints: readonly EndpointView[]): Tier[] {
  const byId = new Map(tier.map((endpoint) => [endpoint.id, endpoint]));
  // The ring holds every endpoint of the route, so a key keeps its place as others come and go,
  // each with a share of the ring in proportion to its capacity.
  const capacities = new Map(routeEndpoints.map((endpoint) => [endpoint.id, endpoint.capacity]));
  const totalOutstanding = tier.reduce((sum, endpoint) => sum + outstandingOf(endpoint), 0);
  const totalCapacity = tier.reduce((sum, endpoint) => sum + endpoint.capacity, 0);
  const withinBound = (endpoint: EndpointView): boolean =>
    outstandingOf(endpoint) + 1 <= Math.ceil((affinityLoadFactor * (totalOutstanding + 1) * endpoint.capacity) / totalCapacity);
  // The walk's first endpoints are where the prefix's KV cache is, and usually where it goes: the
  // whole ring (most of it is walked to meet every endpoint) only when all of those are over the
  // bound, so that a hot prefix's overflow still goes to the ring's next, not to the tier's first.
  const ring = hashRingFor(route.endpoints, (id) => capacities.get(id) ?? 1);
  const members = new Set(byId.keys());
  let ids = walkRing(ring, prefixKey, members, affinityWalkLength);
  const roomAmong = (walked: readonly string[]): boolean => walked.some((id) => {
    const endpoint = byId.get(id);
    return endpoint !== undefined && withinBound(endpoint);
  });
  if (ids.length < members.size && !roomAmong(ids)) ids = walkRing(ring, prefixKey, members);
  const walk: EndpointView[] = [];
  for (const id of ids) {
    const endpoint = byId.get(id);
    if (endpoint !== undefined) {
      walk.push(endpoint);
      byId.delete(id);
    }
  }
  // Past the walk, the rest in the tier's order: only failovers reach them.
  for (const endpoint of byId.values()) walk.push(endpoint);
  const ordered = [...walk.filter(withinBound), ...walk.filter((endpoint) => !withinBound(endpoint))];
  return ordered.map((endpoint) => [endpoint]);
}

/** Exponential race: each endpoint draws -ln(1-u)/weight; smallest first. P(first) = weight / total. */
function weightedOrder(tier: Tier, random: () => number): EndpointView[] {
  return tier
    .map((endpoint) => ({ endpoint, arrival: -Math.log(1 - unitInterval(random())) / Math.max(endpoint.weight, Number.MIN_VALUE) }))
    .sort((a, b) => a.arrival - b.arrival)
    .map((entry) => entry.endpoint);
}

function knownTtft(endpoint: EndpointView): number | undefined {
  const ttft = endpoint.ewmaTtftMs;
  return ttft !== undefined && Number.isFinite(ttft) && ttft >= 0 ? ttft : undefined;
}

