import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGateway } from '../../src/gateway/gateway-server.js';
import { pino } from 'pino';
import { anthropicDialect } from '../../src/protocol/anthropic/anthropic-dialect.js';
import { anthropicTokenCounting } from '../../src/protocol/anthropic/anthropic-token-counting.js';
import { createPooledUpstreamClient } from '../../src/gateway/upstream-client.js';
import { cheapestFirstConfig, closedAfterEach, metricValue, scrape, singleEndpointConfig, startTestEmulator } from './helpers/fleet.js';

// A failure of the gateway's own (it cannot write a request for an upstream) is not the endpoint's:
// it must not open the endpoint's circuit for everyone, nor be told to the caller as the upstream's.

const apiKey = 'sk-gateway-fault';
const { cleanups } = closedAfterEach();
afterEach(() => {
  vi.restoreAllMocks();
});

describe("the gateway's own failure to write a request", () => {
  it('is a 500 saying so, never counted against the endpoint; another dialect still serves', async () => {
    const replica = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => replica.close());
    const config = cheapestFirstConfig([[replica.url, 'anthropic'], [replica.url, 'openai']], apiKey, '{ retries: 0, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 2 } }');
    const only = createGateway({ config: { ...config, routes: [{ ...config.routes[0]!, endpoints: ['e0'] }] }, logger: false });
    const both = createGateway({ config, logger: false });
    const onlyUrl = await only.listen(0, '127.0.0.1');
    const bothUrl = await both.listen(0, '127.0.0.1');
    cleanups.push(() => only.close(), () => both.close());
    vi.spyOn(anthropicDialect, 'encodeRequest').mockImplementation(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    const ask = (url: string): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
    for (let attempt = 0; attempt < 4; attempt++) {
      const refused = await ask(onlyUrl);
      expect(refused.status).toBe(500);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe('internal gateway error: the request could not be written for its upstream');
    }
    const exposition = await scrape(onlyUrl);
    expect(metricValue(exposition, 'switchyard_circuit_state', { endpoint: 'e0' })).toBe(0);
    expect(metricValue(exposition, 'switchyard_upstream_errors_total', { endpoint: 'e0' }) ?? 0).toBe(0);
    expect((await ask(bothUrl)).status).toBe(200);
  });

  it("for a token count too: a 500, logged, not counted against the endpoint", async () => {
    const replica = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => replica.close());
    const lines: string[] = [];
    const gateway = createGateway({ config: cheapestFirstConfig([[replica.url, 'anthropic']], apiKey, '{ retries: 0 }'), logger: pino({ base: null }, { write: (line: string) => lines.push(line) }) });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    vi.spyOn(anthropicTokenCounting, 'encodeRequest').mockImplementation(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    const counted = await fetch(`${url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(counted.status).toBe(500);
    expect(metricValue(await scrape(url), 'switchyard_upstream_errors_total', { endpoint: 'e0' }) ?? 0).toBe(0);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('upstream attempt failed');
  });
});

describe("the gateway's own open-file limit reached (EMFILE)", () => {
  it('is a 503 to retry shortly, saying so, never counted against the endpoint (E38: it opened every healthy circuit)', async () => {
    const replica = await startTestEmulator({ servedModelName: 'm' });
    cleanups.push(() => replica.close());
    let refuseConnections = true;
    // Connections fail as the system fails them with no descriptor left; then it has them again.
    const upstream = createPooledUpstreamClient({
      connect: (options, callback) => {
        if (refuseConnections) callback(Object.assign(new Error(`connect EMFILE ${options.hostname}:${options.port}`), { code: 'EMFILE', errno: -24, syscall: 'connect' }), null);
        else {
          void import('node:net').then(({ connect }) => {
            const socket = connect({ host: options.hostname, port: Number(options.port) });
            socket.once('connect', () => callback(null, socket));
            socket.once('error', (error) => callback(error, null));
          });
        }
      },
    });
    const gateway = createGateway({ config: singleEndpointConfig(replica.url, apiKey, '{ retries: 1, backoffMs: 1, maxBackoffMs: 5, ttftTimeoutMs: 5000, deadlineMs: 10000, circuitBreaker: { failureThreshold: 2 } }'), upstream, logger: false });
    const url = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    const ask = (): Promise<Response> => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
    for (let attempt = 0; attempt < 4; attempt++) {
      const refused = await ask();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe('the gateway has reached its open-file limit and could not connect to an upstream: retry shortly');
    }
    const exposition = await scrape(url);
    expect(metricValue(exposition, 'switchyard_circuit_state', { endpoint: 'up' })).toBe(0);
    expect(metricValue(exposition, 'switchyard_upstream_errors_total', { endpoint: 'up' }) ?? 0).toBe(0);
    // Descriptors back: served at once, no circuit to wait out.
    refuseConnections = false;
    expect((await ask()).status).toBe(200);
  });
});
