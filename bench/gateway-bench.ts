import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Agent, Pool, request } from 'undici';
import { benchKey } from './bench-servers.js';

/**
 * `npm run bench:gateway`: on loopback, with the same load generator and
 * concurrency, (a) the instant mock upstream called directly, (b) Switchyard's
 * gateway in front of it, (c) Portkey's open-source gateway in front of it.
 * Prints requests/s, p50/p99, latency added over (a) at a fixed 1,000
 * requests/s, peak RSS, each target's own CPU time per request (for (b) and
 * (c) the gateway's process alone, not the mock behind it; it drifts less
 * with the machine's speed than throughput does), and the RSS of the
 * gateway holding ~10k open streams. (d), a relay with no logic at all (node:http in, undici
 * out, as the gateway has), is measured beside them for reference: what Node's HTTP server and
 * client alone cost on the same machine in the same round; and (e), a minimal gateway
 * (minimal-gateway.ts): the least work any gateway does for this request with the same libraries,
 * before any of its features.
 * Every server runs in its own process; the load generator runs here. The
 * targets take turns over BENCH_ROUNDS rounds (default 3) and medians are
 * reported with every round's figure, since a shared machine drifts. The
 * gateway writes its request log (one JSON line per request, as it ships) to a
 * temporary file, removed at the end.
 */
const serversScript = fileURLToPath(new URL('./bench-servers.js', import.meta.url));
const portkeyScript = fileURLToPath(new URL('../../node_modules/@portkey-ai/gateway/build/start-server.js', import.meta.url));
const connections = 32;
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 16 });
const children: ChildProcess[] = [];
const logFile = join(tmpdir(), `switchyard-bench-gateway-${process.pid}.log`);
const minimalLogFile = join(tmpdir(), `switchyard-bench-minimal-${process.pid}.log`);

async function startChild(args: string[], readyPattern: RegExp): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      // eslint-disable-next-line no-control-regex
      buffer += chunk.toString().replace(/\u001b\[[0-9;]*m/g, '');
      const match = readyPattern.exec(buffer);
      if (match) {
        child.stdout?.off('data', onData);
        resolve(match[1] ?? match[0]);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${buffer}`)));
  });
  return { child, line };
}

function peakRssMB(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * CPU time (user and system, all threads) a process has used, in microseconds. /proc counts it in
 * USER_HZ ticks, fixed at 100 a second by Linux's ABI; a tick is 10 ms, so a run of tens of
 * thousands of requests reads it to about 1%.
 */
function cpuMicroseconds(child: ChildProcess): number {
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function currentRssMB(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

interface Target {
  readonly name: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly child: ChildProcess;
}

/** Closed-loop load; also the target process's CPU time per request over the timed run. */
async function throughput(target: Target): Promise<{ rps: number; p50: number; p99: number; errors: number; cpuMicrosecondsPerRequest: number }> {
  const run = (duration: number) =>
    autocannon({ url: `${target.url}/v1/chat/completions`, method: 'POST', headers: { 'content-type': 'application/json', ...target.headers }, body, connections, duration });
  await run(1);
  const cpuBefore = cpuMicroseconds(target.child);
  const result = await run(seconds);
  const cpuMicrosecondsPerRequest = (cpuMicroseconds(target.child) - cpuBefore) / Math.max(1, result.requests.total);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx, cpuMicrosecondsPerRequest };
}

/** Open-loop load at a fixed rate with microsecond timing (autocannon reports whole milliseconds). */
async function fixedRate(target: Target, rate: number): Promise<{ p50: number; p99: number; errors: number }> {
  const pool = new Pool(target.url, { connections: 64 });
  const latencies: number[] = [];
  let errors = 0;
  const total = rate * seconds;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i += 1) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      (async () => {
        const sent = performance.now();
        try {
          const response = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', ...target.headers }, body });
          await response.body.text();
          if (response.statusCode !== 200) errors += 1;
          if (i >= rate) latencies.push(performance.now() - sent); // first second is warm-up
        } catch {
          errors += 1;
        }
      })(),
    );
  }
  await Promise.all(pending);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), errors };
}

async function openStreams(gatewayUrl: string, gateway: ChildProcess, count: number): Promise<{ opened: number; rssMB: number; perStreamKB: number }> {
  const agent = new Agent({ connections: count + 10, pipelining: 0, bodyTimeout: 0, headersTimeout: 0 });
  const baseline = currentRssMB(gateway);
  const controllers: AbortController[] = [];
  let opened = 0;
  const batch = 500;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const controller = new AbortController();
        controllers.push(controller);
        try {
          const response = await request(`${gatewayUrl}/v1/chat/completions`, {
            dispatcher: agent,
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${benchKey}` },
            body: JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'stream forever' }], stream: true }),
            signal: controller.signal,
          });
          if (response.statusCode === 200) {
            // Wait for the first chunk, then leave the stream open.
            const iterator = response.body[Symbol.asyncIterator]();
            await iterator.next();
            opened += 1;
            response.body.on('error', () => undefined);
          }
        } catch {
          // counted as not opened
        }
      }),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const rssMB = currentRssMB(gateway);
  for (const controller of controllers) controller.abort();
  await agent.destroy().catch(() => undefined);
  return { opened, rssMB, perStreamKB: ((rssMB - baseline) * 1024) / Math.max(1, opened) };
}

const format = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');
/** Whole microseconds with their sign: +12, -3. */
const signed = (micros: number): string => (Number.isFinite(micros) ? `${micros < 0 ? '' : '+'}${micros.toFixed(0)}` : '-');

try {
  const mock = await startChild([serversScript, 'mock'], /(http:\/\/\S+)/);
  const gateway = await startChild([serversScript, 'gateway', '--upstream', mock.line, '--log-file', logFile], /(http:\/\/\S+)/);
  const portkeyPort = 18_787;
  const portkey = await startChild([portkeyScript, `--port=${portkeyPort}`, '--headless'], /(Ready for connections)/);
  const relay = await startChild([serversScript, 'relay', '--upstream', mock.line], /(http:\/\/\S+)/);
  const minimal = await startChild([serversScript, 'minimal', '--upstream', mock.line, '--log-file', minimalLogFile], /(http:\/\/\S+)/);
  const targets: Target[] = [
    { name: '(a) mock upstream, direct', url: mock.line, headers: {}, child: mock.child },
    { name: '(b) Switchyard gateway', url: gateway.line, headers: { authorization: `Bearer ${benchKey}` }, child: gateway.child },
    { name: '(c) Portkey gateway 1.15', url: `http://127.0.0.1:${portkeyPort}`, headers: { authorization: 'Bearer sk-unused', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mock.line}/v1` }, child: portkey.child },
    { name: '(d) relay with no logic', url: relay.line, headers: {}, child: relay.child },
    { name: '(e) minimal gateway', url: minimal.line, headers: { authorization: `Bearer ${benchKey}` }, child: minimal.child },
  ];
  console.log(
    `bench:gateway on ${process.platform}/${process.arch}, ${cpus().length} cores, node ${process.version}; ${connections} connections, ${seconds} s per run, ${rounds} interleaved rounds; load generator, upstream and gateway share the machine`,
  );
  // Rounds interleave the targets so that each ratio compares runs made minutes apart at most:
  // on a shared machine the speed of the whole box drifts between runs by a third or more.
  const loads = targets.map(() => [] as Awaited<ReturnType<typeof throughput>>[]);
  const paced = targets.map(() => [] as Awaited<ReturnType<typeof fixedRate>>[]);
  for (let round = 0; round < rounds; round += 1) {
    for (const [index, target] of targets.entries()) loads[index]?.push(await throughput(target));
    // Portkey cannot sustain 1,000 requests/s here: one saturated run says so; more would only take minutes.
    for (const [index, target] of targets.entries()) if (index !== 2 || round === 0) paced[index]?.push(await fixedRate(target, 1000));
  }
  const median = (values: number[]): number => {
    const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
    if (sorted.length === 0) return Number.NaN;
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  };
  const directPaced = paced[0] ?? [];
  console.log('target                         req/s (median; each round)     p50 ms  p99 ms  errors | at 1,000 req/s: p50 ms  p99 ms  added p50 ms (median; each round) | peak RSS MB | CPU µs/req (median; each round)');
  for (const [index, target] of targets.entries()) {
    const load = loads[index] ?? [];
    const fixed = paced[index] ?? [];
    const added = fixed.map((run, round) => run.p50 - (directPaced[round]?.p50 ?? Number.NaN));
    const rpsText = `${format(median(load.map((run) => run.rps)), 0)} (${load.map((run) => format(run.rps, 0)).join(' / ')})`;
    const addedText = index === 0 ? '-' : `${format(median(added), 3)} (${added.map((value) => format(value, 3)).join(' / ')})`;
    const cpuText = `${format(median(load.map((run) => run.cpuMicrosecondsPerRequest)), 0)} (${load.map((run) => format(run.cpuMicrosecondsPerRequest, 0)).join(' / ')})`;
    console.log(
      `${target.name.padEnd(30)} ${rpsText.padEnd(30)} ${format(median(load.map((run) => run.p50)), 1).padStart(6)}  ${format(median(load.map((run) => run.p99)), 1).padStart(6)}  ${String(load.reduce((sum, run) => sum + run.errors, 0)).padStart(6)} | ${format(median(fixed.map((run) => run.p50)), 3).padStart(21)}  ${format(median(fixed.map((run) => run.p99)), 3).padStart(6)}  ${addedText.padStart(34)} | ${format(peakRssMB(target.child), 0).padStart(11)} | ${cpuText}`,
    );
  }
  const ratios = (loads[1] ?? []).map((run, round) => run.rps / (loads[2]?.[round]?.rps ?? Number.NaN));
  console.log(`Switchyard's request log: on, ${format(statSync(logFile).size / 1024 / 1024, 0)} MB written to ${logFile} (removed at the end)`);
  console.log(`Switchyard / Portkey throughput, same round: ${ratios.map((ratio) => `${format(ratio, 1)}x`).join(' / ')}; median ${format(median(ratios), 1)}x`);
  const overRelay = (loads[1] ?? []).map((run, round) => run.cpuMicrosecondsPerRequest - (loads[3]?.[round]?.cpuMicrosecondsPerRequest ?? Number.NaN));
  console.log(`Switchyard's CPU a request over the relay's (d), same round: ${overRelay.map((micros) => signed(micros)).join(' / ')} µs; median ${signed(median(overRelay))} µs`);
  const minimalRatios = (loads[4] ?? []).map((run, round) => run.rps / (loads[2]?.[round]?.rps ?? Number.NaN));
  const overMinimal = (loads[1] ?? []).map((run, round) => run.cpuMicrosecondsPerRequest - (loads[4]?.[round]?.cpuMicrosecondsPerRequest ?? Number.NaN));
  console.log(`minimal gateway (e) / Portkey throughput, same round: ${minimalRatios.map((ratio) => `${format(ratio, 1)}x`).join(' / ')}; median ${format(median(minimalRatios), 1)}x; Switchyard's CPU a request over (e)'s: ${overMinimal.map((micros) => signed(micros)).join(' / ')} µs; median ${signed(median(overMinimal))} µs`);

  // Open streams: a slow upstream that sends a token a second and never ends.
  const slow = await startChild([serversScript, 'mock', '--slow-stream-ms', '1000'], /(http:\/\/\S+)/);
  const streamGateway = await startChild([serversScript, 'gateway', '--upstream', slow.line, '--log-file', logFile], /(http:\/\/\S+)/);
  // Each open stream holds two sockets in the gateway (client and upstream); this machine's hard
  // limit of open files per process is 20,000, so 9,900 is the most one gateway process can hold.
  const streams = Number(process.env.BENCH_STREAMS ?? 9_900);
  const held = await openStreams(streamGateway.line, streamGateway.child, streams);
  console.log(`open streams: ${held.opened} of ${streams} held open through the gateway; gateway RSS ${format(held.rssMB, 0)} MB (${format(held.perStreamKB, 1)} KB per stream; at that rate 10,000 streams take ${format(currentBaseline(held) + (held.perStreamKB * 10_000) / 1024, 0)} MB)`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(logFile, { force: true });
  rmSync(minimalLogFile, { force: true });
}

function currentBaseline(held: { rssMB: number; opened: number; perStreamKB: number }): number {
  return held.rssMB - (held.perStreamKB * held.opened) / 1024;
}
