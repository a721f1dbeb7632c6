import { parse } from 'csv-parse/sync';
import type { MeasuredProfile } from './fleet.js';
import type { Result, SpecProblem } from './spec-problem.js';
import { didYouMean } from './suggest.js';

const columns = ['chip', 'model', 'tensorParallel', 'batch', 'tokensPerSecond', 'ttftMs', 'tpotMs'] as const;
/** Optional columns: the request shape a row was measured at. */
const shapeColumns = ['inputTokens', 'outputTokens'] as const;

/** The chip and model ids a profile row may name (those of the catalog and of the fleet file). */
export interface KnownNames {
  readonly chips: Iterable<string> & { has(id: string): boolean };
  readonly models: Iterable<string> & { has(id: string): boolean };
}

/**
 * Parses a CSV of measured serving profiles (one row per chip, model,
 * tensor-parallel size and batch, optionally the inputTokens/outputTokens it was
 * measured at). Column order is free; the header names them. With `known`, a row's
 * chip and model are checked too, located at their cells with the row's other problems.
 */
export function parseMeasuredProfiles(text: string, file: string, known?: KnownNames): Result<MeasuredProfile[]> {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // bom: Excel's "CSV UTF-8" starts with a byte-order mark, which would be read into the first column's name.
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true, comment: '#', relax_column_count: false, info: true }) as unknown as typeof records;
  } catch (error) {
    const where = error as { lines?: number; message?: string };
    return { ok: false, problems: [{ code: 'syntax', file, line: where.lines ?? 0, column: 1, path: '', message: `CSV syntax error: ${where.message ?? 'unreadable'}` }] };
  }
  const [first, ...body] = records;
  const header = first?.record;
  if (header === undefined) return { ok: true, value: [] };
  const problems: SpecProblem[] = [];
  const index = new Map(header.map((name, i) => [name, i]));
  const missing = columns.filter((name) => !index.has(name));
  if (missing.length > 0) {
    return { ok: false, problems: [{ code: 'missing_field', file, line: 1, column: 1, path: '', message: `profiles header lacks ${missing.join(', ')}`, suggestion: `the header must name ${columns.join(', ')}` }] };
  }
  const knownColumns = new Set<string>([...columns, ...shapeColumns]);
  const unknown = header.filter((name) => !knownColumns.has(name));
  if (unknown.length > 0) {
    return { ok: false, problems: unknown.map((name) => ({ code: 'unknown_key' as const, file, line: 1, column: header.indexOf(name) + 1, path: name, message: `unknown column '${name}'`, suggestion: didYouMean(name, knownColumns) ?? `columns are ${[...knownColumns].join(', ')}` })) };
  }
  const value: MeasuredProfile[] = [];
  body.forEach(({ record: row, info }) => {
    // The physical line (comments and blank lines counted), as an editor shows it.
    const line = info.lines;
    type Column = (typeof columns)[number] | (typeof shapeColumns)[number];
    const cell = (name: Column): string => row[index.get(name) ?? 0] ?? '';
    const numeric = (name: Column, integer: boolean): number => {
      const raw = cell(name);
      const number = Number(raw);
      if (raw === '' || !Number.isFinite(number) || number <= 0 || (integer && !Number.isInteger(number))) {
        problems.push({ code: 'invalid_value', file, line, column: (index.get(name) ?? 0) + 1, path: name, message: `expected a positive ${integer ? 'integer' : 'number'}, got '${raw}'` });
      }
      return number;
    };
    for (const [name, names, what] of [['chip', known?.chips, 'chip'], ['model', known?.models, 'model']] as const) {
      const value = cell(name);
      if (names === undefined || names.has(value)) continue;
      problems.push({ code: 'unknown_reference', file, line, column: (index.get(name) ?? 0) + 1, path: name, message: `unknown ${what} '${value}'`, ...suggestionFor(value, names) });
    }
    const profile: MeasuredProfile = {
      chip: cell('chip'),
      model: cell('model'),
      tensorParallel: numeric('tensorParallel', true),
      batch: numeric('batch', true),
      tokensPerSecond: numeric('tokensPerSecond', false),
      ttftMs: numeric('ttftMs', false),
      tpotMs: numeric('tpotMs', false),
      ...(index.has('inputTokens') && cell('inputTokens') !== '' ? { inputTokens: numeric('inputTokens', true) } : {}),
      ...(index.has('outputTokens') && cell('outputTokens') !== '' ? { outputTokens: numeric('outputTokens', true) } : {}),
    };
    value.push(profile);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value };
}

function suggestionFor(value: string, names: Iterable<string>): { suggestion?: string } {
  const hint = didYouMean(value, names);
  return hint === undefined ? {} : { suggestion: hint };
}
