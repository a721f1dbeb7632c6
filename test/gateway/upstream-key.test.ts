import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { gatewayConfigWarnings } from '../../src/gateway/gateway-config-warnings.js';
import { hashApiKey } from '../../src/gateway/hash-api-key.js';
import { upstreamKey } from '../../src/gateway/upstream-key.js';
import { closedAfterEach, gatewayConfig, openAIChunk } from './helpers/fleet.js';

const apiKey = 'sk-upstream-key-test';
const { cleanups, scripted } = closedAfterEach();

function configOf(url: string): ReturnType<typeof gatewayConfig> {
  return gatewayConfig(`
version: 1
endpoints:
  - { id: up, url: "${url}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 0, capacity: 8, apiKeyEnv: KEY_TEST }
routes:
  - { model: m, endpoints: [up], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100, tokensPerMinute: 100000 }
`);
}

describe("an endpoint's key from its environment variable (E51)", () => {
  it('is read without surrounding whitespace; an empty one is none; one a header cannot carry is said so', () => {
    expect(upstreamKey('sk-abc')).toEqual({ key: 'sk-abc' });
    expect(upstreamKey('sk-abc\n')).toEqual({ key: 'sk-abc', problem: 'surrounding-whitespace' });
    expect(upstreamKey(' sk-abc\r\n')).toEqual({ key: 'sk-abc', problem: 'surrounding-whitespace' });
    expect(upstreamKey('')).toEqual({ key: undefined, problem: 'empty' });
    expect(upstreamKey(' \n')).toEqual({ key: undefined, problem: 'empty' });
    expect(upstreamKey(undefined)).toEqual({ key: undefined, problem: 'unset' });
    expect(upstreamKey('sk-a\nb')).toEqual({ key: 'sk-a\nb', problem: 'unsendable' });
    expect(upstreamKey('sk-é')).toEqual({ key: 'sk-é', problem: 'latin1' });
    expect(upstreamKey('sk-€')).toEqual({ key: 'sk-€', problem: 'unsendable' });
    expect(upstreamKey('sk-a\u0001b')).toEqual({ key: 'sk-a\u0001b', problem: 'unsendable' });
    // A tab or space inside is sendable, but no key has one (R48).
    expect(upstreamKey('sk-a\tb')).toEqual({ key: 'sk-a\tb', problem: 'inner-whitespace' });
    expect(upstreamKey('Bearer sk-abc')).toEqual({ key: 'Bearer sk-abc', problem: 'inner-whitespace' });
  });

  it("a key file's trailing line break is not sent: the upstream gets the key, and the start says why", async () => {
    const upstream = await scripted((res) => res.end(openAIChunk({ content: 'hi' }, 'stop') + 'data: [DONE]\n\n'));
    const config = configOf(upstream.url);
    const gateway = createGateway({ config, logger: false, env: { KEY_TEST: 'sk-upstream-abc\n' } });
    cleanups.push(() => gateway.close());
    const url = await gateway.listen(0, '127.0.0.1');
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(response.status).toBe(200);
    expect(upstream.headers[0]?.authorization).toBe('Bearer sk-upstream-abc');
    expect(gatewayConfigWarnings(config, { KEY_TEST: 'sk-upstream-abc\n' })).toEqual([expect.stringMatching(/^endpoint 'up' takes its key from \$KEY_TEST, whose value begins or ends with whitespace .*: it is sent without it$/)]);
    expect(gatewayConfigWarnings(config, { KEY_TEST: '' })).toEqual(["endpoint 'up' takes its key from $KEY_TEST, which is empty; it will be called without a key"]);
    expect(gatewayConfigWarnings(config, { KEY_TEST: 'sk-a\nb' })).toEqual([expect.stringContaining('every request to it will fail; set the variable to the key alone')]);
    expect(gatewayConfigWarnings(config, { KEY_TEST: 'Bearer sk-upstream-abc' })).toEqual([expect.stringContaining("holds a space or a tab inside it, which no key has (two values pasted together, or a 'Bearer ' prefix")]);
    expect(gatewayConfigWarnings(config, { KEY_TEST: 'sk-upstream-abc' })).toEqual([]);
  });
});
