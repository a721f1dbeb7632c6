import { isDeepStrictEqual } from 'node:util';
import type { SpecProblem } from '../domain/spec-problem.js';
import { keyHashesOf, type GatewayConfig, type TenantConfig } from './gateway-config.js';

/** A tenant a reload changes, with the fields that differ (`apiKeySha256` for a key added or removed). */
export interface ChangedTenant {
  readonly id: string;
  readonly fields: readonly (keyof TenantConfig)[];
}

/**
 * What a reload of the config file (SIGHUP) does to a running gateway. Only tenants are taken while
 * it runs (their keys, limits and jurisdictions: adding a customer, rotating a key); the other parts
 * (endpoints, routes, resilience, limits, listen, cors, logging, metrics, declared jurisdictions) shape state it
 * holds (circuits, connections, timeouts of requests in flight) and need a restart. A file that changes
 * one of those is not applied at all, tenants included: a new tenant whose route was not taken would be
 * refused. A file with problems is not applied either.
 */
/** A tenant a reload renames: one removed whose key (one of them, by hash) a tenant added took. */
export interface RenamedTenant {
  readonly from: string;
  readonly to: string;
}

export type ReloadPlan =
  | { readonly apply: true; readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly ChangedTenant[]; readonly renamed: readonly RenamedTenant[] }
  | { readonly apply: false; readonly needsRestart: readonly string[] }
  | { readonly apply: false; readonly problems: readonly SpecProblem[] };

/**
 * Compares the running config with the file's, part by part and by value: the order of keys in the
 * file does not count, the order of a list does (endpoints listed in another order are another list).
 */
export function planReload(running: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const parts = new Set([...Object.keys(running), ...Object.keys(next)] as (keyof GatewayConfig)[]);
  parts.delete('tenants');
  const needsRestart = [...parts].filter((part) => !isDeepStrictEqual(running[part], next[part])).sort();
  if (needsRestart.length > 0) return { apply: false, needsRestart };
  const before = new Map(running.tenants.map((tenant) => [tenant.id, tenant]));
  const after = new Map(next.tenants.map((tenant) => [tenant.id, tenant]));
  const changed: ChangedTenant[] = [];
  for (const [id, tenant] of after) {
    const old = before.get(id);
    if (old === undefined) continue;
    const fields = (Object.keys(tenant) as (keyof TenantConfig)[]).filter((field) => !isDeepStrictEqual(old[field], tenant[field]));
    if (fields.length > 0) changed.push({ id, fields });
  }
  const added = [...after.keys()].filter((id) => !before.has(id));
  const removed = [...before.keys()].filter((id) => !after.has(id));
  return { apply: true, added, removed, changed, renamed: renamedTenants(removed.map((id) => before.get(id)), added.map((id) => after.get(id))) };
}

/** Each removed tenant and each added one that took one of its keys: the same customer under a new id. */
function renamedTenants(removed: readonly (TenantConfig | undefined)[], added: readonly (TenantConfig | undefined)[]): RenamedTenant[] {
  const removedByKey = new Map<string, string>();
  for (const tenant of removed) if (tenant !== undefined) for (const hash of keyHashesOf(tenant)) removedByKey.set(hash, tenant.id);
  const renamed: RenamedTenant[] = [];
  for (const tenant of added) {
    if (tenant === undefined) continue;
    const from = new Set(keyHashesOf(tenant).flatMap((hash) => removedByKey.get(hash) ?? []));
    for (const id of from) renamed.push({ from: id, to: tenant.id });
  }
  return renamed;
}

/**
 * A plan's tenants added and removed, less those renamed: a rename is said once, as a rename (E57:
 * 'added alpha-corp; removed alpha; renamed alpha to alpha-corp' read as a tenant dropped).
 */
export function renamesApart(plan: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly renamed: readonly RenamedTenant[] }): { readonly added: string[]; readonly removed: string[] } {
  const to = new Set(plan.renamed.map((pair) => pair.to));
  const from = new Set(plan.renamed.map((pair) => pair.from));
  return { added: plan.added.filter((id) => !to.has(id)), removed: plan.removed.filter((id) => !from.has(id)) };
}

/** Tenants named in a reload's line on stderr, of each kind of change. */
const namedTenants = 10;

/** A plan in words, for stderr: what was taken, or why nothing was. */
export function describeReload(file: string, plan: ReloadPlan): string {
  if ('problems' in plan) return `reload of ${file} refused: fix the problems above; still serving the config loaded before`;
  if (!plan.apply) return `reload of ${file} not applied: it changes ${plan.needsRestart.join(', ')}, which take a restart; still serving the config loaded before, its tenants included`;
  // A reload that adds thousands of tenants says how many, naming the first few (the log line has them all).
  const named = (what: string, ids: readonly string[]): string[] => (ids.length === 0 ? [] : [`${what} ${ids.slice(0, namedTenants).join(', ')}${ids.length > namedTenants ? ` and ${String(ids.length - namedTenants)} more` : ''}`]);
  const { added, removed } = renamesApart(plan);
  const changes = [...named('added', added), ...named('removed', removed), ...named('renamed', plan.renamed.map((pair) => `${pair.from} to ${pair.to} (limits kept)`)), ...named('changed', plan.changed.map((tenant) => `${tenant.id} (${tenant.fields.join(', ')})`))];
  return `reloaded ${file}: tenants ${changes.length === 0 ? 'unchanged' : changes.join('; ')}`;
}
