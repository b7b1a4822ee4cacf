// Decoders for one TIFF tile or strip, to RGBA: JPEG (jpeg-js, with the file's shared JPEGTables
// spliced into each tile's abbreviated stream), LZW (our own bounded decoder: utif's reads past
// the end of a truncated tile and can loop), Deflate (pako), PackBits and none; 8-bit samples,
// horizontal predictor (2). Browser-safe.
import * as jpeg from 'jpeg-js';
import pako from 'pako';
import { lzwDecode } from '../io/lzw.js';

export interface TileFormat {
  compression: number;
  photometric: number;
  samplesPerPixel: number;
  predictor: number;
  jpegTables?: Uint8Array;
}

export const COMPRESSION_NAMES: Record<number, string> = { 1: 'none', 5: 'LZW', 6: 'old-style JPEG', 7: 'JPEG', 8: 'Deflate', 32946: 'Deflate', 32773: 'PackBits', 33003: 'Aperio JPEG 2000 (YCbCr)', 33005: 'Aperio JPEG 2000 (RGB)', 34712: 'JPEG 2000', 50000: 'Zstd', 50001: 'WebP', 50002: 'JPEG XL' };
export const SUPPORTED_COMPRESSIONS = new Set([1, 5, 7, 8, 32946, 32773]);

/**
 * One tile (or strip) of `w` x `h` pixels decoded into RGBA. Throws an Error saying what went
 * wrong; the caller adds the file name and the tile.
 */
export function decodeTile(data: Uint8Array, f: TileFormat, w: number, h: number): Uint8ClampedArray {
  if (f.compression === 7) return decodeJpegTile(data, f, w, h);
  const spp = f.samplesPerPixel;
  const want = w * h * spp;
  let px: Uint8Array;
  switch (f.compression) {
    case 1: px = data; break;
    case 5: px = lzwDecode(data, want); break;
    case 8: case 32946: px = inflate(data, want); break;
    case 32773: px = packBitsDecode(data, want); break;
    default: throw new Error(`compression ${COMPRESSION_NAMES[f.compression] ?? f.compression} is not supported`);
  }
  if (px.length < want) throw new Error(`holds ${px.length} bytes of pixels, ${want} expected (truncated or corrupt)`);
  if (f.predictor === 2) {
    if (px === data) px = px.slice();
    for (let y = 0; y < h; y++) {
      const row = y * w * spp;
      for (let i = row + spp, end = row + w * spp; i < end; i++) px[i] = (px[i] + px[i - spp]) & 255;
    }
  } else if (f.predictor !== 1) throw new Error(`predictor ${f.predictor} (floating point) is not supported for 8-bit images`);
  return toRgba(px, w * h, spp, f.photometric);
}

function toRgba(px: Uint8Array, n: number, spp: number, photometric: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(n * 4);
  if (photometric === 2 && spp >= 3) {
    for (let i = 0, s = 0, d = 0; i < n; i++, s += spp, d += 4) {
      out[d] = px[s];
      out[d + 1] = px[s + 1];
      out[d + 2] = px[s + 2];
      out[d + 3] = spp >= 4 ? px[s + 3] : 255;
    }
  } else if ((photometric === 0 || photometric === 1) && spp >= 1) {
    const inv = photometric === 0 ? 255 : 0;
    for (let i = 0, s = 0, d = 0; i < n; i++, s += spp, d += 4) {
      const g = px[s] ^ inv;
      out[d] = out[d + 1] = out[d + 2] = g;
      out[d + 3] = 255;
    }
  } else throw new Error(`photometric interpretation ${photometric} with ${spp} samples is not supported without JPEG compression (RGB or grayscale only)`);
  return out;
}

// ---------------------------------------------------------------- JPEG

/** The tables stream (SOI, DQT/DHT..., EOI) and the tile's abbreviated stream (SOI ... EOI) as one stream. */
export function spliceJpegTables(tables: Uint8Array | undefined, tile: Uint8Array): Uint8Array {
  if (!tables || tables.length < 4 || !(tile[0] === 0xff && tile[1] === 0xd8)) return tile;
  let end = tables.length;
  if (tables[end - 2] === 0xff && tables[end - 1] === 0xd9) end -= 2;
  const out = new Uint8Array(end + tile.length - 2);
  out.set(tables.subarray(0, end));
  out.set(tile.subarray(2), end);
  return out;
}

/** A JPEG decoder for whole tile streams: RGBA of `w` x `h` pixels. */
export type JpegDecoder = (stream: Uint8Array, w: number, h: number) => Uint8ClampedArray | Promise<Uint8ClampedArray>;

/**
 * The stream with an Adobe APP14 marker right after SOI whose transform flag says whether the
 * samples are YCbCr (1) or RGB (0), so that a decoder that guesses from markers (libjpeg, browsers)
 * follows the TIFF's Photometric instead. An existing Adobe marker is left alone.
 */
export function markColourSpace(s: Uint8Array, ycbcr: boolean): Uint8Array {
  for (let i = 2; i + 4 <= s.length && s[i] === 0xff; ) {
    const m = s[i + 1];
    if (m === 0xda || m === 0xd9) break;
    if (m === 0xee && s[i + 4] === 0x41 && s[i + 5] === 0x64) return s;
    i += 2 + ((s[i + 2] << 8) | s[i + 3]);
  }
  // APP14, length 14: "Adobe", version 100, flags0 0, flags1 0, transform
  const app14 = [0xff, 0xee, 0, 14, 0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, ycbcr ? 1 : 0];
  const out = new Uint8Array(s.length + app14.length);
  out.set(s.subarray(0, 2));
  out.set(app14, 2);
  out.set(s.subarray(2), 2 + app14.length);
  return out;
}

/**
 * JPEG-in-TIFF (TechNote 2): the Photometric tag says what the JPEG samples are, whatever markers
 * the stream carries: YCbCr (6, what vips and libtiff write by default) is converted to RGB, RGB
 * (2, Aperio's "JPEG/RGB" tiles) is not. That is what libtiff (JPEGCOLORMODE) and OpenSlide do;
 * jpeg-js alone would convert every 3-component stream, and libjpeg would guess from the markers.
 */
function decodeJpegTile(data: Uint8Array, f: TileFormat, w: number, h: number): Uint8ClampedArray {
  const stream = spliceJpegTables(f.jpegTables, data);
  const r = jpeg.decode(stream, { useTArray: true, formatAsRGBA: true, colorTransform: f.photometric === 6, tolerantDecoding: false, maxResolutionInMP: 64, maxMemoryUsageInMB: 512 });
  const rgba = new Uint8ClampedArray(r.data.buffer, r.data.byteOffset, r.width * r.height * 4);
  if (r.width === w && r.height === h) return rgba;
  // a frame of another size (a short last strip, or a writer that crops edge tiles): place it top-left
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < Math.min(h, r.height); y++) out.set(rgba.subarray(y * r.width * 4, (y * r.width + Math.min(w, r.width)) * 4), y * w * 4);
  return out;
}

// ---------------------------------------------------------------- LZW, Deflate, PackBits

export { lzwDecode };

/** zlib inflate into at most `max` bytes (a larger stream is corrupt or malicious). */
export function inflate(data: Uint8Array, max: number): Uint8Array {
  const out = new Uint8Array(max);
  let o = 0;
  const inf = new pako.Inflate({ chunkSize: 1 << 16 });
  inf.onData = (c: Uint8Array) => {
    if (o + c.length > max) throw new Error(`Deflate data decompresses to more than the ${max} bytes the tile holds (corrupt)`);
    out.set(c, o);
    o += c.length;
  };
  inf.onEnd = (status: number) => {
    inf.err = status;
    inf.msg = inf.strm?.msg ?? '';
  };
  inf.push(data, true);
  if (inf.err) throw new Error(`corrupt Deflate data (${inf.msg || `zlib error ${inf.err}`})`);
  return o === max ? out : out.subarray(0, o);
}

export function packBitsDecode(b: Uint8Array, max: number): Uint8Array {
  const out = new Uint8Array(max);
  let o = 0;
  for (let i = 0; i < b.length && o < max; ) {
    const n = (b[i] << 24) >> 24;
    if (n >= 0) {
      const m = Math.min(n + 1, max - o, b.length - i - 1);
      out.set(b.subarray(i + 1, i + 1 + m), o);
      (o += m), (i += n + 2);
    } else if (n !== -128) {
      const m = Math.min(1 - n, max - o);
      out.fill(b[i + 1], o, o + m);
      (o += m), (i += 2);
    } else i++;
  }
  return o === max ? out : out.subarray(0, o);
}
