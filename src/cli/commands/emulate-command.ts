import { stopSignalsWithHangup, untilSignal } from '../until-signal.js';
import { resolveChipAndModel } from './resolve-chip-and-model.js';
import { Option, type Command } from 'commander';
import { isLoopback } from '../is-loopback.js';
import { cannotListen } from '../listen-failure.js';
import { flagParsers, numberFlag, wholeFlag } from '../flag-parsers.js';
import { precisions, type Precision } from '../../catalog/accelerator.js';
import { defaultInferenceShape } from '../../performance/inference-profile.js';
import type { FaultsUpdate, RunningEmulator } from '../../emulator/index.js';
import { count, number, type Output } from '../output.js';

export interface EmulateCommandOptions {
  readonly model: string;
  readonly chip: string;
  readonly port: number;
  readonly host: string;
  readonly seed: number;
  readonly speed: number;
  readonly input: number;
  readonly output: number;
  readonly tpotMs: number;
  readonly ttftMs?: number;
  readonly precision?: Precision;
  /** A fleet file whose chip and model overrides (and measured profiles) apply. */
  readonly fleet?: string;
  readonly maxQueue?: number;
  readonly maxHeldOutputTokens?: number;
  readonly errorRate?: number;
  readonly errorStatus?: number;
  readonly addedLatencyMs?: number;
  readonly hangMs?: number;
  readonly cutAfterTokens?: number;
  readonly corruptRate?: number;
  readonly refuse?: boolean;
  readonly servedModelName?: string;
}


/**
 * `switchyard emulate`: an emulated model server for a model on a chip. Prints
 * one line with its URL and serves until `until` resolves (SIGINT, SIGTERM or SIGHUP
 * by default). Exit 2 for an unknown chip or model, an infeasible profile or a
 * port in use.
 */
export async function emulateCommand(options: EmulateCommandOptions, output: Output, until: () => Promise<unknown> = () => untilSignal(stopSignalsWithHangup), onStarted?: (emulator: RunningEmulator) => void): Promise<number> {
  const resolved = resolveChipAndModel(options, output);
  if (resolved === 2) return 2;
  const { chip, model, measured } = resolved;

  const faults: FaultsUpdate = {};
  if (options.errorRate !== undefined) faults.errorRate = options.errorRate;
  if (options.errorStatus !== undefined) faults.errorStatus = options.errorStatus;
  if (options.addedLatencyMs !== undefined) faults.addedLatencyMs = options.addedLatencyMs;
  if (options.hangMs !== undefined) faults.hangMs = options.hangMs;
  if (options.cutAfterTokens !== undefined) faults.cutAfterTokens = options.cutAfterTokens;
  if (options.corruptRate !== undefined) faults.corruptRate = options.corruptRate;
  if (options.refuse === true) faults.refuse = true;

  // Loaded when the command runs: the server and its dependencies would slow every other command's start.
  const { EmulatorError, startEmulator } = await import('../../emulator/index.js');
  let emulator: RunningEmulator;
  try {
    emulator = await startEmulator({
      model,
      chip,
      port: options.port,
      host: options.host,
      seed: options.seed,
      speed: options.speed,
      inputTokens: options.input,
      outputTokens: options.output,
      tpotMs: options.tpotMs,
      ...(options.ttftMs === undefined ? {} : { ttftMs: options.ttftMs }),
      ...(options.precision === undefined ? {} : { precision: options.precision }),
      ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
      ...(options.maxHeldOutputTokens === undefined ? {} : { maxHeldOutputTokens: options.maxHeldOutputTokens }),
      ...(options.servedModelName === undefined ? {} : { servedModelName: options.servedModelName }),
      measuredProfiles: measured,
      faults,
      log: (line) => output.err(line),
    });
  } catch (error) {
    // A listen's failure (the one EmulatorError with a system code) in the words the gateway uses.
    if (error instanceof EmulatorError && error.code !== undefined) {
      // The default address is said as such: the caller may have given no --host (R57).
      const from = options.host === defaultEmulatorHost ? '--host, or its default' : '--host';
      output.err(`switchyard: emulate: ${cannotListen(options.host, from, options.port, error.code, error.message)}; choose another with --port (0 picks a free one) or --host`);
      return 2;
    }
    if (error instanceof EmulatorError) {
      output.err(`switchyard: emulate: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const p = emulator.profile;
  // Heard before the line that says it serves: a signal sent on seeing it (a supervisor's, a test's)
  // would otherwise find no listener and end the process without a word.
  const stopped = until();
  output.out(
    `switchyard emulate: listening on ${emulator.url} (model ${emulator.model} on ${p.chipsPerReplica} x ${p.chip}, ${number(p.concurrentSequences)} slots${emulator.kvTokens === undefined ? '' : `, KV cache for ${number(emulator.kvTokens)} tokens`}, window ${number(emulator.contextWindow)} tokens${emulator.contextWindow < emulator.modelContextWindow ? ` (the model's ${number(emulator.modelContextWindow)}: the KV cache holds no more)` : ''}, TTFT ${number(p.ttftMs, 1)} ms, TPOT ${number(p.tpotAtBatchOneMs, 1)}-${number(p.tpotMs, 1)} ms, speed ${options.speed}x)`,
  );
  // A rehearsal's log (stderr) says which faults it started with, as it says when they change at run time.
  // /admin/faults has no key: on loopback only this machine reaches it.
  if (!isLoopback(options.host)) output.err(`switchyard emulate: listening on ${options.host}, beyond this machine: /admin/faults has no key, so anyone who can reach port ${new URL(emulator.url).port} can change its faults (refuse every request, say); use --host 127.0.0.1 unless other machines must reach it`);
  if (Object.keys(faults).length > 0) output.err(`switchyard emulate: faults ${JSON.stringify(faults)}`);
  if (options.errorStatus !== undefined && (options.errorRate ?? 0) === 0) {
    output.err(`switchyard emulate: --error-status ${String(options.errorStatus)} takes effect only with --error-rate (or an errorRate set at run time on /admin/faults)`);
  }
  onStarted?.(emulator);
  await stopped;
  // Stopping drops every connection, as a replica that goes away does: said, so a rehearsal's log shows it.
  const cut = emulator.stats().inFlight;
  await emulator.close();
  output.err(`switchyard emulate: stopped${cut === 0 ? '' : `; ${count(cut, 'request')} in flight cut off`}`);
  return 0;
}

const defaultEmulatorHost = '127.0.0.1';

const flag = {
  ...flagParsers,
  status: wholeFlag('--error-status', (v) => v >= 400 && v <= 599, 'an HTTP status 400..599'),
  hang: numberFlag('--hang-ms', (v) => v === -1 || v >= 0, 'a number of ms >= 0, or -1 to hang until the client disconnects'),
};

/** Adds `switchyard emulate` to the program. */
export function registerEmulateCommand(program: Command, output: Output, setExit: (code: number) => void): void {
  program
    .command('emulate')
    .description('serve an emulated model replica (OpenAI and Anthropic APIs, vLLM metrics, faults) timed by the performance model; runs until Ctrl-C')
    .requiredOption('--model <id>', 'model id (see `switchyard catalog`)')
    .requiredOption('--chip <id>', 'chip id (see `switchyard catalog`)')
    .option('--port <port>', 'port to listen on; 0 picks a free one', flag.port(), 0)
    .option('--host <address>', 'address to listen on', flag.host(), defaultEmulatorHost)
    .option('--seed <n>', 'seed of the generated text: same seed and prompt give the same answer', flag.count('--seed'), 0)
    .option('--speed <x>', 'run x times faster than real time (every delay is divided by x)', flag.speed(), 1)
    .option('--input <tokens>', 'input tokens of the profiled request shape', flag.positiveWhole('--input'), defaultInferenceShape.inputTokens)
    .option('--output <tokens>', 'output tokens of the profiled request shape; also the mean answer length', flag.positiveWhole('--output'), defaultInferenceShape.outputTokens)
    .option('--tpot-ms <ms>', 'time-per-output-token target', flag.positive('--tpot-ms'), defaultInferenceShape.tpotMs)
    .option('--ttft-ms <ms>', 'time-to-first-token target', flag.positive('--ttft-ms'))
    .addOption(new Option('--precision <p>', 'serving precision (default: the model preset)').choices(precisions))
    .option('--fleet <fleet.yaml>', "apply this fleet file's chip/model overrides and measured profiles")
    .option('--max-queue <n>', 'waiting requests before 429 (default: 4 x the running capacity)', flag.count('--max-queue'))
    .option('--max-held-output-tokens <n>', 'output tokens of the answers held at once (queued and running, each planned whole on arrival, about 18 bytes a token) before 429 (default: 50,000,000)', flag.positiveWhole('--max-held-output-tokens'))
    .option('--served-model-name <name>', 'model id clients send and /v1/models lists (default: the model id)')
    .option('--error-rate <fraction>', 'fault: fraction of chat and token-count requests answered with --error-status', flag.fraction('--error-rate'))
    .option('--error-status <status>', 'fault: status of injected errors (default 500)', flag.status)
    .option('--added-latency-ms <ms>', 'fault: delay before the first byte of every chat and token-count response (divided by --speed, like every delay)', flag.nonNegative('--added-latency-ms'))
    .option('--hang-ms <ms>', 'fault: hang before the first token (-1: until the client disconnects, even if the fault is then switched off; divided by --speed)', flag.hang)
    .option('--cut-after-tokens <n>', 'fault: destroy stream connections after n tokens, with no terminal frame', flag.count('--cut-after-tokens'))
    .option('--corrupt-rate <fraction>', 'fault: fraction of tokens replaced by "<corrupt>"', flag.fraction('--corrupt-rate'))
    .option('--refuse', 'fault: drop every request but /health, /metrics and /admin/faults unanswered (/health says 503; /admin/faults can switch it off)')
    .addHelpText('after', '\nFaults can be changed at run time: curl -X POST URL/admin/faults -d \'{"errorRate":0.5}\'')
    .action(async (options: EmulateCommandOptions) => {
      setExit(await emulateCommand(options, output));
    });
}
