import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGatewayLogger } from '../../src/gateway/gateway-logger.js';

describe('createGatewayLogger', () => {
  const directory = mkdtempSync(join(tmpdir(), 'switchyard-log-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('has a line in the file when the call returns, so a crash right after loses nothing', () => {
    const file = join(directory, 'gateway.log');
    const logger = createGatewayLogger(file);
    logger.info({ requestId: 'r1', status: 200 }, 'request');
    logger.info({ requestId: 'r2', status: 502 }, 'request');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line['requestId'], line['status'], line['msg']])).toEqual([
      ['r1', 200, 'request'],
      ['r2', 502, 'request'],
    ]);
    expect(lines[0]).not.toHaveProperty('pid');
    expect(lines[0]).not.toHaveProperty('hostname');
  });
});
