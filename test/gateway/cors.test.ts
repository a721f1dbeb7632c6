import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/gateway-config.js';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { closedAfterEach, gatewayConfig, oneEndpointYaml, openAIChunk, startScriptedUpstream } from './helpers/fleet.js';

// Web pages (the SDKs' browser modes) call the API only from origins the config lists in `cors`:
// their preflights are answered, their answers (errors too) readable by the page; other pages, the
// operator's paths and a config without `cors` get no such headers.

const apiKey = 'sk-cors-test';
const page = 'https://app.example.com';
const { cleanups } = closedAfterEach();

function configYaml(upstreamUrl: string, cors: string): string {
  return oneEndpointYaml(upstreamUrl, `  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000000 }`, cors);
}

async function startGateway(cors: string): Promise<string> {
  const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
  cleanups.push(() => upstream.close());
  const gateway = createGateway({ config: gatewayConfig(configYaml(upstream.url, cors)), logger: false });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return url;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

async function call(url: string, method: 'OPTIONS' | 'POST' | 'GET', headers: Record<string, string>, body?: unknown): Promise<Answer> {
  const answer = await request(url, { method, headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: answer.statusCode, headers: answer.headers, body: await answer.body.text() };
}

const preflight = (url: string, origin: string, method = 'POST', asked = 'Authorization, Content-Type, X-Stainless-OS'): Promise<Answer> =>
  call(url, 'OPTIONS', { origin, 'access-control-request-method': method, 'access-control-request-headers': asked });
const chat = { model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 };

describe('CORS', () => {
  it('answers an allowed page\'s preflight with what it may send, and lets it read answers and errors', async () => {
    const url = await startGateway('cors: { allowOrigins: ["https://APP.example.com", "http://localhost:3000"] }');
    const pre = await preflight(`${url}/v1/chat/completions`, page);
    expect(pre.status).toBe(204);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': page,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'authorization, content-type, x-stainless-os',
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
    expect(pre.body).toBe('');
    const models = await preflight(`${url}/v1/models`, 'http://localhost:3000', 'GET', '');
    expect(models.status).toBe(204);
    expect(models.headers['access-control-allow-methods']).toBe('GET, HEAD');
    expect(models.headers['access-control-allow-headers']).toBeUndefined();

    const answered = await call(`${url}/v1/chat/completions`, 'POST', { origin: page, authorization: `Bearer ${apiKey}` }, chat);
    expect(answered.status).toBe(200);
    expect(answered.headers['access-control-allow-origin']).toBe(page);
    expect(answered.headers.vary).toBe('Origin');
    expect(String(answered.headers['access-control-expose-headers'])).toContain('x-request-id');
    expect(String(answered.headers['access-control-expose-headers'])).toContain('retry-after');
    const streamed = await call(`${url}/v1/chat/completions`, 'POST', { origin: page, authorization: `Bearer ${apiKey}` }, { ...chat, stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers['access-control-allow-origin']).toBe(page);
    expect(streamed.body).toContain('data: [DONE]');
    // The page's request is authenticated as any other, and may read why it was refused.
    const refused = await call(`${url}/v1/chat/completions`, 'POST', { origin: page, authorization: 'Bearer sk-wrong' }, chat);
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(page);
    // An API the gateway does not serve: the page may call it, and read what to call instead.
    expect((await preflight(`${url}/v1/responses`, page)).status).toBe(204);
    const unserved = await call(`${url}/v1/responses`, 'POST', { origin: page, authorization: `Bearer ${apiKey}` }, { model: 'm', input: 'hi' });
    expect(unserved.status).toBe(404);
    expect(unserved.headers['access-control-allow-origin']).toBe(page);
    expect(JSON.parse(unserved.body).error.message).toContain('the Responses API is not served');
    // Without an Origin the answer still says it depends on one, so no cache hands it to a page.
    const fromNoPage = await call(`${url}/v1/chat/completions`, 'POST', { authorization: `Bearer ${apiKey}` }, chat);
    expect(fromNoPage.headers.vary).toBe('Origin');
    expect(fromNoPage.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('gives another page, the operator\'s paths and a wrong method no way in', async () => {
    const url = await startGateway(`cors: { allowOrigins: ["${page}"], maxAgeSeconds: 60 }`);
    const other = await preflight(`${url}/v1/chat/completions`, 'https://evil.example.net');
    expect(other.status).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(other.body)).toMatchObject({ error: { type: 'permission_error', message: expect.stringContaining("origin 'https://evil.example.net' is not in cors.allowOrigins") } });
    const otherCall = await call(`${url}/v1/chat/completions`, 'POST', { origin: 'https://evil.example.net', authorization: `Bearer ${apiKey}` }, chat);
    expect(otherCall.status).toBe(200);
    expect(otherCall.headers['access-control-allow-origin']).toBeUndefined();
    const metrics = await preflight(`${url}/metrics`, page, 'GET');
    expect(metrics.status).toBe(403);
    expect(JSON.parse(metrics.body).error.message).toContain("'/metrics' is not open to web pages");
    const metricsRead = await call(`${url}/metrics`, 'GET', { origin: page });
    expect(metricsRead.headers['access-control-allow-origin']).toBeUndefined();
    const wrongMethod = await preflight(`${url}/v1/messages`, page, 'PUT');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect(JSON.parse(wrongMethod.body)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const allowed = await preflight(`${url}/v1/messages`, page);
    expect(allowed.headers['access-control-max-age']).toBe('60');
  });

  it("answers '*' for any page, and refuses preflights when cors is not configured", async () => {
    const any = await startGateway('cors: { allowOrigins: ["*"] }');
    const pre = await preflight(`${any}/v1/chat/completions`, 'https://anyone.example.org');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    const answered = await call(`${any}/v1/chat/completions`, 'POST', { origin: 'https://anyone.example.org', authorization: `Bearer ${apiKey}` }, chat);
    expect(answered.headers['access-control-allow-origin']).toBe('*');
    expect(answered.headers.vary).toBeUndefined();
    const fromNoPage = await call(`${any}/v1/chat/completions`, 'POST', { authorization: `Bearer ${apiKey}` }, chat);
    expect(fromNoPage.headers['access-control-allow-origin']).toBe('*');

    const none = await startGateway('');
    const refused = await preflight(`${none}/v1/chat/completions`, page);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error.message).toContain('list its origin in cors.allowOrigins');
    const plain = await call(`${none}/v1/chat/completions`, 'POST', { origin: page, authorization: `Bearer ${apiKey}` }, chat);
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses origins no browser sends, saying how a browser writes them', () => {
    const problemsOf = (origins: string): string[] => {
      const parsed = parseGatewayConfig(configYaml('http://127.0.0.1:1', `cors: { allowOrigins: [${origins}] }`), 'gateway.yaml');
      return parsed.ok ? [] : parsed.problems.map((problem) => `${problem.path}: ${problem.message}`);
    };
    expect(problemsOf('"https://*.example.com"')).toEqual([expect.stringContaining('cors.allowOrigins[0]: wildcards inside an origin are not supported')]);
    expect(problemsOf('"https://app.example.com:443"')).toEqual([expect.stringContaining("a browser sends this origin as 'https://app.example.com'")]);
    expect(problemsOf('"https://bücher.example"')).toEqual([expect.stringContaining("'https://xn--bcher-kva.example'")]);
    const withUser = problemsOf('"https://user:hunter2@app.example.com"');
    expect(withUser).toEqual([expect.stringContaining("a browser sends this origin as 'https://app.example.com'")]);
    expect(withUser.join('')).not.toContain('hunter2');
    expect(problemsOf('"null"')).toEqual([expect.stringContaining("the 'null' origin (file:// pages, sandboxed frames) is not supported")]);
    expect(problemsOf('"file://"')).toEqual([expect.stringContaining("the 'null' origin")]);
    expect(problemsOf('"wss://example.com"')).toEqual([expect.stringContaining('no page has a ws://, wss:// or ftp:// origin')]);
    expect(problemsOf('"http://localhost:3000", "http://[::1]:3000", "chrome-extension://abcdefghijklmnop", "HTTPS://App.Example.com"')).toEqual([]);
  });

  it('refuses origins with a path and a wildcard beside origins, naming the field', () => {
    const withPath = parseGatewayConfig(configYaml('http://127.0.0.1:1', 'cors: { allowOrigins: ["https://app.example.com/"] }'), 'gateway.yaml');
    expect(withPath.ok).toBe(false);
    if (!withPath.ok) expect(withPath.problems).toEqual([expect.objectContaining({ path: 'cors.allowOrigins[0]', message: expect.stringContaining('scheme://host[:port] with no path') })]);
    const mixed = parseGatewayConfig(configYaml('http://127.0.0.1:1', `cors: { allowOrigins: ["*", "${page}"] }`), 'gateway.yaml');
    expect(mixed.ok).toBe(false);
    if (!mixed.ok) expect(mixed.problems).toEqual([expect.objectContaining({ path: 'cors.allowOrigins', message: expect.stringContaining("'*' allows every origin: list it alone") })]);
  });
});
