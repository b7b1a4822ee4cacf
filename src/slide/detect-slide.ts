// The detector of Cireşan et al. 2013 over a whole slide (issue 12): the dense map, the disk
// smoothing and the greedy suppression of src/detect/detector.ts, computed tile by tile over the
// tissue of a pyramidal slide, with ONE suppression over the kept pixels of all tiles, so that the
// result equals detecting the same pixels as one image (no mitosis lost or doubled at the seams).
// Browser-safe (no node: imports).
//
// Geometry. The read level L is the level whose µm/px (mpp0 x downsample) is closest to, but not
// coarser than, the model's (level 0 when every level is coarser); its pixels are resampled to the
// model's µm/px (rescaleToMpp) when they differ. The region (the whole level, or opts.region given
// in level-0 px) is cut into cores of T x T level pixels (T = opts.tileSize); the cores partition
// it. Each core is read WITH a halo h = R + RM (R = the net's window radius, RM = the smoothing
// disk's radius in pixels, floor(d); in level pixels h*s + 2 when resampling by s level px per model
// px) and in ONE shape for every tile (one set of compiled GPU pipelines): pixels beyond the slide
// are mirrored at the slide's border without repeating the edge, as denseMap pads a whole image.
// On that input:
//   M   = the averaged dense map (every net x variant of the preset), exact on the core + RM since
//         every such pixel's window lies inside the input; M := 0 where the pixel is off the slide
//         (the whole-image disk filter sees zeros there);
//   Mf  = diskFilter(M, d) (zero border): on the core this sums exactly the values, in exactly the
//         order, of the whole-image kernel (see smoothTiled in src/detect/detector.ts), so bit for
//         bit the same floats;
//   kept = every core pixel with Mf > t, as (x, y, score) in model-resolution slide coordinates.
// Then the greedy suppression over all kept pixels of all tiles: sorted by score (descending), ties
// by (y, x) (the row-major order of greedySuppression), each taken unless one taken before lies at
// distance < 2d (dx² + dy² < (2d)² in float64: greedySuppression's disk spans, exactly). Without
// resampling this is detectMitoses on the level image, detection for detection. With resampling each
// tile is resampled on its own (a sub-pixel phase per tile near the seams; positions are kept as
// fractional model pixels, and duplicates at a seam suppress each other).
//
// Stain-normalised models: the Reinhard source statistics come from the tissue of the low level the
// mask is made from (one set for the whole slide, so every tile gets the same per-pixel transfer).
import type { Engine } from '../../engine/engine.js';
import { labStats, type LabStats } from '../../engine/ops/color.js';
import { diskFilter, diskSpans } from '../../engine/ops/image.js';
import { PRESETS, smoothingRadiusPx, type Preset } from '../detect/detector.js';
import type { Detection } from '../detect/results.js';
import { modelThreshold } from '../detect/threshold.js';
import { rescaleToMpp } from '../io/image.js';
import { checkMapStride, denseMap, reflectIndex, type RgbaImage } from '../model/dense.js';
import type { Model } from '../model/model-file.js';
import { Network } from '../model/network.js';
import { windowRadius } from '../model/spec.js';
import { transferStain } from '../model/stain.js';
import type { TissueMask } from './hotspot.js';
import type { Slide } from './slide.js';
import { slideOverview, slideTissueMask } from './tissue.js';

/** Pixels kept from tiles: model-resolution slide coordinates (see SlidePlan.toLevel0) and Mf (float32 values). */
export interface KeptPixels {
  x: number[];
  y: number[];
  score: number[];
}

export interface SlideTile {
  /** Grid index ty * gridWidth + tx (stable for a given plan). */
  id: number;
  /** The core, in read-level pixels: [x0, x1) x [y0, y1). */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface SlideRegion {
  /** Level-0 pixels. */
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface SlidePlan {
  level: number;
  /** Level-0 px per read-level px. */
  downsample: number;
  /** µm per level-0 pixel, the read level's and the model's. */
  mpp0: number;
  levelMpp: number;
  modelMpp: number;
  /** Read-level px per model px (1 = no resampling). */
  scale: number;
  /** Level-0 px per model px (scale x downsample): level-0 x = round((x + 0.5) * toLevel0 - 0.5). */
  toLevel0: number;
  /** The region in read-level px, [x0, x1) x [y0, y1). */
  region: { x0: number; y0: number; x1: number; y1: number };
  tileSize: number;
  /** Read halo in level px. */
  halo: number;
  /** d in model px; the suppression keeps detections >= 2d apart. */
  radius: number;
  threshold: number;
  preset: Preset;
  /** The dense maps' stride (src/model/dense.ts; 1 = exact). */
  mapStride: number;
  gridWidth: number;
  gridHeight: number;
  /** The tiles to process, in order (those over tissue, unless tissue detection is off). */
  tiles: SlideTile[];
  /** All tiles of the grid over the region. */
  gridTiles: number;
  mask?: TissueMask & { threshold: number; level: number };
}

export interface SlideProgress {
  /** Tiles of this run's share done (computed + resumed) and in all. */
  done: number;
  total: number;
  computed: number;
  resumed: number;
  elapsedS: number;
  /** Seconds left at the rate of the tiles computed so far (NaN before the first). */
  etaS: number;
  keptPixels: number;
}

export interface TileJournal {
  /** True when `tileId` was done (in an earlier run): its pixels come from kept(tileId). */
  done(tileId: number): boolean;
  kept(tileId: number): KeptPixels;
  /** Called once per tile computed, before the next one starts; a run killed after it loses nothing of that tile. */
  record(tileId: number, kept: KeptPixels): void | Promise<void>;
}

export interface DetectSlideOptions {
  preset?: Preset;
  /** As the detector's mapStride (default 1: the nets at every pixel). At 2 the grid of computed
   * pixels starts at each tile's read origin, and the halo is made even: with an even tileSize and
   * region origin (and no resampling) every tile samples the same grid of the slide, so the
   * detections do not depend on the tile size. */
  mapStride?: number;
  /** Default: the model's recorded threshold, else the paper's. */
  threshold?: number;
  /** Core side in read-level px (default 512). */
  tileSize?: number;
  /** Dense-evaluation tile inside a slide tile (denseMap tileSize; default automatic). */
  denseTile?: number;
  maxBytes?: number;
  /** Level-0 px; default: the whole slide. */
  region?: SlideRegion;
  /** Process only tiles over tissue (default true; a region is still limited to its tissue). Or a mask to use. */
  tissue?: boolean | (TissueMask & { threshold: number; level: number });
  /** µm per level-0 pixel; default slide.resolution.mpp (required when the file does not say). */
  mpp?: number;
  /** Process the tiles whose index (in plan.tiles) % n == k. */
  shard?: { k: number; n: number };
  journal?: TileJournal;
  onProgress?: (p: SlideProgress) => void;
  /** Resampler (default rescaleToMpp). */
  rescale?: (image: RgbaImage, fromMpp: number, toMpp: number) => RgbaImage;
}

export interface SlideDetections {
  plan: SlidePlan;
  /** Level-0 px, suppression order (score descending). For a shard: of its own tiles only. */
  detections: Detection[];
  /** The kept pixels of this run's tiles, by tile id. */
  kept: Map<number, KeptPixels>;
  computed: number;
  resumed: number;
  seconds: number;
}

const DEFAULT_TILE = 512;

/** The read level and the resampling (see the top of the file). */
export function chooseLevel(slide: Slide, mpp0: number, modelMpp: number): { level: number; levelMpp: number; scale: number } {
  let level = 0;
  for (let l = 0; l < slide.levels.length; l++) {
    const m = mpp0 * slide.levels[l].downsample;
    if (m <= modelMpp * (1 + 1e-6) && m > mpp0 * slide.levels[level].downsample) level = l;
  }
  const levelMpp = mpp0 * slide.levels[level].downsample;
  const scale = Math.abs(levelMpp - modelMpp) / modelMpp > 1e-6 ? modelMpp / levelMpp : 1;
  return { level, levelMpp, scale };
}

function checkModels(models: readonly Model[]): void {
  if (!models.length) throw new Error('detectSlide: no model given');
  for (const m of models)
    if (Math.abs(m.umPerPixel - models[0].umPerPixel) > 1e-9) throw new Error(`detectSlide: the nets of an ensemble must share one resolution (${models[0].umPerPixel} vs ${m.umPerPixel} µm/px)`);
}

/** The tiles, level and geometry of a slide detection (reads the tissue mask's level when tissue is on). */
export async function planSlide(slide: Slide, models: readonly Model[], opts: DetectSlideOptions = {}): Promise<SlidePlan> {
  checkModels(models);
  const mpp0 = opts.mpp ?? slide.resolution.mpp;
  if (mpp0 == null || !(mpp0 > 0)) {
    throw new Error(`${slide.name}: the slide does not say its µm per pixel${slide.resolution.reason ? ` (${slide.resolution.reason})` : ''}; give it (--mpp, e.g. 0.25 for a 40x scan)`);
  }
  const preset = opts.preset ?? 'DNNf1';
  if (!Object.hasOwn(PRESETS, preset)) throw new Error(`detectSlide: unknown preset '${preset}'`);
  const mapStride = opts.mapStride ?? 1;
  for (const m of models) checkMapStride(m.spec, mapStride);
  const modelMpp = models[0].umPerPixel;
  const { level, levelMpp, scale } = chooseLevel(slide, mpp0, modelMpp);
  const L = slide.levels[level];
  const downsample = L.downsample;
  const tileSize = opts.tileSize ?? DEFAULT_TILE;
  if (!Number.isInteger(tileSize) || tileSize < 8) throw new Error(`detectSlide: tileSize must be an integer >= 8, got ${tileSize}`);
  const radius = smoothingRadiusPx(modelMpp);
  const threshold = opts.threshold ?? modelThreshold(models[0]);
  if (!(threshold >= 0)) throw new Error(`detectSlide: threshold must be >= 0, got ${threshold}`);
  const nets = models.slice(0, Math.min(models.length, PRESETS[preset].nets));
  const R = Math.max(...nets.map((m) => windowRadius(m.spec)));
  const RM = Math.max(0, diskSpans(radius, false).RM);
  // at map stride s (no resampling): s - 1 more (a pixel at the disk's edge may interpolate towards
  // a grid pixel that far out, whose window must still lie inside the read), rounded up to a
  // multiple of s, so that with cores at multiples of s every tile's read origin, and so its grid
  // of computed pixels, is one grid of the slide
  const halo0 = scale === 1 ? R + RM : Math.ceil((R + RM) * scale) + 2;
  const halo = scale === 1 && mapStride > 1 ? Math.ceil((halo0 + mapStride - 1) / mapStride) * mapStride : halo0;
  // the region in level px
  let region = { x0: 0, y0: 0, x1: L.width, y1: L.height };
  if (opts.region) {
    const { x, y, w, h } = opts.region;
    if (![x, y, w, h].every(Number.isFinite) || w <= 0 || h <= 0) throw new Error(`detectSlide: bad region ${JSON.stringify(opts.region)}`);
    region = {
      x0: Math.max(0, Math.floor(x / downsample)),
      y0: Math.max(0, Math.floor(y / downsample)),
      x1: Math.min(L.width, Math.ceil((x + w) / downsample)),
      y1: Math.min(L.height, Math.ceil((y + h) / downsample)),
    };
    if (region.x1 <= region.x0 || region.y1 <= region.y0) throw new Error(`detectSlide: the region ${x},${y},${w},${h} lies outside the ${slide.levels[0].width}x${slide.levels[0].height} slide`);
  }
  const rw = region.x1 - region.x0, rh = region.y1 - region.y0;
  const gridWidth = Math.ceil(rw / tileSize), gridHeight = Math.ceil(rh / tileSize);
  const mask = opts.tissue === false ? undefined : opts.tissue === undefined || opts.tissue === true ? await slideTissueMask(slide) : opts.tissue;
  const tiles: SlideTile[] = [];
  for (let ty = 0; ty < gridHeight; ty++)
    for (let tx = 0; tx < gridWidth; tx++) {
      const t = {
        id: ty * gridWidth + tx,
        x0: region.x0 + tx * tileSize,
        y0: region.y0 + ty * tileSize,
        x1: Math.min(region.x1, region.x0 + (tx + 1) * tileSize),
        y1: Math.min(region.y1, region.y0 + (ty + 1) * tileSize),
      };
      if (!mask || onTissue(mask, t, downsample)) tiles.push(t);
    }
  return {
    level, downsample, mpp0, levelMpp, modelMpp, scale, toLevel0: scale * downsample, region, tileSize, halo, radius, threshold, preset, mapStride,
    gridWidth, gridHeight, tiles, gridTiles: gridWidth * gridHeight, mask,
  };
}

/** Whether any mask pixel under the tile's core (level-0 footprint) is tissue. */
function onTissue(mask: TissueMask, t: SlideTile, downsample: number): boolean {
  const i0 = Math.max(0, Math.floor((t.x0 * downsample) / mask.downsample)), i1 = Math.min(mask.width, Math.ceil((t.x1 * downsample) / mask.downsample));
  const j0 = Math.max(0, Math.floor((t.y0 * downsample) / mask.downsample)), j1 = Math.min(mask.height, Math.ceil((t.y1 * downsample) / mask.downsample));
  for (let j = j0; j < j1; j++) for (let i = i0; i < i1; i++) if (mask.data[j * mask.width + i]) return true;
  return false;
}

/** The tiles of a shard: index % n == k (all tiles without a shard). */
export function shardTiles(tiles: readonly SlideTile[], shard?: { k: number; n: number }): SlideTile[] {
  if (!shard) return [...tiles];
  const { k, n } = shard;
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(k) && k >= 0 && k < n)) throw new Error(`detectSlide: bad shard ${k}/${n} (need 0 <= k < n)`);
  return tiles.filter((_, i) => i % n === k);
}

/**
 * The greedy suppression over kept pixels (any order, any number of parts): sorted by score
 * descending, ties by (y, x); each taken unless one taken before lies at distance < `radius`
 * (dx² + dy² < radius² in float64). Coordinates stay as given (model-resolution px).
 */
export function suppressKept(parts: Iterable<KeptPixels>, radius: number, opts: { threshold?: number; maxDetections?: number } = {}): Detection[] {
  if (!(Number.isFinite(radius) && radius > 0)) throw new Error(`suppressKept: radius must be a finite number > 0, got ${radius}`);
  const t = opts.threshold ?? -Infinity;
  const max = opts.maxDetections ?? Infinity;
  const xs: number[] = [], ys: number[] = [], ss: number[] = [];
  for (const p of parts)
    for (let i = 0; i < p.score.length; i++)
      if (p.score[i] > t) (xs.push(p.x[i]), ys.push(p.y[i]), ss.push(p.score[i]));
  const order = Array.from({ length: ss.length }, (_, i) => i);
  order.sort((a, b) => ss[b] - ss[a] || ys[a] - ys[b] || xs[a] - xs[b]);
  const r2 = radius * radius;
  const cell = radius;
  const grid = new Map<number, number[]>(); // taken detections by cell
  const key = (cx: number, cy: number) => cy * 4_194_304 + cx; // cells up to 2^22 across
  const out: Detection[] = [];
  for (const i of order) {
    if (out.length >= max) break;
    const x = xs[i], y = ys[i];
    const cx = Math.floor(x / cell), cy = Math.floor(y / cell);
    let dead = false;
    for (let b = -1; b <= 1 && !dead; b++)
      for (let a = -1; a <= 1 && !dead; a++)
        for (const k of grid.get(key(cx + a, cy + b)) ?? []) {
          const dx = out[k].x - x, dy = out[k].y - y;
          if (dx * dx + dy * dy < r2) {
            dead = true;
            break;
          }
        }
    if (dead) continue;
    const kk = key(cx, cy);
    (grid.get(kk) ?? grid.set(kk, []).get(kk)!).push(out.length);
    out.push({ x, y, score: ss[i] });
  }
  return out;
}

/** Model-resolution detections to level-0 px (the rule of detectMitoses: round((x + 0.5) * scale - 0.5)). */
export function toLevel0(dets: readonly Detection[], plan: Pick<SlidePlan, 'toLevel0'>): Detection[] {
  const k = plan.toLevel0;
  return dets.map((d) => ({ x: Math.round((d.x + 0.5) * k - 0.5), y: Math.round((d.y + 0.5) * k - 0.5), score: d.score }));
}

/** The slide's detections from the kept pixels of a plan's tiles (the global suppression). */
export function slideDetections(parts: Iterable<KeptPixels>, plan: Pick<SlidePlan, 'toLevel0' | 'radius' | 'threshold'>): Detection[] {
  return toLevel0(suppressKept(parts, 2 * plan.radius, { threshold: plan.threshold }), plan);
}

/** Source indices [lo, hi] that mirroring the coordinates a .. a + n - 1 into [0, size) touches. */
function mirrorSpan(a: number, n: number, size: number): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = reflectIndex(a + i, size);
    if (r < lo) lo = r;
    if (r > hi) hi = r;
  }
  return [lo, hi];
}

/** Runs the detector over the plan's tiles (this run's share), then the global suppression. */
export async function detectSlide(e: Engine, models: readonly Model[], slide: Slide, opts: DetectSlideOptions = {}): Promise<SlideDetections> {
  const started = Date.now();
  const plan = await planSlide(slide, models, opts);
  const mine = shardTiles(plan.tiles, opts.shard);
  const rescale = opts.rescale ?? rescaleToMpp;
  const preset = PRESETS[plan.preset];
  const nets = models.slice(0, Math.min(models.length, preset.nets));
  const runs = nets.length * preset.variants;
  const L = slide.levels[plan.level];
  const { region, halo, scale, tileSize } = plan;
  // one input shape for every tile (level px)
  const IW = Math.min(tileSize, region.x1 - region.x0) + 2 * halo;
  const IH = Math.min(tileSize, region.y1 - region.y0) + 2 * halo;
  // Reinhard statistics: one set for the slide, from its overview (what the mask is made from)
  let stainSrc: LabStats | undefined;
  if (nets.some((m) => m.stain)) {
    const low = (await slideOverview(slide)).image;
    stainSrc = labStats(low.data, low.width, low.height);
  }
  const kept = new Map<number, KeptPixels>();
  let computed = 0, resumed = 0, keptPixels = 0, computeMs = 0;
  const report = () => {
    const done = computed + resumed;
    const rate = computed ? computeMs / computed : NaN;
    opts.onProgress?.({ done, total: mine.length, computed, resumed, elapsedS: (Date.now() - started) / 1000, etaS: ((mine.length - done) * rate) / 1000, keptPixels });
  };
  report();
  const networks = nets.map((m) => Network.fromModel(e, m));
  try {
    for (const tile of mine) {
      if (opts.journal?.done(tile.id)) {
        const k = opts.journal.kept(tile.id);
        kept.set(tile.id, k);
        keptPixels += k.score.length;
        resumed++;
        report();
        continue;
      }
      const t0 = Date.now();
      // 1. the input: level px [ax, ax + IW) x [ay, ay + IH), mirrored at the slide's border
      const ax = tile.x0 - halo, ay = tile.y0 - halo;
      const [sx0, sx1] = mirrorSpan(ax, IW, L.width), [sy0, sy1] = mirrorSpan(ay, IH, L.height);
      const src = await slide.readRegion(plan.level, sx0, sy0, sx1 - sx0 + 1, sy1 - sy0 + 1);
      const input = new Uint8ClampedArray(IW * IH * 4);
      const col = new Int32Array(IW);
      for (let i = 0; i < IW; i++) col[i] = reflectIndex(ax + i, L.width) - sx0;
      for (let j = 0; j < IH; j++) {
        const row = (reflectIndex(ay + j, L.height) - sy0) * src.width;
        for (let i = 0; i < IW; i++) {
          const s = 4 * (row + col[i]), d = 4 * (j * IW + i);
          input[d] = src.data[s];
          input[d + 1] = src.data[s + 1];
          input[d + 2] = src.data[s + 2];
          input[d + 3] = src.data[s + 3];
        }
      }
      let image: RgbaImage = { width: IW, height: IH, data: input };
      if (scale !== 1) image = rescale(image, plan.levelMpp, plan.modelMpp);
      const W = image.width, H = image.height;
      // level position of model pixel i of this input: ax + (i + 0.5) * sc - 0.5 (exactly ax + i without resampling)
      const scx = IW / W, scy = IH / H;
      const px = (i: number) => (scale === 1 ? ax + i : ax + (i + 0.5) * scx - 0.5);
      const py = (j: number) => (scale === 1 ? ay + j : ay + (j + 0.5) * scy - 0.5);
      // 2. M: the mean of every net x variant (as probabilityMap), 0 off the slide
      const sum = new Float64Array(W * H);
      for (const [n, model] of nets.entries()) {
        const seen = model.stain ? await transferStain(e, image, stainSrc!, model.stain.target, { maxBytes: opts.maxBytes }) : image;
        for (let v = 0; v < preset.variants; v++) {
          const m = await denseMap(e, model, seen, { variant: v, net: networks[n], tileSize: opts.denseTile, maxBytes: opts.maxBytes, stride: plan.mapStride });
          for (let i = 0; i < sum.length; i++) sum[i] += m.data[i];
        }
      }
      const M = new Float32Array(W * H);
      const offX = new Uint8Array(W), offY = new Uint8Array(H);
      for (let i = 0; i < W; i++) offX[i] = px(i) < -0.5 || px(i) >= L.width - 0.5 ? 1 : 0;
      for (let j = 0; j < H; j++) offY[j] = py(j) < -0.5 || py(j) >= L.height - 0.5 ? 1 : 0;
      for (let j = 0; j < H; j++) for (let i = 0; i < W; i++) if (!offX[i] && !offY[j]) M[j * W + i] = sum[j * W + i] / runs;
      // 3. Mf = disk(M, d), zero border
      const mt = e.tensor([H, W], M);
      const ft = diskFilter(e, mt, plan.radius);
      mt.release();
      const Mf = await ft.read();
      ft.release();
      // 4. the core's pixels above t
      const k: KeptPixels = { x: [], y: [], score: [] };
      for (let j = 0; j < H; j++) {
        const ly = py(j);
        if (!(ly >= tile.y0 - 0.5 && ly < tile.y1 - 0.5)) continue;
        for (let i = 0; i < W; i++) {
          const lx = px(i);
          if (!(lx >= tile.x0 - 0.5 && lx < tile.x1 - 0.5)) continue;
          const v = Mf[j * W + i];
          if (v > plan.threshold) {
            k.x.push(scale === 1 ? lx : (lx + 0.5) / scale - 0.5);
            k.y.push(scale === 1 ? ly : (ly + 0.5) / scale - 0.5);
            k.score.push(v);
          }
        }
      }
      await opts.journal?.record(tile.id, k);
      kept.set(tile.id, k);
      keptPixels += k.score.length;
      computed++;
      computeMs += Date.now() - t0;
      report();
    }
  } finally {
    for (const n of networks) n.destroy();
  }
  const detections = slideDetections(kept.values(), plan);
  return { plan, detections, kept, computed, resumed, seconds: (Date.now() - started) / 1000 };
}

