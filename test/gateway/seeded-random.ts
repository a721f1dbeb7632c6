export { seededRandom } from '../../src/random/seeded-random.js';

/** A random draw that always returns the same sequence, for tests that script each choice. */
export function scriptedRandom(values: readonly number[]): () => number {
  let index = 0;
  return () => {
    const value = values[index % values.length] ?? 0;
    index += 1;
    return value;
  };
}
