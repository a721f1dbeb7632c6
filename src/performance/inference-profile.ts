import type { AcceleratorSpec, Precision } from '../catalog/accelerator.js';
import type { ModelSpec } from '../catalog/model-preset.js';
import type { MeasuredProfile } from '../domain/fleet.js';
import { attentionFlopsPerToken, hiddenSize, kvElementsPerToken, weightFractionRead } from './model-shape.js';
import { computePrecision, kvBytes, peakFlops, weightBytes } from './precision.js';

/** The request shape profiled when none is given (`switchyard perf`, `emulate`): 2,000 tokens in, 500 out, 50 ms a token. */
export const defaultInferenceShape = { inputTokens: 2000, outputTokens: 500, tpotMs: 50 } as const;

/** Share of HBM the model may use; the rest is runtime, activations and fragmentation. */
export const usableHbmFraction = 0.9;
/** Latency of one tensor-parallel all-reduce inside a scale-up domain (two per layer per decode step). */
export const allReduceLatencySeconds = 8e-6;
/** Latency of handing activations from one pipeline stage to the next. */
export const stageHopLatencySeconds = 20e-6;
/** Largest pipeline depth considered; deeper pipelines add latency for little gain. */
export const maxPipelineStages = 16;
/** Activations cross the interconnect in bf16. */
const activationBytes = 2;
/** Layouts within this fraction of the best per-chip throughput count as equal; the smallest wins. */
const layoutTolerance = 0.02;

export interface InferenceShape {
  readonly precision: Precision;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Target time per output token (ms): the batch grows until a decode step takes this long. */
  readonly tpotMs: number;
  /** Target time to first token (ms); configurations whose prefill is slower are rejected. */
  readonly ttftMs?: number;
}

export interface InferenceProfile {
  readonly feasible: true;
  readonly source: 'analytic' | 'measured';
  readonly chip: string;
  readonly model: string;
  readonly precision: Precision;
  /** Precision whose peak rate the chip runs it at (may be wider than `precision`). */
  readonly computePrecision: Precision;
  readonly tensorParallel: number;
  readonly pipelineStages: number;
  readonly chipsPerReplica: number;
  /** Sequences decoded together per pipeline stage. */
  readonly batch: number;
  /** Sequences resident on one replica (batch x pipeline stages). */
  readonly concurrentSequences: number;
  /** Time to first token on a loaded replica: the prompt's prefill plus the decode step in flight when it arrives. */
  readonly ttftMs: number;
  /** The prefill alone, arrival to first token on an idle replica. */
  readonly prefillMs: number;
  /** Replica time one prefill occupies, as the throughput counts it: the rest of `prefillMs` overlaps other work. */
  readonly prefillReplicaMs: number;
  readonly tpotMs: number;
  /** Decode step time with a single sequence. */
  readonly tpotAtBatchOneMs: number;
  /**
   * Decode step time (ms) at stage batches from 1 to `batch` (1, 2, 4, ... and `batch`, ascending),
   * as `[batch, ms]`: between them the step time is close to linear. It is not linear from 1 to
   * `batch` for a mixture of experts, whose share of the weights read per step saturates at small
   * batches; the emulator times its steps from these points.
   */
  readonly decodeStepMs: readonly (readonly [number, number])[];
  readonly outputTokensPerSecond: number;
  readonly requestsPerSecond: number;
  readonly outputTokensPerSecondPerChip: number;
  /** What stops the batch growing: the TPOT target or HBM capacity. */
  readonly batchLimitedBy: 'tpot' | 'ttft' | 'memory' | 'measured';
  /** Whether a decode step at that batch is bound by memory bandwidth or by compute. */
  readonly decodeBoundBy: 'bandwidth' | 'compute' | 'measured';
  readonly weightGBPerChip: number;
  readonly kvGBPerSequence: number;
}

export interface InfeasibleProfile {
  readonly feasible: false;
  readonly chip: string;
  readonly model: string;
  readonly reason: string;
}

export type InferenceResult = InferenceProfile | InfeasibleProfile;

/** One (tensor-parallel, pipeline) layout evaluated analytically. */
interface Layout {
  readonly tp: number;
  readonly pp: number;
}

/**
 * The serving profile of a model on a chip for a request shape: the replica
 * layout, the largest batch meeting the TPOT target, TTFT, and throughput.
 * Measured profiles for the same chip and model, when given, replace the
 * analytic estimate.
 */
export function inferenceProfile(
  model: ModelSpec,
  chip: AcceleratorSpec,
  shape: InferenceShape,
  measured: readonly MeasuredProfile[] = [],
): InferenceResult {
  const rows = measured.filter((row) => row.chip === chip.id && row.model === model.id && shapeMatches(row, shape));
  if (rows.length > 0) return measuredProfile(model, chip, shape, rows);

  const candidates: InferenceProfile[] = [];
  // Of the failures, the largest layout that fitted the weights says most about why nothing works.
  let weightFailure: string | undefined;
  let otherFailure: string | undefined;
  for (const layout of layouts(chip)) {
    const result = evaluateLayout(model, chip, shape, layout);
    if (!result.feasible) {
      if (result.reason.startsWith('weights')) weightFailure = result.reason;
      else otherFailure = result.reason;
      continue;
    }
    candidates.push(result);
  }
  const top = Math.max(0, ...candidates.map((candidate) => candidate.outputTokensPerSecondPerChip));
  // Smaller replicas pack pools more finely, so near-ties go to the layout with fewer chips.
  const best = candidates
    .filter((candidate) => candidate.outputTokensPerSecondPerChip >= top * (1 - layoutTolerance))
    .sort((a, b) => a.chipsPerReplica - b.chipsPerReplica || b.outputTokensPerSecondPerChip - a.outputTokensPerSecondPerChip)[0];
  if (best !== undefined) return best;
  return { feasible: false, chip: chip.id, model: model.id, reason: otherFailure ?? weightFailure ?? 'no layout fits' };
}

/** A row measured at a request shape applies to shapes within 25% of it (input and output). */
export const measuredShapeTolerance = 0.25;

function shapeMatches(row: MeasuredProfile, shape: InferenceShape): boolean {
  const near = (measuredAt: number | undefined, wanted: number): boolean => measuredAt === undefined || Math.abs(wanted - measuredAt) <= measuredShapeTolerance * measuredAt;
  return near(row.inputTokens, shape.inputTokens) && near(row.outputTokens, shape.outputTokens);
}

function* layouts(chip: AcceleratorSpec): Generator<Layout> {
  for (let pp = 1; pp <= maxPipelineStages; pp *= 2) {
    for (let tp = 1; tp <= chip.scaleUpDomain; tp *= 2) yield { tp, pp };
  }
}

function evaluateLayout(model: ModelSpec, chip: AcceleratorSpec, shape: InferenceShape, { tp, pp }: Layout): InferenceResult {
  const chips = tp * pp;
  const usableBytesPerChip = chip.hbmGB * 1e9 * usableHbmFraction;
  const weightBytesTotal = model.params * weightBytes(shape.precision);
  const weightBytesPerChip = weightBytesTotal / chips;
  const infeasible = (reason: string): InfeasibleProfile => ({ feasible: false, chip: chip.id, model: model.id, reason });
  if (weightBytesPerChip >= usableBytesPerChip) {
    return infeasible(
      `weights need ${(weightBytesTotal / 1e9).toFixed(0)} GB at ${shape.precision}; ${chips} x ${chip.id} (${tp} tensor-parallel x ${pp} pipeline stages) give ${((usableBytesPerChip * chips) / 1e9).toFixed(0)} GB usable`,
    );
  }
  // Keys and values are sharded across at most kvHeads chips; beyond that they are replicated.
  const kvBytesPerToken = kvElementsPerToken(model) * kvBytes(shape.precision);
  const kvShards = Math.min(tp, model.kvHeads) * pp;
  const contextTokens = shape.inputTokens + shape.outputTokens;
  // Sequences per pipeline stage that fit: every stage holds its layers' KV for all in-flight sequences.
  const kvBytesPerSequencePerChip = (contextTokens * kvBytesPerToken) / kvShards;
  const memoryBatch = Math.floor(((usableBytesPerChip - weightBytesPerChip) / kvBytesPerSequencePerChip) / pp);
  if (memoryBatch < 1) {
    return infeasible(`one ${contextTokens}-token sequence's KV cache does not fit beside the weights on ${chips} x ${chip.id}`);
  }

  const averageContext = shape.inputTokens + shape.outputTokens / 2;
  // Time for one token of every sequence in a stage batch of B, each at the shape's average context, to pass through all stages.
  const stepSeconds = (batch: number): DecodeStep => decodeStep(model, chip, shape.precision, { tp, pp }, batch, batch * averageContext);

  const prefill = prefillCost(model, chip, shape.precision, { tp, pp }, shape.inputTokens);
  const prefillSeconds = prefill.seconds;

  // TTFT is the prefill plus the decode step in flight when the request arrives, so a
  // TTFT target also caps the step time: the batch shrinks to meet both targets.
  const tpotSeconds = shape.tpotMs / 1e3;
  const ttftStepSeconds = shape.ttftMs === undefined ? Number.POSITIVE_INFINITY : shape.ttftMs / 1e3 - prefillSeconds;
  const targetSeconds = Math.min(tpotSeconds, ttftStepSeconds);
  const smallest = stepSeconds(1).seconds;
  if (smallest > tpotSeconds) {
    return infeasible(`a decode step takes ${(smallest * 1e3).toFixed(1)} ms even at batch 1 on ${layoutText(tp, pp, chip.id)}, above the ${shape.tpotMs} ms TPOT target`);
  }
  if (smallest > ttftStepSeconds) {
    return infeasible(`TTFT ${((prefillSeconds + smallest) * 1e3).toFixed(0)} ms on ${layoutText(tp, pp, chip.id)} (prefill ${(prefillSeconds * 1e3).toFixed(0)} ms) exceeds the ${shape.ttftMs} ms target even at batch 1`);
  }
  // Largest batch meeting both targets: step time grows monotonically with batch.
  let low = 1;
  let high = memoryBatch;
  if (stepSeconds(high).seconds <= targetSeconds) low = high;
  else {
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (stepSeconds(mid).seconds <= targetSeconds) low = mid;
      else high = mid;
    }
  }
  const batch = low;
  const step = stepSeconds(batch);
  const ttftSeconds = prefillSeconds + step.seconds;
  // Replica-seconds one request costs: its prefill occupies the whole replica's compute,
  // its decode shares each step with the other resident sequences.
  const concurrent = batch * pp;
  const prefillReplicaSeconds = prefill.replicaSeconds;
  const decodeReplicaSeconds = (shape.outputTokens * step.seconds) / concurrent;
  const requestsPerSecond = 1 / (prefillReplicaSeconds + decodeReplicaSeconds);
  const outputTokensPerSecond = requestsPerSecond * shape.outputTokens;
  return {
    feasible: true,
    source: 'analytic',
    chip: chip.id,
    model: model.id,
    precision: shape.precision,
    computePrecision: computePrecision(chip, shape.precision),
    tensorParallel: tp,
    pipelineStages: pp,
    chipsPerReplica: chips,
    batch,
    concurrentSequences: concurrent,
    ttftMs: ttftSeconds * 1e3,
    prefillMs: prefillSeconds * 1e3,
    prefillReplicaMs: prefillReplicaSeconds * 1e3,
    tpotMs: step.seconds * 1e3,
    tpotAtBatchOneMs: smallest * 1e3,
    decodeStepMs: sampledBatches(batch).map((at) => [at, stepSeconds(at).seconds * 1e3] as const),
    outputTokensPerSecond,
    requestsPerSecond,
    outputTokensPerSecondPerChip: outputTokensPerSecond / chips,
    batchLimitedBy: batch === memoryBatch ? 'memory' : ttftStepSeconds < tpotSeconds ? 'ttft' : 'tpot',
    decodeBoundBy: step.bound,
    weightGBPerChip: weightBytesPerChip / 1e9,
    kvGBPerSequence: (contextTokens * kvBytesPerToken) / 1e9,
  };
}

/** See decodeTiming. */
export interface DecodeTiming {
  readonly stepMs: (stageBatch: number, stageContextTokens: number) => number;
  readonly kvTokens: number;
}

interface DecodeStep {
  readonly seconds: number;
  readonly bound: 'bandwidth' | 'compute';
}

/**
 * One decode step on a layout: a token for each of a stage batch of `batch` sequences, whose contexts
 * add up to `contextTokens`, through all stages. Stages run one after another for a given token: each
 * reads its share of the weights over tp chips, and its layers' KV over the chips that hold distinct
 * KV heads; reading the KV and attending over it grow with the context, the rest with the batch.
 */
function decodeStep(model: ModelSpec, chip: AcceleratorSpec, precision: Precision, { tp, pp }: Layout, batch: number, contextTokens: number): DecodeStep {
  const bandwidth = chip.hbmTBps * 1e12 * chip.efficiency.decodeBandwidth;
  const decodeFlops = peakFlops(chip, precision) * chip.efficiency.prefillCompute;
  const kvBytesPerToken = kvElementsPerToken(model) * kvBytes(precision);
  const memorySeconds = (model.params * weightBytes(precision) * weightFractionRead(model, batch)) / (tp * bandwidth) + (contextTokens * kvBytesPerToken) / (Math.min(tp, model.kvHeads) * bandwidth);
  // Attention's FLOPs are linear in the context, so a batch's are those of its contexts' sum.
  const flops = batch * 2 * model.activeParams + attentionFlopsPerToken(model, contextTokens);
  const computeSeconds = flops / (tp * decodeFlops);
  const commSeconds = communicationSeconds(model, chip, { tp, pp: 1 }, batch) + (pp - 1) * stageHopLatencySeconds;
  return memorySeconds >= computeSeconds ? { seconds: memorySeconds + commSeconds, bound: 'bandwidth' } : { seconds: computeSeconds + commSeconds, bound: 'compute' };
}

/**
 * Decode on an analytic profile's layout for any batch and context, by the model that timed the
 * profile's own shape (so an emulator's long prompts decode as slowly as the planner would say, and
 * fill the memory it would say): a step's time (ms) for a stage batch whose contexts add up to
 * `stageContextTokens`, and the tokens of KV cache the replica holds beside its weights (every
 * sequence's prompt and answer count against it). Undefined for a measured profile: one operating
 * point was measured, and nothing says how it scales.
 */
export function decodeTiming(model: ModelSpec, chip: AcceleratorSpec, profile: InferenceProfile): DecodeTiming | undefined {
  if (profile.source !== 'analytic') return undefined;
  const layout = { tp: profile.tensorParallel, pp: profile.pipelineStages };
  const chips = layout.tp * layout.pp;
  const freeBytesPerChip = chip.hbmGB * 1e9 * usableHbmFraction - (model.params * weightBytes(profile.precision)) / chips;
  const kvShards = Math.min(layout.tp, model.kvHeads) * layout.pp;
  return {
    stepMs: (stageBatch, stageContextTokens) => decodeStep(model, chip, profile.precision, layout, stageBatch, stageContextTokens).seconds * 1e3,
    kvTokens: Math.floor((freeBytesPerChip * kvShards) / (kvElementsPerToken(model) * kvBytes(profile.precision))),
  };
}

/** Tensor-parallel all-reduces of `tokens` tokens' activations through every layer, plus the hops between pipeline stages. */
function communicationSeconds(model: ModelSpec, chip: AcceleratorSpec, { tp, pp }: Layout, tokens: number): number {
  // Two ring all-reduces per layer (after attention and after the MLP) over tensor-parallel chips,
  // each moving 2(tp-1)/tp of the activations; plus a hop between pipeline stages. Not overlapped.
  const allReduce = tp === 1 ? 0 : 2 * model.layers * (allReduceLatencySeconds + ((2 * (tp - 1)) / tp) * tokens * hiddenSize(model) * activationBytes / (chip.scaleUpGBps * 1e9));
  return allReduce + (pp - 1) * stageHopLatencySeconds;
}

/**
 * A prompt's prefill on a layout: its latency (the prompt passes through every stage in turn, each
 * reading its weights at least once) and the replica time it occupies (its compute over every chip).
 * Attention makes both grow faster than the prompt.
 */
function prefillCost(model: ModelSpec, chip: AcceleratorSpec, precision: Precision, layout: Layout, promptTokens: number): { readonly seconds: number; readonly replicaSeconds: number } {
  const flops = 2 * model.activeParams * promptTokens + (attentionFlopsPerToken(model, promptTokens) * promptTokens) / 2;
  const flopRate = peakFlops(chip, precision) * chip.efficiency.prefillCompute;
  const weightReadSeconds = (model.params * weightBytes(precision) * weightFractionRead(model, promptTokens)) / (layout.tp * chip.hbmTBps * 1e12 * chip.efficiency.decodeBandwidth);
  return {
    seconds: Math.max(flops / (layout.tp * flopRate), weightReadSeconds) + communicationSeconds(model, chip, layout, promptTokens),
    replicaSeconds: flops / (layout.tp * layout.pp * flopRate),
  };
}

/** A prompt's prefill (ms): arrival to first token on an idle replica, and the replica time it occupies. */
export interface PrefillTiming {
  readonly latencyMs: number;
  readonly replicaMs: number;
}

/**
 * Prefill of a prompt of any length on an analytic profile's layout, by the model that timed the
 * profile's own prompt (so an emulator's long prompts take what the planner would say they take).
 * Undefined for a measured profile: one prompt length was measured, and nothing says how it scales.
 */
export function prefillTiming(model: ModelSpec, chip: AcceleratorSpec, profile: InferenceProfile): ((promptTokens: number) => PrefillTiming) | undefined {
  if (profile.source !== 'analytic') return undefined;
  const layout = { tp: profile.tensorParallel, pp: profile.pipelineStages };
  return (promptTokens) => {
    const cost = prefillCost(model, chip, profile.precision, layout, promptTokens);
    return { latencyMs: cost.seconds * 1e3, replicaMs: cost.replicaSeconds * 1e3 };
  };
}

/** 1, 2, 4, ... below `batch`, then `batch`. */
function sampledBatches(batch: number): number[] {
  const batches: number[] = [];
  for (let at = 1; at < batch; at *= 2) batches.push(at);
  batches.push(batch);
  return batches;
}

function measuredProfile(model: ModelSpec, chip: AcceleratorSpec, shape: InferenceShape, rows: readonly MeasuredProfile[]): InferenceResult {
  const meeting = rows.filter((row) => row.tpotMs <= shape.tpotMs && (shape.ttftMs === undefined || row.ttftMs <= shape.ttftMs));
  if (meeting.length === 0) {
    const fastest = Math.min(...rows.map((row) => row.tpotMs));
    return { feasible: false, chip: chip.id, model: model.id, reason: `no measured profile meets TPOT ${shape.tpotMs} ms and TTFT ${shape.ttftMs ?? '-'} ms (fastest measured TPOT ${fastest} ms)` };
  }
  let best = meeting[0] as MeasuredProfile;
  for (const row of meeting) if (row.tokensPerSecond / row.tensorParallel > best.tokensPerSecond / best.tensorParallel) best = row;
  const requestsPerSecond = best.tokensPerSecond / shape.outputTokens;
  // A measured row gives TTFT (prefill plus a step in flight) and throughput: the prefill's replica
  // time is what the throughput leaves after the decode steps, at most the prefill itself.
  const prefillMs = Math.max(0, best.ttftMs - best.tpotMs);
  const prefillReplicaMs = Math.min(prefillMs, Math.max(0, 1000 / requestsPerSecond - (shape.outputTokens * best.tpotMs) / best.batch));
  return {
    feasible: true,
    source: 'measured',
    chip: chip.id,
    model: model.id,
    precision: shape.precision,
    computePrecision: computePrecision(chip, shape.precision),
    tensorParallel: best.tensorParallel,
    pipelineStages: 1,
    chipsPerReplica: best.tensorParallel,
    batch: best.batch,
    concurrentSequences: best.batch,
    ttftMs: best.ttftMs,
    prefillMs,
    prefillReplicaMs,
    tpotMs: best.tpotMs,
    // A measured row gives one operating point; without more, assume the same step time at any batch.
    tpotAtBatchOneMs: best.tpotMs,
    // One operating point was measured: the step time is known there only.
    decodeStepMs: [[best.batch, best.tpotMs]],
    outputTokensPerSecond: best.tokensPerSecond,
    requestsPerSecond,
    outputTokensPerSecondPerChip: best.tokensPerSecond / best.tensorParallel,
    batchLimitedBy: 'measured',
    decodeBoundBy: 'measured',
    weightGBPerChip: (model.params * weightBytes(shape.precision)) / best.tensorParallel / 1e9,
    kvGBPerSequence: ((shape.inputTokens + shape.outputTokens) * kvElementsPerToken(model) * kvBytes(shape.precision)) / 1e9,
  };
}

/** A replica's layout in words: `16 h100 (8-way tensor parallel x 2 pipeline stages)`. */
function layoutText(tp: number, pp: number, chipId: string): string {
  return pp === 1 ? `${tp * pp} ${chipId} (${tp}-way tensor parallel)` : `${tp * pp} ${chipId} (${tp}-way tensor parallel x ${pp} pipeline stages)`;
}
