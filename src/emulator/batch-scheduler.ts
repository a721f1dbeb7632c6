import type { InferenceProfile } from '../performance/inference-profile.js';

/**
 * Continuous batching on one emulated replica, as a pure state machine: time
 * is passed in (emulated milliseconds), nothing sleeps, nothing does I/O. The
 * server shell feeds it submissions and cancellations, asks for the next
 * deadline, and calls `advance` when a timer reaches it.
 *
 * Model: up to `capacity` sequences run at once; later requests wait in a
 * FIFO queue of at most `maxQueue`, beyond which they are rejected. A running
 * sequence first prefills (the profile's TTFT scaled linearly by its prompt
 * tokens), which produces its first token, then decodes one token per step;
 * a step takes the batch-one step time with one sequence running and the
 * profile's TPOT with a full batch, linearly in between, at the running count
 * when the step starts.
 */
export interface SchedulerConfig {
  /** Sequences running at once (the profile's concurrent sequences). */
  readonly capacity: number;
  /** Waiting requests allowed; a submission beyond them is rejected. */
  readonly maxQueue: number;
  /** Time to first token (ms) of a prompt of `referenceInputTokens` tokens. */
  readonly ttftMs: number;
  readonly referenceInputTokens: number;
  /** Decode step time (ms) with one sequence running. */
  readonly tpotAtBatchOneMs: number;
  /** Decode step time (ms) with `batch` sequences per pipeline stage. */
  readonly tpotMs: number;
  /** Sequences decoded together per pipeline stage at the profile's operating point. */
  readonly batch: number;
  /** Running sequences are spread over this many pipeline stages (1 without pipelining). */
  readonly pipelineStages: number;
}

/** A scheduler configuration from a performance profile and the input tokens it was computed for. */
export function schedulerConfigFromProfile(profile: InferenceProfile, referenceInputTokens: number, options: { maxQueue?: number; capacity?: number } = {}): SchedulerConfig {
  const capacity = options.capacity ?? profile.concurrentSequences;
  return {
    capacity,
    maxQueue: options.maxQueue ?? 4 * capacity,
    ttftMs: profile.ttftMs,
    referenceInputTokens,
    tpotAtBatchOneMs: profile.tpotAtBatchOneMs,
    tpotMs: profile.tpotMs,
    batch: profile.batch,
    pipelineStages: profile.pipelineStages,
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
  /** When its next token is due (Infinity while it hangs for ever or waits in the queue). */
  nextAt: number;
  /** Bumped whenever the sequence's heap entry is superseded. */
  version: number;
}

interface Deadline {
  readonly at: number;
  readonly order: number;
  readonly id: number;
  readonly version: number;
}

export class BatchScheduler {
  readonly config: SchedulerConfig;
  private readonly queue: Sequence[] = [];
  private readonly active = new Map<number, Sequence>();
  private readonly heap: Deadline[] = [];
  private pending: SchedulerEvent[] = [];
  private nextId = 1;
  private order = 0;

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

  get capacity(): number {
    return this.config.capacity;
  }

  /** Decode step time (ms) with `running` sequences in the batch. */
  stepMs(running: number): number {
    const { tpotAtBatchOneMs, tpotMs, batch, pipelineStages } = this.config;
    if (batch <= 1) return tpotMs;
    const stageBatch = Math.min(batch, Math.max(1, Math.ceil(running / Math.max(1, pipelineStages))));
    return tpotAtBatchOneMs + ((tpotMs - tpotAtBatchOneMs) * (stageBatch - 1)) / (batch - 1);
  }

  /**
   * Prefill time (ms) of a prompt: the profile's TTFT scaled linearly by its
   * tokens, never below one batch-one step (a forward pass reads the weights once).
   */
  prefillMs(promptTokens: number): number {
    const { ttftMs, referenceInputTokens, tpotAtBatchOneMs } = this.config;
    return Math.max(tpotAtBatchOneMs, (ttftMs * Math.max(1, promptTokens)) / Math.max(1, referenceInputTokens));
  }

  /** Runs the request at once if a slot is free, queues it if the queue has room, else rejects it. */
  submit(spec: SequenceSpec, now: number): SubmitResult {
    this.processUntil(now);
    if (this.active.size >= this.config.capacity && this.queue.length >= this.config.maxQueue) {
      return { accepted: false, retryAfterMs: this.retryAfterMs(now) };
    }
    const sequence: Sequence = { id: this.nextId++, spec, emitted: 0, nextAt: Number.POSITIVE_INFINITY, version: 0 };
    if (this.active.size < this.config.capacity) {
      this.admit(sequence, now);
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
      this.active.delete(id);
      running.version += 1;
      this.admitWaiting(now);
      return true;
    }
    const index = this.queue.findIndex((sequence) => sequence.id === id);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    return true;
  }

  /** When the next event is due (emulated ms), or undefined when nothing is scheduled. */
  nextDeadline(): number | undefined {
    this.dropStale();
    return this.heap[0]?.at;
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
      const top = this.heap[0];
      if (top === undefined || top.at > now) break;
      this.pop();
      const sequence = this.active.get(top.id);
      if (sequence === undefined) continue;
      const at = top.at;
      if (sequence.emitted < sequence.spec.outputTokens) {
        this.pending.push({ type: 'token', id: sequence.id, index: sequence.emitted, at });
        sequence.emitted += 1;
      }
      if (sequence.emitted >= sequence.spec.outputTokens) {
        this.active.delete(sequence.id);
        this.pending.push({ type: 'finished', id: sequence.id, at });
        this.admitWaiting(at);
      } else {
        this.schedule(sequence, at + this.stepMs(this.active.size));
      }
    }
  }

  /** Estimated wait (ms) until a slot frees: the soonest projected finish among running sequences. */
  retryAfterMs(now: number): number {
    this.processUntil(now);
    let soonest = Number.POSITIVE_INFINITY;
    const step = this.stepMs(this.active.size);
    for (const sequence of this.active.values()) {
      const remaining = Math.max(0, sequence.spec.outputTokens - sequence.emitted - 1);
      soonest = Math.min(soonest, Math.max(0, sequence.nextAt - now) + remaining * step);
    }
    return Number.isFinite(soonest) ? soonest : this.config.ttftMs + this.config.tpotMs;
  }

  private admitWaiting(now: number): void {
    while (this.active.size < this.config.capacity) {
      const next = this.queue.shift();
      if (next === undefined) return;
      this.admit(next, now);
    }
  }

  private admit(sequence: Sequence, now: number): void {
    this.active.set(sequence.id, sequence);
    this.pending.push({ type: 'admitted', id: sequence.id, at: now });
    const hold = sequence.spec.holdMs ?? 0;
    // A hang of Infinity holds the slot with no deadline: only a cancel frees it.
    if (hold === Number.POSITIVE_INFINITY) return;
    this.schedule(sequence, now + Math.max(0, hold) + this.prefillMs(sequence.spec.promptTokens));
  }

  private schedule(sequence: Sequence, at: number): void {
    sequence.version += 1;
    sequence.nextAt = at;
    this.push({ at, order: this.order++, id: sequence.id, version: sequence.version });
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return;
      const sequence = this.active.get(top.id);
      if (sequence !== undefined && sequence.version === top.version) return;
      this.pop();
    }
  }

  // A binary min-heap on (at, order): ties go to the earlier-scheduled deadline.
  private push(entry: Deadline): void {
    const heap = this.heap;
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
    const heap = this.heap;
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

function before(a: Deadline, b: Deadline): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}
