// Image decoding and encoding for every input format (src/io/image.ts), resampling and cropping.
// Test files that our encoders cannot write (grey, palette, LZW, JPEG-in-TIFF, 16-bit PNG, ...)
// are built here byte by byte, so the decoders are not only tested against our own encoders.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import * as jpeg from 'jpeg-js';
import UTIF from 'utif';
import { describe, expect, it } from 'vitest';
import { lzwEncode } from './fixtures/bad/lzw.js';
import { oneStripTiff, type Tag } from './helpers/tiff.js';
import {
  cropImage,
  decodeImage,
  decodeImagePages,
  encodeBmp,
  encodeJpeg,
  encodePng,
  encodeTiff,
  ImageFormatError,
  rescaleToMpp,
  resizeTo,
  sniffFormat,
  type RgbaImage,
} from '../src/io/image.js';

const DATA = resolve(__dirname, '../../shared/data');
const MIDOG = join(DATA, 'midog25-figures/stack_5.tiff');
const TUPAC = join(DATA, 'tupac16-aux-patches/mitosis');

function randomImage(width: number, height: number, seed: number, alpha = false): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = i % 4 === 3 && !alpha ? 255 : s >>> 24;
  }
  return { width, height, data };
}

/** A smooth image (JPEG keeps it within a few levels). */
function smoothImage(width: number, height: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data.set([60 + 3 * x, 200 - 2 * y, 120 + x + y, 255], (y * width + x) * 4);
  return { width, height, data };
}

const same = (a: RgbaImage, b: RgbaImage) => a.width === b.width && a.height === b.height && Buffer.from(a.data).equals(Buffer.from(b.data));

function maxDiff(a: RgbaImage, b: RgbaImage): number {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

/** The error `f` throws (fails the test when it throws none). */
function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

function expectFormatError(f: () => unknown, name: string, message?: RegExp): void {
  const e = errorOf(f);
  expect(e, e.message).toBeInstanceOf(ImageFormatError);
  expect(e.message.startsWith(`${name}: `), e.message).toBe(true);
  if (message) expect(e.message).toMatch(message);
}

/** Packed samples of an RGBA image: 3 (RGB), 4 (RGBA) or 1 (the red channel as grey). */
function samples(img: RgbaImage, spp: 1 | 3 | 4): Uint8Array {
  const out = new Uint8Array(img.width * img.height * spp);
  for (let i = 0; i < img.width * img.height; i++) for (let c = 0; c < spp; c++) out[i * spp + c] = img.data[i * 4 + c];
  return out;
}

/** The RGBA image a grey sample array stands for. */
function greyImage(w: number, h: number, grey: Uint8Array): RgbaImage {
  const data = new Uint8ClampedArray(w * h * 4);
  grey.forEach((g, i) => data.set([g, g, g, 255], i * 4));
  return { width: w, height: h, data };
}

// ---------------------------------------------------------------- hand-built TIFF and PNG

/** A little-endian TIFF with one strip (at offset 8) and the given tags; StripOffsets/StripByteCounts are added. */
const tiffFile = oneStripTiff;

/** The usual tags of an 8-bit image with `spp` samples; `more` replaces or adds tags. */
function tags8(w: number, h: number, spp: number, photometric: number, compression: number, more: Tag[] = []): Tag[] {
  const base: Tag[] = [
    [256, 4, [w]],
    [257, 4, [h]],
    [258, 3, new Array(spp).fill(8)],
    [259, 3, [compression]],
    [262, 3, [photometric]],
    [277, 3, [spp]],
    [278, 4, [h]],
  ];
  return [...base.filter((t) => !more.some((m) => m[0] === t[0])), ...more];
}

/** TIFF LZW that only ever sends literal codes (valid: a decoder must accept any code sequence). */
function lzwLiterals(data: Uint8Array): Uint8Array {
  const codes: number[] = [];
  // a Clear code every 200 literals keeps the table below 511 entries, so every code has 9 bits
  data.forEach((b, i) => (i % 200 === 0 && codes.push(256), codes.push(b)));
  codes.push(257);
  const out = new Uint8Array(Math.ceil((codes.length * 9) / 8));
  codes.forEach((c, i) => {
    for (let k = 0; k < 9; k++) if ((c >> (8 - k)) & 1) out[(i * 9 + k) >> 3] |= 0x80 >> ((i * 9 + k) & 7);
  });
  return out;
}

/** PackBits with literal runs only. */
function packBitsLiterals(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < data.length; i += 128) {
    const run = data.subarray(i, i + 128);
    out.push(run.length - 1, ...run);
  }
  return new Uint8Array(out);
}

/** Horizontal differencing per row (TIFF Predictor 2) of 8-bit samples. */
function predict(data: Uint8Array, w: number, spp: number): Uint8Array {
  const out = data.slice();
  const row = w * spp;
  for (let i = 0; i < data.length; i++) if (i % row >= spp) out[i] = (data[i] - data[i - spp]) & 255;
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function pngChunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  let c = 0xffffffff;
  for (const b of out.subarray(4, 8 + body.length)) c = CRC_TABLE[(c ^ b) & 255] ^ (c >>> 8);
  v.setUint32(8 + body.length, (c ^ 0xffffffff) >>> 0);
  return out;
}

/** A PNG of raw rows (filter 0 added here) of colour type `ctype` and bit depth `depth`. */
function pngFile(w: number, h: number, ctype: number, depth: number, rows: Uint8Array, plte?: Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr.set([depth, ctype, 0, 0, 0], 8);
  const stride = rows.length / h;
  const filtered = new Uint8Array(h * (stride + 1));
  for (let y = 0; y < h; y++) filtered.set(rows.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr)];
  if (plte) parts.push(pngChunk('PLTE', plte));
  parts.push(pngChunk('IDAT', deflateSync(filtered)), pngChunk('IEND', new Uint8Array(0)));
  return new Uint8Array(Buffer.concat(parts)); // a copy: a small Buffer is a view into a shared pool
}

// ---------------------------------------------------------------- tests

describe('sniffing', () => {
  it('goes by the first bytes, not by the name', () => {
    const img = randomImage(5, 4, 9);
    expect(sniffFormat(encodePng(img))).toBe('png');
    expect(sniffFormat(encodeBmp(img))).toBe('bmp');
    expect(sniffFormat(encodeTiff(img))).toBe('tiff');
    expect(sniffFormat(encodeJpeg(img))).toBe('jpeg');
    expect(sniffFormat(new Uint8Array([0x4d, 0x4d, 0, 42, 0, 0, 0, 8]))).toBe('tiff'); // big-endian
    expect(sniffFormat(new TextEncoder().encode('BMW service record, 2019'))).toBeUndefined();
    expect(sniffFormat(new Uint8Array(0))).toBeUndefined();
    expect(same(decodeImage(encodeBmp(img), 'frame.png'), img)).toBe(true);
  });
});

describe('TIFF', () => {
  const img = randomImage(37, 23, 1); // 37 is not a multiple of the tile size

  it('strips round-trip exactly, also with several strips, and read back as a baseline RGB TIFF', () => {
    expect(same(decodeImage(encodeTiff(img), 'a.tif'), img)).toBe(true);
    const big = randomImage(300, 250, 2); // 72 rows per 64 KiB strip: 4 strips
    const bytes = encodeTiff(big);
    const [ifd] = UTIF.decode(bytes);
    expect(ifd.t273).toHaveLength(4);
    expect([ifd.t258, ifd.t259, ifd.t262, ifd.t277, ifd.t284]).toEqual([[8, 8, 8], [1], [2], [3], [1]]);
    expect(same(decodeImage(bytes, 'big.tif'), big)).toBe(true);
  });

  it('tiled LZW and Deflate with the horizontal predictor (vips\' default) decode exactly', (ctx) => {
    // utif undoes the predictor with the image's width instead of the tile's: decodeImage does it per tile
    if (spawnSync('vips', ['--version']).status !== 0) {
      console.warn('image-io test: vips (Debian libvips-tools) is not installed: the tiled-predictor test is skipped');
      ctx.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'mitoscan-pred-'));
    try {
      const src = smoothImage(150, 97); // 150 is not a multiple of the 64 px tile
      writeFileSync(join(dir, 'in.png'), encodePng(src));
      for (const c of ['lzw', 'deflate']) {
        const out = join(dir, `${c}.tif`);
        const r = spawnSync('vips', ['tiffsave', join(dir, 'in.png'), out, '--tile', '--tile-width', '64', '--tile-height', '64', '--compression', c, '--predictor', 'horizontal']);
        expect(r.status, String(r.stderr)).toBe(0);
        const [ifd] = UTIF.decode(readFileSync(out));
        expect(ifd.t317).toEqual([2]);
        const got = decodeImage(readFileSync(out), out);
        expect(same({ ...got, data: got.data }, src), `${c}: pixels differ`).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tiles (width and height not multiples of the tile) decode back exactly with utif itself', () => {
    const bytes = encodeTiff(img, { tile: 16 });
    const ifds = UTIF.decode(bytes);
    expect([ifds[0].t322, ifds[0].t323, (ifds[0].t324 as number[]).length, ifds[0].t273]).toEqual([[16], [16], 3 * 2, undefined]);
    UTIF.decodeImage(bytes, ifds[0], ifds);
    const rgba = UTIF.toRGBA8(ifds[0]);
    expect(same({ width: 37, height: 23, data: new Uint8ClampedArray(rgba) }, img)).toBe(true);
    expect(same(decodeImage(bytes, 'tiled.tif'), img)).toBe(true);
    expect(() => encodeTiff(img, { tile: 20 })).toThrow(/multiple of 16/);
  });

  it('writes multi-page files and the scale; decodeImage picks a page', () => {
    const pages = [img, randomImage(16, 40, 3), randomImage(1, 1, 4)];
    const bytes = encodeTiff(pages, { mpp: 0.25 });
    const back = decodeImagePages(bytes, 'stack.tif');
    expect(back).toHaveLength(3);
    back.forEach((p, k) => expect(same(p, pages[k]), `page ${k}`).toBe(true));
    expect(same(decodeImage(bytes, 'stack.tif', { page: 1 }), pages[1])).toBe(true);
    expectFormatError(() => decodeImage(bytes, 'stack.tif', { page: 3 }), 'stack.tif', /has 3 page\(s\); page 3 does not exist/);
    // 0.25 µm per pixel = 40000 pixels per cm (ResolutionUnit 3)
    const ifd = UTIF.decode(bytes)[2];
    expect([ifd.t282, ifd.t283, ifd.t296]).toEqual([[40000], [40000], [3]]);
    expect(UTIF.decode(encodeTiff(img))[0].t296).toEqual([2]);
  });

  it('reads grey, RGBA and palette TIFFs', () => {
    const grey = samples(img, 1);
    expect(same(decodeImage(tiffFile(tags8(37, 23, 1, 1, 1), grey), 'grey.tif'), greyImage(37, 23, grey))).toBe(true);
    // one BitsPerSample value for three samples (some writers do this)
    expect(same(decodeImage(tiffFile(tags8(37, 23, 3, 2, 1, [[258, 3, [8]]]), samples(img, 3)), 'rgb1.tif'), img)).toBe(true);
    const rgba = randomImage(37, 23, 5, true);
    expect(same(decodeImage(tiffFile(tags8(37, 23, 4, 2, 1, [[338, 3, [2]]]), samples(rgba, 4)), 'rgba.tif'), rgba)).toBe(true);
    // palette: index i -> (i, 255 - i, 7), 16-bit colour map entries
    const map = [...Array.from({ length: 256 }, (_, i) => i * 257), ...Array.from({ length: 256 }, (_, i) => (255 - i) * 257), ...new Array(256).fill(7 * 257)];
    const pal = decodeImage(tiffFile(tags8(37, 23, 1, 3, 1, [[320, 3, map]]), grey), 'palette.tif');
    for (let i = 0; i < 37 * 23; i++) expect(Array.from(pal.data.subarray(i * 4, i * 4 + 4))).toEqual([grey[i], 255 - grey[i], 7, 255]);
  });

  it('reads LZW, Deflate (codes 8 and 32946, with a predictor), PackBits and JPEG compression', () => {
    const rgb = samples(img, 3);
    const files: [string, Uint8Array][] = [
      ['lzw.tif', tiffFile(tags8(37, 23, 3, 2, 5), lzwLiterals(rgb))],
      ['deflate.tif', tiffFile(tags8(37, 23, 3, 2, 8), deflateSync(rgb))],
      ['deflate-old.tif', tiffFile(tags8(37, 23, 3, 2, 32946), deflateSync(rgb))],
      ['predictor.tif', tiffFile(tags8(37, 23, 3, 2, 8, [[317, 3, [2]]]), deflateSync(predict(rgb, 37, 3)))],
      ['packbits.tif', tiffFile(tags8(37, 23, 3, 2, 32773), packBitsLiterals(rgb))],
    ];
    for (const [name, bytes] of files) expect(same(decodeImage(bytes, name), img), name).toBe(true);
    // JPEG-in-TIFF (compression 7, YCbCr): utif's decoder vs jpeg-js on the same stream
    const smooth = smoothImage(40, 24);
    const stream = encodeJpeg(smooth, 90);
    const viaTiff = decodeImage(tiffFile(tags8(40, 24, 3, 6, 7), stream), 'jpeg.tif');
    const direct = jpeg.decode(stream, { useTArray: true });
    expect(maxDiff(viaTiff, { width: 40, height: 24, data: new Uint8ClampedArray(direct.data) })).toBeLessThanOrEqual(3);
    expect(maxDiff(viaTiff, smooth)).toBeLessThanOrEqual(12);
  });

  it('refuses what it cannot read with a message that says what is supported', () => {
    const rgb16 = new Uint8Array(37 * 23 * 6);
    expectFormatError(() => decodeImage(tiffFile(tags8(37, 23, 3, 2, 1, [[258, 3, [16, 16, 16]]]), rgb16), 'deep.tif'), 'deep.tif', /page 0 has 16\/16\/16-bit samples; only 8-bit RGB, RGBA, grey or palette TIFF is supported; convert/);
    const f32 = new Uint8Array(37 * 23 * 4);
    expectFormatError(() => decodeImage(tiffFile(tags8(37, 23, 1, 1, 1, [[258, 3, [32]], [339, 3, [3]]]), f32), 'float.tif'), 'float.tif', /32-bit floating-point samples; only 8-bit/);
    const rgb = samples(img, 3);
    expectFormatError(() => decodeImage(tiffFile(tags8(37, 23, 3, 2, 1, [[284, 3, [2]]]), rgb), 'planar.tif'), 'planar.tif', /separate planes/);
    expectFormatError(() => decodeImage(tiffFile(tags8(37, 23, 3, 2, 34712), rgb), 'j2k.tif'), 'j2k.tif', /compression 34712 \(JPEG 2000\), which is not supported \(none, LZW, Deflate, PackBits and JPEG are\)/);
    expectFormatError(() => decodeImage(tiffFile(tags8(37, 23, 2, 1, 1), rgb), 'grey-alpha.tif'), 'grey-alpha.tif', /photometric interpretation 1 with 2 sample\(s\)/);
    const bigTiff = new Uint8Array([0x49, 0x49, 43, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expectFormatError(() => decodeImage(bigTiff, 'big.tif'), 'big.tif', /BigTIFF/);
    expectFormatError(() => decodeImage(tiffFile(tags8(20000, 20000, 3, 2, 1), rgb), 'huge.tif'), 'huge.tif', /20000x20000 pixels.*more than the 100 megapixels.*crop or tile/);
  });

  it('rejects a looping page chain instead of hanging', () => {
    const bytes = encodeTiff(img);
    const v = new DataView(bytes.buffer);
    const ifd = v.getUint32(4, true);
    v.setUint32(ifd + 2 + 12 * v.getUint16(ifd, true), ifd, true); // next IFD = itself
    expectFormatError(() => decodeImage(bytes, 'loop.tif'), 'loop.tif', /loop/);
  });

  describe.runIf(existsSync(MIDOG))('the real MIDOG 2025 stack (multi-page, Deflate)', () => {
    it('has 16 pages of 128x128 H&E', () => {
      const bytes = readFileSync(MIDOG);
      const pages = decodeImagePages(bytes, MIDOG);
      expect(pages).toHaveLength(16);
      for (const p of pages) expect([p.width, p.height]).toEqual([128, 128]);
      // H&E: not blank, and pink-purple (eosin and haematoxylin both absorb green most)
      let r = 0, g = 0, b = 0;
      for (let i = 0; i < pages[0].data.length; i += 4) (r += pages[0].data[i]), (g += pages[0].data[i + 1]), (b += pages[0].data[i + 2]);
      expect(r).toBeGreaterThan(g);
      expect(b).toBeGreaterThan(g);
      expect(same(decodeImage(bytes, MIDOG, { page: 15 }), pages[15])).toBe(true);
      // cut in half: the later pages' data is missing
      expectFormatError(() => decodeImagePages(bytes.subarray(0, bytes.length >> 1), 'half.tif'), 'half.tif');
    });
  });
  if (!existsSync(MIDOG)) console.warn(`${MIDOG} is absent: the real multi-page TIFF test does not run`);
});

describe('PNG', () => {
  it('round-trips RGB and RGBA exactly, also incompressible RGBA (stored, not deflated)', () => {
    for (const im of [randomImage(37, 23, 6), randomImage(37, 23, 7, true), smoothImage(40, 30)]) {
      const bytes = encodePng(im);
      expect(Array.from(bytes.subarray(-12))).toEqual([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]); // a complete IEND
      expect(same(decodeImage(bytes, 'a.png'), im), `${im.width}x${im.height}`).toBe(true);
    }
    // the first RGBA image is the case upng-js truncates: its IDAT (at 33) is a stored zlib stream (78 01)
    expect(Array.from(encodePng(randomImage(37, 23, 7, true)).subarray(37, 43))).toEqual([0x49, 0x44, 0x41, 0x54, 0x78, 0x01]);
    // compressible images stay compressed
    expect(encodePng(smoothImage(40, 30)).length).toBeLessThan(40 * 30);
  });

  it('reads grey, palette and 16-bit PNGs (16-bit keeps the high byte)', () => {
    const w = 7, h = 5;
    const grey = Uint8Array.from({ length: w * h }, (_, i) => (i * 37) % 256);
    expect(same(decodeImage(pngFile(w, h, 0, 8, grey), 'grey.png'), greyImage(w, h, grey))).toBe(true);
    const plte = Uint8Array.from({ length: 256 * 3 }, (_, i) => (i % 3 === 0 ? i / 3 : i % 3 === 1 ? 255 - (i - 1) / 3 : 9));
    const pal = decodeImage(pngFile(w, h, 3, 8, grey, plte), 'palette.png');
    for (let i = 0; i < w * h; i++) expect(Array.from(pal.data.subarray(i * 4, i * 4 + 4))).toEqual([grey[i], 255 - grey[i], 9, 255]);
    // 16-bit RGB, big-endian samples: value v * 256 + 200 -> v
    const img = randomImage(w, h, 8);
    const rgb16 = new Uint8Array(w * h * 6);
    const dv = new DataView(rgb16.buffer);
    samples(img, 3).forEach((v, i) => dv.setUint16(2 * i, v * 256 + 200));
    expect(same(decodeImage(pngFile(w, h, 2, 16, rgb16), 'deep.png'), img)).toBe(true);
  });

  it('refuses a header that claims more pixels than the file can hold, and huge images', () => {
    const bytes = pngFile(7, 5, 0, 8, new Uint8Array(35));
    new DataView(bytes.buffer).setUint32(16, 1_000_000); // IHDR width (the CRC is not checked)
    expectFormatError(() => decodeImage(bytes, 'lying.png'), 'lying.png', /cannot fit/);
    new DataView(bytes.buffer).setUint32(16, 20000);
    new DataView(bytes.buffer).setUint32(20, 20000);
    expectFormatError(() => decodeImage(bytes, 'huge.png'), 'huge.png', /20000x20000.*crop or tile/);
  });
});

describe('JPEG', () => {
  it('round-trips within the lossy tolerance', () => {
    const smooth = smoothImage(40, 30);
    expect(maxDiff(decodeImage(encodeJpeg(smooth, 95), 'x.jpg'), smooth)).toBeLessThan(12);
  });

  it('refuses huge images before decoding them', () => {
    const bytes = encodeJpeg(smoothImage(8, 8));
    // the SOF0 frame header: FF C0, length, precision, height, width
    const sof = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc0);
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    v.setUint16(sof + 5, 20000);
    v.setUint16(sof + 7, 20000);
    expectFormatError(() => decodeImage(bytes, 'huge.jpg'), 'huge.jpg', /20000x20000 pixels.*more than the 100 megapixels.*crop or tile/);
  });

  describe.runIf(existsSync(TUPAC))('a real TUPAC16 patch', () => {
    it('decodes to 80x80 H&E', () => {
      const name = readdirSync(TUPAC).filter((n) => n.endsWith('.jpg')).sort()[0];
      const im = decodeImage(readFileSync(join(TUPAC, name)), name);
      expect([im.width, im.height]).toEqual([80, 80]);
      let r = 0, g = 0;
      for (let i = 0; i < im.data.length; i += 4) (r += im.data[i]), (g += im.data[i + 1]);
      expect(r).toBeGreaterThan(g);
    });
  });
  if (!existsSync(TUPAC)) console.warn(`${TUPAC} is absent: the real JPEG test does not run`);
});

describe('BMP', () => {
  /** Our 24-bit bottom-up file rewritten as top-down (negative height, rows in reading order). */
  function topDown(bytes: Uint8Array, img: RgbaImage): Uint8Array {
    const stride = Math.ceil((img.width * 3) / 4) * 4;
    const td = bytes.slice();
    new DataView(td.buffer).setInt32(22, -img.height, true);
    for (let y = 0; y < img.height; y++) td.set(bytes.subarray(54 + (img.height - 1 - y) * stride, 54 + (img.height - y) * stride), 54 + y * stride);
    return td;
  }

  /** A 32-bit bottom-up BMP (BGRX); with `bitfields`, BI_BITFIELDS with the usual masks. */
  function bmp32(img: RgbaImage, bitfields: boolean): Uint8Array {
    const at = bitfields ? 66 : 54;
    const out = new Uint8Array(at + img.width * img.height * 4);
    out.set(encodeBmp({ width: 1, height: 1, data: new Uint8Array(4) }).subarray(0, 54));
    const v = new DataView(out.buffer);
    v.setUint32(10, at, true);
    v.setInt32(18, img.width, true);
    v.setInt32(22, img.height, true);
    v.setUint16(28, 32, true);
    if (bitfields) {
      v.setUint32(30, 3, true);
      v.setUint32(54, 0xff0000, true);
      v.setUint32(58, 0xff00, true);
      v.setUint32(62, 0xff, true);
    }
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        const s = (y * img.width + x) * 4;
        out.set([img.data[s + 2], img.data[s + 1], img.data[s], 0], at + ((img.height - 1 - y) * img.width + x) * 4);
      }
    return out;
  }

  it('round-trips 24-bit bottom-up files of every row padding, and reads top-down ones', () => {
    for (const w of [1, 2, 3, 4, 5, 37]) {
      const img = randomImage(w, 3, w);
      const bytes = encodeBmp(img);
      expect(bytes.length).toBe(54 + Math.ceil((w * 3) / 4) * 4 * 3);
      expect(new DataView(bytes.buffer).getInt32(22, true)).toBe(3); // bottom-up, as MITOS 2012 frames
      expect(same(decodeImage(bytes, `w${w}.bmp`), img), `width ${w}`).toBe(true);
      expect(same(decodeImage(topDown(bytes, img), `td${w}.bmp`), img), `top-down width ${w}`).toBe(true);
    }
  });

  it('reads 32-bit BI_RGB and BI_BITFIELDS files (the 4th byte is not alpha)', () => {
    const img = randomImage(5, 4, 11);
    expect(same(decodeImage(bmp32(img, false), '32.bmp'), img)).toBe(true);
    expect(same(decodeImage(bmp32(img, true), '32bf.bmp'), img)).toBe(true);
  });

  it('refuses other depths, compressions and huge sizes by name', () => {
    const bytes = encodeBmp(randomImage(5, 4, 12));
    const v = new DataView(bytes.buffer);
    v.setUint16(28, 8, true);
    expectFormatError(() => decodeImage(bytes, 'pal.bmp'), 'pal.bmp', /8-bit BMP.*only uncompressed 24- and 32-bit/);
    v.setUint16(28, 24, true);
    v.setInt32(18, 20000, true);
    v.setInt32(22, 20000, true);
    expectFormatError(() => decodeImage(bytes, 'huge.bmp'), 'huge.bmp', /20000x20000.*crop or tile/);
  });
});

describe('bad files', () => {
  const img = randomImage(37, 23, 13);

  it('empty and unknown files name the file and show the first bytes', () => {
    expectFormatError(() => decodeImage(new Uint8Array(0), 'empty.png'), 'empty.png', /the file is empty/);
    expectFormatError(() => decodeImage(new TextEncoder().encode('hello world'), 'notes.tif'), 'notes.tif', /not a TIFF, PNG, JPEG or BMP image \(first bytes 68 65 6c 6c 6f 20 77 6f\)/);
  });

  it('truncated files of every format give an ImageFormatError naming the file', () => {
    const files: [string, Uint8Array][] = [
      ['cut.png', encodePng(img)],
      ['cut.bmp', encodeBmp(img)],
      ['cut.tif', encodeTiff(img)],
      ['cut-tiles.tif', encodeTiff(img, { tile: 16 })],
      ['cut-lzw.tif', tiffFile(tags8(37, 23, 3, 2, 5), lzwLiterals(samples(img, 3)))],
      ['cut.jpg', encodeJpeg(img)],
    ];
    for (const [name, bytes] of files)
      for (const keep of [0.1, 0.5, 0.9]) expectFormatError(() => decodeImage(bytes.subarray(0, Math.floor(bytes.length * keep)), name), name);
    // a TIFF whose strip runs past the end (its IFD intact)
    const tif = tiffFile(tags8(37, 23, 3, 2, 1), samples(img, 3));
    new DataView(tif.buffer).setUint32(4, 0xfffff, true);
    expectFormatError(() => decodeImage(tif, 'bad-ifd.tif'), 'bad-ifd.tif', /past the end/);
    const strip = tiffFile(tags8(37, 23, 3, 2, 8), deflateSync(samples(img, 3)));
    expectFormatError(() => decodeImage(strip.fill(0, 20, 40), 'corrupt.tif'), 'corrupt.tif', /corrupt compressed data in page 0, strip 0/);
  });
});

describe('resampling', () => {
  const constant = (w: number, h: number, v: number): RgbaImage => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4).fill(v) });

  it('keeps a constant image constant at any scale; the size is round(w * from / to)', () => {
    for (const [from, to] of [[0.5, 0.25], [0.25, 0.5], [0.2456, 0.25], [0.25, 0.2456], [0.5, 0.17]]) {
      const out = rescaleToMpp(constant(101, 37, 77), from, to);
      expect([out.width, out.height]).toEqual([Math.round((101 * from) / to), Math.round((37 * from) / to)]);
      expect(out.data.every((v) => v === 77), `${from} -> ${to}`).toBe(true);
    }
    expect(rescaleToMpp(constant(3, 3, 5), 0.25, 0.25).data).toEqual(constant(3, 3, 5).data);
    expect(() => rescaleToMpp(constant(3, 3, 5), 0, 1)).toThrow(/must be > 0/);
  });

  it('halves a 4x4 checker to its mean; area-averages when shrinking, bilinear when enlarging', () => {
    const checker: RgbaImage = { width: 4, height: 4, data: new Uint8ClampedArray(64) };
    for (let i = 0; i < 16; i++) checker.data.fill(((i % 4) + (i >> 2)) % 2 ? 200 : 100, i * 4, i * 4 + 4);
    const half = rescaleToMpp(checker, 0.25, 0.5);
    expect([half.width, half.height]).toEqual([2, 2]);
    expect(Array.from(half.data)).toEqual(new Array(16).fill(150));
    const row = (values: number[]): RgbaImage => ({ width: values.length, height: 1, data: Uint8ClampedArray.from(values.flatMap((v) => [v, v, v, 255])) });
    const red = (im: RgbaImage) => Array.from({ length: im.width }, (_, i) => im.data[i * 4]);
    // 4 -> 3: footprints [0, 4/3), [4/3, 8/3), [8/3, 4)
    expect(red(resizeTo(row([0, 60, 120, 180]), 3, 1))).toEqual([15, 90, 165]);
    // 2 -> 4: samples at source positions -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    expect(red(resizeTo(row([0, 200]), 4, 1))).toEqual([0, 50, 150, 200]);
  });
});

describe('cropping', () => {
  it('mirrors outside the image without repeating the edge pixel, in both axes', () => {
    const row: RgbaImage = { width: 4, height: 1, data: Uint8ClampedArray.from([0, 10, 20, 30].flatMap((v) => [v, 0, 0, 255])) };
    const c = cropImage(row, -7, 0, 14, 1);
    expect(Array.from({ length: 14 }, (_, i) => c.data[i * 4])).toEqual([10, 0, 10, 20, 30, 20, 10, 0, 10, 20, 30, 20, 10, 0]);
    // columns: value 10 x + y; a 3x3 image cropped at (-1, -1) to 5x5
    const g: RgbaImage = { width: 3, height: 3, data: Uint8ClampedArray.from(Array.from({ length: 9 }, (_, i) => [10 * (i % 3) + Math.floor(i / 3), 0, 0, 255]).flat()) };
    const m = cropImage(g, -1, -1, 5, 5);
    const at = (x: number, y: number) => m.data[(y * 5 + x) * 4];
    expect([at(0, 0), at(1, 1), at(3, 0), at(0, 3), at(3, 3), at(4, 4)]).toEqual([11, 0, 21, 12, 22, 11]);
    // inside: a plain copy
    const inner = cropImage(g, 1, 1, 2, 2);
    expect(Array.from({ length: 4 }, (_, i) => inner.data[i * 4])).toEqual([11, 21, 12, 22]);
    // a 1-pixel-wide image mirrors onto itself
    expect(Array.from(cropImage({ width: 1, height: 1, data: Uint8ClampedArray.from([9, 8, 7, 6]) }, -2, 3, 2, 1).data)).toEqual([9, 8, 7, 6, 9, 8, 7, 6]);
    expect(() => cropImage(g, 0, 0, 0, 2)).toThrow(/bad window/);
  });
});

describe('hostile images', () => {
  const img = randomImage(61, 37, 9);
  const raw = samples(img, 3);

  it('reads real LZW (table growth to 12-bit codes) and refuses corrupt or cut LZW instead of decoding black', () => {
    const big = randomImage(300, 200, 4);
    const smooth = samples(smoothImage(300, 200), 3); // long repeats: codes of 10 to 12 bits, table resets
    for (const data of [samples(big, 3), smooth]) {
      const ok = decodeImage(tiffFile(tags8(300, 200, 3, 2, 5), lzwEncode(data)), 'lzw.tif');
      expect(Buffer.from(samples(ok, 3)).equals(Buffer.from(data))).toBe(true);
    }
    const good = lzwEncode(raw);
    const bad = good.slice();
    for (let i = 40; i < bad.length; i += 37) bad[i] ^= 0xa5;
    expectFormatError(() => decodeImage(tiffFile(tags8(61, 37, 3, 2, 5), bad), 'bad-lzw.tif'), 'bad-lzw.tif', /corrupt LZW data|truncated or corrupt TIFF/);
    expectFormatError(() => decodeImage(tiffFile(tags8(61, 37, 3, 2, 5), good.subarray(0, good.length >> 1)), 'cut-lzw.tif'), 'cut-lzw.tif', /truncated or corrupt TIFF: page 0, strip 0 holds \d+ bytes of pixels, 6771 expected/);
  });

  it('refuses decompressed data larger than the declared size (deflate bombs) at once', () => {
    expectFormatError(() => decodeImage(tiffFile(tags8(61, 37, 3, 2, 8), deflateSync(new Uint8Array(64 << 20))), 'bomb.tif'), 'bomb.tif', /decompresses to more than the 6771 bytes/);
    // a PNG declaring 16x16 grey (272 filtered bytes) whose IDAT inflates to 32 MB
    const ihdrOk = pngFile(16, 16, 0, 8, new Uint8Array(256));
    const idatAt = 33, len = new DataView(ihdrOk.buffer).getUint32(idatAt);
    const z = deflateSync(new Uint8Array(32 << 20));
    const bomb = new Uint8Array([...ihdrOk.subarray(0, idatAt), ...pngChunk('IDAT', z), ...ihdrOk.subarray(idatAt + 12 + len)]);
    expectFormatError(() => decodeImage(bomb, 'bomb.png'), 'bomb.png', /decompresses to more than the 272 bytes/);
  });

  it('refuses a palette PNG without its palette with a clear message', () => {
    expectFormatError(() => decodeImage(pngFile(8, 8, 3, 8, new Uint8Array(64)), 'nopal.png'), 'nopal.png', /palette PNG without its palette/);
  });

  it('refuses a 1.5 KB JPEG claiming 16000x16000 and a PNG bomb claiming 16384x16384 before decoding', () => {
    const j = encodeJpeg(smoothImage(16, 16));
    const sof = j.findIndex((b, i) => b === 0xff && j[i + 1] === 0xc0);
    new DataView(j.buffer, j.byteOffset).setUint16(sof + 5, 16000);
    new DataView(j.buffer, j.byteOffset).setUint16(sof + 7, 16000);
    expectFormatError(() => decodeImage(j, 'lie.jpg'), 'lie.jpg', /16000x16000 pixels \(256\.0 megapixels\), more than the 100 megapixels.*crop or tile/);
    new DataView(j.buffer, j.byteOffset).setUint16(sof + 5, 3000);
    new DataView(j.buffer, j.byteOffset).setUint16(sof + 7, 3000);
    expectFormatError(() => decodeImage(j, 'lie2.jpg'), 'lie2.jpg', /3000x3000 pixels cannot fit in \d+ bytes/);
    const t0 = Date.now();
    const bomb = pngFile(16384, 16384, 0, 1, new Uint8Array(16384 * 2048));
    expectFormatError(() => decodeImage(bomb, 'bomb.png'), 'bomb.png', /16384x16384 pixels.*100 megapixels/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
