#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
import { main } from '../dist/src/cli/main.js';

// A reader that stops early (`switchyard perf ... | head -1`) closes the pipe. What is left to say
// goes nowhere, without a stack trace, and the command ends as it would have: a server still
// drains its requests and stops its emulators, and the exit code is the command's own.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    stream.write = () => true;
  });
}

process.exitCode = await main(process.argv.slice(2));
