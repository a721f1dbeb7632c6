import { accelerators } from '../catalog/accelerators.js';
import { didYouMean, someOf } from '../domain/suggest.js';
import { defaultMaxOutputTokens } from '../protocol/chat.js';
import { dialects } from '../protocol/dialects.js';
import { holdsKey, namesCredential } from './credential-text.js';
import { defaultIdleMs, longestTimeoutMs, routeResilience, type GatewayConfig } from './gateway-config.js';
import { upstreamKey } from './upstream-key.js';

/** Chips the catalog lists, for the warning about an endpoint's chip. */
const catalogChips = new Set(accelerators.map((chip) => chip.id));

/**
 * What a valid config will do that its author may not expect, one sentence each: an
 * upstream key variable that is not set or whose value a header cannot carry as it is, a chip the catalog does not list, a tenant whose tokens per minute are below the
 * output budget of a request without max_tokens (every such request is refused), an endpoint
 * no route uses, hedging that can never fire, a body limit no request fits, metrics open to every tenant.
 */
export function gatewayConfigWarnings(config: GatewayConfig, env: Readonly<Record<string, string | undefined>>): string[] {
  const warnings: string[] = [];
  for (const endpoint of config.endpoints) {
    const keyProblem = endpoint.apiKeyEnv === undefined ? undefined : upstreamKey(env[endpoint.apiKeyEnv]).problem;
    if (keyProblem !== undefined) {
      const said = {
        unset: 'which is not set; it will be called without a key',
        empty: 'which is empty; it will be called without a key',
        'surrounding-whitespace': 'whose value begins or ends with whitespace (a line break, often, from a key file), which no HTTP header carries: it is sent without it',
        'inner-whitespace': "whose value holds a space or a tab inside it, which no key has (two values pasted together, or a 'Bearer ' prefix, which the gateway writes itself): it is sent as it is, and the upstream will likely refuse it; set the variable to the key alone",
        unsendable: 'whose value holds a character no HTTP header carries (a control character or a line break inside it, or one past Latin-1): every request to it will fail; set the variable to the key alone',
        latin1: "whose value holds a character beyond ASCII, which no key has: it is sent as Latin-1, which an upstream reads otherwise or refuses; check the variable's value",
      }[keyProblem];
      warnings.push(`endpoint '${endpoint.id}' takes its key from $${endpoint.apiKeyEnv}, ${said}`);
    }
    // A warning, not an error: some upstreams take their key only there (Google's ?key=).
    const query = [...new URL(endpoint.url).searchParams];
    if (query.some(([name, value]) => namesCredential(name) || holdsKey(value))) {
      warnings.push(`endpoint '${endpoint.id}' has what looks like a credential in its URL's query string (not shown): it sits in this file in plain text; where the upstream takes its key in a header, name an environment variable in 'apiKeyEnv' instead`);
    }
    const dialect = dialects[endpoint.dialect];
    if (!endpoint.tokenCounting && dialect.tokenCounting === undefined) warnings.push(`endpoint '${endpoint.id}' has tokenCounting: false, which changes nothing for an endpoint of the ${endpoint.dialect} dialect, whose API has no token counting: it is never sent counts`);
    if (!endpoint.thinking && !dialect.upstream.signedThinking) warnings.push(`endpoint '${endpoint.id}' has thinking: false, which changes nothing for an endpoint of the ${endpoint.dialect} dialect, whose API gives no signed thinking: it is never sent requests for extended thinking`);
    // A label only, but a misspelt one splits a chip's metrics: a new chip the catalog lacks is fine.
    if (endpoint.chip !== undefined && !catalogChips.has(endpoint.chip)) {
      warnings.push(`endpoint '${endpoint.id}' has chip '${endpoint.chip}', which the catalog does not list (${didYouMean(endpoint.chip, catalogChips) ?? "run 'switchyard catalog' for the list"}); the chip only labels metrics and logs, so if it is new to the catalog, nothing is wrong`);
    }
    const path = new URL(endpoint.url).pathname.replace(/\/$/, '');
    const apiPath = Object.values(dialects).find((dialect) => path.endsWith(dialect.chatPath))?.chatPath;
    if (apiPath !== undefined) {
      warnings.push(`endpoint '${endpoint.id}' has a url ending in ${apiPath}, and the gateway adds ${dialects[endpoint.dialect].chatPath} itself: it will call ${path}${dialects[endpoint.dialect].chatPath}; give the base URL, without ${apiPath}`);
    } else if (path.endsWith('/v1')) {
      warnings.push(`endpoint '${endpoint.id}' has a url ending in /v1, and the gateway adds ${dialects[endpoint.dialect].chatPath} itself: it will call ${path}${dialects[endpoint.dialect].chatPath}; drop the trailing /v1 if that is not meant`);
    }
  }
  const jurisdictions = new Set(config.endpoints.map((endpoint) => endpoint.jurisdiction));
  for (const tenant of config.tenants) {
    const empty = tenant.jurisdictions.filter((jurisdiction) => !jurisdictions.has(jurisdiction));
    if (empty.length === tenant.jurisdictions.length) {
      warnings.push(`tenant '${tenant.id}' may use ${tenant.jurisdictions.join(', ')}, where no endpoint is: every request of it will be refused (503); add an endpoint there or widen its jurisdictions`);
    } else if (empty.length > 0) {
      warnings.push(`tenant '${tenant.id}' may use ${empty.join(', ')}, where no endpoint is: its requests narrowed to ${empty.length === 1 ? 'it' : 'them'} will be refused (503); add an endpoint there or take ${empty.length === 1 ? 'it' : 'them'} from its jurisdictions`);
    }
  }
  const routed = new Set(config.routes.flatMap((route) => route.endpoints));
  const unrouted = config.endpoints.filter((endpoint) => !routed.has(endpoint.id)).map((endpoint) => endpoint.id);
  if (unrouted.length > 0) warnings.push(`endpoint${unrouted.length === 1 ? '' : 's'} ${someOf(unrouted.map((id) => `'${id}'`))} ${unrouted.length === 1 ? 'is' : 'are'} in no route: no request will reach ${unrouted.length === 1 ? 'it' : 'them'}; add ${unrouted.length === 1 ? 'it' : 'them'} to a route's endpoints or remove ${unrouted.length === 1 ? 'it' : 'them'}`);
  // The gateway's own pair only while some route uses it (a route that sets either has its own).
  const gatewayPairUsed = config.routes.some((route) => route.resilience?.hedgeAfterMs === undefined && route.resilience?.ttftTimeoutMs === undefined);
  for (const [where, resilience] of [...(gatewayPairUsed ? [['', config.resilience] as const] : []), ...config.routes.filter((route) => route.resilience?.hedgeAfterMs !== undefined || route.resilience?.ttftTimeoutMs !== undefined).map((route) => [`route '${route.model}': `, routeResilience(config.resilience, route)] as const)]) {
    const { hedgeAfterMs: hedge, ttftTimeoutMs: ttft } = resilience;
    if (hedge > 0 && hedge >= ttft) {
      const fix = where === '' ? 'lower hedgeAfterMs' : 'set this route\'s hedgeAfterMs below its ttftTimeoutMs, or 0 to turn hedging off there';
      warnings.push(`${where}resilience.hedgeAfterMs (${String(hedge)}) is not below ttftTimeoutMs (${String(ttft)}): an attempt times out before it would be hedged, so hedging never happens; ${fix}`);
    }
  }
  for (const route of config.routes) {
    if (route.endpoints.length < 2 && routeResilience(config.resilience, route).hedgeAfterMs > 0) {
      warnings.push(`route '${route.model}' hedges but has one endpoint: a hedge needs a second one, so hedging never happens there`);
    }
  }
  // Circuits are the endpoints', shared by every route: one route's shorter TTFT timeout opens them for all.
  config.routes.forEach((route, index) => {
    const ttft = routeResilience(config.resilience, route).ttftTimeoutMs;
    for (const other of config.routes.slice(0, index)) {
      const otherTtft = routeResilience(config.resilience, other).ttftTimeoutMs;
      const shared = route.endpoints.filter((id) => other.endpoints.includes(id));
      if (otherTtft === ttft || shared.length === 0) continue;
      warnings.push(`routes '${other.model}' and '${route.model}' share ${someOf(shared.map((id) => `'${id}'`))} with different ttftTimeoutMs (${String(otherTtft)} and ${String(ttft)}): the shorter one's timeouts count against the endpoints' circuits, which open for both; give them the same, or endpoints of their own`);
    }
  });
  // An endpoint that hangs on every request is ejected after failureThreshold time-outs in a row; one
  // that hangs on some and answers others only by the window. It fails each of those one TTFT timeout
  // after it was sent, and a request's retry on another hung one a timeout later: a window of two
  // timeouts holds the time-outs of requests sent within one timeout of each other and of their
  // retries, so fewer requests at once eject it (E55: under 33 s timeouts, a 30 s window needed five
  // requests hanging at once on one replica).
  const longestTtft = Math.max(config.resilience.ttftTimeoutMs, ...config.routes.map((route) => routeResilience(config.resilience, route).ttftTimeoutMs));
  const { windowMs, failureThreshold } = config.resilience.circuitBreaker;
  const wanted = Math.min(longestTimeoutMs, 2 * longestTtft);
  if (windowMs < wanted) {
    warnings.push(`resilience.circuitBreaker.windowMs (${String(windowMs)}) is shorter than twice the longest ttftTimeoutMs (${String(longestTtft)}): an endpoint that hangs before its first token on some requests and answers others is ejected only when ${String(failureThreshold)} of its requests time out within ${String(windowMs)} ms, which under such time-outs takes about that many sent to it at once; set circuitBreaker.windowMs to ${String(wanted)}`);
  }
  // A route's short deadline fits the stall timeout for every route (see fitIdleToRoutes).
  const idle = config.resilience.tokenIdleTimeoutMs;
  const fittedBy = config.routes.find((route) => route.resilience?.deadlineMs !== undefined && defaultIdleMs(route.resilience.deadlineMs) === idle);
  if (fittedBy !== undefined && idle < defaultIdleMs(config.resilience.deadlineMs)) {
    warnings.push(`resilience.tokenIdleTimeoutMs is ${String(idle)} ms for every route, fitted to the deadline of route '${fittedBy.model}': a stream silent that long is cut and resumed; set resilience.tokenIdleTimeoutMs to choose it`);
  }
  // A body of this size holds little more than an empty request: every chat request would be a 413.
  if (config.limits.maxBodyBytes < 1024) {
    warnings.push(`limits.maxBodyBytes is ${String(config.limits.maxBodyBytes)} bytes: nearly every chat request will be refused (413); it is a size in bytes, such as 1048576 for 1 MiB`);
  }
  if (config.limits.maxBodyBytesInFlight < config.limits.maxBodyBytes) {
    warnings.push(`limits.maxBodyBytesInFlight (${String(config.limits.maxBodyBytesInFlight)}) is below limits.maxBodyBytes (${String(config.limits.maxBodyBytes)}): a request of the largest size allowed would never be taken (503)`);
  }
  for (const tenant of config.tenants) {
    // A prompt is at least a token: a limit of the budget alone holds no request without max_tokens either (E54).
    if (tenant.tokensPerMinute <= defaultMaxOutputTokens) {
      warnings.push(`tenant '${tenant.id}' has tokensPerMinute ${String(tenant.tokensPerMinute)}, ${tenant.tokensPerMinute === defaultMaxOutputTokens ? 'no more than' : 'below'} the ${String(defaultMaxOutputTokens)}-token output budget of a request without max_tokens, which also needs its prompt: every such request will be refused; raise it or have callers set max_tokens`);
    }
  }
  // Tenants are customers: the metrics name each and its use (R78).
  if (config.tenants.length > 1 && config.metrics.scrapeKeySha256 === undefined) {
    warnings.push(`GET /metrics needs no key and names every tenant with its use, to anyone who reaches the gateway's port, tenants included: list a scrape key's SHA-256 in metrics.scrapeKeySha256 (Prometheus sends it with its 'authorization' setting), or block the path at a proxy in front`);
  }
  return warnings;
}
