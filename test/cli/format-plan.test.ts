import { describe, expect, it } from 'vitest';
import { loadFleetOrThrow, parseFleet } from '../../src/domain/load-fleet.js';
import { planFleet } from '../../src/planner/plan-fleet.js';
import { formatPlan } from '../../src/cli/format-plan.js';
import { usd } from '../../src/cli/output.js';
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
