import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../src/gateway/gateway-config.js';
import { gatewayConfigWarnings } from '../../src/gateway/gateway-config-warnings.js';
import { loadGatewayConfigOffThread } from '../../src/gateway/load-gateway-config-off-thread.js';
import { makeTempDir, repoRoot } from '../helpers/paths.js';

const example = join(repoRoot, 'examples', 'gateway.yaml');

describe('loadGatewayConfigOffThread', () => {
  it('gives what reading on this thread gives: the config, equal by value, and its warnings', async () => {
    const here = loadGatewayConfig(example);
    expect(here.ok).toBe(true);
    const { loaded, warnings } = await loadGatewayConfigOffThread(example);
    expect(loaded).toStrictEqual(here);
    expect(warnings).toStrictEqual(here.ok ? gatewayConfigWarnings(here.value, process.env) : []);
  });

  it("gives a file's problems as they are read here, and no warnings", async () => {
    const dir = makeTempDir('off-thread');
    try {
      const file = dir.write('gateway.yaml', 'version: 1\nendpoints: []\nroutes: []\nbogus: 1\n');
      const { loaded, warnings } = await loadGatewayConfigOffThread(file);
      expect(loaded).toStrictEqual(loadGatewayConfig(file));
      expect(loaded.ok).toBe(false);
      expect(warnings).toStrictEqual([]);
      const missing = await loadGatewayConfigOffThread(join(dir.path, 'missing.yaml'));
      expect(missing.loaded.ok ? [] : missing.loaded.problems.map((problem) => problem.code)).toStrictEqual(['file_unreadable']);
    } finally {
      dir.remove();
    }
  });

  it('reads from the TypeScript sources whatever the working directory (tsx found from the module, not from there)', async () => {
    const dir = makeTempDir('off-thread-cwd');
    const before = process.cwd();
    try {
      process.chdir(dir.path);
      const { loaded } = await loadGatewayConfigOffThread(example);
      expect(loaded.ok ? 'ok' : loaded.problems.map((problem) => problem.message)).toBe('ok');
    } finally {
      process.chdir(before);
      dir.remove();
    }
  });

  it('refuses a file that needs more memory than the reading thread has, as a problem of the file', async () => {
    // 4 MB of heap does not hold the reading of even the example (the parser and schema modules included).
    const { loaded } = await loadGatewayConfigOffThread(example, { maxHeapMb: 4 });
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.problems).toHaveLength(1);
    expect(loaded.problems[0]).toMatchObject({ code: 'file_unreadable', file: example, line: 0 });
    expect(loaded.problems[0]?.message).toBe('the gateway config could not be read: reading it took more than 4 MB of memory');
  });
});
