import { isDeepStrictEqual } from 'node:util';
import type { GatewayConfig } from './gateway-config.js';

/**
 * What a reload of the config file (SIGHUP) does to a running gateway. Only tenants are taken while
 * it runs (their keys, limits and jurisdictions: adding a customer, rotating a key); the other parts
 * (endpoints, routes, resilience, limits, listen, cors, logging) shape state it holds (circuits,
 * connections, timeouts of requests in flight) and need a restart. A file that changes one of those
 * is not applied at all, tenants included: a new tenant whose route was not taken would be refused.
 */
export type ReloadPlan =
  | { readonly apply: true; readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] }
  | { readonly apply: false; readonly needsRestart: readonly string[] };

/** Compares the running config with the file's; parts compare by value, whatever their order in the file. */
export function planReload(running: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const parts = new Set([...Object.keys(running), ...Object.keys(next)] as (keyof GatewayConfig)[]);
  parts.delete('tenants');
  const needsRestart = [...parts].filter((part) => !isDeepStrictEqual(running[part], next[part])).sort();
  if (needsRestart.length > 0) return { apply: false, needsRestart };
  const before = new Map(running.tenants.map((tenant) => [tenant.id, tenant]));
  const after = new Map(next.tenants.map((tenant) => [tenant.id, tenant]));
  return {
    apply: true,
    added: [...after.keys()].filter((id) => !before.has(id)),
    removed: [...before.keys()].filter((id) => !after.has(id)),
    changed: [...after].filter(([id, tenant]) => before.has(id) && !isDeepStrictEqual(before.get(id), tenant)).map(([id]) => id),
  };
}
