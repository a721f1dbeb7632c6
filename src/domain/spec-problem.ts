/**
 * Problems found in a user's input, as data. Loaders return them; the CLI prints
 * one line each and exits 2; servers answer them as 4xx bodies.
 */
export type SpecProblemCode =
  | 'file_unreadable'
  | 'syntax'
  | 'unknown_key'
  | 'invalid_value'
  | 'missing_field'
  | 'unknown_reference'
  | 'duplicate_id'
  | 'inconsistent';

export interface SpecProblem {
  readonly code: SpecProblemCode;
  readonly file: string;
  /** 1-based; 0 when the problem has no place in the file (e.g. the file is missing). */
  readonly line: number;
  readonly column: number;
  /** Field path in dotted/indexed form, e.g. `pools[2].chip`; empty for the whole file. */
  readonly path: string;
  /** What is wrong and what was expected. */
  readonly message: string;
  /** How to fix it, when there is a likely fix. */
  readonly suggestion?: string;
}

/** One line per problem, whatever the user's input held: control characters are escaped. */
export function formatProblem(problem: SpecProblem): string {
  const place = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file;
  const path = problem.path === '' ? '' : ` ${problem.path}:`;
  const hint = problem.suggestion === undefined ? '' : `; ${problem.suggestion}`;
  return escapeControl(`${place}:${path} ${problem.message}${hint}`);
}

export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** Thrown by the throwing entry points (`loadFleetOrThrow`); carries every problem, not just the first. */
export class SpecError extends Error {
  readonly problems: readonly SpecProblem[];
  readonly isRetryable = false;

  constructor(problems: readonly SpecProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'SpecError';
    this.problems = problems;
  }
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: readonly SpecProblem[] };

/** A file's problems top to bottom (stable), then those of other files (a fleet's profiles CSV). */
export function inFileOrder(problems: readonly SpecProblem[], file: string): SpecProblem[] {
  const rank = (problem: SpecProblem): number => (problem.file === file ? 0 : 1);
  return [...problems].sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? a.line - b.line || a.column - b.column : 0));
}

/** Renders a path array as `pools[2].chip`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
