import type { z } from 'zod';
import { formatPath, type SpecProblem } from './spec-problem.js';
import { closestMatch, didYouMean } from './suggest.js';
import type { YamlSource } from './yaml-source.js';

/**
 * Turns zod issues into located, human problems. Shared by every YAML file
 * Switchyard reads (fleet specs, gateway configs), so messages read the same.
 * `mayHoldSecret`: where a value may be a key pasted in the wrong place (described, never quoted);
 * `nameMayBeKey`: whether an unknown field's name (at `path`, the object holding it) may be one (a
 * key pasted without its field name), named neither in the message nor in the path.
 */
export function problemsFromZod(error: z.ZodError, source: YamlSource, schema: z.ZodType, mayHoldSecret: (path: readonly PropertyKey[], value: unknown) => boolean = () => false, nameMayBeKey: (name: string, path: readonly PropertyKey[]) => boolean = () => false): SpecProblem[] {
  const problems: SpecProblem[] = [];
  /** Fields an unknown key is taken for a misspelling of (`ttft` for `ttftMs`): their "missing" is the same problem. */
  const misspelt = new Set<string>();
  for (const issue of error.issues) {
    const path = issue.path;
    if (issue.code !== 'unrecognized_keys') continue;
    const allowed = objectKeysAt(schema, path);
    for (const key of issue.keys) {
      if (nameMayBeKey(key, path)) {
        problems.push({ code: 'unknown_key', file: source.file, ...source.locateKey(path, key), path: formatPath([...path, '<key>']), message: 'unknown field, not shown: its name looks like an API key (pasted without a field name?)', suggestion: `remove it; allowed fields here: ${allowed.join(', ')}` });
        continue;
      }
      const match = closestMatch(key, allowed);
      if (match !== undefined) misspelt.add(formatPath([...path, match]));
      problems.push({
        code: 'unknown_key',
        file: source.file,
        ...source.locateKey(path, key),
        path: formatPath([...path, key]),
        message: `unknown field '${key}'`,
        suggestion: match === undefined ? `allowed fields here: ${allowed.join(', ')}` : `did you mean '${match}'?`,
      });
    }
  }
  // zod's int() bounds a number by the largest safe integer, beside the schema's own bound: only the
  // tighter is said (E51: 1e20 read two bounds; R46: -1e20 two too).
  const numeric = (origin: string): boolean => origin === 'number' || origin === 'int';
  // By path: the lowest maximum and the highest minimum its issues name.
  const tightestMaximum = new Map<string, number>();
  const tightestMinimum = new Map<string, number>();
  for (const issue of error.issues) {
    const at = formatPath(issue.path);
    if (issue.code === 'too_big' && numeric(issue.origin)) tightestMaximum.set(at, Math.min(tightestMaximum.get(at) ?? Number.POSITIVE_INFINITY, Number(issue.maximum)));
    if (issue.code === 'too_small' && numeric(issue.origin)) tightestMinimum.set(at, Math.max(tightestMinimum.get(at) ?? Number.NEGATIVE_INFINITY, Number(issue.minimum)));
  }
  for (const issue of error.issues) {
    const path = issue.path;
    if (issue.code === 'unrecognized_keys') continue;
    if (issue.code === 'too_big' && numeric(issue.origin) && Number(issue.maximum) > (tightestMaximum.get(formatPath(path)) ?? Number.POSITIVE_INFINITY)) continue;
    if (issue.code === 'too_small' && numeric(issue.origin) && Number(issue.minimum) < (tightestMinimum.get(formatPath(path)) ?? Number.NEGATIVE_INFINITY)) continue;
    const where = source.locate(path);
    const value = valueAt(source.data, path);
    const base = { file: source.file, ...where, path: formatPath(path) };
    // A value that may be a key pasted in the wrong place is described, never quoted.
    const shown = mayHoldSecret(path, value) ? describeUnquoted(value) : describe(value);
    if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && value === undefined) {
      if (misspelt.has(formatPath(path))) continue;
      const expected = issue.code === 'invalid_type' ? issue.expected : issue.values.map(String).join(' or ');
      problems.push({ ...base, code: 'missing_field', message: `missing required field (expected ${expected})`, suggestion: `add '${String(path.at(-1))}'` });
    } else if (issue.code === 'invalid_type') {
      problems.push({ ...base, code: 'invalid_value', message: `expected ${article(issue.expected)}, got ${shown}`, suggestion: typeHint(issue.expected, value) });
    } else if (issue.code === 'invalid_value') {
      const options = issue.values.map((v) => String(v));
      // A quoted number where the number itself is expected ('1' for 1) is not a misspelling.
      const quoted = typeof value === 'string' && issue.values.some((v) => typeof v === 'number' && String(v) === value.trim());
      // One value allowed (a spec's version): that is the fix, whatever was written (E55: version 2 had no hint).
      const hint = quoted ? `remove the quotes: ${value.trim()}` : options.length === 1 ? `write ${String(options[0])}` : typeof value === 'string' ? didYouMean(value, options) : undefined;
      problems.push({
        ...base,
        code: 'invalid_value',
        message: `expected ${options.length === 1 ? String(options[0]) : `one of ${options.join(', ')}`}, got ${shown}`,
        ...(hint === undefined ? {} : { suggestion: hint }),
      });
    } else if (issue.code === 'too_small' && issue.origin === 'string' && Number(issue.minimum) === 1) {
      problems.push({ ...base, code: 'invalid_value', message: `expected a non-empty text, got ${shown}`, suggestion: 'write a non-empty value' });
    } else if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'string') {
      const bound = String(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const limit = issue.code === 'too_small' ? `at least ${bound}` : `at most ${bound}`;
      problems.push({ ...base, code: 'invalid_value', message: `expected a text of ${limit} characters, got ${shown}`, suggestion: `write ${limit} characters` });
    } else if (issue.code === 'too_small' || issue.code === 'too_big') {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      const what = issue.origin === 'array' ? `a list with length ${op} ${String(bound)}` : `a value ${op} ${String(bound)}`;
      const fix = issue.origin === 'array' ? `give ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} ${Number(bound) === 1 ? 'entry' : 'entries'}` : `use ${issue.code === 'too_small' ? (issue.inclusive ? `${String(bound)} or more` : `a value above ${String(bound)}`) : issue.inclusive ? `${String(bound)} or less` : `a value below ${String(bound)}`}`;
      problems.push({ ...base, code: 'invalid_value', message: `expected ${what}, got ${shown}${issue.message && !issue.message.startsWith('Too') ? ` (${issue.message})` : ''}`, suggestion: fix });
    } else {
      // A check may name the likely fix, which depends on the value, in its issue's params.
      const suggestion: unknown = issue.code === 'custom' ? issue.params?.['suggestion'] : undefined;
      problems.push({ ...base, code: 'invalid_value', message: `${issue.message}, got ${shown}`, ...(typeof suggestion === 'string' ? { suggestion } : {}) });
    }
  }
  return problems;
}

/** How to write a value of the expected type, from what was written instead. */
function typeHint(expected: string, value: unknown): string {
  if ((expected === 'number' || expected === 'int') && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return `remove the quotes: ${value.trim()}`;
  switch (expected) {
    case 'number':
      return 'write a number, such as 8 or 0.5';
    case 'int':
      return 'write a whole number, such as 8';
    case 'boolean':
      return 'write true or false';
    case 'string':
      return 'write text; quote it if it looks like a number or a date';
    case 'array':
      return 'write a list: [a, b] or one "- item" per line';
    case 'object':
      return 'write a mapping: { key: value } or one "key: value" per line';
    default:
      return `write ${article(expected)}`;
  }
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** A value by its kind alone, for one that may hold a secret: a key of digits reads as a number. */
function describeUnquoted(value: unknown): string {
  if (typeof value === 'string') return `a text of ${String(value.length)} characters (not shown: it may hold a secret)`;
  if (typeof value === 'number' || typeof value === 'bigint') return 'a number (not shown: it may hold a secret)';
  return describe(value);
}

/** Control characters, line separators and text-direction marks as \u escapes: written raw, they would move a terminal's cursor, split a line or reorder it. */
function escapedControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${escapedControls(value.length > 40 ? `${value.slice(0, 40)}...` : value)}'`;
  // YAML reads 1e400 as Infinity, as it reads .inf: the number written may just be too large.
  if (typeof value === 'number') return Number.isFinite(value) || Number.isNaN(value) ? String(value) : `${String(value)} (${value > 0 ? '' : '-'}.inf, or a number too large to hold)`;
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = data;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** The keys a strict object schema accepts at `path` (for "did you mean"). */
function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: unknown = schema;
  for (const part of [...path, undefined]) {
    current = unwrap(current);
    const def = defOf(current);
    if (part === undefined) return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
    if (def?.type === 'array') current = def.element;
    else if (def?.type === 'object' && def.shape) current = def.shape[String(part)];
    else if (def?.type === 'record') current = def.valueType;
    else return [];
  }
  return [];
}

interface LooseDef {
  type?: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  innerType?: unknown;
  valueType?: unknown;
  /** A pipe's input schema (what `.transform()` wraps). */
  in?: unknown;
}

function defOf(schema: unknown): LooseDef | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  return (schema as { _zod?: { def?: LooseDef } })._zod?.def;
}

function unwrap(schema: unknown): unknown {
  let current = schema;
  for (let guard = 0; guard < 10; guard += 1) {
    const def = defOf(current);
    if (def?.innerType !== undefined && ['optional', 'default', 'nullable', 'prefault', 'readonly'].includes(def.type ?? '')) {
      current = def.innerType;
    } else if (def?.type === 'pipe' && def.in !== undefined) {
      // A transformed object: its fields are the input's.
      current = def.in;
    } else return current;
  }
  return current;
}
