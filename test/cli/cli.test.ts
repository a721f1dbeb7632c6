import { execFileSync, spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureOutput, type CapturedOutput } from '../helpers/capture-output.js';
import { frontierYamlPath, issueSpecPath, makeTempDir, readText, repoRoot, smallYamlPath, type TempDir } from '../helpers/paths.js';

const small = readText(smallYamlPath);

async function run(argv: readonly string[]): Promise<{ code: number; io: CapturedOutput }> {
  const io = captureOutput();
  const code = await main(argv, io);
  return { code, io };
}

function parseJson(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('expected a JSON object');
  return value as Record<string, unknown>;
}

/** No stack frames, no "internal error": what a user sees for bad input. */
function expectCleanError(stderr: string): void {
  expect(stderr).not.toBe('');
  expect(stderr).not.toContain('    at ');
  expect(stderr).not.toContain('internal error');
}

let temp: TempDir;
beforeAll(() => {
  temp = makeTempDir('cli');
});
afterAll(() => {
  temp.remove();
});

describe('switchyard CLI in-process', () => {
  it('--help exits 0 and lists the commands on stdout', async () => {
    const { code, io } = await run(['--help']);
    expect(code).toBe(0);
    expect(io.stdout()).toContain('Usage: switchyard');
    for (const command of ['plan', 'catalog', 'perf']) expect(io.stdout()).toContain(command);
    expect(io.stderr()).toBe('');
  });

  it('no arguments prints help and exits 0; --version prints the version', async () => {
    const none = await run([]);
    expect(none.code).toBe(0);
    expect(none.io.stdout()).toContain('Usage: switchyard');
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    expect(version.io.stdout()).toBe('0.1.0');
  });

  it('plan examples/small.yaml exits 0 and prints an OPTIMAL plan table', async () => {
    const { code, io } = await run(['plan', smallYamlPath]);
    expect(code).toBe(0);
    expect(io.stdout()).toContain('OPTIMAL');
    expect(io.stdout()).toContain(`Plan for ${smallYamlPath}`);
    expect(io.stdout()).toContain('Allocations');
    for (const workload of ['chat-us', 'assist-eu', 'finetune-70b']) expect(io.stdout()).toContain(workload);
    expect(io.stderr()).toBe('');
  });

  it('plan --json prints one JSON object with status and allocations', async () => {
    const { code, io } = await run(['plan', smallYamlPath, '--json']);
    expect(code).toBe(0);
    const plan = parseJson(io.stdout());
    expect(plan.status).toBe('optimal');
    expect(Array.isArray(plan.allocations)).toBe(true);
    const allocations = plan.allocations as { workload: string; pool: string; chips: number }[];
    expect(allocations.length).toBeGreaterThan(0);
    const workloads = new Set(allocations.map((a) => a.workload));
    expect(workloads).toEqual(new Set(['chat-us', 'assist-eu', 'finetune-70b']));
    const pools = new Set(['gcp-usc1-v6e', 'aws-use1-h100', 'azure-weu-h100', 'gcp-euw4-v6e']);
    for (const allocation of allocations) {
      expect(pools.has(allocation.pool)).toBe(true);
      expect(allocation.chips).toBeGreaterThan(0);
    }
    expect(plan.policy).toEqual({ objective: 'cost', headroom: 0.2, survive: { lose: 'provider', keep: 0.5 }, maxShare: { provider: 0.8, chipVendor: null } });
    expect(typeof plan.costPerHour).toBe('number');
  });

  it('plan --json on the issue spec exits 0 with a feasible plan', async () => {
    const { code, io } = await run(['plan', issueSpecPath, '--json', '--time-limit', '5']);
    expect(code).toBe(0);
    const plan = parseJson(io.stdout());
    expect(['optimal', 'feasible']).toContain(plan.status);
    const workloads = new Set((plan.allocations as { workload: string }[]).map((a) => a.workload));
    expect(workloads).toEqual(new Set(['chat-eu', 'pretrain-next']));
  });

  it('a bad spec exits 2 with one file:line:col: path: message line per problem and no stack trace', async () => {
    let text = small.replace('    chips: 512\n', '    chips: -4\n');
    text = text.replace('model: llama-3.1-8b', 'model: 17');
    text = text.replace('chip: h100, chips: 256, pricing: on-demand }', 'chip: h100, chips: 256, pricing: ondemand }');
    expect(text).not.toBe(small);
    const file = temp.write('bad-spec.yaml', text);
    const { code, io } = await run(['plan', file]);
    expect(code).toBe(2);
    expect(io.stdout()).toBe('');
    expectCleanError(io.stderr());
    expect(io.errLines).toEqual([
      `${file}:13:12: pools[0].chips: expected a value > 0, got -4; use a value above 0`,
      `${file}:15:111: pools[1].pricing: expected one of committed, on-demand, spot, got 'ondemand'; did you mean 'on-demand'?`,
      `${file}:28:12: services[1].model: expected a string, got 17; write text; quote it if it looks like a number or a date`,
    ]);
    for (const line of io.stderr().split('\n')) expect(line).toMatch(/^.+:\d+:\d+: [A-Za-z]+(\[\d+\])?(\.[A-Za-z]+(\[\d+\])?)*: .+$/);
  });

  it('reference problems are all printed, each with its suggestion', async () => {
    let text = small.replace('    chip: tpu-v6e\n', '    chip: h10\n');
    text = text.replace('jurisdictions: [eu]', 'jurisdictions: [euu]');
    const file = temp.write('bad-refs.yaml', text);
    const { code, io } = await run(['plan', file, '--json']);
    expect(code).toBe(2);
    // With --json, a script reading stdout gets the same problems as data.
    expect(JSON.parse(io.stdout())).toEqual({ status: 'invalid-spec', problems: [expect.objectContaining({ code: 'unknown_reference', path: 'pools[0].chip', line: 12 }), expect.objectContaining({ code: 'unknown_reference', path: 'services[1].jurisdictions[0]', line: 33 })] });
    expectCleanError(io.stderr());
    expect(io.errLines).toEqual([
      `${file}:12:11: pools[0].chip: unknown chip 'h10'; did you mean 'h100'?`,
      `${file}:33:21: services[1].jurisdictions[0]: unknown jurisdiction 'euu'; did you mean 'eu'?`,
    ]);
  });

  it('a YAML syntax error exits 2 with the line number', async () => {
    const file = temp.write('bad-indent.yaml', small.replace('    region: us-central1\n', '   region: us-central1\n'));
    const { code, io } = await run(['plan', file]);
    expect(code).toBe(2);
    expectCleanError(io.stderr());
    expect(io.errLines[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:9:1: YAML syntax error: `));
  });

  it('a nonexistent file exits 2 with "cannot read"', async () => {
    const { code, io } = await run(['plan', '/nonexistent/switchyard/fleet.yaml']);
    expect(code).toBe(2);
    expectCleanError(io.stderr());
    expect(io.errLines).toEqual(['/nonexistent/switchyard/fleet.yaml: cannot read the fleet file (ENOENT); check the path']);
  });

  it('an unknown subcommand exits 2', async () => {
    const { code, io } = await run(['replan', smallYamlPath]);
    expect(code).toBe(2);
    expectCleanError(io.stderr());
    expect(io.stderr()).toContain("unknown command 'replan'");
  });

  it('an unknown option and a missing argument exit 2', async () => {
    const option = await run(['plan', smallYamlPath, '--jsno']);
    expect(option.code).toBe(2);
    expect(option.io.stderr()).toContain("unknown option '--jsno'");
    const missing = await run(['plan']);
    expect(missing.code).toBe(2);
    expect(missing.io.stderr()).toContain("missing required argument 'fleet.yaml'");
  });

  it('a flag given twice with two values is refused, naming both; the same value twice is taken (E51: the last won, unsaid)', async () => {
    const twice = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--input', '10', '--input', '20']);
    expect(twice.code).toBe(2);
    expectCleanError(twice.io.stderr());
    expect(twice.io.stderr()).toContain("option '--input <tokens>' given twice, as '10' and '20': give it once");
    const key = await run(['gateway', '--config', 'a.yaml', '--host', '127.0.0.1', '--host', 'sk-live-0123456789abcdefghij']);
    expect(key.code).toBe(2);
    expect(key.io.stderr()).toContain("option '--host <host>' given twice, as '127.0.0.1' and (a value that looks like a key, not shown): give it once");
    expect(key.io.stderr()).not.toContain('sk-live');
    const same = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--input', '10', '--input', '10', '--json', '--json']);
    expect(same.code).toBe(0);
    // The same value as read, written otherwise (R52: '10' and '010' were refused as two).
    expect((await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--input=10', '--input', '010', '--tpot-ms', '50', '--tpot-ms', '50.0'])).code).toBe(0);
    // A bad value that looks like a key is not quoted back either (R52).
    const pasted = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--input', 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345']);
    expect(pasted.code).toBe(2);
    expect(pasted.io.stderr()).toContain('--input must be a positive whole number, got (a value that looks like a key, not shown).');
    expect(pasted.io.stderr()).not.toContain('sk-ant');
    const json = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--json', '--port-typo', '1', '--input', 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345']);
    expect(json.code).toBe(2);
    expect(`${json.io.stdout()}${json.io.stderr()}`).not.toContain('sk-ant');
    const jsonValue = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--json', '--input', 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345']);
    expect(JSON.parse(jsonValue.io.stdout())).toMatchObject({ status: 'usage-error', message: expect.stringContaining('looks like a key, not shown)') });
    expect(jsonValue.io.stdout()).not.toContain('sk-ant');
    // Nor in the commands' own usage errors (R53: an unknown --model or --chip quoted it).
    const model = await run(['perf', '--json', '--model', 'sk-abcdefghijklmnopqrstuvwx12', '--chip', 'h100']);
    expect(model.code).toBe(2);
    expect(JSON.parse(model.io.stdout())).toMatchObject({ status: 'usage-error', message: expect.stringContaining('--model: unknown model (a value that looks like a key, not shown);') });
    expect(`${model.io.stdout()}${model.io.stderr()}`).not.toContain('sk-abc');
    // A mixed-case run the logs' filter hides is hidden here too (R55: it passed one of the two tests).
    const mixed = await run(['perf', '--json', '--model', 'Abc123Def456Ghi789Jkl012Mno345', '--chip', 'h100']);
    expect(`${mixed.io.stdout()}${mixed.io.stderr()}`).not.toContain('Abc123Def456');
    // A fleet's own ids are still suggested, whatever they look like (R54: 'sk-learn-m' was hidden too).
    const fleet = temp.write('key-like-ids.yaml', readText(frontierYamlPath).replace('{ id: frontier-s,', '{ id: sk-learn-m,').replaceAll('model: frontier-s', 'model: sk-learn-m'));
    const suggested = await run(['perf', '--fleet', fleet, '--chip', 'h100', '--model', 'sk-learn-n']);
    expect(suggested.code).toBe(2);
    expect(suggested.io.stderr()).toContain("did you mean 'sk-learn-m'?");
  });

  it("a refused value is said once, in the parser's words; a JWT or a key cut short is not quoted either (R56)", async () => {
    const plain = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--input', 'abc']);
    expect(plain.io.stderr().split('\n')[0]).toBe("error: --input must be a positive whole number, got 'abc'.");
    const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
    const token = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--json', '--input', jwt]);
    expect(JSON.parse(token.io.stdout())).toEqual({ status: 'usage-error', message: '--input must be a positive whole number, got (a value that looks like a key, not shown).' });
    expect(`${token.io.stdout()}${token.io.stderr()}`).not.toContain('SflKxw');
    // A choice commander checks is still quoted by commander.
    expect((await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--precision', 'fp3'])).io.stderr()).toContain("argument 'fp3' is invalid. Allowed choices are");
    // A long value is judged whole before it is cut for quoting: the key past the cut is not half shown.
    const long = await run(['perf', '--model', 'llama-3.1-8b', '--model', 'the-model-we-use-and-the-upstream-key-is Abc123Def456Ghi789Jkl012Mno345Pqr678', '--chip', 'h100']);
    expect(long.io.stderr()).toContain("given twice, as 'llama-3.1-8b' and (a value that looks like a key, not shown): give it once");
    expect(long.io.stderr()).not.toContain('Abc123');
    const cut = await run(['perf', '--model', 'llama-3.1-8b', '--model', `${'a-long-model-name-'.repeat(5)}x`, '--chip', 'h100']);
    expect(cut.io.stderr()).toContain(`and '${`${'a-long-model-name-'.repeat(5)}x`.slice(0, 64)}...'`);
  });

  it.each([
    [['perf', '--model', 'x', '--chip', 'h100', '--input', '-5'], '--input must be a positive whole number'],
    [['perf', '--model', 'x', '--chip', 'h100', '--input', '2.5'], '--input must be a positive whole number'],
    [['perf', '--model', 'x', '--chip', 'h100', '--tpot-ms', 'fast'], '--tpot-ms must be a positive number'],
    [['perf', '--model', 'x', '--chip', 'h100', '--precision', 'fp16'], 'fp16'],
    [['plan', 'examples/small.yaml', '--time-limit', 'abc'], '--time-limit must be a number of seconds from 0.1 to 3600, as policy.timeLimitSeconds'],
    [['plan', 'examples/small.yaml', '--time-limit', '0.000001'], '--time-limit must be a number of seconds from 0.1 to 3600'],
    [['plan', 'examples/small.yaml', '--gap', '0'], '--gap must be a fraction from 0.000000001 to 1'],
    [['plan', 'examples/small.yaml', '--gap', '5'], '--gap must be a fraction from 0.000000001 to 1'],
    // The fleet spec's own ranges and checks: a flag is not a way around them.
    [['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--mfu', '2'], '--mfu must be a fraction from 0.001 to 1'],
    [['perf', '--model', 'llama-2-70b', '--chip', 'h100', '--input', '4000'], "--input plus --output (4500 tokens) exceed model 'llama-2-70b' context window of 4096; lower them"],
    [['emulate', '--model', 'llama-2-70b', '--chip', 'h100', '--output', '4000'], "--input plus --output (6000 tokens) exceed model 'llama-2-70b' context window of 4096; lower them"],
    [['plan', 'examples/small.yaml', '--time-limit', 'Infinity'], '--time-limit must be a number of seconds from 0.1 to 3600'],
    // Whole numbers are decimal digits: no hex, no exponents, nothing past 2^53 - 1.
    [['emulate', '--model', 'llama-3.1-8b', '--chip', 'h100', '--port', '0x1F90'], '--port must be a whole number from 0 to 65535'],
    [['emulate', '--model', 'llama-3.1-8b', '--chip', 'h100', '--port', '1e3'], '--port must be a whole number from 0 to 65535'],
    [['emulate', '--model', 'llama-3.1-8b', '--chip', 'h100', '--seed', '1e300'], '--seed must be a whole number >= 0'],
    // One flag, one meaning: up's emulators take the emulator's speed range.
    [['up', 'examples/small.yaml', '--speed', '1e7'], '--speed must be a number from 0.001 to 1000000'],
    [['up', 'examples/small.yaml', '--seed', '9007199254740993'], '--seed must be a whole number >= 0 (at most 9007199254740991)'],
    [['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--tpot-ms', '0x32'], '--tpot-ms must be a positive number'],
    // An empty host would listen on every interface.
    [['gateway', '--config', 'examples/gateway.yaml', '--host', ''], "--host must be an address such as 127.0.0.1, or 0.0.0.0 for every interface, got ''"],
    [['emulate', '--model', 'llama-3.1-8b', '--chip', 'h100', '--host', ' '], "--host must be an address such as 127.0.0.1, or 0.0.0.0 for every interface, got ' '"],
  ])('bad flag values exit 2: %j', async (argv, message) => {
    const { code, io } = await run(argv);
    expect(code).toBe(2);
    expectCleanError(io.stderr());
    expect(io.stderr()).toContain(message);
    expect(io.stdout()).toBe('');
  });

  it('with --json, a bad flag is one object on stdout too (up, plan, perf), as every other stop is', async () => {
    for (const [argv, message] of [
      [['up', 'examples/small.yaml', '--json', '--seed', '-1'], /--seed must be a whole number >= 0/],
      [['plan', 'examples/small.yaml', '--json', '--gap', '5'], /--gap must be a fraction from 0.000000001 to 1/],
      [['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--json', '--train-tokens', '5'], /^--train-tokens and --deadline-days go together$/],
      [['up', 'examples/small.yaml', '--json', '--no-such-flag'], /unknown option '--no-such-flag'/],
    ] as const) {
      const { code, io } = await run([...argv]);
      expect(code).toBe(2);
      expect(JSON.parse(io.stdout())).toEqual({ status: 'usage-error', message: expect.stringMatching(message) });
      expect(io.stderr()).not.toBe('');
    }
  });

  it('perf --json with a bad --fleet file prints the invalid-spec object plan --json gives', async () => {
    const { code, io } = await run(['perf', '--model', 'llama-3.1-8b', '--chip', 'h100', '--json', '--fleet', 'no-such-fleet.yaml']);
    expect(code).toBe(2);
    expect(JSON.parse(io.stdout())).toEqual({ status: 'invalid-spec', problems: [expect.objectContaining({ code: 'file_unreadable', file: 'no-such-fleet.yaml' })] });
  });

  it("perf with a mistyped chip exits 2 with did you mean 'h100'", async () => {
    const { code, io } = await run(['perf', '--model', 'llama-3.1-70b', '--chip', 'h10']);
    expect(code).toBe(2);
    expectCleanError(io.stderr());
    expect(io.errLines).toEqual(["switchyard: --chip: unknown chip 'h10'; did you mean 'h100'?"]);
  });

  it('perf with both chip and model mistyped names both, one line each', async () => {
    const { code, io } = await run(['perf', '--model', 'llama-3.1-70', '--chip', 'h10']);
    expect(code).toBe(2);
    expect(io.errLines).toEqual(["switchyard: --chip: unknown chip 'h10'; did you mean 'h100'?", expect.stringMatching(/^switchyard: --model: unknown model 'llama-3\.1-70'; did you mean '/)]);
  });

  it('perf with a mistyped model exits 2 with a suggestion; --train-tokens alone exits 2', async () => {
    const model = await run(['perf', '--model', 'llama-3.1-7b', '--chip', 'h100']);
    expect(model.code).toBe(2);
    expect(model.io.stderr()).toMatch(/^switchyard: --model: unknown model 'llama-3\.1-7b'; did you mean '/);
    const lonely = await run(['perf', '--model', 'llama-3.1-70b', '--chip', 'h100', '--train-tokens', '1e9']);
    expect(lonely.code).toBe(2);
    expect(lonely.io.errLines).toEqual(['switchyard: --train-tokens and --deadline-days go together']);
  });

  it('perf --json prints a feasible inference profile and training figures', async () => {
    const { code, io } = await run(['perf', '--model', 'llama-3.1-70b', '--chip', 'h100', '--json', '--train-tokens', '1e10', '--deadline-days', '7']);
    expect(code).toBe(0);
    const perf = parseJson(io.stdout());
    const inference = perf.inference as { feasible: boolean; chipsPerReplica: number; outputTokensPerSecond: number };
    expect(inference.feasible).toBe(true);
    expect(inference.chipsPerReplica).toBeGreaterThanOrEqual(1);
    expect(inference.outputTokensPerSecond).toBeGreaterThan(0);
    const training = perf.training as { sizing?: { chips: number } };
    expect(training.sizing?.chips).toBeGreaterThan(0);
  });

  it('perf --fleet with a bad fleet file exits 2 with the file problems', async () => {
    const file = temp.write('perf-bad.yaml', small.replace('    chips: 512\n', '    chips: 0\n'));
    const { code, io } = await run(['perf', '--model', 'llama-3.1-70b', '--chip', 'h100', '--fleet', file]);
    expect(code).toBe(2);
    expectCleanError(io.stderr());
    expect(io.errLines).toEqual([`${file}:13:12: pools[0].chips: expected a value > 0, got 0; use a value above 0`]);
  });

  it('catalog --json parses and lists 21 chips and the model presets', async () => {
    const { code, io } = await run(['catalog', '--json']);
    expect(code).toBe(0);
    const catalog = parseJson(io.stdout());
    const chips = catalog.chips as { id: string }[];
    expect(chips).toHaveLength(21);
    expect(new Set(chips.map((c) => c.id)).size).toBe(21);
    expect(chips.map((c) => c.id)).toEqual(expect.arrayContaining(['tpu7x', 'trainium2', 'h100', 'gb200', 'mi300x', 'maia-200']));
    const models = catalog.models as { id: string }[];
    expect(models.map((m) => m.id)).toEqual(expect.arrayContaining(['llama-3.1-8b', 'llama-3.1-70b']));
  });

  it('catalog without --json prints tables', async () => {
    const { code, io } = await run(['catalog']);
    expect(code).toBe(0);
    expect(io.stdout()).toContain('Accelerators');
    expect(io.stdout()).toContain('tpu7x');
  });
});

/** Crashes found while writing these tests (exit 1, "internal error" for user input), now fixed. */
describe('user input that used to crash (regressions)', () => {
  it('a YAML alias bomb is a spec problem, not an internal error (regression: doc.toJS used to throw)', async () => {
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x,x]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]', ''].join('\n');
    const file = temp.write('alias-bomb.yaml', bomb);
    const { code, io } = await run(['plan', file]);
    expect(io.stderr()).not.toContain('internal error');
    expect(code).toBe(2);
  });

  it('an unresolved alias is a spec problem, not an internal error (regression: doc.toJS used to throw)', async () => {
    const file = temp.write('unresolved-alias.yaml', small.replace('    chips: 512\n', '    chips: *count\n'));
    const { code, io } = await run(['plan', file]);
    expect(io.stderr()).not.toContain('internal error');
    expect(code).toBe(2);
  });


  it('a tiny requestsPerSecond (1e-15) does not crash the solver', async () => {
    const file = temp.write('tiny-rps.yaml', small.replace('requestsPerSecond: 300', 'requestsPerSecond: 1e-15'));
    const { code, io } = await run(['plan', file, '--json']);
    expect(io.stderr()).not.toContain('internal error');
    expect([0, 2, 3]).toContain(code);
  });

  it('a tiny site powerMW (1e-20) does not crash the solver', async () => {
    const file = temp.write('tiny-power.yaml', small.replace('powerMW: 5', 'powerMW: 1e-20'));
    const { code, io } = await run(['plan', file, '--json']);
    expect(io.stderr()).not.toContain('internal error');
    expect([0, 2, 3]).toContain(code);
  });

  it('a huge pricePerChipHour (1e307) does not crash the solver', async () => {
    const file = temp.write('huge-price.yaml', small.replace('chip: h100, chips: 256, pricing: on-demand }', 'chip: h100, chips: 256, pricing: on-demand, pricePerChipHour: 1e307 }'));
    const { code, io } = await run(['plan', file, '--json']);
    expect(io.stderr()).not.toContain('internal error');
    expect([0, 2, 3]).toContain(code);
  });
});

describe('problem lines stay single lines', () => {
  // BUG (src/domain/zod-problems.ts describe()): the user's string is echoed verbatim, so a value with a
  // newline (or any control character, including terminal escapes) splits one problem over several lines.
  it('a value containing a newline is echoed escaped, keeping one line per problem', async () => {
    const file = temp.write('newline-value.yaml', small.replace('    chips: 512\n', '    chips: "5\\n12"\n'));
    const { code, io } = await run(['plan', file]);
    expect(code).toBe(2);
    expect(io.errLines).toHaveLength(1);
    expect(io.errLines[0]).not.toContain('\n');
  });
});

describe('edge-case fleets', () => {
  // Crashed with "internal error: The model has not been solved" when these tests were written; fixed since.
  it('a fleet with pools but no services and no training jobs plans (or is refused) without crashing', async () => {
    const file = temp.write('no-workloads.yaml', small.replace(/services:[\s\S]*?policy:/, 'policy:'));
    const { code, io } = await run(['plan', file, '--json']);
    expect(io.stderr()).not.toContain('internal error');
    expect([0, 2, 3]).toContain(code);
    if (code !== 2) {
      const plan = parseJson(io.stdout());
      expect(typeof plan.status).toBe('string');
      expect(plan.allocations).toEqual([]);
    }
  });
});

describe('the real binary', () => {
  it('node bin/switchyard.js plan examples/small.yaml --json prints an optimal plan', () => {
    const stdout = execFileSync(process.execPath, ['bin/switchyard.js', 'plan', 'examples/small.yaml', '--json'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    const plan = parseJson(stdout);
    expect(plan.status).toBe('optimal');
    expect((plan.allocations as unknown[]).length).toBeGreaterThan(0);
  });

  it('the binary exits 2 on a bad spec and prints the problem on stderr', () => {
    const file = temp.write('bin-bad.yaml', small.replace('    chip: tpu-v6e\n', '    chip: h10\n'));
    const result = spawnSync(process.execPath, ['bin/switchyard.js', 'plan', file], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe(`${file}:12:11: pools[0].chip: unknown chip 'h10'; did you mean 'h100'?`);
  });

  it("'-' reads the spec from standard input, named <stdin> in the plan and its problems; a folder is said to be one", () => {
    const piped = spawnSync(process.execPath, ['bin/switchyard.js', 'plan', '-'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, input: small });
    expect(piped.status).toBe(0);
    expect(piped.stdout).toMatch(/^Plan for <stdin>: OPTIMAL/);
    const bad = spawnSync(process.execPath, ['bin/switchyard.js', 'plan', '-'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, input: small.replace('    chip: tpu-v6e\n', '    chip: h10\n') });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("<stdin>:12:11: pools[0].chip: unknown chip 'h10'; did you mean 'h100'?");
    const gateway = spawnSync(process.execPath, ['bin/switchyard.js', 'gateway', '--config', '-'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, input: 'version: 1\nroutes: []\n' });
    expect(gateway.status).toBe(2);
    expect(gateway.stderr).toContain("<stdin>:1:1: endpoints: missing required field");
    // A profiles path is the working folder's then, and a missing one says so.
    const profiles = spawnSync(process.execPath, ['bin/switchyard.js', 'plan', '-'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, input: `${small}profiles: no-such.csv\n` });
    expect(profiles.stderr).toContain("cannot read profiles file 'no-such.csv' (ENOENT); give a path relative to the working folder (the fleet file came from standard input)");
    const folder = spawnSync(process.execPath, ['bin/switchyard.js', 'plan', 'examples'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(folder.stderr.trim()).toBe('examples: cannot read the fleet file (EISDIR); this is a folder: give the path of the file in it');
  });

  it('a reader that stops early (| head -1) ends the output quietly: exit 0, no EPIPE trace', () => {
    const errors = temp.write('epipe.err', '');
    // The shell's `| head -1`: the reader takes the first line and closes the pipe while perf still writes.
    const result = spawnSync('bash', ['-c', `"${process.execPath}" bin/switchyard.js perf --model llama-3.1-8b --chip h100 2>"${errors}" | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(result.stdout.trim()).toBe('0');
    expect(readText(errors)).toBe('');
    // The exit code stays the command's own: 3 for a plan that places nothing, read for 10 bytes.
    const none = temp.write('epipe-infeasible.yaml', 'version: 1\npools:\n  - { id: p, provider: gcp, region: us-central1, jurisdiction: us, chip: tpu-v6e, chips: 16, pricing: committed }\nservices:\n  - { id: s, model: llama-3.1-405b, requestsPerSecond: 1000, inputTokens: 1000, outputTokens: 200, slo: { ttftMs: 2000, tpotMs: 50 }, jurisdictions: [us] }\n');
    const infeasible = spawnSync('bash', ['-c', `"${process.execPath}" bin/switchyard.js plan "${none}" --json 2>"${errors}" | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"`], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(infeasible.stdout.trim()).toBe('3');
    expect(readText(errors)).toBe('');
  });

  it('output that cannot be written (a full disk) is said in one line and exits 1, not a stack trace', () => {
    const result = spawnSync(process.execPath, ['bin/switchyard.js', 'catalog'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', openSync('/dev/full', 'w'), 'pipe'] });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('switchyard: cannot write output: ENOSPC\n');
  });
});
