import { describe, expect, it } from 'vitest';
import { formatProblem, type SpecProblem } from '../../src/domain/spec-problem.js';
import { parseFleet } from '../../src/domain/load-fleet.js';
import { loadGatewayConfig, parseGatewayConfig, type GatewayConfig } from '../../src/gateway/gateway-config.js';
import { gatewayConfigWarnings } from '../../src/gateway/gateway-config-warnings.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { makeTempDir, readText, repoRoot } from '../helpers/paths.js';
import { join } from 'node:path';

const acmeKeyHash = hashApiKey('sk-acme-test');

const valid = `version: 1
listen: { port: 8080, host: 127.0.0.1 }
endpoints:
  - id: gcp-us-1
    url: http://127.0.0.1:9001
    dialect: openai
    model: frontier-m
    provider: gcp
    region: us-central1
    jurisdiction: us
    chip: tpu7x
    pool: gcp-usc1-tpu7x
    contextWindow: 32768
    longContext: false
    marginalCostPerMillionTokens: 0
    capacity: 64
    weight: 1
    apiKeyEnv: UPSTREAM_KEY
  - id: azure-eu-1
    url: https://eu.example.com/base
    dialect: anthropic
    model: frontier-m
    provider: azure
    region: westeurope
    jurisdiction: eu
    contextWindow: 131072
    longContext: true
    marginalCostPerMillionTokens: 1.5
    capacity: 32
routes:
  - model: frontier
    endpoints: [gcp-us-1, azure-eu-1]
    policy: [cost, least-load]
tenants:
  - id: acme
    apiKeySha256: ${acmeKeyHash}
    jurisdictions: [us, eu]
    requestsPerMinute: 600
    tokensPerMinute: 2000000
resilience:
  retries: 3
  circuitBreaker: { failureThreshold: 4 }
limits: { maxBodyBytes: 1048576 }
logging: { logPrompts: false }
`;

/** Replaces one exact snippet, failing loudly if it is missing or ambiguous. */
function edit(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + from.length) >= 0) throw new Error(`expected exactly one ${JSON.stringify(from)}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

function loadOk(text: string): GatewayConfig {
  const result = parseGatewayConfig(text, 'gateway.yaml');
  if (!result.ok) throw new Error(`expected the config to load, got:\n${result.problems.map(formatProblem).join('\n')}`);
  return result.value;
}

function onlyProblem(text: string): SpecProblem {
  const result = parseGatewayConfig(text, 'gateway.yaml');
  if (result.ok) throw new Error('expected problems, but the config loaded');
  expect(result.problems, result.problems.map(formatProblem).join('\n')).toHaveLength(1);
  const [problem] = result.problems;
  if (problem === undefined) throw new Error('unreachable');
  return problem;
}

/** The 1-based line and column of the n-th occurrence of `needle` in the valid config after an edit. */
function positionOf(text: string, needle: string, occurrence = 1): { line: number; column: number } {
  let at = -1;
  for (let seen = 0; seen < occurrence; seen += 1) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`no ${needle}`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

describe('a valid gateway config', () => {
  it('loads with every field and fills defaults', () => {
    const config = loadOk(valid);
    expect(config.listen).toEqual({ port: 8080, host: '127.0.0.1', shutdownGraceMs: 10_000 });
    expect(config.endpoints.map((e) => e.id)).toEqual(['gcp-us-1', 'azure-eu-1']);
    expect(config.endpoints[1]).toMatchObject({ dialect: 'anthropic', longContext: true, weight: 1, marginalCostPerMillionTokens: 1.5 });
    expect(config.endpoints[0]?.apiKeyEnv).toBe('UPSTREAM_KEY');
    expect(config.routes[0]).toEqual({ model: 'frontier', endpoints: ['gcp-us-1', 'azure-eu-1'], policy: ['cost', 'least-load'] });
    expect(config.tenants[0]?.apiKeySha256).toBe(acmeKeyHash);
    expect(config.resilience).toEqual({
      retries: 3,
      backoffMs: 50,
      maxBackoffMs: 2000,
      ttftTimeoutMs: 10_000,
      deadlineMs: 120_000,
      tokenIdleTimeoutMs: 10_000,
      hedgeAfterMs: 0,
      resumeStreams: true,
      panicRouting: true,
      circuitBreaker: { failureThreshold: 4, windowMs: 30_000, openMs: 10_000, halfOpenProbes: 1 },
    });
  });

  it("an endpoint's capability flags default to what most upstreams do; imageUrls reads its short-lived boolean form too", () => {
    expect(loadOk(valid).endpoints[0]).toMatchObject({ prefill: true, autoToolChoice: true, structuredOutputs: true, images: true, imageUrls: 'public' });
    const flagged = (value: string): string => valid.replace('    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    imageUrls: ${value}\n    structuredOutputs: false\n    images: false\n`);
    expect(loadOk(flagged('any')).endpoints[0]).toMatchObject({ imageUrls: 'any', structuredOutputs: false, images: false });
    expect(loadOk(flagged('false')).endpoints[0]?.imageUrls).toBe('none');
    expect(loadOk(flagged('true')).endpoints[0]?.imageUrls).toBe('public');
  });

  it('fills every optional block when absent', () => {
    const minimal = valid.slice(0, valid.indexOf('resilience:')).replace('listen: { port: 8080, host: 127.0.0.1 }\n', '').replace('    policy: [cost, least-load]\n', '');
    const config = loadOk(minimal);
    expect(config.listen).toEqual({ port: 8080, host: '127.0.0.1', shutdownGraceMs: 10_000 });
    expect(config.routes[0]?.policy).toEqual(['cost', 'least-load']);
    expect(config.resilience.circuitBreaker).toEqual({ failureThreshold: 5, windowMs: 30_000, openMs: 10_000, halfOpenProbes: 1 });
    expect(config.limits).toEqual({ maxBodyBytes: 32 * 1024 * 1024, maxBodyBytesInFlight: 1024 * 1024 * 1024, maxJsonValues: 100_000 });
    expect(config.logging.logPrompts).toBe(false);
  });

  it('normalises an upper-case key hash', () => {
    expect(loadOk(edit(valid, acmeKeyHash, acmeKeyHash.toUpperCase())).tenants[0]?.apiKeySha256).toBe(acmeKeyHash);
  });
});

describe('a large fleet written with anchors', () => {
  // 1,500 tenants merging one x- anchor: flat use, whose expansion grows with the file, not a bomb.
  const many = (count: number, last = '*limits'): string =>
    edit(valid, 'tenants:\n', `x-limits: &limits { jurisdictions: [us, eu], requestsPerMinute: 600, tokensPerMinute: 2000000 }\ntenants:\n${Array.from({ length: count }, (_, index) => `  - { id: t${String(index)}, apiKeySha256: ${hashApiKey(`sk-${String(index)}`)}, <<: ${index === count - 1 ? last : '*limits'} }\n`).join('')}`);

  it('takes any number of aliases to one anchor (the library alone refuses past 1,000)', () => {
    const config = loadOk(many(1500));
    expect(config.tenants).toHaveLength(1501);
    expect(config.tenants[1499]).toMatchObject({ id: 't1499', requestsPerMinute: 600, jurisdictions: ['us', 'eu'] });
  });

  it('names the line of an alias to no anchor among many', () => {
    const text = many(1500, '*limit');
    expect(onlyProblem(text)).toMatchObject({ code: 'syntax', line: positionOf(text, '*limit }').line, message: 'YAML error: an alias (*name) to an anchor (&name) not defined before it' });
  });
});

describe('a route naming an unknown endpoint among many', () => {
  it('lists at most 20 of the known endpoints, and how many more', () => {
    const many = Array.from({ length: 500 }, (_, index) => `  - { id: e${String(index)}, url: "http://127.0.0.1:9001", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 8192, marginalCostPerMillionTokens: 0, capacity: 8 }`);
    const text = ['version: 1', 'endpoints:', ...many, 'routes:', '  - { model: m, endpoints: [zzzz] }', 'tenants:', `  - { id: t, apiKeySha256: ${acmeKeyHash}, jurisdictions: [us], requestsPerMinute: 1, tokensPerMinute: 1 }`].join('\n');
    const problem = onlyProblem(text);
    expect(problem).toMatchObject({ code: 'unknown_reference', path: 'routes[0].endpoints[0]', message: "unknown endpoint 'zzzz'" });
    expect(problem.suggestion).toBe(`known endpoints: ${Array.from({ length: 20 }, (_, index) => `e${String(index)}`).join(', ')} and 480 more`);
  });
});

describe('a file of the other kind', () => {
  it('a fleet spec given as a gateway config, and a gateway config given as a fleet spec, are each one problem saying so', () => {
    const asGateway = parseGatewayConfig(readText(join(repoRoot, 'examples', 'small.yaml')), 'small.yaml');
    expect(asGateway.ok ? [] : asGateway.problems).toEqual([
      { code: 'invalid_value', file: 'small.yaml', line: 1, column: 1, path: '', message: 'this file is a fleet spec (it has pools, services, trainingJobs), not a gateway config', suggestion: 'give it to switchyard plan or switchyard up; a gateway config has endpoints, routes, tenants' },
    ]);
    const asFleet = parseFleet(readText(join(repoRoot, 'examples', 'gateway.yaml')), 'gateway.yaml');
    expect(asFleet.ok ? [] : asFleet.problems.map((problem) => problem.message)).toEqual(['this file is a gateway config (it has endpoints, routes, tenants), not a fleet spec']);
    // A gateway config with a key of a fleet spec among its own is checked as a gateway config.
    const mixed = parseGatewayConfig(`${valid}pools: []\n`, 'gateway.yaml');
    expect(mixed.ok ? [] : mixed.problems.map((problem) => problem.path)).toEqual(['pools']);
  });
});

describe('the bundled example', () => {
  it('examples/gateway.yaml loads, with the demo key its comment names', () => {
    const result = parseGatewayConfig(readText(join(repoRoot, 'examples', 'gateway.yaml')), 'gateway.yaml');
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.value.tenants[0]?.apiKeySha256).toBe(hashApiKey('sk-switchyard-demo'));
    expect(result.value.resilience.tokenIdleTimeoutMs).toBe(10_000);
  });

  it('its commented-out blocks (cors, logging, metrics) load when uncommented, as its comments invite', () => {
    const text = readText(join(repoRoot, 'examples', 'gateway.yaml'));
    const blocks = text.split('\n').filter((line) => /^# (cors|logging|metrics): \{/.test(line));
    expect(blocks.map((line) => line.slice(2, line.indexOf(':')))).toEqual(['cors', 'logging', 'metrics']);
    const result = parseGatewayConfig(`${text}\n${blocks.map((line) => line.slice(2)).join('\n')}\n`, 'gateway.yaml');
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.value.logging.clientAddressHeader).toBe('x-forwarded-for');
    expect(result.value.cors?.allowOrigins).toEqual(['http://localhost:3000']);
    expect(result.value.metrics.scrapeKeySha256).toBe(hashApiKey('scrape-switchyard-demo'));
  });
});

describe('jurisdictions', () => {
  it('are kept lowercase, so a mixed-case custom one can be chosen with the (lowercased) header', () => {
    const text = edit(edit(valid, 'version: 1\n', 'version: 1\njurisdictions: [EU-Sov]\n'), '    jurisdiction: us\n', '    jurisdiction: EU-Sov\n');
    const result = parseGatewayConfig(text, 'gateway.yaml');
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.value.jurisdictions).toEqual(['eu-sov']);
    expect(result.value.endpoints[0]?.jurisdiction).toBe('eu-sov');
  });

  it('a name repeated in a tenant\'s or the declared list is reported where it repeats; global is reserved', () => {
    expect(onlyProblem(edit(valid, 'jurisdictions: [us, eu]', 'jurisdictions: [us, eu, US]'))).toMatchObject({ code: 'duplicate_id', path: 'tenants[0].jurisdictions[2]', message: "jurisdiction 'us' is listed twice (names compare without case)" });
    expect(onlyProblem(edit(valid, 'version: 1\n', 'version: 1\njurisdictions: [x1, X1]\n'))).toMatchObject({ code: 'duplicate_id', path: 'jurisdictions[1]' });
    expect(onlyProblem(edit(valid, '    jurisdiction: us\n', '    jurisdiction: global\n'))).toMatchObject({ path: 'endpoints[0].jurisdiction', message: expect.stringContaining("'global' is reserved") });
  });
});

describe('gateway config problems are located, with a path and a suggestion', () => {
  it('a route naming an unknown endpoint', () => {
    const text = edit(valid, 'endpoints: [gcp-us-1, azure-eu-1]', 'endpoints: [gcp-us-1, azure-eu-l]');
    const problem = onlyProblem(text);
    expect(problem).toMatchObject({ code: 'unknown_reference', path: 'routes[0].endpoints[1]', message: "unknown endpoint 'azure-eu-l'", suggestion: "did you mean 'azure-eu-1'?", ...positionOf(text, 'azure-eu-l') });
    expect(formatProblem(problem)).toBe(`gateway.yaml:${String(problem.line)}:${String(problem.column)}: routes[0].endpoints[1]: unknown endpoint 'azure-eu-l'; did you mean 'azure-eu-1'?`);
  });

  it('an unknown key', () => {
    const text = edit(valid, '    contextWindow: 32768\n', '    contextWindw: 32768\n');
    const result = parseGatewayConfig(text, 'gateway.yaml');
    if (result.ok) throw new Error('expected problems');
    const unknown = result.problems.find((p) => p.code === 'unknown_key');
    expect(unknown).toMatchObject({ path: 'endpoints[0].contextWindw', message: "unknown field 'contextWindw'", suggestion: "did you mean 'contextWindow'?", ...positionOf(text, 'contextWindw') });
    // The real field it leaves missing is the same mistake, not a second problem.
    expect(result.problems).toHaveLength(1);
  });

  it('YAML merge keys fill an entry from an anchored one; a misspelt override is still located', () => {
    const merged = edit(valid, '  - id: azure-eu-1\n', '  - { <<: *first, id: gcp-us-2, url: "http://127.0.0.1:9002" }\n  - id: azure-eu-1\n').replace('  - id: gcp-us-1\n', '  - &first\n    id: gcp-us-1\n');
    const config = loadOk(merged);
    const [first, second] = config.endpoints;
    expect(second).toEqual({ ...first, id: 'gcp-us-2', url: 'http://127.0.0.1:9002' });
    const misspelt = edit(merged, 'url: "http://127.0.0.1:9002" }', 'url: "http://127.0.0.1:9002", capacty: 3 }');
    const problem = onlyProblem(misspelt);
    expect(problem).toMatchObject({ path: 'endpoints[1].capacty', suggestion: "did you mean 'capacity'?", ...positionOf(misspelt, 'capacty') });
  });

  it('top-level x- keys hold anchors and are ignored; other unknown top-level keys are still refused, at their line', () => {
    const text = `x-upstream: &upstream\n  provider: gcp\n  region: us-central1\n  jurisdiction: us\n${edit(valid, '    provider: gcp\n    region: us-central1\n    jurisdiction: us\n', '    <<: *upstream\n')}`;
    expect(loadOk(text)).toEqual(loadOk(valid));
    const typo = `${text}xtra: 1\n`;
    expect(onlyProblem(typo)).toMatchObject({ code: 'unknown_key', path: 'xtra', line: typo.split('\n').length - 1 });
  });

  it('a listen host with spaces, which Node could not listen on, is refused where it is written', () => {
    const problem = onlyProblem(edit(valid, 'host: 127.0.0.1', 'host: " 127.0.0.1"'));
    expect(problem).toMatchObject({ path: 'listen.host', line: 2, message: expect.stringContaining('an address without spaces') });
  });

  it('an empty text says so, not that a value must be >= 1', () => {
    const problem = onlyProblem(edit(valid, 'host: 127.0.0.1', "host: ''"));
    expect(problem).toMatchObject({ path: 'listen.host', message: "expected a non-empty text, got ''", suggestion: 'write a non-empty value' });
  });

  it("a route or endpoint named 'none', the label of requests that reached none, in the same round as the entry's other problems", () => {
    expect(onlyProblem(edit(valid, '  - model: frontier\n', '  - model: none\n'))).toMatchObject({ path: 'routes[0].model', message: "'none' is reserved: metrics and logs label requests that reached no route so", suggestion: 'give the public model another name' });
    // Control characters and line separators would reach the metrics' exposition and the log raw (E42).
    for (const odd of ['"cr\\rx"', '"nul\\0x"', '"esc\\e[31m"', '"line\\Lsep"', '"rtl\\u202Eevil"', '"iso\\u2066x"']) {
      const problem = onlyProblem(edit(valid, '  - model: frontier\n', `  - model: ${odd}\n`));
      expect(problem).toMatchObject({ path: 'routes[0].model', message: expect.stringContaining('a model name may not hold control characters, line separators or text-direction marks (they would reach metrics and logs as they are)') });
      expect([...problem.message].filter((character) => character < ' ' || (character >= '\u007f' && character <= '\u009f') || (character >= '\u2028' && character <= '\u202e') || (character >= '\u2066' && character <= '\u2069'))).toEqual([]);
    }
    // The value is quoted with its control characters escaped, as it would otherwise reach the terminal.
    expect(onlyProblem(edit(valid, '  - model: frontier\n', '  - model: "cr\\rx"\n')).message).toContain("got 'cr\\u000dx'");
    expect(onlyProblem(valid.replace('    model: frontier-m\n', '    model: "m\\tx"\n'))).toMatchObject({ path: 'endpoints[0].model' });
    // Any other text is a name: quotes, backslashes, letters of any script.
    expect(loadOk(edit(valid, '  - model: frontier\n', '  - model: "fr\\"ontier\\\\ é 模型"\n')).routes[0]?.model).toBe('fr"ontier\\ é 模型');
    const endpoint = edit(edit(valid, '  - id: gcp-us-1\n', '  - id: none\n'), 'endpoints: [gcp-us-1, azure-eu-1]', 'endpoints: [none, azure-eu-1]');
    expect(onlyProblem(endpoint)).toMatchObject({ path: 'endpoints[0].id', message: "'none' is reserved: metrics and logs label requests that reached no endpoint so", suggestion: 'give the endpoint another id' });
    const both = parseGatewayConfig(edit(edit(endpoint, '    capacity: 64\n', '    capacity: -1\n'), '  - model: frontier\n', '  - model: none\n'), 'gateway.yaml');
    expect(both.ok ? [] : both.problems.map((problem) => problem.path).sort()).toEqual(['endpoints[0].capacity', 'endpoints[0].id', 'routes[0].model']);
  });

  it('schema problems and reference problems come in one round: the valid parts are cross-checked too', () => {
    // A typo inside one endpoint (schema), a route naming an endpoint that does not exist and a
    // tenant with an unknown jurisdiction (references): all three at once.
    let text = edit(valid, '    contextWindow: 32768\n', '    contextWindw: 32768\n');
    text = edit(text, 'endpoints: [gcp-us-1, azure-eu-1]', 'endpoints: [gcp-us-1, azure-eu-l]');
    text = edit(text, 'jurisdictions: [us, eu]', 'jurisdictions: [us, uk-sov]');
    const result = parseGatewayConfig(text, 'gateway.yaml');
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.map((problem) => [problem.path, problem.code])).toEqual([
      ['endpoints[0].contextWindw', 'unknown_key'],
      ['routes[0].endpoints[1]', 'unknown_reference'],
      ['tenants[0].jurisdictions[1]', 'unknown_reference'],
    ]);
    // The endpoint with the typo is still known by its id: the route naming it is not told otherwise.
    expect(problems.find((problem) => problem.path === 'routes[0].endpoints[1]')?.suggestion).toContain('azure-eu-1');
  });

  it("an entry that fails its schema still has its well-formed fields checked in the same round, and problems come top to bottom", () => {
    // Each entry has one schema problem and one reference or format problem: all six at once.
    let text = edit(valid, '    capacity: 64\n', '    capacity: 0\n');
    text = edit(text, '    jurisdiction: us\n', '    jurisdiction: uss\n');
    text = edit(text, 'policy: [cost, least-load]', 'policy: [cheapest]');
    text = edit(text, 'endpoints: [gcp-us-1, azure-eu-1]', 'endpoints: [gcp-us-1, b]');
    text = edit(text, 'requestsPerMinute: 600', 'requestsPerMinute: 0');
    text = edit(text, `apiKeySha256: ${acmeKeyHash}`, 'apiKeySha256: sk-live-pasted-key');
    text = edit(text, 'jurisdictions: [us, eu]', 'jurisdictions: [us, EU!, ue]');
    const result = parseGatewayConfig(text, 'gateway.yaml');
    const problems = result.ok ? [] : result.problems;
    expect(problems.map((problem) => problem.path)).toEqual([
      'endpoints[0].jurisdiction',
      'endpoints[0].capacity',
      'routes[0].endpoints[1]',
      'routes[0].policy[0]',
      'tenants[0].apiKeySha256',
      'tenants[0].jurisdictions[1]',
      'tenants[0].jurisdictions[2]',
      'tenants[0].requestsPerMinute',
    ]);
    expect(problems.map((problem) => problem.line)).toEqual([...problems.map((problem) => problem.line)].sort((a, b) => a - b));
    expect(problems.find((problem) => problem.path === 'endpoints[0].jurisdiction')?.message).toBe("unknown jurisdiction 'uss'");
    expect(problems.find((problem) => problem.path === 'tenants[0].jurisdictions[2]')?.code).toBe('unknown_reference');
    expect(JSON.stringify(problems)).not.toContain('sk-live-pasted-key');
  });

  it('a list with a default (a route\'s policy) and a resilience block with a bad field keep their valid parts for the same round', () => {
    const policy = parseGatewayConfig(edit(valid, 'policy: [cost, least-load]', 'policy: [cost, bogus, cost]'), 'gateway.yaml');
    expect(policy.ok ? [] : policy.problems.map((problem) => [problem.path, problem.code])).toEqual([
      ['routes[0].policy[1]', 'invalid_value'],
      ['routes[0].policy[2]', 'duplicate_id'],
    ]);
    const resilience = parseGatewayConfig(edit(valid, 'retries: 3', 'retries: -1\n  backoffMs: 5000\n  maxBackoffMs: 100'), 'gateway.yaml');
    expect(resilience.ok ? [] : resilience.problems.map((problem) => [problem.path, problem.code])).toEqual([
      ['resilience.retries', 'invalid_value'],
      ['resilience.backoffMs', 'inconsistent'],
    ]);
    // A bad value stands for no default: nothing is said to conflict with it.
    const bad = parseGatewayConfig(edit(valid, 'retries: 3', 'retries: 3\n  deadlineMs: -5\n  ttftTimeoutMs: 5000'), 'gateway.yaml');
    expect(bad.ok ? [] : bad.problems.map((problem) => [problem.path, problem.code])).toEqual([['resilience.deadlineMs', 'invalid_value']]);
  });

  it('a URL fragment, which would never reach the upstream', () => {
    const problem = onlyProblem(edit(valid, 'url: https://eu.example.com/base', 'url: https://eu.example.com/base#deploy'));
    expect(problem).toMatchObject({ path: 'endpoints[1].url', message: "the URL has a fragment (after '#'), which never reaches a server" });
    // A query string is kept.
    loadOk(edit(valid, 'url: https://eu.example.com/base', 'url: https://eu.example.com/base?version=2024-10-21'));
  });

  it('warnings for what is valid but likely wrong: a url ending in /v1, a tenant no endpoint can serve', () => {
    const env = { UPSTREAM_KEY: 'set' };
    expect(gatewayConfigWarnings(loadOk(valid), env)).toEqual([]);
    // A tokens limit of the default budget alone holds no request without max_tokens (a prompt is a token at least, E54); one more does.
    const limited = (tokens: number): string[] => gatewayConfigWarnings(loadOk(edit(valid, 'tokensPerMinute: 2000000', `tokensPerMinute: ${String(tokens)}`)), env);
    expect(limited(4096)).toEqual(["tenant 'acme' has tokensPerMinute 4096, no more than the 4096-token output budget of a request without max_tokens, which also needs its prompt: every such request will be refused; raise it or have callers set max_tokens"]);
    expect(limited(4000)).toEqual([expect.stringContaining("tenant 'acme' has tokensPerMinute 4000, below the 4096-token output budget")]);
    expect(limited(4097)).toEqual([]);
    const v1 = gatewayConfigWarnings(loadOk(edit(valid, 'url: https://eu.example.com/base', 'url: https://eu.example.com/v1/')), env);
    expect(v1).toEqual([expect.stringContaining("endpoint 'azure-eu-1' has a url ending in /v1")]);
    expect(v1[0]).toContain('/v1/v1/');
    for (const [url, apiPath] of [['https://eu.example.com/v1/chat/completions', '/v1/chat/completions'], ['https://eu.example.com/v1/messages/', '/v1/messages']]) {
      const whole = gatewayConfigWarnings(loadOk(edit(valid, 'url: https://eu.example.com/base', `url: ${url}`)), env);
      expect(whole).toEqual([`endpoint 'azure-eu-1' has a url ending in ${apiPath}, and the gateway adds /v1/messages itself: it will call ${apiPath}/v1/messages; give the base URL, without ${apiPath}`]);
    }
    // A key in the query string: warned about, not shown; an API version there is no key.
    for (const query of ['?key=AIzaSyExampleExample', '?api_key=abc123', '?sig=abc&x=1', '?q=sk-ant-secretsecret']) {
      const keyed = gatewayConfigWarnings(loadOk(edit(valid, 'url: https://eu.example.com/base', `url: "https://eu.example.com/base${query}"`)), env);
      expect(keyed).toEqual(["endpoint 'azure-eu-1' has what looks like a credential in its URL's query string (not shown): it sits in this file in plain text; where the upstream takes its key in a header, name an environment variable in 'apiKeyEnv' instead"]);
    }
    expect(gatewayConfigWarnings(loadOk(edit(valid, 'url: https://eu.example.com/base', 'url: "https://eu.example.com/base?api-version=2024-10-21"')), env)).toEqual([]);
    const stranded = gatewayConfigWarnings(loadOk(edit(valid, 'jurisdictions: [us, eu]', 'jurisdictions: [jp]')), env);
    expect(stranded).toEqual([expect.stringContaining("tenant 'acme' may use jp, where no endpoint is")]);
    // Some of its jurisdictions empty: said too, as requests narrowed there will be refused.
    const partly = gatewayConfigWarnings(loadOk(edit(valid, 'jurisdictions: [us, eu]', 'jurisdictions: [us, eu, jp]')), env);
    expect(partly).toEqual(["tenant 'acme' may use jp, where no endpoint is: its requests narrowed to it will be refused (503); add an endpoint there or take it from its jurisdictions"]);
  });

  it('thinking: false on an OpenAI-dialect endpoint is a warning: it changes nothing there', () => {
    expect(gatewayConfigWarnings(loadOk(edit(valid, '    chip: tpu7x\n', '    chip: tpu7x\n    thinking: false\n')), { UPSTREAM_KEY: 'set' })).toEqual([
      "endpoint 'gcp-us-1' has thinking: false, which changes nothing for an endpoint of the openai dialect, whose API gives no signed thinking: it is never sent requests for extended thinking",
    ]);
  });

  it('tokenCounting: false on an OpenAI-dialect endpoint is a warning: it changes nothing there', () => {
    expect(gatewayConfigWarnings(loadOk(edit(valid, '    chip: tpu7x\n', '    chip: tpu7x\n    tokenCounting: false\n')), { UPSTREAM_KEY: 'set' })).toEqual([
      "endpoint 'gcp-us-1' has tokenCounting: false, which changes nothing for an endpoint of the openai dialect, whose API has no token counting: it is never sent counts",
    ]);
  });

  it('a chip the catalog does not list is a warning (a label only; a chip new to the catalog is no error), with the likely chip', () => {
    const env = { UPSTREAM_KEY: 'set' };
    expect(gatewayConfigWarnings(loadOk(edit(valid, 'chip: tpu7x', 'chip: tpu-7x')), env)).toEqual([
      "endpoint 'gcp-us-1' has chip 'tpu-7x', which the catalog does not list (did you mean 'tpu7x'?); the chip only labels metrics and logs, so if it is new to the catalog, nothing is wrong",
    ]);
    expect(gatewayConfigWarnings(loadOk(edit(valid, 'chip: tpu7x', 'chip: qq-chip-9000')), env)).toEqual([expect.stringContaining("(run 'switchyard catalog' for the list)")]);
  });

  it("an endpoint's headers: any but those the gateway writes, each once, none that looks like a key (not echoed)", () => {
    const withHeaders = (headers: string): string => edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    headers: ${headers}\n`);
    expect(loadOk(withHeaders('{ anthropic-beta: "context-1m-2025-08-07,output-128k-2025-02-19", OpenAI-Project: proj_Kd9sdf8sdfHJK3kjh1234 }')).endpoints[0]?.headers).toEqual({ 'anthropic-beta': 'context-1m-2025-08-07,output-128k-2025-02-19', 'OpenAI-Project': 'proj_Kd9sdf8sdfHJK3kjh1234' });
    expect(onlyProblem(withHeaders('{ Authorization: x }'))).toMatchObject({ path: 'endpoints[0].headers.Authorization', message: "'authorization' is written by the gateway itself", suggestion: "name the environment variable holding the key in 'apiKeyEnv'" });
    expect(onlyProblem(withHeaders('{ content-length: "5" }'))).toMatchObject({ message: "'content-length' is written by the gateway itself", suggestion: 'remove it' });
    expect(onlyProblem(withHeaders('{ x-a: "1", X-A: "2" }'))).toMatchObject({ path: 'endpoints[0].headers.X-A', code: 'duplicate_id' });
    // Values that begin as some providers' keys do, without a key's run after it, are no keys (R32).
    expect(loadOk(withHeaders('{ X-Team: xai-prod, X-Upstream-Pool: fw_us_east, X-Client: nvapi-gateway-internal-service-01, X-Route: pplx-sonar, X-Job: glpat-rotation-job-2026-11-30 }')).endpoints[0]?.headers).toMatchObject({ 'X-Team': 'xai-prod' });
    for (const secret of ['Bearer abc', 'sk-ant-api03-secretsecret', 'token=gsk_secretsecret', 'token:sk-ant-secretsecret', 'Digest username=x', 'xai-Ab12Cd34Ef56Gh78Ij90Kl12Mn34']) {
      const problem = onlyProblem(withHeaders(`{ x-proxy: "${secret}" }`));
      expect(problem).toMatchObject({ path: 'endpoints[0].headers.x-proxy', message: 'a credential (by its name or value), which would sit in this file in plain text' });
      expect(JSON.stringify(problem)).not.toContain(secret.slice(-6));
    }
    // By its name, whatever the value.
    for (const name of ['x-portkey-api-key', 'cookie', 'Helicone-Auth', 'x-goog-api-key', 'x-access-token']) expect(onlyProblem(withHeaders(`{ ${name}: abc }`))).toMatchObject({ message: 'a credential (by its name or value), which would sit in this file in plain text' });
    // Names with such words inside other words are not (a router's provider, a session, a tokenizer).
    expect(loadOk(withHeaders('{ x-portkey-provider: openai, Helicone-Session-Id: s1, x-tokenizer: t, x-max-tokens: "5" }')).endpoints[0]?.headers).toMatchObject({ 'x-portkey-provider': 'openai' });
    // The upstream client does not decompress: compression is the gateway's to ask for, or not.
    expect(onlyProblem(withHeaders('{ accept-encoding: gzip }'))).toMatchObject({ message: "'accept-encoding' is written by the gateway itself" });
    expect(loadOk(withHeaders('{ x-version: 5 }')).endpoints[0]?.headers).toEqual({ 'x-version': '5' });
    expect(onlyProblem(withHeaders('{ "bad name": x }'))).toMatchObject({ path: 'endpoints[0].headers.bad name', message: expect.stringContaining("'bad name' is no header name") });
    expect(onlyProblem(withHeaders('{ x-a: "two\\nlines" }'))).toMatchObject({ path: 'endpoints[0].headers.x-a', message: 'a header value is printable ASCII on one line; this one has a line break' });
  });

  it('no problem quotes what may be a key: a URL with credentials that fails its check, headers given as a line, a key in a header name, a fragment', () => {
    const secret = 'sk-live-SUPERSECRET123456';
    const cases = [
      edit(valid, 'url: https://eu.example.com/base', `url: "http://user:${secret}@127.0.0.1:99999"`),
      edit(valid, 'url: https://eu.example.com/base', `url: "eu.example.com?key=${secret}"`),
      edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    headers: "Authorization: Bearer ${secret}"\n`),
      edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    headers: { "x-key ${secret}": x }\n`),
      edit(valid, 'url: https://eu.example.com/base', `url: "https://eu.example.com/base#access_token=${secret}"`),
      edit(valid, 'url: https://eu.example.com/base', `url: ${secret}`),
      edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    headers: { "Authorization: Bearer ${secret}": true, "${secret}": [1] }\n`),
      // A key as a name that also names a credential, or whose value is one too: no other check names it (E19).
      edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    headers: { "${secret}-key": v, "${secret}": "Bearer ${secret}" }\n`),
      // A key pasted into a field that holds none: what is wrong is said, not the key.
      edit(valid, 'requestsPerMinute: 600', `requestsPerMinute: ${secret}`),
      // Quoted by the checks across fields: an unknown reference, a repeated id, the list of known ones.
      edit(valid, 'endpoints: [gcp-us-1, azure-eu-1]', `endpoints: [gcp-us-1, ${secret}]`),
      edit(valid, 'jurisdictions: [us, eu]', `jurisdictions: [us, ${secret}]`),
      // Keys without a known prefix: mixed case and digits, or a long run of hex, pasted as references.
      edit(valid, 'endpoints: [gcp-us-1, azure-eu-1]', 'endpoints: [gcp-us-1, Xk9mQ2vL7pR4tY8wZ3nB6cD1fG5hJ0kSUPERSECRET]'),
      edit(valid, 'jurisdictions: [us, eu]', 'jurisdictions: [us, 0123456789abcdef0123456789abcdefSUPERSECRET]'),
      // Glued to other text by '.', as a copied 'v1.key' is.
      edit(valid, 'endpoints: [gcp-us-1, azure-eu-1]', `endpoints: [gcp-us-1, "v1.${secret}"]`),
      edit(valid, '  - id: acme\n', `  - id: ${secret}\n`).replace('tenants:\n', `tenants:\n  - { id: ${secret}, apiKeySha256: ${acmeKeyHash.replace(/^./, 'f')}, jurisdictions: [us], requestsPerMinute: 1, tokensPerMinute: 1 }\n`),
      edit(valid, 'logging: { logPrompts: false }', `logging: { logPrompts: ${secret} }`),
    ];
    for (const text of cases) {
      const result = parseGatewayConfig(text, 'gateway.yaml');
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.problems.length).toBeGreaterThan(0);
      expect(JSON.stringify(result.problems)).not.toContain('SUPERSECRET');
    }
    // An Azure key (32 lower-case hex) glued to its provider's name by ':'.
    const azureKey = '3f2a9c0d8e7b41a6b5c4d3e2f1a0b9c8';
    const glued = parseGatewayConfig(edit(valid, 'endpoints: [gcp-us-1, azure-eu-1]', `endpoints: [gcp-us-1, "azure:${azureKey}"]`), 'gateway.yaml');
    expect(glued.ok ? 'valid' : JSON.stringify(glued.problems)).toMatch(/unknown endpoint 'azure:\(what looks like a key, not shown\)'/);
    // Described by kind instead, so the line and column still lead to it.
    const asLine = parseGatewayConfig(cases[2] ?? '', 'gateway.yaml');
    expect(asLine.ok ? [] : asLine.problems.map((problem) => problem.message)).toEqual([expect.stringMatching(/^expected a record, got a text of \d+ characters \(not shown: it may hold a secret\)$/)]);
    // A key of digits reads as a number, and is not shown as one either (nor as YAML rounded it).
    for (const [from, to] of [[`apiKeySha256: ${acmeKeyHash}`, 'apiKeySha256: 482915736204'], ['apiKeyEnv: UPSTREAM_KEY', 'apiKeyEnv: 918273645546372819'], ['url: https://eu.example.com/base', 'url: 918273645546372819']] as const) {
      const problem = onlyProblem(edit(valid, from, to));
      expect(problem.message).toMatch(/, got a number \(not shown: it may hold a secret\)$/);
      expect(JSON.stringify(problem)).not.toMatch(/4829157|9182736/);
    }
    // A URL that holds none is still quoted, with its likely fix.
    expect(onlyProblem(edit(valid, 'url: https://eu.example.com/base', 'url: "eu.example.com:8443"'))).toMatchObject({ message: "expected an http:// or https:// base URL, got 'eu.example.com:8443'" });
  });

  it("names the config gives its own things are quoted as written, even when they look like keys (the user's own)", () => {
    const text = edit(edit(valid, 'id: gcp-us-1', 'id: sk-learn-a'), 'endpoints: [gcp-us-1, azure-eu-1]', 'endpoints: [sk-lern-a, azure-eu-1]');
    const problem = onlyProblem(text);
    expect(problem.message).toBe("unknown endpoint '(what looks like a key, not shown)'");
    expect(problem.suggestion).toContain("'sk-learn-a'");
    // Written with '.' or ':', or a long snake_case name with digits: the user's own, quoted whole.
    for (const [id, typo] of [
      ['sk-learn.v2', 'sk-learn.v3'],
      ['vllm_llama_3_1_70b_instruct_us_east_1', 'vllm_llama_3_1_70b_instruct_us_east_2'],
      ['Llama-3.3-70B-Instruct-Turbo', 'Llama-3.3-70B-Instruct-Trbo'],
    ]) {
      const named = onlyProblem(edit(edit(valid, 'id: gcp-us-1', `id: "${id}"`), 'endpoints: [gcp-us-1, azure-eu-1]', `endpoints: ["${typo}", azure-eu-1]`));
      expect([id, named.suggestion]).toEqual([id, expect.stringContaining(`'${id}'`)]);
    }
    // An AWS access key id (20 characters) pasted as two endpoints' id: the user's own name in form, a key in fact.
    const awsKey = 'AKIAIOSFODNN7EXAMPLE';
    const pastedTwice = parseGatewayConfig(edit(edit(valid, 'id: gcp-us-1', `id: ${awsKey}`), 'id: azure-eu-1', `id: ${awsKey}`), 'gateway.yaml');
    expect(pastedTwice.ok ? 'valid' : JSON.stringify(pastedTwice.problems)).not.toContain(awsKey);
    // A public model name with its organisation, written twice.
    const model = 'meta-llama/Meta-Llama-3.1-405B-Instruct-FP8';
    const twice = onlyProblem(edit(valid, '  - model: frontier\n', `  - model: ${model}\n    endpoints: [gcp-us-1]\n  - model: ${model}\n`));
    expect(twice.message).toContain(`'${model}'`);
  });

  it("an id or public model name that is a tenant's key is refused unquoted (logs and metrics carry them); one that only looks like a key is the user's", () => {
    // A tenant's own key as its id (the field confused with apiKeySha256), as another tenant's id, an endpoint's, a route's.
    const tenantKey = 'sk-acme-test';
    for (const [from, to, path] of [
      ['  - id: acme\n', `  - id: ${tenantKey}\n`, 'tenants[0].id'],
      ['id: azure-eu-1', `id: ${tenantKey}`, 'endpoints[1].id'],
    ] as const) {
      const result = parseGatewayConfig(edit(valid, from, to).replaceAll('[gcp-us-1, azure-eu-1]', `[gcp-us-1, "${to.replace(/^.*id: /, '').trim()}"]`), 'gateway.yaml');
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.problems.find((problem) => problem.path === path)).toMatchObject({ code: 'invalid_value', message: expect.stringMatching(/is a tenant's API key \(its SHA-256 is listed/) });
      // Quoted nowhere, though the ids are the file's own names (a reference to it says which).
      expect(JSON.stringify(result.problems)).not.toContain(tenantKey);
    }
    // Pasted anywhere else too (a route's endpoints, a jurisdiction): quoted by no problem (R22).
    // A key without a key's look (no prefix, short), which only its hash tells.
    const plainKey = 'acme-prod-secret-7f3a';
    const referenced = parseGatewayConfig(edit(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: ${hashApiKey(plainKey)}`), 'endpoints: [gcp-us-1, azure-eu-1]', `endpoints: [gcp-us-1, ${plainKey}]`), 'gateway.yaml');
    expect(referenced.ok ? 'valid' : JSON.stringify(referenced.problems)).toMatch(/unknown endpoint '\(a tenant's key, not shown\)'/);
    expect(JSON.stringify(referenced)).not.toContain(plainKey);
    // Pasted as a field's name: named by the problem's path, which must not show it either (R23).
    const asField = parseGatewayConfig(edit(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: ${hashApiKey(plainKey)}`), '    requestsPerMinute: 600\n', `    requestsPerMinute: 600\n    ${plainKey}: 1\n`), 'gateway.yaml');
    expect(asField.ok ? 'valid' : asField.problems.map((problem) => problem.path)).toEqual([expect.stringContaining("(a tenant's key, not shown)")]);
    expect(JSON.stringify(asField)).not.toContain(plainKey);
    // The log's client address header may not be one that carries credentials (its value is logged).
    for (const header of ['Authorization', 'x-api-key', 'Cookie', 'X-Goog-IAP-JWT-Assertion', 'Cf-Access-Jwt-Assertion', 'X-Api-Keys']) expect([header, onlyProblem(edit(valid, 'logging: { logPrompts: false }', `logging: { logPrompts: false, clientAddressHeader: ${header} }`)).message]).toEqual([header, expect.stringContaining('carries credentials')]);
    expect(loadOk(edit(valid, 'logging: { logPrompts: false }', 'logging: { logPrompts: false, clientAddressHeader: X-Forwarded-For }')).logging.clientAddressHeader).toBe('x-forwarded-for');
    // Identity headers of the proxies in front (R26), by word: x-monkeys-ip is no such header.
    for (const header of ['x-amzn-oidc-accesstoken', 'x-amzn-oidc-data', 'x-ms-client-principal']) expect([header, onlyProblem(edit(valid, 'logging: { logPrompts: false }', `logging: { logPrompts: false, clientAddressHeader: ${header} }`)).message]).toEqual([header, expect.stringContaining('identity tokens')]);
    expect(loadOk(edit(valid, 'logging: { logPrompts: false }', 'logging: { logPrompts: false, clientAddressHeader: x-monkeys-ip }')).logging.clientAddressHeader).toBe('x-monkeys-ip');
    // A JSON Web Token as a header's value is a credential, whatever the header is named (R26).
    expect(onlyProblem(edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', '    apiKeyEnv: UPSTREAM_KEY\n    headers: { cf-access-jwt-assertion: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnYXRld2F5In0.c2lnbmF0dXJl" }\n'))).toMatchObject({ message: 'a credential (by its name or value), which would sit in this file in plain text' });
    // Names and hosts that begin with 'ey' are no tokens: a token is judged by decoding its header (R28).
    expect(loadOk(edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', '    apiKeyEnv: UPSTREAM_KEY\n    headers: { x-forwarded-host: "eyecare-portal.example.com", x-model: "eyewear-classifier.v2.10" }\n')).endpoints[0]?.headers).toEqual({ 'x-forwarded-host': 'eyecare-portal.example.com', 'x-model': 'eyewear-classifier.v2.10' });
    // Encrypted (JWE, 'dir': an empty key segment) and spaced headers ('{ "alg"' is eyAi...) too (R27).
    for (const token of ['eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXYxMjM0NTY3OA.Y2lwaGVydGV4dA.dGFnMTIzNA', 'eyAiYWxnIjogIkhTMjU2IiB9.eyAic3ViIjogIngiIH0.c2ln']) {
      expect([token, onlyProblem(edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    headers: { x-upstream-session: "${token}" }\n`)).message]).toEqual([token, 'a credential (by its name or value), which would sit in this file in plain text']);
    }
    // Endpoint headers named after identity tokens or keys of a cache are no credentials (R25: refused for a while).
    expect(loadOk(edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', '    apiKeyEnv: UPSTREAM_KEY\n    headers: { assertion-mode: strict, x-jwt-audience: gateway, x-cache-keys: model }\n')).endpoints[0]?.headers).toEqual({ 'assertion-mode': 'strict', 'x-jwt-audience': 'gateway', 'x-cache-keys': 'model' });
    // Names that only look like keys are the user's own, and valid (R22: a look refused fleets that were).
    for (const [from, to] of [
      ['id: gcp-us-1', 'id: hf_tgi_llama3_70b_us_east_1'],
      ['id: gcp-us-1', 'id: ASIA-SOUTHEAST1-TPU-01'],
      ['id: gcp-us-1', 'id: gpt4o2024080601deploymentEastUS2'],
    ] as const) {
      const name = to.replace('id: ', '');
      expect([name, parseGatewayConfig(edit(valid, from, to).replaceAll('[gcp-us-1, azure-eu-1]', `[${name}, azure-eu-1]`), 'gateway.yaml').ok]).toEqual([name, true]);
    }
    for (const model of ['DeepSeekR1DistillQwen32B', 'sk-learn-classifier-2024']) expect([model, parseGatewayConfig(edit(valid, '  - model: frontier\n', `  - model: ${model}\n`), 'gateway.yaml').ok]).toEqual([model, true]);
  });

  it('a bad header name or value never echoes the value, and hides no problem of the headers beside it', () => {
    const withHeaders = (headers: string): string => edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', `    apiKeyEnv: UPSTREAM_KEY\n    headers: ${headers}\n`);
    // A key pasted with the newline it was copied with: both problems, neither quoting it.
    const pasted = parseGatewayConfig(withHeaders('{ x-proxy: "Bearer sk-live-SUPERSECRET123456\\n" }'), 'gateway.yaml');
    expect(pasted.ok).toBe(false);
    if (pasted.ok) return;
    expect(pasted.problems.map((problem) => problem.message)).toEqual(['a header value is printable ASCII on one line; this one has a line break', 'a credential (by its name or value), which would sit in this file in plain text']);
    expect(JSON.stringify(pasted.problems)).not.toContain('SUPERSECRET');
    // A key under a bad name; and a key beside a bad name, still found in the same round.
    const beside = parseGatewayConfig(withHeaders('{ "x api key": sk-live-SUPERSECRET123456, x-other: AKIAIOSFODNN7EXAMPLE, x-custom: "bearer abcdef" }'), 'gateway.yaml');
    expect(beside.ok).toBe(false);
    if (beside.ok) return;
    expect(beside.problems.map((problem) => problem.path)).toEqual(['endpoints[0].headers.x api key', 'endpoints[0].headers.x api key', 'endpoints[0].headers.x-other', 'endpoints[0].headers.x-custom']);
    expect(JSON.stringify(beside.problems)).not.toMatch(/SUPERSECRET|AKIAIOSFODNN7EXAMPLE|abcdef/);
  });

  it("a metrics scrape key's hash is checked as a tenant's is, and may not be a tenant's key (R78)", () => {
    const scraperHash = hashApiKey('scrape-key-of-prometheus');
    const withScrapeKey = (value: string): string => `${valid}metrics: { scrapeKeySha256: ${value} }\n`;
    expect(loadOk(withScrapeKey(scraperHash.toUpperCase())).metrics.scrapeKeySha256).toBe(scraperHash);
    expect(loadOk(withScrapeKey(`[${scraperHash}, ${hashApiKey('the next one')}]`)).metrics.scrapeKeySha256).toHaveLength(2);
    expect(loadOk(valid).metrics.scrapeKeySha256).toBeUndefined();
    const pasted = withScrapeKey('sk-live-abc');
    expect(onlyProblem(pasted)).toMatchObject({ path: 'metrics.scrapeKeySha256', line: pasted.split('\n').length - 1, message: 'expected the hex SHA-256 of the key (64 hex digits), not the key itself' });
    expect(onlyProblem(withScrapeKey(`[${scraperHash}, "${scraperHash}  -"]`))).toMatchObject({ path: 'metrics.scrapeKeySha256[1]', message: expect.stringContaining("sha256sum's whole line") });
    expect(onlyProblem(withScrapeKey(`[${Array.from({ length: 17 }, (_, index) => hashApiKey(`scraper-${String(index)}`)).join(', ')}]`))).toMatchObject({ path: 'metrics.scrapeKeySha256', message: 'a list of 17 key hashes: at most 16 keys' });
    // The raw key pasted as the block, as a field's name or under a misspelt field is never quoted (R79); a misspelling is named.
    const rawKey = 'prometheus-scrape-secret-xyz';
    for (const block of [`metrics: ${rawKey}\n`, `metrics: { ${rawKey}: 1 }\n`, `metrics: { scrapeKey: ${rawKey} }\n`, `metrics: { scrapeKeySha256: [${rawKey}, 5] }\n`]) {
      const result = parseGatewayConfig(`${valid}${block}`, 'gateway.yaml');
      expect(result.ok ? 'loaded' : JSON.stringify(result.problems)).not.toContain('prometheus-scrape');
    }
    expect(onlyProblem(`${valid}metrics: { scrapeKey: ${rawKey} }\n`)).toMatchObject({ path: 'metrics.scrapeKey', message: "unknown field 'scrapeKey'" });
    expect(onlyProblem(`${valid}metrics: { ${rawKey}: 1 }\n`)).toMatchObject({ path: 'metrics.<key>' });
    expect(onlyProblem(withScrapeKey(acmeKeyHash))).toMatchObject({ path: 'metrics.scrapeKeySha256', code: 'duplicate_id', message: "the scrape key is the API key of tenant 'acme', who would read every tenant's id and use in the metrics" });
  });

  it('messages that say what to write: a URL without its scheme, a cut key hash', () => {
    expect(onlyProblem(edit(valid, 'url: http://127.0.0.1:9001', 'url: 127.0.0.1:9001'))).toMatchObject({ path: 'endpoints[0].url', message: "expected an http:// or https:// base URL, got '127.0.0.1:9001'", suggestion: "did you mean 'http://127.0.0.1:9001'?" });
    expect(onlyProblem(edit(valid, 'url: http://127.0.0.1:9001', 'url: api.example.com:443'))).toMatchObject({ suggestion: "did you mean 'https://api.example.com:443'?" });
    expect(onlyProblem(edit(valid, 'url: http://127.0.0.1:9001', 'url: ftp://host/x'))).not.toHaveProperty('suggestion');
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: ${acmeKeyHash.slice(1)}`))).toMatchObject({ path: 'tenants[0].apiKeySha256', message: 'expected the hex SHA-256 of the key, 64 hex digits; this has 63 (cut or pasted twice?)' });
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, 'apiKeySha256: sk-live-abc'))).toMatchObject({ message: 'expected the hex SHA-256 of the key (64 hex digits), not the key itself' });
    // Hex far from a hash's length is a key made with openssl rand -hex.
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: ${'ab'.repeat(16)}`))).toMatchObject({ message: 'expected the hex SHA-256 of the key (64 hex digits), not the key itself' });
    // A right hash with more around it: sha256sum's whole line, a trailing space, a block scalar's line break (E51).
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: "${acmeKeyHash}  -"`))).toMatchObject({ path: 'tenants[0].apiKeySha256', message: "expected the 64 hex digits alone; this has more after them (sha256sum's whole line ends with the name of what it read, '-')", suggestion: expect.stringContaining("sha256sum | cut -d' ' -f1") });
    // openssl's whole line, of 3.x and of 1.1 (R46: it was called the key itself).
    for (const line of [`SHA2-256(stdin)= ${acmeKeyHash}`, `(stdin)= ${acmeKeyHash.toUpperCase()}`]) {
      expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: "${line}"`))).toMatchObject({ path: 'tenants[0].apiKeySha256', message: "expected the 64 hex digits alone; this is openssl's whole line ('SHA2-256(stdin)= ' and the digits)", suggestion: expect.stringContaining("openssl dgst -sha256 -r | cut -d' ' -f1") });
    }
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: "${acmeKeyHash} "`))).toMatchObject({ message: 'expected the 64 hex digits alone; this has a space or a line break around them' });
    expect(onlyProblem(edit(valid, `    apiKeySha256: ${acmeKeyHash}\n`, `    apiKeySha256: |\n      ${acmeKeyHash}\n`))).toMatchObject({ message: 'expected the 64 hex digits alone; this has a space or a line break around them' });
    // An id longer than 128 characters (it labels every metric and log line): refused, not quoted whole (E51).
    const long = parseGatewayConfig(edit(valid, '  - id: acme\n', `  - id: acme-${'x'.repeat(200)}\n`), 'gateway.yaml');
    expect(long.ok ? [] : long.problems.map((problem) => [problem.path, problem.message.startsWith('an id of letters, digits, ".", "_", ":" or "-", starting with a letter or digit, at most 128 characters, got \'acme-xxx'), problem.message.length < 200])).toEqual([['tenants[0].id', true, true]]);
    expect(loadOk(edit(valid, '  - id: acme\n', `  - id: a${'x'.repeat(127)}\n`)).tenants[0]?.id).toHaveLength(128);
    // A route's model name labels metrics and logs too: at most 512 characters (R47, R48).
    const longModel = parseGatewayConfig(edit(valid, '  - model: frontier\n', `  - model: f${'x'.repeat(512)}\n`), 'gateway.yaml');
    expect(longModel.ok ? [] : longModel.problems.map((problem) => [problem.path, problem.message.startsWith('expected a text of at most 512 characters')])).toEqual([['routes[0].model', true]]);
    // up's <service>@<pool> of two 128-character ids (257) is taken.
    expect(loadOk(edit(valid, '  - model: frontier\n', `  - model: ${'s'.repeat(128)}@${'p'.repeat(128)}\n`)).routes[0]?.model).toHaveLength(257);
    // A number past its bound: the schema's bound alone, not also zod's largest safe integer (E51).
    const huge = parseGatewayConfig(edit(valid, 'requestsPerMinute: 600', 'requestsPerMinute: 1e20'), 'gateway.yaml');
    expect(huge.ok ? [] : huge.problems.map((problem) => problem.message)).toEqual(['expected a value <= 1000000000, got 100000000000000000000']);
    const below = parseGatewayConfig(edit(valid, 'requestsPerMinute: 600', 'requestsPerMinute: -1e20'), 'gateway.yaml');
    expect(below.ok ? [] : below.problems.map((problem) => problem.message)).toEqual(['expected a value > 0, got -100000000000000000000']);
    // More than 16 hashes: said so, not only that a hash or a list was expected.
    const seventeen = Array.from({ length: 17 }, (_, i) => hashApiKey(`sk-${String(i)}`)).join(', ');
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: [${seventeen}]`))).toMatchObject({ path: 'tenants[0].apiKeySha256', message: 'a list of 17 key hashes: at most 16 keys', suggestion: 'remove the retired ones' });
  });

  it('an unknown field whose name looks like a key (one pasted without its field name) is named neither in the message nor in the path', () => {
    for (const pasted of ['sk-ant-api03-FORGOTFIELDNAME-Xy12Z', 'Zk3b9Qx7LmP2Rt8Vw4Yn6Hs1Jd5']) {
      const text = edit(valid, `    apiKeySha256: ${acmeKeyHash}\n`, `    apiKeySha256: ${acmeKeyHash}\n    ${pasted}:\n`);
      expect(onlyProblem(text)).toMatchObject({ path: 'tenants[0].<key>', line: 37, message: 'unknown field, not shown: its name looks like an API key (pasted without a field name?)' });
      expect(JSON.stringify(parseGatewayConfig(text, 'gateway.yaml'))).not.toContain(pasted);
    }
    // A misspelt field is still named, with what it may have meant.
    expect(onlyProblem(edit(valid, 'requestsPerMinute: 600', 'requestPerMinute: 600'))).toMatchObject({ path: 'tenants[0].requestPerMinute', message: "unknown field 'requestPerMinute'" });
  });

  it('a tenant with several keys (a rotation): each checked at its place in the list, none shared or listed twice', () => {
    const newKeyHash = hashApiKey('sk-acme-new');
    expect(loadOk(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: [${acmeKeyHash}, ${newKeyHash.toUpperCase()}]`)).tenants[0]?.apiKeySha256).toEqual([acmeKeyHash, newKeyHash]);
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: [${acmeKeyHash}, sk-live-pasted]`))).toMatchObject({ path: 'tenants[0].apiKeySha256[1]', message: 'expected the hex SHA-256 of the key (64 hex digits), not the key itself' });
    expect(JSON.stringify(parseGatewayConfig(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: [${acmeKeyHash}, sk-live-pasted]`), 'gateway.yaml'))).not.toContain('sk-live-pasted');
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, `apiKeySha256: [${acmeKeyHash}, ${acmeKeyHash}]`))).toMatchObject({ path: 'tenants[0].apiKeySha256[1]', code: 'duplicate_id', message: "tenant 'acme' lists the same API key twice" });
    expect(onlyProblem(edit(valid, `apiKeySha256: ${acmeKeyHash}`, 'apiKeySha256: []'))).toMatchObject({ path: 'tenants[0].apiKeySha256', message: expect.stringContaining('at least one key hash') });
    const second = `  - { id: globex, apiKeySha256: [${newKeyHash}, ${acmeKeyHash}], jurisdictions: [us], requestsPerMinute: 1, tokensPerMinute: 1 }\nresilience:`;
    expect(onlyProblem(edit(valid, 'resilience:', second))).toMatchObject({ path: 'tenants[1].apiKeySha256[1]', code: 'duplicate_id', message: "tenant 'globex' has the same API key as tenant 'acme'" });
  });

  it('warnings for settings that silently switch something off: an endpoint in no route, hedging after the TTFT timeout, a body limit no request fits', () => {
    const env = { UPSTREAM_KEY: 'set' };
    expect(gatewayConfigWarnings(loadOk(edit(valid, 'endpoints: [gcp-us-1, azure-eu-1]', 'endpoints: [gcp-us-1]')), env)).toEqual([
      "endpoint 'azure-eu-1' is in no route: no request will reach it; add it to a route's endpoints or remove it",
    ]);
    expect(gatewayConfigWarnings(loadOk(edit(valid, '  retries: 3\n', '  retries: 3\n  hedgeAfterMs: 20000\n')), env)).toEqual([
      'resilience.hedgeAfterMs (20000) is not below ttftTimeoutMs (10000): an attempt times out before it would be hedged, so hedging never happens; lower hedgeAfterMs',
    ]);
    expect(gatewayConfigWarnings(loadOk(edit(valid, 'maxBodyBytes: 1048576', 'maxBodyBytes: 10')), env)).toEqual([expect.stringContaining('limits.maxBodyBytes is 10 bytes: nearly every chat request will be refused (413)')]);
    expect(gatewayConfigWarnings(loadOk(edit(valid, 'maxBodyBytes: 1048576', 'maxBodyBytes: 1048576, maxBodyBytesInFlight: 1000000')), env)).toEqual(['limits.maxBodyBytesInFlight (1000000) is below limits.maxBodyBytes (1048576): a request of the largest size allowed would never be taken (503)']);
  });

  it('an unknown key in a block the schema transforms (resilience), and in one inside it', () => {
    const misspelt = onlyProblem(edit(valid, '  retries: 3\n', '  retires: 3\n'));
    expect(misspelt).toMatchObject({ path: 'resilience.retires', message: "unknown field 'retires'", suggestion: "did you mean 'retries'?" });
    const nested = onlyProblem(edit(valid, 'circuitBreaker: { failureThreshold: 4 }', 'circuitBreaker: { failureThreshhold: 4 }'));
    expect(nested).toMatchObject({ path: 'resilience.circuitBreaker.failureThreshhold', suggestion: "did you mean 'failureThreshold'?" });
  });

  it('a stall timeout that is not below the deadline, which could never resume a stall', () => {
    const text = edit(valid, '  retries: 3\n', '  retries: 3\n  ttftTimeoutMs: 1000\n  deadlineMs: 4000\n  tokenIdleTimeoutMs: 4000\n');
    expect(onlyProblem(text)).toMatchObject({ code: 'inconsistent', path: 'resilience.tokenIdleTimeoutMs', message: 'tokenIdleTimeoutMs (4000) is not below deadlineMs (4000)', line: positionOf(text, 'tokenIdleTimeoutMs').line });
    // Left out, it defaults to 10 s, or half a shorter deadline.
    const defaulted = parseGatewayConfig(edit(valid, '  retries: 3\n', '  retries: 3\n  ttftTimeoutMs: 1000\n  deadlineMs: 4000\n'), 'gateway.yaml');
    expect(defaulted.ok && defaulted.value.resilience.tokenIdleTimeoutMs).toBe(2000);
  });

  it('a wrong type or an out-of-range number says how to write it', () => {
    expect(onlyProblem(edit(valid, '    requestsPerMinute: 600', '    requestsPerMinute: "600"'))).toMatchObject({ path: 'tenants[0].requestsPerMinute', message: "expected a number, got '600'", suggestion: 'remove the quotes: 600' });
    expect(onlyProblem(edit(valid, '    requestsPerMinute: 600', '    requestsPerMinute: lots'))).toMatchObject({ suggestion: 'write a number, such as 8 or 0.5' });
    expect(onlyProblem(edit(valid, '    requestsPerMinute: 600', '    requestsPerMinute: -5'))).toMatchObject({ message: 'expected a value > 0, got -5', suggestion: 'use a value above 0' });
  });

  it('a bad dialect', () => {
    const text = edit(valid, 'dialect: openai', 'dialect: opneai');
    expect(onlyProblem(text)).toMatchObject({ code: 'invalid_value', path: 'endpoints[0].dialect', message: "expected one of openai, anthropic, got 'opneai'", suggestion: "did you mean 'openai'?", ...positionOf(text, 'opneai') });
  });

  it('a bad policy name', () => {
    const text = edit(valid, 'policy: [cost, least-load]', 'policy: [cost, least_load]');
    expect(onlyProblem(text)).toMatchObject({ path: 'routes[0].policy[1]', suggestion: "did you mean 'least-load'?", ...positionOf(text, 'least_load') });
  });

  it('a duplicate endpoint id', () => {
    const text = edit(valid, '  - id: azure-eu-1', '  - id: gcp-us-1');
    const result = parseGatewayConfig(text, 'gateway.yaml');
    if (result.ok) throw new Error('expected problems');
    expect(result.problems.find((p) => p.code === 'duplicate_id')).toMatchObject({ path: 'endpoints[1].id', message: "endpoint id 'gcp-us-1' is already used by endpoints[0]", ...positionOf(text, 'gcp-us-1', 2) });
  });

  it('a duplicate tenant id, a shared key and a duplicate route', () => {
    const tenant = valid.slice(valid.indexOf('  - id: acme'), valid.indexOf('resilience:'));
    const route = valid.slice(valid.indexOf('  - model: frontier'), valid.indexOf('tenants:'));
    const text = edit(edit(valid, 'resilience:', `${tenant}resilience:`), 'tenants:', `${route}tenants:`);
    const result = parseGatewayConfig(text, 'gateway.yaml');
    if (result.ok) throw new Error('expected problems');
    expect(result.problems.map((p) => `${p.code} ${p.path}`).sort()).toEqual(['duplicate_id routes[1].model', 'duplicate_id tenants[1].apiKeySha256', 'duplicate_id tenants[1].id']);
  });

  it('an unknown jurisdiction, on an endpoint and a tenant', () => {
    const text = edit(edit(valid, 'jurisdiction: us', 'jurisdiction: usa'), 'jurisdictions: [us, eu]', 'jurisdictions: [us, ue]');
    const result = parseGatewayConfig(text, 'gateway.yaml');
    if (result.ok) throw new Error('expected problems');
    expect(result.problems).toHaveLength(2);
    expect(result.problems[0]).toMatchObject({ code: 'unknown_reference', path: 'endpoints[0].jurisdiction', message: "unknown jurisdiction 'usa'", suggestion: "did you mean 'us'?", ...positionOf(text, 'usa') });
    expect(result.problems[1]).toMatchObject({ path: 'tenants[0].jurisdictions[1]', message: "unknown jurisdiction 'ue'", ...positionOf(text, 'ue]') });
  });

  it('a declared jurisdiction is accepted', () => {
    const text = edit(edit(valid, 'version: 1\n', 'version: 1\njurisdictions: [moon]\n'), 'jurisdiction: us', 'jurisdiction: moon');
    expect(loadOk(text).endpoints[0]?.jurisdiction).toBe('moon');
  });

  it('a raw key where the hash belongs is refused without echoing it', () => {
    const problem = onlyProblem(edit(valid, acmeKeyHash, 'sk-live-SECRET'));
    expect(problem).toMatchObject({ code: 'invalid_value', path: 'tenants[0].apiKeySha256' });
    expect(formatProblem(problem)).not.toContain('SECRET');
  });

  it('a key where the variable name belongs, and credentials in a URL, are refused without echoing them', () => {
    const text = edit(edit(valid, 'apiKeyEnv: UPSTREAM_KEY', 'apiKeyEnv: sk-live-SECRET'), 'https://eu.example.com/base', 'https://user:SECRET@eu.example.com/base');
    const result = parseGatewayConfig(text, 'gateway.yaml');
    if (result.ok) throw new Error('expected problems');
    expect(result.problems.map((p) => p.path)).toEqual(['endpoints[0].apiKeyEnv', 'endpoints[1].url']);
    expect(result.problems.map(formatProblem).join('\n')).not.toContain('SECRET');
  });

  it.each(['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', 'hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345', 'AKIAIOSFODNN7EXAMPLE', 'Q2xk8f7LmN3pR5tV9wY1zA4bC6dE8f'])('a key that is also a valid variable name (%s) is refused where the variable name belongs, unechoed', (key) => {
    const problem = onlyProblem(edit(valid, 'apiKeyEnv: UPSTREAM_KEY', `apiKeyEnv: ${key}`));
    expect(problem).toMatchObject({ path: 'endpoints[0].apiKeyEnv' });
    expect(formatProblem(problem)).not.toContain(key);
  });

  it.each(['UPSTREAM_KEY', 'OPENAI_API_KEY', 'azure_openai_key', 'AZURE_OPENAI_API_KEY_WESTEUROPE_2'])('an ordinary variable name (%s) is accepted', (name) => {
    const result = parseGatewayConfig(edit(valid, 'apiKeyEnv: UPSTREAM_KEY', `apiKeyEnv: ${name}`), 'gateway.yaml');
    expect(result.ok ? result.value.endpoints[0]?.apiKeyEnv : result.problems).toBe(name);
  });

  it('maxTokensField: one of the two OpenAI fields, and only on an OpenAI-dialect endpoint', () => {
    const ok = parseGatewayConfig(edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', '    apiKeyEnv: UPSTREAM_KEY\n    maxTokensField: max_completion_tokens\n'), 'gateway.yaml');
    expect(ok.ok ? ok.value.endpoints[0]?.maxTokensField : ok.problems).toBe('max_completion_tokens');
    expect(onlyProblem(edit(valid, '    apiKeyEnv: UPSTREAM_KEY\n', '    apiKeyEnv: UPSTREAM_KEY\n    maxTokensField: max_output_tokens\n'))).toMatchObject({ path: 'endpoints[0].maxTokensField' });
    expect(onlyProblem(edit(valid, '    capacity: 32\n', '    capacity: 32\n    maxTokensField: max_tokens\n'))).toMatchObject({ path: 'endpoints[1].maxTokensField', message: expect.stringContaining('OpenAI-dialect endpoints') });
  });

  it('a URL that is not http(s)', () => {
    expect(onlyProblem(edit(valid, 'http://127.0.0.1:9001', 'ftp://127.0.0.1:9001'))).toMatchObject({ path: 'endpoints[0].url', message: "expected an http:// or https:// base URL, got 'ftp://127.0.0.1:9001'" });
    // The URL parser calls a port past 65535 only invalid: the bound is said, for IPv6 and user-info hosts too.
    for (const [url, port] of [['http://127.0.0.1:99999', '99999'], ['http://[::1]:0', '0']] as const) {
      expect(onlyProblem(edit(valid, 'http://127.0.0.1:9001', url))).toMatchObject({ path: 'endpoints[0].url', message: `port ${port} is no port to connect to: a port is 1 to 65535, got '${url}'` });
    }
    // Without its scheme too: both said, not a suggestion that leads to the port's refusal (R51).
    expect(onlyProblem(edit(valid, 'http://127.0.0.1:9001', '127.0.0.1:99999'))).toMatchObject({ path: 'endpoints[0].url', message: "expected an http:// or https:// base URL, and port 99999 is no port to connect to (a port is 1 to 65535), got '127.0.0.1:99999'" });
    // A URL with user-info is not quoted back (it may hold a secret), the port still said.
    expect(onlyProblem(edit(valid, 'http://127.0.0.1:9001', 'https://user:pw@example.com:70000/v1'))).toMatchObject({ path: 'endpoints[0].url', message: 'port 70000 is no port to connect to: a port is 1 to 65535, got a text of 36 characters (not shown: it may hold a secret)' });
    expect(parseGatewayConfig(edit(valid, 'http://127.0.0.1:9001', 'http://127.0.0.1:65535/v1'), 'gateway.yaml').ok).toBe(true);
    // An ordered map (YAML 1.1's !!omap) under a block read as no settings at all, every default applied (R51).
    expect(parseGatewayConfig(edit(valid, 'limits: { maxBodyBytes: 1048576 }', 'limits: !!omap [ {maxBodyBytes: 1048576} ]'), 'gateway.yaml')).toMatchObject({ ok: false, problems: [{ path: '', message: expect.stringContaining("the tag '!!omap' makes a value of a kind this file does not take") }] });
  });

  it('a conflict with a default is reported at the setting written, naming the default', () => {
    const problem = onlyProblem(edit(valid, '  retries: 3\n', '  retries: 3\n  deadlineMs: 5000\n'));
    expect(problem).toMatchObject({ code: 'inconsistent', path: 'resilience.deadlineMs', line: 42, message: 'deadlineMs (5000) conflicts with the default ttftTimeoutMs (10000), which exceeds it', suggestion: 'the first token must be due before the whole request is: set ttftTimeoutMs to fit, or change deadlineMs' });
    // Both written: at the first, as before.
    expect(onlyProblem(edit(valid, '  retries: 3\n', '  retries: 3\n  deadlineMs: 5000\n  ttftTimeoutMs: 6000\n'))).toMatchObject({ path: 'resilience.ttftTimeoutMs', message: 'ttftTimeoutMs (6000) exceeds deadlineMs (5000)' });
  });

  it('inconsistent resilience settings', () => {
    const problem = onlyProblem(edit(valid, '  retries: 3\n', '  retries: 3\n  backoffMs: 5000\n'));
    expect(problem).toMatchObject({ code: 'inconsistent', path: 'resilience.backoffMs', message: 'backoffMs (5000) exceeds maxBackoffMs (2000)' });
  });

  it('missing sections and a wrong version', () => {
    const result = parseGatewayConfig('version: 2\nendpoints: []\n', 'gateway.yaml');
    if (result.ok) throw new Error('expected problems');
    // Top to bottom: missing sections at the top of the file (1:1), then version's value (1:10), endpoints' (2:12).
    expect(result.problems.map((p) => [p.path, p.line, p.column])).toEqual([['routes', 1, 1], ['tenants', 1, 1], ['version', 1, 10], ['endpoints', 2, 12]]);
  });

  it('YAML syntax errors and unreadable files', () => {
    const syntax = parseGatewayConfig('version: 1\nendpoints: [\n', 'gateway.yaml');
    expect(syntax.ok ? [] : syntax.problems.map((p) => p.code)).toContain('syntax');
    const missing = loadGatewayConfig('/nonexistent/gateway.yaml');
    expect(missing.ok ? undefined : missing.problems[0]).toMatchObject({ code: 'file_unreadable', line: 0, message: 'cannot read the gateway config (ENOENT)' });
  });
});

describe('loadGatewayConfigOrThrow', () => {
  it('throws a SpecError carrying every located problem (the throwing twin of loadGatewayConfig)', async () => {
    const { SpecError } = await import('../../src/domain/spec-problem.js');
    const { loadGatewayConfigOrThrow } = await import('../../src/gateway/gateway-config.js');
    const dir = makeTempDir('gw');
    const file = dir.write('bad.yaml', 'version: 1\nendpoints: []\nroutez: []\n');
    let caught: unknown;
    try {
      loadGatewayConfigOrThrow(file);
    } catch (error) {
      caught = error;
    } finally {
      dir.remove();
    }
    expect(caught).toBeInstanceOf(SpecError);
    const problems = (caught as InstanceType<typeof SpecError>).problems;
    expect(problems.map((p) => p.path)).toEqual(expect.arrayContaining(['endpoints', 'routez', 'tenants']));
    expect(problems.find((p) => p.path === 'routez')?.suggestion).toBe("did you mean 'routes'?");
  });
});
