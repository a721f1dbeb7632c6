import { resolveChipAndModel } from './resolve-chip-and-model.js';
import type { Precision } from '../../catalog/accelerator.js';
import { inferenceProfile } from '../../performance/inference-profile.js';
import { sizeTrainingRun, trainingProfile } from '../../performance/training-profile.js';
import { number, toJson, type Output } from '../output.js';

export interface PerfCommandOptions {
  readonly model: string;
  readonly chip: string;
  readonly input: number;
  readonly output: number;
  readonly tpotMs: number;
  readonly ttftMs?: number;
  readonly precision?: Precision;
  readonly mfu?: number;
  readonly trainTokens?: number;
  readonly deadlineDays?: number;
  /** A fleet file whose chip and model overrides (and measured profiles) apply. */
  readonly fleet?: string;
  readonly json?: boolean;
}

/** `switchyard perf`: the one performance model's view of a model on a chip. */
export function perfCommand(options: PerfCommandOptions, output: Output): number {
  // With --json, a bad fleet file is the object plan --json gives one.
  const resolved = resolveChipAndModel(options, output, (problems) => {
    if (options.json === true) output.out(toJson({ status: 'invalid-spec', problems }));
  });
  if (resolved === 2) return 2;
  const { chip, model, measured } = resolved;
  const precision = options.precision ?? model.precision;
  const inference = inferenceProfile(
    model,
    chip,
    { precision, inputTokens: options.input, outputTokens: options.output, tpotMs: options.tpotMs, ...(options.ttftMs === undefined ? {} : { ttftMs: options.ttftMs }) },
    measured,
  );
  const train = trainingProfile(model, chip, { precision: 'bf16', mfu: options.mfu, stateBytesPerParam: 16 });
  const sizing = options.trainTokens !== undefined && options.deadlineDays !== undefined ? sizeTrainingRun(train, options.trainTokens, options.deadlineDays) : undefined;

  if (options.json === true) {
    output.out(toJson({ inference, training: { ...train, ...(sizing === undefined ? {} : { sizing }) } }));
    return 0;
  }
  output.out(`${model.name} on ${chip.name}, ${precision}, ${options.input} in / ${options.output} out tokens, TPOT target ${options.tpotMs} ms${options.ttftMs === undefined ? '' : `, TTFT target ${options.ttftMs} ms`}`);
  output.out('');
  if (inference.feasible) {
    output.out('Inference');
    output.out(`  source                  ${inference.source}${inference.computePrecision !== precision ? ` (runs at the chip's ${inference.computePrecision} rate)` : ''}`);
    output.out(`  chips per replica       ${inference.chipsPerReplica} (tensor-parallel ${inference.tensorParallel} x pipeline ${inference.pipelineStages})`);
    output.out(`  max batch               ${number(inference.batch)} per stage, ${number(inference.concurrentSequences)} sequences per replica (limited by ${inference.batchLimitedBy})`);
    output.out(`  decode bound by         ${inference.decodeBoundBy}`);
    output.out(`  TTFT                    ${number(inference.ttftMs, 1)} ms (prefill ${number(inference.prefillMs, 1)} ms, of which ${number(inference.prefillReplicaMs, 1)} ms occupy the replica, plus a step in flight)`);
    output.out(`  TPOT                    ${number(inference.tpotMs, 1)} ms`);
    output.out(`  output tokens/s         ${number(inference.outputTokensPerSecond)} per replica, ${number(inference.outputTokensPerSecondPerChip)} per chip`);
    output.out(`  requests/s per replica  ${number(inference.requestsPerSecond, 2)}`);
    output.out(`  weights per chip        ${number(inference.weightGBPerChip, 1)} GB; KV cache ${number(inference.kvGBPerSequence, 3)} GB per sequence`);
  } else {
    output.out(`Inference: does not fit: ${inference.reason}`);
  }
  output.out('');
  output.out('Training (bf16, 6 x active parameters per token)');
  output.out(`  MFU                     ${number(train.mfu, 2)}`);
  output.out(`  tokens/s per chip       ${number(train.tokensPerSecondPerChip, 1)}`);
  output.out(`  memory floor            ${number(train.memoryFloorChips)} chips (weights, gradients, optimizer state)`);
  if (sizing !== undefined) output.out(`  for ${number(options.trainTokens ?? 0)} tokens in ${options.deadlineDays} days: ${number(sizing.chips)} chips, ${number(sizing.days, 1)} days (${sizing.limitedBy} bound)`);
  return 0;
}
