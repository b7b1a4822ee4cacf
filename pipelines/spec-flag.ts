// `--spec`: a named net (DNN1, DNN2, compact20x, wide20x) or a JSON file holding a layer spec.
import { existsSync } from 'node:fs';
import { printable } from '../src/printable.js';
import { NAMED_SPECS, validateSpec, type NetSpec } from '../src/model/spec.js';
import { readRegularFile } from '../src/node/files.js';
import { checkMapStride } from '../src/model/dense.js';
import { flagNumber, UsageError, type ParsedArgs, oneOf } from './args.js';

/** The largest spec file read: a spec is a few hundred bytes of JSON. */
export const MAX_SPEC_BYTES = 1024 * 1024;

export async function resolveSpec(s: string): Promise<NetSpec> {
  const named = NAMED_SPECS[s];
  if (named) return named;
  if (!/\.json$/i.test(s) && !existsSync(s)) {
    throw new UsageError(`--spec: '${printable(s)}' is not one of ${Object.keys(NAMED_SPECS).join(', ')} nor a spec .json file`);
  }
  // stat first (no FIFO, device or folder), then a size limit; nothing of the file is echoed raw
  const bytes = await readRegularFile(s, 'spec file', MAX_SPEC_BYTES);
  const text = new TextDecoder('utf-8').decode(bytes);
  const bad = /[\x00-\x08\x0e-\x1f\x7f\ufffd]/.exec(text);
  if (bad) throw new Error(`${s}: holds binary data, not a JSON net spec (${printable(text.slice(Math.max(0, bad.index - 10), bad.index + 20), 60)})`);
  let spec: NetSpec;
  try {
    spec = JSON.parse(text) as NetSpec;
  } catch (e) {
    throw new Error(`${s}: could not read a net spec (${printable((e as Error).message, 160)})`);
  }
  try {
    validateSpec(spec);
  } catch (e) {
    throw new Error(`${s}: ${printable((e as Error).message, 200)}`);
  }
  return spec;
}

/** `--map-stride 1|2` (default 1): the value, read before any work. */
export function mapStrideFlag(args: ParsedArgs): number {
  return flagNumber(args, 'map-stride', 1, oneOf(1, 2));
}

/** The map stride checked against every given model, once they are loaded (a usage error naming the model). */
export function checkMapStrideFlag(stride: number, models: readonly { spec: NetSpec }[], names: readonly string[]): void {
  for (const [i, m] of models.entries()) {
    try {
      checkMapStride(m.spec, stride);
    } catch (err) {
      throw new UsageError(`--map-stride: ${names[i]}: ${(err as Error).message}`);
    }
  }
}
