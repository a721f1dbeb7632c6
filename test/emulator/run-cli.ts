// Runs the CLI from source (for tests that need a real process: signals, exit codes).
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
