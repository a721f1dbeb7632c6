import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { gatewayCommand } from '../../src/cli/commands/gateway-command.js';
import { hashApiKey } from '../../src/gateway/tenant-auth.js';
import type { Output } from '../../src/cli/output.js';
import { captureOutput } from '../helpers/capture-output.js';
import { readFileSync } from 'node:fs';
import { makeTempDir, repoRoot } from '../helpers/paths.js';
import { spawnCli } from '../helpers/spawn-cli.js';

const example = join(repoRoot, 'examples', 'gateway.yaml');

/** A tenant's line in a config: its key is `sk-<id>`. */
const tenantLine = (id: string, jurisdiction = 'us'): string => `  - { id: ${id}, apiKeySha256: ${hashApiKey(`sk-${id}`)}, jurisdictions: [${jurisdiction}], requestsPerMinute: 1000, tokensPerMinute: 1000000 }`;

/** A config of one endpoint and one route, with these tenants' lines. */
const oneEndpointConfig = (tenants: readonly string[]): string =>
  ['version: 1', 'endpoints:', '  - { id: up, url: "http://127.0.0.1:1", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 0, capacity: 8 }', 'routes:', '  - { model: m, endpoints: [up] }', 'tenants:', ...tenants].join('\n');

/** The gateway command run in this process on `config`: `reload` is a SIGHUP, `stop` the signal that ends it. */
function inProcessGateway(config: string, output: Output): { readonly reload: () => void; readonly stop: () => void; readonly run: Promise<number> } {
  let reload = (): void => undefined;
  let stop = (): void => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const run = gatewayCommand({ config, port: 0 }, output, stopped, () => () => undefined, (callback) => {
    reload = callback;
    return () => undefined;
  });
  return { reload: () => reload(), stop: () => stop(), run };
}

describe('switchyard gateway', () => {
  it('as a process: exits at once on SIGTERM though a caller refused mid-body left while its rest was being dropped', async () => {
    const cli = spawnCli(['--import', 'tsx', join(repoRoot, 'test', 'emulator', 'run-cli.ts'), 'gateway', '--config', example, '--port', '0']);
    try {
      await expect.poll(() => cli.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
      const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.stderr())?.[1]);
      // The process's own metrics beside the gateway's, for memory and event-loop alerts.
      const scraped = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(scraped).toMatch(/^process_resident_memory_bytes \d+/m);
      expect(scraped).toMatch(/^nodejs_eventloop_lag_seconds /m);
      expect(scraped).toContain('switchyard_requests_total');
      // A wrong key and a body announced at 10 MB, half sent: the 401 comes, the caller leaves.
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-wrong\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n{"model":`);
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.destroy();
      const signalled = Date.now();
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      // Well before the 10 s the rest of a refused body may take to arrive.
      expect(Date.now() - signalled).toBeLessThan(5_000);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('as a process: a second signal while it drains ends the streams in flight with an error event at once, not silently', async () => {
    // An upstream that sends one chunk and then nothing, for ever: only the shutdown ends its stream.
    const upstream = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hello' }, finish_reason: null }] })}\n\n`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const dir = makeTempDir('second-signal');
    const config = dir.write(
      'gateway.yaml',
      [
        'version: 1',
        'listen: { shutdownGraceMs: 60000 }',
        'endpoints:',
        `  - { id: up, url: "http://127.0.0.1:${String((upstream.address() as AddressInfo).port)}", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 0, capacity: 8 }`,
        'routes:',
        '  - { model: m, endpoints: [up], policy: [cost] }',
        'tenants:',
        `  - { id: t, apiKeySha256: ${hashApiKey('sk-drain')}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 1000000 }`,
        'resilience: { tokenIdleTimeoutMs: 3600000, deadlineMs: 86400000 }',
      ].join('\n'),
    );
    const cli = spawnCli(['--import', 'tsx', join(repoRoot, 'test', 'emulator', 'run-cli.ts'), 'gateway', '--config', config, '--port', '0']);
    try {
      await expect.poll(() => cli.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.stderr())?.[1] ?? '';
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-drain', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(response.status).toBe(200);
      const body = response.text();
      cli.child.kill('SIGTERM');
      await expect.poll(() => cli.stderr(), { timeout: 5_000 }).toContain('a second signal (Ctrl-C) ends them now');
      // Within its grace period (60 s) the stream runs on...
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(cli.child.exitCode).toBeNull();
      // ...until the second signal, which ends it with an error event, not a cut.
      const signalled = Date.now();
      cli.child.kill('SIGINT');
      const raw = await body;
      expect(raw).toContain('Hello');
      expect(raw).toMatch(/data: \{"error":\{[^\n]*shut down[^\n]*\}\}\n\n$/);
      expect(raw).not.toContain('[DONE]');
      expect(await cli.exited).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(5_000);
      expect(cli.stderr()).toContain('ending the requests in flight now');
    } finally {
      cli.child.kill('SIGKILL');
      upstream.close();
      upstream.closeAllConnections();
      dir.remove();
    }
  });

  it('as a process: SIGHUP takes the tenants of the file as it now is, and keeps serving the old config when the file is invalid or changes more', async () => {
    const dir = makeTempDir('reload');
    const tenant = (keys: string): string => `  - { id: t, apiKeySha256: ${keys}, jurisdictions: [us], requestsPerMinute: 1000, tokensPerMinute: 1000000 }`;
    const configText = (keys: string, route = 'policy: [cost]'): string =>
      ['version: 1', 'endpoints:', '  - { id: up, url: "http://127.0.0.1:1", dialect: openai, model: m, provider: p, region: r, jurisdiction: us, contextWindow: 100000, marginalCostPerMillionTokens: 0, capacity: 8 }', 'routes:', `  - { model: m, endpoints: [up], ${route} }`, 'tenants:', tenant(keys)].join('\n');
    const config = dir.write('gateway.yaml', configText(hashApiKey('sk-old')));
    const cli = spawnCli(['--import', 'tsx', join(repoRoot, 'test', 'emulator', 'run-cli.ts'), 'gateway', '--config', config, '--port', '0']);
    const models = async (url: string, key: string): Promise<number> => (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status;
    try {
      await expect.poll(() => cli.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.stderr())?.[1] ?? '';
      expect(await models(url, 'sk-old')).toBe(200);
      expect(await models(url, 'sk-new')).toBe(401);
      // A rotation: both keys while clients move over.
      dir.write('gateway.yaml', configText(`[${hashApiKey('sk-old')}, ${hashApiKey('sk-new')}]`));
      cli.child.kill('SIGHUP');
      await expect.poll(() => cli.stderr(), { timeout: 5_000 }).toContain(`reloaded ${config}: tenants changed t`);
      expect(await models(url, 'sk-new')).toBe(200);
      expect(await models(url, 'sk-old')).toBe(200);
      // A broken file: its problems said, the config before still served.
      dir.write('gateway.yaml', configText('sk-pasted-raw-key'));
      cli.child.kill('SIGHUP');
      await expect.poll(() => cli.stderr(), { timeout: 5_000 }).toContain('refused: fix the problems above; still serving the config loaded before');
      expect(cli.stderr()).toContain('tenants[0].apiKeySha256: expected the hex SHA-256 of the key');
      expect(cli.stderr()).not.toContain('sk-pasted-raw-key');
      // Said in the JSON log too, for pipelines that read only that.
      expect(cli.stdout()).toContain('"msg":"config reload refused: the file has problems"');
      expect(cli.stdout()).not.toContain('sk-pasted-raw-key');
      expect(await models(url, 'sk-new')).toBe(200);
      // A file that also changes a route: nothing taken, its tenants neither.
      dir.write('gateway.yaml', configText(hashApiKey('sk-new'), 'policy: [least-load]'));
      cli.child.kill('SIGHUP');
      await expect.poll(() => cli.stderr(), { timeout: 5_000 }).toContain('not applied: it changes routes, which take a restart');
      expect(await models(url, 'sk-old')).toBe(200);
      const scraped = await (await fetch(`${url}/metrics`)).text();
      for (const outcome of ['applied', 'invalid', 'restart-needed']) expect(scraped).toContain(`switchyard_config_reloads_total{outcome="${outcome}"} 1`);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
      dir.remove();
    }
  });

  it("an applied reload says the warnings the config served before did not have (a rollback's again), and names the first ten tenants it adds", async () => {
    const dir = makeTempDir('reload-warnings');
    const config = dir.write('gateway.yaml', oneEndpointConfig([tenantLine('t', 'us'), tenantLine('lost', 'jp')]));
    const io = captureOutput();
    const { reload: fire, stop, run } = inProcessGateway(config, io);
    try {
      await expect.poll(() => io.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
      const warningsOf = (text: string): string[] => text.split('\n').filter((line) => line.includes('warning:'));
      const first = warningsOf(io.stderr());
      expect(first.some((line) => line.includes("'lost'"))).toBe(true);
      // Twelve tenants more, one of them with a new warning: it alone is said, and the line names ten of twelve.
      const added = Array.from({ length: 11 }, (_, index) => tenantLine(`n${String(index)}`, 'us'));
      dir.write('gateway.yaml', oneEndpointConfig([tenantLine('t', 'us'), tenantLine('lost', 'jp'), ...added, tenantLine('gone', 'br')]));
      fire();
      await expect.poll(() => io.stderr(), { timeout: 5_000 }).toContain(`reloaded ${config}: tenants added`);
      const after = warningsOf(io.stderr());
      expect(after.length - first.length).toBe(1);
      expect(after.at(-1)).toContain("'gone'");
      expect(io.stderr()).toContain('added n0, n1, n2, n3, n4, n5, n6, n7, n8, n9 and 2 more');
      // Fixed, then back (a rollback): said again, as it applies again.
      dir.write('gateway.yaml', oneEndpointConfig([tenantLine('t', 'us'), tenantLine('lost', 'us')]));
      fire();
      await expect.poll(() => io.stderr(), { timeout: 5_000 }).toContain('changed lost (jurisdictions)');
      dir.write('gateway.yaml', oneEndpointConfig([tenantLine('t', 'us'), tenantLine('lost', 'jp')]));
      fire();
      await expect.poll(() => warningsOf(io.stderr()).filter((line) => line.includes("'lost'")), { timeout: 5_000 }).toHaveLength(2);
    } finally {
      stop();
      await run;
      dir.remove();
    }
  });

  it('as a process: a SIGHUP to a gateway whose config came from standard input is refused, said on stderr, counted and logged (E42)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test', 'emulator', 'run-cli.ts'), 'gateway', '--config', '-', '--port', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      child.stdin.end(readFileSync(example, 'utf8'));
      await expect.poll(() => stderr, { timeout: 10_000 }).toMatch(/listening on http/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1] ?? '';
      child.kill('SIGHUP');
      await expect.poll(() => stderr, { timeout: 5_000 }).toContain('cannot reload a config read from standard input');
      expect(stdout).toContain('"msg":"config reload refused: the file has problems"');
      expect(await (await fetch(`${url}/metrics`)).text()).toContain('switchyard_config_reloads_total{outcome="invalid"} 1');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('reads a reload on a thread of its own: requests are served meanwhile, and SIGHUPs that come during it make one more read, of the file as it is then', async () => {
    const dir = makeTempDir('reload-off-thread');
    // Thousands of tenants: reading them takes far longer than answering a request.
    const many = Array.from({ length: 4_000 }, (_, index) => tenantLine(`t${String(index)}`));
    const config = dir.write('gateway.yaml', oneEndpointConfig([tenantLine('first')]));
    const io = captureOutput();
    const { reload: fire, stop, run } = inProcessGateway(config, io);
    try {
      await expect.poll(() => io.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(io.stderr())?.[1] ?? '';
      const models = async (key: string): Promise<number> => (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status;
      dir.write('gateway.yaml', oneEndpointConfig([tenantLine('first'), ...many]));
      fire();
      // Read on this thread, the reload would be done before fire() returned.
      expect(await models('sk-first')).toBe(200);
      expect(io.stderr()).not.toContain('reloaded');
      // Two more while it is read: one more read, of the file as it is by then.
      dir.write('gateway.yaml', oneEndpointConfig([tenantLine('first'), tenantLine('second')]));
      fire();
      dir.write('gateway.yaml', oneEndpointConfig([tenantLine('first'), tenantLine('third')]));
      fire();
      // (Which file the first read saw depends on when its thread opened it; the second sees the last.)
      await expect.poll(() => io.stderr().match(/reloaded /g)?.length ?? 0, { timeout: 20_000 }).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(io.stderr().match(/reloaded /g)).toHaveLength(2);
      expect(await models('sk-third')).toBe(200);
      expect(await models('sk-second')).toBe(401);
      expect(await models('sk-t0')).toBe(401);
      expect(await models('sk-first')).toBe(200);
    } finally {
      stop();
      await run;
      dir.remove();
    }
  });

  it('a reload that fails for a bug of its own says so and still makes the read a SIGHUP asked for meanwhile', async () => {
    const dir = makeTempDir('reload-fails');
    const config = dir.write('gateway.yaml', readFileSync(example, 'utf8'));
    const io = captureOutput();
    // The first reload's last word throws, as a bug in applying it would.
    let thrown = false;
    const output = {
      ...io,
      err: (text: string): void => {
        if (!thrown && text.includes('reloaded')) {
          thrown = true;
          throw new Error('applying broke');
        }
        io.err(text);
      },
    };
    const { reload: fire, stop, run } = inProcessGateway(config, output);
    try {
      await expect.poll(() => io.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
      fire();
      fire();
      await expect.poll(() => io.stderr(), { timeout: 20_000 }).toContain(`reloaded ${config}: tenants unchanged`);
      expect(io.stderr()).toContain(`reload of ${config} failed: applying broke; still serving the config loaded before`);
    } finally {
      stop();
      await run;
      dir.remove();
    }
  });

  it('drops a reload still being read when the gateway stops, and says so', async () => {
    const dir = makeTempDir('reload-stopping');
    const tenants = Array.from({ length: 4_000 }, (_, index) => tenantLine(`t${String(index)}`));
    const config = dir.write('gateway.yaml', readFileSync(example, 'utf8'));
    const io = captureOutput();
    const { reload: fire, stop, run } = inProcessGateway(config, io);
    try {
      await expect.poll(() => io.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
      dir.write('gateway.yaml', `${readFileSync(example, 'utf8').replace(/^tenants:\n/m, `tenants:\n${tenants.join('\n')}\n`)}`);
      fire();
      stop();
      expect(await run).toBe(0);
      await expect.poll(() => io.stderr(), { timeout: 20_000 }).toContain(`reload of ${config} dropped: shutting down`);
      expect(io.stderr()).not.toContain('reloaded');
    } finally {
      stop();
      dir.remove();
    }
  });

  it('hears SIGHUP from start to end: before it serves and while it drains, a reload is ignored and said so, never the end of the process', async () => {
    const io = captureOutput();
    let fire = (): void => undefined;
    let unsubscribedWith = '';
    const reloads = (callback: () => void): (() => void) => {
      fire = callback;
      return () => {
        unsubscribedWith = io.stderr();
      };
    };
    let stop = (): void => undefined;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const run = gatewayCommand({ config: example, port: 0 }, io, stopped, () => () => undefined, reloads);
    fire();
    expect(io.stderr()).toContain('SIGHUP ignored: not serving yet');
    await expect.poll(() => io.stderr(), { timeout: 10_000 }).toMatch(/listening on http/);
    stop();
    await expect.poll(() => io.stderr(), { timeout: 5_000 }).toContain('switchyard gateway stopping');
    fire();
    expect(io.stderr()).toContain('SIGHUP ignored: shutting down');
    expect(await run).toBe(0);
    // Heard until the end: the listener goes only once the gateway has stopped.
    expect(unsubscribedWith).toContain('switchyard gateway stopped');
  });

  it('a port already in use is a clear error and exit 2, not an internal error', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const io = captureOutput();
      expect(await main(['gateway', '--config', example, '--port', String(port)], io)).toBe(2);
      expect(io.stderr()).toContain(`cannot listen on 127.0.0.1 (listen.host of the config (${example}), or its default), port ${port}: the port is in use; choose another with --port`);
      expect(io.stderr()).not.toMatch(/internal error|This is a bug/);
      // A key pasted as the host is not printed (E51).
      const pasted = 'sk-proj-AbCdEf0123456789abcdefGHIJKLmn';
      const keyed = captureOutput();
      expect(await main(['gateway', '--config', example, '--host', pasted, '--port', String(port)], keyed)).toBe(2);
      expect(keyed.stderr()).toContain('cannot listen on the address of --host (a value that looks like a key, not shown), port');
      expect(keyed.stderr()).not.toContain(pasted);
      // By the flags' own test (R56: a mixed-case run passed holdsKey alone).
      const mixed = captureOutput();
      expect(await main(['gateway', '--config', example, '--host', 'Abc123Def456Ghi789Jkl012Mno345', '--port', String(port)], mixed)).toBe(2);
      expect(mixed.stderr()).toContain('cannot listen on the address of --host (a value that looks like a key, not shown), port');
      expect(mixed.stderr()).not.toContain('Abc123');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('an empty --port is refused, not read as port 0', async () => {
    for (const port of ['', ' ']) {
      const io = captureOutput();
      expect(await main(['gateway', '--config', example, '--port', port], io)).toBe(2);
      expect(io.stderr()).toContain('--port must be a whole number from 0 to 65535');
    }
  });

  it('warns about an unset upstream key variable and a tenant whose token limit refuses every request without max_tokens', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const dir = makeTempDir('gw-warn');
    try {
      const text = readFileSync(example, 'utf8')
        .replace('dialect: openai, model: llama-3.1-70b,', 'dialect: openai, apiKeyEnv: SWITCHYARD_TEST_UNSET_KEY, model: llama-3.1-70b,')
        .replace('tokensPerMinute: 2000000', 'tokensPerMinute: 1000');
      const io = captureOutput();
      // A blocked port ends the command right after the warnings.
      expect(await main(['gateway', '--config', dir.write('gateway.yaml', text), '--port', String((blocker.address() as AddressInfo).port)], io)).toBe(2);
      expect(io.stderr()).toContain("warning: endpoint 'us-tpu' takes its key from $SWITCHYARD_TEST_UNSET_KEY, which is not set");
      expect(io.stderr()).toContain("warning: tenant 'demo' has tokensPerMinute 1000, below the 4096-token output budget of a request without max_tokens");
      const quiet = captureOutput();
      expect(await main(['gateway', '--config', example, '--port', String((blocker.address() as AddressInfo).port)], quiet)).toBe(2);
      expect(quiet.stderr()).not.toContain('warning');
    } finally {
      dir.remove();
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
