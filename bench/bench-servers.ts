import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { parseGatewayConfig } from '../src/gateway/gateway-config.js';
import { createGatewayLogger } from '../src/gateway/gateway-logger.js';
import { limitHeapGrowth } from '../src/cli/limit-heap-growth.js';
import { createGateway } from '../src/gateway/gateway-server.js';
import { hashApiKey } from '../src/gateway/tenant-auth.js';
import { startMinimalGateway } from './minimal-gateway.js';
import { startMockUpstream } from './mock-upstream.js';

/**
 * Child-process entry points for bench:gateway, so each server's peak RSS is its
 * own: `mock [--slow-stream-ms N]`, `gateway --upstream URL [--log-file PATH]`,
 * `relay --upstream URL` or `minimal --upstream URL --log-file PATH`. Each prints its
 * URL on one line and serves until killed. The gateway writes its request log, as
 * `switchyard gateway` does, to `--log-file` (none without it); so does the minimal one.
 */
export const benchKey = 'sk-bench';

const [role, ...args] = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};

if (role === 'mock') {
  const slow = option('--slow-stream-ms');
  const mock = await startMockUpstream({ words: 8, ...(slow === undefined ? {} : { tokenIntervalMs: Number(slow) }) });
  process.stdout.write(`${mock.url}\n`);
} else if (role === 'gateway') {
  const upstream = option('--upstream') ?? '';
  const parsed = parseGatewayConfig(
    [
      'version: 1',
      'endpoints:',
      `  - { id: mock, url: "${upstream}", dialect: openai, model: mock, provider: local, region: loopback, jurisdiction: us, contextWindow: 1000000, marginalCostPerMillionTokens: 0, capacity: 100000 }`,
      'routes:',
      '  - { model: bench, endpoints: [mock], policy: [cost, least-load] }',
      'tenants:',
      `  - { id: bench, apiKeySha256: ${hashApiKey(benchKey)}, jurisdictions: [us], requestsPerMinute: 1000000000, tokensPerMinute: 1000000000000 }`,
      'resilience: { ttftTimeoutMs: 600000, deadlineMs: 3600000 }',
    ].join('\n'),
    'bench-gateway.yaml',
  );
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('\n'));
  const logFile = option('--log-file');
  // As `switchyard gateway` does before it serves.
  limitHeapGrowth();
  const gateway = createGateway({ config: parsed.value, logger: logFile === undefined ? false : createGatewayLogger(logFile), processMetrics: true });
  process.stdout.write(`${await gateway.listen(0, '127.0.0.1')}\n`);
} else if (role === 'relay') {
  // The floor under any Node gateway, for reference: node:http in and an undici pool out, as the
  // gateway has, with no logic at all: the body goes up untouched, the answer comes back untouched.
  const pool = new Pool(option('--upstream') ?? '', { connections: null, pipelining: 1 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      pool.request({ method: 'POST', path: req.url ?? '/', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) }).then(
        async (answer) => {
          res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/json') });
          try {
            for await (const chunk of answer.body) res.write(chunk);
            res.end();
          } catch {
            // The upstream's answer broke: so does the client's (a rejection here would end the process).
            res.destroy();
          }
        },
        () => res.writeHead(502).end(),
      );
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
} else if (role === 'minimal') {
  const minimal = await startMinimalGateway(option('--upstream') ?? '', createGatewayLogger(option('--log-file') ?? '/dev/null'));
  process.stdout.write(`${minimal.url}\n`);
}
