// The directories (IFDs) of a classic or Big TIFF, read lazily over a ByteSource: only the header,
// the IFDs and the values of the tags a slide reader needs are read, never the pixel data.
// Layout (TIFF 6.0 + BigTIFF): header "II*\0" / "MM\0*" with a 4-byte offset of the first IFD, or
// "II+\0" with offset size 8 and an 8-byte offset; an IFD is a count (2 or 8 bytes), entries of
// 12 (20) bytes = tag u16, type u16, count u32 (u64), value-or-offset u32 (u64), then the offset
// of the next IFD. Values that fit in the last field are stored in it.
import type { ByteSource } from './source.js';

export class SlideFormatError extends Error {
  constructor(name: string, problem: string) {
    super(`${name}: ${problem}`);
    this.name = 'SlideFormatError';
  }
}

export const TAG = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  ImageDescription: 270,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  XResolution: 282,
  YResolution: 283,
  PlanarConfiguration: 284,
  ResolutionUnit: 296,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  SubIFDs: 330,
  ExtraSamples: 338,
  SampleFormat: 339,
  JPEGTables: 347,
  YCbCrSubSampling: 530,
} as const;

/** The tags whose values are loaded; all others are skipped without reading their values. */
const WANTED = new Set<number>(Object.values(TAG));

/** One value of a tag: numbers (rationals as num/den), a string (ASCII) or bytes (BYTE/UNDEFINED). */
export type TagValue = number[] | string | Uint8Array;

export interface Ifd {
  /** File offset of the directory. */
  offset: number;
  /** Index in the main chain (0 = first), or -1 for a SubIFD. */
  index: number;
  /** Offset of the IFD that holds this one in its SubIFDs, else undefined. */
  parent?: number;
  tags: Map<number, TagValue>;
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };
/** A cap on one tag's values (an OME-XML description of a big plate is a few MB; offsets of a 150k slide ~3 MB). */
const MAX_VALUE_BYTES = 256 * 2 ** 20;
const MAX_IFDS = 4096;

export interface TiffFile {
  source: ByteSource;
  bigTiff: boolean;
  littleEndian: boolean;
  /** Main chain, then every SubIFD (with index -1 and parent set). */
  ifds: Ifd[];
}

/** Reads the header and every IFD (main chain and SubIFDs). Throws SlideFormatError on anything not a TIFF. */
export async function readTiff(source: ByteSource): Promise<TiffFile> {
  const name = source.name;
  const head = await source.read(0, 16);
  const le = head[0] === 0x49 && head[1] === 0x49, be = head[0] === 0x4d && head[1] === 0x4d;
  if (head.length < 8 || !(le || be)) throw new SlideFormatError(name, 'not a TIFF (a slide must be a tiled TIFF: Aperio SVS, generic pyramidal TIFF or OME-TIFF)');
  const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = hv.getUint16(2, le);
  if (magic !== 42 && magic !== 43) throw new SlideFormatError(name, `not a TIFF (version ${magic})`);
  const big = magic === 43;
  if (big && (head.length < 16 || hv.getUint16(4, le) !== 8)) throw new SlideFormatError(name, 'a BigTIFF with an unsupported offset size');
  const first = big ? u64(hv, 8, le) : hv.getUint32(4, le);
  const file: TiffFile = { source, bigTiff: big, littleEndian: le, ifds: [] };
  const seen = new Set<number>();
  const chain = async (start: number, parent: number | undefined) => {
    for (let at = start, k = 0; at !== 0; k++) {
      if (seen.has(at)) throw new SlideFormatError(name, 'corrupt TIFF (its directories form a loop)');
      if (seen.size >= MAX_IFDS) throw new SlideFormatError(name, `corrupt TIFF (more than ${MAX_IFDS} directories)`);
      seen.add(at);
      const { ifd, next } = await readIfd(file, at);
      ifd.index = parent === undefined ? k : -1;
      ifd.parent = parent;
      file.ifds.push(ifd);
      at = next;
    }
  };
  await chain(first, undefined);
  // SubIFDs (OME-TIFF pyramids, vips --subifd): their chains, after the main chain
  for (const ifd of file.ifds.slice()) {
    const subs = ifd.tags.get(TAG.SubIFDs);
    if (Array.isArray(subs)) for (const s of subs) if (!seen.has(s)) await chain(s, ifd.offset);
  }
  return file;
}

function u64(v: DataView, at: number, le: boolean): number {
  const hi = v.getUint32(at + (le ? 4 : 0), le), lo = v.getUint32(at + (le ? 0 : 4), le);
  return hi * 2 ** 32 + lo;
}

async function readIfd(file: TiffFile, at: number): Promise<{ ifd: Ifd; next: number }> {
  const { source, bigTiff: big, littleEndian: le } = file;
  const name = source.name;
  const cut = () => new SlideFormatError(name, 'truncated or corrupt TIFF (a directory lies past the end of the file)');
  if (at < 8 || at >= source.size) throw cut();
  const cs = big ? 8 : 2, es = big ? 20 : 12, os = big ? 8 : 4;
  let buf = await source.read(at, Math.min(4096, source.size - at));
  if (buf.length < cs) throw cut();
  let v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = big ? u64(v, 0, le) : v.getUint16(0, le);
  const need = cs + n * es + os;
  if (n > 65535 || at + need > source.size) throw cut();
  if (buf.length < need) {
    buf = await source.read(at, need);
    v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const tags = new Map<number, TagValue>();
  for (let i = 0; i < n; i++) {
    const e = cs + i * es;
    const tag = v.getUint16(e, le), type = v.getUint16(e + 2, le);
    if (!WANTED.has(tag) || !TYPE_SIZE[type]) continue;
    const count = big ? u64(v, e + 4, le) : v.getUint32(e + 4, le);
    const bytes = count * TYPE_SIZE[type];
    if (bytes > MAX_VALUE_BYTES) throw new SlideFormatError(name, `corrupt TIFF (tag ${tag} declares ${count} values)`);
    let raw: Uint8Array;
    if (bytes <= os) raw = buf.subarray(e + (big ? 12 : 8), e + (big ? 12 : 8) + bytes);
    else {
      const off = big ? u64(v, e + 12, le) : v.getUint32(e + 8, le);
      if (off + bytes > source.size) throw new SlideFormatError(name, `truncated or corrupt TIFF (the values of tag ${tag} lie past the end of the file)`);
      raw = await source.read(off, bytes);
    }
    tags.set(tag, decodeValues(raw, type, count, le));
  }
  const nv = cs + n * es;
  const next = big ? u64(v, nv, le) : v.getUint32(nv, le);
  return { ifd: { offset: at, index: 0, tags }, next };
}

function decodeValues(raw: Uint8Array, type: number, count: number, le: boolean): TagValue {
  if (type === 2) {
    let end = raw.length;
    while (end > 0 && raw[end - 1] === 0) end--;
    return new TextDecoder('utf-8', { fatal: false }).decode(raw.subarray(0, end));
  }
  if (type === 1 || type === 7) return raw.slice();
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Array<number>(count);
  const size = TYPE_SIZE[type];
  for (let i = 0, o = 0; i < count; i++, o += size) {
    switch (type) {
      case 3: out[i] = v.getUint16(o, le); break;
      case 4: case 13: out[i] = v.getUint32(o, le); break;
      case 5: out[i] = v.getUint32(o, le) / v.getUint32(o + 4, le); break;
      case 6: out[i] = v.getInt8(o); break;
      case 8: out[i] = v.getInt16(o, le); break;
      case 9: out[i] = v.getInt32(o, le); break;
      case 10: out[i] = v.getInt32(o, le) / v.getInt32(o + 4, le); break;
      case 11: out[i] = v.getFloat32(o, le); break;
      case 12: out[i] = v.getFloat64(o, le); break;
      case 16: case 18: out[i] = u64(v, o, le); break;
      case 17: out[i] = Number(v.getBigInt64(o, le)); break;
    }
  }
  return out;
}

/** The numbers of a tag, or undefined. */
export function nums(ifd: Ifd, tag: number): number[] | undefined {
  const v = ifd.tags.get(tag);
  return Array.isArray(v) ? v : undefined;
}
export function num(ifd: Ifd, tag: number, dflt?: number): number | undefined {
  return nums(ifd, tag)?.[0] ?? dflt;
}
export function str(ifd: Ifd, tag: number): string | undefined {
  const v = ifd.tags.get(tag);
  return typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : undefined;
}
export function bytes(ifd: Ifd, tag: number): Uint8Array | undefined {
  const v = ifd.tags.get(tag);
  return v instanceof Uint8Array ? v : undefined;
}
