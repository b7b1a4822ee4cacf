// Images in and out, the same in Node and in browsers (no node: imports): TIFF (utif), PNG
// (upng-js), JPEG (jpeg-js) and BMP (our own: MITOS 2012 frames are 24-bit BMP). Every decoder
// returns 8-bit RGBA; every error is an ImageFormatError that names the file and says what would
// work. The format comes from the first bytes, never from the file name.
import * as jpeg from 'jpeg-js';
import UPNG from 'upng-js';
import UTIF, { type Ifd } from 'utif';
import pako from 'pako';
import type { RgbaImage } from '../model/dense.js';
import { printable } from '../printable.js';
import { lzwDecode } from './lzw.js';

export type { RgbaImage };
export type ImageFormat = 'tiff' | 'png' | 'jpeg' | 'bmp';

/** More pixels than this do not fit comfortably in one JavaScript RGBA array (resizeTo's bound). */
export const MAX_PIXELS = 2 ** 28;

/**
 * The most pixels an image file may declare: 100 megapixels (e.g. 10000x10000). Decoding needs
 * 4 bytes a pixel and detection about 20 more (the probability maps, the overlay and heatmap
 * PNGs), so 100 MP stays within ~3 GiB of host memory; the data sets' fields are 2000x2000
 * (AMIDA13, MITOS) to 7215x5412 (MIDOG, 39 MP). Larger scans are cut into fields first. The size
 * is checked from the header, before anything is decoded or allocated.
 */
export const MAX_IMAGE_PIXELS = 100_000_000;

const TOO_BIG_HINT = `crop or tile it into fields first (e.g. \`magick in.tif -crop 4096x4096 +repage field_%d.tif\` or \`vips dzsave\`)`;

export class ImageFormatError extends Error {
  constructor(name: string, problem: string) {
    super(`${name}: ${problem}`);
    this.name = 'ImageFormatError';
  }
}

const BMP_HEADER_SIZES = [12, 40, 52, 56, 64, 108, 124];

/** The format from the magic bytes (BigTIFF counts as 'tiff' so that its error can say what it is). */
export function sniffFormat(b: Uint8Array): ImageFormat | undefined {
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && (b[2] === 42 || b[2] === 43) && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && (b[3] === 42 || b[3] === 43)))) return 'tiff';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  // 'BM' alone is too weak (a text file may start with it): also ask for a known DIB header size
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d && (b.length < 18 || BMP_HEADER_SIZES.includes(b[14] | (b[15] << 8)))) return 'bmp';
  return undefined;
}

function checkSize(name: string, width: number, height: number, what = 'the image'): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageFormatError(name, `${what} has a bad size ${width}x${height} (corrupt header?)`);
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageFormatError(name, `${what} declares ${width}x${height} pixels (${(width * height / 1e6).toFixed(1)} megapixels), more than the ${MAX_IMAGE_PIXELS / 1e6} megapixels mitoscan decodes at once; ${TOO_BIG_HINT}`);
  }
}

/**
 * Inflates a zlib stream only to count its output, stopping as soon as it exceeds `max` bytes (a
 * decompression bomb or a corrupt file), so that the libraries, which inflate everything into
 * memory, only ever see streams of the size the header declares. Returns the inflated size.
 */
function inflatedSize(data: Uint8Array, max: number, name: string, what: string): number {
  const inf = new pako.Inflate({ chunkSize: 1 << 16 });
  let total = 0;
  inf.onData = (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > max) throw new ImageFormatError(name, `corrupt or malicious file: ${what} decompresses to more than the ${max} bytes its declared size needs`);
  };
  inf.onEnd = (status: number) => {
    inf.err = status; // what pako's own onEnd records
    inf.msg = inf.strm?.msg ?? '';
  };
  inf.push(data, true);
  if (inf.err) throw new ImageFormatError(name, `corrupt compressed data in ${what} (${inf.msg || `zlib error ${inf.err}`}); the file is probably truncated or corrupt`);
  return total;
}

/** The parts joined into one array. */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}

export { printable };

/** A private ArrayBuffer holding exactly `bytes` (the libraries read whole buffers, from offset 0). */
function exactCopy(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** The pages of a file: a TIFF may hold several, the other formats one. Pages decode on demand. */
function openPages(bytes: Uint8Array, name: string): { format: ImageFormat; count: number; decode(k: number): RgbaImage } {
  if (!bytes.length) throw new ImageFormatError(name, 'the file is empty');
  const format = sniffFormat(bytes);
  if (!format) {
    const head = Array.from(bytes.slice(0, 8), (v) => v.toString(16).padStart(2, '0')).join(' ');
    throw new ImageFormatError(name, `not a TIFF, PNG, JPEG or BMP image (first bytes ${head}); convert it to one of those`);
  }
  // library exceptions (often strings or TypeErrors on truncated data) become ImageFormatErrors
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof ImageFormatError) throw e;
      const why = e instanceof Error ? e.message : String(e);
      throw new ImageFormatError(name, `could not be decoded as ${format.toUpperCase()} (${why}); the file is probably truncated or corrupt`);
    }
  };
  if (format === 'tiff') {
    const tiff = guard(() => openTiff(bytes, name));
    return { format, count: tiff.pages.length, decode: (k) => guard(() => tiff.decode(k)) };
  }
  const single = { png: decodePng, jpeg: decodeJpeg, bmp: decodeBmp }[format];
  return { format, count: 1, decode: () => guard(() => single(bytes, name)) };
}

/** Every page (multi-page TIFF) or the single image (other formats), as RGBA. */
export function decodeImagePages(bytes: Uint8Array, name: string): RgbaImage[] {
  const file = openPages(bytes, name);
  return Array.from({ length: file.count }, (_, k) => file.decode(k));
}

/** How many pages a file holds (1 unless it is a multi-page TIFF); decodes none. */
export function countImagePages(bytes: Uint8Array, name: string): number {
  return openPages(bytes, name).count;
}

/** One image: page `opts.page` (default 0) of a multi-page TIFF, decoding only that page. */
export function decodeImage(bytes: Uint8Array, name: string, opts: { page?: number } = {}): RgbaImage {
  const file = openPages(bytes, name);
  const p = opts.page ?? 0;
  if (!Number.isInteger(p) || p < 0 || p >= file.count) throw new ImageFormatError(name, `has ${file.count} page(s); page ${p} does not exist`);
  return file.decode(p);
}

// ---------------------------------------------------------------- TIFF

const COMPRESSIONS: Record<number, string> = { 1: 'none', 5: 'LZW', 6: 'old-style JPEG', 7: 'JPEG', 8: 'Deflate', 32946: 'Deflate', 32773: 'PackBits' };
const UNSUPPORTED_COMPRESSIONS: Record<number, string> = { 2: 'CCITT', 3: 'CCITT G3', 4: 'CCITT G4', 33003: 'Aperio JPEG 2000', 33005: 'Aperio JPEG 2000', 34712: 'JPEG 2000', 34887: 'LERC', 34925: 'LZMA', 50000: 'Zstd', 50001: 'WebP', 50002: 'JPEG XL' };
const CONVERT_HINT = 'convert it to an 8-bit RGB TIFF first (e.g. `magick in.tif -depth 8 -compress LZW out.tif`)';

function tag(ifd: Ifd, t: number): number[] | undefined {
  const v = ifd[`t${t}`];
  return Array.isArray(v) ? (v as number[]) : undefined;
}

function openTiff(bytes: Uint8Array, name: string): { pages: Ifd[]; decode(k: number): RgbaImage } {
  if (bytes[2] === 43 || bytes[3] === 43) throw new ImageFormatError(name, `a BigTIFF (the 64-bit variant of TIFF), which is not supported; ${CONVERT_HINT}`);
  const buf = exactCopy(bytes);
  checkIfdChain(new Uint8Array(buf), name);
  const ifds = UTIF.decode(buf);
  // pages are the full images: NewSubfileType bit 0 marks reduced-resolution copies, bit 2 masks
  const pages = ifds.filter((ifd) => tag(ifd, 256) && !((tag(ifd, 254)?.[0] ?? 0) & 5));
  if (!pages.length) throw new ImageFormatError(name, 'a TIFF with no image in it');
  return { pages, decode: (k) => decodeTiffPage(buf, ifds, pages[k], `page ${k}`, name) };
}

// bytes per value of each TIFF field type; the tags whose values decoding needs; the tags that
// utif follows into sub-directories (sub-images, EXIF, maker notes), which we never use
const FIELD_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4 };
const NEEDED_TAGS = new Set([256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 339, 347]);
const NESTING_TAGS = new Set([330, 34665, 34853, 37500, 50740]);

/**
 * Walks the chain of IFDs (page directories) of our private copy `b` before utif reads it, because
 * utif reads bytes past the end as zeros (a cut file would decode to silent black), follows a
 * looping chain for ever, and pushes a value count read from a corrupt entry into a JavaScript
 * array (a count of 10^9 aborts the whole process). Entries that we do not need and cannot trust
 * are blanked (tag 65535, no values); a needed one past the end makes the file truncated.
 */
function checkIfdChain(b: Uint8Array, name: string): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = b[0] === 0x49;
  const cut = (what: string) => new ImageFormatError(name, `truncated or corrupt TIFF (${what} lies past the end of the file)`);
  const seen = new Set<number>();
  let at = b.length >= 8 ? v.getUint32(4, le) : -1;
  do {
    if (at < 8 || at + 2 > b.length) throw cut('a page directory');
    if (seen.has(at)) throw new ImageFormatError(name, 'corrupt TIFF (its page directories form a loop)');
    seen.add(at);
    const n = v.getUint16(at, le);
    if (at + 2 + 12 * n + 4 > b.length) throw cut('a page directory');
    for (let i = 0; i < n; i++) {
      const e = at + 2 + 12 * i;
      const t = v.getUint16(e, le);
      const bytes = (FIELD_SIZE[v.getUint16(e + 2, le)] ?? 0) * v.getUint32(e + 4, le);
      const outside = bytes > 4 && v.getUint32(e + 8, le) + bytes > b.length;
      if (outside && NEEDED_TAGS.has(t)) throw cut(`the values of tag ${t}`);
      if (outside || NESTING_TAGS.has(t)) {
        v.setUint16(e, 65535, le);
        v.setUint32(e + 4, 0, le);
      }
    }
    at = v.getUint32(at + 2 + 12 * n, le);
  } while (at !== 0);
}

function decodeTiffPage(buf: ArrayBuffer, ifds: Ifd[], ifd: Ifd, page: string, name: string): RgbaImage {
  const width = tag(ifd, 256)?.[0] ?? 0;
  const height = tag(ifd, 257)?.[0] ?? 0;
  checkSize(name, width, height, page);
  const spp = tag(ifd, 277)?.[0] ?? 1;
  const bits = tag(ifd, 258) ?? [1];
  const sampleFormat = tag(ifd, 339)?.[0] ?? 1;
  if (bits.some((b) => b !== 8) || sampleFormat !== 1) {
    const kind = `${bits.join('/')}-bit${sampleFormat === 3 ? ' floating-point' : sampleFormat === 2 ? ' signed' : ''}`;
    throw new ImageFormatError(name, `${page} has ${kind} samples; only 8-bit RGB, RGBA, grey or palette TIFF is supported; ${CONVERT_HINT}`);
  }
  // utif sizes rows from the number of BitsPerSample values: some writers give one for all samples
  if (bits.length !== spp) ifd.t258 = new Array(spp).fill(8);
  const compression = tag(ifd, 259)?.[0] ?? 1;
  if (!COMPRESSIONS[compression]) {
    const what = UNSUPPORTED_COMPRESSIONS[compression] ?? 'unknown';
    throw new ImageFormatError(name, `${page} uses compression ${compression} (${what}), which is not supported (none, LZW, Deflate, PackBits and JPEG are); ${CONVERT_HINT}`);
  }
  if (compression === 32946) ifd.t259 = [8]; // the old code for Deflate, which utif only knows as 8
  const photometric = tag(ifd, 262)?.[0] ?? (spp >= 3 ? 2 : 1);
  ifd.t262 = [photometric];
  const jpegCoded = compression === 6 || compression === 7;
  const layoutOk =
    ((photometric === 0 || photometric === 1) && spp === 1) ||
    (photometric === 2 && (spp === 3 || spp === 4)) ||
    (photometric === 3 && spp === 1 && (tag(ifd, 320)?.length ?? 0) >= 768) ||
    (photometric === 5 && spp === 4) ||
    (photometric === 6 && spp === 3 && jpegCoded); // YCbCr: the JPEG decoder converts it to RGB
  if (!layoutOk) {
    throw new ImageFormatError(name, `${page}: photometric interpretation ${photometric} with ${spp} sample(s) per pixel is not supported; only 8-bit RGB, RGBA, grey or palette TIFF is; ${CONVERT_HINT}`);
  }
  if (spp > 1 && tag(ifd, 284)?.[0] === 2) {
    throw new ImageFormatError(name, `${page} stores its colours in separate planes (PlanarConfiguration 2), which is not supported; ${CONVERT_HINT}`);
  }
  // every strip/tile must lie inside the file: truncated TIFFs otherwise decode to silent black
  const tiled = tag(ifd, 322) !== undefined;
  const tw = tiled ? (tag(ifd, 322)?.[0] ?? 0) : width;
  const th = tiled ? (tag(ifd, 323)?.[0] ?? 0) : Math.min(height, tag(ifd, 278)?.[0] ?? height);
  // (a tile may exceed the image, but not by this much: utif would spend minutes on a corrupt size)
  if (!(tw > 0 && th > 0 && tw * th <= Math.max(4 * width * height, 1 << 20))) throw new ImageFormatError(name, `${page} has a bad ${tiled ? 'tile' : 'strip'} size ${tw}x${th} (corrupt file)`);
  const pieces = Math.ceil(width / tw) * Math.ceil(height / th);
  const offsets = tag(ifd, tiled ? 324 : 273) ?? [];
  let counts = tag(ifd, tiled ? 325 : 279);
  if (!counts && compression === 1) counts = offsets.map((_, i) => tw * (tiled ? th : Math.min(th, height - i * th)) * spp);
  const fits = (o: number, i: number) => Number.isFinite(o) && Number.isFinite(counts?.[i]) && o + counts![i] <= buf.byteLength;
  if (offsets.length < pieces || !counts || counts.length < pieces || !offsets.slice(0, pieces).every(fits)) {
    throw new ImageFormatError(name, `${page} is truncated or corrupt (its image data lies past the end of the file or its ${tiled ? 'tile' : 'strip'} table is incomplete)`);
  }
  // utif decodes whatever the strips hold without complaint (corrupt LZW becomes black or noise,
  // Deflate inflates without bound): every piece must decode to the size the header declares
  const bytes = new Uint8Array(buf);
  const rowBytes = tw * spp;
  for (let i = 0; i < pieces && !jpegCoded; i++) {
    const want = rowBytes * (tiled ? th : Math.min(th, height - i * th)), max = rowBytes * th;
    const piece = bytes.subarray(offsets[i], offsets[i] + counts[i]);
    const what = `${page}, ${tiled ? 'tile' : 'strip'} ${i}`;
    const got = compression === 5 ? lzwSize(piece, max, name, what) : compression === 8 || compression === 32946 ? inflatedSize(piece, max, name, what) : compression === 32773 ? packBitsSize(piece, max, name, what) : piece.length;
    if (got < want) throw new ImageFormatError(name, `truncated or corrupt TIFF: ${what} holds ${got} bytes of pixels, ${want} expected`);
  }
  // utif undoes the horizontal predictor (TIFF tag 317 = 2, the default of vips and libtiff for
  // LZW/Deflate) with the image's width and strip height, which is wrong for tiles: it is undone
  // here per tile row instead, each tile's rows starting afresh at the tile's left edge
  const tilePredictor = tiled && tag(ifd, 317)?.[0] === 2;
  const predictorTag = (ifd as Record<string, unknown>)['t317'];
  if (tilePredictor) delete (ifd as Record<string, unknown>)['t317'];
  try {
    UTIF.decodeImage(buf, ifd, ifds);
  } finally {
    if (tilePredictor) (ifd as Record<string, unknown>)['t317'] = predictorTag;
  }
  if (!ifd.data || ifd.data.length < width * height * spp) throw new ImageFormatError(name, `${page}: truncated image data`);
  if (tilePredictor) {
    const d = ifd.data;
    for (let y = 0; y < height; y++)
      for (let x0 = 0; x0 < width; x0 += tw)
        for (let x = x0 + 1; x < Math.min(x0 + tw, width); x++) {
          const o = (y * width + x) * spp;
          for (let c = 0; c < spp; c++) d[o + c] = (d[o + c] + d[o + c - spp]) & 255;
        }
  }
  const rgba = UTIF.toRGBA8(ifd);
  return { width, height, data: new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, width * height * 4) };
}

/**
 * The decoded size of one TIFF LZW strip or tile (at most `max`), read only within its own bytes
 * (lzwDecode, src/io/lzw.ts); corrupt data (a code the table cannot hold yet, old-style LZW) is an
 * ImageFormatError naming the file and the piece.
 */
function lzwSize(b: Uint8Array, max: number, name: string, what: string): number {
  try {
    return lzwDecode(b, max).length;
  } catch (e) {
    throw new ImageFormatError(name, `${(e as Error).message.replace(/^corrupt LZW data \((.*)\)$/, 'corrupt LZW data in ' + what + ' ($1)')}; the file is damaged: re-export it`);
  }
}

/** The decoded size of one PackBits strip; throws beyond `max` bytes. */
function packBitsSize(b: Uint8Array, max: number, name: string, what: string): number {
  let out = 0;
  for (let i = 0; i < b.length; ) {
    const n = (b[i] << 24) >> 24;
    if (n >= 0) (out += n + 1), (i += n + 2);
    else if (n !== -128) (out += 1 - n), (i += 2);
    else i++;
    if (out > max) throw new ImageFormatError(name, `corrupt file: ${what} decompresses to more than the ${max} bytes its declared size needs`);
  }
  return out;
}

const SHORT = 3, LONG = 4, RATIONAL = 5;
const TYPE_SIZE: Record<number, number> = { [SHORT]: 2, [LONG]: 4, [RATIONAL]: 8 };
/** One IFD entry; RATIONAL values are given as numerator, denominator pairs. */
type Entry = [tag: number, type: number, values: number[]];

/**
 * A baseline TIFF: 8-bit RGB, uncompressed, little-endian, in strips of about 64 KiB or (with
 * `opts.tile`) in square tiles of that side, a multiple of 16 as TIFF requires, padded with black
 * at the right and bottom edges. An array of images makes a multi-page TIFF. `opts.mpp` (µm per
 * pixel) is stored as the resolution in pixels per centimetre, so that viewers show the scale.
 */
export function encodeTiff(img: RgbaImage | RgbaImage[], opts: { tile?: number; mpp?: number } = {}): Uint8Array {
  const images = Array.isArray(img) ? img : [img];
  const { tile, mpp } = opts;
  if (!images.length) throw new RangeError('encodeTiff: no image to write');
  if (tile !== undefined && !(Number.isInteger(tile) && tile > 0 && tile % 16 === 0)) throw new RangeError(`encodeTiff: tile side must be a positive multiple of 16, got ${tile}`);
  if (mpp !== undefined && !(mpp > 0)) throw new RangeError(`encodeTiff: µm per pixel must be > 0, got ${mpp}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  // offsets must be even (TIFF word alignment)
  const place = (b: Uint8Array): number => {
    if (size & 1) (chunks.push(new Uint8Array(1)), size++);
    chunks.push(b);
    size += b.length;
    return size - b.length;
  };
  const header = new Uint8Array([0x49, 0x49, 42, 0, 0, 0, 0, 0]);
  place(header);
  let nextPointer: DataView = new DataView(header.buffer, 4, 4); // where the offset of the next IFD goes
  for (const im of images) {
    const { width: W, height: H } = im;
    const rowsPerStrip = Math.max(1, Math.min(H, Math.floor(65536 / (W * 3))));
    const pieces = tile ? rgbBlocks(im, tile, tile, true) : rgbBlocks(im, W, rowsPerStrip, false);
    const offsets = pieces.map(place);
    const counts = pieces.map((p) => p.length);
    // resolution: pixels per cm (unit 3) from µm per pixel, else the customary 72 dpi (unit 2)
    const res = mpp ? [Math.round(1e6 / mpp), 100] : [72, 1];
    const entries: Entry[] = [
      [256, LONG, [W]],
      [257, LONG, [H]],
      [258, SHORT, [8, 8, 8]],
      [259, SHORT, [1]],
      [262, SHORT, [2]],
      [277, SHORT, [3]],
      [282, RATIONAL, res],
      [283, RATIONAL, res],
      [284, SHORT, [1]],
      [296, SHORT, [mpp ? 3 : 2]],
      ...((tile
        ? [[322, LONG, [tile]], [323, LONG, [tile]], [324, LONG, offsets], [325, LONG, counts]]
        : [[273, LONG, offsets], [278, LONG, [rowsPerStrip]], [279, LONG, counts]]) as Entry[]),
    ];
    entries.sort((a, b) => a[0] - b[0]);
    const at = size + (size & 1);
    const { bytes, next } = ifdBytes(entries, at);
    place(bytes);
    nextPointer.setUint32(0, at, true);
    nextPointer = new DataView(bytes.buffer, next, 4);
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) (out.set(c, o), (o += c.length));
  return out;
}

/** An IFD that will sit at file offset `at`, its long values right after it; `next` = where the next-IFD offset goes. */
function ifdBytes(entries: Entry[], at: number): { bytes: Uint8Array; next: number } {
  const n = entries.length;
  const head = 2 + 12 * n + 4;
  const bytesOf = ([, type, values]: Entry) => values.length * (type === RATIONAL ? 4 : TYPE_SIZE[type]);
  let total = head;
  for (const e of entries) if (bytesOf(e) > 4) total += bytesOf(e) + (bytesOf(e) & 1);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint16(0, n, true);
  let extra = head;
  entries.forEach((e, i) => {
    const [t, type, values] = e;
    const o = 2 + 12 * i;
    v.setUint16(o, t, true);
    v.setUint16(o + 2, type, true);
    v.setUint32(o + 4, type === RATIONAL ? values.length / 2 : values.length, true);
    let p = o + 8;
    if (bytesOf(e) > 4) {
      v.setUint32(p, at + extra, true);
      p = extra;
      extra += bytesOf(e) + (bytesOf(e) & 1);
    }
    for (const val of values) {
      if (type === SHORT) v.setUint16(p, val, true);
      else v.setUint32(p, val, true);
      p += type === SHORT ? 2 : 4;
    }
  });
  return { bytes: out, next: 2 + 12 * n };
}

/** The image cut into bw x bh blocks of packed RGB, row by row; `pad` keeps edge blocks full size. */
function rgbBlocks(img: RgbaImage, bw: number, bh: number, pad: boolean): Uint8Array[] {
  const { width: W, height: H, data } = img;
  const blocks: Uint8Array[] = [];
  for (let y0 = 0; y0 < H; y0 += bh)
    for (let x0 = 0; x0 < W; x0 += bw) {
      const w = pad ? bw : Math.min(bw, W - x0), h = pad ? bh : Math.min(bh, H - y0);
      const b = new Uint8Array(w * h * 3);
      for (let y = 0; y < h && y0 + y < H; y++)
        for (let x = 0; x < w && x0 + x < W; x++) {
          const s = ((y0 + y) * W + x0 + x) * 4, d = (y * w + x) * 3;
          b[d] = data[s];
          b[d + 1] = data[s + 1];
          b[d + 2] = data[s + 2];
        }
      blocks.push(b);
    }
  return blocks;
}

// ---------------------------------------------------------------- PNG and JPEG

function decodePng(bytes: Uint8Array, name: string): RgbaImage {
  // the size from IHDR first, so that a huge PNG fails before anything is allocated
  if (bytes.length < 33) throw new ImageFormatError(name, 'truncated PNG header');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = v.getUint32(16), height = v.getUint32(20);
  checkSize(name, width, height);
  // deflate packs at most 1032 bytes into one, and a row holds at least 8 pixels per byte
  if (width * height > 8300 * bytes.length) throw new ImageFormatError(name, `corrupt PNG header: ${width}x${height} pixels cannot fit in ${bytes.length} bytes`);
  // walk the chunks first: upng-js copies a chunk byte by byte for its declared length (a corrupt
  // length means minutes of work) and only produces pixels once it reaches IEND
  const idat: Uint8Array[] = [];
  let palette = false;
  for (let at = 8; ; ) {
    const type = at + 8 <= bytes.length ? String.fromCharCode(...bytes.subarray(at + 4, at + 8)) : '';
    const end = at + 12 + (at + 8 <= bytes.length ? v.getUint32(at) : 0);
    if (!type || end > bytes.length) throw new ImageFormatError(name, `truncated or corrupt PNG (${type ? `its ${printable(type)} chunk runs` : 'it stops'} past the end of the file, before IEND)`);
    if (type === 'IEND') break;
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, end - 4));
    if (type === 'PLTE') palette = true;
    at = end;
  }
  const depth = bytes[24], ctype = bytes[25], interlace = bytes[28];
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[ctype];
  const depthOk = ctype === 0 ? [1, 2, 4, 8, 16].includes(depth) : ctype === 3 ? [1, 2, 4, 8].includes(depth) : [8, 16].includes(depth);
  if (!channels || !depthOk || interlace > 1) throw new ImageFormatError(name, `corrupt PNG header (colour type ${ctype}, bit depth ${depth}, interlace ${interlace})`);
  if (ctype === 3 && !palette) throw new ImageFormatError(name, 'a palette PNG without its palette (no PLTE chunk): the file is corrupt; re-export it as RGB');
  if (!idat.length) throw new ImageFormatError(name, 'a PNG without image data (no IDAT chunk)');
  // the exact size of the filtered rows (of the 7 Adam7 passes when interlaced)
  const rowsBytes = (w: number, h: number) => (w && h ? h * (1 + Math.ceil((w * channels * depth) / 8)) : 0);
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  const raw = interlace
    ? passes.reduce((a, [x0, y0, dx, dy]) => a + rowsBytes(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0)
    : rowsBytes(width, height);
  const z = idat.length === 1 ? idat[0] : concat(idat);
  const got = inflatedSize(z, raw, name, 'its image data');
  if (got < raw) throw new ImageFormatError(name, `truncated PNG image data (${got} of the ${raw} bytes its ${width}x${height} size needs)`);
  const png = UPNG.decode(exactCopy(bytes));
  if (!png.data) throw new ImageFormatError(name, 'a PNG without image data');
  const expected = png.width * png.height * 4;
  const data = new Uint8ClampedArray(UPNG.toRGBA8(png)[0]); // 16-bit samples keep their high byte
  if (data.length < expected) throw new ImageFormatError(name, 'truncated PNG image data');
  return { width: png.width, height: png.height, data: data.length === expected ? data : data.slice(0, expected) };
}

/** PNG, lossless (upng-js picks RGB, RGBA or a palette). */
export function encodePng(img: RgbaImage): Uint8Array {
  const rgba = new Uint8Array(img.data.buffer, img.data.byteOffset, img.width * img.height * 4).slice();
  const out = new Uint8Array(UPNG.encode([rgba.buffer], img.width, img.height, 0));
  // upng-js writes into a buffer of the RGBA size + 100 bytes and drops what does not fit, which
  // happens with incompressible (noise-like) images that have alpha: those we store uncompressed,
  // as small as such data gets. A complete file ends with IEND and its constant CRC.
  const iend = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];
  return iend.every((b, i) => out[out.length - 12 + i] === b) ? out : storedPng(img);
}

let crcTable: Uint32Array | undefined;
function crc32(b: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1;
    return n;
  });
  let c = 0xffffffff;
  for (const x of b) c = crcTable[(c ^ x) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An RGBA PNG whose zlib stream holds the rows in stored (uncompressed) deflate blocks. */
function storedPng(img: RgbaImage): Uint8Array {
  const { width: W, height: H } = img;
  const raw = new Uint8Array(H * (1 + 4 * W)); // each row: filter type 0, then RGBA
  for (let y = 0; y < H; y++) raw.set(img.data.subarray(y * W * 4, (y + 1) * W * 4), y * (1 + 4 * W) + 1);
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const z = new Uint8Array(2 + raw.length + 5 * blocks + 4);
  const zv = new DataView(z.buffer);
  z.set([0x78, 0x01]);
  let a = 1, b = 0; // Adler-32 of the raw bytes
  for (let k = 0, o = 2; k < blocks; k++) {
    const part = raw.subarray(k * 65535, (k + 1) * 65535);
    z[o] = k === blocks - 1 ? 1 : 0;
    zv.setUint16(o + 1, part.length, true);
    zv.setUint16(o + 3, ~part.length & 0xffff, true);
    z.set(part, o + 5);
    o += 5 + part.length;
    for (const x of part) (a = (a + x) % 65521), (b = (b + a) % 65521);
  }
  zv.setUint32(z.length - 4, ((b << 16) | a) >>> 0);
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, W);
  new DataView(ihdr.buffer).setUint32(4, H);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, deflate, no interlace
  const chunk = (type: string, body: Uint8Array) => {
    const c = new Uint8Array(12 + body.length);
    const v = new DataView(c.buffer);
    v.setUint32(0, body.length);
    for (let i = 0; i < 4; i++) c[4 + i] = type.charCodeAt(i);
    c.set(body, 8);
    v.setUint32(8 + body.length, crc32(c.subarray(4, 8 + body.length)));
    return c;
  };
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', z), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}

/** Width and height from the first SOFn frame header before the scan data, if found. */
function jpegFrameSize(b: Uint8Array): { width: number; height: number; huffman: boolean } | undefined {
  for (let at = 2; at + 4 <= b.length; ) {
    if (b[at] !== 0xff) return undefined; // not at a marker: let the decoder say what is wrong
    const m = b[at + 1];
    if (m === 0xff) {
      at++; // fill byte
      continue;
    }
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      at += 2;
      continue;
    }
    if (m === 0xda || m === 0xd9) return undefined; // scan or end before any frame header
    const len = (b[at + 2] << 8) | b[at + 3];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (at + 9 > b.length) return undefined;
      return { height: (b[at + 5] << 8) | b[at + 6], width: (b[at + 7] << 8) | b[at + 8], huffman: m < 0xc8 };
    }
    at += 2 + len;
  }
  return undefined;
}

function decodeJpeg(bytes: Uint8Array, name: string): RgbaImage {
  const frame = jpegFrameSize(bytes);
  if (frame) {
    checkSize(name, frame.width, frame.height);
    // with Huffman coding every 8x8 block of a component costs at least one bit (its DC code)
    const blocks = Math.ceil(frame.width / 8) * Math.ceil(frame.height / 8);
    if (frame.huffman && blocks > 8 * bytes.length) throw new ImageFormatError(name, `corrupt JPEG header: ${frame.width}x${frame.height} pixels cannot fit in ${bytes.length} bytes (a truncated file or a lying header)`);
  }
  let r: { width: number; height: number; data: Uint8Array };
  try {
    r = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 4096 });
  } catch (e) {
    // jpeg-js checks the size from the frame header before it allocates: say so in our words
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(String((e as Error)?.message))) {
      throw new ImageFormatError(name, `the image has more than the ${MAX_IMAGE_PIXELS / 1e6} megapixels mitoscan decodes at once; ${TOO_BIG_HINT}`);
    }
    throw e;
  }
  checkSize(name, r.width, r.height);
  return { width: r.width, height: r.height, data: new Uint8ClampedArray(r.data.buffer, r.data.byteOffset, r.width * r.height * 4) };
}

/** JPEG at `quality` 1..100 (lossy; for previews, not for data). jpeg-js's encoder needs Node's Buffer. */
export function encodeJpeg(img: RgbaImage, quality = 92): Uint8Array {
  const data = new Uint8Array(img.data.buffer, img.data.byteOffset, img.width * img.height * 4);
  return new Uint8Array(jpeg.encode({ width: img.width, height: img.height, data }, quality).data);
}

// ---------------------------------------------------------------- BMP

// Windows BMP: a 14-byte file header, a DIB header (40 bytes or the longer V4/V5 forms), then rows
// padded to 4 bytes, bottom row first unless the height is negative; pixels are BGR(A).
function decodeBmp(b: Uint8Array, name: string): RgbaImage {
  if (b.length < 54) throw new ImageFormatError(name, 'truncated BMP header');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOffset = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  if (headerSize < 40) throw new ImageFormatError(name, 'an OS/2 BMP, which is not supported; save it as a Windows BMP, PNG or TIFF');
  const width = v.getInt32(18, true);
  const rawHeight = v.getInt32(22, true);
  const bpp = v.getUint16(28, true);
  const compression = v.getUint32(30, true);
  const height = Math.abs(rawHeight);
  checkSize(name, width, height);
  // 32-bit BI_BITFIELDS is fine when its masks are the usual B, G, R byte order (masks at 54..65)
  const bgrMasks = compression === 3 && bpp === 32 && b.length >= 66 && v.getUint32(54, true) === 0xff0000 && v.getUint32(58, true) === 0xff00 && v.getUint32(62, true) === 0xff;
  if (!((bpp === 24 || bpp === 32) && (compression === 0 || bgrMasks))) {
    throw new ImageFormatError(name, `a ${bpp}-bit BMP with compression ${compression}; only uncompressed 24- and 32-bit BMP is supported: save it as 24-bit BMP, PNG or TIFF`);
  }
  if (dataOffset < 14 + headerSize) throw new ImageFormatError(name, `corrupt BMP header (pixel data offset ${dataOffset})`);
  const bytesPerPixel = bpp / 8;
  const stride = Math.ceil((width * bytesPerPixel) / 4) * 4;
  // the padding of the last row is often missing from files: do not ask for it
  if (dataOffset + stride * (height - 1) + width * bytesPerPixel > b.length) throw new ImageFormatError(name, 'truncated BMP pixel data');
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (rawHeight < 0 ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const s = row + x * bytesPerPixel, d = (y * width + x) * 4;
      data[d] = b[s + 2];
      data[d + 1] = b[s + 1];
      data[d + 2] = b[s];
      data[d + 3] = 255; // the 4th byte of 32-bit BI_RGB is unused by definition
    }
  }
  return { width, height, data };
}

/** 24-bit bottom-up BMP (the layout of the MITOS 2012 frames); alpha is dropped. */
export function encodeBmp(img: RgbaImage): Uint8Array {
  const { width: W, height: H, data } = img;
  const stride = Math.ceil((W * 3) / 4) * 4;
  const out = new Uint8Array(54 + stride * H);
  const v = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  v.setUint32(2, out.length, true);
  v.setUint32(10, 54, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, W, true);
  v.setInt32(22, H, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, 24, true);
  v.setUint32(34, stride * H, true);
  v.setInt32(38, 2835, true); // 72 dpi in pixels per metre
  v.setInt32(42, 2835, true);
  for (let y = 0; y < H; y++) {
    const row = 54 + (H - 1 - y) * stride;
    for (let x = 0; x < W; x++) {
      const s = (y * W + x) * 4, d = row + x * 3;
      out[d] = data[s + 2];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s];
    }
  }
  return out;
}

// ---------------------------------------------------------------- geometry

/**
 * Resampled to width x height: along each axis, an area average over the source footprint when
 * shrinking (no aliasing of fine chromatin texture) and bilinear interpolation when enlarging.
 */
export function resizeTo(img: RgbaImage, width: number, height: number): RgbaImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`resizeTo: bad size ${width}x${height}`);
  if (width * height > MAX_PIXELS) throw new RangeError(`resizeTo: ${width}x${height} is more than 2^28 pixels; resize tiles of the image instead`);
  if (width === img.width && height === img.height) return { width, height, data: new Uint8ClampedArray(img.data) };
  const cols = axisWeights(img.width, width);
  const rows = axisWeights(img.height, height);
  const src = img.data;
  const tmp = new Float32Array(img.height * width * 4); // horizontal pass
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < width; x++) {
      const { first, w } = cols[x];
      let r = 0, g = 0, b = 0, a = 0;
      for (let k = 0; k < w.length; k++) {
        const s = (y * img.width + first + k) * 4;
        r += w[k] * src[s];
        g += w[k] * src[s + 1];
        b += w[k] * src[s + 2];
        a += w[k] * src[s + 3];
      }
      const d = (y * width + x) * 4;
      tmp[d] = r;
      tmp[d + 1] = g;
      tmp[d + 2] = b;
      tmp[d + 3] = a;
    }
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const { first, w } = rows[y];
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 4; c++) {
        let s = 0;
        for (let k = 0; k < w.length; k++) s += w[k] * tmp[((first + k) * width + x) * 4 + c];
        out[(y * width + x) * 4 + c] = Math.round(s);
      }
  }
  return { width, height, data: out };
}

/** For each output index along one axis: the first source index and the weights of the next sources. */
function axisWeights(n: number, m: number): { first: number; w: number[] }[] {
  const scale = n / m;
  return Array.from({ length: m }, (_, i) => {
    if (scale > 1) {
      // area average over the source interval [i*scale, (i+1)*scale)
      const a = i * scale, b = (i + 1) * scale;
      const first = Math.floor(a), last = Math.min(n - 1, Math.ceil(b) - 1);
      const w: number[] = [];
      for (let k = first; k <= last; k++) w.push(Math.min(b, k + 1) - Math.max(a, k));
      const sum = w.reduce((s, v) => s + v, 0);
      return { first, w: w.map((v) => v / sum) };
    }
    if (n === 1) return { first: 0, w: [1] };
    // bilinear: sample at the source position of the output pixel's centre, clamped to the edge
    const p = Math.min(n - 1, Math.max(0, (i + 0.5) * scale - 0.5));
    const first = Math.min(Math.floor(p), n - 2);
    return { first, w: [1 - (p - first), p - first] };
  });
}

/** The image at `toMpp` µm per pixel from `fromMpp`: size round(w * from / to), resampled as resizeTo. */
export function rescaleToMpp(img: RgbaImage, fromMpp: number, toMpp: number): RgbaImage {
  if (!(fromMpp > 0 && toMpp > 0 && Number.isFinite(fromMpp) && Number.isFinite(toMpp))) throw new RangeError(`rescaleToMpp: µm per pixel must be > 0 (got ${fromMpp} -> ${toMpp})`);
  const f = fromMpp / toMpp;
  return resizeTo(img, Math.max(1, Math.round(img.width * f)), Math.max(1, Math.round(img.height * f)));
}

/** Index i mirrored into [0, n) without repeating the edge pixel (-1 -> 1, n -> n-2), as pad_mirror.wgsl. */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m >= n ? period - m : m;
}

/** The w x h window whose top-left corner is (x, y); pixels outside the image are mirrored. */
export function cropImage(img: RgbaImage, x: number, y: number, w: number, h: number): RgbaImage {
  if (![x, y, w, h].every(Number.isInteger) || w <= 0 || h <= 0) throw new RangeError(`cropImage: bad window ${w}x${h} at (${x}, ${y})`);
  const out = new Uint8ClampedArray(w * h * 4);
  const sx = Array.from({ length: w }, (_, i) => mirror(x + i, img.width));
  for (let j = 0; j < h; j++) {
    const row = mirror(y + j, img.height) * img.width;
    for (let i = 0; i < w; i++) {
      const s = (row + sx[i]) * 4, d = (j * w + i) * 4;
      out[d] = img.data[s];
      out[d + 1] = img.data[s + 1];
      out[d + 2] = img.data[s + 2];
      out[d + 3] = img.data[s + 3];
    }
  }
  return { width: w, height: h, data: out };
}
