import { describe, expect, it } from 'vitest';
import type { RouteConfig, RoutingPolicyName } from '../../src/gateway/gateway-config.js';
import { hash32, hashRingFor, virtualNodesPerEndpoint, walkRing } from '../../src/gateway/hash-ring.js';
import { parseJurisdictionHeader, prefixKeyOf, routeRequest, routeTokenCount, routingPolicyFromConfig, type EndpointView, type RouteDecision, type RouteInput, type RoutingPolicy } from '../../src/gateway/route-request.js';
import type { ChatMessage } from '../../src/protocol/chat.js';
import { scriptedRandom, seededRandom } from './seeded-random.js';

function endpoint(id: string, overrides: Partial<EndpointView> = {}): EndpointView {
  return {
    id,
    url: 'http://127.0.0.1:9001',
    dialect: 'openai',
    model: 'frontier-m',
    provider: 'gcp',
    region: 'us-central1',
    jurisdiction: 'us',
    contextWindow: 32_768,
    longContext: false,
    prefill: true,
    autoToolChoice: true,
    structuredOutputs: true,
    images: true,
    imageUrls: 'public',
    thinking: true,
    tokenCounting: true,
    marginalCostPerMillionTokens: 0,
    capacity: 10,
    weight: 1,
    outstanding: 0,
    ewmaTtftMs: undefined,
    circuit: 'closed',
    halfOpenInFlight: 0,
    backedOff: false,
    backedOffUntil: 0,
    ...overrides,
  };
}

function policyFor(endpoints: readonly EndpointView[], policy: RoutingPolicyName[], halfOpenProbes = 1, panic = true): RoutingPolicy {
  const route: RouteConfig = { model: 'frontier', endpoints: endpoints.map((e) => e.id), policy };
  return { routes: new Map([[route.model, route]]), halfOpenProbes, panic };
}

function request(overrides: Partial<RouteInput> = {}): RouteInput {
  return { model: 'frontier', tenantJurisdictions: ['us', 'eu'], promptTokens: 1000, maxOutputTokens: 1000, ...overrides };
}

function ranked(decision: RouteDecision): string[] {
  if (!decision.ok) throw new Error(`expected a route, got ${decision.status} ${decision.code}: ${decision.message}`);
  return decision.ranked.map((e) => e.id);
}

function route(endpoints: readonly EndpointView[], policy: RoutingPolicyName[], input: Partial<RouteInput> = {}, random: () => number = seededRandom(1)): RouteDecision {
  return routeRequest(request(input), endpoints, policyFor(endpoints, policy), random);
}

const usAndEu = [endpoint('us-1'), endpoint('eu-1', { jurisdiction: 'eu' }), endpoint('us-2'), endpoint('jp-1', { jurisdiction: 'jp' })];

describe('route lookup', () => {
  it('an unknown model is 404 no_route with a suggestion', () => {
    expect(route(usAndEu, ['cost'], { model: 'frontir' })).toEqual({ ok: false, status: 404, code: 'no_route', message: "no route for model 'frontir'; did you mean 'frontier'?" });
  });

  it('builds the policy from a config', () => {
    const policy = routingPolicyFromConfig({ routes: [{ model: 'm', endpoints: ['a'], policy: ['cost'] }], resilience: { panicRouting: false, circuitBreaker: { halfOpenProbes: 3 } } as never });
    expect(policy.halfOpenProbes).toBe(3);
    expect(policy.panic).toBe(false);
    expect(policy.routes.get('m')?.endpoints).toEqual(['a']);
  });
});

describe('jurisdiction: the tenant set, narrowed (never widened) by the header', () => {
  it('without a header, every tenant jurisdiction is allowed', () => {
    expect(ranked(route(usAndEu, ['cost']))).toEqual(['us-1', 'eu-1', 'us-2']);
  });

  it('a header narrows', () => {
    expect(ranked(route(usAndEu, ['cost'], { headerJurisdictions: ['eu'] }))).toEqual(['eu-1']);
  });

  it('a header cannot widen: jurisdictions outside the tenant set are ignored', () => {
    expect(ranked(route(usAndEu, ['cost'], { headerJurisdictions: ['eu', 'jp'] }))).toEqual(['eu-1']);
  });

  it('an empty intersection allows nothing: 503 jurisdiction, saying why', () => {
    expect(route(usAndEu, ['cost'], { headerJurisdictions: ['jp'] })).toEqual({
      ok: false,
      status: 503,
      code: 'jurisdiction',
      message: "no endpoint for model 'frontier': the request's jurisdiction header [jp] names none of the tenant's allowed jurisdictions [eu, us], so nothing is allowed",
    });
    // Node reads header bytes as Latin-1: a value that is no jurisdiction name (here a full-width 'ｅｕ') is not echoed garbled.
    expect(route(usAndEu, ['cost'], { headerJurisdictions: ['jp', Buffer.from('ｅｕ').toString('latin1')] })).toMatchObject({
      message: "no endpoint for model 'frontier': the request's jurisdiction header [<not a jurisdiction name>, jp] names none of the tenant's allowed jurisdictions [eu, us], so nothing is allowed",
    });
    expect(route(usAndEu, ['cost'], { headerJurisdictions: [] })).toMatchObject({
      ok: false,
      code: 'jurisdiction',
      message: "no endpoint for model 'frontier': the request's jurisdiction header names no jurisdiction (it is empty, or its lines have none in common), so nothing is allowed",
    });
  });

  it("a requested geography (Anthropic inference_geo) narrows with the header, never widens, and says why when nothing is left", () => {
    expect(ranked(route(usAndEu, ['cost'], { requestedGeography: 'eu' }))).toEqual(['eu-1']);
    expect(ranked(route(usAndEu, ['cost'], { requestedGeography: 'eu', headerJurisdictions: ['eu', 'us'] }))).toEqual(['eu-1']);
    expect(route(usAndEu, ['cost'], { requestedGeography: 'eu', headerJurisdictions: ['us'] })).toEqual({
      ok: false,
      status: 503,
      code: 'jurisdiction',
      message: "no endpoint for model 'frontier': the request's inference_geo 'eu' is not among the jurisdictions this request may use [us], so nothing is allowed",
    });
    expect(route(usAndEu, ['cost'], { requestedGeography: 'jp', tenantJurisdictions: ['us'] })).toMatchObject({ ok: false, code: 'jurisdiction' });
    // When the header already left nothing, the message blames the header, not the geography.
    expect(route(usAndEu, ['cost'], { requestedGeography: 'us', headerJurisdictions: ['jp'] })).toMatchObject({ ok: false, code: 'jurisdiction', message: expect.stringContaining("the request's jurisdiction header [jp] names none") as unknown });
  });

  it('no candidate in the allowed set: 503 naming where candidates are', () => {
    expect(route(usAndEu, ['cost'], { tenantJurisdictions: ['uk'] })).toEqual({ ok: false, status: 503, code: 'jurisdiction', message: "no endpoint for model 'frontier' in jurisdictions [uk]: candidates are in eu, jp, us" });
  });

  it('parses the header: comma-separated, trimmed, lowercased; present but empty allows nothing', () => {
    expect(parseJurisdictionHeader(undefined)).toBeUndefined();
    expect(parseJurisdictionHeader(' EU , us,,')).toEqual(['eu', 'us']);
    expect(parseJurisdictionHeader(['us, EU', ' eu'])).toEqual(['eu']);
    expect(parseJurisdictionHeader(['us', 'eu'])).toEqual([]);
    expect(parseJurisdictionHeader('')).toEqual([]);
  });

  it('property: over 1000 seeded random fleets, states and requests, no out-of-set endpoint is ever ranked', () => {
    const random = seededRandom(20_240_601);
    const jurisdictions = ['us', 'eu', 'uk', 'jp'];
    const policies: RoutingPolicyName[] = ['cost', 'least-load', 'latency', 'prefix-affinity', 'weighted'];
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const subset = <T>(items: readonly T[]): T[] => items.filter(() => random() < 0.5);
    const circuits = ['closed', 'closed', 'open', 'half-open'] as const;
    let routed = 0;
    for (let trial = 0; trial < 1000; trial += 1) {
      const fleet = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, index) =>
        endpoint(`e${String(index)}`, {
          jurisdiction: pick(jurisdictions),
          contextWindow: pick([4096, 32_768, 131_072]),
          longContext: random() < 0.2,
          marginalCostPerMillionTokens: pick([0, 0, 1, 2.5]),
          capacity: 1 + Math.floor(random() * 64),
          weight: 0.1 + random() * 3,
          outstanding: Math.floor(random() * 80),
          ewmaTtftMs: random() < 0.3 ? undefined : random() * 2000,
          circuit: pick(circuits),
          halfOpenInFlight: Math.floor(random() * 2),
        }),
      );
      const tenant = subset(jurisdictions);
      const header = random() < 0.5 ? undefined : subset(jurisdictions);
      const allowed = new Set(tenant.filter((j) => header === undefined || header.includes(j)));
      const input = request({
        tenantJurisdictions: tenant,
        ...(header === undefined ? {} : { headerJurisdictions: header }),
        promptTokens: Math.floor(random() * 60_000),
        maxOutputTokens: Math.floor(random() * 4000),
        prefixKey: `prefix-${String(Math.floor(random() * 20))}`,
        excludeEndpoints: new Set(subset(fleet.map((e) => e.id))),
      });
      const decision = routeRequest(input, fleet, policyFor(fleet, subset(policies).concat(pick(policies))), random);
      if (!decision.ok) {
        expect(decision.status).not.toBe(200);
        continue;
      }
      routed += 1;
      // Panic ranks ejected endpoints only when no endpoint with a usable circuit is left.
      const usable = (e: EndpointView): boolean => e.circuit === 'closed' || (e.circuit === 'half-open' && e.halfOpenInFlight < 1);
      for (const chosen of decision.ranked) {
        expect(allowed.has(chosen.jurisdiction)).toBe(true);
        expect(usable(chosen)).toBe(!decision.panic);
        expect(input.excludeEndpoints?.has(chosen.id)).toBe(false);
        expect(input.promptTokens + input.maxOutputTokens).toBeLessThanOrEqual(chosen.contextWindow);
      }
      expect(new Set(decision.ranked.map((e) => e.id)).size).toBe(decision.ranked.length);
    }
    // The property is only meaningful if many trials did route.
    expect(routed).toBeGreaterThan(100);
  });
});

describe('context eligibility and long-context reservation', () => {
  const fleet = [endpoint('small', { contextWindow: 8192 }), endpoint('medium', { contextWindow: 32_768 }), endpoint('long', { contextWindow: 200_000, longContext: true })];

  it('only endpoints whose window fits prompt plus output', () => {
    expect(ranked(route(fleet, ['cost'], { promptTokens: 10_000, maxOutputTokens: 2000 }))).toEqual(['medium']);
  });

  it('an exact fit is allowed', () => {
    expect(ranked(route(fleet, ['cost'], { promptTokens: 7192, maxOutputTokens: 1000 }))).toEqual(['small', 'medium']);
  });

  it('a reserved long-context endpoint takes only requests that need it', () => {
    expect(ranked(route(fleet, ['cost'], { promptTokens: 1000 }))).not.toContain('long');
    expect(ranked(route(fleet, ['cost'], { promptTokens: 100_000 }))).toEqual(['long']);
  });

  it('need is judged within the allowed jurisdictions', () => {
    const mixed = [endpoint('eu-medium', { jurisdiction: 'eu' }), endpoint('us-long', { contextWindow: 200_000, longContext: true })];
    expect(ranked(route(mixed, ['cost'], { headerJurisdictions: ['us'] }))).toEqual(['us-long']);
    expect(ranked(route(mixed, ['cost']))).toEqual(['eu-medium']);
  });

  it('stays reserved while the ordinary endpoints are down: panic tries the ordinary ones, or 503; never a spill-over', () => {
    const down = fleet.map((e) => (e.longContext ? e : { ...e, circuit: 'open' as const }));
    const panicked = route(down, ['cost']);
    expect(panicked).toMatchObject({ ok: true, panic: true });
    expect(ranked(panicked)).not.toContain('long');
    expect(routeRequest(request(), down, policyFor(down, ['cost'], 1, false), Math.random)).toMatchObject({ ok: false, status: 503, code: 'unavailable' });
  });

  it('too long for every window is 400 context, saying why, in the jurisdictions the model is served in that the request may use', () => {
    expect(route(fleet, ['cost'], { promptTokens: 199_500, maxOutputTokens: 1000 })).toEqual({
      ok: false,
      status: 400,
      code: 'context',
      message: "the request needs about 200500 tokens (prompt about 199500 plus up to 1000 output) but the largest context window for model 'frontier' in jurisdictions [us] is 200000: shorten the prompt or lower max_tokens",
      largestWindow: 200_000,
      promptTokens: 199_500,
      outputTokens: 1000,
    });
  });

  it('a prompt that fills every window alone is told to shorten the prompt, not to lower max_tokens', () => {
    expect(route(fleet, ['cost'], { promptTokens: 200_000, maxOutputTokens: 4096 })).toMatchObject({
      ok: false,
      status: 400,
      code: 'context',
      message: "the prompt alone is about 200000 tokens, and the largest context window for model 'frontier' in jurisdictions [us] is 200000: shorten the prompt",
    });
  });

  it('a broken token estimate fits nothing', () => {
    expect(route(fleet, ['cost'], { promptTokens: Number.NaN })).toMatchObject({ ok: false, code: 'context' });
  });
});

describe('prefill eligibility: endpoints that refuse a trailing assistant turn (Claude 4.6 and later)', () => {
  const fleet = [endpoint('claude-new', { dialect: 'anthropic', prefill: false }), endpoint('vllm-new', { prefill: false }), endpoint('vllm'), endpoint('claude', { dialect: 'anthropic' })];

  it('a prefill or a resumed answer goes only to endpoints that take prefills', () => {
    expect(ranked(route(fleet, ['cost'], { trailingAssistant: 'continue' }))).toEqual(['vllm', 'claude']);
  });

  it("a finished assistant turn to answer after is no prefill for an OpenAI-dialect upstream, but is for an Anthropic one, which reads it as one", () => {
    expect(ranked(route(fleet, ['cost'], { trailingAssistant: 'answer' }))).toEqual(['vllm-new', 'vllm', 'claude']);
  });

  it('one that ends so only once an Anthropic encoder has joined system messages and left out empty turns is a prefill for Anthropic-dialect upstreams alone', () => {
    expect(ranked(route(fleet, ['cost'], { joinedTrailingAssistant: 'continue' }))).toEqual(['vllm-new', 'vllm', 'claude']);
    expect(ranked(route(fleet, ['cost'], { joinedTrailingAssistant: 'answer' }))).toEqual(['vllm-new', 'vllm', 'claude']);
  });

  it('a conversation that ends with a user turn goes anywhere', () => {
    expect(ranked(route(fleet, ['cost']))).toEqual(['claude-new', 'vllm-new', 'vllm', 'claude']);
  });

  it('nowhere to continue it is a 400 saying so, judged within the allowed jurisdictions', () => {
    const mixed = [endpoint('us-new', { prefill: false }), endpoint('eu', { jurisdiction: 'eu' })];
    expect(route(mixed, ['cost'], { trailingAssistant: 'continue', headerJurisdictions: ['us'] })).toEqual({
      ok: false,
      status: 400,
      code: 'prefill',
      message: "no endpoint for model 'frontier' in jurisdictions [us] continues a conversation that ends with an assistant turn (a prefill): end it with a user turn",
    });
    expect(ranked(route(mixed, ['cost'], { trailingAssistant: 'continue' }))).toEqual(['eu']);
  });
});

describe('auto tool choice eligibility: endpoints started without a tool-call parser (vLLM)', () => {
  const fleet = [endpoint('plain', { autoToolChoice: false }), endpoint('tooled'), endpoint('eu-tooled', { jurisdiction: 'eu' })];

  it('a request that leaves the choice of tools to the model goes only to endpoints that allow it; others go anywhere', () => {
    expect(ranked(route(fleet, ['cost'], { needsAutoToolChoice: true }))).toEqual(['tooled', 'eu-tooled']);
    expect(ranked(route(fleet, ['cost'], { needsAutoToolChoice: true, headerJurisdictions: ['us'] }))).toEqual(['tooled']);
    expect(ranked(route(fleet, ['cost']))).toEqual(['plain', 'tooled', 'eu-tooled']);
  });

  it('nowhere to serve it is a 400 saying what helps, judged within the allowed jurisdictions', () => {
    expect(route([endpoint('plain', { autoToolChoice: false }), endpoint('eu-tooled', { jurisdiction: 'eu' })], ['cost'], { needsAutoToolChoice: true, headerJurisdictions: ['us'] })).toEqual({
      ok: false,
      status: 400,
      code: 'auto_tool_choice',
      message: "no endpoint for model 'frontier' in jurisdictions [us] lets the model choose its tools (tool choice auto): name the tool to call or require a call in tool_choice, or ask the operator for a route whose endpoints allow it",
    });
  });
});

describe('eligibility: structured output', () => {
  const fleet = [endpoint('unchecked', { structuredOutputs: false }), endpoint('claude', { dialect: 'anthropic' }), endpoint('vllm'), endpoint('eu-vllm', { jurisdiction: 'eu' })];

  it('a JSON schema or strict tools go only to endpoints that constrain output; JSON mode not to Anthropic-dialect ones; plain requests anywhere', () => {
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'json_schema' }))).toEqual(['claude', 'vllm', 'eu-vllm']);
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'strict_tools' }))).toEqual(['claude', 'vllm', 'eu-vllm']);
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'json_object' }))).toEqual(['vllm', 'eu-vllm']);
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'json_object', headerJurisdictions: ['us'] }))).toEqual(['vllm']);
    expect(ranked(route(fleet, ['cost']))).toEqual(['unchecked', 'claude', 'vllm', 'eu-vllm']);
  });

  it('nowhere to serve it is a 400 naming the field and saying what helps, judged within the allowed jurisdictions', () => {
    const few = [endpoint('unchecked', { structuredOutputs: false }), endpoint('claude', { dialect: 'anthropic' }), endpoint('eu-vllm', { jurisdiction: 'eu' })];
    expect(route(few, ['cost'], { structuredOutput: 'json_object', headerJurisdictions: ['us'] })).toEqual({
      ok: false,
      status: 400,
      code: 'structured_output',
      param: 'response_format',
      message: "no endpoint for model 'frontier' in jurisdictions [us] writes answers in JSON mode (response_format json_object; Anthropic-dialect endpoints have JSON schemas only): send a json_schema response format, or ask the operator for a route whose endpoints take JSON mode",
    });
    const unchecked = [endpoint('unchecked', { structuredOutputs: false })];
    expect(route(unchecked, ['cost'], { structuredOutput: 'strict_tools' })).toMatchObject({ status: 400, code: 'structured_output', param: 'tools', message: expect.stringContaining('holds tool arguments to their schemas (strict tools): leave strict out') });
    expect(route(unchecked, ['cost'], { structuredOutput: 'json_schema' })).toMatchObject({ status: 400, code: 'structured_output', param: 'response_format', message: expect.stringContaining('holds answers to a JSON schema (structured output): leave the format out (response_format, or output_config.format)') });
  });

  it('a schema with a map (an object open to properties it does not list) not to Anthropic-dialect ones, which would close it; none left is a 400 saying where', () => {
    const openObject = { place: "the response format's schema at properties.tags", param: 'response_format' as const };
    const inTool = { place: "tool f's parameters at (the schema itself)", param: 'tools' as const };
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'json_schema', openObject }))).toEqual(['vllm', 'eu-vllm']);
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'strict_tools', openObject: inTool }))).toEqual(['vllm', 'eu-vllm']);
    const anthropicOnly = [endpoint('claude', { dialect: 'anthropic' }), endpoint('eu-vllm', { jurisdiction: 'eu' })];
    expect(route(anthropicOnly, ['cost'], { structuredOutput: 'json_schema', openObject, headerJurisdictions: ['us'] })).toEqual({
      ok: false,
      status: 400,
      code: 'structured_output',
      param: 'response_format',
      message:
        "no endpoint for model 'frontier' in jurisdictions [us] holds output to this schema as it is: the response format's schema at properties.tags is an object open to properties it does not list (a map: additionalProperties or unevaluatedProperties true or a schema, or patternProperties; or an object of no properties: any object), which Anthropic-dialect endpoints close to its listed properties: write it with its properties listed and no map (additionalProperties false, no patternProperties or unevaluatedProperties), or ask the operator for a route with an endpoint that keeps it open (OpenAI dialect)",
    });
    // JSON mode beside a strict tool's map: JSON mode is what no Anthropic endpoint gives, and the 400 says that.
    expect(route(anthropicOnly, ['cost'], { structuredOutput: 'json_object', openObject: inTool, headerJurisdictions: ['us'] })).toMatchObject({ param: 'response_format', message: expect.stringContaining('writes answers in JSON mode') });
    // A strict tool's map beside a response format: the 400 names the tools (R40-8).
    expect(route(anthropicOnly, ['cost'], { structuredOutput: 'json_schema', openObject: inTool, headerJurisdictions: ['us'] })).toMatchObject({ param: 'tools', message: expect.stringContaining("tool f's parameters at (the schema itself) is an object open") });
  });
});

describe('eligibility: a structured answer after a trailing assistant turn', () => {
  const fleet = [endpoint('vllm'), endpoint('claude', { dialect: 'anthropic' })];

  it('goes only where the turn is answered after, not continued; strict tools alone are not held to this', () => {
    // An OpenAI caller's finished assistant turn: OpenAI-dialect upstreams answer after it, Anthropic's would continue it.
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'json_schema', trailingAssistant: 'answer' }))).toEqual(['vllm']);
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'strict_tools', trailingAssistant: 'answer' }))).toEqual(['vllm', 'claude']);
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'json_schema' }))).toEqual(['vllm', 'claude']);
  });

  it('a prefill to continue is a 400 naming messages', () => {
    expect(route(fleet, ['cost'], { structuredOutput: 'json_schema', trailingAssistant: 'continue' })).toEqual({
      ok: false,
      status: 400,
      code: 'structured_output',
      param: 'messages',
      message: "no endpoint for model 'frontier' in jurisdictions [eu, us] can write a structured answer that continues the conversation's last assistant turn (constrained decoding starts the JSON over after it): end the conversation with a user turn",
    });
  });
});

describe('eligibility: extended thinking', () => {
  it('goes only to Anthropic-dialect endpoints that think; none left is a 400 naming thinking', () => {
    const fleet = [endpoint('vllm'), endpoint('claude-no-thinking', { dialect: 'anthropic', thinking: false }), endpoint('claude', { dialect: 'anthropic' })];
    expect(ranked(route(fleet, ['cost'], { thinking: true }))).toEqual(['claude']);
    expect(ranked(route(fleet, ['cost']))).toEqual(['vllm', 'claude-no-thinking', 'claude']);
    expect(route(fleet.slice(0, 2), ['cost'], { thinking: true })).toMatchObject({ ok: false, status: 400, code: 'thinking', param: 'thinking', message: expect.stringContaining('gives extended thinking (Anthropic-dialect endpoints only, not marked thinking: false)') });
  });
});

describe('eligibility: PDFs', () => {
  const mixed = [endpoint('vllm', { marginalCostPerMillionTokens: 0 }), endpoint('claude', { dialect: 'anthropic', marginalCostPerMillionTokens: 3 }), endpoint('openai-pdfs', { pdfs: true, marginalCostPerMillionTokens: 5 })];
  it('go only to endpoints that read them: Anthropic-dialect ones, and others marked pdfs: true; with or without thinking', () => {
    expect(ranked(route(mixed, ['cost'], { hasPdfs: true }))).toEqual(['claude', 'openai-pdfs']);
    expect(ranked(route(mixed, ['cost'], { hasPdfs: true, thinking: true }))).toEqual(['claude']);
    expect(ranked(route(mixed, ['cost']))).toEqual(['vllm', 'claude', 'openai-pdfs']);
    expect(route([mixed[0] as EndpointView, endpoint('claude-no-pdfs', { dialect: 'anthropic', pdfs: false })], ['cost'], { hasPdfs: true })).toMatchObject({ ok: false, status: 400, code: 'pdfs', param: 'messages', message: expect.stringContaining('reads PDF documents') });
  });
});

describe('token counts (routeTokenCount)', () => {
  const counting = [
    endpoint('us-openai'),
    endpoint('us-claude', { dialect: 'anthropic', marginalCostPerMillionTokens: 3 }),
    endpoint('us-claude-cheap', { dialect: 'anthropic', marginalCostPerMillionTokens: 1 }),
    endpoint('us-compatible', { dialect: 'anthropic', tokenCounting: false }),
    endpoint('eu-claude', { dialect: 'anthropic', jurisdiction: 'eu' }),
    endpoint('us-claude-tiny', { dialect: 'anthropic', contextWindow: 10, marginalCostPerMillionTokens: 2 }),
  ];
  const count = (endpoints: readonly EndpointView[], input: Partial<RouteInput> = {}): RouteDecision => routeTokenCount(request({ maxOutputTokens: 0, promptTokens: 5000, ...input }), endpoints, policyFor(endpoints, ['cost']), seededRandom(1));

  it('only Anthropic-dialect endpoints that count, in the allowed jurisdictions, by policy; windows that fit the prompt first, any when none does', () => {
    expect(ranked(count(counting, { headerJurisdictions: ['us'] }))).toEqual(['us-claude-cheap', 'us-claude', 'us-claude-tiny']);
    expect(ranked(count(counting, { headerJurisdictions: ['us'], promptTokens: 10_000_000 }))).toEqual(['us-claude-cheap', 'us-claude-tiny', 'us-claude']);
    // A small window is still asked once those that fit are tried.
    expect(ranked(count(counting, { headerJurisdictions: ['us'], excludeEndpoints: new Set(['us-claude-cheap', 'us-claude']) }))).toEqual(['us-claude-tiny']);
    // Nor an endpoint that could not answer the same request.
    expect(ranked(count([...counting, endpoint('us-no-thinking', { dialect: 'anthropic', thinking: false, marginalCostPerMillionTokens: 0 })], { headerJurisdictions: ['us'], thinking: true }))).toEqual(['us-claude-cheap', 'us-claude', 'us-claude-tiny']);
    expect(ranked(count(counting, { headerJurisdictions: ['eu'] }))).toEqual(['eu-claude']);
    expect(count(counting, { headerJurisdictions: ['jp'] })).toMatchObject({ ok: false, status: 503, code: 'jurisdiction' });
  });

  it('a reserved long-context window counts only prompts no ordinary window holds, as it answers only those (R29)', () => {
    const fleet = [endpoint('ordinary', { dialect: 'anthropic', contextWindow: 131_072 }), endpoint('long', { dialect: 'anthropic', contextWindow: 1_000_000, longContext: true })];
    expect(ranked(count(fleet))).toEqual(['ordinary']);
    // The ordinary one tried (its count failed): none left, not the reserved one.
    expect(count(fleet, { excludeEndpoints: new Set(['ordinary']) })).toMatchObject({ ok: false, status: 503, code: 'unavailable', message: expect.stringMatching(/: 1 already tried$/) });
    // A prompt only the long window holds goes there first.
    expect(ranked(count(fleet, { promptTokens: 500_000 }))).toEqual(['long', 'ordinary']);
  });

  it('none that counts is a 404 saying so; held-back circuits come after closed ones (open ones only under panic routing); tried endpoints are left out', () => {
    expect(count([endpoint('us-openai'), endpoint('us-compatible', { dialect: 'anthropic', tokenCounting: false })])).toMatchObject({ ok: false, status: 404, code: 'token_counting', message: expect.stringContaining('counts tokens (Anthropic-dialect endpoints only, not marked tokenCounting: false)') });
    const circuits = [endpoint('a', { dialect: 'anthropic', circuit: 'open', marginalCostPerMillionTokens: 0 }), endpoint('b', { dialect: 'anthropic', circuit: 'half-open', halfOpenInFlight: 1, marginalCostPerMillionTokens: 0 }), endpoint('c', { dialect: 'anthropic', marginalCostPerMillionTokens: 5 })];
    // A count takes no probe slot: a half-open endpoint an answer probes (or none has yet) still counts.
    expect(count(circuits)).toMatchObject({ ok: true, panic: false });
    expect(ranked(count(circuits))).toEqual(['c', 'b', 'a']);
    expect(ranked(count(circuits, { excludeEndpoints: new Set(['c']) }))).toEqual(['b', 'a']);
    expect(count(circuits, { excludeEndpoints: new Set(['b', 'c']) })).toMatchObject({ ok: true, panic: true });
    // A window that fits before one that does not, whatever their circuits or Retry-After.
    expect(ranked(count([endpoint('small', { dialect: 'anthropic', contextWindow: 10 }), endpoint('open', { dialect: 'anthropic', circuit: 'open' })]))).toEqual(['open', 'small']);
    expect(ranked(count([endpoint('small', { dialect: 'anthropic', contextWindow: 10 }), endpoint('limited', { dialect: 'anthropic', backedOff: true }), endpoint('fits', { dialect: 'anthropic', marginalCostPerMillionTokens: 5 })]))).toEqual(['fits', 'limited', 'small']);
    // Backed-off counting endpoints keep their circuit's place, sooner waits first within it (R24).
    const waiting = [endpoint('closed', { dialect: 'anthropic', backedOff: true, backedOffUntil: 2_000 }), endpoint('half', { dialect: 'anthropic', circuit: 'half-open', backedOff: true, backedOffUntil: 1_500 })];
    expect(ranked(count(waiting))).toEqual(['closed', 'half']);
    // Without panic routing, open circuits are not asked; none left is a 503 naming the reasons truly.
    const noPanic = (input: Partial<RouteInput>): RouteDecision => routeTokenCount(request({ maxOutputTokens: 0, promptTokens: 5000, ...input }), circuits, policyFor(circuits, ['cost'], 1, false), seededRandom(1));
    expect(ranked(noPanic({}))).toEqual(['c', 'b']);
    expect(noPanic({ excludeEndpoints: new Set(['b', 'c']) })).toMatchObject({ ok: false, status: 503, code: 'unavailable', message: expect.stringMatching(/: 1 circuit open, 2 already tried$/) });
    // Said of several endpoints, in the plural.
    const twoOpen = [endpoint('a', { dialect: 'anthropic', circuit: 'open' }), endpoint('b', { dialect: 'anthropic', circuit: 'open' }), endpoint('c', { dialect: 'anthropic' })];
    expect(routeTokenCount(request({ maxOutputTokens: 0, promptTokens: 5000, excludeEndpoints: new Set(['c']) }), twoOpen, policyFor(twoOpen, ['cost'], 1, false), seededRandom(1))).toMatchObject({ ok: false, message: expect.stringMatching(/: 2 circuits open, 1 already tried$/) });
  });
});

describe('eligibility: capabilities together', () => {
  it('answers and counts check them in one order and say alike when endpoints give each but none gives all (R50)', () => {
    const fleet = [endpoint('no-schemas', { dialect: 'anthropic', structuredOutputs: false }), endpoint('no-thinking', { dialect: 'anthropic', thinking: false })];
    const needs: Partial<RouteInput> = { structuredOutput: 'json_schema', thinking: true };
    const message = "no endpoint for model 'frontier' in jurisdictions [eu, us] gives extended thinking together with structured output, which this request needs all of: some give each, none gives all; send thinking of type adaptive or disabled, or ask the operator for a route whose endpoints give all";
    const answer = route(fleet, ['cost'], needs);
    const count = routeTokenCount(request({ ...needs, maxOutputTokens: 0 }), fleet, policyFor(fleet, ['cost']), seededRandom(1));
    expect(answer).toEqual({ ok: false, status: 400, code: 'thinking', param: 'thinking', message });
    expect(count).toEqual(answer);
    // Each alone is served; a capability no endpoint gives is said of itself.
    expect(ranked(route(fleet, ['cost'], { thinking: true }))).toEqual(['no-schemas']);
    expect(ranked(route(fleet, ['cost'], { structuredOutput: 'json_schema' }))).toEqual(['no-thinking']);
    expect(route(fleet, ['cost'], { ...needs, hasPdfs: true, thinking: false })).toMatchObject({ ok: true });
    expect(route([endpoint('openai')], ['cost'], needs)).toMatchObject({ ok: false, code: 'thinking', message: expect.stringContaining('gives extended thinking (Anthropic-dialect endpoints only') });
    // Three needs: the two before the one that emptied the set are named.
    const three = [...fleet, endpoint('no-images', { dialect: 'anthropic', images: false })];
    expect(route(three, ['cost'], { ...needs, hasImages: true })).toMatchObject({ ok: false, code: 'thinking', message: expect.stringContaining('gives extended thinking together with structured output and images,') });
  });

  it("an answer's own needs (tool choice auto, a prefill) come after the shared ones: neither path says a route lacks what it has (R51)", () => {
    const count = (endpoints: readonly EndpointView[], input: Partial<RouteInput>): RouteDecision => routeTokenCount(request({ ...input, maxOutputTokens: 0 }), endpoints, policyFor(endpoints, ['cost']), seededRandom(1));
    // The endpoint that thinks lets no model choose its tools: "none gives extended thinking" was said.
    const fleet = [endpoint('a', { dialect: 'anthropic', autoToolChoice: false, structuredOutputs: false }), endpoint('b', { dialect: 'anthropic', thinking: false })];
    const needs: Partial<RouteInput> = { structuredOutput: 'json_schema', thinking: true, needsAutoToolChoice: true };
    expect(route(fleet, ['cost'], needs)).toMatchObject({ ok: false, code: 'thinking', message: expect.stringContaining('gives extended thinking together with structured output,') });
    expect(count(fleet, needs)).toEqual(route(fleet, ['cost'], needs));
    // A schema with a map (OpenAI dialect only) and thinking (Anthropic only): both paths say the two together.
    const mixed = [endpoint('openai'), endpoint('claude', { dialect: 'anthropic' })];
    const mapped: Partial<RouteInput> = { structuredOutput: 'json_schema', openObject: { place: 'response_format.json_schema.schema', param: 'response_format' }, thinking: true };
    expect(route(mixed, ['cost'], mapped)).toMatchObject({ ok: false, code: 'thinking', message: expect.stringContaining('gives extended thinking together with structured output,') });
    expect(count(mixed, mapped)).toEqual(route(mixed, ['cost'], mapped));
    // Tool choice auto alone, where only the endpoint without structured output allows it: said together.
    const choosers = [endpoint('chooses', { structuredOutputs: false }), endpoint('constrains', { autoToolChoice: false })];
    expect(route(choosers, ['cost'], { structuredOutput: 'json_schema', needsAutoToolChoice: true })).toMatchObject({ ok: false, code: 'auto_tool_choice', message: expect.stringContaining('gives tool choice auto together with structured output,') });
    // Each says what the caller can do without the need that emptied the set (R52: a count was told to ask separately).
    const seeing = [endpoint('claude', { dialect: 'anthropic', images: false }), endpoint('vision')];
    expect(count(seeing, { hasImages: true })).toMatchObject({ ok: false, status: 404, code: 'token_counting', message: expect.stringMatching(/gives token counting together with images, .*; read the input tokens from an answer's usage instead, or ask the operator/) });
    const prefilling = [endpoint('claude', { dialect: 'anthropic', prefill: false }), endpoint('vllm', { images: false })];
    expect(route(prefilling, ['cost'], { hasImages: true, trailingAssistant: 'continue' })).toMatchObject({ ok: false, code: 'prefill', message: expect.stringContaining('; end the conversation with a user turn, or ask the operator') });
    // Images by URL: inline ones may still be served (R53).
    const fetching = [endpoint('inline-only', { imageUrls: 'none' }), endpoint('fetches', { structuredOutputs: false })];
    expect(route(fetching, ['cost'], { structuredOutput: 'json_schema', hasImages: true, imageUrls: 'public' })).toMatchObject({ ok: false, code: 'images', message: expect.stringContaining('gives images together with structured output, which this request needs all of: some give each, none gives all; send the images inline (base64), or the request without them, or ask') });
    // Only where an endpoint with the needs before would read them inline (R54: said where none would).
    const blind = [endpoint('no-images', { images: false }), endpoint('fetches', { structuredOutputs: false })];
    expect(route(blind, ['cost'], { structuredOutput: 'json_schema', hasImages: true, imageUrls: 'public' })).toMatchObject({ ok: false, code: 'images', message: expect.stringContaining('none gives all; send the request without images, or ask') });
    // A count on a route that counts nowhere is a 404 first, whatever else it needs.
    expect(count([endpoint('openai')], { thinking: true })).toMatchObject({ ok: false, status: 404, code: 'token_counting' });
  });

  it('answers and counts refuse alike whenever both fail on a shared capability, on random routes and requests', () => {
    const random = seededRandom(42);
    const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const flag = (): boolean => random() < 0.7;
    let compared = 0;
    for (let round = 0; round < 3000; round += 1) {
      const endpoints = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, index) =>
        endpoint(`e${String(index)}`, { dialect: pick(['openai', 'anthropic'] as const), structuredOutputs: flag(), images: flag(), thinking: flag(), pdfs: pick([undefined, true, false]), autoToolChoice: flag(), prefill: flag() }),
      );
      const input: Partial<RouteInput> = {
        ...(random() < 0.5 ? { structuredOutput: pick(['json_schema', 'json_object', 'strict_tools'] as const) } : {}),
        ...(random() < 0.3 ? { openObject: { place: 'response_format.json_schema.schema', param: 'response_format' as const } } : {}),
        hasImages: random() < 0.4,
        hasPdfs: random() < 0.4,
        thinking: random() < 0.4,
        needsAutoToolChoice: random() < 0.4,
      };
      const answer = route(endpoints, ['cost'], input);
      const counted = routeTokenCount(request({ ...input, maxOutputTokens: 0 }), endpoints, policyFor(endpoints, ['cost']), seededRandom(1));
      const shared = ['structured_output', 'images', 'pdfs', 'thinking'];
      if (answer.ok || counted.ok || !shared.includes(answer.code) || !shared.includes(counted.code)) continue;
      compared += 1;
      expect(counted).toEqual(answer);
    }
    expect(compared).toBeGreaterThan(300);
  });
});

describe('eligibility: images', () => {
  it('a request that shows images goes only to endpoints that read them; none left is a 400 naming messages', () => {
    const fleet = [endpoint('text-only', { images: false }), endpoint('vision'), endpoint('eu-vision', { jurisdiction: 'eu' })];
    expect(ranked(route(fleet, ['cost'], { hasImages: true }))).toEqual(['vision', 'eu-vision']);
    expect(ranked(route(fleet, ['cost']))).toEqual(['text-only', 'vision', 'eu-vision']);
    // Images by URL only where the endpoint may fetch them; a local or private one only where it may fetch those.
    const fetching = [endpoint('inline-only', { imageUrls: 'none' }), endpoint('public'), endpoint('internal', { imageUrls: 'any' })];
    expect(ranked(route(fetching, ['cost'], { hasImages: true, imageUrls: 'public' }))).toEqual(['public', 'internal']);
    expect(ranked(route(fetching, ['cost'], { hasImages: true, imageUrls: 'local' }))).toEqual(['internal']);
    expect(ranked(route(fetching, ['cost'], { hasImages: true }))).toEqual(['inline-only', 'public', 'internal']);
    expect(route([endpoint('inline-only', { imageUrls: 'none' })], ['cost'], { hasImages: true, imageUrls: 'public' })).toMatchObject({ status: 400, code: 'images', message: expect.stringContaining('reads images it is given by URL: send the images inline (base64)') });
    expect(route([endpoint('public')], ['cost'], { hasImages: true, imageUrls: 'local' })).toMatchObject({ status: 400, code: 'images', message: expect.stringContaining('may fetch them from a local or private address: send the images inline (base64), or ask the operator for a route whose endpoints may (imageUrls: any)') });
    expect(route([fleet[0] as EndpointView, fleet[2] as EndpointView], ['cost'], { hasImages: true, headerJurisdictions: ['us'] })).toEqual({
      ok: false,
      status: 400,
      code: 'images',
      param: 'messages',
      message: "no endpoint for model 'frontier' in jurisdictions [us] reads images: send the request without them, or ask the operator for a route to a vision model",
    });
  });
});

describe('availability: circuits and already-tried endpoints', () => {
  it('open circuits are excluded', () => {
    expect(ranked(route([endpoint('a', { circuit: 'open' }), endpoint('b')], ['cost']))).toEqual(['b']);
  });

  it('half-open endpoints are eligible only while a probe slot is free', () => {
    const fleet = [endpoint('a', { circuit: 'half-open', halfOpenInFlight: 0 }), endpoint('b', { circuit: 'half-open', halfOpenInFlight: 1 })];
    expect(ranked(routeRequest(request(), fleet, policyFor(fleet, ['cost'], 1), Math.random))).toEqual(['a']);
    expect(ranked(routeRequest(request(), fleet, policyFor(fleet, ['cost'], 2), Math.random))).toEqual(['a', 'b']);
  });

  it('excluded endpoints are skipped, and none left is 503 with the reasons counted (panic routing off)', () => {
    const fleet = [endpoint('a', { circuit: 'open' }), endpoint('b'), endpoint('c')];
    const noPanic = (exclude: string[]): RouteDecision => routeRequest(request({ excludeEndpoints: new Set(exclude) }), fleet, policyFor(fleet, ['cost'], 1, false), Math.random);
    expect(ranked(noPanic(['b']))).toEqual(['c']);
    expect(noPanic(['b', 'c'])).toEqual({ ok: false, status: 503, code: 'unavailable', message: "no available endpoint for model 'frontier' in jurisdictions [eu, us]: 1 circuit open, 2 already tried", ejected: ['a'] });
  });

  it('panic: when circuits hold back every endpoint not yet tried, those are ranked anyway and the decision says so', () => {
    const fleet = [endpoint('a', { circuit: 'open', marginalCostPerMillionTokens: 2 }), endpoint('b', { circuit: 'half-open', halfOpenInFlight: 1 }), endpoint('c'), endpoint('d', { jurisdiction: 'jp', circuit: 'open' })];
    // An available endpoint is always preferred: no panic.
    expect(route(fleet, ['cost'])).toMatchObject({ ok: true, panic: false });
    expect(ranked(route(fleet, ['cost']))).toEqual(['c']);
    // Only ejected ones left (c tried): all of them, never d (outside the jurisdictions), in random order,
    // not cheapest first: over seeds each one leads, so a recovered endpoint is not starved by cheaper ones.
    const panicked = route(fleet, ['cost'], { excludeEndpoints: new Set(['c']) });
    expect(panicked).toMatchObject({ ok: true, panic: true });
    expect(ranked(panicked).sort()).toEqual(['a', 'b']);
    const leaders = new Set(Array.from({ length: 40 }, (_, seed) => ranked(route(fleet, ['cost'], { excludeEndpoints: new Set(['c']) }, seededRandom(seed)))[0]));
    expect(leaders).toEqual(new Set(['a', 'b']));
    // Tried endpoints stay excluded even in panic: every one tried is 503.
    expect(route(fleet, ['cost'], { excludeEndpoints: new Set(['a', 'b', 'c']) })).toMatchObject({ ok: false, status: 503, code: 'unavailable' });
    // The jurisdiction and context steps are never relaxed.
    expect(route(fleet, ['cost'], { excludeEndpoints: new Set(['c']), headerJurisdictions: ['jp'], tenantJurisdictions: ['us'] })).toMatchObject({ ok: false, code: 'jurisdiction' });
    expect(route(fleet, ['cost'], { excludeEndpoints: new Set(['c']), promptTokens: 40_000 })).toMatchObject({ ok: false, code: 'context' });
  });

  it('a route whose endpoints have no state is 503', () => {
    expect(routeRequest(request(), [], policyFor([endpoint('a')], ['cost']), Math.random)).toMatchObject({ ok: false, status: 503, code: 'unavailable' });
  });
});

describe('scoring policies', () => {
  it('cost: free committed capacity first, then cheapest marginal; ties keep route order', () => {
    const fleet = [endpoint('pricey', { marginalCostPerMillionTokens: 3 }), endpoint('free-a'), endpoint('cheap', { marginalCostPerMillionTokens: 1 }), endpoint('free-b')];
    expect(ranked(route(fleet, ['cost']))).toEqual(['free-a', 'free-b', 'cheap', 'pricey']);
  });

  it('an endpoint inside a Retry-After it sent goes after the others, whatever the policy ranks it', () => {
    const fleet = [endpoint('free-a', { backedOff: true }), endpoint('free-b'), endpoint('cheap', { marginalCostPerMillionTokens: 1, backedOff: true }), endpoint('pricey', { marginalCostPerMillionTokens: 3 })];
    expect(ranked(route(fleet, ['cost']))).toEqual(['free-b', 'pricey', 'free-a', 'cheap']);
  });

  it('endpoints all inside a Retry-After: the one whose wait ends first goes first, whatever the policy ranks it (E34)', () => {
    // An idle paid endpoint that asked for a second, and full free ones that asked for 80 ms: cost alone put the paid one first.
    const fleet = [endpoint('free-a', { outstanding: 10, backedOff: true, backedOffUntil: 1_080 }), endpoint('free-b', { outstanding: 10, backedOff: true, backedOffUntil: 1_070 }), endpoint('paid', { marginalCostPerMillionTokens: 1.5, backedOff: true, backedOffUntil: 2_000 })];
    expect(ranked(route(fleet, ['cost', 'least-load']))).toEqual(['free-b', 'free-a', 'paid']);
    // Equal ends keep the policy's order; one not waiting still goes before them all.
    const even = [endpoint('paid', { marginalCostPerMillionTokens: 1, backedOff: true, backedOffUntil: 500 }), endpoint('free', { backedOff: true, backedOffUntil: 500 }), endpoint('pricey', { marginalCostPerMillionTokens: 3 })];
    expect(ranked(route(even, ['cost']))).toEqual(['pricey', 'free', 'paid']);
    // Ends within 250 ms are one (two asked for '1' a few ms apart): the policy's order then (R24).
    const close = [endpoint('b', { marginalCostPerMillionTokens: 1, backedOff: true, backedOffUntil: 1_000 }), endpoint('a', { backedOff: true, backedOffUntil: 1_003 })];
    expect(ranked(route(close, ['cost']))).toEqual(['a', 'b']);
    // Waits exact to the millisecond (retry-after-ms): 80 and 85 ms full free replicas before an idle paid one's 300 (R25).
    const exact = [endpoint('paid', { marginalCostPerMillionTokens: 1.2, backedOff: true, backedOffUntil: 1_300 }), endpoint('free-1', { capacity: 8, outstanding: 8, backedOff: true, backedOffUntil: 1_080 }), endpoint('free-2', { capacity: 8, outstanding: 8, backedOff: true, backedOffUntil: 1_085 })];
    expect(ranked(route(exact, ['cost']))).toEqual(['free-1', 'free-2', 'paid']);
  });

  it('cost: free capacity that is full goes behind everything with room, so traffic spills to the cheapest paid', () => {
    const fleet = [endpoint('free', { capacity: 64, outstanding: 64 }), endpoint('pricey', { marginalCostPerMillionTokens: 3 }), endpoint('cheap', { marginalCostPerMillionTokens: 1, outstanding: 9 })];
    expect(ranked(route(fleet, ['cost']))).toEqual(['cheap', 'pricey', 'free']);
    // One slot left is still room: free first again.
    expect(ranked(route([endpoint('free', { capacity: 64, outstanding: 63 }), ...fleet.slice(1)], ['cost']))).toEqual(['free', 'cheap', 'pricey']);
    // Everything full: by cost again, a queue on the free capacity before a queue on paid.
    const allFull = [endpoint('pricey', { marginalCostPerMillionTokens: 3, outstanding: 10 }), endpoint('free', { outstanding: 12 })];
    expect(ranked(route(allFull, ['cost']))).toEqual(['free', 'pricey']);
  });

  it('least-load: the power-of-two winner first, the rest by load', () => {
    const fleet = [endpoint('a', { outstanding: 9 }), endpoint('b', { outstanding: 1 }), endpoint('c', { outstanding: 5 }), endpoint('d', { outstanding: 3 })];
    // Samples index 0 (a), then index 1 of the other three (c): c beats a, though b is lighter still.
    expect(ranked(route(fleet, ['least-load'], {}, scriptedRandom([0, 0.5])))).toEqual(['c', 'b', 'd', 'a']);
  });

  it('least-load: idle endpoints share the requests, not the first in route order taking them all', () => {
    const random = seededRandom(11);
    for (const size of [2, 3]) {
      const fleet = Array.from({ length: size }, (_, index) => endpoint(`e${String(index)}`));
      const firsts = new Map<string, number>();
      for (let draw = 0; draw < 3000; draw += 1) {
        const first = ranked(route(fleet, ['least-load'], {}, random))[0] ?? '';
        firsts.set(first, (firsts.get(first) ?? 0) + 1);
      }
      for (const { id } of fleet) expect((firsts.get(id) ?? 0) / 3000).toBeCloseTo(1 / size, 1);
    }
  });

  it('least-load: the load counted is with the request placed, so unequal capacities fill evenly', () => {
    // Idle, an endpoint of 32 takes the request before one of 4, every time: both would read 0 without it.
    const idle = [endpoint('small', { capacity: 4 }), endpoint('big', { capacity: 32 })];
    const draws = seededRandom(3);
    const firsts = Array.from({ length: 200 }, () => ranked(route(idle, ['least-load'], {}, draws))[0]);
    expect(firsts.filter((id) => id === 'big')).toHaveLength(200);
    // With 3 of 4 in flight on the small one and 24 of 32 on the big one (both 75%), the big one leads.
    expect(ranked(route([endpoint('small', { capacity: 4, outstanding: 3 }), endpoint('big', { capacity: 32, outstanding: 24 })], ['least-load']))[0]).toBe('big');
    // Filling 36 slots one request at a time, the small endpoint never runs past its capacity.
    const fleet = [endpoint('small', { capacity: 4 }), endpoint('big', { capacity: 32 })];
    const random = seededRandom(5);
    for (let placed = 0; placed < 36; placed += 1) {
      const first = ranked(route(fleet, ['least-load'], {}, random))[0];
      const index = fleet.findIndex((view) => view.id === first);
      const chosen = fleet[index];
      if (chosen !== undefined) fleet[index] = { ...chosen, outstanding: chosen.outstanding + 1 };
    }
    expect(fleet.map((view) => view.outstanding)).toEqual([4, 32]);
  });

  it('least-load: load is outstanding over capacity', () => {
    const fleet = [endpoint('big', { outstanding: 20, capacity: 100 }), endpoint('small', { outstanding: 5, capacity: 10 })];
    expect(ranked(route(fleet, ['least-load'])))
      .toEqual(['big', 'small']);
  });

  it('least-load: statistically prefers the less loaded over many seeded draws, without starving others', () => {
    const fleet = [endpoint('idle', { outstanding: 0 }), endpoint('light', { outstanding: 3 }), endpoint('busy', { outstanding: 6 }), endpoint('full', { outstanding: 9 })];
    const random = seededRandom(7);
    const firsts = new Map<string, number>();
    for (let draw = 0; draw < 4000; draw += 1) {
      const first = ranked(route(fleet, ['least-load'], {}, random))[0] ?? '';
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    // Power of two choices: the k-th least loaded of n wins when sampled with a more loaded one,
    // with probability 2(n-k)/(n(n-1)): 1/2, 1/3, 1/6, 0 for n = 4.
    expect((firsts.get('idle') ?? 0) / 4000).toBeCloseTo(1 / 2, 1);
    expect((firsts.get('light') ?? 0) / 4000).toBeCloseTo(1 / 3, 1);
    expect((firsts.get('busy') ?? 0) / 4000).toBeCloseTo(1 / 6, 1);
    expect(firsts.get('full') ?? 0).toBe(0);
  });

  it('latency: EWMA TTFT ascending; an endpoint without one goes first when idle (to be measured), last while a request to it is out', () => {
    const fleet = [endpoint('slow', { ewmaTtftMs: 900 }), endpoint('new'), endpoint('fast', { ewmaTtftMs: 100 }), endpoint('mid', { ewmaTtftMs: 400 })];
    expect(ranked(route(fleet, ['latency']))).toEqual(['new', 'fast', 'mid', 'slow']);
    const measuring = fleet.map((view) => (view.id === 'new' ? { ...view, outstanding: 1 } : view));
    expect(ranked(route(measuring, ['latency']))).toEqual(['fast', 'mid', 'slow', 'new']);
  });

  it('latency: the average stretched by the share in use, so load spreads rather than herds onto the fastest (E34); a full fast one still beats a hung one (R24)', () => {
    // The fast one with 7 of 8 slots taken expects 50 x 1.875; an idle one averaging 80 goes first. A full one at 10 expects 20.
    const fleet = [endpoint('fast', { ewmaTtftMs: 50, capacity: 8, outstanding: 7 }), endpoint('steady', { ewmaTtftMs: 80, capacity: 8 }), endpoint('fastest-full', { ewmaTtftMs: 10, capacity: 8, outstanding: 8 })];
    expect(ranked(route(fleet, ['latency']))).toEqual(['fastest-full', 'steady', 'fast']);
    // Idle, it is the average alone.
    expect(ranked(route(fleet.map((view) => ({ ...view, outstanding: 0 })), ['latency']))).toEqual(['fastest-full', 'fast', 'steady']);
    // A hung endpoint's lower bound (a TTFT timeout), idle, and one being measured stay behind a full fast one: room alone puts no one first.
    const overflow = [endpoint('hung', { ewmaTtftMs: 10_000, capacity: 8 }), endpoint('measuring', { outstanding: 1 }), endpoint('fast', { ewmaTtftMs: 50, capacity: 1, outstanding: 1 })];
    expect(ranked(route(overflow, ['latency']))).toEqual(['fast', 'hung', 'measuring']);
    // A request that would queue (the endpoint at capacity) counts 4x, doubling for each already queued (R25, R27).
    const atCapacity = (outstanding: number): EndpointView[] => [endpoint('fast', { ewmaTtftMs: 50, capacity: 8, outstanding }), endpoint('steady', { ewmaTtftMs: 110, capacity: 8 })];
    expect(ranked(route(atCapacity(7), ['latency']))).toEqual(['fast', 'steady']);
    expect(ranked(route(atCapacity(8), ['latency']))).toEqual(['steady', 'fast']);
    // Deep queues keep growing the key (R27: capped at 60, a queue of 1,000 tied one of 61 and herding came back).
    expect(ranked(route([endpoint('deep', { ewmaTtftMs: 100, capacity: 8, outstanding: 1_008 }), endpoint('shallow', { ewmaTtftMs: 110, capacity: 8, outstanding: 69 })], ['latency']))).toEqual(['shallow', 'deep']);
    // A hung endpoint's lower bound (a 10 s TTFT timeout) loses to a 500 ms one with 2 queued (8,000 ms), not with 4 (32,000 ms).
    const behindHung = (outstanding: number): EndpointView[] => [endpoint('hung', { ewmaTtftMs: 10_000, capacity: 8 }), endpoint('busy', { ewmaTtftMs: 500, capacity: 8, outstanding })];
    expect(ranked(route(behindHung(10), ['latency']))).toEqual(['busy', 'hung']);
    // Three queued: 16,000 ms, past the hung one's 10,000 (the docs' example, R28).
    expect(ranked(route(behindHung(11), ['latency']))).toEqual(['hung', 'busy']);
    expect(ranked(route(behindHung(12), ['latency']))).toEqual(['hung', 'busy']);
  });

  it('latency: an average below a millisecond counts as one, so a full endpoint whose TTFT the clock did not see does not take every request', () => {
    const fleet = [endpoint('unseen', { ewmaTtftMs: 0, capacity: 8, outstanding: 8 }), endpoint('idle', { ewmaTtftMs: 0.5, capacity: 8 })];
    expect(ranked(route(fleet, ['latency']))).toEqual(['idle', 'unseen']);
    // Idle, both read a millisecond: a tie, kept in route order.
    expect(ranked(route(fleet.map((view) => ({ ...view, outstanding: 0 })), ['latency']))).toEqual(['unseen', 'idle']);
  });

  it('weighted: the first is chosen in proportion to weight', () => {
    const fleet = [endpoint('heavy', { weight: 3 }), endpoint('light', { weight: 1 })];
    const random = seededRandom(11);
    let heavy = 0;
    for (let draw = 0; draw < 4000; draw += 1) if (ranked(route(fleet, ['weighted'], {}, random))[0] === 'heavy') heavy += 1;
    expect(heavy / 4000).toBeCloseTo(0.75, 1);
  });
});

describe('prefix affinity: bounded-load consistent hashing', () => {
  const fleet = ['a', 'b', 'c', 'd', 'e'].map((id) => endpoint(id, { capacity: 10 }));

  it('the same prefix goes to the same endpoint while load is balanced', () => {
    const first = ranked(route(fleet, ['prefix-affinity'], { prefixKey: 'system prompt 42' }))[0];
    for (let seed = 0; seed < 20; seed += 1) expect(ranked(route(fleet, ['prefix-affinity'], { prefixKey: 'system prompt 42' }, seededRandom(seed)))[0]).toBe(first);
  });

  it('different prefixes spread over the endpoints', () => {
    const firsts = new Set<string>();
    for (let key = 0; key < 200; key += 1) firsts.add(ranked(route(fleet, ['prefix-affinity'], { prefixKey: `prefix ${String(key)}` }))[0] ?? '');
    expect(firsts.size).toBe(5);
  });

  it('moves on when the sticky endpoint exceeds the load bound, and comes back when it drains', () => {
    const key = 'shared prefix';
    const home = ranked(route(fleet, ['prefix-affinity'], { prefixKey: key }))[0] ?? '';
    const walk = walkRing(hashRingFor(fleet.map((e) => e.id)), key, new Set(fleet.map((e) => e.id)));
    expect(walk[0]).toBe(home);
    // Total outstanding 8 (all on home): bound = ceil(1.25 * 9 * 10/50) = 3, and home would have 9.
    const loaded = fleet.map((e) => (e.id === home ? { ...e, outstanding: 8 } : e));
    const moved = ranked(route(loaded, ['prefix-affinity'], { prefixKey: key }));
    expect(moved[0]).toBe(walk[1]);
    expect(moved.at(-1)).toBe(home);
    // Spread load: 2 + 1 <= ceil(1.25 * 11 * 10/50) = 3, so home is within the bound again.
    const balanced = fleet.map((e) => ({ ...e, outstanding: 2 }));
    expect(ranked(route(balanced, ['prefix-affinity'], { prefixKey: key }))[0]).toBe(home);
  });

  it("a large route: the ring walk orders the first endpoints, the rest follow once each; a route's repeated id counts once", () => {
    const large = Array.from({ length: 120 }, (_, index) => endpoint(`e-${String(index)}`));
    const key = 'a long shared system prompt';
    const order = ranked(route(large, ['prefix-affinity'], { prefixKey: key }));
    expect(order).toHaveLength(120);
    expect(new Set(order).size).toBe(120);
    const walk = walkRing(hashRingFor(large.map((e) => e.id)), key, new Set(large.map((e) => e.id)));
    expect(order.slice(0, 16)).toEqual(walk.slice(0, 16));
    expect(walkRing(hashRingFor(large.map((e) => e.id)), key, new Set(large.map((e) => e.id)), 3)).toEqual(walk.slice(0, 3));
    // An id listed twice in a large route is one candidate, as in a small one.
    const twice: RoutingPolicy = { routes: new Map([['frontier', { model: 'frontier', endpoints: [...large.map((e) => e.id), 'e-7'], policy: ['cost'] }]]), halfOpenProbes: 1, panic: true };
    const decision = routeRequest(request(), large, twice, seededRandom(1));
    expect(ranked(decision)).toHaveLength(120);
  });

  it("a large route's hot prefix whose first endpoints on the ring are all over the bound goes to the ring's next, not to the tier's first", () => {
    const large = Array.from({ length: 60 }, (_, index) => endpoint(`e-${String(index)}`, { capacity: 8 }));
    const key = 'a hot system prompt';
    const walk = walkRing(hashRingFor(large.map((e) => e.id)), key, new Set(large.map((e) => e.id)));
    // The ring's first 20 for this prefix are full; the rest idle: the bound is ceil(1.25 * (160 + 1) * 8 / 480) = 4.
    const loaded = large.map((e) => (walk.slice(0, 20).includes(e.id) ? { ...e, outstanding: 8 } : e));
    const order = ranked(route(loaded, ['prefix-affinity'], { prefixKey: key }));
    expect(order[0]).toBe(walk[20]);
    expect(order.slice(0, 5)).toEqual(walk.slice(20, 25));
  });

  it('never chooses an ineligible endpoint; the others keep their keys', () => {
    const key = 'another prefix';
    const walk = walkRing(hashRingFor(fleet.map((e) => e.id)), key, new Set(fleet.map((e) => e.id)));
    const home = walk[0] ?? '';
    const homeDown = fleet.map((e) => (e.id === home ? { ...e, circuit: 'open' as const } : e));
    expect(route(homeDown, ['prefix-affinity'], { prefixKey: key })).toMatchObject({ ok: true, panic: false });
    const ranking = ranked(route(homeDown, ['prefix-affinity'], { prefixKey: key }));
    expect(ranking).not.toContain(home);
    expect(ranking[0]).toBe(walk[1]);
    const otherHeader = fleet.map((e) => (e.id === home ? { ...e, jurisdiction: 'jp' } : e));
    expect(ranked(route(otherHeader, ['prefix-affinity'], { prefixKey: key }))).not.toContain(home);
    // Keys whose home stays up do not move when another endpoint goes down.
    let moved = 0;
    for (let index = 0; index < 200; index += 1) {
      const other = `key ${String(index)}`;
      const before = ranked(route(fleet, ['prefix-affinity'], { prefixKey: other }))[0];
      const after = ranked(route(homeDown, ['prefix-affinity'], { prefixKey: other }))[0];
      if (before !== home && before !== after) moved += 1;
    }
    expect(moved).toBe(0);
  });

  it('without a prefix key the next policy decides', () => {
    const priced = [endpoint('x', { marginalCostPerMillionTokens: 2 }), endpoint('y')];
    expect(ranked(route(priced, ['prefix-affinity', 'cost']))).toEqual(['y', 'x']);
  });

  it('gives each endpoint a share of keys in proportion to its capacity', () => {
    const mixed = [endpoint('small', { capacity: 8 }), endpoint('large', { capacity: 64 })];
    const counts = new Map<string, number>();
    for (let key = 0; key < 4000; key += 1) {
      const first = ranked(route(mixed, ['prefix-affinity'], { prefixKey: `conversation ${String(key)}` }))[0] ?? '';
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    // 8 / 72 of the keys: about 444 of 4,000.
    expect((counts.get('small') ?? 0) / 4000).toBeGreaterThan(0.06);
    expect((counts.get('small') ?? 0) / 4000).toBeLessThan(0.17);
    // Equal weights give equal rings; the memo tells weights apart.
    expect(hashRingFor(['a', 'b'], (id) => (id === 'a' ? 1 : 3)).points).toHaveLength(50 + 150);
  });

  it('the ring has virtual nodes and a stable hash', () => {
    expect(hashRingFor(['b', 'a']).points).toHaveLength(2 * virtualNodesPerEndpoint);
    expect(hashRingFor(['a', 'b'])).toBe(hashRingFor(['b', 'a']));
    expect(hash32('abc')).toBe(hash32('abc'));
    expect(hash32('abc')).not.toBe(hash32('abd'));
  });
});

describe('composition: lexicographic, ties within 5% broken by the next policy', () => {
  it('cost first, latency breaks ties among the free endpoints', () => {
    const fleet = [endpoint('paid-fast', { marginalCostPerMillionTokens: 1, ewmaTtftMs: 10 }), endpoint('free-slow', { ewmaTtftMs: 500 }), endpoint('free-fast', { ewmaTtftMs: 100 })];
    expect(ranked(route(fleet, ['cost', 'latency']))).toEqual(['free-fast', 'free-slow', 'paid-fast']);
  });

  it('values within 5% tie; beyond, they do not', () => {
    const fleet = [endpoint('a', { marginalCostPerMillionTokens: 1.04, ewmaTtftMs: 100 }), endpoint('b', { marginalCostPerMillionTokens: 1, ewmaTtftMs: 900 }), endpoint('c', { marginalCostPerMillionTokens: 1.06, ewmaTtftMs: 50 })];
    expect(ranked(route(fleet, ['cost', 'latency']))).toEqual(['a', 'b', 'c']);
  });

  it('latency first, cost breaks a near tie', () => {
    const fleet = [endpoint('paid', { marginalCostPerMillionTokens: 2, ewmaTtftMs: 100 }), endpoint('free', { ewmaTtftMs: 104 })];
    expect(ranked(route(fleet, ['latency', 'cost']))).toEqual(['free', 'paid']);
  });

  it('cost first, then least-load among the free ones', () => {
    const fleet = [endpoint('free-busy', { outstanding: 9 }), endpoint('paid-idle', { marginalCostPerMillionTokens: 1 }), endpoint('free-idle')];
    expect(ranked(route(fleet, ['cost', 'least-load']))).toEqual(['free-idle', 'free-busy', 'paid-idle']);
  });

  it('least-load ties (both idle) are broken by the next policy', () => {
    const fleet = [endpoint('paid', { marginalCostPerMillionTokens: 1 }), endpoint('free')];
    expect(ranked(route(fleet, ['least-load', 'cost']))).toEqual(['free', 'paid']);
  });

  it('cost first, prefix affinity among the free ones, never leaving the cheapest tier', () => {
    const fleet = [endpoint('paid', { marginalCostPerMillionTokens: 1 }), endpoint('free-a'), endpoint('free-b'), endpoint('free-c')];
    for (let key = 0; key < 50; key += 1) {
      const ranking = ranked(route(fleet, ['cost', 'prefix-affinity'], { prefixKey: `k${String(key)}` }));
      expect(ranking.at(-1)).toBe('paid');
    }
  });

  it('is deterministic for a seed', () => {
    const fleet = ['a', 'b', 'c', 'd'].map((id, index) => endpoint(id, { outstanding: index, weight: index + 1 }));
    const once = ranked(route(fleet, ['weighted', 'least-load'], {}, seededRandom(5)));
    expect(ranked(route(fleet, ['weighted', 'least-load'], {}, seededRandom(5)))).toEqual(once);
  });
});

describe('prefixKeyOf', () => {
  const message = (role: string, content: string): { role: string; content: string } => ({ role, content });

  it('is the system messages and the first other turn, one per line, up to 2,048 characters', () => {
    expect(prefixKeyOf([message('system', 'be terse'), message('user', 'question')])).toBe('be terse\nquestion');
    expect(prefixKeyOf([message('user', 'first'), message('assistant', 'answer'), message('user', 'second')])).toBe('first');
    expect(prefixKeyOf([message('user', 'x'.repeat(3000))])).toBe('x'.repeat(2048));
    expect(prefixKeyOf([])).toBe('');
    const long = [message('system', 's'.repeat(1000)), message('system', 'u'.repeat(1047)), message('user', 'v'.repeat(5000))];
    expect(prefixKeyOf(long)).toBe(`${'s'.repeat(1000)}\n${'u'.repeat(1047)}`);
    expect(prefixKeyOf(long)).toHaveLength(2048);
  });

  it('keys every turn of a conversation alike, so it stays on one replica; conversations sharing only a system prompt differ', () => {
    const system = message('system', 'You are a helpful assistant.');
    const turns = [message('user', 'plan a trip to Lisbon'), message('assistant', 'Day one: Alfama.'), message('user', 'and day two?'), message('assistant', 'Belem.'), message('user', 'and food?')];
    const keys = new Set([1, 3, 5].map((length) => prefixKeyOf([system, ...turns.slice(0, length)])));
    expect(keys.size).toBe(1);
    expect(prefixKeyOf([system, message('user', 'write a haiku')])).not.toBe(prefixKeyOf([system, turns[0] ?? message('user', '')]));
  });

  it('keys conversations that begin with different images apart, the same image alike, without reading all of its data', () => {
    const shown = (data: string): { role: string; content: string; parts: ChatMessage['parts'] } => ({ role: 'user', content: 'what is this?', parts: [{ type: 'image', source: { type: 'base64', mediaType: 'image/png', data } }, { type: 'text', text: 'what is this?' }] });
    const cat = 'A'.repeat(4000) + 'cat' + 'A'.repeat(4000);
    const dog = 'A'.repeat(4000) + 'dog' + 'A'.repeat(4000);
    expect(prefixKeyOf([shown(cat)])).not.toBe(prefixKeyOf([shown(dog)]));
    expect(prefixKeyOf([shown(cat), message('assistant', 'a cat'), message('user', 'sure?')])).toBe(prefixKeyOf([shown(cat)]));
    expect(prefixKeyOf([shown(cat)]).length).toBeLessThan(100);
    const byUrl = (url: string): { role: string; content: string; parts: ChatMessage['parts'] } => ({ role: 'user', content: '', parts: [{ type: 'image', source: { type: 'url', url } }] });
    expect(prefixKeyOf([byUrl('https://example.com/a.png')])).not.toBe(prefixKeyOf([byUrl('https://example.com/b.png')]));
  });
});
