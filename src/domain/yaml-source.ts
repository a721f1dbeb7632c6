import { CST, isAlias, isMap, isNode, isPair, isScalar, isSeq, Lexer, LineCounter, Parser, parseDocument, visit, type Alias, type Document, type Node, type YAMLMap } from 'yaml';
import type { SpecProblem } from './spec-problem.js';

export interface Location {
  readonly line: number;
  readonly column: number;
}

/** A parsed YAML file that can say where any value or key came from. */
export interface YamlSource {
  readonly file: string;
  readonly data: unknown;
  /** Where the value at `path` starts; the nearest existing ancestor when the path is missing. */
  locate(path: readonly PropertyKey[]): Location;
  /** Where the key `key` of the mapping at `path` is written. */
  locateKey(path: readonly PropertyKey[], key: string): Location;
}

export type ParsedYaml = { readonly ok: true; readonly source: YamlSource } | { readonly ok: false; readonly problems: SpecProblem[] };

/**
 * What the values a file's aliases point at may add up to, expanded (see aliasScan): this many per
 * value written, and never less than `leastExpansionBound`. Flat use (5,000 tenants each merging one
 * small anchor) stays well inside; a bomb (anchors used inside anchors, or a large map merged into
 * many) grows past it.
 */
const expansionPerValueWritten = 10;
const leastExpansionBound = 2_000_000;

/** Nesting no spec comes near, well inside what the library's recursive parser survives (about 600 levels). */
const deepestNesting = 128;

interface AliasScan {
  /** Where the first alias to no anchor written before it is. */
  readonly unresolved: number | undefined;
  /** Where the first merge of a map into itself is (`&a { <<: *a }`): merged, it copies itself without end. */
  readonly selfMerge: number | undefined;
  /** Where the first key that is a list or a map is: no spec has one, and the library compares each with every anchor. */
  readonly collectionKey: number | undefined;
  /** Where the first key written a second time in its mapping is. */
  readonly repeatedKey: number | undefined;
  /** Its name, when it reads as a field's (camelCase words: not a value that may be a pasted key). */
  readonly repeatedKeyName: string | undefined;
  /** Values written, and what they add up to with every alias (and merge) expanded, capped past the bound. */
  readonly written: number;
  readonly expanded: number;
  readonly bound: number;
}

/** A merge key, `<<` written plain, as the library reads one (a scalar whose value is a symbol so named); a quoted "<<" is an ordinary key. */
function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  const value: unknown = key.value;
  return (typeof value === 'symbol' && value.description === '<<') || (value === '<<' && (key.type === undefined || key.type === 'PLAIN'));
}

/**
 * One walk of the document in order: each alias tied to the anchor it names (the last one written
 * before it, as YAML reads it), so that resolving it is a lookup (the library scans every anchor and
 * alias before it, for each alias: quadratic in a file of thousands), and what the file's values add
 * up to with aliases expanded, each anchor's size counted once, so that a bomb is refused before it
 * is expanded.
 */
function aliasScan(doc: Document): AliasScan {
  const anchors = new Map<string, Node>();
  const targets = new Map<Alias, Node>();
  let unresolved: number | undefined;
  let selfMerge: number | undefined;
  let collectionKey: number | undefined;
  let repeatedKey: number | undefined;
  let repeatedKeyName: string | undefined;
  let written = 0;
  const maps: YAMLMap[] = [];
  visit(doc, {
    Pair(_key, pair) {
      // A key that is a list or a map, written so or as an alias to one (anchored before this pair).
      const key = isAlias(pair.key) ? anchors.get(pair.key.source) : pair.key;
      if (collectionKey === undefined && (isMap(key) || isSeq(key))) collectionKey = (pair.key as Node).range?.[0];
      return undefined;
    },
    Node(_key, node) {
      written += 1;
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (target === undefined) unresolved ??= node.range?.[0];
        else {
          targets.set(node, target);
          // Read by toJS and by merges: a lookup, not the library's scan of the document.
          (node as unknown as { resolve: () => Node }).resolve = () => target;
        }
      } else if (node.anchor !== undefined) anchors.set(node.anchor, node);
      if (isMap(node)) maps.push(node);
      return undefined;
    },
  });
  // Keys as the object read from the file will have them (1 and "1", a null key and "", a key
  // written as an alias and the scalar it names, are one key there); merge keys may repeat. After
  // the walk, so that an alias key names the anchor written last before it, inside its mapping too.
  // The first repeat in the file is told, wherever its mapping is.
  for (const map of maps) {
    const keys = new Set<string>();
    for (const pair of map.items) {
      const key = isAlias(pair.key) ? targets.get(pair.key) : pair.key;
      if (!isScalar(key) || isMergeKey(key)) continue;
      const name = key.value === null || key.value === undefined ? '' : String(key.value);
      if (keys.has(name)) {
        const at = (pair.key as Node).range?.[0] ?? 0;
        if (repeatedKey === undefined || at < repeatedKey) {
          repeatedKey = at;
          // A field's shape: camelCase words, then perhaps a unit or a number (powerMW, hbmTBps, bf16,
          // apiKeySha256). R48: any run of letters let a letters-only secret through; R49: the fleet's
          // unit-suffixed fields went unnamed.
          repeatedKeyName = name.length <= 32 && /^[a-z]+(?:[A-Z][a-z]+)*(?:[A-Z]+[a-z]{0,2}|[0-9]+)?$/.test(name) ? name : undefined;
        }
        break;
      }
      keys.add(name);
    }
  }
  const bound = Math.max(leastExpansionBound, expansionPerValueWritten * written);
  const sizes = new Map<Node, number>();
  const measuring = new Set<Node>();
  // A value's size with aliases expanded, capped just past the bound (a bomb's size overflows).
  const sizeOf = (node: unknown): number => {
    if (isAlias(node)) {
      const target = targets.get(node);
      return target === undefined ? 1 : sizeOf(target);
    }
    if (isPair(node)) {
      // A merge copies its source's keys: a source that is the map being measured (or holds it) merges it into itself.
      if (isMergeKey(node.key)) {
        // Its sources: a map, or a list of them, written or as an alias (to a list, each item of
        // which counts, written or as an alias). One being measured holds this merge.
        const direct = isAlias(node.value) ? targets.get(node.value) : undefined;
        const value: unknown = direct ?? node.value;
        const sources: unknown[] = direct === undefined ? [] : [direct];
        if (isSeq(value)) for (const item of value.items as unknown[]) sources.push(isAlias(item) ? targets.get(item) : item);
        if (sources.some((source) => isNode(source) && measuring.has(source))) selfMerge ??= (node.value as Node | null)?.range?.[0] ?? 0;
      }
      return sizeOf(node.key) + sizeOf(node.value);
    }
    if (!isNode(node)) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    // An anchor used inside itself makes a cycle, shared, not expanded: counted once.
    if (measuring.has(node)) return 1;
    measuring.add(node);
    let size = 1;
    if (isMap(node) || isSeq(node)) for (const item of node.items as unknown[]) size = Math.min(bound + 1, size + sizeOf(item));
    measuring.delete(node);
    sizes.set(node, size);
    return size;
  };
  const expanded = sizeOf(doc.contents);
  return { unresolved, selfMerge, collectionKey, repeatedKey, repeatedKeyName, written, expanded, bound };
}

/**
 * How deep the text nests, read from the library's lexer (a loop, not recursive, which knows quotes,
 * comments and block scalars) before its parser reads it: flow brackets, runs of `- ` and `? ` on
 * one line, and block indentation in steps of two. The parser recurses once a level and, past about
 * 600, runs out of stack; caught once, a second such parse in the same process can abort it (a
 * gateway reloading a broken file twice). Returns the offset where the limit is passed.
 */
function tooDeep(text: string): number | undefined {
  let offset = 0;
  let flow = 0;
  let lineStart = true;
  let indent = 0;
  let indicators = 0;
  let scalarNext = false;
  for (const token of new Lexer().lex(text)) {
    // The lexer's markers (a document, a scalar to come, the end of flow) are not the file's text.
    if (token.length === 1 && token < ' ' && token !== '\t' && token !== '\n' && token !== '\r') {
      scalarNext = token === '\u001f';
      continue;
    }
    const at = offset;
    offset += token.length;
    if (scalarNext) {
      // A scalar's text, quoted, plain or a block scalar's body: what it holds is not structure.
      scalarNext = false;
      lineStart = false;
      continue;
    }
    const type = CST.tokenType(token);
    if (type === 'newline') {
      lineStart = true;
      indent = 0;
      indicators = 0;
      continue;
    }
    if (type === 'space' && lineStart) {
      indent = token.length - token.trimStart().length;
      if (indent > 2 * deepestNesting) return at + 2 * deepestNesting;
      continue;
    }
    lineStart = false;
    if (type === 'flow-map-start' || type === 'flow-seq-start') {
      flow += 1;
      if (flow > deepestNesting) return at;
    } else if (type === 'flow-map-end' || type === 'flow-seq-end') flow = Math.max(0, flow - 1);
    else if (type === 'seq-item-ind' || type === 'explicit-key-ind') {
      indicators += 1;
      if (indicators + indent / 2 > deepestNesting) return at;
    }
  }
  return undefined;
}

const yamlTag = 'tag:yaml.org,2002:';
/** The tags whose values these files take: plain strings, numbers, booleans, nulls, maps and lists. */
const plainTags: ReadonlySet<string> = new Set(['!', ...['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((name) => `${yamlTag}${name}`)]);

/** YAML 1.1's types beyond the plain ones, which the library resolves (`merge` is the `<<` key's). */
const yaml11Types: ReadonlySet<string> = new Set(['omap', 'pairs', 'set', 'binary', 'timestamp', 'merge'].map((name) => `${yamlTag}${name}`));

function typeRefusal(tag: string): string {
  return `the tag '!!${tag.slice(yamlTag.length, yamlTag.length + 30)}' makes a value of a kind this file does not take (an ordered map, pairs, a set, binary data, a timestamp)`;
}
const typeSuggestion = 'remove the tag, and write a plain map, list or string';

/**
 * Where the tag naming `type` begins, between `after` and a value that starts at `valueStart`: the last token
 * before it that starts with '!' and ends with the type's name (`!!omap`, `!e!omap`, a verbatim
 * `!<tag:yaml.org,2002:omap>`), passing over comments and anchors between that hold the name or a '!'.
 */
function tagStart(text: string, type: string, valueStart: number, after: number): number | undefined {
  for (let end = text.lastIndexOf(type, valueStart); end >= after; end = text.lastIndexOf(type, end - 1)) {
    if (!/^(?:[\s[{>]|$)/.test(text.slice(end + type.length, end + type.length + 1))) continue;
    const verbatim = `!<${yamlTag}`;
    if (text.slice(end - verbatim.length, end) === verbatim) return end - verbatim.length;
    // Back over the handle's own characters only, never past the scalar before (R56: '{"a":!!omap').
    let begin = end;
    while (begin > after && /[\w!-]/.test(text[begin - 1] ?? ' ')) begin -= 1;
    const handle = text.slice(begin, end);
    // Not inside a comment on its line: looked for after the scalar before, so a quoted key's ' #' is no comment (R55).
    if (/(?:^|\s)#/.test(text.slice(Math.max(after, text.lastIndexOf('\n', begin) + 1), begin))) continue;
    // A named or secondary handle (!e!, !!), or the primary one a %TAG line made YAML's (!).
    if (/^![\w-]*!?$/.test(handle) && begin >= after) return begin;
  }
  return undefined;
}

/**
 * The first tag in the file (in file order) whose value would not be read as its writer meant: a tag
 * the schema does not know (`!env NAME`, `!include`), which the library drops with a warning keeping
 * the text as written (a key read from the environment elsewhere would be the variable's name here,
 * E51); a plain tag whose value does not fit it (`!!int abc`), dropped alike; and one of YAML 1.1's
 * other types (`!!omap`, `!!set`, `!!binary`, `!!timestamp`), whose values no field takes (R51: an
 * ordered map under `resilience` was read as no settings at all, every default applied).
 */
function tagRefusal(doc: Document, text: string): { readonly offset: number; readonly message: string; readonly suggestion: string } | undefined {
  const candidates: { offset: number; message: string; suggestion: string }[] = [];
  for (const warning of doc.warnings) {
    if (warning.code !== 'TAG_RESOLVE_FAILED') continue;
    const tag = /^Unresolved tag: (\S+)/.exec(warning.message)?.[1] ?? '';
    if (plainTags.has(tag)) {
      // As the library reads the plain types (its !!float wants a point or an exponent: '1' is no float to it).
      const name = `!!${tag.slice(yamlTag.length)}`;
      candidates.push({ offset: warning.pos[0], message: `the value here cannot be read as its tag '${name}' says: the tag would be dropped and the value read as written`, suggestion: 'remove the tag (a plain value is read by its form), or write a value of its kind' });
    } else if (yaml11Types.has(tag)) {
      // A YAML 1.1 type on a value it cannot take (`!!set x`): refused as the type is (R53).
      candidates.push({ offset: warning.pos[0], message: typeRefusal(tag), suggestion: typeSuggestion });
    } else if (tag.startsWith(yamlTag)) {
      candidates.push({ offset: warning.pos[0], message: `the tag '!!${tag.slice(yamlTag.length, yamlTag.length + 30)}' is no YAML type this file reads: the tag would be dropped and the value read as written`, suggestion: 'remove the tag' });
    } else {
      // Named when word-shaped (!env, !include, !Ref, !GetAtt): not text that may be a pasted key.
      const name = /^![A-Za-z][a-z]{1,15}(?:[A-Z][a-z]+){0,3}$/.test(tag) ? `'${tag}'` : 'here';
      candidates.push({ offset: warning.pos[0], message: `the tag ${name} is not supported: this file takes plain values, and the value would be read as written, tag dropped`, suggestion: 'remove the tag; a value meant to come from the environment goes there by the field made for it (an endpoint key: apiKeyEnv, naming the variable)' });
    }
  }
  // Where the last scalar before a node ended (its key, the item before): its tag is after that,
  // so a comment or value further up that names the type is never taken for it (R54).
  let scalarEnd = 0;
  visit(doc, {
    Node(_key, node) {
      const tag = node.tag;
      if (tag === undefined || plainTags.has(tag) || !tag.startsWith(yamlTag)) {
        if (isScalar(node)) scalarEnd = node.range?.[1] ?? scalarEnd;
        return undefined;
      }
      const start = node.range?.[0] ?? 0;
      candidates.push({ offset: tagStart(text, tag.slice(yamlTag.length), start, scalarEnd) ?? start, message: typeRefusal(tag), suggestion: typeSuggestion });
      return visit.BREAK;
    },
  });
  return candidates.sort((a, b) => a.offset - b.offset)[0];
}

export function parseYamlSource(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const deep = tooDeep(text);
  if (deep !== undefined) {
    const before = text.slice(0, deep);
    return { ok: false, problems: [{ code: 'syntax', file, line: before.split('\n').length, column: deep - before.lastIndexOf('\n'), path: '', message: `YAML error: nested more than ${String(deepestNesting)} levels deep (lists and maps inside each other, or indentation)`, suggestion: 'a spec nests a few levels; check the brackets and indentation here' }] };
  }
  // logLevel 'error': warnings (e.g. complex keys) become no output rather than text on stderr.
  // Repeated keys are found in aliasScan's walk: the library's check compares each key with every
  // key before it in its mapping, seconds for a mapping of tens of thousands.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, merge: true, prettyErrors: false, logLevel: 'error' });
  if (doc.errors.length > 0) {
    // One misplaced tab or indent makes the parser report every line after it: the first error is the
    // one to fix, and the rest are counted rather than listed.
    const later = doc.errors.length - 1;
    return {
      ok: false,
      problems: doc.errors.slice(0, 1).map((error) => {
        // The parser reports an unclosed quote where the file ends; the user needs where it opened.
        const opened = error.code === 'MISSING_CHAR' && error.message.includes('quote') ? unclosedQuoteAt(text, error.pos[0]) : undefined;
        const where = lineCounter.linePos(opened ?? error.pos[0]);
        return {
          code: 'syntax',
          file,
          line: where.line,
          column: where.col,
          path: '',
          message: opened === undefined ? `YAML syntax error: ${syntaxMessage(error.code, error.message)}` : 'YAML syntax error: this quoted string is never closed',
          suggestion: `${opened === undefined ? 'check indentation, quoting and that each key appears once' : 'add the closing quote on this line, or escape a quote inside the string (\\" in double quotes, \'\' in single quotes)'}${later === 0 ? '' : `; the parser found ${String(later)} more error${later === 1 ? '' : 's'} after this one, which may follow from it`}`,
        } satisfies SpecProblem;
      }),
    };
  }
  let data: unknown;
  // Aliases are resolved here, not while parsing, each tied to its anchor by aliasScan; an alias to
  // no anchor, and a file whose aliases expand it past what it writes many times over (a bomb), are
  // refused first: expanded, a bomb would take the process's memory and time.
  const scan = aliasScan(doc);
  if (scan.repeatedKey !== undefined) {
    const where = lineCounter.linePos(scan.repeatedKey);
    // Named (E51: 'a key appears twice' left the reader to find which); the line and column say where.
    const message = scan.repeatedKeyName === undefined ? syntaxMessage('DUPLICATE_KEY', '') : `the key '${scan.repeatedKeyName}' appears twice in the same mapping`;
    return { ok: false, problems: [{ code: 'syntax', file, line: where.line, column: where.col, path: '', message: `YAML syntax error: ${message}`, suggestion: scan.repeatedKeyName === undefined ? 'check indentation, quoting and that each key appears once' : `keep one '${scan.repeatedKeyName}' here (check indentation too: a key indented as its neighbours' belongs to their mapping)` }] };
  }
  const refusals: SpecProblem[] = [];
  if (scan.unresolved !== undefined) {
    const where = lineCounter.linePos(scan.unresolved);
    refusals.push({ code: 'syntax', file, line: where.line, column: where.col, path: '', message: 'YAML error: an alias (*name) to an anchor (&name) not defined before it', suggestion: 'define every anchor (&name) before using it (*name)' });
  }
  if (scan.selfMerge !== undefined) {
    const where = lineCounter.linePos(scan.selfMerge);
    refusals.push({ code: 'syntax', file, line: where.line, column: where.col, path: '', message: 'YAML error: a map merged into itself (a merge key, <<, naming the anchor of a map it is inside): merged, it would copy itself without end', suggestion: 'merge another anchor, written before the map' });
  }
  if (scan.collectionKey !== undefined) {
    const where = lineCounter.linePos(scan.collectionKey);
    refusals.push({ code: 'syntax', file, line: where.line, column: where.col, path: '', message: 'YAML error: a key that is a list or a map (`? [a]` or `[a]: b`); keys here are names', suggestion: 'write the key as a plain name' });
  }
  if (scan.selfMerge === undefined && scan.expanded > scan.bound) {
    refusals.push({ code: 'syntax', file, line: 1, column: 1, path: '', message: `YAML error: the file's aliases expand it past ${String(scan.bound)} values, where it writes ${String(scan.written)} (the bound is ${String(expansionPerValueWritten)} times those, and at least ${String(leastExpansionBound)}): anchors used inside anchors, or a large map merged into many, multiply`, suggestion: 'write the repeated part out, or nest and merge anchors less' });
  }
  // YAML 1.1 reads plain values otherwise (no as false, 010 as 8, a date as a timestamp): a block
  // written as a date was read as no settings, every default applied (R52). The files are YAML 1.2.
  if (doc.directives?.yaml.explicit === true && doc.directives.yaml.version === '1.1') {
    const where = lineCounter.linePos(Math.max(0, text.search(/^%YAML/m)));
    refusals.push({ code: 'syntax', file, line: where.line, column: where.col, path: '', message: "YAML error: '%YAML 1.1' reads plain values as YAML 1.1 does (no as false, 010 as 8, 2001-12-14 as a date), otherwise than this file's fields are read", suggestion: 'remove the %YAML line: these files are YAML 1.2 (quote a value meant as text, as in "no")' });
  }
  const tag = tagRefusal(doc, text);
  if (tag !== undefined) {
    const where = lineCounter.linePos(tag.offset);
    refusals.push({ code: 'syntax', file, line: where.line, column: where.col, path: '', message: `YAML error: ${tag.message}`, suggestion: tag.suggestion });
  }
  if (refusals.length > 0) return { ok: false, problems: refusals };
  try {
    // The bound is aliasScan's: the library's own (uses of an anchor times the aliases in it) refuses flat use past 1,000.
    data = doc.toJS({ maxAliasCount: -1 });
  } catch (error) {
    // What the library refuses of what is left (a merge of something that is not a map).
    return {
      ok: false,
      problems: [{ code: 'syntax', file, line: 1, column: 1, path: '', message: `YAML error: ${syntaxMessage(undefined, error instanceof Error ? error.message : String(error))}`, suggestion: 'merge keys (<<) take a map, or a list of maps, written or as an alias' }],
    };
  }
  // A file that is not a mapping of keys at all: said in one problem, not one per missing key. Its
  // text is not quoted: a file given in place of this one (a key file, a .env) may hold a secret.
  if (data === null || data === undefined || typeof data !== 'object') {
    const what = data === null || data === undefined ? 'the file is empty (nothing but comments or blank lines)' : 'the file holds a single value (not shown), not a mapping of keys';
    return { ok: false, problems: [{ code: 'invalid_value', file, line: 1, column: 1, path: '', message: what, suggestion: 'check the path given: this file should be YAML, one "key: value" per line' }] };
  }
  // Top-level keys that start with `x-` are extension fields, as in Compose files: a place to
  // define anchors (&name) for the rest of the file to alias. They are left out of the data.
  if (!Array.isArray(data) && Object.keys(data).some(isExtensionKey)) {
    data = Object.fromEntries(Object.entries(data).filter(([key]) => !isExtensionKey(key)));
  }
  const at = (offset: number | undefined): Location => {
    const where = lineCounter.linePos(offset ?? 0);
    return { line: where.line, column: where.col };
  };
  return {
    ok: true,
    source: {
      file,
      data,
      locate: (path) => at(nodeAt(doc, path)?.range?.[0]),
      locateKey: (path, key) => {
        const parent = nodeAt(doc, path);
        if (isMap(parent)) {
          for (const item of parent.items) {
            if (isPair(item) && isScalar(item.key) && String(item.key.value) === key) return at(item.key.range?.[0]);
          }
        }
        return at(parent?.range?.[0]);
      },
    },
  };
}

function isExtensionKey(key: string): boolean {
  return key.startsWith('x-');
}

type RangedNode = { range?: [number, number, number] | null | undefined };

/** The deepest existing node along `path`, so a missing field points at its parent object. */
function nodeAt(doc: Document, path: readonly PropertyKey[]): RangedNode | undefined {
  for (let depth = path.length; depth >= 0; depth -= 1) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node)) return node as RangedNode;
  }
  return undefined;
}

/** Where the quoted scalar that runs on to offset `end` (an unclosed one) opens, from the parser's tokens. */
function unclosedQuoteAt(text: string, end: number): number | undefined {
  let found: number | undefined;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const token = node as { type?: unknown; offset?: unknown; source?: unknown };
    if ((token.type === 'double-quoted-scalar' || token.type === 'single-quoted-scalar') && typeof token.offset === 'number' && typeof token.source === 'string') {
      if (token.offset < end && token.offset + token.source.length >= end) found = token.offset;
    }
    for (const value of Object.values(node)) visit(value);
  };
  for (const token of new Parser().parse(text)) visit(token);
  return found;
}

/**
 * The parser's account of a syntax error, without the file's own text: its messages quote the
 * source after a colon ("Block scalar header includes extra characters: >sk-live-..."), which may
 * be a secret pasted in the wrong place, or a binary file's bytes.
 */
function syntaxMessage(code: string | undefined, message: string): string {
  if (code === 'MULTIPLE_DOCS') return 'the file holds more than one YAML document (a line of ---, or ... , between them); keep one';
  if (code === 'DUPLICATE_KEY') return 'a key appears twice in the same mapping';
  // The parser's code for both a deeper-indented next line and a value holding ': ' on one line.
  if (code === 'BLOCK_AS_IMPLICIT_KEY') return "a key's value here reads as a mapping of its own: a line after it indented deeper than the key (indent it as the keys beside it), or a value holding ': ' (quote the value)";
  const first = message.split('\n')[0] ?? message;
  const colon = first.indexOf(': ');
  const said = colon > 0 ? first.slice(0, colon) : first;
  return said.length > 160 ? `${said.slice(0, 160)}...` : said;
}
