import { distance } from 'fastest-levenshtein';

/** Case, separators and a `v` before a version number do not distinguish ids: `tpu-v7` ~ `tpu7`. */
function normalise(name: string): string {
  return name.toLowerCase().replace(/[-_. ]/g, '').replace(/v(?=\d)/g, '');
}

function digits(name: string): string {
  return name.replace(/\D+/g, ' ').trim();
}

/**
 * The closest candidate to a misspelt name, or undefined when nothing is close
 * enough to be a plausible typo. Candidates are ranked by edit distance after
 * normalising, then by whether their version numbers agree (`tpu-v7` prefers
 * `tpu7x` to `tpu-v4`), then by length (`chipz` prefers `chips` to `chip`), then
 * by the start they share (`usa` prefers `us` to `sa`).
 */
export function closestMatch(name: string, candidates: Iterable<string>): string | undefined {
  return closestMatches(name, candidates)[0];
}

/** Every candidate closestMatch ranks first, in the order given: `maia-300` is as close to `maia-100` as to `maia-200`. */
function closestMatches(name: string, candidates: Iterable<string>): string[] {
  const needle = normalise(name);
  let best: { candidates: string[]; score: Score } | undefined;
  for (const candidate of candidates) {
    const hay = normalise(candidate);
    const score: Score = [distance(needle, hay), digits(needle) === digits(hay) ? 0 : 1, Math.abs(candidate.length - name.length), -sharedStart(needle, hay)];
    const order = best === undefined ? -1 : compare(score, best.score);
    if (best === undefined || order < 0) best = { candidates: [candidate], score };
    else if (order === 0 && !best.candidates.includes(candidate)) best.candidates.push(candidate);
  }
  if (best === undefined) return [];
  const limit = Math.max(1, Math.ceil(Math.max(needle.length, normalise(best.candidates[0] ?? '').length) / 3));
  return best.score[0] <= limit ? best.candidates : [];
}

/** Lower ranks first, part by part. */
type Score = [number, number, number, number];

function compare(a: Readonly<Score>, b: Readonly<Score>): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3];
}

function sharedStart(a: string, b: string): number {
  let index = 0;
  while (index < a.length && index < b.length && a[index] === b[index]) index += 1;
  return index;
}

/** "did you mean 'x'?", or "'x' or 'y'?" for candidates equally close (at most three); undefined when none is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const quoted = closestMatches(name, candidates).slice(0, 3).map((match) => `'${match}'`);
  if (quoted.length === 0) return undefined;
  return `did you mean ${quoted.length === 1 ? String(quoted[0]) : `${quoted.slice(0, -1).join(', ')} or ${String(quoted.at(-1))}`}?`;
}

/** Names for a message, at most `max` of them: a list of thousands is no help on one line. */
export function someOf(names: Iterable<string>, max = 20): string {
  const all = [...names];
  return all.length <= max ? all.join(', ') : `${all.slice(0, max).join(', ')} and ${all.length - max} more`;
}
