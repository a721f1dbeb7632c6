import { distance } from 'fastest-levenshtein';

/**
 * The closest candidate to a misspelt name, or undefined when nothing is close
 * enough to be a plausible typo (more than a third of the name differs).
 */
export function closestMatch(name: string, candidates: Iterable<string>): string | undefined {
  const needle = name.toLowerCase();
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const hay = candidate.toLowerCase();
    // A candidate that contains the name (or the reverse) is a strong hint: `v7` -> `tpu7x`.
    const score = hay.includes(needle) || needle.includes(hay) ? Math.abs(hay.length - needle.length) * 0.5 : distance(needle, hay);
    if (score < bestScore) {
      bestScore = score;
      best = candidate;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.ceil(Math.max(needle.length, best.length) / 3));
  return bestScore <= limit ? best : undefined;
}

export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const match = closestMatch(name, candidates);
  return match === undefined ? undefined : `did you mean '${match}'?`;
}
