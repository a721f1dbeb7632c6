/**
 * Figures in the planner's words (problems, violations, the plan's text), each rounded the way that
 * keeps it true next to the policy it is compared with.
 */

/** A policy's fraction as a percent, without float noise: 0.3334 is '33.34', 0.33333 is '33.333'. */
function policyPercentDigits(fraction: number): string {
  return String(Number((fraction * 100).toPrecision(12)));
}

/** A policy's fraction (a cap, a share to keep) as a percent with every digit it was given: 0.3334 is 33.34%, not 33% (R59); 0.33333 is 33.333% (R61). */
export function formatPolicyPercent(fraction: number): string {
  return `${policyPercentDigits(fraction)}%`;
}

/** Decimals a percent needs to be compared with a policy: one, or as many as the policy's percent has (75.51% needs two). */
export function percentDecimalsBeside(policy: number): number {
  return Math.max(1, policyPercentDigits(policy).split('.')[1]?.length ?? 0);
}

/** A fraction found below a policy's, as a percent rounded down: 49.96% is 49.9%, not 50.0% below a 50% policy (R59). */
export function formatBelow(fraction: number, decimals = 1): string {
  const scaled = fraction * 10 ** (decimals + 2);
  // (A hair added, relative to the figure: 0.57 * 1000 is 569.99999999999994 in floating point, and 0.25001197 * 1e8 is 25001196.999999996.)
  return `${(Math.floor(scaled + Math.abs(scaled) * 1e-12 + 1e-9) / 10 ** decimals).toFixed(decimals)}%`;
}

/** A fraction found above a policy's, as a percent rounded up: 50.04% is 50.1%, not 50.0% above a 50% cap. */
export function formatAbove(fraction: number, decimals = 1): string {
  const scaled = fraction * 10 ** (decimals + 2);
  return `${(Math.ceil(scaled - Math.abs(scaled) * 1e-12 - 1e-9) / 10 ** decimals).toFixed(decimals)}%`;
}

/** Megawatts found, to the kilowatt, rounded up (a need, a draw above an envelope) or down (what is left). */
export function formatMegawatts(value: number, rounding: 'up' | 'down'): string {
  const kilowatts = rounding === 'up' ? Math.ceil(value * 1000 - 1e-9) : Math.floor(value * 1000 + 1e-9);
  return (kilowatts / 1000).toLocaleString('en-US', { minimumFractionDigits: 3, maximumFractionDigits: 3 });
}

/** A figure the spec gave (a site's envelope), with every digit it was given: 0.0037 MW is not 0.004. */
export function formatGiven(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 12 });
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
