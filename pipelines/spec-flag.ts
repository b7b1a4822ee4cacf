// `--spec`: a named net (DNN1, DNN2, compact20x) or a JSON file holding a layer spec.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { NAMED_SPECS, validateSpec, type NetSpec } from '../src/model/spec.js';
import { UsageError } from './args.js';

export async function resolveSpec(s: string): Promise<NetSpec> {
  const named = NAMED_SPECS[s];
  if (named) return named;
  if (!/\.json$/i.test(s) && !existsSync(s)) {
    throw new UsageError(`--spec: '${s}' is not one of ${Object.keys(NAMED_SPECS).join(', ')} nor a spec .json file`);
  }
  let spec: NetSpec;
  try {
    spec = JSON.parse(await readFile(s, 'utf8')) as NetSpec;
  } catch (e) {
    throw new Error(`${s}: could not read a net spec (${(e as Error).message})`);
  }
  try {
    validateSpec(spec);
  } catch (e) {
    throw new Error(`${s}: ${(e as Error).message}`);
  }
  return spec;
}
