import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FinishReason } from '../protocol/chat.js';

// vLLM V1's buckets (vllm/v1/metrics/loggers.py), so that dashboards and alerts made for a real
// replica read the emulator's series alike (E52: the lists were V0's, ending earlier).
/** Buckets vLLM uses for time to first token (s). */
const ttftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
/** Buckets vLLM uses for time per output token (s): a fast replica's all fall in the first, as vLLM's do. */
const tpotBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
/** Buckets vLLM uses for a request's end-to-end latency (s). */
const e2eBuckets = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

/** The faults the emulator injects, one count per request they touched. */
export type InjectedFault = 'error' | 'latency' | 'hang' | 'cut' | 'corrupt' | 'refuse';
const injectedFaults: readonly InjectedFault[] = ['error', 'latency', 'hang', 'cut', 'corrupt', 'refuse'];

export interface ReplicaLoad {
  readonly running: number;
  readonly waiting: number;
  /** KV-cache usage, 0 to 1 (see BatchScheduler.kvUsage). */
  readonly kvUsage: number;
}

/** The vLLM-named metrics a router reads, in the emulator's own registry. */
export interface EmulatorMetrics {
  readonly registry: Registry;
  /** Prefill done: the prompt's tokens and the time from arrival to the first token (wall seconds). */
  firstToken(promptTokens: number, seconds: number): void;
  /** Prefill done, but the stream was cut before its first token was sent: the prompt's tokens alone. */
  prefilled(promptTokens: number): void;
  /** One decoded token after the first, and the time since the previous one (wall seconds). */
  nextToken(seconds: number): void;
  /** The first token counts as generated too. */
  generated(tokens: number): void;
  /** A request that finished its answer, and its time from arrival (wall seconds). */
  success(reason: FinishReason, seconds: number): void;
  /** A request its client left before its answer ended: vLLM counts it finished as `abort`. */
  aborted(): void;
  /** A fault injected into one request (or connection, for `refuse`). */
  fault(kind: InjectedFault): void;
  render(): Promise<string>;
  readonly contentType: string;
}

/**
 * The finish reason as vLLM's engine counts it: its engine knows only stop and length (the tool
 * parser that reports tool calls runs above it, on text that ended at the end-of-turn token), so a
 * router reading these series sees an answer calling tools as a stop, as from a real replica.
 */
function engineFinishReason(reason: FinishReason): FinishReason {
  return reason === 'tool_calls' ? 'stop' : reason;
}

export function createEmulatorMetrics(modelName: string, load: () => ReplicaLoad): EmulatorMetrics {
  const registry = new Registry();
  // vLLM V1 labels each series with its engine (data-parallel rank): one engine, '0'.
  const labels = { model_name: modelName, engine: '0' };
  const labelNames = ['model_name', 'engine'] as const;
  new Gauge({
    name: 'vllm:num_requests_running',
    help: 'Number of requests in the model execution batch (prefilling now, decoding or hung).',
    labelNames,
    registers: [registry],
    collect() {
      this.set(labels, load().running);
    },
  });
  new Gauge({
    name: 'vllm:num_requests_waiting',
    help: 'Number of requests waiting: for a batch slot, or in one for their prefill step.',
    labelNames,
    registers: [registry],
    collect() {
      this.set(labels, load().waiting);
    },
  });
  // vLLM's V1 engine names it kv_cache_usage_perc; older routers read gpu_cache_usage_perc: both.
  for (const name of ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc']) {
    new Gauge({
      name,
      help: 'KV-cache usage, 0 to 1 (1 = full): the tokens running sequences hold (prompt and answer so far) over the KV tokens the performance model gives the replica; with a measured profile, running sequences over its slots.',
      labelNames,
      registers: [registry],
      collect() {
        this.set(labels, load().kvUsage);
      },
    });
  }
  const prompt = new Counter({ name: 'vllm:prompt_tokens_total', help: 'Number of prefill tokens processed.', labelNames, registers: [registry] });
  const generation = new Counter({ name: 'vllm:generation_tokens_total', help: 'Number of generation tokens processed.', labelNames, registers: [registry] });
  const ttft = new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'Histogram of time to first token in seconds.', labelNames, buckets: ttftBuckets, registers: [registry] });
  const tpot = new Histogram({ name: 'vllm:time_per_output_token_seconds', help: 'Histogram of time per output token in seconds.', labelNames, buckets: tpotBuckets, registers: [registry] });
  const e2e = new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'Histogram of end to end request latency in seconds.', labelNames, buckets: e2eBuckets, registers: [registry] });
  const success = new Counter({ name: 'vllm:request_success_total', help: 'Count of successfully processed requests.', labelNames: ['model_name', 'engine', 'finished_reason'] as const, registers: [registry] });
  // The emulator's own: what a rehearsal injected, to reconcile with what the gateway saw.
  const faults = new Counter({ name: 'switchyard_emulator_faults_total', help: 'Faults injected, per request they touched (refuse: per connection dropped; cut: per stream cut)', labelNames: ['model_name', 'engine', 'fault'] as const, registers: [registry] });
  // Zero series from the start, so a router sees every name before the first request.
  for (const fault of injectedFaults) faults.inc({ ...labels, fault }, 0);
  prompt.inc(labels, 0);
  generation.inc(labels, 0);
  for (const reason of ['stop', 'length', 'abort']) success.inc({ ...labels, finished_reason: reason }, 0);
  ttft.zero(labels);
  tpot.zero(labels);
  e2e.zero(labels);

  return {
    registry,
    contentType: registry.contentType,
    firstToken(promptTokens, seconds) {
      prompt.inc(labels, promptTokens);
      ttft.observe(labels, seconds);
    },
    prefilled(promptTokens) {
      prompt.inc(labels, promptTokens);
    },
    nextToken(seconds) {
      tpot.observe(labels, seconds);
    },
    generated(tokens) {
      generation.inc(labels, tokens);
    },
    success(reason, seconds) {
      success.inc({ ...labels, finished_reason: engineFinishReason(reason) });
      e2e.observe(labels, seconds);
    },
    aborted() {
      success.inc({ ...labels, finished_reason: 'abort' });
    },
    fault(kind) {
      faults.inc({ ...labels, fault: kind });
    },
    render: () => registry.metrics(),
  };
}
