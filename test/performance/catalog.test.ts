/**
 * The accelerator catalog against the reference data it is transcribed from
 * (../shared/reference/accelerators.csv, relative to the repository root), and
 * the model presets the performance model is exercised with.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { AcceleratorSpec } from '../../src/catalog/accelerator.js';
import { accelerators } from '../../src/catalog/accelerators.js';
import { modelPresets } from '../../src/catalog/models.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const csvPath = resolve(repoRoot, '../shared/reference/accelerators.csv');

type Row = Record<string, string>;
const rows: Row[] = parse<Row>(readFileSync(csvPath, 'utf8'), { columns: true, skip_empty_lines: true, trim: true });

/** CSV `chip` column -> catalog id, in CSV order. */
const chipIds: readonly (readonly [string, string])[] = [
  ['TPU v4', 'tpu-v4'],
  ['TPU v5e', 'tpu-v5e'],
  ['TPU v5p', 'tpu-v5p'],
  ['TPU v6e (Trillium)', 'tpu-v6e'],
  ['TPU7x (Ironwood)', 'tpu7x'],
  ['Trainium (Trn1)', 'trainium1'],
  ['Trainium2', 'trainium2'],
  ['Trainium3', 'trainium3'],
  ['Inferentia2', 'inferentia2'],
  ['A100 80GB SXM', 'a100'],
  ['H100 SXM', 'h100'],
  ['H200 SXM', 'h200'],
  ['B200 (HGX)', 'b200'],
  ['B300 (HGX, Blackwell Ultra)', 'b300'],
  ['GB200 (per B200 GPU in NVL72)', 'gb200'],
  ['GB300 (per B300 GPU in NVL72)', 'gb300'],
  ['Instinct MI300X', 'mi300x'],
  ['Instinct MI325X', 'mi325x'],
  ['Instinct MI355X', 'mi355x'],
  ['Maia 100', 'maia-100'],
  ['Maia 200', 'maia-200'],
];
const expectedOrder = [
  'tpu-v4', 'tpu-v5e', 'tpu-v5p', 'tpu-v6e', 'tpu7x', 'trainium1', 'trainium2', 'trainium3', 'inferentia2',
  'a100', 'h100', 'h200', 'b200', 'b300', 'gb200', 'gb300', 'mi300x', 'mi325x', 'mi355x', 'maia-100', 'maia-200',
];

function cell(row: Row, column: string): string {
  const value = row[column];
  if (value === undefined) throw new Error(`CSV has no column ${column}`);
  return value;
}

function idFor(row: Row): string {
  const name = cell(row, 'chip');
  const match = chipIds.find(([csvName]) => csvName === name);
  if (match === undefined) throw new Error(`CSV chip '${name}' has no catalog id mapping`);
  return match[1];
}

/** The first number in a cell ("~7", "7.37-7.4", "2500 (AMD; ...)", "8.0 (7.7 in some docs)"), or undefined. */
function leadingNumber(text: string): number | undefined {
  const match = /^~?\s*([0-9]+(?:\.[0-9]+)?)/.exec(text.trim());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function notPublished(text: string): boolean {
  return /^not published/i.test(text.trim());
}

function entriesFor(id: string): AcceleratorSpec[] {
  return accelerators.filter((chip) => chip.id === id);
}

describe('accelerator catalog vs ../shared/reference/accelerators.csv', () => {
  it('parses 21 chip rows', () => {
    expect(rows).toHaveLength(21);
  });

  it('maps every CSV row to exactly one catalog entry, in CSV order', () => {
    const ids = rows.map(idFor);
    expect(ids).toEqual(expectedOrder);
    for (const id of ids) expect(entriesFor(id), id).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
    // And nothing in the catalog that is not in the CSV.
    expect(accelerators.map((chip) => chip.id)).toEqual(expectedOrder);
  });

  describe.each(rows.map((row) => [idFor(row), row] as const))('%s', (id, row) => {
    const chip = entriesFor(id)[0] as AcceleratorSpec;

    it('has the CSV bf16 rate (or an estimate said to be one)', () => {
      const text = cell(row, 'bf16_dense_tflops');
      const published = leadingNumber(text);
      if (published === undefined) {
        expect(notPublished(text), `unparseable bf16 cell '${text}'`).toBe(true);
        expect(chip.caveats).toMatch(/estimate/i);
        expect(chip.caveats).toMatch(/bf16/i);
        expect(chip.peakTflops.bf16).toBeGreaterThan(0);
      } else {
        expect(chip.peakTflops.bf16).toBe(published);
      }
    });

    it('has the CSV HBM bandwidth (leading figure)', () => {
      const text = cell(row, 'hbm_tbps');
      const published = leadingNumber(text);
      if (published === undefined) {
        expect(notPublished(text)).toBe(true);
        expect(chip.caveats).toMatch(/estimate/i);
      } else {
        expect(chip.hbmTBps).toBe(published);
      }
    });

    it('has the CSV HBM capacity in decimal GB (GiB converted, usable figure where given)', () => {
      const text = cell(row, 'hbm_gb');
      const usable = /\(([0-9.]+) usable\)/.exec(text)?.[1];
      const leading = leadingNumber(text);
      if (leading === undefined) throw new Error(`unparseable HBM cell '${text}'`);
      // The CSV gives these in GiB without saying so: Google's docs write "32 GB", the chip holds 34.4e9
      // bytes (jax tpu_info.py, a source the CSV names), as TPU v4's 32 GiB, which the CSV marks (E25).
      const gibUnmarked = new Set(['tpu-v5e', 'tpu-v5p', 'tpu-v6e']);
      const expected = usable !== undefined ? Number(usable) : /GiB/.test(text) || gibUnmarked.has(chip.id) ? leading * 1.073741824 : leading;
      expect(chip.hbmGB).toBeCloseTo(expected, 2);
    });

    it('labels an unpublished power figure as an estimate or a rack share', () => {
      if (notPublished(cell(row, 'power_w'))) expect(['estimate', 'rack-share']).toContain(chip.powerBasis);
    });

    it('names its sources and explains its power figure', () => {
      for (const [group, source] of Object.entries(chip.sources)) expect(source.trim().length, `sources.${group}`).toBeGreaterThan(0);
      expect(chip.powerNote.trim().length).toBeGreaterThan(0);
      if (chip.powerBasis === 'estimate' || chip.powerBasis === 'rack-share') expect(chip.powerNote.length).toBeGreaterThanOrEqual(40);
    });

    it('has sane figures for the performance model', () => {
      expect(chip.hbmGB).toBeGreaterThan(0);
      expect(chip.hbmTBps).toBeGreaterThan(0);
      expect(chip.scaleUpDomain).toBeGreaterThanOrEqual(1);
      expect(Number.isInteger(chip.scaleUpDomain)).toBe(true);
      for (const factor of Object.values(chip.efficiency)) {
        expect(factor).toBeGreaterThan(0);
        expect(factor).toBeLessThanOrEqual(1);
      }
    });
  });
});

describe('model presets', () => {
  const ids = modelPresets.map((model) => model.id);
  const moe = new Set(['mixtral-8x7b', 'deepseek-v3']);

  it('include the models the comparisons and tests use', () => {
    for (const id of ['llama-3.1-8b', 'llama-3.1-70b', 'llama-3.1-405b', 'llama-2-70b', 'mixtral-8x7b', 'deepseek-v3']) {
      expect(ids, id).toContain(id);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(modelPresets.map((model) => [model.id, model] as const))('%s: activeParams < params only for mixtures of experts', (id, model) => {
    if (moe.has(id)) expect(model.activeParams).toBeLessThan(model.params);
    else expect(model.activeParams).toBe(model.params);
    expect(model.activeParams).toBeGreaterThan(0);
    expect(model.layers).toBeGreaterThan(0);
    expect(model.kvHeads).toBeGreaterThan(0);
    expect(model.headDim).toBeGreaterThan(0);
    expect(model.source.length).toBeGreaterThan(0);
  });
});
