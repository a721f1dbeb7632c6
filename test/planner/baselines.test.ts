import { describe, expect, it } from 'vitest';
import type { Fleet } from '../../src/domain/fleet.js';
import { parseFleet } from '../../src/domain/load-fleet.js';
import { bestSingleChipPerService, greedyCheapestFirst } from '../../src/planner/baselines.js';
import { evaluateDecision } from '../../src/planner/evaluate-decision.js';
import { buildPlanOptions } from '../../src/planner/plan-options.js';

function fleetWithSite(powerMW: number): Fleet {
  const text = [
    'version: 1',
    'sites:',
    `  - { id: s1, powerMW: ${String(powerMW)}, pue: 1.3 }`,
    'pools:',
    '  - { id: p1, provider: gcp, region: us-central1, jurisdiction: us, site: s1, chip: h100, chips: 16384, pricing: on-demand }',
    'services: []',
    'trainingJobs:',
    '  - { id: big, model: llama-3.1-70b, tokens: 3.0e12, deadlineDays: 7, jurisdictions: [us] }',
    'policy: { objective: cost, headroom: 0.2 }',
  ].join('\n');
  const result = parseFleet(text, 'site.yaml');
  if (!result.ok) throw new Error(result.problems.map((problem) => problem.message).join('\n'));
  return result.value;
}

describe('baselines', () => {
  it("place a training gang whose site's power matches its draw to rounding, as the evaluation accepts it (R57)", () => {
    const needed = buildPlanOptions(fleetWithSite(1000)).training[0]?.facilityMW ?? Number.NaN;
    expect(needed).toBeGreaterThan(1);
    // Short of the draw by less than its rounding (a billionth of it), as a site sized from a printed figure is.
    const fleet = fleetWithSite(needed * (1 - 5e-10));
    const options = buildPlanOptions(fleet);
    for (const baseline of [greedyCheapestFirst(fleet, options), bestSingleChipPerService(fleet, options)]) {
      expect(baseline.evaluation.violations, baseline.name).toEqual([]);
      expect(baseline.evaluation.trainingJobs).toMatchObject([{ id: 'big', pool: 'p1' }]);
    }
    expect(evaluateDecision(fleet, options, { replicas: [], trainingChosen: [true] }).violations).toEqual([]);
    // Short by more than that, it does not fit.
    const short = fleetWithSite(needed * (1 - 1e-6));
    expect(greedyCheapestFirst(short, buildPlanOptions(short)).evaluation.violations).toEqual(['training job big is not placed']);
  });
});
