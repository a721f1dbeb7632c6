import { describe, expect, it } from 'vitest';
import { loadFleetOrThrow } from '../../src/domain/load-fleet.js';
import { planFleet } from '../../src/planner/plan-fleet.js';
import { formatPlan } from '../../src/cli/format-plan.js';
import { smallYamlPath } from '../helpers/paths.js';

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
