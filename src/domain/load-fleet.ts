import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { AcceleratorSpec, Precision } from '../catalog/accelerator.js';
import { accelerators } from '../catalog/accelerators.js';
import type { ModelSpec } from '../catalog/model-preset.js';
import { modelPresets } from '../catalog/models.js';
import type { Fleet, MeasuredProfile, Pool, Service, Site, TrainingJob } from './fleet.js';
import type { z } from 'zod';
import { chipSpecSchema, fleetSpecSchema, idSchema, modelSpecSchema, poolSpecSchema, serviceSpecSchema, siteSpecSchema, trainingJobSpecSchema, type ChipSpecInput, type FleetSpec, type ModelSpecInput } from './fleet-spec-schema.js';
import { jurisdictionIdSchema, knownJurisdictions, repeatedJurisdiction, repeatedJurisdictions, unknownJurisdiction } from './jurisdictions.js';
import { parseMeasuredProfiles } from './measured-profiles.js';
import { inFileOrder, SpecError, type Result, type SpecProblem } from './spec-problem.js';
import { didYouMean } from './suggest.js';
import { wrongKindOfFile } from './wrong-kind-of-file.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';
import { readSpecFile, specText, standardInputName } from './read-spec-file.js';
import { problemsFromZod } from './zod-problems.js';

export interface LoadOptions {
  /** Reads a file named relative to the fleet file (the measured-profiles CSV). Injected for tests. */
  readonly readFile?: (path: string) => string;
  /** Service ids the caller cannot serve (`up`: a route named as metrics name no route), each with why and the fix: problems at the id. */
  readonly reservedServiceIds?: ReadonlyMap<string, { readonly message: string; readonly suggestion: string }>;
}

/** A profiles file that is not UTF-8 text: its problem, where it is in that file. */
class NotText extends Error {
  constructor(readonly problem: SpecProblem) {
    super(problem.message);
  }
}

/** The profiles CSV's text, checked as the fleet file's is (UTF-8, no NUL bytes). */
function profilesText(bytes: Buffer, file: string): string {
  const read = specText(bytes, file, 'the profiles file');
  if (!read.ok) throw new NotText(read.problem);
  return read.text;
}

/** Parses and resolves a fleet file's text. Never throws on bad input: problems come back as data. */
export function parseFleet(text: string, file: string, options: LoadOptions = {}): Result<Fleet> {
  const parsed = parseYamlSource(text, file);
  if (!parsed.ok) return { ok: false, problems: parsed.problems };
  const source = parsed.source;
  const readFile = options.readFile ?? ((path: string) => profilesText(readFileSync(resolve(dirname(file), path)), isAbsolute(path) ? path : join(dirname(file), path)));
  const checked = fleetSpecSchema.safeParse(source.data);
  if (!checked.success) {
    const wrongKind = wrongKindOfFile(source.data, file, 'fleet');
    if (wrongKind !== undefined) return { ok: false, problems: [wrongKind] };
    // The entries that are valid on their own are cross-checked too, so every problem comes in one round.
    const parts = validParts(source.data);
    const crossChecked = resolveFleet(parts.spec, source, readFile, options.reservedServiceIds, parts.unfinished);
    const problems = [...problemsFromZod(checked.error, source, fleetSpecSchema), ...(crossChecked.ok ? [] : crossChecked.problems)];
    return { ok: false, problems: inFileOrder(problems, source.file) };
  }
  const resolved = resolveFleet(checked.data, source, readFile, options.reservedServiceIds);
  return resolved.ok ? resolved : { ok: false, problems: inFileOrder(resolved.problems, source.file) };
}

/** What the entries of a spec that failed its schema still say (see validParts). */
interface Unfinished {
  /** Names of entries that failed the schema: a reference to one is not unknown, the entry's own problem is reported. */
  readonly sites: ReadonlySet<string>;
  readonly chips: ReadonlySet<string>;
  readonly models: ReadonlySet<string>;
  /** 'unchecked': the declared list itself is invalid, so no jurisdiction is called unknown. */
  readonly jurisdictions: 'unchecked' | undefined;
  /** Every entry's id, valid entry or not, by list and index (undefined where it has none): duplicates are found among all. */
  readonly ids: Readonly<Record<'sites' | 'pools' | 'services' | 'trainingJobs', readonly (string | undefined)[]>> | undefined;
  /** References in entries that failed the schema which are valid on their own: checked in the same round. */
  readonly references: readonly UnfinishedReference[];
}

interface UnfinishedReference {
  readonly path: readonly PropertyKey[];
  /** 'repeated-jurisdiction': a name listed again in the entry's list (reported, not looked up). */
  readonly kind: 'chip' | 'model' | 'site' | 'jurisdiction' | 'repeated-jurisdiction';
  readonly value: string;
}

/**
 * The parts of a spec that failed its schema which are valid on their own. Lists keep their
 * indexes: an invalid entry is a hole, which forEach and flatMap skip, so a cross-check problem
 * names the entry's place in the file.
 */
function validParts(data: unknown): { readonly spec: FleetSpec; readonly unfinished: Unfinished } {
  const top = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  const shape = fleetSpecSchema.shape;
  const invalid = { sites: new Set<string>(), chips: new Set<string>(), models: new Set<string>() };
  const references: UnfinishedReference[] = [];
  /** An invalid entry's references that are valid on their own: fields by kind, and a list of jurisdictions. */
  const referencesOf = (list: string, index: number, entry: Record<string, unknown>, fields: Readonly<Record<string, UnfinishedReference['kind']>>, jurisdictionList?: string): void => {
    for (const [field, kind] of Object.entries(fields)) {
      const parsed = (kind === 'jurisdiction' ? jurisdictionIdSchema : idSchema).safeParse(entry[field]);
      if (parsed.success) references.push({ path: [list, index, field], kind, value: parsed.data });
    }
    if (jurisdictionList === undefined) return;
    const values = entry[jurisdictionList];
    if (!Array.isArray(values)) return;
    const names = values.map((value: unknown) => {
      const parsed = jurisdictionIdSchema.safeParse(value);
      return parsed.success ? parsed.data : undefined;
    });
    names.forEach((name, position) => {
      if (name !== undefined) references.push({ path: [list, index, jurisdictionList, position], kind: 'jurisdiction', value: name });
    });
    for (const { index: position, value } of repeatedJurisdictions(names)) references.push({ path: [list, index, jurisdictionList, position], kind: 'repeated-jurisdiction', value });
  };
  const valid = <T>(value: unknown, item: z.ZodType<T>, onInvalid?: (entry: Record<string, unknown>, index: number) => void): T[] => {
    const kept: T[] = [];
    if (!Array.isArray(value)) return kept;
    kept.length = value.length;
    value.forEach((entry: unknown, index) => {
      const parsed = item.safeParse(entry);
      if (parsed.success) kept[index] = parsed.data;
      else if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) onInvalid?.(entry as Record<string, unknown>, index);
    });
    return kept;
  };
  const named = (names: Set<string>) => (entry: Record<string, unknown>): void => {
    const parsed = idSchema.safeParse(entry.id);
    if (parsed.success) names.add(parsed.data);
  };
  const ids = (value: unknown): (string | undefined)[] =>
    Array.isArray(value) ? value.map((entry: unknown) => {
      const parsed = idSchema.safeParse(typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).id : undefined);
      return parsed.success ? parsed.data : undefined;
    }) : [];
  const declared = shape.jurisdictions.safeParse(top.jurisdictions);
  const policy = shape.policy.safeParse(top.policy);
  const profiles = shape.profiles.safeParse(top.profiles);
  const spec: FleetSpec = {
    version: 1,
    jurisdictions: declared.success ? declared.data : undefined,
    chips: valid(top.chips, chipSpecSchema, named(invalid.chips)),
    models: valid(top.models, modelSpecSchema, named(invalid.models)),
    // An invalid path is reported by the schema; nothing is read.
    profiles: profiles.success ? profiles.data : undefined,
    sites: valid(top.sites, siteSpecSchema, named(invalid.sites)),
    pools: valid(top.pools, poolSpecSchema, (entry, index) => referencesOf('pools', index, entry, { jurisdiction: 'jurisdiction', chip: 'chip', site: 'site' })),
    services: valid(top.services, serviceSpecSchema, (entry, index) => referencesOf('services', index, entry, { model: 'model' }, 'jurisdictions')),
    trainingJobs: valid(top.trainingJobs, trainingJobSpecSchema, (entry, index) => referencesOf('trainingJobs', index, entry, { model: 'model' }, 'jurisdictions')),
    policy: policy.success ? policy.data : shape.policy.parse(undefined),
  };
  const allIds = { sites: ids(top.sites), pools: ids(top.pools), services: ids(top.services), trainingJobs: ids(top.trainingJobs) };
  return { spec, unfinished: { ...invalid, jurisdictions: declared.success ? undefined : 'unchecked', ids: allIds, references } };
}

/** Reads a fleet file from disk. */
export function loadFleet(file: string, options: LoadOptions = {}): Result<Fleet> {
  const read = readSpecFile(file, 'the fleet file');
  return read.ok ? parseFleet(read.text, read.file, options) : { ok: false, problems: [read.problem] };
}

export function loadFleetOrThrow(file: string, options: LoadOptions = {}): Fleet {
  const result = loadFleet(file, options);
  if (!result.ok) throw new SpecError(result.problems);
  return result.value;
}

const nothingUnfinished: Unfinished = { sites: new Set(), chips: new Set(), models: new Set(), jurisdictions: undefined, ids: undefined, references: [] };

function resolveFleet(spec: FleetSpec, source: YamlSource, readFile: (path: string) => string, reservedServiceIds: LoadOptions['reservedServiceIds'], unfinished: Unfinished = nothingUnfinished): Result<Fleet> {
  const problems: SpecProblem[] = [];
  const report = (path: readonly PropertyKey[], code: SpecProblem['code'], message: string, suggestion?: string): void => {
    const display = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
    problems.push({ code, file: source.file, ...source.locate(path), path: display, message, ...(suggestion === undefined ? {} : { suggestion }) });
  };

  const jurisdictions = new Set([...knownJurisdictions, ...(spec.jurisdictions ?? [])]);
  // Defined in the file but not whole (a new chip or model missing figures, or inconsistent): its own
  // problem is reported, a reference to it is not called unknown, and what it does give (a chip's
  // prices, a model's window) is still checked against its users.
  const incomplete = { chips: new Map<string, Readonly<Record<string, number>>>(), models: new Map<string, number | undefined>() };
  const chips = resolveChips(spec.chips ?? [], report, incomplete.chips);
  const models = resolveModels(spec.models ?? [], report, incomplete.models);

  // Ids of every entry, those that failed the schema included (map keeps a valid list's holes, which forEach skips).
  const idsOf = (list: 'sites' | 'pools' | 'services' | 'trainingJobs'): readonly (string | undefined)[] => unfinished.ids?.[list] ?? spec[list].map((item) => item.id);
  checkUnique(idsOf('sites'), ['sites'], 'site', report);
  checkUnique(idsOf('pools'), ['pools'], 'pool', report);
  // Services and training jobs share one namespace: plan allocations name them as "workload".
  const workloads = new Map<string, string>();
  for (const kind of ['services', 'trainingJobs'] as const) {
    idsOf(kind).forEach((id, index) => {
      if (id === undefined) return;
      const previous = workloads.get(id);
      if (previous !== undefined) report([kind, index, 'id'], 'duplicate_id', `workload id '${id}' is already used by ${previous}`, 'give every service and training job its own id');
      else workloads.set(id, `${kind}[${index}]`);
    });
  }
  idsOf('services').forEach((id, index) => {
    const reserved = id === undefined ? undefined : reservedServiceIds?.get(id);
    if (reserved !== undefined) report(['services', index, 'id'], 'invalid_value', reserved.message, reserved.suggestion);
  });

  // flatMap, not map: it skips the holes of a spec that failed its schema (see validParts).
  const sites: Site[] = spec.sites.flatMap((site) => [{ id: site.id, powerMW: site.powerMW, pue: site.pue }]);
  const siteById = new Map(sites.map((site) => [site.id, site]));

  const reportRepeatedAt = (path: readonly PropertyKey[], value: string): void => report(path, 'duplicate_id', ...repeatedJurisdiction(value));
  const reportRepeated = (path: readonly PropertyKey[], values: readonly string[]): void => {
    for (const { index, value } of repeatedJurisdictions(values)) reportRepeatedAt([...path, index], value);
  };
  reportRepeated(['jurisdictions'], spec.jurisdictions ?? []);
  const checkJurisdiction = (path: readonly PropertyKey[], value: string): void => {
    if (unfinished.jurisdictions === 'unchecked') return;
    if (jurisdictions.has(value)) return;
    report(path, 'unknown_reference', ...unknownJurisdiction(value, jurisdictions));
  };
  const lookupChip = (path: readonly PropertyKey[], id: string): AcceleratorSpec | undefined => {
    const chip = chips.get(id);
    if (chip === undefined && !unfinished.chips.has(id) && !incomplete.chips.has(id)) report(path, 'unknown_reference', `unknown chip '${id}'`, didYouMean(id, [...chips.keys(), ...incomplete.chips.keys()]) ?? "run 'switchyard catalog' for the list, or define it under 'chips:'");
    return chip;
  };
  const lookupModel = (path: readonly PropertyKey[], id: string): ModelSpec | undefined => {
    const model = models.get(id);
    if (model === undefined && !unfinished.models.has(id) && !incomplete.models.has(id)) report(path, 'unknown_reference', `unknown model '${id}'`, didYouMean(id, [...models.keys(), ...incomplete.models.keys()]) ?? "run 'switchyard catalog' for the presets, or define it under 'models:'");
    return model;
  };

  const checkSite = (path: readonly PropertyKey[], id: string): void => {
    if (!siteById.has(id) && !unfinished.sites.has(id)) report(path, 'unknown_reference', `unknown site '${id}'`, didYouMean(id, siteById.keys()) ?? "declare it under 'sites:'");
  };

  const pools: Pool[] = [];
  spec.pools.forEach((pool, index) => {
    checkJurisdiction(['pools', index, 'jurisdiction'], pool.jurisdiction);
    const chip = lookupChip(['pools', index, 'chip'], pool.chip);
    let pue = pool.pue ?? spec.policy.defaultPue;
    if (pool.site !== undefined) {
      const site = siteById.get(pool.site);
      if (site === undefined) checkSite(['pools', index, 'site'], pool.site);
      else if (pool.pue !== undefined && pool.pue !== site.pue) report(['pools', index, 'pue'], 'inconsistent', `pool PUE ${pool.pue} differs from its site's PUE ${site.pue}`, 'remove the pool PUE; a site has one PUE');
      else pue = site.pue;
    }
    // A chip defined here but incomplete: its own problem is reported; its pool's price is checked too.
    const prices = chip?.pricePerChipHour ?? incomplete.chips.get(pool.chip);
    if (prices === undefined) return;
    const price = pool.pricePerChipHour ?? prices[pool.provider];
    if (price === undefined) {
      const definedHere = spec.chips?.some((entry) => entry.id === pool.chip) === true;
      const known = Object.entries(prices).map(([cloud, usd]) => `${cloud} $${usd}`).join(', ');
      report(['pools', index], 'missing_field', `no price for chip '${pool.chip}' on provider '${pool.provider}' ${definedHere ? "in the fleet file's chips or the catalog" : 'in the catalog'}${known === '' ? '' : ` (known: ${known})`}`, 'set pricePerChipHour on the pool (committed pools need it too, to report their cost)');
      return;
    }
    if (chip === undefined) return;
    pools.push({ id: pool.id, provider: pool.provider, region: pool.region, jurisdiction: pool.jurisdiction, site: pool.site, chip, chips: pool.chips, pricing: pool.pricing, pricePerChipHour: price, pue });
  });

  const services: Service[] = [];
  spec.services.forEach((service, index) => {
    service.jurisdictions.forEach((j, k) => checkJurisdiction(['services', index, 'jurisdictions', k], j));
    reportRepeated(['services', index, 'jurisdictions'], service.jurisdictions);
    const model = lookupModel(['services', index, 'model'], service.model);
    const window = model === undefined ? incomplete.models.get(service.model) : model.contextWindow;
    if (window !== undefined && service.inputTokens + service.outputTokens > window) {
      report(['services', index, 'inputTokens'], 'inconsistent', `input plus output tokens (${service.inputTokens + service.outputTokens}) exceed model '${service.model}' context window of ${window}`, 'shorten the request shape or raise the model contextWindow');
    }
    if (model === undefined) return;
    services.push({
      id: service.id,
      model,
      precision: service.precision ?? model.precision,
      requestsPerSecond: service.requestsPerSecond,
      inputTokens: service.inputTokens,
      outputTokens: service.outputTokens,
      ttftMs: service.slo.ttftMs,
      tpotMs: service.slo.tpotMs,
      jurisdictions: [...new Set(service.jurisdictions)],
    });
  });

  const trainingJobs: TrainingJob[] = [];
  spec.trainingJobs.forEach((job, index) => {
    job.jurisdictions.forEach((j, k) => checkJurisdiction(['trainingJobs', index, 'jurisdictions', k], j));
    reportRepeated(['trainingJobs', index, 'jurisdictions'], job.jurisdictions);
    const model = lookupModel(['trainingJobs', index, 'model'], job.model);
    if (model === undefined) return;
    trainingJobs.push({
      id: job.id,
      model,
      precision: job.precision ?? 'bf16',
      tokens: job.tokens,
      deadlineDays: job.deadlineDays,
      jurisdictions: [...new Set(job.jurisdictions)],
      mfu: job.mfu,
      stateBytesPerParam: job.stateBytesPerParam ?? 16,
    });
  });

  for (const reference of unfinished.references) {
    if (reference.kind === 'jurisdiction') checkJurisdiction(reference.path, reference.value);
    else if (reference.kind === 'repeated-jurisdiction') reportRepeatedAt(reference.path, reference.value);
    else if (reference.kind === 'chip') lookupChip(reference.path, reference.value);
    else if (reference.kind === 'model') lookupModel(reference.path, reference.value);
    else checkSite(reference.path, reference.value);
  }

  const policy = spec.policy;
  let measuredProfiles: MeasuredProfile[] = [];
  if (spec.profiles !== undefined) {
    let csv: string | undefined;
    try {
      csv = readFile(spec.profiles);
    } catch (error) {
      if (error instanceof NotText) problems.push(error.problem);
      else report(['profiles'], 'file_unreadable', `cannot read profiles file '${spec.profiles}' (${(error as NodeJS.ErrnoException).code ?? 'error'})`, source.file === standardInputName ? 'give a path relative to the working folder (the fleet file came from standard input)' : 'give a path relative to the fleet file');
    }
    if (csv !== undefined) {
      // Named as read (see LoadOptions.readFile): next to the fleet file, or where an absolute path says.
      const csvFile = isAbsolute(spec.profiles) ? spec.profiles : join(dirname(source.file), spec.profiles);
      const parsedProfiles = parseMeasuredProfiles(csv, csvFile, { chips: new Set([...chips.keys(), ...unfinished.chips, ...incomplete.chips.keys()]), models: new Set([...models.keys(), ...unfinished.models, ...incomplete.models.keys()]) });
      if (!parsedProfiles.ok) problems.push(...parsedProfiles.problems);
      else measuredProfiles = parsedProfiles.value;
    }
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      file: source.file,
      sites,
      pools,
      services,
      trainingJobs,
      policy: {
        objective: policy.objective,
        headroom: policy.headroom,
        survive: policy.survive,
        maxShare: { provider: policy.maxShare?.provider, chipVendor: policy.maxShare?.chipVendor },
        timeLimitSeconds: policy.timeLimitSeconds,
        mipGap: policy.mipGap,
      },
      chips,
      models,
      measuredProfiles,
    },
  };
}

type Report = (path: readonly PropertyKey[], code: SpecProblem['code'], message: string, suggestion?: string) => void;

function checkUnique(ids: readonly (string | undefined)[], path: readonly PropertyKey[], what: string, report: Report): void {
  const seen = new Set<string>();
  ids.forEach((id, index) => {
    if (id === undefined) return;
    if (seen.has(id)) report([...path, index, 'id'], 'duplicate_id', `${what} id '${id}' appears more than once`, `give each ${what} its own id`);
    seen.add(id);
  });
}

type Defined<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

/** The fields a user actually wrote, so that overrides never blank a catalog value. */
function definedEntries<T extends object>(value: T): Defined<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Defined<T>;
}

function resolveChips(inputs: readonly ChipSpecInput[], report: Report, incomplete: Map<string, Readonly<Record<string, number>>>): Map<string, AcceleratorSpec> {
  const chips = new Map(accelerators.map((chip) => [chip.id, chip]));
  const seen = new Set<string>();
  inputs.forEach((input, index) => {
    if (seen.has(input.id)) report(['chips', index, 'id'], 'duplicate_id', `chip '${input.id}' is defined twice in this file`, 'merge the two entries');
    seen.add(input.id);
    const base = chips.get(input.id);
    const { efficiency, peakTflops, pricePerChipHour, source, ...rest } = input;
    if (base !== undefined) {
      chips.set(input.id, {
        ...base,
        ...definedEntries(rest),
        peakTflops: { ...base.peakTflops, ...definedEntries(peakTflops ?? {}) } as AcceleratorSpec['peakTflops'],
        efficiency: { ...base.efficiency, ...definedEntries(efficiency ?? {}) },
        pricePerChipHour: { ...base.pricePerChipHour, ...pricePerChipHour },
        ...(input.itPowerW === undefined ? {} : { powerBasis: 'measured', powerNote: `set by the fleet file${source === undefined ? '' : `: ${source}`}` }),
      });
      return;
    }
    const missing = (['vendor', 'hbmGB', 'hbmTBps', 'itPowerW'] as const).filter((key) => input[key] === undefined);
    if (peakTflops?.bf16 === undefined) missing.push('peakTflops.bf16' as never);
    if (missing.length > 0) {
      const hint = didYouMean(input.id, chips.keys());
      report(['chips', index], 'missing_field', `new chip '${input.id}' needs ${missing.join(', ')}`, hint === undefined ? 'give the missing figures' : `${hint} (an existing id overrides the catalog entry)`);
      // A second entry of the same id adds to the first's prices, as complete entries merge.
      incomplete.set(input.id, { ...incomplete.get(input.id), ...pricePerChipHour });
      return;
    }
    const note = source ?? 'defined in the fleet file';
    chips.set(input.id, {
      id: input.id,
      name: input.name ?? input.id,
      vendor: input.vendor ?? 'unknown',
      year: input.year ?? 0,
      peakTflops: { ...definedEntries(peakTflops ?? {}), bf16: peakTflops?.bf16 ?? 0 },
      hbmGB: input.hbmGB ?? 0,
      hbmTBps: input.hbmTBps ?? 0,
      itPowerW: input.itPowerW ?? 0,
      powerBasis: 'measured',
      powerNote: note,
      scaleUpDomain: input.scaleUpDomain ?? 8,
      scaleUpGBps: input.scaleUpGBps ?? 100,
      efficiency: { decodeBandwidth: 0.7, prefillCompute: 0.45, trainingMfu: 0.35, ...definedEntries(efficiency ?? {}) },
      // An earlier incomplete entry of this id gave prices too (its duplicate is reported).
      pricePerChipHour: { ...incomplete.get(input.id), ...pricePerChipHour },
      sources: { compute: note, memory: note, power: note, price: note, scaleUp: note },
      caveats: 'user-defined chip',
    });
  });
  return chips;
}

function resolveModels(inputs: readonly ModelSpecInput[], report: Report, incomplete: Map<string, number | undefined>): Map<string, ModelSpec> {
  const models = new Map(modelPresets.map((model) => [model.id, model]));
  const seen = new Set<string>();
  // A failed entry (a preset's override included) leaves no model to check against but what it says.
  const markIncomplete = (id: string, window: number | undefined): void => {
    models.delete(id);
    incomplete.set(id, window);
  };
  inputs.forEach((input, index) => {
    if (seen.has(input.id)) {
      report(['models', index, 'id'], 'duplicate_id', `model '${input.id}' is defined twice in this file`, 'merge the two entries');
      // After an entry of its id that failed, what this one would build on is unknown: it is told
      // only to merge (its figures are checked once merged), and its window is still the id's.
      if (incomplete.has(input.id)) {
        if (input.contextWindow !== undefined) incomplete.set(input.id, input.contextWindow);
        return;
      }
    }
    seen.add(input.id);
    const base = models.get(input.id);
    const merged = { ...(base ?? {}), ...definedEntries(input) } as Partial<ModelSpec> & { id: string };
    const missing = (['params', 'layers', 'kvHeads', 'headDim'] as const).filter((key) => merged[key] === undefined);
    if (missing.length > 0) {
      const hint = didYouMean(input.id, models.keys());
      report(['models', index], 'missing_field', `new model '${input.id}' needs ${missing.join(', ')}`, hint === undefined ? 'give the missing figures' : `${hint} (an existing id overrides the preset)`);
      markIncomplete(input.id, merged.contextWindow);
      return;
    }
    const params = merged.params ?? 0;
    const activeParams = merged.activeParams ?? params;
    if (activeParams > params) {
      report(['models', index, 'activeParams'], 'inconsistent', `activeParams (${activeParams}) exceeds params (${params})`, 'active parameters are a subset of all parameters');
      markIncomplete(input.id, merged.contextWindow);
      return;
    }
    const precision: Precision = merged.precision ?? 'bf16';
    models.set(input.id, {
      id: input.id,
      name: merged.name ?? input.id,
      params,
      activeParams,
      layers: merged.layers ?? 0,
      kvHeads: merged.kvHeads ?? 0,
      headDim: merged.headDim ?? 0,
      ...(merged.hiddenSize === undefined ? {} : { hiddenSize: merged.hiddenSize }),
      precision,
      ...(merged.contextWindow === undefined ? {} : { contextWindow: merged.contextWindow }),
      source: merged.source ?? 'defined in the fleet file',
    });
  });
  return models;
}
