import { z } from 'zod';
import { idPattern, idRule } from './id-pattern.js';
import { didYouMean, someOf } from './suggest.js';

/**
 * Data-residency jurisdictions Switchyard knows. A jurisdiction is where data may
 * be processed; a fleet file may declare more under `jurisdictions:`.
 */
export const knownJurisdictions: readonly string[] = [
  'us', 'eu', 'uk', 'jp', 'ca', 'au', 'in', 'sg', 'kr', 'br', 'ch', 'ae', 'sa', 'za', 'mx', 'id', 'tw', 'nz', 'no', 'il',
];

/**
 * Where a list of jurisdiction names (lowercased by the schema) repeats one: `[us, eu, US]` says
 * `us` twice, which is harmless but likely a slip. Holes (entries that failed the schema) are skipped.
 */
export function repeatedJurisdictions(values: readonly (string | undefined)[]): { readonly index: number; readonly value: string }[] {
  const seen = new Set<string>();
  const repeated: { index: number; value: string }[] = [];
  values.forEach((value, index) => {
    if (value === undefined) return;
    if (seen.has(value)) repeated.push({ index, value });
    seen.add(value);
  });
  return repeated;
}

/** A problem's message and suggestion, as fleet specs and gateway configs say them alike (spread into their report). */
export type JurisdictionProblem = readonly [message: string, suggestion: string];

/** What is said of a jurisdiction a list names twice. */
export function repeatedJurisdiction(value: string): JurisdictionProblem {
  return [`jurisdiction '${value}' is listed twice (names compare without case)`, 'list each once'];
}

/** What is said of a jurisdiction neither built in nor declared under `jurisdictions:`. */
export function unknownJurisdiction(value: string, known: ReadonlySet<string>): JurisdictionProblem {
  return [`unknown jurisdiction '${value}'`, didYouMean(value, known) ?? `use one of ${someOf(known)}, or declare it under 'jurisdictions:'`];
}

/** The longest jurisdiction name: as long as a request's inference_geo may be. */
export const maxJurisdictionChars = 64;

/** What isJurisdictionShaped asks, said to whoever wrote a name that breaks it. */
export const jurisdictionNameRule = `letters, digits, ".", "_", ":" or "-", starting with a letter or digit, at most ${String(maxJurisdictionChars)} characters`;

/** Whether a name is written as a jurisdiction's may be (its case aside; 'global' is refused apart). */
export function isJurisdictionShaped(name: string): boolean {
  return name.length <= maxJurisdictionChars && idPattern.test(name);
}

/**
 * A jurisdiction name, as fleet specs and gateway configs read it. Names compare without case (the
 * gateway's x-switchyard-jurisdiction header does too), so they are kept lowercase: a fleet's 'EU'
 * and the built-in 'eu' are one jurisdiction for the planner and for the gateway `up` configures.
 */
export const jurisdictionIdSchema = z
  .string()
  // As long as a request's inference_geo may name: said alone, not beside the id rule's 128 (R47).
  .max(maxJurisdictionChars, `at most ${String(maxJurisdictionChars)} characters`)
  .refine((value) => value.length > maxJurisdictionChars || isJurisdictionShaped(value), idRule)
  // Anthropic's inference_geo 'global' means "anywhere": a jurisdiction of that name could never be asked for.
  .refine((value) => value.toLowerCase() !== 'global', "'global' is reserved: a request's inference_geo 'global' means any jurisdiction; name it otherwise")
  .transform((value) => value.toLowerCase());
