import { accelerators } from '../../catalog/accelerators.js';
import { modelPresets } from '../../catalog/models.js';
import { number, table, toJson, type Output } from '../output.js';

/** `switchyard catalog`: every chip and model preset, with where each figure came from (in --json). */
export function catalogCommand(options: { json?: boolean }, output: Output): number {
  if (options.json === true) {
    output.out(toJson({ chips: accelerators, models: modelPresets }));
    return 0;
  }
  output.out('Accelerators (dense peak TFLOP/s; IT power is the per-chip share of its server or rack)');
  output.out(
    table(
      ['chip', 'vendor', 'bf16', 'fp8', 'int8', 'fp4', 'HBM GB', 'TB/s', 'IT W', 'power basis', 'scale-up', '$/chip-h'],
      accelerators.map((c) => [
        c.id,
        c.vendor,
        number(c.peakTflops.bf16),
        c.peakTflops.fp8 === undefined ? '-' : number(c.peakTflops.fp8),
        c.peakTflops.int8 === undefined ? '-' : number(c.peakTflops.int8),
        c.peakTflops.fp4 === undefined ? '-' : number(c.peakTflops.fp4),
        number(c.hbmGB),
        number(c.hbmTBps, 2),
        number(c.itPowerW),
        c.powerBasis,
        number(c.scaleUpDomain),
        Object.entries(c.pricePerChipHour).map(([cloud, price]) => `${cloud} ${price}`).join(', ') || '-',
      ]),
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'right', 'left'],
    ),
  );
  output.out('');
  output.out('Models');
  output.out(
    table(
      ['model', 'params', 'active', 'layers', 'kv heads', 'head dim', 'precision', 'context'],
      modelPresets.map((m) => [m.id, `${number(m.params / 1e9, 1)}B`, `${number(m.activeParams / 1e9, 1)}B`, m.layers, m.kvHeads, m.headDim, m.precision, m.contextWindow === undefined ? '-' : number(m.contextWindow)]),
      ['left', 'right', 'right', 'right', 'right', 'right', 'left', 'right'],
    ),
  );
  output.out('');
  output.out("Estimates are labelled (power basis 'estimate' or 'rack-share'); `switchyard catalog --json` has every source and note.");
  return 0;
}
