import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { upCommand, upPlanSettings } from '../../src/cli/commands/up-command.js';
import { main } from '../../src/cli/main.js';
import { captureOutput } from '../helpers/capture-output.js';
import { makeTempDir, repoRoot, smallYamlPath } from '../helpers/paths.js';
import { curlToFetch } from './curl-to-fetch.js';
import { generateFleetYaml } from '../../bench/generate-fleet.js';
import { spawnCli } from '../helpers/spawn-cli.js';

const chat = (model: string): string => JSON.stringify({ model, max_tokens: 8, messages: [{ role: 'user', content: 'secret prompt' }] });

describe('switchyard up', () => {
  it('bad specs and bad flags exit 2 before anything starts', async () => {
    const missing = captureOutput();
    expect(await main(['up', join(repoRoot, 'examples', 'no-such-fleet.yaml')], missing)).toBe(2);
    expect(missing.stderr()).toContain('cannot read the fleet file');
    const dir = makeTempDir('up');
    try {
      const bad = captureOutput();
      expect(await main(['up', dir.write('bad.yaml', 'version: 1\npools:\n  - { id: p, provider: gcp, region: r, jurisdiction: us, chip: tpu-v7, chips: 8, pricing: on-demand }\n')], bad)).toBe(2);
      expect(bad.stderr()).toMatch(/bad\.yaml:3:\d+: pools\[0\]\.chip: unknown chip 'tpu-v7'/);
      // A service named 'none' plans, but its route would read as 'no route' in the gateway's metrics.
      const reserved = captureOutput();
      const noneYaml = readFileSync(smallYamlPath, 'utf8').replace('id: chat-us', 'id: none');
      const noneLine = noneYaml.split('\n').findIndex((line) => line.includes('id: none')) + 1;
      expect(await main(['up', dir.write('none.yaml', noneYaml), '--port', '0'], reserved)).toBe(2);
      // A problem of the spec like any other: its place, its field, the fix.
      expect(reserved.stderr()).toMatch(new RegExp(`none\\.yaml:${String(noneLine)}:\\d+: services\\[\\d+\\]\\.id: service 'none' cannot be served by up: .*; rename the service`));
      expect(reserved.stderr()).not.toContain('internal error');
      const reservedJson = captureOutput();
      expect(await main(['up', dir.write('none.yaml', noneYaml), '--port', '0', '--json'], reservedJson)).toBe(2);
      expect(JSON.parse(reservedJson.stdout())).toMatchObject({ status: 'invalid-spec', problems: [{ line: noneLine, path: expect.stringMatching(/^services\[\d+\]\.id$/) as unknown, suggestion: 'rename the service' }] });
    } finally {
      dir.remove();
    }
    // Ports that cannot all be had are said before anything starts, without 'could not start'.
    const overlap = captureOutput();
    expect(await main(['up', smallYamlPath, '--port', '30001', '--emulator-ports', '30000', '--replicas-per-pool', '1'], overlap)).toBe(2);
    expect(overlap.stderr().trim()).toMatch(/^switchyard: up: the gateway's port 30001 is among the emulated replicas' ports \(30000 to \d+, from --emulator-ports\); give the gateway another with --port, or the replicas another first port$/);
    for (const flags of [['--replicas-per-pool', '0'], ['--speed', '-1'], ['--port', '70000'], ['--seed', '1.5'], ['--emulator-ports', '0']]) {
      const io = captureOutput();
      expect(await main(['up', smallYamlPath, ...flags], io)).toBe(2);
      expect(io.stderr()).toContain(flags[0]);
    }
  });

  it('a valid fleet whose plan places nothing to serve (training only) exits 3, starting nothing', async () => {
    const dir = makeTempDir('up');
    try {
      const io = captureOutput();
      const file = dir.write('training.yaml', 'version: 1\npools:\n  - { id: p1, provider: aws, region: us-east-1, jurisdiction: us, chip: h100, chips: 64, pricing: on-demand }\ntrainingJobs:\n  - { id: ft, model: llama-3.1-8b, tokens: 1.0e9, deadlineDays: 7, jurisdictions: [us] }\n');
      expect(await main(['up', file, '--port', '0'], io)).toBe(3);
      expect(io.stderr()).toContain('the plan places no inference replica (the fleet has no services); nothing to start');
      expect(io.stdout()).toBe('');
    } finally {
      dir.remove();
    }
  });

  it('with --json, a stop before serving is one object on stdout too, as plan --json gives a bad spec', async () => {
    const dir = makeTempDir('up');
    try {
      const bad = captureOutput();
      expect(await main(['up', '--json', dir.write('bad.yaml', 'version: 1\npools:\n  - { id: p, provider: gcp, region: r, jurisdiction: us, chip: tpu-v7, chips: 8, pricing: on-demand }\n')], bad)).toBe(2);
      expect(JSON.parse(bad.stdout())).toMatchObject({ status: 'invalid-spec', problems: [{ path: 'pools[0].chip', message: expect.stringContaining("unknown chip 'tpu-v7'") }] });
      const training = captureOutput();
      const file = dir.write('training.yaml', 'version: 1\npools:\n  - { id: p1, provider: aws, region: us-east-1, jurisdiction: us, chip: h100, chips: 64, pricing: on-demand }\ntrainingJobs:\n  - { id: ft, model: llama-3.1-8b, tokens: 1.0e9, deadlineDays: 7, jurisdictions: [us] }\n');
      expect(await main(['up', file, '--json', '--port', '0'], training)).toBe(3);
      expect(JSON.parse(training.stdout())).toEqual({ status: 'nothing-to-serve', message: expect.stringContaining('the plan places no inference replica') });
      const ports = captureOutput();
      expect(await main(['up', smallYamlPath, '--json', '--port', '30001', '--emulator-ports', '30000', '--replicas-per-pool', '1'], ports)).toBe(2);
      expect(JSON.parse(ports.stdout())).toEqual({ status: 'failed', message: expect.stringContaining("the gateway's port 30001 is among the emulated replicas' ports") });
      const stopped = captureOutput();
      expect(await upCommand(smallYamlPath, { port: 0, replicasPerPool: 1, speed: 200, seed: 0, json: true, quiet: true }, stopped, Promise.resolve())).toBe(0);
      expect(stopped.outLines.map((line) => JSON.parse(line) as unknown)).toEqual([{ status: 'stopped', message: expect.stringContaining('nothing is left running') }]);
    } finally {
      dir.remove();
    }
  });

  it('a stop asked for while planning starts nothing and exits 0', async () => {
    const io = captureOutput();
    // Already stopped: the answer must come once the plan is made, with no URL printed.
    expect(await upCommand(smallYamlPath, { port: 0, replicasPerPool: 1, speed: 200, seed: 0, quiet: true }, io, Promise.resolve())).toBe(0);
    expect(io.outLines).toEqual([]);
    expect(io.stderr()).toContain('stopped before serving; nothing is left running');
  });

  it('in-process with --json: one JSON object on cli.stdout(), then a clean stop', async () => {
    const io = captureOutput();
    let stop = (): void => undefined;
    const done = upCommand(smallYamlPath, { port: 0, replicasPerPool: 1, speed: 200, seed: 0, json: true, quiet: true }, io, new Promise<void>((resolve) => (stop = resolve)));
    await expect.poll(() => io.outLines.length, { timeout: 15_000 }).toBe(1);
    const printed = JSON.parse(io.outLines[0] ?? '') as { url: string; apiKey: string; routes: { model: string; endpoints: string[] }[]; endpoints: { id: string; url: string; jurisdiction: string }[]; curl: { openai: string; anthropic: string } };
    expect(Object.keys(printed)).toEqual(expect.arrayContaining(['url', 'apiKey', 'routes', 'endpoints']));
    // What the text banner says: the plan's status and solve time, the emulators' speed.
    expect(printed).toMatchObject({ status: 'serving', planStatus: expect.any(String), solveSeconds: expect.any(Number), speed: 200 });
    expect(printed.routes.map((r) => r.model)).toEqual(['chat-us', 'assist-eu']);
    expect((await curlToFetch(printed.curl.anthropic)).status).toBe(200);
    stop();
    expect(await done).toBe(0);
    for (const url of [printed.url, ...printed.endpoints.map((e) => e.url)]) await expect(fetch(`${url}/health`)).rejects.toThrow();
    expect(io.errLines).toEqual([]);
  });

  it('a second signal while it drains ends the streams in flight with an error event at once', async () => {
    const io = captureOutput();
    let stop = (): void => undefined;
    let hurry = (): void => undefined;
    // Real time (speed 1): a long answer is still streaming when the stop comes.
    const done = upCommand(smallYamlPath, { port: 0, replicasPerPool: 1, speed: 1, seed: 0, json: true, quiet: true }, io, new Promise<void>((resolve) => (stop = resolve)), undefined, (callback) => {
      hurry = callback;
      return () => undefined;
    });
    await expect.poll(() => io.outLines.length, { timeout: 15_000 }).toBe(1);
    const printed = JSON.parse(io.outLines[0] ?? '') as { url: string; apiKey: string };
    const response = await fetch(`${printed.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${printed.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat-us', max_tokens: 4000, stream: true, messages: [{ role: 'user', content: 'a long story' }] }) });
    expect(response.status).toBe(200);
    const body = response.text();
    stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const hurried = Date.now();
    hurry();
    const raw = await body;
    expect(raw).toMatch(/data: \{"error":\{[^\n]*shut down[^\n]*\}\}\n\n$/);
    expect(await done).toBe(0);
    expect(Date.now() - hurried).toBeLessThan(5_000);
  });

  it('as a process: too few open files for the emulators is a usage error saying what to change, not an internal one', () => {
    const result = spawnSync('bash', ['-c', `ulimit -n 150 && "${process.execPath}" bin/switchyard.js up examples/frontier-lab.yaml --port 0 --replicas-per-pool 32`], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('too many open files');
    expect(result.stderr).toContain('start fewer with --replicas-per-pool (now 32) or raise the limit');
    expect(result.stderr).not.toMatch(/internal error|This is a bug/);
  });

  it('--time-limit caps the solver as it does for plan (E44: the timed-out message named it, and up had none)', async () => {
    const bad = captureOutput();
    expect(await main(['up', smallYamlPath, '--time-limit', 'abc'], bad)).toBe(2);
    expect(bad.stderr()).toContain('--time-limit must be a number of seconds from 0.1 to 3600');
    expect(upPlanSettings({ timeLimit: 5 })).toEqual({ timeLimitSeconds: 5 });
    expect(upPlanSettings({})).toEqual({});
    // Taken: a small fleet plans within it and up runs to its (already asked) stop.
    const io = captureOutput();
    expect(await upCommand(smallYamlPath, { port: 0, replicasPerPool: 1, speed: 200, seed: 0, quiet: true, timeLimit: 30 }, io, Promise.resolve())).toBe(0);
  });

  it('as a process: Ctrl-C while it plans ends it at once, with nothing started (E44: heard only after the solver, 57 s for 200 pools)', async () => {
    const dir = makeTempDir('up-plan-signal');
    try {
      const big = dir.write('big.yaml', generateFleetYaml({ pools: 200, services: 300, trainingJobs: 20, totalChips: 1e6 }, 1));
      const cli = spawnCli(['--import', 'tsx', join(repoRoot, 'test', 'emulator', 'run-cli.ts'), 'up', big, '--port', '0', '--quiet'], repoRoot);
      try {
        // Loaded and planning by then (the plan alone takes about a minute on these machines).
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        const signalled = Date.now();
        cli.child.kill('SIGINT');
        await cli.exited;
        expect(Date.now() - signalled).toBeLessThan(5_000);
        expect(cli.child.signalCode).toBe('SIGINT');
        expect(cli.stdout()).not.toContain('Gateway:');
      } finally {
        cli.child.kill('SIGKILL');
      }
    } finally {
      dir.remove();
    }
  });

  it('as a process: a closed terminal (SIGHUP) stops the fleet as Ctrl-C does, with its grace period and its last word', async () => {
    const cli = spawnCli(['bin/switchyard.js', 'up', 'examples/small.yaml', '--port', '0', '--speed', '100', '--replicas-per-pool', '1', '--quiet'], repoRoot);
    try {
      await expect.poll(() => cli.stdout(), { timeout: 15_000 }).toContain('Ctrl-C stops');
      cli.child.kill('SIGHUP');
      expect(await cli.exited).toBe(0);
      expect(cli.stderr()).toContain('switchyard up: stopping: requests in flight have up to');
      expect(cli.stderr()).toContain('stopped the gateway and every emulator');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('as a process: prints the URL, key, routes and curl lines, serves, and exits 0 on SIGINT', async () => {
    if (!existsSync(join(repoRoot, 'dist', 'src', 'up', 'start-fleet.js'))) throw new Error('dist/ is stale or missing: run `npm run build` first');
    const cli = spawnCli(['bin/switchyard.js', 'up', 'examples/small.yaml', '--port', '0', '--speed', '100', '--replicas-per-pool', '1'], repoRoot);
    const { child, exited } = cli;
    try {
      await expect.poll(() => cli.stdout(), { timeout: 15_000 }).toContain('Ctrl-C stops');
      const url = /^Gateway: (http:\/\/127\.0\.0\.1:\d+)$/m.exec(cli.stdout())?.[1] ?? '';
      const apiKey = /^API key: (\S+)$/m.exec(cli.stdout())?.[1] ?? '';
      expect(url).not.toBe('');
      expect(apiKey).not.toBe('');
      expect(cli.stdout()).toMatch(/│ chat-us\s+│ gcp-usc1-v6e\s+│ tpu-v6e\s+│\s+\d+ x 8 chips │\s+1 │/);
      for (const line of ['chat-us', 'assist-eu', 'gcp-usc1-v6e-0', 'azure-weu-h100-0', 'anthropic', 'openai']) expect(cli.stdout()).toContain(line);
      expect(cli.stdout()).toContain(`curl -sS ${url}/v1/chat/completions -H 'Authorization: Bearer ${apiKey}'`);
      expect(cli.stdout()).toContain(`curl -sS ${url}/v1/messages -H 'x-api-key: ${apiKey}'`);

      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: chat('assist-eu') });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { model: string }).model).toBe('assist-eu');

      const signalled = Date.now();
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(5_000);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      // Request logs go to cli.stderr(), one JSON line per request, without prompt text.
      expect(cli.stderr()).toMatch(/"route":"assist-eu".*"status":200/);
      expect(cli.stderr()).not.toContain('secret prompt');
      expect(cli.stderr()).toContain('stopped the gateway and every emulator');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
