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
 * `tpu7x` to `tpu-v4`), then by length (`chipz` prefers `chips` to `chip`).
 */
export function closestMatch(name: string, candidates: Iterable<string>): string | undefined {
  const needle = normalise(name);
  let best: { candidate: string; score: [number, number, number] } | undefined;
  for (const candidate of candidates) {
    const hay = normalise(candidate);
    const score: [number, number, number] = [distance(needle, hay), digits(needle) === digits(hay) ? 0 : 1, Math.abs(candidate.length - name.length)];
    if (best === undefined || score[0] < best.score[0] || (score[0] === best.score[0] && (score[1] < best.score[1] || (score[1] === best.score[1] && score[2] < best.score[2])))) {
      best = { candidate, score };
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.ceil(Math.max(needle.length, normalise(best.candidate).length) / 3));
  return best.score[0] <= limit ? best.candidate : undefined;
}

export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const match = closestMatch(name, candidates);
  return match === undefined ? undefined : `did you mean '${match}'?`;
}

/** Names for a message, at most `max` of them: a list of thousands is no help on one line. */
export function someOf(names: Iterable<string>, max = 20): string {
  const all = [...names];
  return all.length <= max ? all.join(', ') : `${all.slice(0, max).join(', ')} and ${all.length - max} more`;
}
