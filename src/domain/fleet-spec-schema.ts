import { z } from 'zod';
import { precisions } from '../catalog/accelerator.js';

/**
 * The fleet file as written by a user: the trust boundary. Objects are strict
 * (unknown keys are errors, so typos never silently vanish), numbers must be
 * finite and, unless said otherwise, positive.
 */

const positive = z.number().positive();
const positiveInt = z.number().int().positive();
const fraction = z.number().min(0).max(1);
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'an id of letters, digits, ".", "_", ":" or "-"');
const precision = z.enum(precisions);

const efficiencySchema = z.strictObject({
  decodeBandwidth: positive.max(1).optional(),
  prefillCompute: positive.max(1).optional(),
  trainingMfu: positive.max(1).optional(),
});

/** A chip entry: overrides a catalog chip with the same id, or defines a new chip (then the starred fields are required). */
export const chipSpecSchema = z.strictObject({
  id,
  name: z.string().optional(),
  vendor: z.string().min(1).optional(), // *
  year: positiveInt.optional(),
  peakTflops: z
    .strictObject({ bf16: positive.optional(), fp8: positive.optional(), int8: positive.optional(), fp4: positive.optional() })
    .optional(), // * (bf16)
  hbmGB: positive.optional(), // *
  hbmTBps: positive.optional(), // *
  itPowerW: positive.optional(), // *
  scaleUpDomain: positiveInt.optional(),
  scaleUpGBps: positive.optional(),
  efficiency: efficiencySchema.optional(),
  pricePerChipHour: z.record(z.string(), positive).optional(),
  source: z.string().optional(),
});

/** A model entry: overrides a preset with the same id, or defines a new model. */
export const modelSpecSchema = z.strictObject({
  id,
  name: z.string().optional(),
  params: positive.optional(), // *
  activeParams: positive.optional(),
  layers: positiveInt.optional(), // *
  kvHeads: positiveInt.optional(), // *
  headDim: positiveInt.optional(), // *
  hiddenSize: positiveInt.optional(),
  precision: precision.optional(),
  contextWindow: positiveInt.optional(),
  source: z.string().optional(),
});

export const siteSpecSchema = z.strictObject({
  id,
  powerMW: positive,
  pue: z.number().min(1, 'a PUE of at least 1 (facility power cannot be below IT power)').max(3),
});

export const pricingModes = ['committed', 'on-demand', 'spot'] as const;
export type PricingMode = (typeof pricingModes)[number];

export const poolSpecSchema = z.strictObject({
  id,
  provider: id,
  region: id,
  jurisdiction: id,
  site: id.optional(),
  chip: id,
  chips: positiveInt,
  pricing: z.enum(pricingModes),
  pricePerChipHour: positive.optional(),
  /** PUE of this pool when it has no site; the site's PUE otherwise. */
  pue: z.number().min(1).max(3).optional(),
});

export const serviceSpecSchema = z.strictObject({
  id,
  model: id,
  requestsPerSecond: positive,
  inputTokens: positiveInt,
  outputTokens: positiveInt,
  slo: z.strictObject({ ttftMs: positive, tpotMs: positive }),
  jurisdictions: z.array(id).min(1, 'at least one jurisdiction'),
  /** Serving precision; the model's own precision otherwise. */
  precision: precision.optional(),
});

export const trainingJobSpecSchema = z.strictObject({
  id,
  model: id,
  tokens: positive,
  deadlineDays: positive,
  jurisdictions: z.array(id).min(1, 'at least one jurisdiction'),
  /** Model-FLOPs utilisation; the chip's default otherwise. */
  mfu: positive.max(1).optional(),
  precision: precision.optional(),
  /** Bytes of training state per parameter (weights, gradients, optimizer); 16 for mixed-precision Adam. */
  stateBytesPerParam: positive.optional(),
});

export const objectives = ['cost', 'power', 'balanced'] as const;
export type Objective = (typeof objectives)[number];

export const policySpecSchema = z.strictObject({
  objective: z.enum(objectives).default('cost'),
  headroom: z.number().min(0).max(10).default(0),
  survive: z
    .strictObject({ lose: z.enum(['provider', 'region']), keep: fraction })
    .optional(),
  maxShare: z.strictObject({ provider: positive.max(1).optional(), chipVendor: positive.max(1).optional() }).optional(),
  /** PUE for pools with neither a site nor a `pue` of their own. */
  defaultPue: z.number().min(1).max(3).default(1.2),
  /** Planner wall-clock budget in seconds. */
  timeLimitSeconds: positive.max(3600).default(60),
  /** Relative MIP gap at which the planner stops. */
  mipGap: positive.max(1).default(0.005),
});

export const fleetSpecSchema = z.strictObject({
  version: z.literal(1),
  jurisdictions: z.array(id).optional(),
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
