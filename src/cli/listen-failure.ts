import { looksLikeKeyValue } from './flag-parsers.js';

/**
 * Why a server could not listen, in one wording for every command that serves (the emulator's said
 * `EADDRNOTAVAIL` where the gateway said "no such local address"), from the system's error code.
 */
export function listenFailureReason(code: string | undefined, fallback: string): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'the port is in use';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'ENOTFOUND':
    case 'EADDRNOTAVAIL':
      return 'no such local address';
    case 'EMFILE':
      return "too many open files (the process's limit, ulimit -n, is reached)";
    default:
      return code ?? fallback;
  }
}

/**
 * "cannot listen on <address> (<where it came from>), port <port>: <why>", never quoting an address
 * that looks like a key pasted there (E51), by the flags' own test (R56: the gateway's used holdsKey
 * alone, the emulator's none).
 */
export function cannotListen(host: string, from: string, port: number, code: string | undefined, fallback: string): string {
  const address = looksLikeKeyValue(host) ? `the address of ${from} (a value that looks like a key, not shown)` : `${host} (${from})`;
  return `cannot listen on ${address}, port ${String(port)}: ${listenFailureReason(code, fallback)}`;
}
