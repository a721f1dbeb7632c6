import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emulateCommand, type EmulateCommandOptions } from '../../src/cli/commands/emulate-command.js';
import { main } from '../../src/cli/main.js';
import { captureOutput } from '../helpers/capture-output.js';
import { spawnCli } from '../helpers/spawn-cli.js';

const defaults: EmulateCommandOptions = { model: 'llama-3.1-8b', chip: 'h100', port: 0, host: '127.0.0.1', seed: 0, speed: 100, input: 2000, output: 500, tpotMs: 50 };

describe('switchyard emulate', () => {
  it('an infeasible profile exits 2 with the reason; unknown ids and bad flags exit 2 with a hint', async () => {
    const io = captureOutput();
    expect(await main(['emulate', '--model', 'llama-3.1-405b', '--chip', 'inferentia2', '--tpot-ms', '5'], io)).toBe(2);
    expect(io.stderr()).toMatch(/cannot be served on inferentia2: a decode step takes .* ms even at batch 1 on \d+ inferentia2 \(\d+-way tensor parallel( x \d+ pipeline stages)?\), above the 5 ms TPOT target; to emulate it, loosen the target \(--tpot-ms, --ttft-ms\)/);
    expect(io.stdout()).toBe('');
    const unknown = captureOutput();
    expect(await main(['emulate', '--model', 'llama-3.1-8b', '--chip', 'h10'], unknown)).toBe(2);
    expect(unknown.stderr()).toContain("unknown chip 'h10'");
    for (const flags of [['--error-rate', '2'], ['--hang-ms', '-2'], ['--error-status', '200'], ['--port', '70000'], ['--speed', '0'], ['--speed', '1e308'], ['--max-held-output-tokens', '0']]) {
      const bad = captureOutput();
      expect(await main(['emulate', '--model', 'llama-3.1-8b', '--chip', 'h100', ...flags], bad)).toBe(2);
      expect(bad.stderr()).toContain(flags[0]);
      // Refused for its value: a flag the command lacked would be refused as unknown, and pass the line above.
      expect(bad.stderr()).not.toContain('unknown option');
    }
  });

  it('a port in use and an empty served model name exit 2 saying how to fix them', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const busy = captureOutput();
      expect(await emulateCommand({ ...defaults, port: (blocker.address() as AddressInfo).port }, busy, () => Promise.resolve())).toBe(2);
      const port = (blocker.address() as AddressInfo).port;
      expect(busy.stderr()).toContain(`switchyard: emulate: cannot listen on 127.0.0.1 (--host, or its default), port ${String(port)}: the port is in use; choose another with --port (0 picks a free one) or --host`);
      // An address that looks like a key is not quoted back, in the gateway's words (R56: the emulator echoed it).
      const keyed = captureOutput();
      expect(await emulateCommand({ ...defaults, host: 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345', port }, keyed, () => Promise.resolve())).toBe(2);
      expect(keyed.stderr()).toContain(`cannot listen on the address of --host (a value that looks like a key, not shown), port ${String(port)}: `);
      expect(keyed.stderr()).not.toContain('sk-ant');
    } finally {
      blocker.close();
    }
    const empty = captureOutput();
    expect(await emulateCommand({ ...defaults, servedModelName: ' ' }, empty, () => Promise.resolve())).toBe(2);
    expect(empty.stderr()).toContain("served model name must be a non-empty name without surrounding spaces, got ' '");
  });

  it('prints a line with the URL and one with the faults it starts with, serves with them, and closes when told to stop', async () => {
    const io = captureOutput();
    let stop = (): void => undefined;
    const done = emulateCommand({ ...defaults, hangMs: -1, errorRate: 0.5, cutAfterTokens: 3 }, io, () => new Promise<void>((resolve) => (stop = resolve)));
    await expect.poll(() => io.outLines.length).toBe(1);
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(io.outLines[0] ?? '')?.[1];
    expect(url).toBeDefined();
    // On stderr, where the faults' run-time changes are logged too.
    expect(io.errLines).toEqual(['switchyard emulate: faults {"errorRate":0.5,"hangMs":-1,"cutAfterTokens":3}']);
    expect(await (await fetch(`${url}/admin/faults`)).json()).toMatchObject({ hangMs: -1, errorRate: 0.5, cutAfterTokens: 3 });
    // A load balancer's health check may send HEAD: it is GET without the body.
    const head = await fetch(`${url}/health`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    expect((await fetch(`${url}/health`, { method: 'DELETE' })).headers.get('allow')).toBe('GET, HEAD');
    // An injected overload is 529 with a reason phrase, not Node's 'unknown'.
    await fetch(`${url}/admin/faults`, { method: 'POST', body: JSON.stringify({ errorRate: 1, errorStatus: 529, hangMs: 0 }) });
    const overloaded = await fetch(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: 'llama-3.1-8b', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    expect([overloaded.status, overloaded.statusText]).toEqual([529, 'Overloaded']);
    stop();
    expect(await done).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    expect(io.errLines.slice(1)).toEqual([expect.stringContaining('switchyard emulate: faults now'), 'switchyard emulate: stopped']);
  });

  it('warns when it listens beyond this machine (its /admin/faults has no key); not on loopback', async () => {
    const wide = captureOutput();
    expect(await emulateCommand({ ...defaults, host: '0.0.0.0' }, wide, () => Promise.resolve())).toBe(0);
    expect(wide.errLines).toContainEqual(expect.stringMatching(/^switchyard emulate: listening on 0\.0\.0\.0, beyond this machine: \/admin\/faults has no key, so anyone who can reach port \d+ can change its faults/));
    for (const host of ['127.0.0.1', 'LOCALHOST', '127.1']) {
      const local = captureOutput();
      expect(await emulateCommand({ ...defaults, host }, local, () => Promise.resolve())).toBe(0);
      expect([host, local.stderr()]).not.toEqual([host, expect.stringContaining('beyond this machine')]);
    }
  });

  it.each([[undefined], [0]])('says that --error-status with --error-rate %s injects nothing', async (errorRate) => {
    const io = captureOutput();
    expect(await emulateCommand({ ...defaults, errorStatus: 503, ...(errorRate === undefined ? {} : { errorRate }) }, io, () => Promise.resolve())).toBe(0);
    expect(io.errLines.at(-2)).toBe('switchyard emulate: --error-status 503 takes effect only with --error-rate (or an errorRate set at run time on /admin/faults)');
  });

  it('listens for its stop signals before it says it serves: a signal sent on seeing the line is heard', async () => {
    const io = captureOutput();
    let saidBefore: boolean | undefined;
    const code = await emulateCommand(defaults, io, () => {
      saidBefore = io.stdout().includes('listening on');
      return Promise.resolve();
    });
    expect([code, saidBefore]).toEqual([0, false]);
  });

  it('as a process: a closed terminal (SIGHUP) stops it as SIGTERM does, saying so, not killed without a word', async () => {
    const script = fileURLToPath(new URL('./run-cli.ts', import.meta.url));
    const cli = spawnCli(['--import', 'tsx', script, 'emulate', '--model', 'llama-3.1-8b', '--chip', 'h100', '--speed', '500']);
    try {
      await expect.poll(() => cli.stdout(), { timeout: 10_000 }).toMatch(/listening on http/);
      cli.child.kill('SIGHUP');
      expect(await cli.exited).toBe(0);
      expect(cli.stderr()).toContain('switchyard emulate: stopped');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('as a process: listens, serves, and exits 0 on SIGTERM, saying what it cut, without logging requests', async () => {
    const script = fileURLToPath(new URL('./run-cli.ts', import.meta.url));
    const cli = spawnCli(['--import', 'tsx', script, 'emulate', '--model', 'llama-3.1-8b', '--chip', 'h100', '--speed', '500', '--hang-ms', '-1', '--seed', '3']);
    const { child, exited } = cli;
    try {
      await expect.poll(() => cli.stdout(), { timeout: 10_000 }).toMatch(/listening on http/);
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(cli.stdout())?.[1] ?? '';
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect(await (await fetch(`${url}/admin/faults`)).json()).toMatchObject({ hangMs: -1 });
      // A hung stream is open when the signal comes: the server still closes at once.
      const hung = fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'llama-3.1-8b', messages: [{ role: 'user', content: 'secret prompt' }], stream: true }) });
      expect((await hung).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(cli.stdout().trim().split('\n')).toEqual([expect.stringMatching(/listening on http/)]);
      expect(cli.stderr()).not.toContain('secret prompt');
      // The faults it started with and the stop: no log line of the request.
      expect(cli.stderr().replace(/^npm warn.*$/gm, '').trim()).toBe('switchyard emulate: faults {"hangMs":-1}\nswitchyard emulate: stopped; 1 request in flight cut off');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
