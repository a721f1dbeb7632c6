import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import { cheapestFirstConfig, gatewayConfig, metricValue, oneEndpointYaml, openAIChunk, scrape, singleEndpointConfig, startScriptedUpstream, type ScriptedUpstream } from './helpers/fleet.js';

/**
 * What the gateway's JSON log never holds by default: the gateway's own upstream keys, and prompt
 * text an upstream quotes back in its error about the caller's request.
 */
const apiKey = 'sk-log-privacy';
const upstreamKey = 'sk-upstream-SECRET-0123456789';
const prompt = 'my confidential prompt: patient John Doe';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function loggingGateway(respond: (res: ServerResponse) => void, status: number, logPrompts: boolean, retries = 0, key = upstreamKey): Promise<{ url: string; lines: string[]; upstream: ScriptedUpstream }> {
  const upstream = await startScriptedUpstream(respond, { status, contentType: status === 200 ? 'text/event-stream' : 'application/json' });
  cleanups.push(() => upstream.close());
  const lines: string[] = [];
  const gateway = createGateway({
    config: gatewayConfig(`
version: 1
endpoints:
  - { id: up, url: "${upstream.url}", apiKeyEnv: UPSTREAM_KEY, dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
routes:
  - { model: m, endpoints: [up], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
resilience: { retries: ${retries}, backoffMs: 1, maxBackoffMs: 2, resumeStreams: false }
logging: { logPrompts: ${logPrompts} }
`),
    env: { UPSTREAM_KEY: key },
    logger: pino({ base: null }, { write: (line: string) => lines.push(line) }),
  });
  const url = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return { url, lines, upstream };
}

async function ask(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: prompt }] }),
  });
  return { status: response.status, text: await response.text() };
}

const quoting = `key ${upstreamKey} refused for '${prompt}'`;

describe('the log', () => {
  it("names a token count's refusal as one, not as a chat request's (E42: the metrics count them apart)", async () => {
    const { url, lines } = await loggingGateway((res) => res.end(), 200, false);
    const count = await fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(count.status).toBe(404);
    const chat = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(chat.status).toBe(404);
    const refusals = lines.map((line) => JSON.parse(line) as { msg: string; requestId: string });
    expect(refusals.find((line) => line.requestId === count.headers.get('x-request-id'))?.msg).toBe('token count refused');
    expect(refusals.find((line) => line.requestId === chat.headers.get('x-request-id'))?.msg).toBe('request refused');
  });

  it('holds no key a caller pasted as its model or path, though the caller is told its own words (E38, R31)', async () => {
    const { url, lines } = await loggingGateway((res) => res.end(), 200, false);
    // OpenAI's, xAI's, Perplexity's, Fireworks', Replicate's and NVIDIA's shapes.
    const secret = 'AbCdEf0123456789GhIjKlMnOpQrStUvWx';
    for (const pasted of [`sk-proj-${secret}`, `xai-${secret}`, `pplx-${secret}`, `fw_${secret}`, `r8_${secret}`, `nvapi-${secret}${secret}`, `nvapi-${secret.slice(0, 8)}_${secret.slice(8, 16)}-${secret.slice(16)}${secret}`, `glpat-${secret.slice(0, 6)}-${secret.slice(6, 17)}_x`, 'glpat-AbCdEfGHijklMNOP_-qr']) {
      const asModel = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: pasted, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(asModel.status).toBe(404);
      // (A long model name is quoted by its first 64 characters.)
      expect(await asModel.text()).toContain(pasted.slice(0, 40));
      expect((await fetch(`${url}/${pasted}`)).status).toBe(404);
    }
    const refusals = lines.filter((line) => line.includes('request refused'));
    expect(refusals).toHaveLength(18);
    for (const line of refusals) {
      expect(line).not.toContain('AbCdEf');
      // (Or, past the 64 characters quoted, cut to 8: R79.)
      expect(line).toMatch(/\(what looks like a key, not shown\)|\.\.\.' \(cut\)/);
    }
    // The config's own names, and ids an operator quotes to a provider, still read as they are (R32).
    for (const shown of ['m-missing', 'req_011CSHoEeqs5C35K2UUqR7Fy', 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT', 'xai-prod']) {
      expect((await fetch(`${url}/v1/models/${shown}`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(404);
      expect(lines.at(-1)).toContain(shown);
    }
  });

  it("holds no tenant's key a caller pasted as its model or path, though keys of tenants have no shape to tell them by (R78)", async () => {
    // `up`'s demo key's shape (dashes make it no key-like run) and an operator's own choice.
    const demoKey = 'sy-demo-Q3vX9kPz2LmN8rT1wY6uE4oA';
    const operatorKey = 'acme-prod-2026-q4-7f3k29djx8q2p0zn';
    const upstream = await startScriptedUpstream((res) => res.end());
    cleanups.push(() => upstream.close());
    const lines: string[] = [];
    const tenants = [demoKey, operatorKey].map((key, index) => `  - { id: t${String(index)}, apiKeySha256: ${hashApiKey(key)}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 100000000 }`).join('\n');
    const gateway = createGateway({ config: gatewayConfig(oneEndpointYaml(upstream.url, tenants)), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }) });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const asModel = async (model: string): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
    // Its own key as the model, glued to another word too (found only as its own); another tenant's as the model, in a path with and without a key.
    for (const model of [demoKey, `prod_${demoKey}`, operatorKey]) {
      const refused = await asModel(model);
      expect(refused.status).toBe(404);
      expect(await refused.text()).toContain(model);
    }
    expect((await fetch(`${url}/v1/models/${operatorKey}`, { headers: { authorization: `Bearer ${demoKey}` } })).status).toBe(404);
    expect((await fetch(`${url}/${operatorKey}`, { method: 'POST' })).status).toBe(404);
    const refusals = lines.filter((line) => line.includes('refused'));
    expect(refusals).toHaveLength(5);
    for (const line of refusals) {
      expect(line).not.toContain('Q3vX9kPz');
      expect(line).not.toContain('7f3k29djx8q2p0zn');
      expect(line).toContain("(a tenant's key, not shown)");
    }
    // Words around a key, and names that are no key, still read as they are.
    expect(refusals[1]).toContain("'prod_(a tenant's key, not shown)'");
    // A key longer than the 64 characters a refusal quotes, cut there, is found by no hash: the log
    // keeps 8 characters of any text cut so (R79: 64 of an 83-character key were logged).
    const longKey = 'acme-prod-3f2a9c1e-1111-2222-3333-444455556666-aaaa-bbbb-cccc-dddd-eeeeffff0000';
    expect((await asModel(longKey)).status).toBe(404);
    expect((await fetch(`${url}/v1/x/${longKey}`, { method: 'POST' })).status).toBe(404);
    expect(lines.at(-2)).toContain("model 'acme-pro...' (cut)");
    expect(lines.at(-1)).toContain("'/v1/x/ac...' (cut)");
    for (const line of lines.slice(-2)) expect(line).not.toContain('3f2a9c1e');
    expect((await asModel('acme-prod-2026-q4-summaries')).status).toBe(404);
    expect(lines.at(-1)).toContain('acme-prod-2026-q4-summaries');
  });

  it.each([
    ['a 401 error body', 401, (res: ServerResponse) => res.end(JSON.stringify({ error: { message: quoting, type: 'invalid_request_error', code: 'invalid_api_key' } }))],
    ['a 500 error body', 500, (res: ServerResponse) => res.end(JSON.stringify({ error: { message: quoting } }))],
    ['a 400 error body', 400, (res: ServerResponse) => res.end(JSON.stringify({ error: { message: quoting } }))],
    ['a 400 error body naming the key as its param', 400, (res: ServerResponse) => res.end(JSON.stringify({ error: { message: 'bad request', type: 'invalid_request_error', param: upstreamKey } }))],
    ['an error event mid-stream', 200, (res: ServerResponse) => res.end(openAIChunk({ role: 'assistant', content: 'Hi' }) + `data: ${JSON.stringify({ error: { message: quoting } })}\n\n`)],
  ])('holds none of the upstream\'s words in %s (they may quote the prompt), only its status and plain code; the caller never gets the key', async (_where, status, respond) => {
    const { url, lines } = await loggingGateway(respond, status, false);
    const answer = await ask(url);
    expect(answer.text).not.toContain(upstreamKey);
    const log = lines.join('');
    expect(log).not.toContain(upstreamKey);
    expect(log).not.toContain('confidential');
    expect(log).toContain('logged only with logging.logPrompts');
    if (status === 401) expect(log).toContain('status 401 (invalid_api_key)');
  });

  it.each([
    ['quoting the prompt only: they are logged', `invalid content: '${prompt}'`, 'confidential'],
    ['quoting the gateway\'s key for it: they are withheld whole, the key never shown in place', quoting, "[the upstream's message, withheld: it quoted the gateway's key for that upstream]"],
    ['quoting the key masked, as OpenAI does: withheld too', `Incorrect API key provided: ${upstreamKey.slice(0, 8)}*****************${upstreamKey.slice(-4)}.`, "[the upstream's message, withheld: it quoted the gateway's key for that upstream]"],
  ])('with logPrompts, an upstream\'s words %s', async (_case, words, expected) => {
    const { url, lines } = await loggingGateway((res) => res.end(JSON.stringify({ error: { message: words } })), 500, true);
    await ask(url);
    const log = lines.join('');
    expect(log).toContain(expected);
    expect(log).not.toContain(upstreamKey);
  });
});

describe('the gateway\'s own words in the log', () => {
  it('a stream the upstream\'s connection broke is logged with the network cause, not as words withheld', async () => {
    const { url, lines } = await loggingGateway((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'Hi' }));
      setTimeout(() => res.socket?.destroy(), 20);
    }, 200, false);
    await ask(url);
    const broke = lines.map((line) => JSON.parse(line) as { msg: string; reason?: string }).find((line) => line.msg === 'upstream stream broke');
    expect(broke?.reason).toMatch(/upstream stream broke: [A-Z_]+: |ended without its final event/);
    expect(broke?.reason).not.toContain('logged only with');
  });

  it('a stream that broke before its first token is logged with the network cause the caller is not told', async () => {
    const { url, lines } = await loggingGateway((res) => {
      res.write(': ok\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    }, 200, false);
    await ask(url);
    const failed = lines.map((line) => JSON.parse(line) as { msg: string; reason?: string }).find((line) => line.msg === 'upstream attempt failed');
    expect(failed?.reason).toMatch(/^the upstream stream broke before the first token: [A-Z_]+: /);
  });

  it("a placeholder upstream key (under 8 characters: 'none', vLLM's 'EMPTY') is no secret: an upstream's words that hold it reach the caller", async () => {
    const { url } = await loggingGateway((res) => res.end(JSON.stringify({ error: { message: "'temperature' must be none or a number" } })), 400, false, 0, 'none');
    const answer = await ask(url);
    expect(answer.status).toBe(400);
    expect(answer.text).toContain("'temperature' must be none or a number");
    expect(answer.text).not.toContain('withheld');
  });
});

describe('the request log line', () => {
  it('counts every upstream attempt, going back to the same endpoint included', async () => {
    let arrivals = 0;
    const { url, lines } = await loggingGateway(
      (res) => {
        arrivals += 1;
        // Broken after its status: a failed attempt (one lost before any answer is only sent again).
        if (arrivals === 1) {
          res.flushHeaders();
          setTimeout(() => res.destroy(), 10);
        } else res.end(openAIChunk({ role: 'assistant', content: 'Hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
      },
      200,
      false,
      2,
    );
    expect((await ask(url)).status).toBe(200);
    const request = lines.map((line) => JSON.parse(line) as { msg: string; attempts?: number }).find((line) => line.msg === 'request');
    expect(request?.attempts).toBe(2);
  });

  interface LogLine {
    readonly msg: string;
    readonly level: number;
    readonly status?: number;
    readonly httpStatus?: number;
    readonly attempts?: number;
    readonly requestId?: string;
  }
  const parsed = (lines: readonly string[]): LogLine[] => lines.map((line) => JSON.parse(line) as LogLine);

  it("names each failed or broken attempt by the x-request-id its upstream got, and an answer's line carries its usage", async () => {
    let arrivals = 0;
    const { url, lines, upstream } = await loggingGateway(
      (res) => {
        arrivals += 1;
        if (arrivals === 1) {
          // Failed before its first token.
          res.flushHeaders();
          setTimeout(() => res.destroy(), 10);
        } else if (arrivals === 2) {
          // Broken after it.
          res.write(openAIChunk({ role: 'assistant', content: 'Hi' }));
          setTimeout(() => res.socket?.destroy(), 20);
        } else res.end(openAIChunk({ role: 'assistant', content: 'Hi there' }) + openAIChunk({}, 'stop') + `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 } })}\n\n` + 'data: [DONE]\n\n');
      },
      200,
      false,
      1,
    );
    // Charged nothing yet, the tenant's series is there at 0: increase() sees its first request.
    expect(metricValue(await scrape(url), 'switchyard_tenant_tokens_total', { tenant: 't' })).toBe(0);
    expect((await ask(url)).text).toContain('"error"');
    const sent = upstream.headers.map((headers) => headers['x-request-id']);
    const logged = parsed(lines) as (LogLine & { sentRequestId?: string; inputTokens?: number; outputTokens?: number })[];
    expect(logged.filter((line) => line.msg === 'upstream attempt failed').map((line) => line.sentRequestId)).toEqual([sent[0]]);
    expect(logged.filter((line) => line.msg === 'upstream stream broke').map((line) => line.sentRequestId)).toEqual([sent[1]]);
    expect(sent[0]).toMatch(/^[\w-]+-[0-9a-z]+$/);
    expect(sent[1]).not.toBe(sent[0]);
    const answered = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: prompt }] }) });
    const usage = ((await answered.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    expect(usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 2 });
    expect(parsed(lines).filter((line) => line.msg === 'request').at(-1)).toMatchObject({ status: 200, inputTokens: 11, outputTokens: 2 });
  });

  it("is a warning when the gateway or its upstreams failed (5xx), routine when the caller erred, and names the status a broken stream's caller got", async () => {
    const failing = await loggingGateway((res) => res.end(JSON.stringify({ error: { message: 'boom' } })), 500, false, 2);
    expect((await ask(failing.url)).status).toBe(502);
    // A failed request's line says how many attempts it made, as an answered one's does.
    expect(parsed(failing.lines).find((line) => line.msg === 'request refused')).toMatchObject({ level: 40, status: 502, attempts: 3 });

    const badKey = await fetch(`${failing.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-wrong', 'content-type': 'application/json' }, body: '{}' });
    expect(badKey.status).toBe(401);
    const refused = parsed(failing.lines).filter((line) => line.msg === 'request refused');
    expect(refused.at(-1)).toMatchObject({ level: 30, status: 401 });
    expect(refused.at(-1)).not.toHaveProperty('httpStatus');
    // Refused before any routing: no attempts to count.
    expect(refused.at(-1)).not.toHaveProperty('attempts');

    const breaking = await loggingGateway((res) => {
      res.write(openAIChunk({ role: 'assistant', content: 'Hi' }));
      setTimeout(() => res.socket?.destroy(), 20);
    }, 200, false);
    expect((await ask(breaking.url)).status).toBe(200);
    const broken = parsed(breaking.lines).find((line) => line.msg === 'request' || line.msg === 'request refused');
    expect(broken).toMatchObject({ level: 40, status: 502, httpStatus: 200 });
  });

  it('a failed token count says its attempts too: each counting endpoint asked once, each failure on its own line', async () => {
    const failing = await Promise.all([0, 1].map(() => startScriptedUpstream((res) => res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'boom' } })), { status: 500, contentType: 'application/json' })));
    for (const upstream of failing) cleanups.push(() => upstream.close());
    const lines: string[] = [];
    const gateway = createGateway({
      config: gatewayConfig(`
version: 1
endpoints:
${failing.map((upstream, index) => `  - { id: c${index}, url: "${upstream.url}", dialect: anthropic, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: ${index}, capacity: 8 }`).join('\n')}
routes:
  - { model: m, endpoints: [c0, c1], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
`),
      logger: pino({ base: null }, { write: (line: string) => lines.push(line) }),
    });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const response = await fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(response.status).toBe(502);
    expect(parsed(lines).find((line) => line.msg === 'token count refused')).toMatchObject({ status: 502, attempts: 2 });
    // A line per failed attempt, as an answer's, so the log adds up to switchyard_upstream_errors_total.
    const failedAttempts = parsed(lines).filter((line) => line.msg === 'upstream attempt failed');
    expect(failedAttempts).toEqual([expect.objectContaining({ level: 40, endpoint: 'c0', status: 500 }), expect.objectContaining({ level: 40, endpoint: 'c1', status: 500 })]);
    expect(new Set(failedAttempts.map((line) => line.requestId)).size).toBe(1);
  });

  it('logs a counting endpoint without the counting API (404) as routine when it is passed over', async () => {
    const noApi = await startScriptedUpstream((res) => res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'Not Found' } })), { status: 404, contentType: 'application/json' });
    const counting = await startScriptedUpstream((res) => res.end(JSON.stringify({ input_tokens: 7 })), { status: 200, contentType: 'application/json' });
    cleanups.push(() => noApi.close(), () => counting.close());
    const lines: string[] = [];
    const gateway = createGateway({
      // e0 (free, asked first) has no counting API; e1 counts.
      config: cheapestFirstConfig([[noApi.url, 'anthropic'], [counting.url, 'anthropic']], apiKey, '{}'),
      logger: pino({ base: null }, { write: (line: string) => lines.push(line) }),
    });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const response = await fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(await response.json()).toEqual({ input_tokens: 7 });
    expect(parsed(lines).filter((line) => line.msg === 'upstream attempt failed')).toEqual([expect.objectContaining({ level: 30, status: 404 })]);
  });

  it('names which key a request came with only for a tenant with several (a rotation), by its hash\'s start', async () => {
    const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'Hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => upstream.close());
    const lines: string[] = [];
    const gateway = createGateway({
      config: gatewayConfig(
        oneEndpointYaml(
          upstream.url,
          [
            `  - { id: rotating, apiKeySha256: [${hashApiKey('sk-old')}, ${hashApiKey('sk-new')}], jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }`,
            `  - { id: single, apiKeySha256: ${hashApiKey('sk-single')}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }`,
          ].join('\n'),
        ),
      ),
      logger: pino({ base: null }, { write: (line: string) => lines.push(line) }),
    });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    for (const key of ['sk-old', 'sk-new', 'sk-single']) {
      const answer = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
      expect(answer.status).toBe(200);
    }
    const refused = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-old', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(refused.status).toBe(404);
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; tenant?: string; key?: string });
    expect(logged.filter((line) => line.msg === 'request').map((line) => [line.tenant, line.key])).toEqual([['rotating', hashApiKey('sk-old').slice(0, 8)], ['rotating', hashApiKey('sk-new').slice(0, 8)], ['single', undefined]]);
    expect(logged.find((line) => line.msg === 'request refused')).toMatchObject({ tenant: 'rotating', key: hashApiKey('sk-old').slice(0, 8) });
    expect(lines.join('')).not.toMatch(/sk-old|sk-new|"key":null/);
  });

  it("names the client of every request: the peer's address, or behind a proxy the header it writes the caller's in (E29)", async () => {
    const upstream = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'Hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => upstream.close());
    const tenant = `  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }`;
    const logged = async (extra: string): Promise<{ msg: string; client?: string }[]> => {
      const lines: string[] = [];
      const gateway = createGateway({ config: gatewayConfig(oneEndpointYaml(upstream.url, tenant, extra)), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }) });
      const url = await gateway.listen(0, '127.0.0.1');
      cleanups.push(() => gateway.close());
      const headers = { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7, 10.0.0.2' };
      // An empty header says nothing: the peer's address instead (R23).
      expect((await fetch(`${url}/v1/models`, { headers: { 'x-forwarded-for': ' ', authorization: `Bearer ${apiKey}` } })).status).toBe(200);
      expect((await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) })).status).toBe(200);
      expect((await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { ...headers, authorization: 'Bearer sk-wrong' }, body: '{}' })).status).toBe(401);
      expect((await fetch(`${url}/v1/models`, { headers: { ...headers, authorization: `Bearer ${apiKey}` } })).status).toBe(200);
      return lines.map((line) => JSON.parse(line) as { msg: string; client?: string });
    };
    expect((await logged('')).map((line) => [line.msg, line.client])).toEqual([['models', '127.0.0.1'], ['request', '127.0.0.1'], ['request refused', '127.0.0.1'], ['models', '127.0.0.1']]);
    expect((await logged('logging: { clientAddressHeader: X-Forwarded-For }')).map((line) => [line.msg, line.client])).toEqual([['models', '127.0.0.1'], ['request', '203.0.113.7, 10.0.0.2'], ['request refused', '203.0.113.7, 10.0.0.2'], ['models', '203.0.113.7, 10.0.0.2']]);
  });

  it("logs an upstream's refusal of the caller's own request as routine, not as a warning", async () => {
    const { url, lines } = await loggingGateway((res) => res.end(JSON.stringify({ error: { message: 'bad temperature', param: 'temperature' } })), 400, false);
    expect((await ask(url)).status).toBe(400);
    expect(parsed(lines).find((line) => line.msg === 'upstream attempt failed')).toMatchObject({ level: 30, status: 400 });
    expect(parsed(lines).find((line) => line.msg === 'request refused')).toMatchObject({ level: 30, status: 400 });
  });

  it("sends the caller's request id upstream, unique per attempt across requests, and logs the upstream's own id of a failed attempt", async () => {
    const seen: (string | undefined)[] = [];
    const upstream = createServer((req, res) => {
      seen.push(req.headers['x-request-id'] as string | undefined);
      req.resume();
      req.on('end', () => {
        if (seen.length === 1) {
          res.writeHead(500, { 'content-type': 'application/json', 'x-request-id': 'req_upstream_1' });
          res.end(JSON.stringify({ error: { message: 'boom' } }));
        } else {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(openAIChunk({ role: 'assistant', content: 'Hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n');
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
    const lines: string[] = [];
    const gateway = createGateway({
      config: singleEndpointConfig(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, apiKey, '{ retries: 1, backoffMs: 1, maxBackoffMs: 2 }', 'openai', { contextWindow: 131072, requestsPerMinute: 100000 }),
      logger: pino({ base: null }, { write: (line: string) => lines.push(line) }),
    });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-request-id': 'caller-42' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(response.status).toBe(200);
    // Two more requests with the same caller id, at once: every upstream attempt has its own id.
    const again = () => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-request-id': 'caller-42' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    await Promise.all([again(), again()].map(async (pending) => (await pending).text()));
    expect(seen).toHaveLength(4);
    for (const id of seen) expect(id).toMatch(/^caller-42-[0-9a-z]+$/);
    expect(new Set(seen).size).toBe(4);
    expect(parsed(lines).find((line) => line.msg === 'upstream attempt failed')).toMatchObject({ requestId: 'caller-42', upstreamRequestId: 'req_upstream_1' });
  });
});

describe('a hedge whose losing leg fails after the other won', () => {
  it("logs that leg's failure under the request's id, as any other failed attempt is logged", async () => {
    // 'slow' (cheaper, first) never sends a first token; the hedge's leg on 'fast' answers at once.
    const slow = await startScriptedUpstream(() => undefined);
    const fast = await startScriptedUpstream((res) => res.end(openAIChunk({ role: 'assistant', content: 'hi' }) + openAIChunk({}, 'stop') + 'data: [DONE]\n\n'));
    cleanups.push(() => slow.close(), () => fast.close());
    const lines: string[] = [];
    const gateway = createGateway({
      config: gatewayConfig(`
version: 1
endpoints:
  - { id: slow, url: "${slow.url}", dialect: openai, model: m, provider: p1, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 0, capacity: 8 }
  - { id: fast, url: "${fast.url}", dialect: openai, model: m, provider: p2, region: r, jurisdiction: us, contextWindow: 131072, marginalCostPerMillionTokens: 1, capacity: 8 }
routes:
  - { model: m, endpoints: [slow, fast], policy: [cost] }
tenants:
  - { id: t, apiKeySha256: ${hashApiKey(apiKey)}, jurisdictions: [us], requestsPerMinute: 100000, tokensPerMinute: 100000000 }
resilience: { retries: 0, hedgeAfterMs: 20, ttftTimeoutMs: 300, deadlineMs: 5000 }
`),
      logger: pino({ base: null }, { write: (line: string) => lines.push(line) }),
    });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    expect((await ask(url)).status).toBe(200);
    const parsed = (): { msg?: string; requestId?: string; endpoint?: string }[] => lines.map((line) => JSON.parse(line) as { msg?: string; requestId?: string; endpoint?: string });
    const requestId = parsed().find((line) => line.msg === 'request')?.requestId;
    expect(requestId).toBeDefined();
    let failed: { endpoint?: string } | undefined;
    for (let tries = 0; tries < 100 && failed === undefined; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      failed = parsed().find((line) => line.msg === 'upstream attempt failed' && line.requestId === requestId);
    }
    expect(failed).toMatchObject({ endpoint: 'slow' });
    // The hedge's leg won: the failure logged is the loser's, not a first leg that failed before the race.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_hedges_total\{route="m",outcome="hedge"\} 1/);
  });
});
