// Files on disk (Node only). Everything the project writes goes through writeFileAtomic: a crash,
// a full disk or a concurrent reader sees either the old file or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { countImagePages, decodeImage, ImageFormatError, type RgbaImage } from '../io/image.js';

/**
 * Writes `data` (a string is written as UTF-8) to `path`: into a temporary file in the same folder
 * (a rename is only atomic within one file system), flushed to disk, then renamed over `path`.
 * Creates missing parent folders. On failure the temporary file is removed, `path` is untouched,
 * and the error names `path`.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  // unique per process and call, so that concurrent writers never share a temporary file
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync(); // the bytes are on disk before the name points at them
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new Error(`${path}: could not write the file (${(e as Error).message})`);
  }
  // make the rename itself durable; best effort (not every platform can open a folder)
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* the file is complete either way */
  }
}

async function readImageBytes(path: string): Promise<Uint8Array> {
  try {
    if ((await stat(path)).isDirectory()) throw new ImageFormatError(path, 'is a folder, not an image');
    return await readFile(path);
  } catch (e) {
    if (e instanceof ImageFormatError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new ImageFormatError(path, err.code === 'ENOENT' ? 'no such file' : `cannot be read (${err.message})`);
  }
}

/** Reads and decodes an image (TIFF, PNG, JPEG or BMP, by content); every error names the path. */
export async function readImageFile(path: string, opts: { page?: number } = {}): Promise<RgbaImage> {
  return decodeImage(await readImageBytes(path), path, opts);
}

/** The number of pages of an image file (a multi-page TIFF's; 1 for the other formats). */
export async function readImagePageCount(path: string): Promise<number> {
  return countImagePages(await readImageBytes(path), path);
}
