// Files on disk (Node only). Everything the project writes goes through writeFileAtomic: a crash
// or a full disk leaves either the old file or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeImage, ImageFormatError, type RgbaImage } from '../io/image.js';

/** Writes `data` to `path` through a temporary file in the same folder, flushed, then renamed. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new Error(`${path}: could not write the file (${(e as Error).message})`);
  }
}

/** Reads and decodes an image (TIFF, PNG, JPEG, BMP); errors name the path. */
export async function readImageFile(path: string, opts: { page?: number } = {}): Promise<RgbaImage> {
  let bytes: Uint8Array;
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new ImageFormatError(path, 'is a folder, not an image');
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof ImageFormatError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new ImageFormatError(path, err.code === 'ENOENT' ? 'no such file' : `cannot be read (${err.message})`);
  }
  return decodeImage(bytes, path, opts);
}
