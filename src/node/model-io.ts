// Model files on disk (Node only): atomic save, load with clear errors.
import { decodeModel, encodeModel, type Model } from '../model/model-file.js';
import { readRegularFile, writeFileAtomic } from './files.js';

/**
 * The largest model file read: 256 MiB, 64 M float32 parameters. The paper's DNN2 is about 1 MB;
 * a bigger file is not a model (or not one that fits a GPU buffer), and reading it would only
 * spend memory before decodeModel refuses it.
 */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;

/** Writes `model` to `path` atomically (src/node/files.ts): a crash never leaves half a model. */
export async function saveModel(path: string, model: Model): Promise<void> {
  await writeFileAtomic(path, encodeModel(model, path));
}

/**
 * Reads a model file; errors name the path (missing, a folder, a FIFO or device, too large, not a
 * model, truncated, corrupt, ...). The path is checked (stat) before it is read, so /dev/zero or a
 * named pipe fails at once instead of being read for ever.
 */
export async function loadModel(path: string): Promise<Model> {
  const bytes = await readRegularFile(path, 'model file', MAX_MODEL_BYTES);
  return decodeModel(bytes, path);
}
