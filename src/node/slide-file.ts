// A ByteSource over a file on disk (Node): one file handle, positional reads, never the whole file.
import { open } from 'node:fs/promises';
import type { ByteSource } from '../slide/source.js';
import { checkRegularFile } from './files.js';

/** Slides are 1-4 GB and may be larger (BigTIFF): no size limit beyond what a double holds exactly. */
const MAX_SLIDE_BYTES = Number.MAX_SAFE_INTEGER;

/**
 * Opens `path` for positional reads, after checking that it is a regular file (a FIFO or a device
 * would hang or never end). Call close() when done. Errors name the path.
 */
export async function openFileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  await checkRegularFile(path, 'slide', MAX_SLIDE_BYTES);
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  let closed = false;
  return {
    size,
    name: path,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (closed) throw new Error(`${path}: read after close`);
      const a = Math.max(0, offset), n = Math.max(0, Math.min(size, offset + length) - a);
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, a + got);
        if (!bytesRead) break; // the file shrank while open
        got += bytesRead;
      }
      return got === n ? buf : buf.subarray(0, got);
    },
    async close() {
      if (!closed) (closed = true), await fh.close();
    },
  };
}
