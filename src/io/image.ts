// Images in and out, the same in Node and in browsers (no node: imports): TIFF (utif), PNG
// (upng-js), JPEG (jpeg-js) and BMP (our own: MITOS 2012 frames are 24-bit BMP). Every decoder
// returns 8-bit RGBA; every error names the file and says what would work.
import * as jpeg from 'jpeg-js';
import UPNG from 'upng-js';
import UTIF from 'utif';
import type { RgbaImage } from '../model/dense.js';

export type { RgbaImage };
export type ImageFormat = 'tiff' | 'png' | 'jpeg' | 'bmp';

/** More pixels than this do not fit one JavaScript RGBA array comfortably: crop or tile first. */
export const MAX_PIXELS = 2 ** 28;

export class ImageFormatError extends Error {
  constructor(name: string, problem: string) {
    super(`${name}: ${problem}`);
    this.name = 'ImageFormatError';
  }
}

/** The format from the first bytes (magic numbers), never from the file name. */
export function sniffFormat(b: Uint8Array): ImageFormat | undefined {
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 42 && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 42))) return 'tiff';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  return undefined;
}

function checkSize(name: string, width: number, height: number): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageFormatError(name, `bad image size ${width}x${height} (corrupt header?)`);
  }
  if (width * height > MAX_PIXELS) {
    throw new ImageFormatError(name, `${width}x${height} pixels is too large to load at once; crop it into fields (e.g. 4096x4096) first`);
  }
}

function exactCopy(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Every page (TIFF) or the single image (other formats) as RGBA. */
export function decodeImagePages(bytes: Uint8Array, name: string): RgbaImage[] {
  if (!bytes.length) throw new ImageFormatError(name, 'the file is empty');
  const fmt = sniffFormat(bytes);
  if (!fmt) {
    const head = Array.from(bytes.slice(0, 4), (v) => v.toString(16).padStart(2, '0')).join(' ');
    throw new ImageFormatError(name, `not a TIFF, PNG, JPEG or BMP image (first bytes ${head}); convert it to one of those`);
  }
  try {
    switch (fmt) {
      case 'tiff':
        return decodeTiff(bytes, name);
      case 'png':
        return [decodePng(bytes, name)];
      case 'jpeg':
        return [decodeJpeg(bytes, name)];
      case 'bmp':
        return [decodeBmp(bytes, name)];
    }
  } catch (e) {
    if (e instanceof ImageFormatError) throw e;
    throw new ImageFormatError(name, `corrupt or truncated ${fmt.toUpperCase()} file (${(e as Error)?.message ?? e})`);
  }
}

/** One image (for a multi-page TIFF, page `opts.page`, default 0). */
export function decodeImage(bytes: Uint8Array, name: string, opts: { page?: number } = {}): RgbaImage {
  const pages = decodeImagePages(bytes, name);
  const p = opts.page ?? 0;
  if (!Number.isInteger(p) || p < 0 || p >= pages.length) throw new ImageFormatError(name, `has ${pages.length} page(s); page ${p} does not exist`);
  return pages[p];
}

// ---------------------------------------------------------------- TIFF

function tag(ifd: Record<string, unknown>, t: number): number[] | undefined {
  return ifd[`t${t}`] as number[] | undefined;
}

function decodeTiff(bytes: Uint8Array, name: string): RgbaImage[] {
  const buf = exactCopy(bytes);
  const ifds = UTIF.decode(buf);
  // pages are the full-resolution images (SubfileType bit 0 = reduced-resolution thumbnail)
  const pages = ifds.filter((ifd) => tag(ifd, 256) && !((tag(ifd, 254)?.[0] ?? 0) & 1));
  if (!pages.length) throw new ImageFormatError(name, 'a TIFF with no image in it');
  return pages.map((ifd, k) => {
    const width = tag(ifd, 256)![0], height = tag(ifd, 257)?.[0] ?? 0;
    checkSize(name, width, height);
    const bits = tag(ifd, 258) ?? [1];
    const format = tag(ifd, 339)?.[0] ?? 1;
    if (bits.some((b) => b !== 8) || format !== 1) {
      throw new ImageFormatError(name, `page ${k}: ${bits.join('/')}-bit ${format === 3 ? 'float ' : ''}samples; only 8-bit RGB, RGBA or grey TIFF is supported (convert with e.g. \`vips copy in.tif out.tif[depth=8]\`)`);
    }
    const offsets = tag(ifd, 273) ?? tag(ifd, 324) ?? [];
    const counts = tag(ifd, 279) ?? tag(ifd, 325) ?? [];
    if (!offsets.length || offsets.some((o, i) => o + (counts[i] ?? 0) > bytes.length)) {
      throw new ImageFormatError(name, `page ${k}: truncated (its image data runs past the end of the file)`);
    }
    UTIF.decodeImage(buf, ifd, ifds);
    const need = Math.ceil((width * height * bits.length * 8) / 8);
    if (!ifd.data || ifd.data.length < need) throw new ImageFormatError(name, `page ${k}: truncated image data`);
    const rgba = UTIF.toRGBA8(ifd);
    return { width, height, data: new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, width * height * 4) };
  });
}

/** A baseline TIFF: 8-bit RGB, uncompressed, in strips (default) or square tiles of side `opts.tile` (a multiple of 16). */
export function encodeTiff(img: RgbaImage, opts: { tile?: number } = {}): Uint8Array {
  const { width: W, height: H, data } = img;
  const tile = opts.tile;
  if (tile !== undefined && !(Number.isInteger(tile) && tile > 0 && tile % 16 === 0)) throw new RangeError(`encodeTiff: tile side must be a positive multiple of 16, got ${tile}`);
  // pieces: strips of `rows` rows, or tiles (padded to the full tile at the right and bottom edges)
  const pieces: Uint8Array[] = [];
  if (tile) {
    for (let ty = 0; ty < H; ty += tile)
      for (let tx = 0; tx < W; tx += tile) {
        const p = new Uint8Array(tile * tile * 3);
        for (let y = 0; y < tile && ty + y < H; y++)
          for (let x = 0; x < tile && tx + x < W; x++) {
            const s = ((ty + y) * W + tx + x) * 4, d = (y * tile + x) * 3;
            p[d] = data[s];
            p[d + 1] = data[s + 1];
            p[d + 2] = data[s + 2];
          }
        pieces.push(p);
      }
  } else {
    const rows = Math.max(1, Math.floor(65536 / (W * 3)));
    for (let y0 = 0; y0 < H; y0 += rows) {
      const h = Math.min(rows, H - y0);
      const p = new Uint8Array(h * W * 3);
      for (let i = 0; i < h * W; i++) {
        const s = (y0 * W + i) * 4;
        p[i * 3] = data[s];
        p[i * 3 + 1] = data[s + 1];
        p[i * 3 + 2] = data[s + 2];
      }
      pieces.push(p);
    }
  }
  const entries: [number, number, number[]][] = [
    // [tag, type (3 = SHORT, 4 = LONG), values]
    [256, 4, [W]],
    [257, 4, [H]],
    [258, 3, [8, 8, 8]],
    [259, 3, [1]],
    [262, 3, [2]],
    [277, 3, [3]],
    [284, 3, [1]],
  ];
  const n = pieces.length;
  const headerEnd = 8;
  const ifdSize = 2 + 12 * (entries.length + (tile ? 4 : 3)) + 4;
  let extra = headerEnd + ifdSize;
  const bitsAt = extra;
  extra += 6; // BitsPerSample values
  const offsetsAt = extra;
  extra += n > 1 ? 4 * n : 0;
  const countsAt = extra;
  extra += n > 1 ? 4 * n : 0;
  const offsets: number[] = [];
  let pos = extra;
  for (const p of pieces) {
    offsets.push(pos);
    pos += p.length;
  }
  if (tile) entries.push([322, 4, [tile]], [323, 4, [tile]], [324, 4, offsets], [325, 4, pieces.map((p) => p.length)]);
  else entries.push([273, 4, offsets], [278, 4, [Math.max(1, Math.floor(65536 / (W * 3)))]], [279, 4, pieces.map((p) => p.length)]);
  entries.sort((a, b) => a[0] - b[0]);
  const out = new Uint8Array(pos);
  const v = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  v.setUint32(4, headerEnd, true);
  v.setUint16(headerEnd, entries.length, true);
  entries.forEach(([t, type, vals], i) => {
    const o = headerEnd + 2 + 12 * i;
    v.setUint16(o, t, true);
    v.setUint16(o + 2, type, true);
    v.setUint32(o + 4, vals.length, true);
    if (vals.length === 1) {
      if (type === 3) v.setUint16(o + 8, vals[0], true);
      else v.setUint32(o + 8, vals[0], true);
    } else {
      const at = t === 258 ? bitsAt : t === 273 || t === 324 ? offsetsAt : countsAt;
      v.setUint32(o + 8, at, true);
      vals.forEach((val, j) => (type === 3 ? v.setUint16(at + 2 * j, val, true) : v.setUint32(at + 4 * j, val, true)));
    }
  });
  v.setUint32(headerEnd + 2 + 12 * entries.length, 0, true);
  pieces.forEach((p, i) => out.set(p, offsets[i]));
  return out;
}

// ---------------------------------------------------------------- PNG and JPEG

function decodePng(bytes: Uint8Array, name: string): RgbaImage {
  const png = UPNG.decode(exactCopy(bytes));
  checkSize(name, png.width, png.height);
  const frames = UPNG.toRGBA8(png);
  if (!frames.length) throw new ImageFormatError(name, 'a PNG with no image data');
  const data = new Uint8ClampedArray(frames[0]);
  if (data.length < png.width * png.height * 4) throw new ImageFormatError(name, 'truncated PNG image data');
  return { width: png.width, height: png.height, data: data.subarray(0, png.width * png.height * 4) };
}

export function encodePng(img: RgbaImage): Uint8Array {
  const rgba = new Uint8Array(img.data.buffer, img.data.byteOffset, img.width * img.height * 4).slice();
  return new Uint8Array(UPNG.encode([rgba.buffer], img.width, img.height, 0));
}

function decodeJpeg(bytes: Uint8Array, name: string): RgbaImage {
  const r = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 4096 });
  checkSize(name, r.width, r.height);
  return { width: r.width, height: r.height, data: new Uint8ClampedArray(r.data.buffer, r.data.byteOffset, r.width * r.height * 4) };
}

export function encodeJpeg(img: RgbaImage, quality = 92): Uint8Array {
  const data = new Uint8Array(img.data.buffer, img.data.byteOffset, img.width * img.height * 4);
  return new Uint8Array(jpeg.encode({ width: img.width, height: img.height, data }, quality).data);
}

// ---------------------------------------------------------------- BMP

function decodeBmp(b: Uint8Array, name: string): RgbaImage {
  if (b.length < 54) throw new ImageFormatError(name, 'truncated BMP header');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOffset = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  if (headerSize < 40) throw new ImageFormatError(name, 'OS/2 BMP headers are not supported; save it as a Windows BMP, PNG or TIFF');
  const width = v.getInt32(18, true);
  const rawHeight = v.getInt32(22, true);
  const bpp = v.getUint16(28, true);
  const compression = v.getUint32(30, true);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  checkSize(name, width, height);
  if (!(bpp === 24 || bpp === 32) || !(compression === 0 || (compression === 3 && bpp === 32))) {
    throw new ImageFormatError(name, `${bpp}-bit BMP with compression ${compression}; only uncompressed 24- and 32-bit BMP are supported`);
  }
  const bytesPerPixel = bpp / 8;
  const stride = Math.ceil((width * bytesPerPixel) / 4) * 4;
  if (dataOffset + stride * (height - 1) + width * bytesPerPixel > b.length) throw new ImageFormatError(name, 'truncated BMP pixel data');
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const s = row + x * bytesPerPixel, d = (y * width + x) * 4;
      data[d] = b[s + 2];
      data[d + 1] = b[s + 1];
      data[d + 2] = b[s];
      data[d + 3] = 255;
    }
  }
  return { width, height, data };
}

/** 24-bit bottom-up BMP (the layout of the MITOS 2012 frames). */
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
  v.setInt32(38, 2835, true); // 72 dpi
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

/** For each output index: the first source index and the weights of the consecutive sources. */
function axisWeights(n: number, m: number): { first: number; w: number[] }[] {
  const scale = n / m;
  return Array.from({ length: m }, (_, i) => {
    if (scale > 1) {
      // area average of source interval [i*scale, (i+1)*scale)
      const a = i * scale, b = (i + 1) * scale;
      const first = Math.floor(a), last = Math.min(n - 1, Math.ceil(b) - 1);
      const w: number[] = [];
      for (let k = first; k <= last; k++) w.push(Math.min(b, k + 1) - Math.max(a, k));
      const sum = w.reduce((s, v) => s + v, 0);
      return { first, w: w.map((v) => v / sum) };
    }
    // bilinear: sample at the source position of the output pixel centre
    const p = Math.min(n - 1, Math.max(0, (i + 0.5) * scale - 0.5));
    const first = Math.min(Math.floor(p), Math.max(0, n - 2));
    const f = p - first;
    return n === 1 ? { first: 0, w: [1] } : { first, w: [1 - f, f] };
  });
}

/** The image at `toMpp` µm per pixel, from `fromMpp` (size rounded to whole pixels). */
export function rescaleToMpp(img: RgbaImage, fromMpp: number, toMpp: number): RgbaImage {
  if (!(fromMpp > 0 && toMpp > 0)) throw new RangeError(`rescaleToMpp: µm per pixel must be > 0 (got ${fromMpp} -> ${toMpp})`);
  const f = fromMpp / toMpp;
  return resizeTo(img, Math.max(1, Math.round(img.width * f)), Math.max(1, Math.round(img.height * f)));
}

/** Mirror index into [0, n) without repeating the edge pixel (-1 -> 1, n -> n-2), as pad_mirror.wgsl. */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = ((i % period) + period) % period;
  if (m >= n) m = period - m;
  return m;
}

/** The w x h window whose top-left corner is (x, y); pixels outside the image are mirrored. */
export function cropImage(img: RgbaImage, x: number, y: number, w: number, h: number): RgbaImage {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let j = 0; j < h; j++) {
    const sy = mirror(y + j, img.height);
    for (let i = 0; i < w; i++) {
      const s = (sy * img.width + mirror(x + i, img.width)) * 4, d = (j * w + i) * 4;
      out[d] = img.data[s];
      out[d + 1] = img.data[s + 1];
      out[d + 2] = img.data[s + 2];
      out[d + 3] = img.data[s + 3];
    }
  }
  return { width: w, height: h, data: out };
}
