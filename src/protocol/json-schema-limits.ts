import { isRecord } from './is-record.js';
import { isQuotableName } from './request-problem.js';

/**
 * The JSON Schema each API holds answers to, where the two differ (structured output, strict tools).
 *
 * Anthropic constrains decoding to a subset: types, enum and const, anyOf and allOf, $ref and $defs,
 * properties and required, array items, a few string formats, minItems of 0 or 1, and objects
 * closed to other properties (additionalProperties false). Bounds on numbers, lengths and item
 * counts, patterns and the rest are refused. OpenAI's strict mode needs every object closed and
 * every property required (optional ones are written as nullable).
 */

/** Keywords Anthropic's structured output takes as they are (a node's own; the nested are walked). */
const anthropicKeeps = new Set(['type', '$ref', 'title', 'required']);
/** The string formats Anthropic's structured output takes. */
const anthropicFormats = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'uri', 'ipv4', 'ipv6', 'uuid']);

/** A schema as Anthropic's structured output takes it, and the keywords that had to move or change for it. */
export interface AnthropicSchema {
  readonly schema: Record<string, unknown>;
  /** JSON paths of what was changed ('properties.age.minimum moved to the description'); none: taken as it was. */
  readonly changes: readonly string[];
}

/**
 * A schema rewritten for Anthropic: each object closed (additionalProperties false, as Anthropic
 * requires), oneOf read as anyOf, and each keyword Anthropic refuses moved into the node's
 * description as `{keyword: value}`, so the model still reads the constraint it cannot be held to.
 * `$schema`, which constrains nothing, is dropped.
 */
export function anthropicSchema(schema: Readonly<Record<string, unknown>>): AnthropicSchema {
  const changes: string[] = [];
  return { schema: rewriteNode(schema, '', changes), changes };
}

function rewriteNode(node: Readonly<Record<string, unknown>>, path: string, changes: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const moved: string[] = [];
  const at = (key: string): string => stepInto(path, key);
  for (const [key, value] of Object.entries(node)) {
    if (anthropicKeeps.has(key) || (key === 'description' && typeof value === 'string')) {
      define(out, key, value);
    } else if ((key === 'enum' && Array.isArray(value) && value.every(isPrimitive)) || (key === 'const' && isPrimitive(value))) {
      // Anthropic takes literals of strings, numbers, booleans and null only.
      define(out, key, value);
    } else if ((key === 'properties' || key === '$defs' || key === 'definitions') && isRecord(value)) {
      define(out, key, Object.fromEntries(Object.entries(value).map(([name, child]) => [name, isRecord(child) ? rewriteNode(child, stepInto(at(key), name), changes) : child])));
    } else if ((key === 'anyOf' || key === 'oneOf' || key === 'allOf') && Array.isArray(value)) {
      if (key === 'oneOf') changes.push(`${at(key)} read as anyOf`);
      define(out, key === 'oneOf' ? 'anyOf' : key, value.map((child, index) => (isRecord(child) ? rewriteNode(child, `${at(key)}.${String(index)}`, changes) : child)));
    } else if (key === 'items' && isRecord(value)) {
      define(out, key, rewriteNode(value, at(key), changes));
    } else if (key === 'additionalProperties' && typeof value === 'boolean') {
      // Set below, for every object.
    } else if (key === '$schema') {
      changes.push(`${at(key)} dropped`);
    } else if ((key === 'format' && typeof value === 'string' && anthropicFormats.has(value)) || (key === 'minItems' && (value === 0 || value === 1))) {
      define(out, key, value);
    } else {
      moved.push(`${key}: ${JSON.stringify(value)}`);
      changes.push(`${at(key)} moved to the description`);
    }
  }
  if (isObjectNode(node)) {
    // An additionalProperties schema (a map's values) was moved to the description above.
    if (node.additionalProperties === true || node.additionalProperties === undefined) changes.push(`${at('additionalProperties')} set to false`);
    out.additionalProperties = false;
  }
  if (moved.length > 0) {
    const description = typeof out.description === 'string' && out.description !== '' ? `${out.description}\n\n` : '';
    out.description = `${description}{${moved.join(', ')}}`;
  }
  return out;
}

/** A tool's parameters as sent to either upstream dialect: an object schema, callers of either API leaving the type out. */
export function asObjectSchema(schema: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  return schema.type === undefined ? { type: 'object', ...schema } : schema;
}

/**
 * Whether a schema meets OpenAI's strict mode: every object closed to other properties and listing
 * each of its properties as required, in every nested schema. Undefined when it does; else the
 * path of the first object that does not.
 */
export function openaiStrictProblem(schema: Readonly<Record<string, unknown>>, path = ''): string | undefined {
  const at = (key: string): string => stepInto(path, key);
  // Objects by their type only, as OpenAI reads them.
  if (schema.type === 'object' || (Array.isArray(schema.type) && schema.type.includes('object'))) {
    const properties = isRecord(schema.properties) ? Object.keys(schema.properties) : [];
    const required = Array.isArray(schema.required) ? schema.required : [];
    if (schema.additionalProperties !== false) return at('additionalProperties');
    const missing = properties.find((name) => !required.includes(name));
    if (missing !== undefined) return at('required');
  }
  return firstInSubschemas(schema, path, (child, childPath) => openaiStrictProblem(child, childPath));
}

/**
 * Where a schema opens an object to properties it does not list: saying so (`additionalProperties`
 * or `unevaluatedProperties` true or a schema, or `patternProperties`: a map), or as an object of
 * no properties at all (`{"type": "object"}`: any object). Anthropic's structured output closes
 * every object (anthropicSchema), so there such an object could hold only its listed properties, a
 * map or any object nothing but `{}` (E49, R42). A tool's parameters of no properties are a tool
 * without arguments (`toolParameters`); an object with properties that leaves additionalProperties
 * out means its properties, and is not counted. The path of the first, or undefined.
 */
export function openObjectPath(schema: Readonly<Record<string, unknown>>, path = '', options: { readonly toolParameters?: boolean; readonly constraint?: boolean } = {}): string | undefined {
  // On any node: a map is often written without `type` beside allOf or anyOf (R41), and each keyword
  // means an object.
  const opens = (keyword: unknown): boolean => keyword === true || isRecord(keyword);
  const patterned = isRecord(schema.patternProperties) && Object.keys(schema.patternProperties).length > 0;
  const composed = schema.allOf !== undefined || schema.anyOf !== undefined || schema.oneOf !== undefined || schema.$ref !== undefined;
  // Not an allOf member, which constrains an object others describe; nor one closed another way (R43).
  const closedOtherwise = schema.unevaluatedProperties !== undefined || schema.patternProperties !== undefined || schema.maxProperties === 0;
  const anyObject = isObjectNode(schema) && schema.properties === undefined && schema.additionalProperties === undefined && !composed && !closedOtherwise && options.constraint !== true && !(path === '' && options.toolParameters === true);
  if (opens(schema.additionalProperties) || opens(schema.unevaluatedProperties) || patterned || anyObject) return path === '' ? '(the schema itself)' : path;
  return firstInSubschemas(schema, path, (child, childPath, keyword) => openObjectPath(child, childPath, { constraint: keyword === 'allOf' }));
}

/**
 * The first answer `find` gives for a schema's subschemas, in order: its properties and definitions,
 * the members of anyOf, oneOf and allOf, and its array items; `keyword` names the one each is under.
 */
function firstInSubschemas(schema: Readonly<Record<string, unknown>>, path: string, find: (child: Readonly<Record<string, unknown>>, childPath: string, keyword: string) => string | undefined): string | undefined {
  const at = (key: string): string => stepInto(path, key);
  for (const [key, value] of Object.entries(schema)) {
    if ((key === 'properties' || key === '$defs' || key === 'definitions') && isRecord(value)) {
      for (const [name, child] of Object.entries(value)) {
        const found = isRecord(child) ? find(child, stepInto(at(key), name), key) : undefined;
        if (found !== undefined) return found;
      }
    } else if ((key === 'anyOf' || key === 'oneOf' || key === 'allOf') && Array.isArray(value)) {
      for (const [index, child] of value.entries()) {
        const found = isRecord(child) ? find(child, `${at(key)}.${String(index)}`, key) : undefined;
        if (found !== undefined) return found;
      }
    } else if (key === 'items' && isRecord(value)) {
      const found = find(value, at(key), key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * A path one step on. Keys are the caller's (property names, unknown keywords): one that is not a
 * plain name is written `<key>`, as invalidRequest writes them, so that a path quoted in an error
 * or a log never carries a megabyte of the caller's text.
 */
function stepInto(path: string, key: string): string {
  // Keywords such as $defs and $ref are plain names after their dollar.
  const step = isQuotableName(key.startsWith('$') ? key.slice(1) : key) ? key : '<key>';
  return path === '' ? step : `${path}.${step}`;
}

/** An object schema: `type` object, a list of types holding object, or no type but properties. */
function isObjectNode(node: Readonly<Record<string, unknown>>): boolean {
  return node.type === 'object' || (Array.isArray(node.type) && node.type.includes('object')) || (node.type === undefined && isRecord(node.properties));
}

function isPrimitive(value: unknown): boolean {
  return value === null || typeof value !== 'object';
}

/** Sets a property of its own, '__proto__' too (assignment would set the prototype). */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
