import { standardInputName } from '../../domain/read-spec-file.js';
import { formatProblem } from '../../domain/spec-problem.js';
import { limitHeapGrowth } from '../limit-heap-growth.js';
import { cannotListen } from '../listen-failure.js';
import { count, type Output } from '../output.js';
import { onHangup, onNextSignal } from '../until-signal.js';

export interface GatewayCommandOptions {
  readonly config: string;
  readonly port?: number;
  readonly host?: string;
}

/**
 * `switchyard gateway --config gateway.yaml`: serves until SIGINT/SIGTERM; exit 2 on a bad config.
 * A second signal while it drains (`hurry`) ends the grace period: the requests in flight get their error at once.
 * SIGHUP (`reloads`) reads the file again and takes its tenants, when nothing else changed (see planReload).
 */
export async function gatewayCommand(options: GatewayCommandOptions, output: Output, stop: Promise<void>, hurry: (callback: () => void) => () => void = onNextSignal, reloads: (callback: () => void) => () => void = onHangup): Promise<number> {
  // Heard from the start to the end: unheard, SIGHUP would end the process (Node's default), cutting
  // the requests a shutdown lets finish.
  let reload: () => void = () => output.err('switchyard gateway: SIGHUP ignored: not serving yet');
  const stopReloading = reloads(() => reload());
  try {
    return await serveGateway(options, output, stop, hurry, (handler) => {
      reload = handler;
    });
  } finally {
    stopReloading();
  }
}

async function serveGateway(options: GatewayCommandOptions, output: Output, stop: Promise<void>, hurry: (callback: () => void) => () => void, onReload: (handler: () => void) => void): Promise<number> {
  // Loaded when the command runs: the server and its dependencies would slow every other command's start.
  const [{ loadGatewayConfig }, { gatewayConfigWarnings }, { createGateway }, { describeReload }, { loadGatewayConfigOffThread }] = await Promise.all([
    import('../../gateway/gateway-config.js'),
    import('../../gateway/gateway-config-warnings.js'),
    import('../../gateway/gateway-server.js'),
    import('../../gateway/config-reload.js'),
    import('../../gateway/load-gateway-config-off-thread.js'),
  ]);
  const loaded = loadGatewayConfig(options.config);
  if (!loaded.ok) {
    for (const problem of loaded.problems) output.err(formatProblem(problem));
    return 2;
  }
  // An applied reload says the warnings the config it served had not: it changes tenants alone, so
  // the rest are the same; one that went away and comes back (a rollback) is said again.
  let warned = new Set<string>();
  const warn = (warnings: readonly string[]): void => {
    for (const warning of warnings) if (!warned.has(warning)) output.err(`switchyard gateway: warning: ${warning}`);
    warned = new Set(warnings);
  };
  warn(gatewayConfigWarnings(loaded.value, process.env));
  limitHeapGrowth();
  const gateway = createGateway({ config: loaded.value, processMetrics: true });
  const port = options.port ?? loaded.value.listen.port;
  const host = options.host ?? loaded.value.listen.host;
  let url: string;
  try {
    url = await gateway.listen(port, host);
  } catch (error) {
    // Where the address came from, for the user to know what to change.
    const from = options.host !== undefined ? '--host' : `listen.host of the config${options.config === '-' ? '' : ` (${options.config})`}, or its default`;
    output.err(`switchyard gateway: ${cannotListen(host, from, port, (error as NodeJS.ErrnoException).code, String(error))}; choose another with --port or --host (or listen: in the config)`);
    await gateway.close().catch(() => undefined);
    return 2;
  }
  output.err(`switchyard gateway listening on ${url} (${count(loaded.value.endpoints.length, 'endpoint')}, ${count(loaded.value.routes.length, 'route')})`);
  // A reload reads the file on a thread of its own, so serving goes on meanwhile. SIGHUPs that come
  // while one is read make one more read when it ends, of the file as it is then.
  let stopping = false;
  let reading = false;
  let readAgain = false;
  const reloadOnce = async (): Promise<void> => {
    const { loaded: next, warnings } = await loadGatewayConfigOffThread(options.config);
    if (stopping) {
      output.err(`switchyard gateway: reload of ${options.config} dropped: shutting down`);
      return;
    }
    if (!next.ok) for (const problem of next.problems) output.err(formatProblem(problem));
    const plan = gateway.reload(next);
    // Warnings only for a config that is now served.
    if (next.ok && plan.apply) warn(warnings);
    output.err(`switchyard gateway: ${describeReload(options.config, plan)}`);
  };
  onReload(() => {
    if (options.config === '-') {
      // A refused reload as any other: counted and in the JSON log, for alerts that watch only those (E42).
      gateway.reload({ ok: false, problems: [{ code: 'file_unreadable', file: standardInputName, line: 0, column: 0, path: '', message: 'a config read from standard input cannot be read again', suggestion: 'restart with the new one, or serve it from a file (--config gateway.yaml)' }] });
      output.err('switchyard gateway: cannot reload a config read from standard input: restart with the new one, or serve it from a file (--config gateway.yaml)');
      return;
    }
    if (reading) {
      readAgain = true;
      return;
    }
    reading = true;
    void (async () => {
      do {
        readAgain = false;
        try {
          await reloadOnce();
        } catch (error) {
          // A bug, not the file: said, the config served before kept, and a SIGHUP meanwhile still heard.
          output.err(`switchyard gateway: reload of ${options.config} failed: ${error instanceof Error ? error.message : String(error)}; still serving the config loaded before`);
        }
      } while (readAgain && !stopping);
      reading = false;
    })();
  });
  await stop;
  stopping = true;
  onReload(() => output.err('switchyard gateway: SIGHUP ignored: shutting down'));
  const graceMs = loaded.value.listen.shutdownGraceMs;
  output.err(`switchyard gateway stopping: requests in flight have up to ${graceMs} ms to finish (listen.shutdownGraceMs); a second signal (Ctrl-C) ends them now, with an error to each caller`);
  const stopHurrying = hurry(() => {
    output.err('switchyard gateway: ending the requests in flight now (a third signal exits without a word to them)');
    void gateway.close({ graceMs: 0 });
  });
  await gateway.close({ graceMs });
  stopHurrying();
  output.err('switchyard gateway stopped');
  return 0;
}
