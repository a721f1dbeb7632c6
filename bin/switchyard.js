#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
import { main } from '../dist/src/cli/main.js';

// A reader that stops early (`switchyard perf ... | head -1`) closes the pipe. What is left to say
// goes nowhere, without a stack trace, and the command ends as it would have: a server still
// drains its requests and stops its emulators, and the exit code is the command's own.
let writeFailed = false;
// Any other failure to write (a full disk: ENOSPC, EIO) is said in one line, not a stack trace,
// and the command exits 1 once it is done, its output being incomplete.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    stream.write = () => true;
    if (error.code === 'EPIPE') return;
    if (stream === process.stdout) process.stderr.write(`switchyard: cannot write output: ${error.code ?? error.message}\n`);
    process.exitCode = 1;
    writeFailed = true;
  });
}

const code = await main(process.argv.slice(2));
process.exitCode = writeFailed ? 1 : code;
