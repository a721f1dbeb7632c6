import { expect, it, vi } from 'vitest';
import { upCommand } from '../../src/cli/commands/up-command.js';
import { captureOutput } from '../helpers/capture-output.js';
import { smallYamlPath } from '../helpers/paths.js';

// A bug inside up (here startFleet throwing what it never should): rethrown for the CLI's internal-error
// report, and with --json still one object on stdout for a script to read.
vi.mock('../../src/up/start-fleet.js', async (original) => ({
  ...(await original<typeof import('../../src/up/start-fleet.js')>()),
  startFleet: () => Promise.reject(new Error('generated gateway config is invalid: an example')),
}));

it('with --json, an internal error still prints one object saying failed, and is rethrown', async () => {
  const io = captureOutput();
  await expect(upCommand(smallYamlPath, { port: 0, replicasPerPool: 1, speed: 200, seed: 0, json: true, quiet: true }, io, new Promise<void>(() => undefined))).rejects.toThrow('generated gateway config is invalid');
  expect(io.outLines.map((line) => JSON.parse(line) as unknown)).toEqual([{ status: 'failed', message: 'internal error: generated gateway config is invalid: an example' }]);
  const plain = captureOutput();
  await expect(upCommand(smallYamlPath, { port: 0, replicasPerPool: 1, speed: 200, seed: 0, quiet: true }, plain, new Promise<void>(() => undefined))).rejects.toThrow();
  expect(plain.outLines).toEqual([]);
});
