import Table from 'cli-table3';

/** Where a command writes; injected so tests run commands in-process. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Plain, border-light tables that stay readable when piped. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[], align?: readonly ('left' | 'right')[]): string {
  const t = new Table({
    head: [...head],
    style: { head: [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    colAligns: align ? [...align] : head.map((_, i) => (i === 0 ? 'left' : 'right')),
  });
  for (const row of rows) t.push(row.map((cell) => String(cell)));
  return t.toString();
}

export function number(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function percent(value: number, digits = 1): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : '-';
}

export function usd(value: number): string {
  // A sign before the dollar ('-$423', not '$-423').
  return `${value < 0 ? '-' : ''}$${number(Math.abs(value), value !== 0 && Math.abs(value) < 100 ? 2 : 0)}`;
}

/** JSON with non-finite numbers as null (JSON has no NaN or Infinity). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

/** A count and its noun, singular for one: "1 route", "3 routes". */
export function count(value: number, noun: string): string {
  return `${number(value)} ${noun}${value === 1 ? '' : 's'}`;
}
