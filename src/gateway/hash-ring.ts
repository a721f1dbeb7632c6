/**
 * A consistent-hash ring over endpoint ids, with virtual nodes so keys spread
 * in proportion to each endpoint's weight (its capacity). Building is the
 * costly part, so rings are memoised by their ids and weights: the memo only
 * remembers pure results, so callers stay pure.
 */

/** Virtual nodes of an endpoint of average weight; others get proportionally more or fewer. */
export const virtualNodesPerEndpoint = 100;
/** Bounds on one endpoint's virtual nodes, whatever the spread of weights. */
const fewestVirtualNodes = 4;
const mostVirtualNodes = 1000;

export interface HashRing {
  /** Ring positions, ascending. */
  readonly points: Uint32Array;
  /** The endpoint id at each position. */
  readonly owners: readonly string[];
}

const memo = new Map<string, HashRing>();
const memoLimit = 256;
// Routes pass the same array every time: skip building the memo key for them while the weights hold.
const byArray = new WeakMap<readonly string[], { readonly weights: readonly number[]; readonly ring: HashRing }>();

/**
 * The ring for these ids (order does not matter), each weighted by `weightOf` (1 when not given;
 * a weight that is not a positive number counts as 1). Do not mutate `ids` afterwards.
 */
export function hashRingFor(ids: readonly string[], weightOf: (id: string) => number = () => 1): HashRing {
  const weights = ids.map((id) => {
    const weight = weightOf(id);
    return Number.isFinite(weight) && weight > 0 ? weight : 1;
  });
  const known = byArray.get(ids);
  if (known !== undefined && known.weights.every((weight, index) => weight === weights[index])) return known.ring;
  const ring = ringByKey(ids, weights);
  byArray.set(ids, { weights, ring });
  return ring;
}

function ringByKey(ids: readonly string[], weights: readonly number[]): HashRing {
  const weightById = new Map(ids.map((id, index) => [id, weights[index] ?? 1]));
  const unique = [...weightById.keys()].sort();
  const key = unique.map((id) => `${id}\u0001${String(weightById.get(id))}`).join('\u0000');
  const cached = memo.get(key);
  if (cached !== undefined) return cached;
  const ring = buildRing(unique, weightById);
  if (memo.size >= memoLimit) {
    const oldest = memo.keys().next();
    if (oldest.done !== true) memo.delete(oldest.value);
  }
  memo.set(key, ring);
  return ring;
}

/**
 * The ids of `members`, each once, in the order met walking clockwise from the
 * position of `key`, the first `limit` of them (all by default). Ids on the ring but not in `members`
 * are skipped, which is the same as a ring over `members` alone: removing an endpoint moves only its
 * keys. Finding every member walks most of the ring (its virtual nodes: a hundred per endpoint),
 * where the first few are met in a few hundred steps.
 */
export function walkRing(ring: HashRing, key: string, members: ReadonlySet<string>, limit = members.size): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const count = ring.points.length;
  const start = lowerBound(ring.points, hash32(key));
  const wanted = Math.min(limit, members.size);
  for (let step = 0; step < count && seen.size < wanted; step += 1) {
    const owner = ring.owners[(start + step) % count];
    if (owner !== undefined && members.has(owner) && !seen.has(owner)) {
      seen.add(owner);
      order.push(owner);
    }
  }
  return order;
}

/** FNV-1a with a murmur3 finaliser: fast, stable across processes, well spread for similar strings. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function buildRing(ids: readonly string[], weightById: ReadonlyMap<string, number>): HashRing {
  const mean = ids.reduce((sum, id) => sum + (weightById.get(id) ?? 1), 0) / Math.max(1, ids.length);
  const nodes: { point: number; owner: string }[] = [];
  for (const id of ids) {
    // An endpoint's first virtual nodes are the same whatever its weight: a weight change moves few keys.
    const count = Math.min(mostVirtualNodes, Math.max(fewestVirtualNodes, Math.round((virtualNodesPerEndpoint * (weightById.get(id) ?? 1)) / mean)));
    for (let replica = 0; replica < count; replica += 1) nodes.push({ point: hash32(`${id}#${replica}`), owner: id });
  }
  // Ties (vanishingly rare) are broken by id so the ring does not depend on input order.
  nodes.sort((a, b) => a.point - b.point || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  return { points: Uint32Array.from(nodes, (node) => node.point), owners: nodes.map((node) => node.owner) };
}

/** The first index whose point is >= target, or 0 past the end (the ring wraps). */
function lowerBound(points: Uint32Array, target: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((points[middle] ?? 0) < target) low = middle + 1;
    else high = middle;
  }
  return low === points.length ? 0 : low;
}
