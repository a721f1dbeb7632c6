import { parentPort, workerData } from 'node:worker_threads';
import { gatewayConfigWarnings } from './gateway-config-warnings.js';
import { loadGatewayConfig } from './gateway-config.js';
import type { LoadedGatewayConfig } from './load-gateway-config-off-thread.js';

// The thread loadGatewayConfigOffThread starts: reads and checks the file, says its warnings, and ends.
const loaded = loadGatewayConfig(workerData as string);
const answer: LoadedGatewayConfig = { loaded, warnings: loaded.ok ? gatewayConfigWarnings(loaded.value, process.env) : [] };
parentPort?.postMessage(answer);
