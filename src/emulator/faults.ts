import { z } from 'zod';

/** Faults an emulated replica injects; set by flags at start and through `/admin/faults` at run time. */
export interface Faults {
  /** Fraction of chat requests answered with `errorStatus` (0..1). */
  readonly errorRate: number;
  /** HTTP status of injected errors (400..599), answered in the caller's dialect. */
  readonly errorStatus: number;
  /** Added before the first byte of every chat response (emulated ms, divided by the speed). */
  readonly addedLatencyMs: number;
  /** Hang before the first token, holding the batch slot (emulated ms); -1 hangs until the client disconnects. */
  readonly hangMs: number;
  /** Destroy a stream's connection, with no terminal frame, after this many tokens; null is off. */
  readonly cutAfterTokens: number | null;
  /** Fraction of tokens replaced by the `<corrupt>` marker (0..1). */
  readonly corruptRate: number;
  /** Destroy new connections at once and answer /health with 503. */
  readonly refuse: boolean;
}

export const noFaults: Faults = {
  errorRate: 0,
  errorStatus: 500,
  addedLatencyMs: 0,
  hangMs: 0,
  cutAfterTokens: null,
  corruptRate: 0,
  refuse: false,
};

export type FaultsUpdate = { -readonly [K in keyof Faults]?: Faults[K] };

const fraction = (name: string) => z.number({ error: `${name} must be a number between 0 and 1` }).min(0, `${name} must be between 0 and 1`).max(1, `${name} must be between 0 and 1`);

/** A partial update of the faults: unknown fields are rejected so a typo never silently does nothing. */
export const faultsUpdateSchema = z.strictObject({
  errorRate: fraction('errorRate').optional(),
  errorStatus: z.number({ error: 'errorStatus must be an HTTP status' }).int('errorStatus must be a whole number').min(400, 'errorStatus must be 400..599').max(599, 'errorStatus must be 400..599').optional(),
  addedLatencyMs: z.number({ error: 'addedLatencyMs must be a number of ms' }).min(0, 'addedLatencyMs must be >= 0').optional(),
  hangMs: z.number({ error: 'hangMs must be a number of ms' }).refine((value) => value === -1 || (value >= 0 && Number.isFinite(value)), 'hangMs must be >= 0, or -1 to hang until the client disconnects').optional(),
  cutAfterTokens: z.number({ error: 'cutAfterTokens must be a whole number or null' }).int('cutAfterTokens must be a whole number').min(0, 'cutAfterTokens must be >= 0').nullable().optional(),
  corruptRate: fraction('corruptRate').optional(),
  refuse: z.boolean({ error: 'refuse must be true or false' }).optional(),
});

export type ParsedFaults = { readonly ok: true; readonly value: FaultsUpdate } | { readonly ok: false; readonly message: string };

/** Validates a faults update (a JSON body or options); the message names the field and the rule. */
export function parseFaultsUpdate(input: unknown): ParsedFaults {
  const parsed = faultsUpdateSchema.safeParse(input);
  if (!parsed.success) {
    const message = parsed.error.issues
      .map((issue) => {
        if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((key) => `'${key}'`).join(', ')}; known: ${Object.keys(noFaults).join(', ')}`;
        if (issue.path.length === 0) return `the body must be a JSON object with fields among ${Object.keys(noFaults).join(', ')}`;
        return issue.message;
      })
      .join('; ');
    return { ok: false, message };
  }
  const value: FaultsUpdate = {};
  for (const [key, field] of Object.entries(parsed.data) as [keyof Faults, Faults[keyof Faults] | undefined][]) {
    if (field !== undefined) (value as Record<string, unknown>)[key] = field;
  }
  return { ok: true, value };
}

/** The faults after a validated partial update. */
export function applyFaults(current: Faults, update: FaultsUpdate): Faults {
  return { ...current, ...update };
}
