// The benchmarks' flags: `--name value` read from the command line (no value after it, or another
// flag there, is an error rather than a silent default).
import type { SubgroupMode } from '../engine/ops/subgroups.js';

const argv = process.argv.slice(2);

export function flag(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

/** `--name n`: an integer >= min, or the fallback when the flag is absent. */
export function intFlag(name: string, fallback: number, min: number): number {
  const s = flag(name);
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name}: '${s}' is not an integer >= ${min}`);
  return v;
}

/** `--conv-weights storage|auto`: where the conv kernels read their packed weights, for an A/B
 * against the default (auto: a uniform buffer where they fit, else storage; CONV_TILE.weights). */
export function convWeightsFlag(tile: { weights: 'auto' | 'uniform' | 'storage' }): string {
  const v = flag('conv-weights');
  if (v !== undefined) {
    if (v !== 'auto' && v !== 'storage') throw new Error(`--conv-weights: '${v}' is not storage or auto`);
    tile.weights = v;
  }
  return `conv weights: ${tile.weights === 'auto' ? 'uniform buffer where they fit (default)' : 'storage binding (--conv-weights storage)'}`;
}

/** `--subgroups never|auto`: whether the CPU forms that share loads through the subgroup run (the
 * default where the device has subgroups of >= 8 lanes), for an A/B; every table (CONV_TILE, ...)
 * passed gets the same setting. */
export function subgroupsFlag(tables: { subgroups: SubgroupMode }[], subgroupMinSize: number): string {
  const v = flag('subgroups');
  if (v !== undefined) {
    if (v !== 'auto' && v !== 'never') throw new Error(`--subgroups: '${v}' is not never or auto`);
    for (const t of tables) t.subgroups = v;
  }
  if (subgroupMinSize < 8) return `subgroups: none of >= 8 lanes on this device (min ${subgroupMinSize})`;
  return v === 'never' ? 'subgroup forms: off (--subgroups never)' : `subgroup forms: on where they apply (subgroups of ${subgroupMinSize}+ lanes)`;
}
