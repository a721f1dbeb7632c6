import { destination as pinoDestination, pino, type Logger } from 'pino';

/**
 * The gateway's JSON log: one pino logger without pid and hostname, written
 * synchronously to a file descriptor or a file, as pino and Node's own stdout
 * do: a line is out when the call returns, so a crash or SIGKILL loses none,
 * and one write(2) on the main thread costs less than handing each write to
 * libuv's thread pool (measured in docs/gateway.md). To a stream it is written
 * as it is (`up` logs to process.stderr, in order with the lines it prints
 * there). The CLI, `up` and the benchmark all log through this, so the
 * benchmark measures the request log a user runs.
 */
export function createGatewayLogger(destination: number | string | NodeJS.WritableStream = 1): Logger {
  return pino({ base: null }, typeof destination === 'object' ? destination : pinoDestination({ dest: destination, sync: true }));
}
