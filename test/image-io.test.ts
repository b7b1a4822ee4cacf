// Image decoding/encoding for every input format, resampling and cropping, and atomic files.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
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
import { readImageFile, writeFileAtomic } from '../src/node/files.js';

const DATA = resolve(__dirname, '../../shared/data');

function randomImage(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = i % 4 === 3 ? 255 : s >>> 24;
  }
  return { width, height, data };
}

const same = (a: RgbaImage, b: RgbaImage) => a.width === b.width && a.height === b.height && Buffer.from(a.data).equals(Buffer.from(b.data));

describe('image formats', () => {
  const img = randomImage(37, 23, 1); // odd width: BMP rows need padding, tiles are partial

  it('PNG, BMP and TIFF (strips and tiles) round-trip exactly; formats are sniffed from bytes', () => {
    const files: [string, Uint8Array][] = [
      ['png', encodePng(img)],
      ['bmp', encodeBmp(img)],
      ['tiff', encodeTiff(img)],
      ['tiff', encodeTiff(img, { tile: 16 })],
    ];
    for (const [fmt, bytes] of files) {
      expect(sniffFormat(bytes)).toBe(fmt);
      expect(same(decodeImage(bytes, `x.${fmt}`), img), fmt).toBe(true);
    }
  });

  it('JPEG round-trips within lossy tolerance', () => {
    const smooth: RgbaImage = { width: 40, height: 30, data: new Uint8ClampedArray(40 * 30 * 4).map((_, i) => (i % 4 === 3 ? 255 : 60 + ((i >> 2) % 40) * 3)) };
    const back = decodeImage(encodeJpeg(smooth, 95), 'x.jpg');
    expect(back.width).toBe(40);
    let err = 0;
    for (let i = 0; i < back.data.length; i++) err = Math.max(err, Math.abs(back.data[i] - smooth.data[i]));
    expect(err).toBeLessThan(12);
  });

  it('reads top-down BMP and 32-bit BMP', () => {
    const bytes = encodeBmp(img);
    const v = new DataView(bytes.buffer);
    // flip to top-down: negative height and reversed rows
    const stride = Math.ceil((img.width * 3) / 4) * 4;
    const td = bytes.slice();
    new DataView(td.buffer).setInt32(22, -img.height, true);
    for (let y = 0; y < img.height; y++) td.set(bytes.subarray(54 + (img.height - 1 - y) * stride, 54 + (img.height - y) * stride), 54 + y * stride);
    expect(same(decodeImage(td, 'td.bmp'), img)).toBe(true);
    // 32-bit BGRA, bottom-up
    const b32 = new Uint8Array(54 + img.width * img.height * 4);
    b32.set(bytes.subarray(0, 54));
    const v32 = new DataView(b32.buffer);
    v32.setUint16(28, 32, true);
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        const s = (y * img.width + x) * 4, d = 54 + ((img.height - 1 - y) * img.width + x) * 4;
        b32.set([img.data[s + 2], img.data[s + 1], img.data[s], 255], d);
      }
    expect(v.getUint16(28, true)).toBe(24);
    expect(same(decodeImage(b32, '32.bmp'), img)).toBe(true);
  });

  it('multi-page TIFF: the real MIDOG 2025 stack (Deflate) has 16 pages of 128x128', () => {
    const f = join(DATA, 'midog25-figures/stack_5.tiff');
    if (!existsSync(f)) {
      console.warn(`${f} is absent: checking a multi-page TIFF of our own instead`);
    }
    const pages = existsSync(f) ? decodeImagePages(readFileSync(f), f) : [];
    if (existsSync(f)) {
      expect(pages).toHaveLength(16);
      for (const p of pages) expect([p.width, p.height]).toEqual([128, 128]);
      // H&E: not blank, pink-purple (green absorbed most)
      const d = pages[0].data;
      let r = 0, g = 0;
      for (let i = 0; i < d.length; i += 4) (r += d[i]), (g += d[i + 1]);
      expect(r).toBeGreaterThan(g);
      expect(decodeImage(readFileSync(f), f, { page: 15 }).width).toBe(128);
      expect(() => decodeImage(readFileSync(f), f, { page: 16 })).toThrow(/16 page\(s\); page 16 does not exist/);
    }
  });

  it('decodes a real TUPAC16 JPEG patch', () => {
    const dir = join(DATA, 'tupac16-aux-patches/mitosis');
    if (!existsSync(dir)) return console.warn(`${dir} is absent: real JPEG check not run`);
    const name = readdirSync(dir).filter((n) => n.endsWith('.jpg'))[0];
    const im = decodeImage(readFileSync(join(dir, name)), name);
    expect(im.width).toBeGreaterThanOrEqual(79);
    expect(im.data.length).toBe(im.width * im.height * 4);
  });

  it('bad files: empty, unknown, truncated, unsupported depth -> ImageFormatError naming the file', () => {
    expect(() => decodeImage(new Uint8Array(0), 'empty.png')).toThrow(/empty\.png: the file is empty/);
    expect(() => decodeImage(new TextEncoder().encode('hello world'), 'notes.tif')).toThrow(/notes\.tif: not a TIFF, PNG, JPEG or BMP/);
    for (const [name, bytes] of [
      ['cut.png', encodePng(img)],
      ['cut.bmp', encodeBmp(img)],
      ['cut.tif', encodeTiff(img)],
      ['cut.jpg', encodeJpeg(img)],
    ] as const) {
      const cut = bytes.subarray(0, Math.floor(bytes.length / 3));
      let err: unknown;
      try {
        decodeImage(cut, name);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(ImageFormatError);
      expect((err as Error).message.startsWith(`${name}: `)).toBe(true);
    }
    // a 16-bit TIFF: patch BitsPerSample to 16 (the value sits in an out-of-line array of 3 shorts)
    const t = encodeTiff(img);
    const v = new DataView(t.buffer);
    const n = v.getUint16(8, true);
    for (let i = 0; i < n; i++)
      if (v.getUint16(10 + 12 * i, true) === 258) {
        const at = v.getUint32(10 + 12 * i + 8, true);
        for (let k = 0; k < 3; k++) v.setUint16(at + 2 * k, 16, true);
      }
    expect(() => decodeImage(t, 'deep.tif')).toThrow(/deep\.tif: .*16\/16\/16-bit.*only 8-bit/);
  });
});

describe('resampling and cropping', () => {
  it('rescale keeps a constant image constant and averages a checker when halving', () => {
    const flat: RgbaImage = { width: 10, height: 6, data: new Uint8ClampedArray(240).fill(77) };
    const up = rescaleToMpp(flat, 0.5, 0.25);
    expect([up.width, up.height]).toEqual([20, 12]);
    expect(up.data.every((v) => v === 77)).toBe(true);
    const checker: RgbaImage = { width: 4, height: 4, data: new Uint8ClampedArray(64) };
    for (let i = 0; i < 16; i++) checker.data.fill(((i % 4) + (i >> 2)) % 2 ? 200 : 100, i * 4, i * 4 + 4);
    const half = rescaleToMpp(checker, 0.25, 0.5);
    expect([half.width, half.height]).toEqual([2, 2]);
    expect(Array.from(half.data)).toEqual(new Array(16).fill(150));
    expect(resizeTo(checker, 4, 4).data).toEqual(checker.data);
    expect(() => rescaleToMpp(checker, 0, 1)).toThrow(/must be > 0/);
  });

  it('crop mirrors outside the image without repeating the edge pixel', () => {
    const row: RgbaImage = { width: 4, height: 1, data: new Uint8ClampedArray([0, 0, 0, 255, 10, 0, 0, 255, 20, 0, 0, 255, 30, 0, 0, 255]) };
    const c = cropImage(row, -2, 0, 8, 1);
    expect(Array.from({ length: 8 }, (_, i) => c.data[i * 4])).toEqual([20, 10, 0, 10, 20, 30, 20, 10]);
  });
});

describe('files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mitoscan-files-'));

  it('writeFileAtomic creates folders, replaces files whole and leaves no temporary files', async () => {
    const p = join(dir, 'a/b/out.txt');
    await writeFileAtomic(p, 'first');
    await writeFileAtomic(p, new TextEncoder().encode('second'));
    expect(readFileSync(p, 'utf8')).toBe('second');
    expect(readdirSync(join(dir, 'a/b'))).toEqual(['out.txt']);
  });

  it('a failed write names the path and keeps the old content', async () => {
    const p = join(dir, 'keep.txt');
    writeFileSync(p, 'old');
    // a folder in the way of the rename: the write fails after the temporary file was written
    const blocked = join(dir, 'blocked');
    await writeFileAtomic(join(blocked, 'x'), 'x');
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow(new RegExp(`${blocked}: could not write the file`));
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(p, 'utf8')).toBe('old');
  });

  it('readImageFile decodes by content and names the path in errors', async () => {
    const img = randomImage(9, 7, 3);
    const p = join(dir, 'frame.png.bmp'); // misleading extension: the bytes decide
    writeFileSync(p, encodeBmp(img));
    expect(same(await readImageFile(p), img)).toBe(true);
    await expect(readImageFile(join(dir, 'missing.tif'))).rejects.toThrow(/missing\.tif: no such file/);
    await expect(readImageFile(dir)).rejects.toThrow(/is a folder, not an image/);
  });
});
