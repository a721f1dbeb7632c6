import type { DecodeTiming, InferenceProfile, PrefillTiming } from '../performance/inference-profile.js';
import { firstAtOrAfter } from './first-at-or-after.js';

/**
 * Continuous batching on one emulated replica, as a pure state machine: time
 * is passed in (emulated milliseconds), nothing sleeps, nothing does I/O. The
 * server shell feeds it submissions and cancellations, asks for the next
 * deadline, and calls `advance` when a timer reaches it.
 *
 * Model: up to `capacity` sequences hold a slot at once; later requests wait in
 * a FIFO queue of at most `maxQueue`, beyond which they are rejected. The
 * replica's compute runs one step at a time: waiting prompts are prefilled
 * first, together in one step up to prefillStepTokens, but while sequences decode a decode step runs once
 * the prefills since the last one took four full-batch decode steps' time (as
 * chunked prefill mixes decoding into every step); otherwise every decoding
 * sequence gets one token in a decode step, which
 * takes the performance model's step time for that batch (the batch-one step
 * time with one sequence, the profile's TPOT with a full batch; between the
 * model's sampled batches, linearly). A prefill step occupies the replica for its
 * prompts' prefill replica time and their first tokens come after their prefill time,
 * both from the performance model for the prompt's length (`prefillAt`; scaled
 * linearly from the profile's own prompt without it); the sequence then joins
 * the decode batch. Prefills and decode steps thus share the replica's time as
 * the performance model's throughput counts them, so a loaded replica serves
 * about what `switchyard perf` says (up to 12% more for answers of a token or two, whose first
 * token the model counts as a decode step; 55-82% of it for single-token answers on pipelined
 * layouts); and a prompt arriving during a step
 * waits for it, which is the step in flight the profile's TTFT includes.
 */
export interface SchedulerConfig {
  /** Sequences running at once (the profile's concurrent sequences). */
  readonly capacity: number;
  /** Waiting requests allowed; a submission beyond them is rejected. */
  readonly maxQueue: number;
  /** Prefill (ms) of a prompt of `referenceInputTokens` tokens, arrival to first token on an idle replica. */
  readonly prefillMs: number;
  /** Of which the replica is occupied (ms), as the performance model's throughput counts it. */
  readonly prefillReplicaMs: number;
  readonly referenceInputTokens: number;
  /**
   * The performance model's prefill of a prompt of any length (see prefillTiming): attention makes
   * a long prompt's prefill grow faster than its tokens. Without it (a measured profile), the
   * reference prompt's times are scaled linearly.
   */
  readonly prefillAt?: (promptTokens: number) => PrefillTiming;
  /** Decode step time (ms) with one sequence running. */
  readonly tpotAtBatchOneMs: number;
  /** Decode step time (ms) with `batch` sequences per pipeline stage. */
  readonly tpotMs: number;
  /** Sequences decoded together per pipeline stage at the profile's operating point. */
  readonly batch: number;
  /** The model's decode step times (ms) at sampled stage batches (see InferenceProfile.decodeStepMs); linear from batch one to `batch` without them. */
  readonly decodeStepMs?: readonly (readonly [number, number])[];
  /** Running sequences are spread over this many pipeline stages (1 without pipelining). */
  readonly pipelineStages: number;
  /**
   * The performance model's decode step (ms) for a stage batch whose contexts add up to
   * `stageContextTokens` (see decodeTiming): long contexts make a step slower, as reading their KV
   * cache does. Without it (a measured profile), steps are timed by batch alone from the points above.
   */
  readonly decodeStepAt?: (stageBatch: number, stageContextTokens: number) => number;
  /**
   * Tokens of KV cache the replica holds (see decodeTiming): a sequence is admitted only while every
   * admitted one's prompt and answer fit, as a real server admits by free KV blocks, so long prompts
   * fill a replica with fewer sequences than its slots. Without it, slots alone limit admission.
   */
  readonly kvTokens?: number;
}

/** A scheduler configuration from a performance profile and the input tokens it was computed for. */
export function schedulerConfigFromProfile(profile: InferenceProfile, referenceInputTokens: number, options: { maxQueue?: number; capacity?: number; prefillAt?: ((promptTokens: number) => PrefillTiming) | undefined; decode?: DecodeTiming | undefined } = {}): SchedulerConfig {
  const capacity = options.capacity ?? profile.concurrentSequences;
  return {
    capacity,
    maxQueue: options.maxQueue ?? 4 * capacity,
    prefillMs: profile.prefillMs,
    prefillReplicaMs: profile.prefillReplicaMs,
    referenceInputTokens,
    ...(options.prefillAt === undefined ? {} : { prefillAt: options.prefillAt }),
    tpotAtBatchOneMs: profile.tpotAtBatchOneMs,
    tpotMs: profile.tpotMs,
    batch: profile.batch,
    decodeStepMs: profile.decodeStepMs,
    pipelineStages: profile.pipelineStages,
    ...(options.decode === undefined ? {} : { decodeStepAt: options.decode.stepMs, kvTokens: options.decode.kvTokens }),
  };
}

/** What one request needs from the replica. */
export interface SequenceSpec {
  readonly promptTokens: number;
  /** Tokens to decode (0 allowed: the sequence finishes at the end of prefill). */
  readonly outputTokens: number;
  /** Extra wait after admission before prefill starts (a hang); Infinity holds the slot until cancelled. */
  readonly holdMs?: number;
}

export type SubmitResult =
  | { readonly accepted: true; readonly id: number; readonly queued: boolean }
  | { readonly accepted: false; readonly retryAfterMs: number };

export type SchedulerEvent =
  | { readonly type: 'admitted'; readonly id: number; readonly at: number }
  /** Token `index` (0 is the first, at the end of prefill) is ready. */
  | { readonly type: 'token'; readonly id: number; readonly index: number; readonly at: number }
  /** The sequence emitted its last token and left the batch. */
  | { readonly type: 'finished'; readonly id: number; readonly at: number };

interface Sequence {
  readonly id: number;
  readonly spec: SequenceSpec;
  emitted: number;
  /** held: a hang before prefill; prefill: waiting for or in its prefill step; prefilled: its first token is on the way; decode: in the batch. */
  phase: 'queued' | 'held' | 'prefill' | 'prefilled' | 'decode';
  /** Bumped on a cancel, which makes its pending timed entry stale. */
  version: number;
}

/** A sequence's timed change outside the steps: a hang ends (release), or a prefill's first token arrives. */
interface Deadline {
  readonly at: number;
  readonly order: number;
  readonly id: number;
  readonly version: number;
  readonly kind: 'release' | 'first-token';
}

/** The step the replica is computing: prompts' prefill (their first tokens at firstTokenAt), or one token for every decoding sequence. */
type Step = { readonly kind: 'prefill'; readonly sequences: readonly Sequence[]; readonly firstTokenAt: number; readonly endsAt: number } | { readonly kind: 'decode'; readonly sequences: readonly Sequence[]; readonly endsAt: number };

/**
 * Prompt tokens one prefill step computes at most, as vLLM's max_num_batched_tokens (8,192 for its
 * server on large GPUs): prompts waiting together are prefilled in one forward pass, which reads the
 * weights once for all of them. A longer prompt takes a step of its own (chunking it is not modelled).
 */
export const prefillStepTokens = 8192;

/** The Retry-After hint (emulated ms) of a replica whose slots are held with no end in sight (hangs). */
const unknownWaitMs = 1000;

export class BatchScheduler {
  readonly config: SchedulerConfig;
  private readonly queue: Sequence[] = [];
  private readonly active = new Map<number, Sequence>();
  /** Admitted prompts waiting for their prefill step, in order. */
  private readonly prefills: Sequence[] = [];
  private readonly decoding = new Set<Sequence>();
  private step: Step | undefined;
  /** Replica time (ms) of the prefill steps started since the last decode step (see startStep). */
  private prefilledSinceDecodeMs = 0;
  private readonly timed: Deadline[] = [];
  private pending: SchedulerEvent[] = [];
  private nextId = 1;
  private order = 0;
  /** KV tokens the admitted sequences take (prompt and answer each): see SchedulerConfig.kvTokens. */
  private kvReserved = 0;

  constructor(config: SchedulerConfig) {
    if (!(config.capacity >= 1) || !Number.isInteger(config.capacity)) throw new RangeError(`capacity must be a positive whole number, got ${config.capacity}`);
    if (!(config.maxQueue >= 0) || !Number.isInteger(config.maxQueue)) throw new RangeError(`maxQueue must be a whole number >= 0, got ${config.maxQueue}`);
    this.config = config;
  }

  /** Sequences holding a batch slot (prefilling, hanging or decoding). */
  get running(): number {
    return this.active.size;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Of the running, those holding a slot whose prefill step has not begun (vLLM would count them waiting). */
  get awaitingPrefill(): number {
    let count = 0;
    for (const sequence of this.prefills) if (this.active.has(sequence.id)) count += 1;
    return count;
  }

  get capacity(): number {
    return this.config.capacity;
  }

  /** KV tokens the admitted sequences take, prompt and answer each (see SchedulerConfig.kvTokens). */
  get kvReservedTokens(): number {
    return this.kvReserved;
  }

  /**
   * KV-cache usage, 0 to 1: the tokens held (prompt and answer so far) by the running sequences
   * whose prefill has begun, over the replica's KV tokens (a held one counts its prompt, as a
   * request stuck in a real batch holds its blocks); without kvTokens, those sequences over the slots.
   */
  get kvUsage(): number {
    const { kvTokens, capacity } = this.config;
    const awaiting = new Set(this.prefills);
    let held = 0;
    let sequences = 0;
    for (const sequence of this.active.values()) {
      if (awaiting.has(sequence)) continue;
      sequences += 1;
      held += sequence.spec.promptTokens + sequence.emitted;
    }
    return Math.min(1, kvTokens === undefined ? sequences / capacity : held / kvTokens);
  }

  /**
   * Decode step time (ms) with `running` sequences in the batch, whose contexts add up to
   * `contextTokens`: the model's for that batch and context where it has decodeStepAt, else the
   * model's at its own context, between its sampled batches linearly.
   */
  stepMs(running: number, contextTokens?: number): number {
    const { tpotAtBatchOneMs, tpotMs, batch, pipelineStages, decodeStepAt } = this.config;
    if (decodeStepAt !== undefined && contextTokens !== undefined) {
      const sequences = Math.max(1, running);
      const stageBatch = Math.ceil(sequences / Math.max(1, pipelineStages));
      return decodeStepAt(stageBatch, (contextTokens * stageBatch) / sequences);
    }
    if (batch <= 1) return tpotMs;
    const stageBatch = Math.min(batch, Math.max(1, Math.ceil(running / Math.max(1, pipelineStages))));
    const points = this.config.decodeStepMs !== undefined && this.config.decodeStepMs.length >= 2 ? this.config.decodeStepMs : ([[1, tpotAtBatchOneMs], [batch, tpotMs]] as const);
    let [lowBatch, lowMs] = points[0] as readonly [number, number];
    for (const [atBatch, atMs] of points) {
      if (atBatch >= stageBatch) return atBatch === lowBatch ? atMs : lowMs + ((atMs - lowMs) * (stageBatch - lowBatch)) / (atBatch - lowBatch);
      [lowBatch, lowMs] = [atBatch, atMs];
    }
    return lowMs;
  }

  /** The prompt's prefill as the performance model has it, or the reference prompt's scaled linearly. */
  #prefill(promptTokens: number): PrefillTiming {
    const { prefillAt, prefillMs, prefillReplicaMs, referenceInputTokens } = this.config;
    const tokens = Math.max(1, promptTokens);
    if (prefillAt !== undefined) return prefillAt(tokens);
    const scale = tokens / Math.max(1, referenceInputTokens);
    return { latencyMs: prefillMs * scale, replicaMs: prefillReplicaMs * scale };
  }

  /**
   * Replica time (ms) a prompt's prefill step occupies, never below one pipeline stage's share of
   * a batch-one step (a forward pass reads each stage's weights once).
   */
  prefillReplicaMs(promptTokens: number): number {
    return this.#stepReplicaMs(this.#prefill(promptTokens).replicaMs);
  }

  /** Replica time of a prefill step of `computeMs` of compute: never below one stage's share of a batch-one step. */
  #stepReplicaMs(computeMs: number): number {
    return Math.max(this.config.tpotAtBatchOneMs / Math.max(1, this.config.pipelineStages), computeMs);
  }

  /**
   * Prefill time (ms) of a prompt, from its step's start to its first token: never shorter than the
   * step, nor than a batch-one decode step, which reads every stage's weights once as any forward
   * pass does (with pipeline stages, a stage's share of the replica is not the pass's latency).
   */
  prefillMs(promptTokens: number): number {
    return Math.max(this.prefillReplicaMs(promptTokens), this.config.tpotAtBatchOneMs, this.#prefill(promptTokens).latencyMs);
  }

  /**
   * A prefill step of prompts of these lengths together: the replica time it occupies (their compute
   * together, never below one stage's share of a batch-one step: the pass reads each stage's weights
   * once for all of them) and the time from its start to their first tokens (the longest of their
   * own prefill times, or all of their compute passing through every stage, if longer). One prompt
   * alone takes prefillReplicaMs and prefillMs. Until 2026-11-30 every prompt took a step of its own, whose
   * weight reads made short prompts' replicas serve under half what the performance model says (E39).
   */
  prefillStep(promptTokens: readonly number[]): { readonly replicaMs: number; readonly firstTokenMs: number } {
    let computeMs = 0;
    let longestMs = 0;
    for (const tokens of promptTokens) {
      computeMs += this.#prefill(tokens).replicaMs;
      longestMs = Math.max(longestMs, this.prefillMs(tokens));
    }
    return { replicaMs: this.#stepReplicaMs(computeMs), firstTokenMs: Math.max(longestMs, Math.max(1, this.config.pipelineStages) * computeMs) };
  }

  /**
   * The next prefill step's prompts: the first of `waiting` from `start`, and those after it that
   * join it: within prefillStepTokens and, while sequences decode (`decoding`), within what the
   * prefill budget leaves after `prefilledMs` (see startStep), so a decoding stream still waits
   * behind that much prefill and one prompt's more at most. Returns the index after the last taken.
   */
  private prefillGroupEnd(waiting: readonly Sequence[], start: number, decoding: boolean, prefilledMs: number): number {
    const first = waiting[start];
    if (first === undefined) return start;
    let tokens = first.spec.promptTokens;
    let computeMs = this.#prefill(tokens).replicaMs;
    let end = start + 1;
    for (let next = waiting[end]; next !== undefined; next = waiting[end]) {
      const nextComputeMs = this.#prefill(next.spec.promptTokens).replicaMs;
      if (tokens + next.spec.promptTokens > prefillStepTokens) break;
      if (decoding && prefilledMs + this.#stepReplicaMs(computeMs + nextComputeMs) > this.prefillBudgetMs) break;
      tokens += next.spec.promptTokens;
      computeMs += nextComputeMs;
      end += 1;
    }
    return end;
  }

  /** Runs the request at once if a slot is free, queues it if the queue has room, else rejects it. */
  submit(spec: SequenceSpec, now: number): SubmitResult {
    this.processUntil(now);
    if ((this.queue.length > 0 || !this.fits(spec)) && this.queue.length >= this.config.maxQueue) {
      return { accepted: false, retryAfterMs: this.retryAfterMs(now, spec) };
    }
    const sequence: Sequence = { id: this.nextId++, spec, emitted: 0, phase: 'queued', version: 0 };
    if (this.queue.length === 0 && this.fits(spec)) {
      this.admit(sequence, now);
      this.startStep(now);
      return { accepted: true, id: sequence.id, queued: false };
    }
    this.queue.push(sequence);
    return { accepted: true, id: sequence.id, queued: true };
  }

  /** Drops a request (client gone): frees its slot or its queue place. Returns whether it was known. */
  cancel(id: number, now: number): boolean {
    this.processUntil(now);
    const running = this.active.get(id);
    if (running !== undefined) {
      this.leave(running);
      running.version += 1;
      // A step left with no sequence to compute for ends now.
      const step = this.step;
      if (step !== undefined && step.sequences.every((sequence) => !this.active.has(sequence.id))) this.step = undefined;
      this.admitWaiting(now);
      this.startStep(now);
      return true;
    }
    const index = this.queue.findIndex((sequence) => sequence.id === id);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    // The head that left may have been what kept the ones behind it out (its KV did not fit; theirs may).
    this.admitWaiting(now);
    this.startStep(now);
    return true;
  }

  /** When the next event is due (emulated ms), or undefined when nothing is scheduled. */
  nextDeadline(): number | undefined {
    this.dropStale();
    const hold = this.timed[0]?.at;
    const step = this.step?.endsAt;
    if (hold === undefined) return step;
    return step === undefined ? hold : Math.min(hold, step);
  }

  /** Everything that happened up to `now`, in time order; events are stamped with when they happened. */
  advance(now: number): SchedulerEvent[] {
    this.processUntil(now);
    const events = this.pending;
    this.pending = [];
    return events;
  }

  /** Processes every deadline up to `now`, so that submissions and cancels see the state at `now`. */
  private processUntil(now: number): void {
    for (;;) {
      this.dropStale();
      const timed = this.timed[0];
      const step = this.step;
      if (timed !== undefined && timed.at <= now && (step === undefined || timed.at <= step.endsAt)) {
        this.pop();
        const sequence = this.active.get(timed.id);
        if (sequence === undefined) continue;
        if (timed.kind === 'release') {
          sequence.phase = 'prefill';
          this.prefills.push(sequence);
        } else this.firstToken(sequence, timed.at);
        this.admitWaiting(timed.at);
        this.startStep(timed.at);
        continue;
      }
      if (step === undefined || step.endsAt > now) return;
      this.step = undefined;
      this.finishStep(step);
      this.admitWaiting(step.endsAt);
      this.startStep(step.endsAt);
    }
  }

  private finishStep(step: Step): void {
    const at = step.endsAt;
    if (step.kind === 'prefill') {
      for (const sequence of step.sequences) {
        if (!this.active.has(sequence.id)) continue;
        if (step.firstTokenAt <= at) this.firstToken(sequence, at);
        else {
          sequence.phase = 'prefilled';
          this.push({ at: step.firstTokenAt, order: this.order++, id: sequence.id, version: sequence.version, kind: 'first-token' });
        }
      }
      return;
    }
    for (const sequence of step.sequences) {
      if (!this.active.has(sequence.id)) continue;
      this.emit(sequence, at);
    }
  }

  /** A prefilled sequence's first token (none if it asked for none): it then decodes, or is done. */
  private firstToken(sequence: Sequence, at: number): void {
    if (this.emit(sequence, at)) return;
    sequence.phase = 'decode';
    this.decoding.add(sequence);
  }

  /** The sequence's next token, if it has one to give; returns whether it is done and left. */
  private emit(sequence: Sequence, at: number): boolean {
    if (sequence.emitted < sequence.spec.outputTokens) {
      this.pending.push({ type: 'token', id: sequence.id, index: sequence.emitted, at });
      sequence.emitted += 1;
    }
    if (sequence.emitted < sequence.spec.outputTokens) return false;
    this.leave(sequence);
    this.pending.push({ type: 'finished', id: sequence.id, at });
    return true;
  }

  /**
   * Starts the next step at `at` if the replica is idle: the waiting prompts' prefill first (as many
   * as join one step: prefillStepTokens, and the budget's rest while sequences decode), else a decode
   * step; but while sequences decode, a decode step once the prefills since the last one have
   * taken `prefillBudgetMs`. As vLLM's chunked prefill mixes the decoding tokens into every step, a
   * decoding stream then waits behind the budget's prefills and one prompt's more at most (one long
   * prompt's, where a window-long prefill outlasts the budget), not behind every
   * prompt queued (four window-long prompts held a stream 15 s, which a stall timeout sized for one
   * cut as a failure); short prompts still go several between two decode steps, so a replica
   * serves what the performance model says.
   */
  private startStep(at: number): void {
    if (this.step !== undefined) return;
    const decoding = this.decoding.size > 0;
    const decodeNow = decoding && this.prefilledSinceDecodeMs >= this.prefillBudgetMs;
    if (!decodeNow) {
      // Cancelled ones leave the line here; the next step takes as many waiting prompts as join it.
      let live = 0;
      for (const sequence of this.prefills) if (this.active.has(sequence.id)) this.prefills[live++] = sequence;
      this.prefills.length = live;
      // With none decoding, the group may take prefillStepTokens whole: a sequence whose first token
      // comes meanwhile waits for it, as a vLLM step of max_num_batched_tokens delays its decodes.
      // (Holding the budget for such sequences too cost one-token answers on pipelined replicas
      // nine tenths of their throughput, R32.)
      const end = this.prefillGroupEnd(this.prefills, 0, decoding, this.prefilledSinceDecodeMs);
      if (end > 0) {
        const sequences = this.prefills.splice(0, end);
        const timing = this.prefillStep(sequences.map((sequence) => sequence.spec.promptTokens));
        this.step = { kind: 'prefill', sequences, firstTokenAt: at + timing.firstTokenMs, endsAt: at + timing.replicaMs };
        this.prefilledSinceDecodeMs += timing.replicaMs;
        return;
      }
    }
    if (this.decoding.size > 0) {
      const sequences = [...this.decoding];
      this.step = { kind: 'decode', sequences, endsAt: at + this.stepMs(sequences.length, contextOf(sequences)) };
      this.prefilledSinceDecodeMs = 0;
    }
  }

  /** Prefill time (ms) after which a decode step runs while sequences decode: four full-batch decode steps. */
  private get prefillBudgetMs(): number {
    return 4 * this.config.tpotMs;
  }

  /**
   * Estimated wait (ms) until `spec`, a request refused now for want of a queue place, would find
   * one: until the queue's head (or `spec`, with no queue) is admitted, by the admitted sequences'
   * projected finishes (a held one's never). The prompts waiting for their prefill run after the
   * step running now, with a decode step among them whenever the prefills since the last one took
   * the prefill budget while sequences decode (see startStep), and decode steps go on back to back
   * after them; decode steps are timed at the batch they will have.
   */
  retryAfterMs(now: number, spec?: SequenceSpec): number {
    const finishes = this.projectedFinishes(now);
    // A queue place frees when the queue's head is admitted (or, with no queue, `spec` itself): when
    // enough admitted sequences have finished to free a slot and, with kvTokens, its KV tokens (or
    // every one has: a sequence alone always runs).
    const next = this.queue[0]?.spec ?? spec;
    const { capacity, kvTokens } = this.config;
    let slotsShort = this.active.size + 1 - capacity;
    let tokensShort = kvTokens === undefined || next === undefined ? 0 : this.kvReserved + kvNeed(next) - kvTokens;
    let left = this.active.size;
    if (slotsShort <= 0 && tokensShort <= 0) return 0;
    for (const finish of finishes) {
      slotsShort -= 1;
      tokensShort -= kvNeed(finish.spec);
      left -= 1;
      if ((slotsShort <= 0 && tokensShort <= 0) || left === 0) return Math.max(0, finish.at - now);
    }
    return this.unknownWaitMs(now);
  }

  /**
   * Estimated wait (ms) until the sequences that finish first have asked for `outputTokens` output
   * tokens in all: when a server holding each answer whole from arrival frees that many. The
   * admitted ones by their projected finishes; the queued ones (R47: left out, the wait read an
   * emulated second where they held the tokens for six) each in the slot that frees first, after
   * its prefill and its answer's decode steps at the batch decoding now: a rougher guess, as
   * queued ones' batches are not projected. As retryAfterMs when hangs hold what is wanted.
   */
  msUntilOutputFreed(now: number, outputTokens: number): number {
    const admitted = this.projectedFinishes(now);
    // When each slot frees, soonest first: free ones now, the rest as the admitted finish.
    const slots = [...Array.from({ length: Math.max(0, this.config.capacity - this.active.size) }, () => now), ...admitted.map((finish) => finish.at)];
    const stepMs = this.stepMs(Math.max(1, this.decoding.size));
    const queued = this.queue.map((sequence) => {
      const start = slots.shift() ?? Number.POSITIVE_INFINITY;
      const at = start + this.prefillMs(sequence.spec.promptTokens) + Math.max(0, sequence.spec.outputTokens - 1) * stepMs;
      slots.splice(firstAtOrAfter(slots, at), 0, at);
      return { at, spec: sequence.spec };
    });
    let freed = 0;
    let last = now;
    for (const finish of [...admitted, ...queued].sort((a, b) => a.at - b.at)) {
      if (!Number.isFinite(finish.at)) break;
      freed += finish.spec.outputTokens;
      last = finish.at;
      if (freed >= outputTokens) return Math.max(0, finish.at - now);
    }
    // Never less than for fewer tokens (R48: the unknown wait, an emulated second, undercut a finite one).
    return Math.max(last - now, this.unknownWaitMs(now));
  }

  /** When each admitted sequence would end, soonest first, hung ones left out (see retryAfterMs). */
  private projectedFinishes(now: number): { readonly at: number; readonly spec: SequenceSpec }[] {
    this.processUntil(now);
    const step = this.step;
    const from = step?.endsAt ?? now;
    const firstTokens: { readonly at: number; readonly spec: SequenceSpec }[] = [];
    if (step?.kind === 'prefill') for (const sequence of step.sequences) if (this.active.has(sequence.id)) firstTokens.push({ at: step.firstTokenAt, spec: sequence.spec });
    // Prefilled, their first token on its way.
    for (const timed of this.timed) {
      const sequence = this.active.get(timed.id);
      if (timed.kind === 'first-token' && sequence !== undefined && sequence.version === timed.version) firstTokens.push({ at: timed.at, spec: sequence.spec });
    }
    const waiting = this.prefills.filter((sequence) => this.active.has(sequence.id));
    const context = contextOf(this.active.values());
    const stepMs = this.stepMs(Math.max(1, this.decoding.size + firstTokens.length + waiting.length), context);
    // The waiting prefills, with the decode steps among them (their ends: a token for every
    // sequence decoding by then, a step timed at that batch).
    let at = from;
    let prefilled = this.prefilledSinceDecodeMs;
    const decodeEnds: number[] = [];
    // When each of those steps began: a step gives a token only to the sequences decoding then.
    const decodeStarts: number[] = [];
    // First tokens' times, in order, and how many have come by `at` (which only grows): counted
    // as it goes, as a full replica may have thousands of prompts waiting for their prefill.
    const arrivals = firstTokens.map((first) => first.at).sort((a, b) => a - b);
    let arrived = 0;
    // Step by step, as startStep would take them.
    for (let start = 0; start < waiting.length; ) {
      while (arrived < arrivals.length && (arrivals[arrived] ?? Number.POSITIVE_INFINITY) <= at) arrived += 1;
      const batch = this.decoding.size + arrived;
      if (batch > 0 && prefilled >= this.prefillBudgetMs) {
        decodeStarts.push(at);
        at += this.stepMs(batch, context);
        decodeEnds.push(at);
        prefilled = 0;
      }
      // As startStep: the budget holds while a sequence decodes.
      const end = this.prefillGroupEnd(waiting, start, batch > 0, prefilled);
      const group = waiting.slice(start, end);
      const timing = this.prefillStep(group.map((sequence) => sequence.spec.promptTokens));
      const firstAt = at + timing.firstTokenMs;
      for (const sequence of group) {
        firstTokens.push({ at: firstAt, spec: sequence.spec });
        // Not before `at`, so after every one counted.
        arrivals.splice(firstAfter(arrivals, firstAt, arrived), 0, firstAt);
      }
      at += timing.replicaMs;
      prefilled += timing.replicaMs;
      start = end;
    }
    const decodeFrom = at;
    // When a sequence has its `tokens`-th token after `after`: at the decode steps between prefills
    // that begin at or after it (R31: counted by their ends, a step begun before the sequence's first
    // token gave it one, and a projection came out 1.5 s short), then back to back.
    const tokenAt = (after: number, tokens: number): number => {
      const next = firstAtOrAfter(decodeStarts, after);
      const between = decodeEnds.length - next;
      return tokens <= between ? (decodeEnds[next + tokens - 1] ?? decodeFrom) : Math.max(after, decodeFrom) + (tokens - between) * stepMs;
    };
    const finishes: { readonly at: number; readonly spec: SequenceSpec }[] = [];
    // A sequence's last token: its first when it asks for one, else that many decode steps after it.
    for (const { at: first, spec: admitted } of firstTokens) finishes.push({ at: admitted.outputTokens <= 1 ? first : tokenAt(first, admitted.outputTokens - 1), spec: admitted });
    // The decode step running now gives each of its sequences a token at its end (one that joined
    // the batch since waits for the next).
    const stepping = step?.kind === 'decode' ? new Set(step.sequences) : undefined;
    for (const sequence of this.decoding) {
      const remaining = Math.max(0, sequence.spec.outputTokens - sequence.emitted);
      const finish = step !== undefined && stepping?.has(sequence) === true ? (remaining <= 1 ? step.endsAt : tokenAt(step.endsAt, remaining - 1)) : remaining === 0 ? from : tokenAt(from, remaining);
      finishes.push({ at: finish, spec: sequence.spec });
    }
    return finishes.sort((a, b) => a.at - b.at);
  }

  /** The wait when nothing projected frees enough (see below). */
  private unknownWaitMs(now: number): number {
    // Nothing projected frees enough (the rest are held by hangs): the wait is unknown. As a hint,
    // when the soonest of the hung ones would finish, its prefill and its answer's decode steps
    // after its hang ends, and with hangs that have no end an emulated second at least: a step's
    // time alone (97 ms for a 70B) had clients retrying in a tight loop against a replica whose
    // slots hangs held for seconds (E39, R32, R33).
    // Its steps timed at the batch decoding then: it and those decoding now (R34: the hung ones too
    // priced a step released alone at twice its time).
    const decodeStepMs = this.stepMs(this.decoding.size + 1);
    let soonest = Number.POSITIVE_INFINITY;
    for (const timed of this.timed) {
      const sequence = timed.kind === 'release' ? this.active.get(timed.id) : undefined;
      if (sequence === undefined || sequence.version !== timed.version) continue;
      soonest = Math.min(soonest, timed.at + this.prefillMs(sequence.spec.promptTokens) + Math.max(0, sequence.spec.outputTokens - 1) * decodeStepMs);
    }
    if (Number.isFinite(soonest)) return Math.max(0, soonest - now);
    return Math.max(unknownWaitMs, this.config.prefillMs + this.config.tpotMs);
  }

  private leave(sequence: Sequence): void {
    if (this.active.delete(sequence.id)) this.kvReserved -= kvNeed(sequence.spec);
    this.decoding.delete(sequence);
  }

  /**
   * Whether a sequence may be admitted now: a slot is free and, with kvTokens, its prompt and answer
   * fit beside the admitted ones' (one alone always does: a prompt the window allows must run).
   */
  private fits(spec: SequenceSpec): boolean {
    if (this.active.size >= this.config.capacity) return false;
    const { kvTokens } = this.config;
    return kvTokens === undefined || this.active.size === 0 || this.kvReserved + kvNeed(spec) <= kvTokens;
  }

  /** Admits waiting requests in order while the first fits (first come, first served, as vLLM's scheduler). */
  private admitWaiting(now: number): void {
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || !this.fits(next.spec)) return;
      this.queue.shift();
      this.admit(next, now);
    }
  }

  private admit(sequence: Sequence, now: number): void {
    this.active.set(sequence.id, sequence);
    this.kvReserved += kvNeed(sequence.spec);
    this.pending.push({ type: 'admitted', id: sequence.id, at: now });
    const hold = sequence.spec.holdMs ?? 0;
    // A hang of Infinity holds the slot with no deadline: only a cancel frees it.
    if (hold === Number.POSITIVE_INFINITY) {
      sequence.phase = 'held';
      return;
    }
    if (hold > 0) {
      sequence.phase = 'held';
      this.push({ at: now + hold, order: this.order++, id: sequence.id, version: sequence.version, kind: 'release' });
      return;
    }
    sequence.phase = 'prefill';
    this.prefills.push(sequence);
  }

  private dropStale(): void {
    for (;;) {
      const top = this.timed[0];
      if (top === undefined) return;
      const sequence = this.active.get(top.id);
      if (sequence !== undefined && sequence.version === top.version) return;
      this.pop();
    }
  }

  // A binary min-heap on (at, order): ties go to the earlier-scheduled deadline.
  private push(entry: Deadline): void {
    const heap = this.timed;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Deadline;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.timed;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const l = heap[left] as Deadline;
      const r = heap[right];
      const child = r !== undefined && before(r, l) ? right : left;
      const c = heap[child] as Deadline;
      if (!before(c, last)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}

/** KV tokens a sequence takes once its answer is done: its prompt and its answer. */
function kvNeed(spec: SequenceSpec): number {
  return spec.promptTokens + spec.outputTokens;
}

/** The contexts of sequences in a decode step: each its prompt and the tokens it has so far. */
function contextOf(sequences: Iterable<Sequence>): number {
  let tokens = 0;
  for (const sequence of sequences) tokens += sequence.spec.promptTokens + sequence.emitted;
  return tokens;
}

function before(a: Deadline, b: Deadline): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

/** The index of the first of `sorted` (ascending) from `from` on that is after `value`. */
function firstAfter(sorted: readonly number[], value: number, from: number): number {
  let low = from;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] ?? Number.POSITIVE_INFINITY) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}
