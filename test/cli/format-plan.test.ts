import { describe, expect, it } from 'vitest';
import { loadFleetOrThrow, parseFleet } from '../../src/domain/load-fleet.js';
import { planFleet } from '../../src/planner/plan-fleet.js';
import { breaksCap } from '../../src/planner/evaluate-decision.js';
import { formatPlan } from '../../src/cli/format-plan.js';
import { usd } from '../../src/cli/output.js';
import { formatRate } from '../../src/planner/plan-figures.js';
import { readText, smallYamlPath } from '../helpers/paths.js';

describe('the plan as text', () => {
  it('writes the same megawatts alike everywhere: three decimals below 10 MW, in the sites and baselines too (E25: 0.113 was 0.1 there)', async () => {
    const plan = await planFleet(loadFleetOrThrow(smallYamlPath), {});
    const text = formatPlan(plan, 'small.yaml');
    const site = plan.sites[0] ?? expect.fail('small.yaml has a site');
    expect(site.powerMW).toBeLessThan(10);
    expect(text).toContain(`${site.id} ${site.powerMW.toFixed(3)} of ${site.limitMW < 10 ? site.limitMW.toFixed(3) : site.limitMW.toFixed(1)} MW`);
    for (const baseline of plan.baselines) expect(text).toMatch(new RegExp(`${baseline.name}\\s*│[^\\n]*│\\s*${baseline.powerMW.toFixed(3).replace('.', '\\.')}\\s*│`));
  });
});

describe('a plan short of capacity, as text', () => {
  it('blames capacity, not the loss of a provider with nothing there; a baseline that is infeasible saves nothing; money signs before the dollar (E35)', async () => {
    const short = parseFleet(readText(smallYamlPath).replace(/requestsPerSecond: 300$/m, 'requestsPerSecond: 300000'), 'short.yaml');
    if (!short.ok) throw new Error('the edited fleet parses');
    const plan = await planFleet(short.value, {});
    expect(plan.problems[0]).toMatch(/short .* of .*all eligible pools together could serve at most/);
    // Losing a provider is no cause here: azure has no pool in [us], and all the pools together keep 0.4% (R25).
    expect(plan.problems.filter((problem) => problem.startsWith('losing provider'))).toEqual([]);
    const text = formatPlan(plan, 'short.yaml');
    for (const baseline of plan.baselines.filter((b) => b.status !== 'feasible')) expect(text).toMatch(new RegExp(`${baseline.name}\\s*│[^\\n]*│\\s*-\\s*│`));
    expect([usd(-423), usd(-37.24), usd(5)]).toEqual(['-$423', '-$37.24', '$5.00']);
  });
});

describe('policies in the text, with the digits they were given', () => {
  it('a 33.34% cap and a 75.5% survival policy are not printed as 33% and 76% (as the problems say them since R59)', async () => {
    const spec = parseFleet(readText(smallYamlPath).replace('maxShare: { provider: 0.8 }', 'maxShare: { provider: 0.3334, chipVendor: 0.9 }').replace('keep: 0.5 }', 'keep: 0.755 }'), 'policies.yaml');
    if (!spec.ok) throw new Error('the edited fleet parses');
    const text = formatPlan(await planFleet(spec.value, {}), 'policies.yaml');
    expect(text).toContain('Shares of allocated facility power (caps: provider 33.34%, chip vendor 90%)');
    expect(text).toContain('loss per service (policy keeps 75.5%)');
  });
});

describe('the survival table', () => {
  it('writes a short service\'s kept share rounded down, as the problems do: 49.96% kept is 49.9%, not 50.0% SHORT of 50% (R59)', async () => {
    const plan = await planFleet(loadFleetOrThrow(smallYamlPath), {});
    expect(plan.policy.survive?.keep).toBe(0.5);
    const service = plan.services[0]?.id ?? expect.fail('small.yaml has a service');
    const survival = plan.survival.map((row) => (row.service === service ? { ...row, keptFraction: 0.49996 } : row));
    expect(formatPlan({ ...plan, survival }, 'small.yaml')).toMatch(new RegExp(`│ ${service}\\s*│ \\S+\\s*│\\s*49\\.9% │ SHORT`));
    // One met is rounded as any other share: 50.04% kept of 50% is 50.0% ok.
    const met = plan.survival.map((row) => (row.service === service ? { ...row, keptFraction: 0.50004 } : row));
    expect(formatPlan({ ...plan, survival: met }, 'small.yaml')).toMatch(new RegExp(`│ ${service}\\s*│ \\S+\\s*│\\s*50\\.0% │ ok`));
    // Beside a policy of two decimals, two decimals, rounded down; one met within the evaluation's tolerance at the policy (R61: '75.5% ok' under 75.51%).
    const strict = { ...plan, policy: { ...plan.policy, survive: { lose: 'provider' as const, keep: 0.7551 } } };
    const kept = (fraction: number): string => formatPlan({ ...strict, survival: plan.survival.map((row) => (row.service === service ? { ...row, keptFraction: fraction } : row)) }, 'small.yaml');
    expect(kept(0.75519)).toContain('(policy keeps 75.51%)');
    expect(kept(0.75519)).toMatch(new RegExp(`│ ${service}\\s*│ \\S+\\s*│\\s*75\\.51% │ ok`));
    expect(kept(0.7551 - 5e-7)).toMatch(new RegExp(`│ ${service}\\s*│ \\S+\\s*│\\s*75\\.51% │ ok`));
    expect(kept(0.75509)).toMatch(new RegExp(`│ ${service}\\s*│ \\S+\\s*│\\s*75\\.50% │ SHORT`));
  });
});

describe('the shares of the power', () => {
  it("writes each share beside its cap to the cap's digits, rounded away from it: 50.02% is 50.1% above a 50% cap, 33.766% is 33.76% under 33.78% (R61, R62)", async () => {
    const plan = await planFleet(loadFleetOrThrow(smallYamlPath), {});
    const capped = { ...plan, policy: { ...plan.policy, maxShare: { provider: 0.5, chipVendor: null } }, shares: { ...plan.shares, provider: { aws: 0.5002, gcp: 0.4998 } } };
    expect(formatPlan(capped, 'small.yaml')).toContain('  provider:    aws 50.1%, gcp 49.9%\n');
    const thirds = { ...plan, policy: { ...plan.policy, maxShare: { provider: 0.3378, chipVendor: null } }, shares: { ...plan.shares, provider: { aws: 0.33766, gcp: 0.33766, oci: 0.32468 } } };
    expect(formatPlan(thirds, 'small.yaml')).toContain('  provider:    aws 33.76%, gcp 33.76%, oci 32.46%\n');
    // A third each under a 33.33% cap is above it, within the evaluation's tolerance or not (R62: '33.3%' beside 'cannot hold').
    const over = { ...plan, policy: { ...plan.policy, maxShare: { provider: 0.3333, chipVendor: null } }, shares: { ...plan.shares, provider: { aws: 1 / 3, gcp: 1 / 3, oci: 1 / 3 } } };
    expect(formatPlan(over, 'small.yaml')).toContain('  provider:    aws 33.34%, gcp 33.34%, oci 33.34%\n');
    // Without a cap, down as well, so the same share reads alike in both lines (R63: 3.3% beside 3.4%).
    expect(formatPlan({ ...capped, policy: { ...plan.policy, maxShare: { provider: null, chipVendor: null } } }, 'small.yaml')).toContain('  provider:    aws 50.0%, gcp 49.9%\n');
    // Above the cap by no more than the evaluation's tolerance, at the cap, as the plan judges it (R63: '50.1%' on an optimal plan).
    const hair = { ...capped, shares: { ...plan.shares, provider: { aws: 0.50000002, gcp: 0.49999998 } } };
    expect(formatPlan(hair, 'small.yaml')).toContain('  provider:    aws 50.0%, gcp 49.9%\n');
    // Beyond that tolerance, above, and the plan says so too (R64: 50.005% read '50.1%' with no violation).
    const beyond = { ...capped, shares: { ...plan.shares, provider: { aws: 0.50005, gcp: 0.49995 } } };
    expect(formatPlan(beyond, 'small.yaml')).toContain('  provider:    aws 50.1%, gcp 49.9%\n');
    expect([breaksCap(0.50005, 0.5), breaksCap(0.50000002, 0.5)]).toEqual([true, false]);
  });
});

describe('the sites line', () => {
  it('writes an envelope with every digit given, and the draw to as many (R62: a 0.0037 MW site was 0.004)', async () => {
    const plan = await planFleet(loadFleetOrThrow(smallYamlPath), {});
    const sites = [{ id: 's1', limitMW: 0.0037, powerMW: 0.0037 }, { id: 's2', limitMW: 800, powerMW: 348.66 }, { id: 's3', limitMW: 12.25, powerMW: 1.5 }];
    expect(formatPlan({ ...plan, sites }, 'small.yaml')).toContain('Sites: s1 0.0037 of 0.0037 MW · s2 348.7 of 800.0 MW · s3 1.500 of 12.25 MW\n');
    // A draw above the envelope by no more than the evaluation's tolerance is at it, as the plan judges it (R63).
    const hair = [{ id: 's1', limitMW: 0.05099999745, powerMW: 0.051 }];
    expect(formatPlan({ ...plan, sites: hair }, 'small.yaml')).toContain('Sites: s1 0.05099999745 of 0.05099999745 MW\n');
  });
});

describe('a plan with tiny or no demand, as text', () => {
  it('writes rates below 100 tokens/s with three significant digits, not as 0 (E56: "short 0 of 0")', async () => {
    // One request in a thousand seconds of 400 output tokens, where no pool is: 0.4 tokens/s, 0.48 with 20% headroom.
    const tiny = parseFleet(readText(smallYamlPath).replace(/requestsPerSecond: 300$/m, 'requestsPerSecond: 0.001').replace('jurisdictions: [us]\n  - id: assist-eu', 'jurisdictions: [jp]\n  - id: assist-eu'), 'tiny.yaml');
    if (!tiny.ok) throw new Error('the edited fleet parses');
    const plan = await planFleet(tiny.value, {});
    expect(plan.problems[0]).toMatch(/^service chat-us is short 0\.48 of 0\.48 output tokens\/s in \[jp\]/);
    expect(formatPlan(plan, 'tiny.yaml')).toMatch(/│ chat-us\s*│ jp\s*│\s*0\.4 │\s*0\.48 │\s*0 │\s*0\.48 │/);
    expect([formatRate(0), formatRate(1234.5), formatRate(99.96), formatRate(0.0012345), formatRate(Number.NaN)]).toEqual(['0', '1,235', '100', '0.00123', '-']);
  });

  it('says nothing is allocated instead of a 0.0% share for every provider (E56)', async () => {
    // Every service and the training job where no pool is: nothing runs anywhere.
    const none = parseFleet(readText(smallYamlPath).replaceAll(/jurisdictions: \[(us|eu)\]/g, 'jurisdictions: [jp]'), 'none.yaml');
    if (!none.ok) throw new Error('the edited fleet parses');
    const plan = await planFleet(none.value, {});
    expect(plan.powerMW).toBe(0);
    // No share is 0/0 in --json either (R58).
    expect(plan.shares).toEqual({ provider: {}, chipVendor: {} });
    const text = formatPlan(plan, 'none.yaml');
    expect(text).toContain('  provider:    - (nothing allocated)\n  chip vendor: - (nothing allocated)');
    expect(text).not.toMatch(/aws 0\.0%/);
  });
});
