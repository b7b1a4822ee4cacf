// Whole-slide detection (issue 12): a generated field written as a vips pyramid and detected as a
// slide tile by tile (tiles of 256, one global suppression) gives EXACTLY the detections (positions,
// order, float32 scores) of detectMitoses on the same pixels as one flat image; a coarser pyramid
// level is chosen when it matches the model's µm/px; shards and a journal change nothing. The CLI:
// a run SIGKILLed mid-slide and resumed with --resume writes the CSV of an uninterrupted run, and
// 3 --shard runs + `mitoscan merge` write it byte for byte. Tiny random-weight net (window 10,
// 0.5 µm/px: d = 4.9 px), lossless (Deflate) pyramids.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskFilter } from '../engine/ops/image.js';
import { detectMitoses, probabilityMap, SmoothedMap } from '../src/detect/detector.js';
import { encodeTiff } from '../src/io/image.js';
import { initModel, type Model } from '../src/model/model-file.js';
import type { NetSpec } from '../src/model/spec.js';
import { saveModel } from '../src/node/model-io.js';
import { openFileSource } from '../src/node/slide-file.js';
import { readJournal } from '../src/node/slide-journal.js';
import { detectSlide, type KeptPixels, slideDetections, suppressKept, type TileJournal } from '../src/slide/detect-slide.js';
import { openSlide, type RgbaImage } from '../src/slide/slide.js';
import { generateField } from '../src/synth/tissue.js';
import { bundleCli } from './helpers/cli.js';
import { useEngine } from './helpers/gpu.js';
import { randomArray } from './helpers/reference.js';

const VIPS = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v vips'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();
if (!VIPS) console.warn('slide-detect: `vips` (libvips-tools) is not installed: the slide tests are skipped; `apt-get install libvips-tools` to run them');

const ROOT = resolve(import.meta.dirname, '..');
// under the repository (the CLI bundle must find node_modules/webgpu)
const TMP = join(ROOT, 'dist', `test-slide-detect-${process.pid}`);
const CLI = join(TMP, 'cli.mjs');
const ctx = useEngine();

const tiny: NetSpec = {
  name: 'tiny-even',
  input: { channels: 3, size: 10 },
  layers: [{ type: 'conv', maps: 4, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};

function tinyModel(seed: number, spec: NetSpec = tiny): Model {
  const m = initModel(spec, seed, { umPerPixel: 0.5 });
  m.params.forEach((p, i) => p.bias.set(randomArray(p.bias.length, seed + i, -0.3, 0.3)));
  m.params.forEach((p) => p.weight.forEach((v, i) => (p.weight[i] = 2 * v)));
  return m;
}

type Det = { x: number; y: number; score: number };
function expectSame(got: Det[], want: Det[], what: string): void {
  expect(got.length, `${what}: number of detections`).toBe(want.length);
  want.forEach((w, k) => {
    const g = got[k];
    if (g.x !== w.x || g.y !== w.y || g.score !== w.score) expect.fail(`${what}: detection ${k} is ${JSON.stringify(g)}, expected ${JSON.stringify(w)}`);
  });
}

function vipsPyramid(src: string, dst: string, tile = 256): void {
  execFileSync('vips', ['tiffsave', src, dst, '--tile', '--tile-width', `${tile}`, '--tile-height', `${tile}`, '--pyramid', '--compression', 'deflate', '--predictor', 'none'], { stdio: 'pipe' });
}

/** A threshold with a handful of detections: Mf's quantile q. */
async function thresholdFor(model: Model, image: RgbaImage, q: number): Promise<number> {
  const e = ctx.e;
  const r = await detectMitoses(e, [model], image, { keepMap: true, threshold: 0.999999 });
  const sm = SmoothedMap.create(e, r.map!, r.radius);
  const mf = Float32Array.from(await sm.read()).sort();
  sm.release();
  return mf[Math.floor(q * mf.length)];
}

const model = tinyModel(31);
let field: RgbaImage;
let T = 0;

beforeAll(async () => {
  mkdirSync(TMP, { recursive: true });
  field = generateField({ width: 1200, height: 900, seed: 7, mpp: 0.5, mitoses: 6 }).image;
  writeFileSync(join(TMP, 'flat.tif'), encodeTiff(field, { mpp: 0.5 }));
  writeFileSync(join(TMP, 'flat25.tif'), encodeTiff(field, { mpp: 0.25 }));
  if (VIPS) {
    vipsPyramid(join(TMP, 'flat.tif'), join(TMP, 'slide.tif'));
    vipsPyramid(join(TMP, 'flat25.tif'), join(TMP, 'slide25.tif'));
  }
  T = await thresholdFor(model, field, 0.9995);
}, 300_000);
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

async function open(name: string) {
  return openSlide(await openFileSource(join(TMP, name)));
}

describe.runIf(VIPS)('detectSlide', () => {
  it('tiles of 256 over a 1200x900 pyramid == detectMitoses on the flat image (positions, order, scores)', async () => {
    const e = ctx.e;
    const slide = await open('slide.tif');
    try {
      expect(slide.levels.length).toBeGreaterThan(1);
      const want = (await detectMitoses(e, [model], field, { threshold: T })).detections;
      expect(want.length, 'a handful of detections').toBeGreaterThanOrEqual(3);
      expect(want.length).toBeLessThan(200);
      const progress: number[] = [];
      const got = await detectSlide(e, [model], slide, { tileSize: 256, tissue: false, threshold: T, onProgress: (p) => progress.push(p.done) });
      expect(got.plan.level).toBe(0);
      expect(got.plan.scale).toBe(1);
      expect(got.plan.tiles.length).toBe(5 * 4);
      expect(progress.at(-1)).toBe(20);
      expectSame(got.detections, want, 'slide vs flat');
      // detections near the seams exist (the test checks what it claims)
      const nearSeam = want.filter((d) => [256, 512, 768, 1024].some((s) => Math.abs(d.x - s) < 10) || [256, 512, 768].some((s) => Math.abs(d.y - s) < 10));
      console.log(`slide-detect: ${want.length} detections, ${nearSeam.length} within 10 px of a seam; ${[...got.kept.values()].reduce((a, k) => a + k.score.length, 0)} kept pixels`);

      // 3 shards, each with its own journal, and their union == one run
      const parts: Map<number, KeptPixels>[] = [];
      for (let k = 0; k < 3; k++) parts.push((await detectSlide(e, [model], slide, { tileSize: 256, tissue: false, threshold: T, shard: { k, n: 3 } })).kept);
      expect(parts.map((p) => p.size)).toEqual([7, 7, 6]);
      expectSame(slideDetections(parts.flatMap((p) => [...p.values()]), got.plan), want, '3 shards merged');

      // a journal holding half the tiles: nothing recomputed, nothing lost
      const store = new Map<number, KeptPixels>([...got.kept].filter(([id]) => id % 2 === 0));
      const journal: TileJournal = { done: (id) => store.has(id), kept: (id) => store.get(id)!, record: (id, k) => void store.set(id, k) };
      const resumed = await detectSlide(e, [model], slide, { tileSize: 256, tissue: false, threshold: T, journal });
      expect([resumed.resumed, resumed.computed]).toEqual([10, 10]);
      expect(store.size).toBe(20);
      expectSame(resumed.detections, want, 'resumed from a journal');

      // map stride 2: an even halo and even cores put every tile on the flat image's grid of even
      // pixels, and each tile computes a pixel past its end, so the slide still equals the flat image
      // and does not depend on the tile size (the seams move, the detections do not)
      const s256 = await detectSlide(e, [model], slide, { tileSize: 256, tissue: false, threshold: T, mapStride: 2 });
      const s160 = await detectSlide(e, [model], slide, { tileSize: 160, tissue: false, threshold: T, mapStride: 2 });
      expect([s256.plan.mapStride, s256.plan.halo % 2]).toEqual([2, 0]);
      expect(s256.detections.length, 'a handful of detections').toBeGreaterThanOrEqual(3);
      expect(s256.detections.map((d) => [d.x, d.y]), 'stride 2 detects differently from stride 1').not.toEqual(want.map((d) => [d.x, d.y]));
      expectSame(s160.detections, s256.detections, 'map stride 2: tiles of 160 vs 256');
      const flat2 = (await detectMitoses(e, [model], field, { threshold: T, mapStride: 2 })).detections;
      expectSame(s256.detections, flat2, 'map stride 2: slide vs flat');
      // the same with an odd window whose radius + disk radius is even (13 px: 6 + 4 = 10): at the
      // core's last column the disk's edge pixel is off the grid and interpolates towards the grid
      // pixel beyond it, whose window needs one more pixel of halo (12, not 10)
      const m12 = tinyModel(37, { ...tiny, name: 'tiny-13', input: { channels: 3, size: 13 }, layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 2 }] });
      const g12 = await detectSlide(e, [m12], slide, { tileSize: 256, tissue: false, threshold: T, mapStride: 2 });
      expect(g12.plan.halo).toBe(12);
      const f12 = (await detectMitoses(e, [m12], field, { threshold: T, mapStride: 2 })).detections;
      expect(f12.length, 'tiny-13: a handful of detections').toBeGreaterThanOrEqual(3);
      expectSame(g12.detections, f12, 'map stride 2, 13 px window: slide vs flat');
      // and pixel for pixel: every core pixel's smoothed value (threshold 0 keeps them all) equals
      // the flat image's Mf, the seams' rows and columns included
      const all12 = await detectSlide(e, [m12], slide, { tileSize: 256, tissue: false, threshold: 0, mapStride: 2 });
      const pm = await probabilityMap(e, [m12], field, { mapStride: 2 });
      const mt = e.tensor([pm.height, pm.width], pm.data);
      const ft = diskFilter(e, mt, all12.plan.radius);
      const mf = await ft.read();
      mt.release();
      ft.release();
      let worst = 0, pixels = 0;
      for (const k of all12.kept.values())
        for (let i = 0; i < k.score.length; i++, pixels++) worst = Math.max(worst, Math.abs(k.score[i] - mf[k.y[i] * pm.width + k.x[i]]));
      expect(pixels).toBe(pm.width * pm.height);
      expect(worst, 'largest |Mf slide - Mf flat|').toBeLessThan(1e-6);
    } finally {
      await slide.close();
    }
  }, 300_000);

  it('reads the pyramid level at the model µm/px (level 1 of a 0.25 µm/px slide) == detectMitoses on that level', async () => {
    const e = ctx.e;
    const slide = await open('slide25.tif');
    try {
      const L1 = slide.levels[1];
      const img = await slide.readRegion(1, 0, 0, L1.width, L1.height);
      const flat = (await detectMitoses(e, [model], img, { threshold: T })).detections;
      const got = await detectSlide(e, [model], slide, { tileSize: 256, tissue: false, threshold: T });
      expect([got.plan.level, got.plan.scale]).toEqual([1, 1]);
      const k = L1.downsample;
      expectSame(got.detections, flat.map((d) => ({ x: Math.round((d.x + 0.5) * k - 0.5), y: Math.round((d.y + 0.5) * k - 0.5), score: d.score })), 'level 1');
      // a region (level-0 px) keeps only its own tiles' pixels
      const reg = await detectSlide(e, [model], slide, { tileSize: 256, tissue: false, threshold: T, region: { x: 0, y: 0, w: 600, h: 450 } });
      expect(reg.plan.tiles.length).toBe(2);
      for (const d of reg.detections) expect(d.x < 600 && d.y < 450).toBe(true);
    } finally {
      await slide.close();
    }
  }, 300_000);

  it('suppressKept is the greedy rule: ties by (y, x), distance < r', () => {
    const k: KeptPixels = { x: [5, 3, 10, 20, 0], y: [0, 0, 0, 0, 0], score: [0.5, 0.5, 0.9, 0.5, 0.1] };
    expect(suppressKept([k], 5)).toEqual([
      { x: 10, y: 0, score: 0.9 },
      { x: 3, y: 0, score: 0.5 },
      { x: 20, y: 0, score: 0.5 },
    ]);
    expect(suppressKept([k], 5, { threshold: 0.5 })).toEqual([{ x: 10, y: 0, score: 0.9 }]);
  });
});

// ------------------------------------------------------------------ the CLI

interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], onSpawn?: (kill: () => void) => void): Promise<Child> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: TMP, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', fail);
    p.on('exit', (code, signal) => done({ code, signal, stdout, stderr }));
    onSpawn?.(() => p.kill('SIGKILL'));
  });
}

const tileLines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.startsWith('{"t":')).length : 0);

describe.runIf(VIPS)('mitoscan detect on a slide: --resume after SIGKILL, --shard + merge', () => {
  const base = () => ['detect', 'small.tif', '--model', 'net.mitoscan', '--threshold', `${T}`, '--tile', '32'];
  beforeAll(async () => {
    await bundleCli(CLI);
    await saveModel(join(TMP, 'net.mitoscan'), model);
    writeFileSync(join(TMP, 'small.tif'), encodeTiff(cropTo(field, 480, 360), { mpp: 0.5 }));
    vipsPyramid(join(TMP, 'small.tif'), join(TMP, 'small-pyr.tif'), 128);
    rmSync(join(TMP, 'small.tif'));
    execFileSync('mv', [join(TMP, 'small-pyr.tif'), join(TMP, 'small.tif')]);
  }, 300_000);

  it('a run killed mid-slide resumes with --resume to the uninterrupted CSV; 3 shards + merge == one run byte for byte', async () => {
    const t0 = Date.now();
    const full = await cli([...base(), '--out', 'full']);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/small: \d+ mitoses; hotspot \(2 mm²\)|small: no mitoses found/);
    for (const x of ['csv', 'geojson', 'heatmap.png', 'hotspot.json', 'journal.jsonl']) expect(existsSync(join(TMP, 'full', `small.${x}`)), x).toBe(true);
    const want = readFileSync(join(TMP, 'full', 'small.csv'), 'utf8');
    const total = tileLines(join(TMP, 'full', 'small.journal.jsonl'));
    expect(total).toBe(15 * 12);
    expect(want.split('\n').length - 2, 'detections in the CSV').toBeGreaterThanOrEqual(1);
    const hs = JSON.parse(readFileSync(join(TMP, 'full', 'small.hotspot.json'), 'utf8'));
    expect(hs.window.areaMm2).toBe(2);
    expect(hs.mitoticScore).toBeGreaterThanOrEqual(1);
    const tFull = Date.now() - t0;

    // killed once the journal holds some tiles
    const jpath = join(TMP, 'killed', 'small.journal.jsonl');
    const killed = await cli([...base(), '--out', 'killed'], (kill) => {
      const poll = setInterval(() => {
        if (tileLines(jpath) >= 20) {
          clearInterval(poll);
          kill();
        }
      }, 10);
    });
    expect(killed.signal, 'the run was killed before it finished').toBe('SIGKILL');
    const before = await readJournal(jpath);
    expect(before.tiles.size).toBeGreaterThanOrEqual(20);
    expect(before.tiles.size).toBeLessThan(total);
    const resumed = await cli([...base(), '--out', 'killed', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const m = /(\d+) tile\(s\) computed, (\d+) from the journal/.exec(resumed.stderr)!;
    expect(+m[2], 'every journalled tile reused').toBe(before.tiles.size);
    expect(+m[1] + +m[2]).toBe(total);
    expect(readFileSync(join(TMP, 'killed', 'small.csv'), 'utf8')).toBe(want);
    const after = await readJournal(jpath);
    expect(after.tiles.size).toBe(total);

    // 3 shards + merge
    for (let k = 0; k < 3; k++) {
      const r = await cli([...base(), '--shard', `${k}/3`, '--out', `part-${k}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(join(TMP, `part-${k}`, 'small.csv'))).toBe(false);
    }
    const partial = await cli(['merge', 'part-0', 'part-2', '--out', 'merged']);
    expect(partial.code).toBe(1);
    expect(partial.stderr).toContain('shard(s) 1/3 not given');
    const merged = await cli(['merge', 'part-0', 'part-1', 'part-2', '--out', 'merged']);
    expect(merged.code, merged.stderr).toBe(0);
    expect(readFileSync(join(TMP, 'merged', 'small.csv'), 'utf8')).toBe(want);
    expect(readFileSync(join(TMP, 'merged', 'small.geojson'), 'utf8')).toBe(readFileSync(join(TMP, 'full', 'small.geojson'), 'utf8'));
    expect(readFileSync(join(TMP, 'merged', 'small.hotspot.json'), 'utf8')).toBe(readFileSync(join(TMP, 'full', 'small.hotspot.json'), 'utf8'));
    // --resume with other settings is refused
    const again = await cli([...base(), '--out', 'full', '--resume', '--threshold', '0.123']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('cannot --resume: it was written with other settings');
    // an edited journal: a tile line whose values are not pixels, or whose pixel lies outside the
    // slide, is refused (it would become a detection); a file that is not a journal says so
    const lines = readFileSync(join(TMP, 'full', 'small.journal.jsonl'), 'utf8').split('\n');
    const tileId = JSON.parse(lines[1]).t;
    const tampered = (dir: string, line: string) => {
      mkdirSync(join(TMP, dir), { recursive: true });
      writeFileSync(join(TMP, dir, 'small.journal.jsonl'), [lines[0], line, ...lines.slice(2)].join('\n'));
      return join(TMP, dir, 'small.journal.jsonl');
    };
    const badValues = tampered('edit-values', JSON.stringify({ t: tileId, x: [5], y: ['a'], s: [5] }));
    await expect(readJournal(badValues)).rejects.toThrow(/line 2 of the journal is not a tile of this slide's plan/);
    const r1 = await cli([...base(), '--out', 'edit-values', '--resume']);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/small\.journal\.jsonl: line 2 of the journal is not a tile/);
    tampered('edit-far', JSON.stringify({ t: tileId, x: [1e9], y: [5], s: [0.99] }));
    const r2 = await cli([...base(), '--out', 'edit-far', '--resume']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/small: a detection at \(\d+, \d+\) lies outside the slide/);
    mkdirSync(join(TMP, 'garbage'), { recursive: true });
    writeFileSync(join(TMP, 'garbage', 'small.journal.jsonl'), 'this is not a journal');
    await expect(readJournal(join(TMP, 'garbage', 'small.journal.jsonl'))).rejects.toThrow(/not a mitoscan slide journal \(its first line is not a journal header/);
    console.log(`slide-detect CLI: one run ${(tFull / 1000).toFixed(1)} s, all ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 600_000);

  it('a slide without µm/px needs --mpp', async () => {
    writeFileSync(join(TMP, 'nompp-flat.tif'), encodeTiff(cropTo(field, 200, 150)));
    vipsPyramid(join(TMP, 'nompp-flat.tif'), join(TMP, 'nompp.tif'), 64);
    const r = spawnSync(process.execPath, [CLI, 'detect', 'nompp.tif', '--model', 'net.mitoscan', '--out', 'nompp'], { cwd: TMP, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('give it with --mpp');
  }, 300_000);
});

function cropTo(img: RgbaImage, w: number, h: number): RgbaImage {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) out.set(img.data.subarray(4 * y * img.width, 4 * (y * img.width + w)), 4 * y * w);
  return { width: w, height: h, data: out };
}
