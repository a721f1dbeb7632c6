import type { Output } from '../../src/cli/output.js';

/** An Output that keeps what a command wrote, one entry per call, for in-process CLI tests. */
export interface CapturedOutput extends Output {
  readonly outLines: string[];
  readonly errLines: string[];
  /** Everything written to stdout, joined by newlines (as the process would print it). */
  stdout(): string;
  stderr(): string;
}

export function captureOutput(): CapturedOutput {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return {
    outLines,
    errLines,
    out: (text) => {
      outLines.push(text);
    },
    err: (text) => {
      errLines.push(text);
    },
    stdout: () => outLines.join('\n'),
    stderr: () => errLines.join('\n'),
  };
}
