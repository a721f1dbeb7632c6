import type { AcceleratorSpec } from '../../catalog/accelerator.js';
import { accelerators } from '../../catalog/accelerators.js';
import type { ModelSpec } from '../../catalog/model-preset.js';
import { modelPresets } from '../../catalog/models.js';
import type { Fleet } from '../../domain/fleet.js';
import { loadFleet } from '../../domain/load-fleet.js';
import { formatProblem, type SpecProblem } from '../../domain/spec-problem.js';
import { didYouMean } from '../../domain/suggest.js';
import type { Output } from '../output.js';
import { shownValue } from '../flag-parsers.js';
import { UsageError } from '../usage-error.js';

export interface ChipAndModel {
  readonly chip: AcceleratorSpec;
  readonly model: ModelSpec;
  readonly measured: Fleet['measuredProfiles'];
}

/**
 * The chip and model a `--chip`/`--model` pair names, from the catalog or, with
 * `--fleet`, from that fleet's overrides and measured profiles. Returns exit code
 * 2 after printing the fleet's problems; throws UsageError for an unknown id.
 */
export function resolveChipAndModel(options: { readonly chip: string; readonly model: string; readonly fleet?: string | undefined; readonly input: number; readonly output: number }, output: Output, onProblems: (problems: readonly SpecProblem[]) => void = () => undefined): ChipAndModel | 2 {
  let chips: ReadonlyMap<string, AcceleratorSpec> = new Map(accelerators.map((c) => [c.id, c]));
  let models: ReadonlyMap<string, ModelSpec> = new Map(modelPresets.map((m) => [m.id, m]));
  let measured: Fleet['measuredProfiles'] = [];
  if (options.fleet !== undefined) {
    const loaded = loadFleet(options.fleet);
    if (!loaded.ok) {
      for (const problem of loaded.problems) output.err(formatProblem(problem));
      onProblems(loaded.problems);
      return 2;
    }
    chips = loaded.value.chips;
    models = loaded.value.models;
    measured = loaded.value.measuredProfiles;
  }
  const chip = chips.get(options.chip);
  const model = models.get(options.model);
  // Both at once when both are wrong: fixing one should not uncover the other.
  const unknown = [
    // The value as given, but one that looks like a key pasted in the wrong place (R53); the catalog's and fleet's own ids are shown.
    ...(chip === undefined ? [`--chip: unknown chip ${shownValue(options.chip)}; ${didYouMean(options.chip, chips.keys()) ?? "run 'switchyard catalog' for the list"}`] : []),
    ...(model === undefined ? [`--model: unknown model ${shownValue(options.model)}; ${didYouMean(options.model, models.keys()) ?? "run 'switchyard catalog' for the presets"}`] : []),
  ];
  if (chip === undefined || model === undefined) throw new UsageError(unknown.join('\n'));
  // As the fleet spec checks a service's shape: requests that cannot fit the model are no profile.
  if (model.contextWindow !== undefined && options.input + options.output > model.contextWindow) {
    throw new UsageError(`--input plus --output (${options.input + options.output} tokens) exceed model '${model.id}' context window of ${model.contextWindow}; lower them`);
  }
  return { chip, model, measured };
}
