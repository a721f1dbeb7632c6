/**
 * Figures in the planner's words (problems, violations, the plan's text), each rounded the way that
 * keeps it true next to the policy it is compared with.
 */

/** A policy's fraction (a cap, a share to keep) as a percent with the digits it was given: 0.3334 is 33.34%, not 33% (R59). */
export function formatPolicyPercent(fraction: number): string {
  return `${String(Number((fraction * 100).toFixed(2)))}%`;
}

/** A fraction found below a policy's, as a percent rounded down: 49.96% is 49.9%, not 50.0% below a 50% policy (R59). */
export function formatBelow(fraction: number): string {
  // (A hair added: 0.57 * 1000 is 569.99999999999994 in floating point.)
  return `${(Math.floor(fraction * 1000 + 1e-9) / 10).toFixed(1)}%`;
}

/** A fraction found above a policy's, as a percent rounded up: 50.04% is 50.1%, not 50.0% above a 50% cap. */
export function formatAbove(fraction: number): string {
  return `${(Math.ceil(fraction * 1000 - 1e-9) / 10).toFixed(1)}%`;
}

/** Tokens/s as people read them: whole numbers from 100 up, three significant digits below (0.48, not 0). */
export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumSignificantDigits: 3 });
}

/** A count of chips as people read it: 680,828, not 680828. */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}
