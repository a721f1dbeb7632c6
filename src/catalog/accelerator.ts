/** Numeric precisions a chip may run and a model may be served in. */
export const precisions = ['bf16', 'fp8', 'int8', 'fp4'] as const;
export type Precision = (typeof precisions)[number];

/** Bytes one weight (or one KV-cache element) takes at each precision. */
export const bytesPerValue: Readonly<Record<Precision, number>> = { bf16: 2, fp8: 1, int8: 1, fp4: 0.5 };

/** How the IT power figure of a chip was obtained: users must be able to tell a datasheet from a guess. */
export type PowerBasis = 'vendor-tdp' | 'measured' | 'rack-share' | 'estimate';

/**
 * Efficiency factors applied to peak figures by the performance model. They are
 * what separates a roofline from what a serving stack reaches; every default is
 * justified in the catalog entry and can be overridden per fleet.
 */
export interface EfficiencyFactors {
  /** Fraction of peak HBM bandwidth a decode step reaches (weight and KV reads). */
  readonly decodeBandwidth: number;
  /** Fraction of peak matrix FLOP/s a prefill pass reaches. */
  readonly prefillCompute: number;
  /** Model-FLOPs utilisation of large-scale training. */
  readonly trainingMfu: number;
}

/** One accelerator as the catalog knows it. All rates are dense (no sparsity), per chip. */
export interface AcceleratorSpec {
  /** Short id used in fleet files, e.g. `tpu7x`, `trainium2`, `gb200`. */
  readonly id: string;
  readonly name: string;
  /** Chip vendor (for concentration limits): google, aws, nvidia, amd, microsoft. */
  readonly vendor: string;
  readonly year: number;
  /** Peak dense TFLOP/s (TOPS for int8) per precision; a missing precision falls back to a wider one. */
  readonly peakTflops: Readonly<Partial<Record<Precision, number>>> & { readonly bf16: number };
  /** HBM capacity in decimal GB (GiB figures converted). */
  readonly hbmGB: number;
  /** HBM bandwidth in TB/s. */
  readonly hbmTBps: number;
  /** IT power per chip in watts: its share of the server or rack it sits in (facility power = IT x PUE). */
  readonly itPowerW: number;
  readonly powerBasis: PowerBasis;
  /** Why the power figure is what it is; mandatory reasoning when `powerBasis` is `estimate` or `rack-share`. */
  readonly powerNote: string;
  /** Largest tensor-parallel group the scale-up interconnect serves well (chips). */
  readonly scaleUpDomain: number;
  /** Scale-up interconnect bandwidth per chip, one direction, GB/s (what a tensor-parallel all-reduce sees). */
  readonly scaleUpGBps: number;
  readonly efficiency: EfficiencyFactors;
  /** Indicative price per chip-hour by cloud provider id (gcp, aws, azure, oci, ...); a fleet file's price wins. */
  readonly pricePerChipHour: Readonly<Record<string, number>>;
  /** Where each group of figures comes from. */
  readonly sources: {
    readonly compute: string;
    readonly memory: string;
    readonly power: string;
    readonly price: string;
    readonly scaleUp: string;
  };
  /** What is uncertain about this entry. */
  readonly caveats: string;
}
