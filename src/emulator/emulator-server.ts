import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AcceleratorSpec, Precision } from '../catalog/accelerator.js';
import { accelerators } from '../catalog/accelerators.js';
import type { ModelSpec } from '../catalog/model-preset.js';
import { modelPresets } from '../catalog/models.js';
import type { MeasuredProfile } from '../domain/fleet.js';
import { didYouMean } from '../domain/suggest.js';
import { decodeTiming, defaultInferenceShape, inferenceProfile, prefillTiming, type InferenceProfile } from '../performance/inference-profile.js';
import { estimatePromptTokens, type ChatEvent, type ChatRequest, type ErrorKind } from '../protocol/chat.js';
import type { Dialect } from '../protocol/dialect.js';
import { quoteIdentifier } from '../protocol/request-problem.js';
import { dialects } from '../protocol/dialects.js';
import { inboundDialect } from '../protocol/inbound-dialect.js';
import { anthropicTokenCounting } from '../protocol/anthropic/anthropic-token-counting.js';
import { sendJson } from '../protocol/send-json.js';
import { BatchScheduler, schedulerConfigFromProfile, type SchedulerEvent } from './batch-scheduler.js';
import { emulatorSpeeds } from './emulator-speeds.js';
import { applyFaults, noFaults, parseFaultsUpdate, type Faults, type FaultsUpdate } from './faults.js';
import { corruptPlan, eventsOfToken, planCompletion, thinkingSignature } from './generate.js';
import { createEmulatorMetrics, type ReplicaLoad } from './metrics.js';
import { mixSeed, seededRandom } from '../random/seeded-random.js';
import { retryAfterHeaders } from '../protocol/retry-after-headers.js';

/** The emulator cannot start: unknown chip or model, a profile that does not fit, a port in use. */
export class EmulatorError extends Error {
  constructor(
    message: string,
    /** The system error behind it, when there is one (EADDRINUSE, EMFILE). */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EmulatorError';
  }
}

export interface EmulatorOptions {
  /** A model preset id, or a resolved spec (a fleet's override). */
  readonly model: string | ModelSpec;
  /** A catalog chip id, or a resolved spec (a fleet's override). */
  readonly chip: string | AcceleratorSpec;
  /** 0 (the default) picks a free port; `url` says which. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Same seed and same prompt give byte-identical text. Default 0. */
  readonly seed?: number;
  /** Every delay (model timing and fault delays) is divided by this. Default 1 (real time). */
  readonly speed?: number;
  /** Request shape the profile is computed for (as `switchyard perf`): defaults 2000 in, 500 out, TPOT 50 ms. */
  readonly inputTokens?: number;
  /** Also the mean natural answer length in tokens. */
  readonly outputTokens?: number;
  readonly tpotMs?: number;
  readonly ttftMs?: number;
  /** Default: the model's preset precision. */
  readonly precision?: Precision;
  /** A fleet's measured profiles; a matching row replaces the analytic estimate. */
  readonly measuredProfiles?: readonly MeasuredProfile[];
  /** Use this profile as is instead of computing one. */
  readonly profile?: InferenceProfile;
  /** Waiting requests beyond which chat requests get 429. Default 4 x capacity. */
  readonly maxQueue?: number;
  /** Running sequences; default the profile's concurrent sequences. For tests and scaled-down demos. */
  readonly capacity?: number;
  /**
   * Output tokens of the answers of the requests held at once (queued and running) beyond which chat
   * requests get 429: an answer is planned whole on arrival, about 18 bytes a token, where vLLM
   * holds only what it has generated. Default 50,000,000 (under 1 GB).
   */
  readonly maxHeldOutputTokens?: number;
  /** Faults from the start; the rest are off. */
  readonly faults?: FaultsUpdate;
  /** Model id clients must send, listed by /v1/models. Default the model's id. */
  readonly servedModelName?: string;
  /** Where errors are logged (never prompt or completion text). Default stderr. */
  readonly log?: (line: string) => void;
  /** The name its log lines give it (`switchyard emulate <name>: ...`), for several in one process; default none. */
  readonly logName?: string;
}

export interface EmulatorStats extends ReplicaLoad {
  /** Sequences it runs at once at most (its slots). */
  readonly capacity: number;
  readonly maxQueue: number;
  /** Requests of any path received and not yet answered in full (hung ones included). */
  readonly inFlight: number;
}

export interface RunningEmulator {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The model id clients send and /v1/models lists. */
  readonly model: string;
  readonly chip: string;
  readonly profile: InferenceProfile;
  /** Applies a partial update of the faults (validated; throws TypeError when invalid) and returns them all. */
  setFaults(update: FaultsUpdate): Faults;
  faults(): Faults;
  /** Running, waiting and capacity right now. */
  stats(): EmulatorStats;
  /**
   * A prompt's prefill on this replica when it is idle, in real milliseconds (at its speed): to the
   * prompt's first token, and of the replica's time (what other sequences wait behind it).
   */
  prefillTime(promptTokens: number): { readonly firstTokenMs: number; readonly replicaMs: number };
  /** Real milliseconds of a decode step at full batch (the profile's TPOT, at its speed). */
  readonly tpotMs: number;
  /** Tokens of KV cache its sequences' prompts and answers share (the performance model's), undefined with a measured profile (slots alone). */
  readonly kvTokens: number | undefined;
  /** The longest prompt and answer one request may take (vLLM's max_model_len): see servedContextWindow. */
  readonly contextWindow: number;
  /** The model's own window (or the default for one that names none), which a small KV cache may cut. */
  readonly modelContextWindow: number;
  /** Stops listening, drops every connection (in-flight streams end abruptly) and stops the timers. */
  close(): Promise<void>;
}

// Above the gateway's default limit (Anthropic's 32 MB), with room for what its translation adds.
const maxChatBodyBytes = 40 * 1024 * 1024;
const maxAdminBodyBytes = 64 * 1024;

/** Resolves the profile an emulator would run with, or the reason it cannot run. */
export function emulatorProfile(options: Pick<EmulatorOptions, 'model' | 'chip' | 'inputTokens' | 'outputTokens' | 'tpotMs' | 'ttftMs' | 'precision' | 'measuredProfiles' | 'profile'>): InferenceProfile {
  if (options.profile !== undefined) return options.profile;
  const model = modelSpec(options.model);
  const chip = chipSpec(options.chip);
  const result = inferenceProfile(
    model,
    chip,
    {
      precision: options.precision ?? model.precision,
      inputTokens: options.inputTokens ?? defaultInferenceShape.inputTokens,
      outputTokens: options.outputTokens ?? defaultInferenceShape.outputTokens,
      tpotMs: options.tpotMs ?? defaultInferenceShape.tpotMs,
      ...(options.ttftMs === undefined ? {} : { ttftMs: options.ttftMs }),
    },
    options.measuredProfiles ?? [],
  );
  if (!result.feasible) throw new EmulatorError(`${model.id} cannot be served on ${chip.id}: ${result.reason}; to emulate it, loosen the target (--tpot-ms, --ttft-ms), shorten the request shape (--input, --output), lower --precision, or pick a faster or larger --chip`);
  return result;
}

/** The window of a model that names none: wide enough for the profile's request, else this (as `up` gives its endpoints, so the two agree). */
const defaultContextWindow = 32_768;

/**
 * The window a replica serves: its model's, but no more than its KV cache holds, as vLLM will not
 * start with a max_model_len one sequence could not fill its cache past (it asks for a smaller one):
 * a prompt that could never be held is a 400 saying the window, not a request admitted alone.
 */
function servedContextWindow(modelContextWindow: number, kvTokens: number | undefined): number {
  return kvTokens === undefined ? modelContextWindow : Math.min(modelContextWindow, kvTokens);
}

/**
 * A full replica's 429, in the counts /metrics gives (a slot whose prompt awaits its prefill is
 * waiting there, not running): its slots taken, or, with slots free, its KV cache full.
 */
export function replicaFullMessage(scheduler: BatchScheduler, waitMs: number): string {
  const awaiting = scheduler.awaitingPrefill;
  const { kvTokens, maxQueue } = scheduler.config;
  const held = scheduler.running < scheduler.capacity && kvTokens !== undefined ? `its KV cache full (${scheduler.kvReservedTokens} of ${kvTokens} tokens held for the prompts and answers of ${scheduler.running} of its ${scheduler.capacity} slots: ` : `its ${scheduler.capacity} slots taken (`;
  return `replica full: ${held}${scheduler.running - awaiting} running, ${awaiting} awaiting their prefill) and ${scheduler.waiting} of ${maxQueue} queue places; retry after ${Math.ceil(waitMs)} ms`;
}

function modelSpec(model: string | ModelSpec): ModelSpec {
  return typeof model === 'string' ? lookup('model', model, modelPresets) : model;
}

function chipSpec(chip: string | AcceleratorSpec): AcceleratorSpec {
  return typeof chip === 'string' ? lookup('chip', chip, accelerators) : chip;
}

function lookup<T extends { readonly id: string }>(what: string, id: string, list: readonly T[]): T {
  const found = list.find((item) => item.id === id);
  if (found === undefined) {
    const hint = didYouMean(id, list.map((item) => item.id));
    throw new EmulatorError(`unknown ${what} '${id}'${hint === undefined ? '' : `; ${hint}`}`);
  }
  return found;
}

/** The status an injected or emulated error is answered with, as a canonical error kind. */
function kindOfStatus(status: number): ErrorKind {
  switch (status) {
    case 400:
    case 422:
      return 'invalid_request';
    case 413:
      return 'too_large';
    case 401:
      return 'authentication';
    case 403:
      return 'permission';
    case 404:
      return 'not_found';
    case 408:
    case 504:
      return 'timeout';
    case 429:
      return 'rate_limit';
    case 503:
    case 529:
      return 'overloaded';
    default:
      // Another 4xx (402, 409, 451...) is still about the request, as both APIs type it.
      return status < 500 ? 'invalid_request' : 'api_error';
  }
}

type Body = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: 'too_large' | 'gone' };

function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (body: Body): void => {
      if (settled) return;
      settled = true;
      resolve(body);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        settle({ ok: false, reason: 'too_large' });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => settle({ ok: true, text: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', () => settle({ ok: false, reason: 'gone' }));
    req.on('close', () => settle({ ok: false, reason: 'gone' }));
  });
}

/** Node's longest timer (about 24.8 days); a longer one would fire after 1 ms. */
const longestTimerMs = 2 ** 31 - 1;

/** Waits `ms` wall milliseconds (at most longestTimerMs); false when the signal aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.min(longestTimerMs, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}


// No Connection header of our own: node:http then sends `Keep-Alive: timeout=5`, and a client's pool
// knows to retire an idle connection before this server closes it.
const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/**
 * Starts an emulated model server for a model on a chip: OpenAI and Anthropic
 * chat endpoints timed by the performance model, /v1/models, /health,
 * /metrics (vLLM names) and /admin/faults. Rejects with EmulatorError when the
 * chip or model is unknown, the profile is infeasible or the port is taken.
 */
export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const profile = emulatorProfile(options);
  const speed = options.speed ?? 1;
  if (!(speed >= emulatorSpeeds.slowest && speed <= emulatorSpeeds.fastest)) throw new EmulatorError(`speed must be a number from ${emulatorSpeeds.slowest} to ${emulatorSpeeds.fastest}, got ${speed}`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new EmulatorError(`seed must be a whole number >= 0, got ${seed}`);
  const modelName = options.servedModelName ?? profile.model;
  // No request could name an empty or padded model: the server would serve nobody.
  if (modelName.trim() === '' || modelName.trim() !== modelName) throw new EmulatorError(`served model name must be a non-empty name without surrounding spaces, got '${modelName}'`);
  const inputTokens = options.inputTokens ?? defaultInferenceShape.inputTokens;
  const meanOutputTokens = options.outputTokens ?? defaultInferenceShape.outputTokens;
  const write = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const speaker = options.logName === undefined ? 'switchyard emulate' : `switchyard emulate ${options.logName}`;
  const log = (line: string): void => write(`${speaker}: ${line}`);
  let faults: Faults = noFaults;
  const setFaults = (update: FaultsUpdate): Faults => {
    const parsed = parseFaultsUpdate(update);
    if (!parsed.ok) throw new TypeError(parsed.message);
    faults = applyFaults(faults, parsed.value);
    return faults;
  };
  if (options.faults !== undefined) {
    const parsed = parseFaultsUpdate(options.faults);
    if (!parsed.ok) throw new EmulatorError(parsed.message);
    faults = applyFaults(faults, parsed.value);
  }

  let scheduler: BatchScheduler;
  try {
    // A profile given as is keeps its own prefill, scaled linearly, and its steps by batch alone; one
    // computed here is timed by the model for each prompt's length and each step's contexts, and
    // holds as many sequences as their KV cache fits.
    const prefillAt = options.profile === undefined ? prefillTiming(modelSpec(options.model), chipSpec(options.chip), profile) : undefined;
    const decode = options.profile === undefined ? decodeTiming(modelSpec(options.model), chipSpec(options.chip), profile) : undefined;
    scheduler = new BatchScheduler(schedulerConfigFromProfile(profile, inputTokens, { ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }), ...(options.capacity === undefined ? {} : { capacity: options.capacity }), prefillAt, decode }));
  } catch (error) {
    throw new EmulatorError((error as Error).message);
  }
  // As vLLM counts them: a prompt not yet scheduled for its prefill is waiting, not running.
  const metrics = createEmulatorMetrics(modelName, () => {
    const unscheduled = scheduler.awaitingPrefill;
    return { running: scheduler.running - unscheduled, waiting: scheduler.waiting + unscheduled, kvUsage: scheduler.kvUsage };
  });
  // Injected errors and corrupted tokens come from their own seeded stream, in request order.
  const faultRandom = seededRandom(mixSeed(seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, 0xfa17));
  const startedAt = Math.floor(Date.now() / 1000);

  // Emulated milliseconds since start: the scheduler's clock.
  const origin = performance.now();
  const now = (): number => (performance.now() - origin) * speed;

  // One timer for the whole replica, armed for the scheduler's next deadline.
  const generations = new Map<number, (event: SchedulerEvent) => void>();
  // The output tokens of each held request's planned answer, and their sum (E52: queued long answers ran the heap out).
  const heldTokens = new Map<number, number>();
  let heldOutputTokens = 0;
  const maxHeldOutputTokens = options.maxHeldOutputTokens ?? 50_000_000;
  const release = (id: number): void => {
    generations.delete(id);
    heldOutputTokens -= heldTokens.get(id) ?? 0;
    heldTokens.delete(id);
  };
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  let pumping = false;
  let closed = false;
  const pump = (): void => {
    if (pumping) return; // the running loop below picks up whatever changed
    pumping = true;
    try {
      for (;;) {
        const events = scheduler.advance(now());
        if (events.length === 0) break;
        for (const event of events) generations.get(event.id)?.(event);
      }
    } finally {
      pumping = false;
    }
    arm();
  };
  const arm = (): void => {
    if (closed) return;
    const next = scheduler.nextDeadline();
    if (next === undefined || (timer !== undefined && timerAt <= next)) return;
    if (timer !== undefined) clearTimeout(timer);
    timerAt = next;
    // A far deadline (a long hang) fires early and re-arms: pump finds nothing due yet.
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Number.POSITIVE_INFINITY;
      pump();
    }, Math.min(longestTimerMs, Math.max(0, (next - now()) / speed)));
  };

  /** What a chat or count request's handler works with once its body is in. */
  interface Received {
    readonly json: unknown;
    /** The faults as they were when the request came (a change at run time applies to the next). */
    readonly snapshot: Faults;
    /** Aborted when the client leaves before its answer is sent. */
    readonly gone: AbortSignal;
    readonly error: (status: number, kind: ErrorKind, message: string, param?: string, headers?: Record<string, string>) => void;
  }

  /** Reads a request's JSON body, after the added latency; undefined once it has been answered (an error) or its client left. */
  async function receive(req: IncomingMessage, res: ServerResponse, dialect: Dialect): Promise<Received | undefined> {
    const snapshot = faults;
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const error = (status: number, kind: ErrorKind, message: string, param?: string, headers: Record<string, string> = {}): void =>
      sendJson(res, status, dialect.formatError({ kind, message, param }), headers);

    const body = await readBody(req, maxChatBodyBytes);
    if (!body.ok) {
      if (body.reason === 'too_large') error(413, 'too_large', `request body exceeds ${maxChatBodyBytes / 1024 / 1024} MiB`, undefined, { connection: 'close' });
      return undefined;
    }
    if (snapshot.addedLatencyMs > 0) {
      metrics.fault('latency');
      if (!(await sleep(snapshot.addedLatencyMs / speed, gone.signal))) return undefined;
    }
    try {
      return { json: JSON.parse(body.text) as unknown, snapshot, gone: gone.signal, error };
    } catch {
      // The parser's message quotes the body: never echoed, never logged.
      error(400, 'invalid_request', 'request body is not valid JSON');
      return undefined;
    }
  }

  /** Whether the error-rate fault fails this request: if so it has been answered. */
  function injectedError(received: Received): boolean {
    const { snapshot } = received;
    if (snapshot.errorRate <= 0 || faultRandom() >= snapshot.errorRate) return false;
    metrics.fault('error');
    const status = snapshot.errorStatus;
    // The fault's own figure, a real second whatever the speed: gateways' handling of a Retry-After is rehearsed with it.
    const retry = status === 429 || status === 503 || status === 529 ? { 'retry-after': '1' } : {};
    received.error(status, kindOfStatus(status), `injected fault: HTTP ${status} (error rate ${snapshot.errorRate})`, undefined, retry);
    return true;
  }

  /**
   * Anthropic's token counting: the input tokens the same messages are charged in an answer's
   * usage. Faults apply as to answers (latency, errors, a hang before answering, refusal).
   */
  async function handleCount(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const received = await receive(req, res, dialects.anthropic);
    if (received === undefined) return;
    const { snapshot, gone, error } = received;
    const parsed = anthropicTokenCounting.parseRequest(received.json, { asServer: true });
    if (!parsed.ok) {
      error(parsed.problem.status, parsed.problem.kind, parsed.problem.message, parsed.problem.param);
      return;
    }
    if (parsed.value.model !== modelName) {
      error(404, 'not_found', `model ${quoteIdentifier(parsed.value.model)} is not served here; this replica serves '${modelName}'`, 'model');
      return;
    }
    if (injectedError(received)) return;
    if (snapshot.hangMs !== 0) {
      metrics.fault('hang');
      if (!(await sleep(snapshot.hangMs === -1 ? Number.POSITIVE_INFINITY : snapshot.hangMs / speed, gone))) return;
    }
    sendJson(res, 200, anthropicTokenCounting.formatResult(estimatePromptTokens(parsed.value)));
  }

  async function handleChat(req: IncomingMessage, res: ServerResponse, dialect: Dialect): Promise<void> {
    const received = await receive(req, res, dialect);
    if (received === undefined) return;
    const { json, snapshot, gone, error } = received;
    const parsed = dialect.parseRequest(json, { asServer: true });
    if (!parsed.ok) {
      error(parsed.problem.status, parsed.problem.kind, parsed.problem.message, parsed.problem.param);
      return;
    }
    const request: ChatRequest = parsed.value;
    // As Anthropic checks them: thinking that comes back must be what the model gave.
    const tampered = request.messages.findIndex((message) => message.thinking?.some((block) => block.type === 'thinking' && block.signature !== thinkingSignature(block.thinking)) === true);
    if (tampered >= 0) {
      error(400, 'invalid_request', `messages: invalid signature in a thinking block (canonical message ${String(tampered)}): thinking must come back exactly as the model gave it`, 'messages');
      return;
    }
    if (request.model !== modelName) {
      error(404, 'not_found', `model ${quoteIdentifier(request.model)} is not served here; this replica serves '${modelName}'`, 'model');
      return;
    }
    // As vLLM does: a prompt and an output budget that cannot fit the context window are a 400.
    const window = maxModelLen();
    const promptTokens = estimatePromptTokens(request);
    // Without max_tokens the answer may take what the window leaves, which must be a token at least.
    if (promptTokens + (request.maxTokens ?? 1) > window) {
      const asked = request.maxTokens === undefined ? `${promptTokens} tokens in the messages` : `${promptTokens + request.maxTokens} tokens (${promptTokens} in the messages, ${request.maxTokens} in the completion)`;
      error(400, 'invalid_request', `This model's maximum context length is ${window} tokens. However, you requested ${asked}. Please reduce the length of the messages or completion.`, 'messages');
      return;
    }
    if (injectedError(received)) return;
    if (gone.aborted) return;

    // vLLM's budget without max_tokens: what the window leaves (the answer ends there with 'length').
    const budgeted = request.maxTokens === undefined ? { ...request, maxTokens: window - promptTokens } : request;
    // A request's own seed (OpenAI's `seed`, which vLLM honours) picks another answer, as deterministic.
    const requestSeed = request.sampling?.seed;
    const natural = planCompletion(budgeted, { seed: requestSeed === undefined ? seed : mixSeed(seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, requestSeed >>> 0, Math.floor(requestSeed / 2 ** 32) >>> 0), meanOutputTokens });
    const plan = snapshot.corruptRate > 0 ? corruptPlan(natural, snapshot.corruptRate, faultRandom) : natural;
    // Counted once the caller gets a corrupted token: not for an answer refused (429), hung, or cut before one.
    let corruptToCount = plan.text !== natural.text;
    const countCorrupt = (sent: boolean): void => {
      if (!corruptToCount || !sent) return;
      corruptToCount = false;
      metrics.fault('corrupt');
    };
    const arrivedAt = now();
    const spec = { promptTokens: plan.usage.inputTokens, outputTokens: plan.tokens.length, holdMs: snapshot.hangMs === -1 ? Number.POSITIVE_INFINITY : snapshot.hangMs };
    // A request alone is always taken, as one alone always runs (R46: a bound below one answer refused it for good).
    const excess = heldOutputTokens + plan.tokens.length - maxHeldOutputTokens;
    if (excess > 0 && heldTokens.size > 0) {
      // Until the held answers that end first have freed that many (R46: the queue's wait, 0 with a free queue place, had gateways retry at once).
      const waitMs = Math.max(1, scheduler.msUntilOutputFreed(arrivedAt, excess) / speed);
      error(429, 'rate_limit', `replica full: the answers of its ${heldTokens.size} request${heldTokens.size === 1 ? '' : 's'} hold ${heldOutputTokens} output tokens, and this one's ${plan.tokens.length} would pass the ${maxHeldOutputTokens} the emulator holds at once (it plans each answer whole on arrival); retry after ${Math.ceil(waitMs)} ms`, undefined, retryAfterHeaders(waitMs));
      return;
    }
    const submitted = scheduler.submit(spec, arrivedAt);
    if (!submitted.accepted) {
      const waitMs = submitted.retryAfterMs / speed;
      error(429, 'rate_limit', replicaFullMessage(scheduler, waitMs), undefined, retryAfterHeaders(waitMs));
      return;
    }
    if (snapshot.hangMs !== 0) metrics.fault('hang');

    const id = submitted.id;
    heldTokens.set(id, plan.tokens.length);
    heldOutputTokens += plan.tokens.length;
    const completionId = dialect.responseId(randomBytes(12).toString('hex'));
    const createdSeconds = Math.floor(Date.now() / 1000);
    const writer = request.stream ? dialect.createStreamWriter({ includeUsage: request.includeUsage, created: createdSeconds }) : undefined;
    const start: ChatEvent = { type: 'start', id: completionId, model: modelName, inputTokens: plan.usage.inputTokens };
    const cut = snapshot.cutAfterTokens;
    let started = false;
    let lastTokenAt = arrivedAt;
    // Cut by a fault, or left by its client (which vLLM counts as finished by `abort`; a cut is the fault's).
    const abandon = (): void => {
      gone.removeEventListener('abort', clientLeft);
      release(id);
      if (scheduler.cancel(id, now())) pump();
    };
    const clientLeft = (): void => {
      metrics.aborted();
      abandon();
    };
    gone.addEventListener('abort', clientLeft, { once: true });
    if (writer !== undefined) {
      res.writeHead(200, sseHeaders);
      res.flushHeaders();
    }

    generations.set(id, (event) => {
      switch (event.type) {
        case 'admitted':
          return;
        case 'token': {
          if (writer !== undefined && cut !== null && event.index >= cut) {
            // Cut before anything more (cutAfterTokens 0: before the first token, which is then not
            // counted as generated; the prompt was read): the connection ends with no terminal frame.
            if (event.index === 0) metrics.prefilled(plan.usage.inputTokens);
            metrics.fault('cut');
            abandon();
            res.socket?.destroy();
            return;
          }
          const seconds = (event.at - lastTokenAt) / speed / 1000;
          if (event.index === 0) metrics.firstToken(plan.usage.inputTokens, seconds);
          else metrics.nextToken(seconds);
          metrics.generated(1);
          lastTokenAt = event.at;
          if (writer === undefined) return;
          let frames = started ? '' : writer.write(start);
          started = true;
          for (const tokenEvent of eventsOfToken(plan, event.index)) frames += writer.write(tokenEvent);
          countCorrupt(plan.tokens[event.index] !== natural.tokens[event.index]);
          if (cut !== null && event.index + 1 >= cut && event.index + 1 < plan.tokens.length) {
            metrics.fault('cut');
            abandon();
            res.write(frames, () => res.socket?.destroy());
          } else {
            res.write(frames);
          }
          return;
        }
        case 'finished': {
          release(id);
          gone.removeEventListener('abort', clientLeft);
          // An empty answer (a stop sequence at its first word) had no token: its prefill still counts.
          if (plan.tokens.length === 0) metrics.firstToken(plan.usage.inputTokens, (event.at - arrivedAt) / speed / 1000);
          metrics.success(plan.finishReason, (event.at - arrivedAt) / speed / 1000);
          if (writer !== undefined) {
            res.end((started ? '' : writer.write(start)) + writer.write({ type: 'finish', finishReason: plan.finishReason, ...(plan.stopSequence === undefined ? {} : { stopSequence: plan.stopSequence }), usage: plan.usage }));
          } else {
            countCorrupt(true);
            sendJson(
              res,
              200,
              dialect.formatResult({
                id: completionId,
                model: modelName,
                text: plan.text,
                finishReason: plan.finishReason,
                ...(plan.stopSequence === undefined ? {} : { stopSequence: plan.stopSequence }),
                ...(plan.toolCalls === undefined ? {} : { toolCalls: plan.toolCalls }),
                ...(plan.thinking === undefined ? {} : { thinking: plan.thinking }),
                usage: plan.usage,
              }, createdSeconds),
            );
          }
          return;
        }
      }
    });
    pump();
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // HEAD as GET (node:http sends no body for it), as the 405 for other methods says.
    if (req.method === 'GET' || req.method === 'HEAD') {
      sendJson(res, 200, faults);
      return;
    }
    // The endpoint has no key (the emulator is a test tool on loopback by default), and its body is
    // read whatever its content type: a web page the operator has open could post to it. Browsers
    // send Origin with such a request; curl and the SDKs do not.
    if (req.headers.origin !== undefined) {
      req.resume();
      sendJson(res, 403, { error: { message: '/admin/faults takes no requests from web pages (an Origin header was sent); use curl or a script', type: 'permission_error' } });
      return;
    }
    const body = await readBody(req, maxAdminBodyBytes);
    if (!body.ok) {
      if (body.reason === 'too_large') sendJson(res, 413, { error: { message: `body too large: /admin/faults takes at most ${String(maxAdminBodyBytes)} bytes`, type: 'invalid_request_error' } }, { connection: 'close' });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(body.text);
    } catch {
      sendJson(res, 400, { error: { message: 'body is not valid JSON; send an object such as {"errorRate": 0.5}', type: 'invalid_request_error' } });
      return;
    }
    const parsed = parseFaultsUpdate(json);
    if (!parsed.ok) {
      sendJson(res, 400, { error: { message: parsed.message, type: 'invalid_request_error' } });
      return;
    }
    faults = applyFaults(faults, parsed.value);
    // A rehearsal's log says when its faults changed, beside what the gateway logged meanwhile.
    log(`faults now ${JSON.stringify(faults)}`);
    sendJson(res, 200, faults);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const isControl = path === '/health' || path === '/admin/faults' || path === '/metrics';
    if (faults.refuse && !isControl) {
      // Refused at the first request rather than at accept: a client sees a connection dropped
      // before any response either way, and /health, /metrics and /admin/faults stay reachable
      // on fresh connections, so refusing can be switched off again at run time.
      metrics.fault('refuse');
      req.socket.destroy();
      return;
    }
    // Errors in the shape of the API the path belongs to.
    const shape = inboundDialect(path);
    const allow = (methods: string, run: () => void | Promise<void>): void | Promise<void> => {
      // HEAD is GET without the body (Node leaves it out), as load balancers' health checks send it.
      if (method === 'HEAD' && methods.split(', ').includes('GET')) return run();
      if (methods.split(', ').includes(method)) return run();
      const allowed = methods.split(', ').includes('GET') ? `${methods}, HEAD` : methods;
      sendJson(res, 405, shape.formatError({ kind: 'invalid_request', message: `${method} is not allowed on ${path}; use ${allowed}` }), { allow: allowed });
    };
    switch (path) {
      case dialects.openai.chatPath:
        return allow('POST', () => handleChat(req, res, dialects.openai));
      case dialects.anthropic.chatPath:
        return allow('POST', () => handleChat(req, res, dialects.anthropic));
      case anthropicTokenCounting.path:
        return allow('POST', () => handleCount(req, res));
      case '/v1/models':
        return allow('GET', () => {
          // In Anthropic's shape for its SDK (its version header names its dialect), as the gateway answers; vLLM's otherwise (E52).
          if (inboundDialect(path, req.headers) !== dialects.anthropic) return sendJson(res, 200, { object: 'list', data: [{ id: modelName, object: 'model', created: startedAt, owned_by: 'switchyard-emulator', root: profile.model, max_model_len: maxModelLen() }] });
          const list = dialects.anthropic.formatModelList([modelName], new URLSearchParams((req.url ?? '').split('?')[1] ?? ''));
          return list.ok ? sendJson(res, 200, list.value) : sendJson(res, list.problem.status, dialects.anthropic.formatError(list.problem));
        });
      case '/health':
        return allow('GET', () => sendJson(res, faults.refuse ? 503 : 200, { status: faults.refuse ? 'refusing' : 'ok' }));
      case '/metrics':
        return allow('GET', async () => {
          const text = await metrics.render();
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(text);
        });
      case '/admin/faults':
        return allow('GET, POST', () => handleAdmin(req, res));
      default:
        sendJson(res, 404, shape.formatError({ kind: 'not_found', message: `no route for ${method} ${quoteIdentifier(path)}` }));
    }
  }

  const modelContextWindow = (typeof options.model === 'string' ? modelPresets.find((m) => m.id === options.model)?.contextWindow : options.model.contextWindow) ?? Math.max(defaultContextWindow, inputTokens + meanOutputTokens);
  const contextWindow = servedContextWindow(modelContextWindow, scheduler.config.kvTokens);
  const maxModelLen = (): number => contextWindow;

  let inFlight = 0;
  const server = createServer({ noDelay: true }, (req, res) => {
    inFlight += 1;
    res.once('close', () => (inFlight -= 1));
    handle(req, res).catch((error: unknown) => {
      log(`error serving ${req.method ?? ''} ${(req.url ?? '').split('?')[0] ?? ''}: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) sendJson(res, 500, dialects.openai.formatError({ kind: 'api_error', message: 'internal emulator error' }));
      else res.destroy();
    });
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'the port is in use; choose another with --port (0 picks a free one)'
          : error.code === 'EACCES'
            ? 'permission denied; choose a port above 1023 with --port'
            : error.code === 'EMFILE'
              ? "too many open files: the process's limit (ulimit -n) is reached"
              : (error.code ?? error.message);
      reject(new EmulatorError(`cannot listen on ${host}:${options.port ?? 0}: ${why}`, error.code));
    };
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => log(`server error: ${error.message}`));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    model: modelName,
    chip: profile.chip,
    profile,
    kvTokens: scheduler.config.kvTokens,
    contextWindow,
    modelContextWindow,
    setFaults,
    faults: () => faults,
    stats: () => ({ running: scheduler.running, waiting: scheduler.waiting, kvUsage: scheduler.kvUsage, capacity: scheduler.capacity, maxQueue: scheduler.config.maxQueue, inFlight }),
    prefillTime: (promptTokens) => ({ firstTokenMs: scheduler.prefillMs(promptTokens) / speed, replicaMs: scheduler.prefillReplicaMs(promptTokens) / speed }),
    tpotMs: profile.tpotMs / speed,
    close(): Promise<void> {
      if (closing !== undefined) return closing;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      closing = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      generations.clear();
      heldTokens.clear();
      heldOutputTokens = 0;
      return closing;
    },
  };
}
