// The embedded models, found from wherever this code runs: the sources (src/node/), the CLI bundle
// (dist/mitoscan.mjs) or dist/run/*.mjs, by walking up to the folder whose package.json is mitoscan's.
//   models/default.mitoscan: the real-tissue model (trained on real H&E mitotic figures), the
//     default of `detect`, the web page and the library;
//   models/demo.mitoscan: the demonstration model trained on procedural fields only, which
//     `mitoscan demo` runs on its procedural field.
// models/README.md says how each was made and how it scored.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../model/model-file.js';
import { loadModel } from './model-io.js';

export const DEFAULT_MODEL_FILE = 'models/default.mitoscan';
export const DEMO_MODEL_FILE = 'models/demo.mitoscan';

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

function embeddedModelPath(file: string, what: string, from: string): string {
  const root = packageRoot(from);
  if (!root) throw new Error(`the ${what}: no mitoscan package folder (package.json with name "mitoscan") above ${from}; give a model file with --model`);
  const p = join(root, file);
  if (!existsSync(p)) throw new Error(`the ${what} ${p} is missing (see models/README.md to make it); give a model file with --model`);
  return p;
}

/** Path of models/default.mitoscan (the real-tissue model) in the mitoscan package; throws a clear error when it is missing. */
export function defaultModelPath(from: string = import.meta.url): string {
  return embeddedModelPath(DEFAULT_MODEL_FILE, 'default model', from);
}

/** Path of models/demo.mitoscan (trained on procedural fields, for `mitoscan demo`). */
export function demoModelPath(from: string = import.meta.url): string {
  return embeddedModelPath(DEMO_MODEL_FILE, 'demo model', from);
}

/** Loads the embedded default model (real tissue). */
export function loadDefaultModel(): Promise<Model> {
  return loadModel(defaultModelPath());
}

/** Loads the embedded demonstration model (procedural fields). */
export function loadDemoModel(): Promise<Model> {
  return loadModel(demoModelPath());
}
