// The embedded default model (models/default.mitoscan, trained on procedural fields: see
// models/README.md), found from wherever this code runs: the sources (src/node/), the CLI bundle
// (dist/mitoscan.mjs) or dist/run/*.mjs, by walking up to the folder whose package.json is mitoscan's.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../model/model-file.js';
import { loadModel } from './model-io.js';

export const DEFAULT_MODEL_FILE = 'models/default.mitoscan';

/** The mitoscan package folder above `from` (a file URL or path), or null. */
export function packageRoot(from: string = import.meta.url): string | null {
  let dir = dirname(from.startsWith('file:') ? fileURLToPath(from) : from);
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name === 'mitoscan') return dir;
      } catch {
        // not a readable package.json: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Path of models/default.mitoscan in the mitoscan package; throws a clear error when it is missing. */
export function defaultModelPath(from: string = import.meta.url): string {
  const root = packageRoot(from);
  if (!root) throw new Error(`the default model: no mitoscan package folder (package.json with name "mitoscan") above ${from}; give a model file with --model`);
  const p = join(root, DEFAULT_MODEL_FILE);
  if (!existsSync(p)) throw new Error(`the default model ${p} is missing (see models/README.md to make it); give a model file with --model`);
  return p;
}

/** Loads the embedded default model. */
export function loadDefaultModel(): Promise<Model> {
  return loadModel(defaultModelPath());
}
