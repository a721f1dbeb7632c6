import { formatProblem } from '../../domain/spec-problem.js';
import { loadGatewayConfig } from '../../gateway/gateway-config.js';
import { createGateway } from '../../gateway/gateway-server.js';
import type { Output } from '../output.js';

export interface GatewayCommandOptions {
  readonly config: string;
  readonly port?: number;
  readonly host?: string;
}

/** `switchyard gateway --config gateway.yaml`: serves until SIGINT/SIGTERM; exit 2 on a bad config. */
export async function gatewayCommand(options: GatewayCommandOptions, output: Output, stop: Promise<void>): Promise<number> {
  const loaded = loadGatewayConfig(options.config);
  if (!loaded.ok) {
    for (const problem of loaded.problems) output.err(formatProblem(problem));
    return 2;
  }
  const gateway = createGateway({ config: loaded.value });
  const url = await gateway.listen(options.port ?? loaded.value.listen.port, options.host ?? loaded.value.listen.host);
  output.err(`switchyard gateway listening on ${url} (${loaded.value.endpoints.length} endpoints, ${loaded.value.routes.length} routes)`);
  await stop;
  await gateway.close();
  return 0;
}
