import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureOutput } from '../helpers/capture-output.js';
import { readFileSync } from 'node:fs';
import { makeTempDir, repoRoot } from '../helpers/paths.js';
import { spawnCli } from '../helpers/spawn-cli.js';

const example = join(repoRoot, 'examples', 'gateway.yaml');

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

  it('a port already in use is a clear error and exit 2, not an internal error', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const io = captureOutput();
      expect(await main(['gateway', '--config', example, '--port', String(port)], io)).toBe(2);
      expect(io.stderr()).toContain(`cannot listen on 127.0.0.1:${port}: the port is in use; choose another with --port`);
      expect(io.stderr()).not.toMatch(/internal error|This is a bug/);
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
