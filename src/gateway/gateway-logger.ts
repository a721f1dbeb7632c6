import { destination as pinoDestination, pino, type Logger } from 'pino';

/**
 * The gateway's JSON log: one pino logger without pid and hostname, written
 * asynchronously to a file descriptor or a file (lines written while a write is
 * pending go out together; pino flushes what is left when the process exits).
 * The CLI, `up` and the benchmark all log through this, so the benchmark
 * measures the request log a user runs.
 */
export function createGatewayLogger(destination: number | string = 1): Logger {
  return pino({ base: null }, pinoDestination(destination));
}
