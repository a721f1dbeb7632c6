import { breaksCap } from '../planner/evaluate-decision.js';
import { limitTolerance } from '../planner/plan-options.js';
import { formatAbove, formatBelow, formatGiven, formatPolicyPercent, formatRate, percentDecimalsBeside } from '../planner/plan-figures.js';
import type { Plan } from '../planner/plan-report.js';
import { count, number, percent, table, usd } from './output.js';

/** The human summary of a plan: what runs where, what it costs and draws, and whether it survives. */
export function formatPlan(plan: Plan, file: string): string {
  const lines: string[] = [];
  const gap = Number.isFinite(plan.gap) ? `, gap ${percent(plan.gap, 2)}` : '';
  lines.push(`Plan for ${file}: ${plan.status.toUpperCase()} (${plan.policy.objective} objective) in ${plan.solveSeconds.toFixed(2)} s${gap}`);
  lines.push(
    `Marginal cost ${usd(plan.costPerHour)}/h · committed ${usd(plan.committedCostPerHour)}/h (stranded ${number(plan.strandedCommitted.chips)} chips, ${usd(plan.strandedCommitted.costPerHour)}/h) · power ${megawatts(plan.powerMW)} MW`,
  );
  lines.push('');
  lines.push('Allocations');
  lines.push(
    table(
      ['workload', 'kind', 'pool', 'chips', 'replicas', 'tokens/s', '$/h', 'MW'],
      plan.allocations.map((a) => [a.workload, a.kind, a.pool, number(a.chips), a.replicas === undefined ? '-' : `${number(a.replicas)} x ${a.chipsPerReplica}`, formatRate(a.tokensPerSecond), usd(a.costPerHour), megawatts(a.powerMW)]),
      ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
  if (plan.services.length > 0) {
    lines.push('');
    lines.push('Services (output tokens/s)');
    lines.push(
      table(
        ['service', 'jurisdictions', 'demand', 'with headroom', 'capacity', 'unmet'],
        plan.services.map((s) => [s.id, s.jurisdictions.join(','), formatRate(s.demandTokensPerSecond), formatRate(s.requiredTokensPerSecond), formatRate(s.capacityTokensPerSecond), formatRate(s.unmetTokensPerSecond)]),
        ['left', 'left', 'right', 'right', 'right', 'right'],
      ),
    );
  }
  if (plan.trainingJobs.length > 0) {
    lines.push('');
    lines.push('Training');
    lines.push(table(['job', 'pool', 'chips', 'days', 'deadline'], plan.trainingJobs.map((j) => [j.id, j.pool ?? 'NOT PLACED', number(j.chips), j.days === null ? '-' : number(j.days, 1), number(j.deadlineDays)]), ['left', 'left', 'right', 'right', 'right']));
  }
  lines.push('');
  const caps = plan.policy.maxShare;
  lines.push(`Shares of allocated facility power${caps.provider !== null || caps.chipVendor !== null ? ` (caps: provider ${caps.provider === null ? 'none' : formatPolicyPercent(caps.provider)}, chip vendor ${caps.chipVendor === null ? 'none' : formatPolicyPercent(caps.chipVendor)})` : ''}`);
  // With nothing allocated there are no shares (each would be 0/0).
  // Rounded down, so a provider's and its chip vendor's read alike (R63: 3.3% beside 3.4%); beside a cap, to its
  // digits, judged as the plan judges it (breaksCap): above it up, as the problems say it (R61: '50.0%' under 50%
  // beside '50.1% … above'), within it down (R62: 33.766% was '33.8%' under 33.78%), at it within the tolerance.
  const share = (value: number, cap: number | null): string => {
    if (cap === null) return formatBelow(value);
    if (breaksCap(value, cap)) return formatAbove(value, percentDecimalsBeside(cap));
    return formatBelow(Math.min(value, cap), percentDecimalsBeside(cap));
  };
  const shares = (of: Readonly<Record<string, number>>, cap: number | null): string =>
    Object.entries(of)
      .map(([k, v]) => `${k} ${share(v, cap)}`)
      .join(', ') || '- (nothing allocated)';
  lines.push(`  provider:    ${shares(plan.shares.provider, caps.provider)}`);
  lines.push(`  chip vendor: ${shares(plan.shares.chipVendor, caps.chipVendor)}`);
  if (plan.services.length > 0) {
    const survive = plan.policy.survive;
    lines.push('');
    lines.push(`Survival: worst single ${survive?.lose ?? 'provider'} loss per service${survive ? ` (policy keeps ${formatPolicyPercent(survive.keep)})` : ' (no policy)'}`);
    const worst = plan.services.map((s) => {
      const rows = plan.survival.filter((r) => r.service === s.id);
      const min = rows.reduce((best, r) => (r.keptFraction < best.keptFraction ? r : best), rows[0] ?? { lost: '-', keptFraction: Number.NaN });
      if (survive === undefined || survive === null || !Number.isFinite(min.keptFraction)) return [s.id, min.lost, percent(min.keptFraction), survive ? 'SHORT' : '-'];
      const short = min.keptFraction < survive.keep - limitTolerance;
      // Rounded down, as the problems say it (R59: 49.96% kept is 49.9%, not 50.0% SHORT of 50%), to the policy's
      // digits (R61: '75.5% ok' under a 75.51% policy); an ok one within the evaluation's tolerance is said at the policy.
      const kept = formatBelow(short ? min.keptFraction : Math.max(min.keptFraction, survive.keep), percentDecimalsBeside(survive.keep));
      return [s.id, min.lost, kept, short ? 'SHORT' : 'ok'];
    });
    lines.push(table(['service', 'worst loss', 'kept', 'policy'], worst, ['left', 'left', 'right', 'left']));
  }
  lines.push('');
  lines.push('Pools');
  lines.push(
    table(
      ['pool', 'provider', 'jurisdiction', 'chip', 'pricing', 'used', 'chips', 'util', 'MW'],
      plan.pools.map((p) => [p.id, p.provider, p.jurisdiction, p.chip, p.pricing, number(p.used), number(p.chips), percent(p.used / p.chips), megawatts(p.powerMW)]),
      ['left', 'left', 'left', 'left', 'left', 'right', 'right', 'right', 'right'],
    ),
  );
  if (plan.sites.length > 0) {
    lines.push('');
    // The envelope with every digit given, the draw to as many (R62: 'of 0.046 MW' for 0.0459 beside 'needs 0.046 MW, more than'),
    // at the envelope when within the evaluation's tolerance of it (R63: '0.05100000000 of 0.05099999745').
    lines.push(`Sites: ${plan.sites.map((s) => `${s.id} ${megawatts(s.powerMW > s.limitMW * (1 + limitTolerance) ? s.powerMW : Math.min(s.powerMW, s.limitMW), s.limitMW)} of ${megawatts(s.limitMW, s.limitMW)} MW`).join(' · ')}`);
  }
  lines.push('');
  lines.push('Baselines (marginal $/h)');
  lines.push(
    table(
      ['baseline', 'status', '$/h', 'MW', 'plan saves $/h'],
      plan.baselines.map((b) => [b.name, b.status === 'feasible' ? 'feasible' : `infeasible (${count(b.violations.length, 'violation')})`, usd(b.costPerHour), megawatts(b.powerMW), b.status === 'feasible' ? usd(b.planSavingsPerHour) : '-']),
      ['left', 'left', 'right', 'right', 'right'],
    ),
  );
  if (plan.problems.length > 0) {
    lines.push('');
    lines.push('Problems');
    for (const problem of plan.problems) lines.push(`  - ${problem}`);
  }
  return lines.join('\n');
}

/**
 * Megawatts as every table and line of a plan writes them: three decimals below 10 MW, one above (so 0.113
 * is not 0.1 in one place); beside a figure the spec `given` (a site's envelope), at least as many as it has.
 */
function megawatts(mw: number, given?: number): string {
  const digits = given === undefined ? 0 : (formatGiven(given).split('.')[1] ?? '').length;
  return number(mw, Math.max(mw < 10 ? 3 : 1, digits));
}
