import { InvalidArgumentError } from 'commander';
import { emulatorSpeeds } from '../emulator/emulator-speeds.js';
import { holdsKey, withoutKeys } from '../gateway/credential-text.js';

/**
 * Parsers for numeric flags, shared by every command so one flag means the same everywhere.
 * Whole numbers are decimal digits only: Number() would also take '0x1F90', '1e3' and ' '.
 */

function parsed(flag: string, raw: string, rule: string, value: number, accept: boolean): number {
  if (!accept) throw new InvalidArgumentError(`${flag} must be ${rule}, got ${shownValue(raw)}.`);
  return value;
}

/**
 * A flag's value as an error quotes it: not one that looks like a key pasted in the wrong place (R52),
 * by either test the gateway's logs use (R55: a mixed-case run passed holdsKey alone), judged whole
 * before it is cut to `maxChars` (R56: a cut key passed as a shorter run).
 */
export function shownValue(raw: string, maxChars = Number.POSITIVE_INFINITY): string {
  if (looksLikeKeyValue(raw)) return '(a value that looks like a key, not shown)';
  return raw.length > maxChars ? `'${raw.slice(0, maxChars)}...'` : `'${raw}'`;
}

/** Whether a value given where no key belongs looks like one (see shownValue). */
export function looksLikeKeyValue(raw: string): boolean {
  return holdsKey(raw) || withoutKeys(raw) !== raw;
}

function decimal(raw: string): number {
  // Decimal notation only (an exponent allowed): Number() would also read '0x32' and '0b1'.
  if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw)) return Number.NaN;
  const value = Number(raw);
  return Number.isFinite(value) ? value : Number.NaN;
}

function whole(raw: string): number {
  return /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
}

/** A number flag checked by `check`; `rule` says what it must be. */
export function numberFlag(flag: string, check: (value: number) => boolean, rule: string): (raw: string) => number {
  return (raw) => {
    const value = decimal(raw);
    return parsed(flag, raw, rule, value, !Number.isNaN(value) && check(value));
  };
}

/** A whole-number flag (decimal digits, at most 2^53 - 1) checked by `check`. */
export function wholeFlag(flag: string, check: (value: number) => boolean, rule: string): (raw: string) => number {
  return (raw) => {
    const value = whole(raw);
    return parsed(flag, raw, rule, value, Number.isSafeInteger(value) && check(value));
  };
}

export const flagParsers = {
  positive: (flag: string) => numberFlag(flag, (v) => v > 0, 'a positive number'),
  nonNegative: (flag: string) => numberFlag(flag, (v) => v >= 0, 'a number >= 0'),
  fraction: (flag: string) => numberFlag(flag, (v) => v >= 0 && v <= 1, 'a fraction between 0 and 1'),
  positiveWhole: (flag: string) => wholeFlag(flag, (v) => v > 0, 'a positive whole number'),
  count: (flag: string) => wholeFlag(flag, () => true, `a whole number >= 0 (at most ${Number.MAX_SAFE_INTEGER})`),
  port: (flag = '--port') => wholeFlag(flag, (v) => v <= 65_535, 'a whole number from 0 to 65535 (0 picks a free port)'),
  /**
   * An address to listen on. Empty would make Node listen on every interface: a blank $HOST in a
   * wrapper script must not expose a server meant for loopback.
   */
  host: (flag = '--host') => (raw: string): string => {
    if (raw.trim() === '' || raw.trim() !== raw) throw new InvalidArgumentError(`${flag} must be an address such as 127.0.0.1, or 0.0.0.0 for every interface, got ${shownValue(raw)}.`);
    return raw;
  },
  /** The solver's time limit per solve, as policy.timeLimitSeconds (plan, up). */
  timeLimit: (flag = '--time-limit') => numberFlag(flag, (v) => v >= 0.1 && v <= 3600, 'a number of seconds from 0.1 to 3600, as policy.timeLimitSeconds'),
  /** The emulator's speed-up over real time; its range is the emulator's (see startEmulator). */
  speed: (flag = '--speed') => numberFlag(flag, (v) => v >= emulatorSpeeds.slowest && v <= emulatorSpeeds.fastest, `a number from ${emulatorSpeeds.slowest} to ${emulatorSpeeds.fastest}`),
};
