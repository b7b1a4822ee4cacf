// Model files on disk (Node only): atomic save, load with clear errors.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeModel, encodeModel, type Model } from '../model/model-file.js';

/** Writes `model` to `path` atomically: a temporary file in the same directory, then a rename. */
export async function saveModel(path: string, model: Model): Promise<void> {
  const bytes = encodeModel(model, path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes, { flush: true });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new Error(`${path}: could not save the model (${(e as Error).message})`);
  }
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
