import { demandTokensPerSecond, type Fleet, type Pool } from '../domain/fleet.js';
import { survivalGroup } from './evaluate-decision.js';
import { requiredTokensPerSecond, type InferenceOption, type PlanOptions } from './plan-options.js';

/** Running totals of a partial plan, for O(1) feasibility checks while repairing. */
export class PlanState {
  readonly replicas: number[];
  readonly trainingChosen: boolean[];
  private readonly freeChips = new Map<string, number>();
  private readonly freeSiteMW = new Map<string, number>();
  private readonly serviceCapacity = new Map<string, number>();
  private readonly serviceGroupCapacity = new Map<string, number>();
  private readonly providerMW = new Map<string, number>();
  private readonly vendorMW = new Map<string, number>();
  private totalMW = 0;
  private readonly lose: 'provider' | 'region';

  constructor(
    private readonly fleet: Fleet,
    private readonly options: PlanOptions,
  ) {
    this.replicas = options.inference.map(() => 0);
    this.trainingChosen = options.training.map(() => false);
    for (const pool of fleet.pools) this.freeChips.set(pool.id, pool.chips);
    for (const site of fleet.sites) this.freeSiteMW.set(site.id, site.powerMW);
    this.lose = fleet.policy.survive?.lose ?? 'provider';
  }

  capacity(service: string): number {
    return this.serviceCapacity.get(service) ?? 0;
  }

  groupCapacity(service: string, group: string): number {
    return this.serviceGroupCapacity.get(`${service}|${group}`) ?? 0;
  }

  /**
   * Tokens/s an option's survival group may still add for its service, so that losing the group
   * leaves `keep` of demand when the rest meets the requirement (no limit without a survival rule).
   */
  groupRoom(index: number): number {
    const option = this.options.inference[index] as InferenceOption;
    const keep = this.fleet.policy.survive?.keep;
    if (keep === undefined) return Number.POSITIVE_INFINITY;
    const limit = requiredTokensPerSecond(option.service, this.fleet.policy.headroom) - keep * demandTokensPerSecond(option.service);
    return limit - this.groupCapacity(option.service.id, survivalGroup(option.pool, this.lose));
  }

  /** Replicas of an option that fit now: chips, site power and (unless told not to) share caps. */
  fits(index: number, shares = true): number {
    const option = this.options.inference[index] as InferenceOption;
    const byChips = Math.floor((this.freeChips.get(option.pool.id) ?? 0) / option.chipsPerReplica);
    const mwRoom = Math.min(this.siteRoom(option.pool), shares ? this.shareRoom(option.pool) : Number.POSITIVE_INFINITY);
    const byPower = Math.floor(mwRoom / option.facilityMWPerReplica + 1e-9);
    return Math.max(0, Math.min(byChips, byPower));
  }

  /** Whether a training gang fits now: its chips, and its site power by the same rounding as replicas' (R57). */
  fitsTraining(pool: Pool, chips: number, mw: number): boolean {
    return (this.freeChips.get(pool.id) ?? 0) >= chips && Math.floor(this.siteRoom(pool) / mw + 1e-9) >= 1;
  }

  placeTraining(index: number): void {
    const option = this.options.training[index];
    if (option === undefined) return;
    this.trainingChosen[index] = true;
    this.take(option.pool, option.chips, option.facilityMW);
  }

  add(index: number, count: number): void {
    if (count === 0) return;
    const option = this.options.inference[index] as InferenceOption;
    this.replicas[index] = (this.replicas[index] ?? 0) + count;
    this.take(option.pool, count * option.chipsPerReplica, count * option.facilityMWPerReplica);
    const tokens = count * option.tokensPerSecondPerReplica;
    this.serviceCapacity.set(option.service.id, this.capacity(option.service.id) + tokens);
    const key = `${option.service.id}|${survivalGroup(option.pool, this.lose)}`;
    this.serviceGroupCapacity.set(key, (this.serviceGroupCapacity.get(key) ?? 0) + tokens);
  }

  /** Whether one replica can go without breaking demand, survival or a share cap. */
  canRemove(index: number): boolean {
    const option = this.options.inference[index] as InferenceOption;
    const service = option.service;
    const tokens = option.tokensPerSecondPerReplica;
    const capacity = this.capacity(service.id) - tokens;
    if (capacity < requiredTokensPerSecond(service, this.fleet.policy.headroom) * (1 + 1e-9)) return false;
    const keep = this.fleet.policy.survive?.keep;
    if (keep !== undefined) {
      const group = survivalGroup(option.pool, this.lose);
      const demand = demandTokensPerSecond(service);
      for (const [key, held] of this.serviceGroupCapacity) {
        if (!key.startsWith(`${service.id}|`)) continue;
        const lostGroup = key.slice(service.id.length + 1);
        const outside = capacity - (lostGroup === group ? held - tokens : held);
        if (outside < keep * demand * (1 + 1e-9)) return false;
      }
    }
    // Removing power from one provider raises every other provider's share.
    const mw = option.facilityMWPerReplica;
    const total = this.totalMW - mw;
    const caps = this.fleet.policy.maxShare;
    if (caps.provider !== undefined) {
      for (const [name, held] of this.providerMW) if (held - (name === option.pool.provider ? mw : 0) > caps.provider * total + 1e-9) return false;
    }
    if (caps.chipVendor !== undefined) {
      for (const [name, held] of this.vendorMW) if (held - (name === option.pool.chip.vendor ? mw : 0) > caps.chipVendor * total + 1e-9) return false;
    }
    return true;
  }

  private take(pool: Pool, chips: number, mw: number): void {
    this.freeChips.set(pool.id, (this.freeChips.get(pool.id) ?? 0) - chips);
    if (pool.site !== undefined) this.freeSiteMW.set(pool.site, (this.freeSiteMW.get(pool.site) ?? 0) - mw);
    this.providerMW.set(pool.provider, (this.providerMW.get(pool.provider) ?? 0) + mw);
    this.vendorMW.set(pool.chip.vendor, (this.vendorMW.get(pool.chip.vendor) ?? 0) + mw);
    this.totalMW += mw;
  }

  private siteRoom(pool: Pool): number {
    return pool.site === undefined ? Number.POSITIVE_INFINITY : (this.freeSiteMW.get(pool.site) ?? 0);
  }

  /** MW a pool's provider and vendor may still add: held + m <= cap (total + m). */
  private shareRoom(pool: Pool): number {
    let room = Number.POSITIVE_INFINITY;
    const caps = this.fleet.policy.maxShare;
    if (caps.provider !== undefined && caps.provider < 1) room = Math.min(room, (caps.provider * this.totalMW - (this.providerMW.get(pool.provider) ?? 0)) / (1 - caps.provider));
    if (caps.chipVendor !== undefined && caps.chipVendor < 1) room = Math.min(room, (caps.chipVendor * this.totalMW - (this.vendorMW.get(pool.chip.vendor) ?? 0)) / (1 - caps.chipVendor));
    return room;
  }
}
