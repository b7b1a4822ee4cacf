// npm run bench:slide [-- --side 40960 --regions 40 --region 1024 --compare 8192 --keep DIR]
// Lazy slide reading on a large generated pyramid: a 1024x1024 procedural H&E field repeated by
// `vips replicate` into a side x side image (default 40960 = 40 x 1024) saved by vips as a tiled
// (256x256) JPEG Q90 BigTIFF pyramid in one pipeline (no intermediate file), then random regions
// read at level 0 and at a low level. Prints tiles/s, megapixels/s and peak RSS (VmHWM), which
// should stay under 1 GB. With --compare N (default 8192; 0 = off) it also generates an N x N
// pyramid and decodes the same random regions with geotiff.js (GeoTIFF.fromSource over the same
// ByteSource, readRGB) and with ours (cache off), printing both tiles/s and their max difference.
// A benchmark, not a test: it asserts nothing. Needs `vips` (libvips-tools).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeoTIFF } from 'geotiff';
import { encodeTiff } from '../src/io/image.js';
import { openFileSource } from '../src/node/slide-file.js';
import { openSlide, type Slide } from '../src/slide/slide.js';
import type { ByteSource } from '../src/slide/source.js';
import { mulberry32 } from '../src/synth/random.js';
import { generateField } from '../src/synth/tissue.js';

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const int = (name: string, d: number) => {
  const v = Number(flag(name) ?? d);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  return v;
};
const SIDE = int('side', 40960), REGIONS = int('regions', 40), REGION = int('region', 1024), COMPARE = int('compare', 8192);
const keep = flag('keep');
const dir = keep ?? mkdtempSync(join(tmpdir(), 'mitoscan-bench-slide-'));
mkdirSync(dir, { recursive: true });

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.memoryUsage().rss;
}

function makePyramid(side: number, out: string): void {
  if (existsSync(out)) return console.log(`reusing ${out} (${mb(statSync(out).size)})`);
  const field = join(dir, 'field.tif');
  if (!existsSync(field)) writeFileSync(field, encodeTiff(generateField({ width: 1024, height: 1024, seed: 7 }).image, { mpp: 0.2456 }));
  const n = Math.ceil(side / 1024);
  const t = performance.now();
  execFileSync('vips', ['replicate', field, `${out}[tile,tile-width=256,tile-height=256,pyramid,compression=jpeg,Q=90,bigtiff]`, String(n), String(n)], { stdio: 'inherit' });
  console.log(`generated ${n * 1024}x${n * 1024} JPEG pyramid in ${((performance.now() - t) / 1000).toFixed(1)} s: ${mb(statSync(out).size)}`);
}

function regionsOf(slide: Slide, level: number, count: number, size: number, seed: number): [number, number, number, number][] {
  const L = slide.levels[level], rng = mulberry32(seed);
  const w = Math.min(size, L.width), h = Math.min(size, L.height);
  return Array.from({ length: count }, () => [Math.floor(rng() * (L.width - w + 1)), Math.floor(rng() * (L.height - h + 1)), w, h]);
}

function tilesTouched(slide: Slide, level: number, [x, y, w, h]: number[]): number {
  const L = slide.levels[level];
  return (Math.floor((x + w - 1) / L.tileWidth) - Math.floor(x / L.tileWidth) + 1) * (Math.floor((y + h - 1) / L.tileHeight) - Math.floor(y / L.tileHeight) + 1);
}

async function readBench(slide: Slide, level: number, regions: [number, number, number, number][]): Promise<void> {
  const d0 = slide.stats.tilesDecoded, t = performance.now();
  let px = 0;
  for (const r of regions) {
    const img = await slide.readRegion(level, ...r);
    px += img.width * img.height;
  }
  const s = (performance.now() - t) / 1000, tiles = slide.stats.tilesDecoded - d0;
  const L = slide.levels[level];
  console.log(`level ${level} (${L.width}x${L.height}, downsample ${L.downsample.toFixed(1)}): ${regions.length} regions of ${regions[0][2]}x${regions[0][3]} in ${s.toFixed(2)} s: ${(tiles / s).toFixed(0)} tiles/s decoded (${tiles} tiles, ${(tiles * L.tileWidth * L.tileHeight / 1e6 / s).toFixed(1)} MP/s decoded), ${(px / 1e6 / s).toFixed(1)} MP/s of regions; cache ${mb(slide.stats.cacheBytes)}, peak RSS ${mb(peakRss())}`);
}

async function compare(path: string): Promise<void> {
  const src = await openFileSource(path);
  const ours = await openSlide(src, { cacheBytes: 0 });
  const regions = regionsOf(ours, 0, 12, 512, 3);
  const tiles = regions.reduce((a, r) => a + tilesTouched(ours, 0, r), 0);
  // geotiff over the same ByteSource: a duck-typed BaseSource (fetch(slices) -> ArrayBuffer[])
  const gsrc = {
    fetch: (slices: { offset: number; length: number }[]) => Promise.all(slices.map(async (s) => (await (src as ByteSource).read(s.offset, s.length)).slice().buffer)),
    fileSize: src.size,
    close: async () => {},
  };
  const tiff = await GeoTIFF.fromSource(gsrc as never);
  const image = await tiff.getImage(0);
  let t = performance.now();
  const g: Uint8Array[] = [];
  for (const [x, y, w, h] of regions) g.push((await image.readRGB({ window: [x, y, x + w, y + h], interleave: true })) as unknown as Uint8Array);
  const gs = (performance.now() - t) / 1000;
  t = performance.now();
  const o: Uint8ClampedArray[] = [];
  for (const r of regions) o.push((await ours.readRegion(0, ...r)).data as Uint8ClampedArray);
  const os = (performance.now() - t) / 1000;
  let max = 0, sum = 0, n = 0;
  g.forEach((gi, k) => {
    for (let i = 0; i < gi.length / 3; i++)
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(gi[3 * i + c] - o[k][4 * i + c]);
        max = Math.max(max, d);
        sum += d;
        n++;
      }
  });
  console.log(`compare on ${ours.levels[0].width}^2 JPEG Q90 tiles (vips: Photometric RGB, 4:4:4), ${regions.length} regions of 512x512 = ${tiles} tile decodes each:`);
  console.log(`  geotiff.js 3.0.5 readRGB: ${(tiles / gs).toFixed(0)} tiles/s   ours (jpeg-js, cache off): ${(tiles / os).toFixed(0)} tiles/s   max |diff| ${max}, mean ${(sum / n).toFixed(3)}`);
  await ours.close();
}

console.log(`bench:slide in ${dir} (Node ${process.version})`);
if (COMPARE) {
  const small = join(dir, `compare-${COMPARE}.tif`);
  makePyramid(COMPARE, small);
  await compare(small);
}
const big = join(dir, `slide-${SIDE}.tif`);
makePyramid(SIDE, big);
const rss0 = peakRss();
let t = performance.now();
const slide = await openSlide(await openFileSource(big));
console.log(`opened in ${(performance.now() - t).toFixed(0)} ms: ${slide.levels.length} levels ${slide.levels.map((l) => `${l.width}x${l.height}`).join(', ')}; mpp ${slide.resolution.mpp}; peak RSS before reading ${mb(rss0)}`);
await readBench(slide, 0, regionsOf(slide, 0, REGIONS, REGION, 1));
const low = slide.bestLevelForDownsample(16);
await readBench(slide, low, regionsOf(slide, low, REGIONS, REGION, 2));
t = performance.now();
const top = slide.levels.length - 1;
await slide.readRegion(top, 0, 0, slide.levels[top].width, slide.levels[top].height);
console.log(`whole top level ${slide.levels[top].width}x${slide.levels[top].height} in ${(performance.now() - t).toFixed(0)} ms`);
console.log(`peak RSS ${mb(peakRss())} (target < 1024 MiB)`);
await slide.close();
if (!keep) rmSync(dir, { recursive: true, force: true });
