import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureOutput } from '../helpers/capture-output.js';
import { repoRoot } from '../helpers/paths.js';

const example = join(repoRoot, 'examples', 'gateway.yaml');

describe('switchyard gateway', () => {
  it('a port already in use is a clear error and exit 2, not an internal error', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const io = captureOutput();
      expect(await main(['gateway', '--config', example, '--port', String(port)], io)).toBe(2);
      expect(io.stderr()).toContain(`cannot listen on 127.0.0.1:${port}: the port is in use; choose another with --port`);
      expect(io.stderr()).not.toMatch(/internal error|This is a bug/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('an empty --port is refused, not read as port 0', async () => {
    for (const port of ['', ' ']) {
      const io = captureOutput();
      expect(await main(['gateway', '--config', example, '--port', port], io)).toBe(2);
      expect(io.stderr()).toContain('--port must be a whole number from 0 to 65535');
    }
  });
});
