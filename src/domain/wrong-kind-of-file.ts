import type { SpecProblem } from './spec-problem.js';

/** The kinds of YAML file this project reads, each by the top-level keys that only it has. */
const fileKinds = {
  fleet: { name: 'a fleet spec', keys: ['pools', 'services', 'trainingJobs'], readBy: 'switchyard plan or switchyard up' },
  gateway: { name: 'a gateway config', keys: ['endpoints', 'routes', 'tenants'], readBy: 'switchyard gateway --config' },
} as const;

export type FileKindName = keyof typeof fileKinds;

/**
 * When a file that failed its schema is plainly the other kind (a fleet spec given to `gateway`, a
 * gateway config to `plan`), one problem saying so: the schema's own complaints about every key
 * would be a screen of noise about the wrong thing.
 */
export function wrongKindOfFile(data: unknown, file: string, expectedKind: FileKindName): SpecProblem | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const expected = fileKinds[expectedKind];
  const other = fileKinds[expectedKind === 'fleet' ? 'gateway' : 'fleet'];
  const keys = Object.keys(data);
  const others = other.keys.filter((key) => keys.includes(key));
  if (others.length === 0 || expected.keys.some((key) => keys.includes(key))) return undefined;
  return {
    code: 'invalid_value',
    file,
    line: 1,
    column: 1,
    path: '',
    message: `this file is ${other.name} (it has ${others.join(', ')}), not ${expected.name}`,
    suggestion: `give it to ${other.readBy}; ${expected.name} has ${expected.keys.join(', ')}`,
  };
}
