import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/paths.js';

// The architecture's rule that dependencies point one way (domain and catalog -> performance model ->
// planner and router -> servers, emulator, `up` and CLI), checked on the imports as written, so that a
// wrong import fails here rather than in a review.

const sourceRoot = join(repoRoot, 'src');

/** Each folder of src and the folders it may import from; a folder may always import its own files. */
const allowedImports: Readonly<Record<string, readonly string[]>> = {
  catalog: [],
  random: [],
  domain: ['catalog'],
  // The API formats (requests, answers, SSE): read by the gateway and the emulator alike.
  protocol: ['domain'],
  performance: ['catalog', 'domain'],
  planner: ['catalog', 'domain', 'performance'],
  gateway: ['catalog', 'domain', 'protocol', 'performance'],
  emulator: ['catalog', 'domain', 'performance', 'protocol', 'random'],
  up: ['catalog', 'domain', 'performance', 'protocol', 'planner', 'gateway', 'emulator', 'random'],
  cli: ['catalog', 'domain', 'performance', 'protocol', 'planner', 'gateway', 'emulator', 'random', 'up'],
};

/**
 * Pure cores: decisions over plain data, with the clock, randomness and I/O injected by their shells,
 * so that the simulator can run them unchanged.
 */
const pureCores: readonly string[] = [
  'catalog/',
  'performance/',
  'random/',
  // The planner but its solver adapter (see shellsInCores): a file added to it is checked (R58).
  'planner/',
  'gateway/route-request.ts',
  'gateway/hash-ring.ts',
  'gateway/circuit-breaker.ts',
  'gateway/retry-policy.ts',
  'gateway/token-bucket.ts',
  'gateway/endpoint-pool.ts',
  'emulator/batch-scheduler.ts',
  'emulator/first-at-or-after.ts',
  'emulator/faults.ts',
];

/** Files of a pure core's folder that are its shell: milp.ts runs HiGHS, and reads the wall clock HiGHS counts its limit on. */
const shellsInCores: ReadonlySet<string> = new Set(['planner/milp.ts']);

/** Packages that do I/O; a pure core imports none of them, nor any of Node's own modules. */
const ioPackages: readonly string[] = ['undici', 'pino', 'prom-client', 'commander'];

/** Globals whose members read a clock, a random source or the process: `Math` only for `random`. */
const ambientObjects: Readonly<Record<string, ((member: string) => boolean) | undefined>> = {
  Date: (member) => member === 'now',
  Math: (member) => member === 'random',
  performance: () => true,
  process: () => true,
  crypto: () => true,
  AbortSignal: (member) => member === 'timeout',
};

/** Global functions that read the clock, do I/O or schedule work on their own. */
const ambientCalls: ReadonlySet<string> = new Set(['fetch', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'Date']);

interface SourceFile {
  /** Path under src, with '/' separators: `gateway/route-request.ts`. */
  readonly name: string;
  readonly text: string;
  /** Every module specifier it imports: static, dynamic and re-exports. */
  readonly imports: readonly string[];
}

function sourceFiles(): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        const imports = ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName);
        files.push({ name: relative(sourceRoot, path).split(sep).join('/'), text, imports });
      }
    }
  };
  walk(sourceRoot);
  return files;
}

/** The file under src a relative specifier names (`./x.js` is written for `./x.ts`). */
function targetOf(from: string, specifier: string): string {
  const absolute = resolve(dirname(join(sourceRoot, from)), specifier.replace(/\.js$/, '.ts'));
  return relative(sourceRoot, absolute).split(sep).join('/');
}

const folderOf = (name: string): string => name.split('/')[0] ?? name;

/** Every cycle's files (Tarjan's strongly connected components of more than one file, or a self-import). */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const lowest = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, index.size);
    lowest.set(file, index.get(file) ?? 0);
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        lowest.set(file, Math.min(lowest.get(file) ?? 0, lowest.get(next) ?? 0));
      } else if (onStack.has(next)) {
        lowest.set(file, Math.min(lowest.get(file) ?? 0, index.get(next) ?? 0));
      }
    }
    if (lowest.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) cycles.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}

/** The rule broken by each import of one file, if any (pure so that the rules themselves are tested). */
function layerViolations(file: SourceFile, known: ReadonlySet<string>): string[] {
  const violations: string[] = [];
  const from = folderOf(file.name);
  const allowed = allowedImports[from];
  if (allowed === undefined) return [`${file.name}: folder src/${from} has no row in allowedImports; add one saying what it may import`];
  for (const specifier of file.imports) {
    if (!specifier.startsWith('.')) continue;
    const target = targetOf(file.name, specifier);
    if (!known.has(target)) violations.push(`${file.name} imports ${specifier}, which is not a file under src`);
    const to = folderOf(target);
    if (to !== from && !allowed.includes(to)) violations.push(`${file.name} imports ${target}: src/${from} may not import src/${to}`);
  }
  return violations;
}

/**
 * What a file uses of I/O, clocks and randomness of its own: the modules it imports, and the globals
 * it reads, found in its syntax tree (not in comments or strings). Only the file itself: what the
 * modules it imports do is theirs to answer for (each pure core is on the list in its own right).
 */
function impurities(file: SourceFile): string[] {
  const found: string[] = [];
  for (const specifier of file.imports) {
    if (specifier.startsWith('node:') || ioPackages.includes(specifier)) found.push(`${file.name} imports ${specifier}`);
  }
  const uses = (what: string): void => {
    found.push(`${file.name} uses ${what} (inject the clock, randomness, I/O or process state instead)`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && ambientObjects[node.expression.text]?.(node.name.text) === true) uses(`${node.expression.text}.${node.name.text}`);
    // The same reached around the plain form (R37): through globalThis, by a computed member, or taken apart.
    if ((ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) && ts.isIdentifier(node.expression) && node.expression.text === 'globalThis') uses('globalThis');
    if (ts.isElementAccessExpression(node) && ts.isIdentifier(node.expression) && ambientObjects[node.expression.text] !== undefined) uses(`${node.expression.text}[...]`);
    if (ts.isVariableDeclaration(node) && ts.isObjectBindingPattern(node.name) && node.initializer !== undefined && ts.isIdentifier(node.initializer) && ambientObjects[node.initializer.text] !== undefined) uses(`{ ... } = ${node.initializer.text}`);
    if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && ts.isIdentifier(node.expression) && ambientCalls.has(node.expression.text)) {
      // A date made from a given time reads no clock; Date() and new Date() read it.
      const readsClock = node.expression.text !== 'Date' || (node.arguments ?? []).length === 0;
      if (readsClock) uses(`${ts.isNewExpression(node) ? 'new ' : ''}${node.expression.text}()`);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file.name, file.text, ts.ScriptTarget.Latest, true));
  return found;
}

const isPureCore = (name: string): boolean => !shellsInCores.has(name) && pureCores.some((core) => (core.endsWith('/') ? name.startsWith(core) : name === core));

describe('import layers', () => {
  const files = sourceFiles();
  const known = new Set(files.map((file) => file.name));

  it('finds the source files and their imports', () => {
    // A guard on the walk itself: an empty or import-less list would pass every check below.
    expect(files.length).toBeGreaterThan(100);
    expect(files.find((file) => file.name === 'gateway/route-request.ts')?.imports).toContain('./gateway-config.js');
    expect(files.find((file) => file.name === 'cli/commands/gateway-command.ts')?.imports).toContain('../../gateway/gateway-server.js');
  });

  it('every folder imports only the folders below it', () => {
    expect(files.flatMap((file) => layerViolations(file, known))).toEqual([]);
  });

  it('no file imports itself through others', () => {
    const graph = new Map(files.map((file) => [file.name, file.imports.filter((s) => s.startsWith('.')).map((s) => targetOf(file.name, s))] as const));
    expect(importCycles(graph)).toEqual([]);
  });

  it('pure cores use no I/O, clock or randomness of their own', () => {
    const cores = files.filter((file) => isPureCore(file.name));
    for (const core of pureCores) expect(cores.some((file) => isPureCore(file.name) && file.name.startsWith(core)), core).toBe(true);
    expect(cores.flatMap(impurities)).toEqual([]);
  });

  it('the checks catch what they are for', () => {
    // A planner file added later is a pure core; its solver adapter, which exists, is not.
    expect([isPureCore('planner/new-step.ts'), isPureCore('planner/milp.ts'), known.has('planner/milp.ts')]).toEqual([true, false, true]);
    const upward: SourceFile = { name: 'performance/x.ts', text: '', imports: ['../gateway/route-request.js'] };
    expect(layerViolations(upward, known)).toEqual(['performance/x.ts imports gateway/route-request.ts: src/performance may not import src/gateway']);
    const stray: SourceFile = { name: 'newpart/x.ts', text: '', imports: [] };
    expect(layerViolations(stray, known)[0]).toContain('no row in allowedImports');
    expect(importCycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]))).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(importCycles(new Map([['a.ts', ['a.ts']]]))).toEqual([['a.ts']]);
    const said = (what: string): string => `gateway/route-request.ts uses ${what} (inject the clock, randomness, I/O or process state instead)`;
    const clock: SourceFile = { name: 'gateway/route-request.ts', text: '// Date.now() in a comment is fine\nconst t = Date.now();', imports: ['node:http'] };
    expect(impurities(clock)).toEqual(['gateway/route-request.ts imports node:http', said('Date.now')]);
    // R36: globals the first version missed, and a call after a URL in a string on the same line.
    const globals: SourceFile = { name: 'gateway/route-request.ts', text: 'const u = "http://example.com"; const t = Date.now();\nconst id = crypto.randomUUID() + String(Date());\nconst f = (): unknown => fetch("http://x");\nconst d = new Date();\nconst given = new Date(0);\nconst m = Math.max(1, 2);', imports: [] };
    expect(impurities(globals)).toEqual([said('Date.now'), said('crypto.randomUUID'), said('Date()'), said('fetch()'), said('new Date()')]);
    const around: SourceFile = { name: 'gateway/route-request.ts', text: "const a = globalThis.Date.now();\nconst b = Math['random']();\nconst { now } = Date;\nconst c = AbortSignal.timeout(5);", imports: [] };
    expect(impurities(around)).toEqual([said('globalThis'), said('Math[...]'), said('{ ... } = Date'), said('AbortSignal.timeout')]);
  });
});
