// Model files on disk (Node only): atomic save, load with clear errors.
import { readFile } from 'node:fs/promises';
import { decodeModel, encodeModel, type Model } from '../model/model-file.js';
import { writeFileAtomic } from './files.js';

/** Writes `model` to `path` atomically (src/node/files.ts): a crash never leaves half a model. */
export async function saveModel(path: string, model: Model): Promise<void> {
  await writeFileAtomic(path, encodeModel(model, path));
}

/** Reads a model file; errors name the path (missing, not a model, truncated, corrupt, ...). */
export async function loadModel(path: string): Promise<Model> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(err.code === 'ENOENT' ? `${path}: no such model file` : `${path}: could not read the model (${err.message})`);
  }
  return decodeModel(bytes, path);
}
