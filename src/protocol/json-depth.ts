import type { Parsed } from './chat.js';
import { isQuotableName } from './request-problem.js';

/**
 * How deeply a request may nest objects and arrays, the body itself counting as one. Far above what
 * a real request needs (a tool schema of twenty nested objects, each nullable, is about 90 deep)
 * and far below what recursion over it (schema rewriting, JSON.stringify) can take: a schema
 * thousands of levels deep overflowed the stack, which read as the upstream's failure.
 */
export const maxJsonDepth = 128;

/**
 * The path to the first object or array nested deeper than `limit` (the value itself at depth one),
 * or undefined when none is. Stops at the limit, so its own recursion is bounded.
 */
export function pathTooDeep(value: unknown, limit = maxJsonDepth): (string | number)[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (limit === 0) return [];
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const path = pathTooDeep(value[index], limit - 1);
      if (path !== undefined) return [index, ...path];
    }
    return undefined;
  }
  for (const key in value) {
    const path = pathTooDeep((value as Record<string, unknown>)[key], limit - 1);
    if (path !== undefined) return [key, ...path];
  }
  return undefined;
}

/**
 * A request body nested deeper than `limit`, as a 400 naming where (caller keys as invalidRequest
 * names them), or undefined.
 */
export function tooDeepProblem(body: unknown, limit = maxJsonDepth): Parsed<never> | undefined {
  const path = pathTooDeep(body, limit);
  if (path === undefined) return undefined;
  const param = path.map((step) => (typeof step === 'number' || isQuotableName(step) ? String(step) : '<key>')).join('.');
  return {
    ok: false,
    problem: { status: 400, kind: 'invalid_request', param, message: `${param}: objects and arrays nested more than ${String(limit)} levels deep; flatten it (a schema can name its parts in $defs and point to them with $ref)` },
  };
}
