import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests never depend on the working directory). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export const smallYamlPath = join(repoRoot, 'examples', 'small.yaml');
export const frontierYamlPath = join(repoRoot, 'examples', 'frontier-lab.yaml');
export const issueSpecPath = join(repoRoot, 'test', 'fixtures', 'issue-spec.yaml');

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** A scratch directory under the OS temp dir; `write` puts a file in it, `remove` deletes it all. */
export interface TempDir {
  readonly path: string;
  write(name: string, content: string | Uint8Array): string;
  remove(): void;
}

export function makeTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `switchyard-${prefix}-`));
  return {
    path,
    write: (name, content) => {
      const file = join(path, name);
      writeFileSync(file, content);
      return file;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
