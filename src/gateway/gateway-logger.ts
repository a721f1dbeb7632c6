import { destination as pinoDestination, pino, type Logger } from 'pino';

/**
 * The gateway's JSON log: one pino logger without pid and hostname, written
 * asynchronously to a file descriptor or a file (lines written while a write is
 * pending go out together; pino flushes what is left when the process exits),
 * or to a stream as it is (`up` logs to process.stderr, in order with the
 * lines it prints there). The CLI, `up` and the benchmark all log through
 * this, so the benchmark measures the request log a user runs.
 */
export function createGatewayLogger(destination: number | string | NodeJS.WritableStream = 1): Logger {
  return pino({ base: null }, typeof destination === 'object' ? destination : pinoDestination(destination));
}
