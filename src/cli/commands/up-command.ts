import { type Command } from 'commander';
import { flagParsers, wholeFlag } from '../flag-parsers.js';
import { loadFleet } from '../../domain/load-fleet.js';
import { standardInputName } from '../../domain/read-spec-file.js';
import { formatProblem } from '../../domain/spec-problem.js';
import type { PlanSettings } from '../../planner/plan-fleet.js';
import type { Plan } from '../../planner/plan-report.js';
import type { RunningFleet, StartFleetOptions } from '../../up/start-fleet.js';
import { limitHeapGrowth } from '../limit-heap-growth.js';
import { number, table, toJson, type Output } from '../output.js';
import { onNextSignal, stopSignalsWithHangup, untilSignal } from '../until-signal.js';

export interface UpCommandOptions {
  readonly port: number;
  readonly replicasPerPool: number;
  readonly speed: number;
  readonly seed: number;
  /** First port of the emulated replicas; the system picks free ones without it. */
  readonly emulatorPorts?: number;
  readonly json?: boolean;
  /** Gateway request logs (JSON, on stderr); on unless --quiet. */
  readonly quiet?: boolean;
  /** The solver's time limit per solve, seconds (as `plan --time-limit`). */
  readonly timeLimit?: number;
}

/**
 * `switchyard up fleet.yaml`: plans the fleet, starts emulated replicas and a
 * gateway in front of them, prints how to reach it, and serves until `stop`
 * resolves (SIGINT, SIGTERM or SIGHUP); given as a function, it is called once the plan is made. Exit 0 after a clean stop; 2 on a bad spec (a service named
 * 'none' included), a port in use or privileged, ports that cannot all be had, an emulated replica
 * that cannot start, or too few open files; 3 when the plan places nothing to serve.
 */
export async function upCommand(path: string, options: UpCommandOptions, output: Output, stop: Promise<void> | (() => Promise<void>), onStarted?: (fleet: RunningFleet) => void, hurry: (callback: () => void) => () => void = (callback) => onNextSignal(callback, stopSignalsWithHangup)): Promise<number> {
  // Loaded when the command runs: the gateway, the emulator and their dependencies would slow every other command's start.
  const [{ EmulatorError }, { unlabelled }, { createGatewayLogger }, { StartFleetError, StartFleetStopped, UpPortsError, startFleet }, { planFleet }] = await Promise.all([
    import('../../emulator/emulator-server.js'),
    import('../../gateway/gateway-config.js'),
    import('../../gateway/gateway-logger.js'),
    import('../../up/start-fleet.js'),
    import('../../planner/plan-fleet.js'),
  ]);
  // Each service becomes a gateway route of its name, and a route may not be named as metrics
  // name requests that reached none: a problem of the spec, said before anything starts.
  const reservedServiceIds = new Map([[unlabelled, { message: `service '${unlabelled}' cannot be served by up: its gateway route would be named '${unlabelled}', which metrics and logs use for requests that reached no route`, suggestion: 'rename the service' }]]);
  const loaded = loadFleet(path, { reservedServiceIds });
  // What the file is called in what up prints: '-' is standard input.
  const file = path === '-' ? standardInputName : path;
  /** Says why up stops on stderr, and with --json as one object on stdout too (as `plan --json` does), for a script to read. */
  const stopping = (exitCode: number, status: 'invalid-spec' | 'nothing-to-serve' | 'stopped' | 'failed', message: string): number => {
    output.err(message);
    if (options.json === true) output.out(toJson({ status, message }));
    return exitCode;
  };
  /** A bug (the CLI says so on stderr): a script reading stdout still gets its one object. */
  const sayBug = (error: unknown): void => {
    if (options.json === true) output.out(toJson({ status: 'failed', message: `internal error: ${error instanceof Error ? error.message : String(error)}` }));
  };
  if (!loaded.ok) {
    for (const problem of loaded.problems) output.err(formatProblem(problem));
    if (options.json === true) output.out(toJson({ status: 'invalid-spec', problems: loaded.problems }));
    return 2;
  }
  // Read and planned before a stop signal is listened for, when `stop` is one to listen for: the
  // solver (and a pipe read) holds the thread, so a signal heard would wait for it (E44: 57 s for 200
  // pools, with every Ctrl-C meanwhile lost); unheard, it ends the process at once, as `plan`'s does,
  // with nothing started.
  let plan: Plan;
  try {
    plan = await planFleet(loaded.value, upPlanSettings(options));
  } catch (error) {
    // As for a failure to start (R36).
    sayBug(error);
    throw error;
  }
  const stopped = typeof stop === 'function' ? stop() : stop;
  let stopRequested = false;
  void stopped.then(() => {
    stopRequested = true;
  });
  const settings: StartFleetOptions = {
    plan,
    stopRequested: () => stopRequested,
    port: options.port,
    replicasPerPool: options.replicasPerPool,
    speed: options.speed,
    seed: options.seed,
    ...(options.emulatorPorts === undefined ? {} : { emulatorPorts: options.emulatorPorts }),
    logger: options.quiet === true ? false : createGatewayLogger(process.stderr),
    log: (line) => output.err(line),
  };
  // After the plan, whose solver's heap is not a server's.
  limitHeapGrowth();
  let fleet: RunningFleet;
  try {
    fleet = await startFleet(loaded.value, settings);
  } catch (error) {
    if (error instanceof StartFleetStopped) return stopping(0, 'stopped', 'switchyard up: stopped before serving; nothing is left running');
    // The spec was valid; the plan places nothing to serve (infeasible, or no services).
    if (error instanceof StartFleetError) return stopping(3, 'nothing-to-serve', `switchyard: up: ${error.message}`);
    if (error instanceof UpPortsError) return stopping(2, 'failed', `switchyard: up: ${error.message}`);
    // The gateway's own listen (an emulator's failure is an EmulatorError, below).
    const code = error instanceof EmulatorError ? undefined : (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      return stopping(2, 'failed', `switchyard: up: port ${options.port} ${code === 'EADDRINUSE' ? 'is in use' : 'needs privileges this process lacks (ports below 1024)'}; pick another with --port (0 picks a free one)`);
    }
    // Each emulator takes sockets: a small open-file limit stops a large fleet, which is the user's to size.
    if ((error as { code?: unknown }).code === 'EMFILE') {
      return stopping(2, 'failed', `switchyard: up: too many open files (the process's limit, ulimit -n, is reached) starting the emulated replicas and the gateway; start fewer with --replicas-per-pool (now ${options.replicasPerPool}) or raise the limit`);
    }
    if (error instanceof EmulatorError) return stopping(2, 'failed', `switchyard: up: an emulated replica could not start: ${error.message}`);
    sayBug(error);
    throw error;
  }
  for (const warning of fleet.warnings) output.err(`switchyard: up: warning: ${warning}`);
  output.out(options.json === true ? toJson(upJson(fleet, options.speed)) : formatUp(fleet, file, options.speed));
  onStarted?.(fleet);
  await stopped;
  if (options.json !== true) output.err(`switchyard up: stopping: requests in flight have up to ${fleet.config.listen.shutdownGraceMs} ms to finish; a second signal (Ctrl-C) ends them now, with an error to each caller`);
  const stopHurrying = hurry(() => {
    if (options.json !== true) output.err('switchyard up: ending the requests in flight now (a third signal exits without a word to them)');
    void fleet.close({ graceMs: 0 });
  });
  await fleet.close();
  stopHurrying();
  if (options.json !== true) output.err('switchyard up: stopped the gateway and every emulator');
  return 0;
}

/** The planner's settings from up's flags: `--time-limit`, as plan's. */
export function upPlanSettings(options: Pick<UpCommandOptions, 'timeLimit'>): PlanSettings {
  return options.timeLimit === undefined ? {} : { timeLimitSeconds: options.timeLimit };
}

/** What `up --json` prints once serving: one object, with what the text banner says. */
export function upJson(fleet: RunningFleet, speed: number): object {
  return {
    status: 'serving',
    url: fleet.url,
    apiKey: fleet.apiKey,
    planStatus: fleet.plan.status,
    solveSeconds: fleet.plan.solveSeconds,
    speed,
    routes: fleet.routes,
    endpoints: fleet.endpoints,
    scaling: fleet.scaling,
    curl: fleet.curl,
    warnings: fleet.warnings,
  };
}

export function formatUp(fleet: RunningFleet, file: string, speed: number): string {
  const lines: string[] = [];
  const emulators = fleet.endpoints.length;
  lines.push(`switchyard up: ${file}: plan ${fleet.plan.status.toUpperCase()} in ${fleet.plan.solveSeconds.toFixed(2)} s; ${emulators} emulated replica${emulators === 1 ? '' : 's'} at ${speed}x speed behind one gateway`);
  lines.push('');
  lines.push('Scaled down (planned replicas -> emulated)');
  lines.push(
    table(
      ['service', 'pool', 'chip', 'planned', 'emulated'],
      fleet.scaling.map((s) => [s.service, s.pool, s.chip, `${number(s.plannedReplicas)} x ${s.chipsPerReplica} chips`, s.emulators]),
      ['left', 'left', 'left', 'right', 'right'],
    ),
  );
  lines.push('');
  lines.push('Routes (policy: cost, then least-load)');
  const byId = new Map(fleet.endpoints.map((e) => [e.id, e]));
  lines.push(
    table(
      ['service', 'endpoint', 'pool', 'chip', 'jurisdiction', 'dialect', '$/M out tokens', 'url'],
      fleet.routes.flatMap((route) =>
        route.endpoints.flatMap((id, index) => {
          const e = byId.get(id);
          return e === undefined ? [] : [[index === 0 ? route.model : '', e.id, e.pool, e.chip, e.jurisdiction, e.dialect, number(e.marginalCostPerMillionTokens, 3), e.url]];
        }),
      ),
      ['left', 'left', 'left', 'left', 'left', 'left', 'right', 'left'],
    ),
  );
  lines.push('');
  lines.push(`Gateway: ${fleet.url}`);
  lines.push(`API key: ${fleet.apiKey}`);
  lines.push('');
  lines.push('Try it (OpenAI Chat Completions):');
  lines.push(`  ${fleet.curl.openai}`);
  lines.push('Try it (Anthropic Messages):');
  lines.push(`  ${fleet.curl.anthropic}`);
  lines.push('');
  lines.push('Ctrl-C stops the gateway and every emulator.');
  return lines.join('\n');
}

/** Adds `switchyard up` to the program. */
export function registerUpCommand(program: Command, output: Output, setExit: (code: number) => void): void {
  program
    .command('up')
    .description('plan a fleet, start emulated replicas of its deployments (a few for each service on each pool) and a gateway across them; runs until Ctrl-C')
    .argument('<fleet.yaml>', 'fleet spec (- reads it from standard input)')
    .option('--port <port>', 'gateway port; 0 picks a free one', flagParsers.port(), 8080)
    .option('--replicas-per-pool <n>', 'most emulated replicas per planned (service, pool) allocation, 1 to 64', wholeFlag('--replicas-per-pool', (v) => v >= 1 && v <= 64, 'a whole number from 1 to 64'), 2)
    .option('--speed <x>', 'run the emulators x times faster than real time', flagParsers.speed(), 1)
    .option('--seed <n>', 'seed of the first emulator (each further one gets the next)', flagParsers.count('--seed'), 0)
    .option('--emulator-ports <port>', 'port of the first emulated replica, each further one on the next (default: free ports the system picks)', wholeFlag('--emulator-ports', (v) => v >= 1 && v <= 65_535, 'a whole number from 1 to 65535'))
    .option('--json', 'print one JSON object (url, apiKey, routes, endpoints, ...) instead of tables')
    .option('--quiet', 'no gateway request logs on stderr')
    .option('--time-limit <seconds>', 'solver time limit per solve (default: policy.timeLimitSeconds or 60)', flagParsers.timeLimit())
    .action(async (file: string, options: UpCommandOptions) => {
      setExit(await upCommand(file, options, output, () => untilSignal(stopSignalsWithHangup)));
    });
}
