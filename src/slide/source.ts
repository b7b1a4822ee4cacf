// Random-access bytes for the lazy slide reader: a slide file is 1-4 GB and is never read whole.
// Browser-safe (no node: imports); the Node file-handle source lives in src/node/slide-file.ts.

/** Positional reads from a file-like thing of known size. */
export interface ByteSource {
  /** Total size in bytes. */
  size: number;
  /** `length` bytes from `offset`; shorter only at the end of the source. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** What error messages call the source (a file name). */
  name: string;
  /** Releases the underlying handle, if any. */
  close?(): Promise<void>;
}

/** A source over bytes already in memory (tests, small files). */
export function bytesSource(bytes: Uint8Array, name: string): ByteSource {
  return {
    size: bytes.length,
    name,
    read: async (offset, length) => bytes.subarray(Math.max(0, offset), Math.min(bytes.length, offset + length)),
  };
}

/** A source over a browser Blob or File: only the sliced bytes are read (`blob.slice(a, b).arrayBuffer()`). */
export function blobSource(blob: Blob, name = (blob as File).name ?? 'blob'): ByteSource {
  return {
    size: blob.size,
    name,
    read: async (offset, length) => {
      const a = Math.max(0, offset), b = Math.min(blob.size, offset + length);
      return b > a ? new Uint8Array(await blob.slice(a, b).arrayBuffer()) : new Uint8Array(0);
    },
  };
}

/** Counts the reads and bytes that pass through `source` (benchmarks, tests that check laziness). */
export function countingSource(source: ByteSource): ByteSource & { reads: number; bytes: number } {
  const s = {
    size: source.size,
    name: source.name,
    reads: 0,
    bytes: 0,
    read: async (offset: number, length: number) => {
      const b = await source.read(offset, length);
      s.reads++;
      s.bytes += b.length;
      return b;
    },
    close: source.close ? () => source.close!() : undefined,
  };
  return s;
}
