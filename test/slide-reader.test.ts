// The lazy slide reader against slides made by real writers (vips tiffsave: JPEG, LZW, Deflate,
// BigTIFF, SubIFD pyramids) and against OpenSlide's reads of the same files.
//
// Tolerances: lossless files (LZW, Deflate) must match OpenSlide, the flat decode (decodeImage,
// files without predictor: utif mis-applies the predictor of tiled files) and the generated field
// exactly. JPEG vs OpenSlide (libjpeg-turbo): 4:4:4 RGB (vips Q90) differs by IDCT rounding only:
// max abs diff <= 2 per channel, mean < 0.2 (measured 1 and 0.07); YCbCr 4:2:0 (vips Q75):
// jpeg-js replicates chroma where libjpeg-turbo interpolates it: max <= 40, mean < 2 (measured
// max 13-28 at chroma edges, mean 1.15-1.44). Against the original field (the JPEG loss itself) the mean abs diff must be < 3.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, encodeJpeg, encodeTiff } from '../src/io/image.js';
import { openFileSource } from '../src/node/slide-file.js';
import { decodeTile, lzwDecode, markColourSpace, spliceJpegTables } from '../src/slide/decode.js';
import { openSlide, readResolution, type RgbaImage } from '../src/slide/slide.js';
import { blobSource, bytesSource, countingSource } from '../src/slide/source.js';
import { TAG, type Ifd } from '../src/slide/tiff.js';
import { generateField } from '../src/synth/tissue.js';

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
};
const VIPS = has('vips');
const OPENSLIDE = has('openslide-write-png');
if (!VIPS) console.warn('slide-reader: `vips` (libvips-tools) is not installed: the tests on vips-written slides are skipped; `apt-get install libvips-tools` to run them');
if (!OPENSLIDE) console.warn('slide-reader: openslide-tools is not installed: the comparisons with OpenSlide are skipped');

const W = 600, H = 440, MPP = 0.25;
let dir = '';
let field: RgbaImage;

function vips(...args: string[]) {
  execFileSync('vips', args, { stdio: 'pipe' });
}

function diff(a: RgbaImage, b: RgbaImage): { max: number; mean: number } {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let max = 0, sum = 0, n = 0;
  for (let i = 0; i < a.data.length; i += 4)
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(a.data[i + c] - b.data[i + c]);
      max = Math.max(max, d);
      sum += d;
      n++;
    }
  return { max, mean: sum / n };
}

function crop(img: RgbaImage, x: number, y: number, w: number, h: number): RgbaImage {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let r = 0; r < h; r++) out.set(img.data.subarray(((y + r) * img.width + x) * 4, ((y + r) * img.width + x + w) * 4), r * w * 4);
  return { width: w, height: h, data: out };
}

async function open(path: string, cacheBytes?: number) {
  return openSlide(await openFileSource(path), { cacheBytes });
}

const file = (n: string) => join(dir, n);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mitoscan-slide-'));
  field = generateField({ width: W, height: H, seed: 12, mpp: MPP }).image;
  writeFileSync(file('flat.tif'), encodeTiff(field, { mpp: MPP }));
  writeFileSync(file('nompp.tif'), encodeTiff(field));
  if (!VIPS) return;
  const pyr = ['--tile', '--tile-width', '256', '--tile-height', '256', '--pyramid'];
  vips('tiffsave', file('flat.tif'), file('jpeg.tif'), ...pyr, '--compression', 'jpeg', '--Q', '90');
  vips('tiffsave', file('flat.tif'), file('jpeg-ycc.tif'), ...pyr, '--compression', 'jpeg', '--Q', '75');
  vips('tiffsave', file('flat.tif'), file('jpeg-big.tif'), ...pyr, '--compression', 'jpeg', '--Q', '90', '--bigtiff');
  vips('tiffsave', file('flat.tif'), file('lzw.tif'), ...pyr, '--compression', 'lzw');
  // without the horizontal predictor (vips' default for LZW/Deflate): decodeImage (utif) mis-applies
  // the predictor of tiled files (it differs from the field from the second row of a tile on)
  vips('tiffsave', file('flat.tif'), file('lzw-nopred.tif'), ...pyr, '--compression', 'lzw', '--predictor', 'none');
  vips('tiffsave', file('flat.tif'), file('deflate-nopred.tif'), ...pyr, '--compression', 'deflate', '--predictor', 'none');
  vips('tiffsave', file('flat.tif'), file('deflate.tif'), ...pyr, '--compression', 'deflate', '--bigtiff');
  vips('tiffsave', file('flat.tif'), file('subifd.tif'), ...pyr, '--compression', 'deflate', '--subifd');
  vips('tiffsave', file('nompp.tif'), file('nompp-pyr.tif'), ...pyr, '--compression', 'lzw');
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.runIf(VIPS)('vips-written pyramids', () => {
  it('lists the levels of a JPEG pyramid and its resolution', async () => {
    const s = await open(file('jpeg.tif'));
    expect(s.format).toBe('generic');
    expect(s.bigTiff).toBe(false);
    expect(s.levels.map((l) => [l.width, l.height, l.tileWidth, l.tileHeight, l.compression])).toEqual([
      [600, 440, 256, 256, 'JPEG'],
      [300, 220, 256, 256, 'JPEG'],
      [150, 110, 256, 256, 'JPEG'],
    ]);
    expect(s.levels[1].downsample).toBeCloseTo(2, 6);
    expect(s.resolution.source).toBe('tiff');
    expect(s.resolution.mpp).toBeCloseTo(MPP, 3);
    expect(s.bestLevelForDownsample(1.5)).toBe(0);
    expect(s.bestLevelForDownsample(3)).toBe(1);
    await s.close();
  });

  it('LZW and Deflate (BigTIFF) level 0 equal the flat decode and the field exactly, across tiles and edges', async () => {
    for (const f of ['lzw-nopred.tif', 'deflate-nopred.tif']) {
      const flat = decodeImage(readFileSync(file(f)), f);
      expect(diff(flat, field).max, f).toBe(0);
      expect(diff(await (await open(file(f))).readRegion(0, 0, 0, W, H), flat).max, f).toBe(0);
    }
    const flat = field;
    for (const f of ['lzw.tif', 'deflate.tif', 'subifd.tif', 'lzw-nopred.tif']) {
      const s = await open(file(f));
      const whole = await s.readRegion(0, 0, 0, W, H);
      expect(diff(whole, flat).max, f).toBe(0);
      // a region across 4 tiles, and one hanging over the right/bottom edge
      expect(diff(await s.readRegion(0, 200, 190, 123, 97), crop(flat, 200, 190, 123, 97)).max, f).toBe(0);
      const edge = await s.readRegion(0, W - 10, H - 5, 20, 10);
      expect(diff(crop(edge, 0, 0, 10, 5), crop(flat, W - 10, H - 5, 10, 5)).max).toBe(0);
      expect(Array.from(edge.data.subarray((2 * 20 + 15) * 4, (2 * 20 + 15) * 4 + 4))).toEqual([255, 255, 255, 0]); // outside: white, transparent
      await s.close();
    }
  });

  it('finds the SubIFD pyramid (vips --subifd, the OME-TIFF layout)', async () => {
    const s = await open(file('subifd.tif'));
    expect(s.levels.map((l) => [l.width, l.height])).toEqual([[600, 440], [300, 220], [150, 110]]);
    const a = await s.readRegion(1, 0, 0, 300, 220);
    const b = await (await open(file('deflate.tif'))).readRegion(1, 0, 0, 300, 220);
    expect(diff(a, b).max).toBe(0);
  });

  it('JPEG: BigTIFF reads the same as classic, and both are close to the field', async () => {
    const a = await open(file('jpeg.tif')), b = await open(file('jpeg-big.tif'));
    expect(b.bigTiff).toBe(true);
    const ra = await a.readRegion(0, 0, 0, W, H);
    expect(diff(ra, await b.readRegion(0, 0, 0, W, H)).max).toBe(0);
    const d = diff(ra, field);
    expect(d.mean).toBeLessThan(3);
  });

  it.runIf(OPENSLIDE)('JPEG (Photometric RGB at Q90, YCbCr 4:2:0 at Q75) and LZW regions match OpenSlide at levels 0 and 1 (see the tolerances above)', async () => {
    for (const f of ['jpeg.tif', 'jpeg-ycc.tif', 'lzw.tif']) {
      const s = await open(file(f));
      for (const [level, x, y, w, h] of [[0, 0, 0, 300, 260], [0, 250, 200, 200, 180], [1, 0, 0, 300, 220], [1, 100, 37, 150, 120]]) {
        const out = file(`os-${level}-${x}.png`);
        const ds = s.levels[level].downsample;
        execFileSync('openslide-write-png', [file(f), String(x * ds), String(y * ds), String(level), String(w), String(h), out], { stdio: 'pipe' });
        const ref = decodeImage(readFileSync(out), out);
        const d = diff(await s.readRegion(level, x, y, w, h), ref);
        if (f === 'lzw.tif') expect(d.max, `${f} level ${level}`).toBe(0);
        else if (f === 'jpeg.tif') {
          expect(d.max, `${f} level ${level} ${x},${y}`).toBeLessThanOrEqual(2);
          expect(d.mean).toBeLessThan(0.2);
        } else {
          // 4:2:0: jpeg-js replicates chroma, libjpeg-turbo interpolates it ("fancy upsampling")
          expect(d.max, `${f} level ${level} ${x},${y}`).toBeLessThanOrEqual(40);
          expect(d.mean).toBeLessThan(2);
        }
      }
      await s.close();
    }
  });

  it('decodes only the tiles a region touches, caches them, and bounds the cache in bytes', async () => {
    const src = countingSource(await openFileSource(file('lzw.tif')));
    const s = await openSlide(src, { cacheBytes: 3 * 256 * 256 * 4 });
    const opened = src.bytes;
    await s.readRegion(0, 10, 10, 64, 64);
    expect(s.stats.tilesDecoded).toBe(1);
    expect(src.bytes - opened).toBeLessThan(256 * 256 * 3); // one compressed tile, nothing else
    await s.readRegion(0, 20, 30, 50, 50);
    expect(s.stats.tilesDecoded).toBe(1);
    expect(s.stats.cacheHits).toBe(1);
    await s.readRegion(0, 0, 0, W, H); // 6 tiles through a 3-tile cache
    expect(s.stats.cacheBytes).toBeLessThanOrEqual(3 * 256 * 256 * 4);
    await s.close();
  });

  it('says why the resolution is missing when the writer only wrote a default', async () => {
    const s = await open(file('nompp-pyr.tif'));
    expect(s.resolution.mpp).toBeNull();
    expect(s.resolution.reason).toMatch(/default/);
  });
});

// ------------------------------------------------ an Aperio-like SVS, written here

/** A little-endian classic TIFF from directories of [tag, type, values] and data blobs placed before them. */
function writeTiff(dirs: { entries: [number, number, number[] | string][]; blobs: Uint8Array[]; blobTags: [number, number] }[]): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0x49, 0x49, 42, 0, 0, 0, 0, 0])];
  let size = 8;
  const put = (b: Uint8Array) => {
    if (size & 1) (parts.push(new Uint8Array(1)), size++);
    parts.push(b);
    size += b.length;
    return size - b.length;
  };
  const ifdAt: number[] = [];
  const patches: [number, number][] = []; // (offset of a next-IFD field, index of the IFD it points to)
  dirs.forEach((d, k) => {
    const offs = d.blobs.map(put), counts = d.blobs.map((b) => b.length);
    const entries = [...d.entries, [d.blobTags[0], 4, offs], [d.blobTags[1], 4, counts]] as [number, number, number[] | string][];
    entries.sort((a, b) => a[0] - b[0]);
    const vals = entries.map(([, t, v]) => (typeof v === 'string' ? new TextEncoder().encode(v + '\0') : (() => {
      const b = new Uint8Array(v.length * (t === 3 ? 2 : t === 5 ? 8 : 4));
      const dv = new DataView(b.buffer);
      v.forEach((x, i) => (t === 3 ? dv.setUint16(2 * i, x, true) : t === 5 ? (dv.setUint32(8 * i, Math.round(x * 1000), true), dv.setUint32(8 * i + 4, 1000, true)) : dv.setUint32(4 * i, x, true)));
      return b;
    })()));
    const ext = vals.map((b) => (b.length > 4 ? put(b) : -1));
    const ifd = new Uint8Array(2 + 12 * entries.length + 4);
    const v = new DataView(ifd.buffer);
    v.setUint16(0, entries.length, true);
    entries.forEach(([tag, t, val], i) => {
      const o = 2 + 12 * i;
      v.setUint16(o, tag, true);
      v.setUint16(o + 2, t, true);
      v.setUint32(o + 4, typeof val === 'string' ? vals[i].length : val.length, true);
      if (ext[i] >= 0) v.setUint32(o + 8, ext[i], true);
      else ifd.set(vals[i], o + 8);
    });
    ifdAt[k] = put(ifd);
    patches.push([ifdAt[k] + 2 + 12 * entries.length, k + 1]);
  });
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  const dv = new DataView(out.buffer);
  dv.setUint32(4, ifdAt[0], true);
  for (const [at, k] of patches) dv.setUint32(at, k < ifdAt.length ? ifdAt[k] : 0, true);
  return out;
}

function jpegTiles(img: RgbaImage, t: number): Uint8Array[] {
  const tiles: Uint8Array[] = [];
  for (let y = 0; y < img.height; y += t)
    for (let x = 0; x < img.width; x += t) {
      const c = new Uint8ClampedArray(t * t * 4).fill(255);
      for (let r = 0; r < t && y + r < img.height; r++) c.set(img.data.subarray(((y + r) * img.width + x) * 4, ((y + r) * img.width + Math.min(img.width, x + t)) * 4), r * t * 4);
      tiles.push(encodeJpeg({ width: t, height: t, data: c }, 95));
    }
  return tiles;
}

function half(img: RgbaImage): RgbaImage {
  const w = img.width >> 1, h = img.height >> 1, out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 4; c++) {
        const s = (a: number, b: number) => img.data[((2 * y + a) * img.width + 2 * x + b) * 4 + c];
        out[(y * w + x) * 4 + c] = (s(0, 0) + s(0, 1) + s(1, 0) + s(1, 1) + 2) >> 2;
      }
  return { width: w, height: h, data: out };
}

describe('an Aperio-like SVS (written here)', () => {
  const desc = 'Aperio Image Library v12.0.15 \r\n512x384 [0,0 512x384] (128x128) JPEG/RGB Q=95|AppMag = 40|MPP = 0.2520|Filename = synth';
  const make = () => {
    const img = generateField({ width: 512, height: 384, seed: 5, mpp: 0.252 }).image;
    const l1 = half(img), thumb = half(l1);
    const tiled = (im: RgbaImage, d?: string) => ({
      entries: [[256, 4, [im.width]], [257, 4, [im.height]], [258, 3, [8, 8, 8]], [259, 3, [7]], [262, 3, [6]], [277, 3, [3]], [284, 3, [1]], [322, 3, [128]], [323, 3, [128]], ...(d ? [[270, 2, d]] : [])] as [number, number, number[] | string][],
      blobs: jpegTiles(im, 128),
      blobTags: [324, 325] as [number, number],
    });
    const rgb = new Uint8Array(thumb.width * thumb.height * 3);
    for (let i = 0; i < thumb.width * thumb.height; i++) rgb.set(thumb.data.subarray(4 * i, 4 * i + 3), 3 * i);
    const stripped = (d: string, sub: number) => ({
      entries: [[254, 4, [sub]], [256, 4, [thumb.width]], [257, 4, [thumb.height]], [258, 3, [8, 8, 8]], [259, 3, [1]], [262, 3, [2]], [270, 2, d], [277, 3, [3]], [278, 4, [thumb.height]]] as [number, number, number[] | string][],
      blobs: [rgb],
      blobTags: [273, 279] as [number, number],
    });
    return { img, l1, bytes: writeTiff([tiled(img, desc), stripped('Aperio Image Library v12.0.15 \r\n512x384 -> 128x96 - |AppMag = 40', 0), tiled(l1, 'Aperio Image Library v12.0.15 \r\n512x384 -> 256x192 - |AppMag = 40|MPP = 0.2520'), stripped('Aperio Image Library v12.0.15\r\nlabel 128x96', 1), stripped('Aperio Image Library v12.0.15\r\nmacro 128x96', 9)]) };
  };

  it('has two levels (the stripped thumbnail, label and macro are not levels), MPP from the description, and matches OpenSlide', async () => {
    const { img, l1, bytes } = make();
    const s = await openSlide(bytesSource(bytes, 'synth.svs'));
    expect(s.format).toBe('aperio');
    expect(s.levels.map((l) => [l.width, l.height, l.tileWidth])).toEqual([[512, 384, 128], [256, 192, 128]]);
    expect(s.associated.map((a) => a.kind)).toEqual(['thumbnail', 'label', 'macro']);
    expect(s.resolution).toMatchObject({ mpp: 0.252, source: 'aperio' });
    // jpeg-js writes YCbCr tiles (Photometric 6 here; real Aperio files are Photometric RGB with RGB JPEG data)
    expect(diff(await s.readRegion(0, 0, 0, 512, 384), img).mean).toBeLessThan(3);
    expect(diff(await s.readRegion(1, 0, 0, 256, 192), l1).mean).toBeLessThan(3);
    // the same through a browser Blob source
    const sb = await openSlide(blobSource(new Blob([bytes as Uint8Array<ArrayBuffer>]), 'synth.svs'));
    expect(diff(await sb.readRegion(1, 17, 9, 100, 80), await s.readRegion(1, 17, 9, 100, 80)).max).toBe(0);
    if (OPENSLIDE) {
      const p = file('synth.svs');
      writeFileSync(p, bytes);
      const props = execFileSync('openslide-show-properties', [p], { encoding: 'utf8' });
      expect(props).toMatch(/openslide\.vendor: 'aperio'/);
      expect(props).toMatch(/openslide\.level-count: '2'/);
      execFileSync('openslide-write-png', [p, '100', '60', '0', '200', '150', file('svs.png')], { stdio: 'pipe' });
      const ours = await s.readRegion(0, 100, 60, 200, 150), theirs = decodeImage(readFileSync(file('svs.png')), 'svs.png');
      const d = diff(ours, theirs);
      expect(d.max).toBeLessThanOrEqual(4);
      expect(d.mean).toBeLessThan(0.5);
    }
  });
});

describe('resolution, JPEG helpers, errors', () => {
  const ifd = (tags: [number, number[]][]): Ifd => ({ offset: 8, index: 0, tags: new Map(tags) });
  it('reads OME PhysicalSizeX with its unit, and TIFF resolution in cm and inch', () => {
    const ome = (a: string) => `<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0"><Pixels ID="Pixels:0" ${a} SizeX="10"/></Image></OME>`;
    expect(readResolution(ifd([]), ome('PhysicalSizeX="0.5" PhysicalSizeY="0.25"'), 'ome')).toMatchObject({ mpp: 0.5, mppY: 0.25, source: 'ome' });
    expect(readResolution(ifd([]), ome('PhysicalSizeX="250" PhysicalSizeXUnit="nm"'), 'ome').mpp).toBeCloseTo(0.25, 12);
    expect(readResolution(ifd([]), ome('SizeY="3"'), 'ome')).toMatchObject({ mpp: null, source: null });
    expect(readResolution(ifd([[TAG.XResolution, [40000]], [TAG.ResolutionUnit, [3]]]), undefined, 'generic').mpp).toBeCloseTo(0.25, 12);
    expect(readResolution(ifd([[TAG.XResolution, [101600]], [TAG.ResolutionUnit, [2]]]), undefined, 'generic').mpp).toBeCloseTo(0.25, 12);
    expect(readResolution(ifd([[TAG.XResolution, [40000]], [TAG.ResolutionUnit, [1]]]), undefined, 'generic').reason).toMatch(/none/);
    expect(readResolution(ifd([]), 'Aperio Image Library|AppMag = 20', 'aperio').reason).toMatch(/MPP/);
  });

  it('splices JPEGTables into an abbreviated tile stream and takes the colour space from Photometric', () => {
    const tables = new Uint8Array([0xff, 0xd8, 0xff, 0xdb, 0, 3, 7, 0xff, 0xd9]);
    const tile = new Uint8Array([0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9]);
    expect(Array.from(spliceJpegTables(tables, tile))).toEqual([0xff, 0xd8, 0xff, 0xdb, 0, 3, 7, 0xff, 0xda, 0, 2, 0xff, 0xd9]);
    // Photometric decides the colour space: YCbCr converted, RGB taken as is
    const px = { width: 16, height: 16, data: new Uint8ClampedArray(16 * 16 * 4).map((_, i) => (i % 4 === 3 ? 255 : i % 4 === 0 ? 200 : 40)) };
    const j = encodeJpeg(px, 100);
    const f = { compression: 7, samplesPerPixel: 3, predictor: 1 };
    const ycc = decodeTile(j, { ...f, photometric: 6 }, 16, 16), raw = decodeTile(j, { ...f, photometric: 2 }, 16, 16);
    expect(Math.abs(ycc[0] - 200) + Math.abs(ycc[1] - 40) + Math.abs(ycc[2] - 40)).toBeLessThanOrEqual(6);
    // the stored samples are Y = 0.299 R + 0.587 G + 0.114 B = 88.3, Cb = 128 - 0.1687 R - 0.3313 G + 0.5 B = 101.0, Cr = 128 + 0.5 R - 0.4187 G - 0.0813 B = 208.0
    expect(Math.abs(raw[0] - 88) + Math.abs(raw[1] - 101) + Math.abs(raw[2] - 208)).toBeLessThanOrEqual(6);
  });

  it('marks the colour space for other decoders with an Adobe marker, and uses a given decoder', async () => {
    const j = encodeJpeg({ width: 8, height: 8, data: new Uint8ClampedArray(256).fill(200) }, 90);
    const m = markColourSpace(j, false);
    expect(Array.from(m.subarray(0, 18))).toEqual([0xff, 0xd8, 0xff, 0xee, 0, 14, 0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, 0]);
    expect(markColourSpace(m, true)).toBe(m); // already marked
    if (!VIPS) return;
    // vips writes Photometric RGB at Q >= 90 (no chroma subsampling) and YCbCr below
    for (const [f, flag] of [['jpeg.tif', 0], ['jpeg-ycc.tif', 1]] as const) {
      const seen: number[] = [];
      const s = await openSlide(await openFileSource(file(f)), {
        decodeJpeg: (stream, w, h) => {
          seen.push(stream[17]); // the transform flag inserted after SOI: 1 = YCbCr
          return decodeTile(stream, { compression: 7, photometric: stream[17] ? 6 : 2, samplesPerPixel: 3, predictor: 1 }, w, h);
        },
      });
      const a = await s.readRegion(0, 100, 100, 200, 200);
      const b = await (await open(file(f))).readRegion(0, 100, 100, 200, 200);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((v) => v === flag), f).toBe(true);
      expect(diff(a, b).max).toBe(0);
    }
  });

  it('LZW decodes the KwKwK case and stops at the output size', () => {
    // codes (9 bits): 65 ('A'), 258 (= 'AA', not in the table yet: KwKwK), 257 (end) -> "AAA"
    const codes = [65, 258, 257];
    const bits = codes.map((c) => c.toString(2).padStart(9, '0')).join('').padEnd(32, '0');
    const b = new Uint8Array(4).map((_, i) => parseInt(bits.slice(8 * i, 8 * i + 8), 2));
    expect(Array.from(lzwDecode(b, 10))).toEqual([65, 65, 65]);
    expect(Array.from(lzwDecode(b, 2))).toEqual([65, 65]);
  });

  it('refuses what is not a slide, naming it', async () => {
    await expect(openSlide(bytesSource(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'x.bin'))).rejects.toThrow(/x\.bin: not a TIFF/);
    const cut = encodeTiff({ width: 4, height: 4, data: new Uint8ClampedArray(64) }).subarray(0, 40);
    await expect(openSlide(bytesSource(cut, 'cut.tif'))).rejects.toThrow(/cut\.tif: truncated/);
    expect(existsSync('/dev/null')).toBe(true);
    await expect(openFileSource('/dev/null')).rejects.toThrow(/\/dev\/null/);
  });

  it('reads a sparse (never written, byte count 0) tile as white transparent', async () => {
    const t = new Uint8Array(16 * 16 * 3).fill(90);
    const bytes = writeTiff([{ entries: [[256, 4, [32]], [257, 4, [16]], [258, 3, [8, 8, 8]], [259, 3, [1]], [262, 3, [2]], [277, 3, [3]], [322, 3, [16]], [323, 3, [16]]], blobs: [t, new Uint8Array(0)], blobTags: [324, 325] }]);
    const s = await openSlide(bytesSource(bytes, 'sparse.tif'));
    const r = await s.readRegion(0, 14, 0, 4, 1);
    expect(Array.from(r.data)).toEqual([90, 90, 90, 255, 90, 90, 90, 255, 255, 255, 255, 0, 255, 255, 255, 0]);
  });

  it('reads a stripped flat TIFF as one level, exactly', async () => {
    const img = generateField({ width: 97, height: 61, seed: 3 }).image;
    const s = await openSlide(bytesSource(encodeTiff(img, { mpp: 0.5 }), 'flat.tif'));
    expect(s.levels).toHaveLength(1);
    expect(s.levels[0].tiled).toBe(false);
    expect(diff(await s.readRegion(0, 0, 0, 97, 61), img).max).toBe(0);
    expect(s.resolution.mpp).toBeCloseTo(0.5, 3);
  });
});
