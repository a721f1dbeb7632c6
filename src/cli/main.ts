import { Command, CommanderError, Option } from 'commander';
import { precisions, type Precision } from '../catalog/accelerator.js';
import { SpecError, formatProblem } from '../domain/spec-problem.js';
import { withoutKeys } from '../gateway/credential-text.js';
import { defaultInferenceShape } from '../performance/inference-profile.js';
import { catalogCommand } from './commands/catalog-command.js';
import { registerEmulateCommand } from './commands/emulate-command.js';
import { gatewayCommand } from './commands/gateway-command.js';
import { flagParsers, numberFlag, shownValue } from './flag-parsers.js';
import { untilSignal } from './until-signal.js';
import { perfCommand } from './commands/perf-command.js';
import { planCommand } from './commands/plan-command.js';
import { registerUpCommand } from './commands/up-command.js';
import { processOutput, toJson, type Output } from './output.js';
import { UsageError } from './usage-error.js';

function buildProgram(output: Output, setExit: (code: number) => void): Command {
  const program = new Command('switchyard')
    .description('Plan, route and rehearse AI inference and training across clouds and accelerators.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.out(text.trimEnd()), writeErr: (text) => output.err(text.trimEnd()), outputError: (text, write) => write(shownCommanderText(text)) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('plan')
    .description('place services and training jobs of a fleet file on its pools (exit 0 feasible, a plan found in time printed with its gap; 3 infeasible, or out of time before any feasible plan; 2 bad spec)')
    .argument('<fleet.yaml>', 'fleet spec (- reads it from standard input)')
    .option('--json', 'print one JSON object instead of tables')
    .option('--time-limit <seconds>', 'solver time limit per solve (default: policy.timeLimitSeconds or 60)', flagParsers.timeLimit())
    .option('--gap <fraction>', 'relative MIP gap at which to stop (default: policy.mipGap or 0.005)', numberFlag('--gap', (v) => v >= 1e-9 && v <= 1, 'a fraction from 0.000000001 to 1, as policy.mipGap'))
    .action(async (file: string, options: { json?: boolean; timeLimit?: number; gap?: number }) => {
      setExit(await planCommand(file, options, output));
    });

  program
    .command('catalog')
    .description('list accelerators and model presets')
    .option('--json', 'print JSON with every figure and its source')
    .action((options: { json?: boolean }) => setExit(catalogCommand(options, output)));

  program
    .command('perf')
    .description('performance-model profile of a model on a chip: replica size, batch, TTFT, TPOT, tokens/s, training figures')
    .requiredOption('--model <id>', 'model id (see `switchyard catalog`)')
    .requiredOption('--chip <id>', 'chip id (see `switchyard catalog`)')
    .option('--input <tokens>', 'input tokens per request', flagParsers.positiveWhole('--input'), defaultInferenceShape.inputTokens)
    .option('--output <tokens>', 'output tokens per request', flagParsers.positiveWhole('--output'), defaultInferenceShape.outputTokens)
    .option('--tpot-ms <ms>', 'time-per-output-token target', flagParsers.positive('--tpot-ms'), defaultInferenceShape.tpotMs)
    .option('--ttft-ms <ms>', 'time-to-first-token target', flagParsers.positive('--ttft-ms'))
    .addOption(new Option('--precision <p>', 'serving precision (default: the model preset)').choices(precisions))
    .option('--mfu <fraction>', 'training MFU override', numberFlag('--mfu', (v) => v >= 1e-3 && v <= 1, 'a fraction from 0.001 to 1, as a model\'s mfu in the fleet spec'))
    .option('--train-tokens <n>', 'size a training run of this many tokens', flagParsers.positive('--train-tokens'))
    .option('--deadline-days <d>', 'deadline for --train-tokens', flagParsers.positive('--deadline-days'))
    .option('--fleet <fleet.yaml>', 'apply this fleet file\'s chip/model overrides and measured profiles')
    .option('--json', 'print JSON')
    .action((options: { model: string; chip: string; input: number; output: number; tpotMs: number; ttftMs?: number; precision?: Precision; mfu?: number; trainTokens?: number; deadlineDays?: number; fleet?: string; json?: boolean }) => {
      if ((options.trainTokens === undefined) !== (options.deadlineDays === undefined)) throw new UsageError('--train-tokens and --deadline-days go together');
      setExit(perfCommand(options, output));
    });

  registerEmulateCommand(program, output, setExit);

  program
    .command('gateway')
    .description('serve the OpenAI and Anthropic APIs in front of many upstream endpoints (exit 2 on a bad config; SIGHUP reloads its tenants from the config file)')
    .requiredOption('--config <gateway.yaml>', 'gateway config: endpoints, routes, tenants, resilience (- reads it from standard input)')
    .option('--port <port>', 'port to listen on (default: listen.port in the config, or 8080)', flagParsers.port())
    .option('--host <host>', 'address to listen on (default: listen.host in the config, or 127.0.0.1)', flagParsers.host())
    .action(async (options: { config: string; port?: number; host?: string }) => {
      setExit(await gatewayCommand(options, output, untilSignal()));
    });

  registerUpCommand(program, output, setExit);

  for (const command of program.commands) refuseRepeatedFlags(command);
  return program;
}

/**
 * A flag given twice with two values (`--port 1 --port 2`) is refused, naming both: commander keeps
 * the last, and which one a user meant is theirs to say (E51). The same value twice (as read: '010'
 * and '10' are one number) is taken.
 */
function refuseRepeatedFlags(command: Command): void {
  for (const option of command.options) {
    if (option.variadic) continue;
    let given: unknown[] = [];
    let parsedValues: unknown[] = [];
    command.on(`option:${option.name()}`, (value: unknown) => {
      given = [...given, value];
      // Compared as read ('010' and '10' are one port): commander's own listener has parsed it by now.
      parsedValues = [...parsedValues, command.getOptionValue(option.attributeName())];
      if (given.length < 2 || parsedValues.every((each) => each === parsedValues[0])) return;
      // Values quoted as given, but for one that looks like a key pasted in the wrong place.
      const shown = given.map((each) => (typeof each !== 'string' ? String(each) : shownValue(each, 64)));
      command.error(`error: option '${option.flags}' given ${given.length === 2 ? 'twice' : `${String(given.length)} times`}, as ${shown.join(' and ')}: give it once`, { exitCode: 2, code: 'switchyard.repeatedOption' });
    });
  }
}

/**
 * Commander's words for an error, as shown. A value one of our parsers refused is said once, by the
 * parser: commander's "option '--x <n>' argument '<value>' is invalid." before it quoted the value
 * again, key-like or not (R56). Commander's other quotes (a choice, an unknown flag) are kept, with
 * nothing in them that looks like a key (R52).
 */
function shownCommanderText(text: string): string {
  return withoutKeys(text.replace(/option '[^']*' argument '[\s\S]*' is invalid\. (?=--[\w-]+ must be )/, ''));
}

/** The commands whose --json prints one object for a bad flag too, for a script reading stdout (not for --help or --version). */
const jsonCommands = new Set(['plan', 'catalog', 'perf', 'up']);

function usageErrorAsJson(argv: readonly string[], message: string, output: Output): void {
  if (jsonCommands.has(argv[0] ?? '') && argv.includes('--json')) output.out(toJson({ status: 'usage-error', message }));
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it in-process. */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  let code = 0;
  const program = buildProgram(output, (value) => {
    code = value;
  });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; they are successes to a user.
      if (error.exitCode === 0) return 0;
      usageErrorAsJson(argv, shownCommanderText(error.message.replace(/^error: /, '')), output);
      return 2;
    }
    if (error instanceof UsageError) {
      // One line per problem (two flags may be wrong at once).
      // Each command's errors quote a value that looks like a key as not shown (shownValue): not filtered
      // here, which would hide the catalog's and a fleet's own ids too (R54: 'sk-learn-m').
      for (const line of error.message.split('\n')) output.err(`switchyard: ${line}`);
      usageErrorAsJson(argv, error.message, output);
      return 2;
    }
    if (error instanceof SpecError) {
      for (const problem of error.problems) output.err(formatProblem(problem));
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    output.err(`switchyard: internal error: ${message}. This is a bug; please report it with the input that caused it.`);
    if (process.env.SWITCHYARD_DEBUG === '1' && error instanceof Error && error.stack !== undefined) output.err(error.stack);
    return 1;
  }
}
