import { stringify } from 'yaml';
import type { Precision } from '../src/catalog/accelerator.js';
import { accelerators } from '../src/catalog/accelerators.js';
import type { ModelSpec } from '../src/catalog/model-preset.js';
import { modelPresets } from '../src/catalog/models.js';
import { inferenceProfile } from '../src/performance/inference-profile.js';
import { trainingProfile } from '../src/performance/training-profile.js';
import { seededRandom } from '../src/random/seeded-random.js';

/**
 * Synthetic fleets for benchmarks and property tests: deterministic for a seed,
 * shaped like real multi-cloud portfolios (each provider offers the chips it
 * really sells, services sized to about half the eligible capacity).
 */
export interface FleetSize {
  readonly pools: number;
  readonly services: number;
  readonly trainingJobs: number;
  readonly totalChips: number;
}


const offerings: Readonly<Record<string, readonly { chip: string; price: number }[]>> = {
  gcp: [{ chip: 'tpu7x', price: 2.4 }, { chip: 'tpu-v6e', price: 2.7 }, { chip: 'tpu-v5p', price: 4.2 }, { chip: 'h100', price: 10.98 }],
  aws: [{ chip: 'trainium2', price: 2.235 }, { chip: 'h200', price: 7.91 }, { chip: 'b200', price: 14.24 }, { chip: 'inferentia2', price: 1.08 }],
  azure: [{ chip: 'gb200', price: 10.5 }, { chip: 'gb300', price: 12 }, { chip: 'mi300x', price: 6 }, { chip: 'h100', price: 12.29 }],
  oci: [{ chip: 'mi355x', price: 5.5 }, { chip: 'gb200', price: 9.8 }, { chip: 'h200', price: 8.5 }],
  coreweave: [{ chip: 'h100', price: 6.2 }, { chip: 'gb200', price: 9.5 }, { chip: 'b200', price: 8.6 }],
};
const jurisdictions = ['us', 'us', 'us', 'eu', 'eu', 'uk', 'jp', 'ca'];
const models = [
  { id: 'frontier-m', name: 'frontier-m', params: 1.2e12, activeParams: 1.0e11, layers: 120, kvHeads: 16, headDim: 128, precision: 'fp8' as Precision, source: 'synthetic' },
  { id: 'frontier-s', name: 'frontier-s', params: 3.0e11, activeParams: 3.0e10, layers: 80, kvHeads: 8, headDim: 128, precision: 'fp8' as Precision, source: 'synthetic' },
];
const modelById = new Map<string, ModelSpec>([...modelPresets, ...models].map((m) => [m.id, m]));
const chipById = new Map(accelerators.map((c) => [c.id, c]));
const servedModels = ['frontier-m', 'frontier-s', 'llama-3.1-70b', 'llama-3.1-8b', 'mixtral-8x7b', 'deepseek-v3'];

/** Builds a fleet spec object (the same shape a YAML file has). */
export function generateFleetSpec(size: FleetSize, seed = 1): Record<string, unknown> {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const providers = Object.keys(offerings);
  const chipsPerPool = Math.max(8, Math.round(size.totalChips / size.pools));
  const pools: { id: string; provider: string; region: string; jurisdiction: string; chip: string; chips: number; pricing: string; pricePerChipHour: number; pue: number }[] = [];
  for (let i = 0; i < size.pools; i += 1) {
    const provider = providers[i % providers.length] as string;
    const offer = pick(offerings[provider] ?? []);
    const jurisdiction = jurisdictions[Math.floor(i / providers.length) % jurisdictions.length] as string;
    const chips = Math.max(8, Math.round(chipsPerPool * (0.5 + random())));
    pools.push({
      id: `p${i}-${provider}-${offer.chip}`,
      provider,
      region: `${jurisdiction}-region-${i % 7}`,
      jurisdiction,
      chip: offer.chip,
      chips,
      pricing: random() < 0.4 ? 'committed' : random() < 0.8 ? 'on-demand' : 'spot',
      pricePerChipHour: Math.round(offer.price * (0.8 + 0.4 * random()) * 100) / 100,
      pue: 1.1 + Math.round(random() * 3) / 10,
    });
  }
  // Demand: each service gets a random share (30-70% split among the services
  // competing for a jurisdiction) of what its eligible pools could serve, so the
  // fleet runs at roughly half its capacity, as a planned fleet does.
  const drafts = [];
  const present = [...new Set(pools.map((pool) => pool.jurisdiction))];
  for (let i = 0; i < size.services; i += 1) {
    const home = pick(present);
    drafts.push({
      id: `svc${i}`,
      model: pick(servedModels),
      inputTokens: pick([1000, 2000, 4000, 8000]),
      outputTokens: pick([200, 400, 500, 800]),
      slo: { ttftMs: pick([2000, 4000, 10000]), tpotMs: pick([40, 50, 80, 100]) },
      jurisdictions: random() < 0.3 ? [...new Set([home, pick(present)])] : [home],
    });
  }
  const competitors = new Map<string, number>();
  for (const draft of drafts) for (const j of draft.jurisdictions) competitors.set(j, (competitors.get(j) ?? 0) + 1);
  const services = drafts.map((draft) => {
    const model = modelById.get(draft.model) as ModelSpec;
    let capacity = 0;
    for (const pool of pools) {
      if (!draft.jurisdictions.includes(pool.jurisdiction)) continue;
      const profile = inferenceProfile(model, chipById.get(pool.chip) as (typeof accelerators)[number], { precision: model.precision, inputTokens: draft.inputTokens, outputTokens: draft.outputTokens, tpotMs: draft.slo.tpotMs, ttftMs: draft.slo.ttftMs });
      if (profile.feasible) capacity += (Math.floor(pool.chips / profile.chipsPerReplica) * profile.outputTokensPerSecond) / (competitors.get(pool.jurisdiction) ?? 1);
    }
    const tokens = capacity * (0.3 + 0.4 * random());
    return { ...draft, requestsPerSecond: Math.max(0.1, Math.round((tokens / draft.outputTokens) * 10) / 10) };
  });
  const trainingJobs = [];
  for (let i = 0; i < size.trainingJobs; i += 1) {
    const model = pick(['frontier-s', 'llama-3.1-70b', 'llama-3.1-8b', 'llama-3.1-405b']);
    const deadlineDays = pick([30, 60, 90]);
    // Sized to need 20-60% of a typical trainium2 pool by its deadline.
    const perChip = trainingProfile(modelById.get(model) as ModelSpec, chipById.get('trainium2') as (typeof accelerators)[number], { precision: 'bf16', stateBytesPerParam: 16 }).tokensPerSecondPerChip;
    trainingJobs.push({
      id: `train${i}`,
      model,
      tokens: Math.round(chipsPerPool * (0.2 + 0.4 * random()) * perChip * deadlineDays * 86400),
      deadlineDays,
      jurisdictions: [pick(present)],
    });
  }
  return {
    version: 1,
    models: models.map(({ source: _source, name: _name, ...rest }) => rest),
    pools,
    services,
    trainingJobs,
    policy: { objective: 'cost', headroom: 0.2, survive: { lose: 'provider', keep: 0.5 }, maxShare: { provider: 0.7, chipVendor: 0.8 } },
  };
}

export function generateFleetYaml(size: FleetSize, seed = 1): string {
  return stringify(generateFleetSpec(size, seed), { lineWidth: 0 });
}
