import { z } from 'zod';
import { precisions } from '../catalog/accelerator.js';
import { jurisdictionIdSchema } from './jurisdictions.js';
import { idPattern, idRule } from './id-pattern.js';

/**
 * The fleet file as written by a user: the trust boundary. Objects are strict
 * (unknown keys are errors, so typos never silently vanish), numbers must be
 * finite and, unless said otherwise, positive.
 */

const positiveInt = z.number().int().positive();
/**
 * A positive number within physical sense. The bounds are far outside any real
 * fleet but keep the solver's coefficients representable (a price of 1e307 $/h
 * or a demand of 1e-15 requests/s is a typo, not a plan).
 */
const within = (min: number, max: number) => z.number().min(min).max(max);
const count = (max: number) => z.number().int().positive().max(max);
const fraction = z.number().min(0).max(1);
const id = z.string().regex(idPattern, idRule);
/** An id as every list of the spec writes one (for checking one field of an entry alone). */
export const idSchema = id;
const precision = z.enum(precisions);

const efficiencySchema = z.strictObject({
  decodeBandwidth: within(1e-3, 1).optional(),
  prefillCompute: within(1e-3, 1).optional(),
  trainingMfu: within(1e-3, 1).optional(),
});

/** A chip entry: overrides a catalog chip with the same id, or defines a new chip (then the starred fields are required). */
export const chipSpecSchema = z.strictObject({
  id,
  name: z.string().optional(),
  vendor: z.string().min(1).optional(), // *
  year: positiveInt.optional(),
  peakTflops: z
    .strictObject({ bf16: within(1e-3, 1e7).optional(), fp8: within(1e-3, 1e7).optional(), int8: within(1e-3, 1e7).optional(), fp4: within(1e-3, 1e7).optional() })
    .optional(), // * (bf16)
  hbmGB: within(1e-3, 1e6).optional(), // *
  hbmTBps: within(1e-3, 1e4).optional(), // *
  itPowerW: within(1, 1e6).optional(), // *
  scaleUpDomain: count(1e6).optional(),
  scaleUpGBps: within(1e-3, 1e7).optional(),
  efficiency: efficiencySchema.optional(),
  pricePerChipHour: z.record(z.string(), within(1e-6, 1e5)).optional(),
  source: z.string().optional(),
});

/** A model entry: overrides a preset with the same id, or defines a new model. */
export const modelSpecSchema = z.strictObject({
  id,
  name: z.string().optional(),
  params: within(1e3, 1e16).optional(), // *
  activeParams: within(1e3, 1e16).optional(),
  layers: count(1e4).optional(), // *
  kvHeads: count(1e4).optional(), // *
  headDim: count(1e5).optional(), // *
  hiddenSize: count(1e7).optional(),
  precision: precision.optional(),
  contextWindow: count(1e9).optional(),
  source: z.string().optional(),
});

export const siteSpecSchema = z.strictObject({
  id,
  powerMW: within(1e-3, 1e6),
  pue: z.number().min(1, 'a PUE of at least 1 (facility power cannot be below IT power)').max(3),
});

export const pricingModes = ['committed', 'on-demand', 'spot'] as const;
export type PricingMode = (typeof pricingModes)[number];

export const poolSpecSchema = z.strictObject({
  id,
  provider: id,
  region: id,
  jurisdiction: jurisdictionIdSchema,
  site: id.optional(),
  chip: id,
  chips: count(1e8),
  pricing: z.enum(pricingModes),
  pricePerChipHour: within(1e-6, 1e5).optional(),
  /** PUE of this pool when it has no site; the site's PUE otherwise. */
  pue: z.number().min(1).max(3).optional(),
});

export const serviceSpecSchema = z.strictObject({
  id,
  model: id,
  requestsPerSecond: within(1e-6, 1e9),
  inputTokens: count(1e8),
  outputTokens: count(1e8),
  slo: z.strictObject({ ttftMs: within(1e-3, 1e8), tpotMs: within(1e-3, 1e8) }),
  jurisdictions: z.array(jurisdictionIdSchema).min(1, 'at least one jurisdiction'),
  /** Serving precision; the model's own precision otherwise. */
  precision: precision.optional(),
});

export const trainingJobSpecSchema = z.strictObject({
  id,
  model: id,
  tokens: within(1, 1e18),
  deadlineDays: within(1e-3, 36500),
  jurisdictions: z.array(jurisdictionIdSchema).min(1, 'at least one jurisdiction'),
  /** Model-FLOPs utilisation; the chip's default otherwise. */
  mfu: within(1e-3, 1).optional(),
  precision: precision.optional(),
  /** Bytes of training state per parameter (weights, gradients, optimizer); 16 for mixed-precision Adam. */
  stateBytesPerParam: within(0.1, 1000).optional(),
});

export const objectives = ['cost', 'power', 'balanced'] as const;
export type Objective = (typeof objectives)[number];

export const policySpecSchema = z.strictObject({
  objective: z.enum(objectives).default('cost'),
  headroom: z.number().min(0).max(10).default(0),
  survive: z
    .strictObject({ lose: z.enum(['provider', 'region']), keep: fraction })
    .optional(),
  maxShare: z.strictObject({ provider: within(1e-3, 1).optional(), chipVendor: within(1e-3, 1).optional() }).optional(),
  /** PUE for pools with neither a site nor a `pue` of their own. */
  defaultPue: z.number().min(1).max(3).default(1.2),
  /** Planner wall-clock budget in seconds. */
  timeLimitSeconds: within(0.1, 3600).default(60),
  /** Relative MIP gap at which the planner stops. */
  mipGap: within(1e-9, 1).default(0.005),
});

export const fleetSpecSchema = z.strictObject({
  version: z.literal(1),
  jurisdictions: z.array(jurisdictionIdSchema).optional(),
  chips: z.array(chipSpecSchema).optional(),
  models: z.array(modelSpecSchema).optional(),
  /** Path (relative to the fleet file) of a CSV of measured performance profiles. */
  profiles: z.string().min(1).optional(),
  sites: z.array(siteSpecSchema).default([]),
  pools: z.array(poolSpecSchema).min(1, 'at least one pool'),
  services: z.array(serviceSpecSchema).default([]),
  trainingJobs: z.array(trainingJobSpecSchema).default([]),
  policy: policySpecSchema.default({
    objective: 'cost',
    headroom: 0,
    defaultPue: 1.2,
    timeLimitSeconds: 60,
    mipGap: 0.005,
  }),
});

export type FleetSpec = z.infer<typeof fleetSpecSchema>;
export type ChipSpecInput = z.infer<typeof chipSpecSchema>;
export type ModelSpecInput = z.infer<typeof modelSpecSchema>;
export type PoolSpec = z.infer<typeof poolSpecSchema>;
export type ServiceSpec = z.infer<typeof serviceSpecSchema>;
export type TrainingJobSpec = z.infer<typeof trainingJobSpecSchema>;
export type PolicySpec = z.infer<typeof policySpecSchema>;
