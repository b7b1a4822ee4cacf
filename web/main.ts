// The detection page (web/index.html, served by `mitoscan serve`): open an H&E image and a model,
// run the detector of Cireşan et al. 2013 on the page's own GPU (WebGPU), look at the mitoses it
// finds and download them. Nothing leaves the page: images and models are read from local files.
//
// The flow is the CLI's (`mitoscan detect`, src/detect/detector.ts): resample the image to the
// model's µm per pixel, average the dense probability maps of the preset's nets and variants (M),
// smooth M with a disk of radius d (Mf, kept on the GPU) and run the greedy non-maxima suppression
// above the threshold. Moving the threshold slider re-runs only the suppression on Mf.
//
// Whole slides (a tiled or pyramidal TIFF, SVS, or a TIFF too large for the canvas view) are not
// decoded whole: they open in an OpenSeadragon viewer fed tile by tile by the lazy reader
// (web/slide-view.ts, src/slide/slide.ts over blobSource(file)), and the detector runs with
// detectSlide (src/slide/detect-slide.ts) on the view, a drawn region or the whole slide; the
// hotspot (findHotspot, a 2 mm² circle) and its mitotic score are shown, and the results are in
// level-0 pixels of the slide.
//
// For tests (test/web.test.ts, test/web-slide.test.ts) the page exposes window.mitoscan (see
// MitoscanHook) and stable ids.
import { createBrowserEngine } from '../engine/browser.js';
import type { Engine } from '../engine/engine.js';
import { NoAdapterError } from '../engine/gpu.js';
import { PRESETS, probabilityMap, SmoothedMap, smoothingRadiusPx, type Preset } from '../src/detect/detector.js';
import { badRecordedThreshold, DEFAULT_THRESHOLD, modelThreshold } from '../src/detect/threshold.js';
import { COLOURS, detectionsCsv, detectionsGeoJson, detectionsJson, heatmap, type Colour, type Detection } from '../src/detect/results.js';
import { contestRadiusPx, matchDetections } from '../src/eval/score.js';
import { decodeImage, rescaleToMpp, sniffFormat } from '../src/io/image.js';
import type { ProbabilityMap, RgbaImage } from '../src/model/dense.js';
import { decodeModel, type Model } from '../src/model/model-file.js';
import { paramCount } from '../src/model/spec.js';
import { generateField } from '../src/synth/tissue.js';
import { detectSlide, slideDetections, type KeptPixels, type SlidePlan, type SlideProgress } from '../src/slide/detect-slide.js';
import { areaWindow, findHotspot, slideGeoJson, type Hotspot } from '../src/slide/hotspot.js';
import { openSlide, type Slide } from '../src/slide/slide.js';
import { blobSource } from '../src/slide/source.js';
import { SlideView, type Rect } from './slide-view.js';

// ---------------------------------------------------------------- the test hook

export interface PageResult {
  /** In the opened image's pixels (x = column), as `mitoscan detect` reports them. */
  detections: Detection[];
  width: number;
  height: number;
  threshold: number;
  imageName: string;
  /** µm per pixel the image was read at (the resolution field, else the model's). */
  umPerPixel: number;
  /** For a slide: detections are in level-0 pixels; width x height is level 0. */
  slide?: {
    /** What was analysed, level-0 px. */
    region: Rect;
    mode: SlideMode;
    hotspot: Omit<Hotspot, 'members'>;
    /** The read level and the tiles of detectSlide's plan. */
    level: number;
    tiles: number;
  };
}

export type SlideMode = 'view' | 'region' | 'slide';

/** The open slide, as the test sees it. */
export interface SlideInfo {
  name: string;
  width: number;
  height: number;
  levels: { width: number; height: number; downsample: number }[];
  /** From the file, or null (then the µm/px field must be filled in). */
  mpp: number | null;
  /** Why mpp is null. */
  mppReason?: string;
}

export interface MitoscanHook {
  /** Resolves when the page has looked for WebGPU and for the built-in model. */
  ready: Promise<void>;
  /** Whether a WebGPU engine is open. */
  gpu: boolean;
  /** The detections now shown (after a run, or after the threshold moved). */
  lastResult: PageResult | null;
  /** Increases by one each time lastResult changes. */
  version: number;
  /** The last error shown on the page, or null. */
  lastError: string | null;
  /** Progress of the last run: steps (tiles x nets x variants) done and in all. */
  progress: { done: number; total: number } | null;
  /** The slide open in the viewer, or null (a flat image, or nothing). */
  slide: SlideInfo | null;
  /** The viewer (for tests): the view in level-0 px, moving it, tiles rendered. */
  slideView: { viewRegion(): Rect; showRegion(r: Rect, immediately?: boolean): void; tilesRendered(): number; fullyLoaded(): boolean; zoom(): number } | null;
}

declare global {
  interface Window {
    mitoscan: MitoscanHook;
  }
}

// ---------------------------------------------------------------- elements

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`web/index.html has no element #${id}`);
  return el as T;
}

const el = {
  nogpu: $<HTMLDivElement>('nogpu'),
  drop: $<HTMLDivElement>('drop'),
  imageFile: $<HTMLInputElement>('image-file'),
  sample: $<HTMLButtonElement>('sample'),
  imageInfo: $<HTMLDivElement>('image-info'),
  mpp: $<HTMLInputElement>('mpp'),
  modelChoice: $<HTMLSelectElement>('model-choice'),
  modelFile: $<HTMLInputElement>('model-file'),
  modelInfo: $<HTMLDivElement>('model-info'),
  preset: $<HTMLSelectElement>('preset'),
  fastMap: $<HTMLInputElement>('fast-map'),
  run: $<HTMLButtonElement>('run'),
  progress: $<HTMLProgressElement>('progress'),
  status: $<HTMLDivElement>('status'),
  error: $<HTMLDivElement>('error'),
  threshold: $<HTMLInputElement>('threshold'),
  thresholdValue: $<HTMLOutputElement>('threshold-value'),
  showHeatmap: $<HTMLInputElement>('show-heatmap'),
  count: $<HTMLSpanElement>('count'),
  countLabel: $<HTMLSpanElement>('count-label'),
  truth: $<HTMLDivElement>('truth'),
  dlCsv: $<HTMLButtonElement>('dl-csv'),
  dlJson: $<HTMLButtonElement>('dl-json'),
  dlGeoJson: $<HTMLButtonElement>('dl-geojson'),
  dlHotspot: $<HTMLButtonElement>('dl-hotspot'),
  slideMpp: $<HTMLDivElement>('slide-mpp'),
  slideRun: $<HTMLDivElement>('slide-run'),
  runView: $<HTMLButtonElement>('run-view'),
  runRegion: $<HTMLButtonElement>('run-region'),
  runSlide: $<HTMLButtonElement>('run-slide'),
  stop: $<HTMLButtonElement>('stop'),
  hotspot: $<HTMLDivElement>('hotspot'),
  slideTools: $<HTMLDivElement>('slide-tools'),
  zoomIn: $<HTMLButtonElement>('zoom-in'),
  zoomOut: $<HTMLButtonElement>('zoom-out'),
  zoomHome: $<HTMLButtonElement>('zoom-home'),
  slideView: $<HTMLDivElement>('slide-view'),
  adapter: $<HTMLDivElement>('adapter'),
  view: $<HTMLElement>('view'),
  viewTitle: $<HTMLDivElement>('view-title'),
  legend: $<HTMLDivElement>('legend'),
  placeholder: $<HTMLDivElement>('placeholder'),
  stack: $<HTMLDivElement>('stack'),
  imageCanvas: $<HTMLCanvasElement>('image-canvas'),
  heatCanvas: $<HTMLCanvasElement>('heat-canvas'),
  markCanvas: $<HTMLCanvasElement>('mark-canvas'),
};

// ---------------------------------------------------------------- state

interface OpenImage {
  name: string;
  image: RgbaImage;
  /** Known mitoses (generated sample fields only). */
  truth?: { x: number; y: number }[];
  /** µm per pixel the image is known to have (generated sample fields only). */
  umPerPixel?: number;
}

interface ModelSet {
  /** What the page calls it: the file name(s), or 'built-in model'. */
  name: string;
  files: string[];
  models: Model[];
}

interface Shown {
  sm: SmoothedMap;
  map: ProbabilityMap;
  /** Input pixels per map pixel. */
  scale: number;
  image: OpenImage;
  umPerPixel: number;
  preset: Preset;
  /** 1: the map at every pixel; 2: at every second pixel, filled in (the "Fast map" box). */
  mapStride: number;
  models: ModelSet;
  nets: number;
  seconds: number;
  threshold: number;
  detections: Detection[];
}

let engine: Engine | null = null;
let builtin: ModelSet | null = null;
let fromFile: ModelSet | null = null;
let image: OpenImage | null = null;
let shown: Shown | null = null;
let running = false;
/** The detection threshold (the slider's value, or the model's own before the slider moves). */
let threshold = DEFAULT_THRESHOLD;
/** The user typed a resolution: keep it when the model changes. */
let mppTouched = false;

const hook: MitoscanHook = { ready: Promise.resolve(), gpu: false, lastResult: null, version: 0, lastError: null, progress: null, slide: null, slideView: null };
window.mitoscan = hook;

function currentModels(): ModelSet | null {
  return el.modelChoice.value === 'builtin' ? builtin : fromFile;
}

// ---------------------------------------------------------------- messages

function showError(msg: string): void {
  hook.lastError = msg;
  el.error.textContent = msg;
  el.error.hidden = false;
}

function clearError(): void {
  el.error.hidden = true;
  el.error.textContent = '';
}

function setStatus(msg: string): void {
  el.status.textContent = msg;
}

/** An error message that names `name` (decoders already do). */
function naming(name: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.includes(name) ? msg : `${name}: ${msg}`;
}

function fmtMpp(v: number): string {
  return String(Number(v.toPrecision(6)));
}

function seconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

// ---------------------------------------------------------------- WebGPU

function noGpuBanner(problem: string): void {
  el.nogpu.innerHTML = '';
  const h = document.createElement('strong');
  h.textContent = 'This browser cannot run the detector: ';
  const p = document.createElement('span');
  p.textContent = problem;
  const advice = document.createElement('p');
  advice.textContent =
    'mitoscan needs WebGPU. Use Chrome or Edge 113 or newer, Firefox 141 or newer on Windows, or Safari 26. ' +
    'On Linux, Chrome and Edge need WebGPU switched on: open chrome://flags/#enable-unsafe-webgpu, set it to Enabled and restart the browser. ' +
    'chrome://gpu shows whether WebGPU is available. You can still open images here.';
  el.nogpu.append(h, p, advice);
  el.nogpu.hidden = false;
}

async function openEngine(): Promise<void> {
  if (!window.isSecureContext) {
    noGpuBanner(`the page was opened from ${location.origin}, which browsers do not trust with WebGPU. Open it as http://localhost:<port>/ (run \`mitoscan serve\` on this computer) or over https.`);
    return;
  }
  if (!('gpu' in navigator) || !navigator.gpu) {
    noGpuBanner('it has no WebGPU (navigator.gpu is missing).');
    return;
  }
  try {
    engine = await createBrowserEngine();
    hook.gpu = true;
    el.adapter.textContent = `GPU: ${engine.adapterName}`;
  } catch (err) {
    const detail = err instanceof NoAdapterError ? 'WebGPU is present but it offers no GPU adapter (the GPU may be blocklisted, or the driver is missing).' : `opening WebGPU failed (${(err as Error)?.message ?? err}).`;
    noGpuBanner(detail);
  }
}

// ---------------------------------------------------------------- models

function describeModels(set: ModelSet): string {
  const m = set.models[0];
  const parts = [
    `${set.models.length > 1 ? `${set.models.length} nets: ${set.models.map((x) => x.spec.name).join(', ')}` : m.spec.name}`,
    `${m.spec.input.size}×${m.spec.input.size} px window`,
    `${fmtMpp(m.umPerPixel)} µm/px`,
    `${set.models.reduce((a, x) => a + paramCount(x.spec), 0).toLocaleString('en-US')} parameters`,
  ];
  const pv = m.provenance ?? {};
  const made = [typeof pv.dataset === 'string' ? `trained on ${datasetNames(pv.dataset)}` : '', typeof pv.date === 'string' ? pv.date.slice(0, 10) : ''].filter(Boolean).join(', ');
  return `${set.name}: ${parts.join(', ')}${made ? ` (${made})` : ''}. It runs at ${fmtMpp(m.umPerPixel)} µm/px: ` +
    `set your image's resolution above (0.25 for 40× scans, 0.5 for 20×) and it is resampled to that.`;
}

/** The folder names of a provenance's data set ('/a/b/amibr-figures, /c/tupac (held out: ...)' -> 'amibr-figures, tupac'). */
function datasetNames(dataset: string): string {
  const main = dataset.replace(/\s*\(held out:.*$/s, '');
  return main.split(', ').map((p) => p.split(/[\\/]/).filter(Boolean).pop() ?? p).join(', ');
}

async function loadBuiltin(): Promise<void> {
  const opt = el.modelChoice.querySelector<HTMLOptionElement>('option[value="builtin"]')!;
  try {
    const res = await fetch('models/default.mitoscan', { cache: 'no-cache' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    builtin = { name: 'built-in model', files: ['default.mitoscan'], models: [decodeModel(bytes, 'default.mitoscan (built-in model)')] };
  } catch (err) {
    builtin = null;
    opt.disabled = true;
    opt.textContent = 'built-in model (not available)';
    if (!fromFile) el.modelChoice.value = 'file';
    if (!(err instanceof Error && /^HTTP 404/.test(err.message))) console.warn('mitoscan: the built-in model could not be loaded:', err);
  }
  modelChanged();
}

async function openModelFiles(files: File[]): Promise<void> {
  if (!files.length) return;
  clearError();
  const models: Model[] = [];
  try {
    for (const f of files) {
      const m = decodeModel(new Uint8Array(await f.arrayBuffer()), f.name);
      const bad = badRecordedThreshold(m); // refused as \`mitoscan detect\` refuses it
      if (bad) throw new Error(`${f.name}: ${bad}; the file is corrupt`);
      models.push(m);
    }
    const mpp = models[0].umPerPixel;
    models.forEach((m, i) => {
      if (Math.abs(m.umPerPixel - mpp) > 1e-9) {
        throw new Error(`${files[i].name}: its net works at ${fmtMpp(m.umPerPixel)} µm/px but ${files[0].name} at ${fmtMpp(mpp)} µm/px; the nets of an ensemble must share one resolution`);
      }
    });
  } catch (err) {
    const msg = naming(files[models.length]?.name ?? files[0].name, err);
    const advice = /not a mitoscan model/.test(msg) ? '. Open a .mitoscan file made by `mitoscan train`.' : /truncated|corrupt/.test(msg) ? '. The file is damaged: copy or download it again.' : '';
    showError(msg + advice);
    return;
  }
  const names = files.map((f) => f.name);
  fromFile = { name: names.join(', '), files: names, models };
  el.modelChoice.value = 'file';
  modelChanged();
}

function modelChanged(): void {
  const set = currentModels();
  if (set) {
    el.modelInfo.textContent = describeModels(set);
    el.modelInfo.classList.remove('warn');
    if (!mppTouched && !image?.umPerPixel && !slideOpen) el.mpp.value = fmtMpp(set.models[0].umPerPixel);
    if (!slideOpen) el.mpp.placeholder = fmtMpp(set.models[0].umPerPixel);
    setThreshold(modelThreshold(set.models[0]));
    for (const opt of Array.from(el.preset.options)) {
      const p = PRESETS[opt.value as Preset];
      const nets = Math.min(set.models.length, p.nets);
      opt.textContent = presetLabel(opt.value as Preset, nets);
    }
  } else {
    for (const opt of Array.from(el.preset.options)) opt.textContent = presetLabel(opt.value as Preset);
    el.modelInfo.textContent = builtin ? '' : 'No built-in model: ';
    const link = document.createElement('button');
    link.type = 'button';
    link.className = 'link';
    link.dataset.action = 'open-model';
    link.textContent = builtin ? 'open a model file (.mitoscan)' : 'open a model file';
    el.modelInfo.append(link);
    el.modelInfo.classList.add('warn');
  }
  if (!shown) drawMarks(); // the scale bar follows the resolution
  updateButtons();
}

/** The ensemble choice in words; `nets` = how many nets it uses of the loaded model files (unknown before). */
function presetLabel(p: Preset, nets?: number): string {
  const what = nets === undefined ? (PRESETS[p].nets === 1 ? 'first net' : 'every net') : nets > 1 ? `${nets} nets` : '1 net';
  return PRESETS[p].variants > 1 ? `${p}: ${what} × 8 rotations/mirrors (8× slower)` : `${p}: ${what}, image as it is${p === 'DNNf1' ? ' (fast)' : ''}`;
}

// ---------------------------------------------------------------- images

async function openImageFile(file: File): Promise<void> {
  clearError();
  let img: RgbaImage;
  try {
    if (await openAsSlide(file)) return;
    img = decodeImage(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (err) {
    showError(naming(file.name, err));
    return;
  }
  setImage({ name: file.name, image: img });
}

function openSample(): void {
  clearError();
  const mpp = currentModels()?.models[0].umPerPixel ?? 0.2456;
  const seed = Math.floor(Math.random() * 1e9);
  const side = Math.max(256, Math.min(768, Math.round(512 * Math.sqrt(0.2456 / mpp))));
  const f = generateField({ width: side, height: side, seed, mpp, mitoses: 4 });
  el.mpp.value = fmtMpp(mpp);
  setImage({ name: `sample-${seed}.png`, image: f.image, truth: f.mitoses.map((m) => ({ x: m.x, y: m.y })), umPerPixel: mpp });
  setStatus(`A generated H&E field with ${f.mitoses.length} mitotic figures. Run the detector to see how many it finds.`);
}

function setImage(img: OpenImage): void {
  dropResult();
  closeSlide();
  image = img;
  const { width, height } = img.image;
  el.imageInfo.textContent = `${img.name}: ${width} × ${height} pixels`;
  el.viewTitle.textContent = img.name;
  el.placeholder.hidden = true;
  el.stack.hidden = false;
  el.imageCanvas.width = width;
  el.imageCanvas.height = height;
  const data = img.image.data instanceof Uint8ClampedArray ? img.image.data : new Uint8ClampedArray(img.image.data.buffer, img.image.data.byteOffset, img.image.data.length);
  el.imageCanvas.getContext('2d')!.putImageData(new ImageData(data as Uint8ClampedArray<ArrayBuffer>, width, height), 0, 0);
  el.imageCanvas.style.imageRendering = 'auto';
  layout();
  if (!img.truth) setStatus('');
  updateButtons();
}

// ---------------------------------------------------------------- running

function readMpp(): number | null {
  const set = currentModels();
  const raw = el.mpp.value.trim();
  if (raw === '') return set ? set.models[0].umPerPixel : null;
  const v = Number(raw);
  if (!(Number.isFinite(v) && v > 0 && v <= 10)) {
    showError(`Image resolution: '${raw}' is not a number of µm per pixel (e.g. 0.25 for 40×, 0.5 for 20× scans).`);
    return null;
  }
  return v;
}

async function runDetector(): Promise<void> {
  const set = currentModels();
  if (!engine || !image || !set || running) return;
  clearError();
  const mpp = readMpp();
  if (mpp === null) return;
  const img = image;
  const preset = el.preset.value as Preset;
  const mapStride = el.fastMap.checked ? 2 : 1;
  const models = set.models;
  const modelMpp = models[0].umPerPixel;
  running = true;
  updateButtons();
  el.progress.hidden = false;
  el.progress.value = 0;
  hook.progress = null;
  const t0 = performance.now();
  try {
    let input = img.image;
    if (Math.abs(mpp - modelMpp) / modelMpp > 1e-6) {
      setStatus(`Resampling ${img.name} from ${fmtMpp(mpp)} to ${fmtMpp(modelMpp)} µm/px…`);
      await nextFrame();
      input = rescaleToMpp(img.image, mpp, modelMpp);
    }
    setStatus('Detecting: preparing the GPU…');
    await nextFrame();
    const map = await probabilityMap(engine, models, input, {
      preset,
      mapStride,
      onProgress: (done, total) => {
        hook.progress = { done, total };
        el.progress.max = total;
        el.progress.value = done;
        setStatus(`Detecting: tile ${done} / ${total} (${seconds((performance.now() - t0) / 1000)})`);
      },
    });
    const sm = SmoothedMap.create(engine, map, smoothingRadiusPx(modelMpp));
    dropResult();
    shown = {
      sm,
      map,
      scale: img.image.width / input.width,
      image: img,
      umPerPixel: mpp,
      preset,
      mapStride,
      models: set,
      nets: Math.min(models.length, PRESETS[preset].nets),
      seconds: 0,
      threshold,
      detections: [],
    };
    await readOut(threshold);
    shown.seconds = (performance.now() - t0) / 1000;
    drawHeatmap();
    setStatus(
      `${img.name}: done in ${seconds(shown.seconds)} ` +
        `(${preset}${mapStride > 1 ? ', fast map' : ''}, ${shown.nets} net${shown.nets > 1 ? 's' : ''} at ${fmtMpp(modelMpp)} µm/px${shown.scale !== 1 ? `, image resampled from ${fmtMpp(mpp)}` : ''}).`,
    );
  } catch (err) {
    await detectionFailed(img.name, err);
  } finally {
    running = false;
    el.progress.hidden = true;
    updateButtons();
  }
}

function nextFrame(): Promise<void> {
  return new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
}

/** Runs the suppression at `threshold` on the kept Mf and shows the result. */
async function readOut(threshold: number): Promise<void> {
  const s = shown;
  if (!s) return;
  const dets = await s.sm.detections(threshold);
  if (shown !== s) return;
  s.threshold = threshold;
  s.detections = dets.map((d) => ({
    x: Math.round((d.x + 0.5) * s.scale - 0.5),
    y: Math.round((d.y + 0.5) * s.scale - 0.5),
    score: d.score,
  }));
  hook.lastResult = { detections: s.detections, width: s.image.image.width, height: s.image.image.height, threshold, imageName: s.image.name, umPerPixel: s.umPerPixel };
  hook.version++;
  drawMarks();
  showCount();
}

function setThreshold(t: number): void {
  threshold = t;
  if (Number(el.threshold.value) !== t) el.threshold.value = String(t);
  el.thresholdValue.textContent = String(Number(t.toFixed(3)));
}

// The slider may move faster than the GPU answers: run the latest value, one at a time.
let pendingThreshold: number | null = null;
let readingOut = false;

async function thresholdMoved(): Promise<void> {
  const t = Number(el.threshold.value);
  setThreshold(t);
  if (slideShown) return slideReadOut(t);
  if (!shown) return;
  pendingThreshold = t;
  if (readingOut) return;
  readingOut = true;
  try {
    while (pendingThreshold !== null) {
      const next = pendingThreshold;
      pendingThreshold = null;
      await readOut(next);
    }
  } catch (err) {
    showError(`Threshold ${t}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    readingOut = false;
  }
}

function dropResult(): void {
  shown?.sm.release();
  shown = null;
  hook.lastResult = null;
  el.count.textContent = '–';
  el.truth.textContent = '';
  el.truth.hidden = true;
  drawMarks(); // the scale bar alone
  el.heatCanvas.hidden = true;
  el.legend.hidden = true;
}


// ---------------------------------------------------------------- slides

/** TIFFs above this many pixels open as slides even when stored in strips (the canvas view holds the whole image). */
const FLAT_MAX_PIXELS = 32_000_000;
/** The hotspot window's colour (as the CLI's density map). */
const HOTSPOT_COLOUR: Colour = [0, 230, 255];

interface OpenSlideState {
  name: string;
  slide: Slide;
  view: SlideView;
}

interface SlideShown {
  open: OpenSlideState;
  mode: SlideMode;
  /** What was analysed, level-0 px. */
  region: Rect;
  plan: SlidePlan;
  kept: KeptPixels[];
  /** The run's threshold: the kept pixels are those above it, so the slider can only go up from it. */
  runThreshold: number;
  threshold: number;
  detections: Detection[];
  hotspot: Hotspot;
  umPerPixel: number;
  preset: Preset;
  models: ModelSet;
  nets: number;
  seconds: number;
}

let slideOpen: OpenSlideState | null = null;
let slideShown: SlideShown | null = null;
let drawingRegion = false;
let stopRequested = false;

class Stopped extends Error {}

/**
 * Opens `file` in the slide viewer when it is a TIFF that is tiled, pyramidal, or larger than the
 * flat view holds; false = open it as a flat image (read whole).
 */
async function openAsSlide(file: File): Promise<boolean> {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  if (sniffFormat(head) !== 'tiff' && !/\.svs$/i.test(file.name)) return false;
  let slide: Slide;
  try {
    slide = await openSlide(blobSource(file, file.name));
  } catch (err) {
    // a TIFF the slide reader does not take: small ones go to the flat decoder (which says why it fails, if it does)
    if (file.size > 256 * 2 ** 20 || /\.svs$/i.test(file.name)) throw err;
    return false;
  }
  const L0 = slide.levels[0];
  if (!(slide.levels.length > 1 || L0.tiled || L0.width * L0.height > FLAT_MAX_PIXELS)) {
    await slide.close();
    return false;
  }
  showSlide(file.name, slide);
  return true;
}

function showSlide(name: string, slide: Slide): void {
  dropResult();
  closeSlide();
  image = null;
  el.stack.hidden = true;
  el.placeholder.hidden = true;
  el.slideView.hidden = false;
  el.slideTools.hidden = false;
  el.showHeatmap.checked = false;
  el.heatCanvas.hidden = true;
  const view = new SlideView(el.slideView, slide);
  const open = { name, slide, view };
  slideOpen = open;
  const L0 = slide.levels[0];
  const res = slide.resolution;
  el.viewTitle.textContent = name;
  const levels = slide.levels.map((l) => `${Number(l.downsample.toFixed(2))}×`).join(', ');
  el.imageInfo.textContent =
    `${name}: slide of ${L0.width.toLocaleString('en-US')} × ${L0.height.toLocaleString('en-US')} pixels, ` +
    `${slide.levels.length} level${slide.levels.length > 1 ? 's' : ''} (${levels}), ${L0.compression}` +
    (res.mpp ? `, ${fmtMpp(res.mpp)} µm/px (from the file)` : '');
  mppTouched = false;
  if (res.mpp) {
    el.mpp.value = fmtMpp(res.mpp);
  } else {
    el.mpp.value = '';
    el.mpp.placeholder = 'enter µm/px';
  }
  slideMppHint();
  view.setScale(res.mpp);
  hook.slide = { name, width: L0.width, height: L0.height, levels: slide.levels.map(({ width, height, downsample }) => ({ width, height, downsample })), mpp: res.mpp, mppReason: res.reason };
  hook.slideView = {
    viewRegion: () => view.viewRegion(),
    showRegion: (r, immediately) => view.showRegion(r, immediately),
    tilesRendered: () => view.tilesRendered,
    fullyLoaded: () => view.fullyLoaded(),
    zoom: () => view.viewer.viewport.getZoom(true),
  };
  view.ready.catch((err) => {
    if (slideOpen === open) showError(err instanceof Error ? err.message : String(err));
  });
  setStatus('Pan and zoom (drag, wheel, double-click), then detect in the view, in a region you draw, or on the whole slide.');
  updateButtons();
}

/** The warning under the image info while the slide's resolution is unknown and the field is empty or invalid. */
function slideMppHint(): void {
  const so = slideOpen;
  const v = Number(el.mpp.value.trim());
  if (!so || so.slide.resolution.mpp || (el.mpp.value.trim() !== '' && v > 0 && v <= 10)) {
    el.slideMpp.hidden = true;
    return;
  }
  el.slideMpp.textContent =
    `${so.name} does not say its µm per pixel (${so.slide.resolution.reason ?? 'no resolution in the file'}). ` +
    `Enter it in the field below (0.25 for 40× scans, 0.5 for 20×) before detecting.`;
  el.slideMpp.hidden = false;
}

function closeSlide(): void {
  const so = slideOpen;
  if (!so) return;
  dropSlideResult();
  so.view.destroy();
  void so.slide.close();
  slideOpen = null;
  hook.slide = null;
  hook.slideView = null;
  el.slideView.hidden = true;
  el.slideTools.hidden = true;
  el.slideMpp.hidden = true;
  el.mpp.placeholder = currentModels() ? fmtMpp(currentModels()!.models[0].umPerPixel) : '';
}

function dropSlideResult(): void {
  if (!slideShown) return;
  slideShown = null;
  hook.lastResult = null;
  slideOpen?.view.setMarks(null);
  el.hotspot.hidden = true;
  el.hotspot.innerHTML = '';
  el.count.textContent = '–';
  el.legend.hidden = true;
}

/** The slide's µm per level-0 pixel: the field (filled from the file when it says). */
function readSlideMpp(so: OpenSlideState): number | null {
  const raw = el.mpp.value.trim();
  if (raw === '') {
    showError(
      `${so.name}: the slide does not say its µm per pixel (${so.slide.resolution.reason ?? 'no resolution in the file'}); ` +
        `enter it in the resolution field (0.25 for 40× scans, 0.5 for 20×).`,
    );
    return null;
  }
  const fileMpp = so.slide.resolution.mpp;
  if (fileMpp && raw === fmtMpp(fileMpp)) return fileMpp; // the file's value, not its rounding in the field
  const v = Number(raw);
  if (!(Number.isFinite(v) && v > 0 && v <= 10)) {
    showError(`Image resolution: '${raw}' is not a number of µm per pixel (e.g. 0.25 for 40×, 0.5 for 20× scans).`);
    return null;
  }
  return v;
}

function area(r: Rect, mpp: number): number {
  return (r.w * r.h * mpp * mpp) / 1e6;
}

async function runSlide(mode: SlideMode): Promise<void> {
  const so = slideOpen;
  const set = currentModels();
  if (!engine || !so || !set || running || drawingRegion) return;
  clearError();
  const mpp = readSlideMpp(so);
  if (mpp === null) return;
  const { width: W0, height: H0 } = so.view.size;
  let region: Rect;
  if (mode === 'view') region = so.view.viewRegion();
  else if (mode === 'region') {
    setStatus('Drag a rectangle on the slide (Esc cancels).');
    el.slideView.scrollIntoView({ block: 'nearest' });
    drawingRegion = true;
    updateButtons();
    const r = await so.view.drawRegion().finally(() => {
      drawingRegion = false;
      updateButtons();
    });
    if (slideOpen !== so) return;
    if (!r) {
      setStatus('No region drawn.');
      return;
    }
    region = r;
  } else region = { x: 0, y: 0, w: W0, h: H0 };
  if (region.w < 1 || region.h < 1) {
    showError('The view shows none of the slide: zoom or pan onto it first.');
    return;
  }
  const preset = el.preset.value as Preset;
  const models = set.models;
  const t = threshold;
  running = true;
  stopRequested = false;
  updateButtons();
  el.progress.hidden = false;
  el.progress.value = 0;
  hook.progress = null;
  const t0 = performance.now();
  const what = mode === 'slide' ? 'the whole slide' : mode === 'view' ? 'the view' : 'the region';
  so.view.setMarks({ detections: [], radiusPx: 0, colour: COLOURS.detection, region: mode === 'slide' ? null : region });
  try {
    setStatus(`Detecting in ${what}: finding the tissue, preparing the GPU…`);
    await nextFrame();
    const onProgress = (p: SlideProgress) => {
      if (stopRequested) throw new Stopped('stopped');
      hook.progress = { done: p.done, total: p.total };
      el.progress.max = Math.max(1, p.total);
      el.progress.value = p.done;
      const eta = Number.isFinite(p.etaS) && p.done < p.total ? `, about ${seconds(p.etaS)} left` : '';
      setStatus(`Detecting in ${what}: tile ${p.done} / ${p.total} (${seconds((performance.now() - t0) / 1000)}${eta})`);
    };
    const mapStride = el.fastMap.checked ? 2 : 1;
    const res = await detectSlide(engine, models, so.slide, { preset, mapStride, threshold: t, mpp, region: mode === 'slide' ? undefined : region, onProgress });
    if (slideOpen !== so) return;
    dropResult();
    dropSlideResult();
    const r = res.plan.region, ds = res.plan.downsample;
    slideShown = {
      open: so,
      mode,
      region,
      plan: res.plan,
      kept: [...res.kept.values()],
      runThreshold: t,
      threshold: t,
      detections: res.detections,
      hotspot: findHotspot(res.detections, mpp, areaWindow(), res.plan.mask),
      umPerPixel: mpp,
      preset,
      models: set,
      nets: Math.min(models.length, PRESETS[preset].nets),
      seconds: (performance.now() - t0) / 1000,
    };
    showSlideResult();
    const tiles = res.plan.tiles.length;
    setStatus(
      `${so.name}, ${what}: done in ${seconds(slideShown.seconds)} (${tiles} tile${tiles === 1 ? '' : 's'} over tissue` +
        `${res.plan.gridTiles > tiles ? ` of ${res.plan.gridTiles}` : ''}, level ${res.plan.level}` +
        `${res.plan.scale !== 1 ? `, resampled to ${fmtMpp(res.plan.modelMpp)} µm/px` : ''}; ` +
        `${Math.round((r.x1 - r.x0) * ds)} × ${Math.round((r.y1 - r.y0) * ds)} px, ${preset}${mapStride > 1 ? ', fast map' : ''}).`,
    );
  } catch (err) {
    if (slideOpen === so) drawSlideMarks(); // the last result's marks again, if any
    if (err instanceof Stopped) {
      setStatus(`Stopped${slideShown ? '; the results shown are those of the last run' : ''}.`);
      return;
    }
    await detectionFailed(so.name, err);
  } finally {
    running = false;
    el.progress.hidden = true;
    updateButtons();
  }
}

/** The marks of slideShown on the slide (none without a result). */
function drawSlideMarks(): void {
  const s = slideShown;
  if (!s) return slideOpen?.view.setMarks(null);
  const hs = s.hotspot;
  s.open.view.setMarks({
    detections: s.detections,
    radiusPx: contestRadiusPx(s.umPerPixel),
    colour: COLOURS.detection,
    hotspot: Number.isFinite(hs.x) ? { x: hs.x, y: hs.y, radiusPx: hs.radiusPx, colour: HOTSPOT_COLOUR } : null,
    region: s.mode === 'slide' ? null : s.region,
  });
}

/** Shows slideShown: marks, count, hotspot, the test hook. */
function showSlideResult(): void {
  const s = slideShown;
  if (!s) return;
  const { width, height } = s.open.view.size;
  const hs = s.hotspot;
  drawSlideMarks();
  const n = s.detections.length;
  el.count.textContent = String(n);
  el.countLabel.textContent = `${n === 1 ? 'mitosis' : 'mitoses'} in ${s.mode === 'slide' ? 'the slide' : s.mode === 'view' ? 'the view' : 'the region'}`;
  const analysed = area(s.region, s.umPerPixel);
  const sc = hs.score;
  el.hotspot.innerHTML = '';
  const line = (html: string, cls?: string) => {
    const d = document.createElement(cls ? 'span' : 'div');
    if (cls) d.className = cls;
    d.innerHTML = html;
    el.hotspot.append(d);
    return d;
  };
  line(
    `Hotspot (${hs.label} circle): <b id="hotspot-count">${hs.count}</b> ${hs.count === 1 ? 'mitosis' : 'mitoses'}, ` +
      `<span id="hotspot-density">${fmtDensity(hs.perMm2)}</span> per mm², mitotic score <b id="hotspot-score">${sc.score}</b>`,
  );
  line(
    `Nottingham score for ${hs.label}: 1 below ${sc.score2From}, 2 from ${sc.score2From}, 3 from ${sc.score3From} mitoses. ` +
      `Analysed: ${fmtArea(analysed)} mm² (${fmtDensity(n / Math.max(analysed, 1e-12))} per mm²)` +
      (analysed < hs.areaMm2 ? `, less than the window: detect on a larger area for a score.` : '.') +
      (hs.offTissue ? ` ${hs.offTissue} detection${hs.offTissue === 1 ? ' lies' : 's lie'} off the tissue mask and ${hs.offTissue === 1 ? 'is' : 'are'} not counted in the hotspot.` : ''),
    'hint',
  );
  el.hotspot.hidden = false;
  drawLegend(false);
  const item = document.createElement('span');
  const dot = document.createElement('i');
  dot.style.borderColor = rgb(HOTSPOT_COLOUR);
  item.append(dot, `hotspot (${hs.label})`);
  el.legend.append(item);
  const { members: _members, ...hotspot } = hs;
  hook.lastResult = {
    detections: s.detections,
    width,
    height,
    threshold: s.threshold,
    imageName: s.open.name,
    umPerPixel: s.umPerPixel,
    slide: { region: s.region, mode: s.mode, hotspot, level: s.plan.level, tiles: s.plan.tiles.length },
  };
  hook.version++;
}

function fmtDensity(v: number): string {
  return v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function fmtArea(v: number): string {
  return v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

/** The slider on a slide result: the suppression again over the kept pixels (only above the run's threshold). */
function slideReadOut(t: number): void {
  const s = slideShown;
  if (!s) return;
  if (t < s.runThreshold - 1e-12) {
    setStatus(`The last run kept only pixels above ${s.runThreshold}: run it again to see what ${t} finds.`);
    return;
  }
  s.threshold = t;
  s.detections = slideDetections(s.kept, { ...s.plan, threshold: t });
  s.hotspot = findHotspot(s.detections, s.umPerPixel, areaWindow(), s.plan.mask);
  showSlideResult();
}

function downloadSlideResult(kind: 'csv' | 'json' | 'geojson' | 'hotspot'): void {
  const s = slideShown;
  if (!s) return;
  const base = stem(s.open.name);
  const { width, height } = s.open.view.size;
  const { members: _m, ...hotspot } = s.hotspot;
  const settings = {
    coordinates: 'level-0 pixels',
    mode: s.mode,
    region: s.region,
    analysedMm2: Number(area(s.region, s.umPerPixel).toPrecision(6)),
    level: s.plan.level,
    models: s.models.files.slice(0, s.nets),
    nets: s.models.models.slice(0, s.nets).map((m) => m.spec.name),
    preset: s.preset,
    ...(s.plan.mapStride > 1 ? { mapStride: s.plan.mapStride } : {}),
    threshold: s.threshold,
    umPerPixel: s.umPerPixel,
    umPerPixelFrom: s.open.slide.resolution.mpp === s.umPerPixel ? 'file' : 'entered',
    modelUmPerPixel: s.plan.modelMpp,
    smoothingRadiusPx: s.plan.radius,
    seconds: Number(s.seconds.toFixed(2)),
    tool: 'mitoscan web page',
  };
  if (kind === 'csv') download(detectionsCsv(s.detections), `${base}.mitoses.csv`, 'text/csv');
  else if (kind === 'geojson') download(slideGeoJson(s.detections, s.hotspot), `${base}.mitoses.geojson`, 'application/geo+json');
  else if (kind === 'json') download(detectionsJson(s.open.name, width, height, s.detections, { ...settings, hotspot }), `${base}.mitoses.json`, 'application/json');
  else download(JSON.stringify({ slide: s.open.name, width, height, ...settings, count: s.detections.length, hotspot }, null, 2) + '\n', `${base}.hotspot.json`, 'application/json');
}

// ---------------------------------------------------------------- drawing

/** Fits the image into the view: whole image visible, small images enlarged up to 8×. */
function layout(): void {
  if (!image) return;
  const { width, height } = image.image;
  const style = getComputedStyle(el.view);
  const availW = Math.max(200, el.view.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight));
  const availH = Math.max(240, window.innerHeight - el.stack.getBoundingClientRect().top - 40);
  const z = Math.min(availW / width, availH / height, 8);
  const w = Math.max(1, Math.floor(width * z));
  const h = Math.max(1, Math.floor(height * z));
  el.stack.style.width = `${w}px`;
  el.stack.style.height = `${h}px`;
  el.imageCanvas.style.imageRendering = z >= 3 ? 'pixelated' : 'auto';
  el.heatCanvas.style.imageRendering = 'auto';
  const dpr = window.devicePixelRatio || 1;
  el.markCanvas.width = Math.round(w * dpr);
  el.markCanvas.height = Math.round(h * dpr);
  drawMarks();
}

function rgb(c: Colour): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function ring(ctx: CanvasRenderingContext2D, x: number, y: number, r: number, colour: Colour, width: number): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.lineWidth = width + 2;
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.55)';
  ctx.stroke();
  ctx.lineWidth = width;
  ctx.strokeStyle = rgb(colour);
  ctx.stroke();
}

function drawMarks(): void {
  const c = el.markCanvas;
  const ctx = c.getContext('2d')!;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, c.width, c.height);
  if (!image) return;
  const k = c.width / image.image.width; // canvas pixels per image pixel
  const dpr = window.devicePixelRatio || 1;
  const s = shown;
  drawScaleBar(ctx, k / (s && s.image === image ? s.umPerPixel : shownMpp() ?? NaN), dpr);
  if (!s || s.image !== image) return;
  // circles of the contest's 5 µm match radius (as the CLI's overlay.png), at least 7 screen px
  const r = Math.max(contestRadiusPx(s.umPerPixel) * k, 7 * dpr);
  const lw = 2 * dpr;
  const at = (p: { x: number; y: number }) => [(p.x + 0.5) * k, (p.y + 0.5) * k] as const;
  if (s.image.truth) {
    const m = matchDetections(s.detections, s.image.truth, contestRadiusPx(s.umPerPixel));
    s.detections.forEach((d, i) => ring(ctx, ...at(d), r, m.tp[i] ? COLOURS.truePositive : COLOURS.falsePositive, lw));
    s.image.truth.forEach((t, i) => {
      if (!m.matchedTruth[i]) ring(ctx, ...at(t), r, COLOURS.miss, lw);
    });
    el.truth.textContent = `Sample truth: ${m.scores.tp} of ${s.image.truth.length} mitoses found, ${m.scores.fp} false alarm${m.scores.fp === 1 ? '' : 's'} (F1 ${m.scores.f1.toFixed(2)}).`;
    el.truth.hidden = false;
  } else {
    for (const d of s.detections) ring(ctx, ...at(d), r, COLOURS.detection, lw);
  }
  drawLegend(!!s.image.truth);
}

/** The resolution in the field, if it is a valid number (no error shown). */
function shownMpp(): number | null {
  const raw = el.mpp.value.trim();
  const v = raw === '' ? currentModels()?.models[0].umPerPixel : Number(raw);
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : null;
}

/** A scale bar (10, 20, 50, 100, ... µm; about a fifth of the width) in the lower left corner. */
function drawScaleBar(ctx: CanvasRenderingContext2D, pxPerUm: number, dpr: number): void {
  if (!(pxPerUm > 0)) return;
  const target = ctx.canvas.width / 5 / pxPerUm;
  const nice = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
  const um = nice.reduce((best, v) => (Math.abs(Math.log(v / target)) < Math.abs(Math.log(best / target)) ? v : best));
  const len = um * pxPerUm;
  const m = 12 * dpr;
  const y = ctx.canvas.height - m;
  const label = `${um} µm`;
  ctx.font = `600 ${12 * dpr}px system-ui, sans-serif`;
  const tw = ctx.measureText(label).width;
  ctx.fillStyle = 'rgba(255, 255, 255, 0.8)';
  ctx.beginPath();
  ctx.roundRect(m - 6 * dpr, y - 22 * dpr, Math.max(len, tw) + 12 * dpr, 28 * dpr, 4 * dpr);
  ctx.fill();
  ctx.fillStyle = '#2b1d35';
  ctx.fillRect(m, y - 4 * dpr, len, 4 * dpr);
  ctx.textBaseline = 'bottom';
  ctx.fillText(label, m, y - 6 * dpr);
}

function drawLegend(truth: boolean): void {
  const items: [Colour, string][] = truth
    ? [
        [COLOURS.truePositive, 'found'],
        [COLOURS.falsePositive, 'false alarm'],
        [COLOURS.miss, 'missed'],
      ]
    : [[COLOURS.detection, 'detected mitosis']];
  el.legend.innerHTML = '';
  for (const [c, label] of items) {
    const item = document.createElement('span');
    const dot = document.createElement('i');
    dot.style.borderColor = rgb(c);
    item.append(dot, label);
    el.legend.append(item);
  }
  if (el.showHeatmap.checked) {
    const item = document.createElement('span');
    item.className = 'ramp';
    item.textContent = 'probability 0';
    const bar = document.createElement('b');
    item.append(bar, '1');
    el.legend.append(item);
  }
  el.legend.hidden = false;
}

function drawHeatmap(): void {
  const s = shown;
  if (!s) return;
  const { width, height, data } = s.map;
  const hm = heatmap(data, width, height);
  // transparent where the net sees nothing, opaque where it is sure
  for (let i = 0; i < data.length; i++) hm.data[4 * i + 3] = Math.round(255 * Math.min(1, 0.1 + 0.9 * Math.max(0, data[i])));
  el.heatCanvas.width = width;
  el.heatCanvas.height = height;
  el.heatCanvas.getContext('2d')!.putImageData(new ImageData(hm.data as Uint8ClampedArray<ArrayBuffer>, width, height), 0, 0);
  el.heatCanvas.hidden = !el.showHeatmap.checked;
}

function showCount(): void {
  const n = shown?.detections.length;
  el.count.textContent = n === undefined ? '–' : String(n);
  el.countLabel.textContent = n === 1 ? 'mitosis' : 'mitoses';
}

// ---------------------------------------------------------------- downloads

function stem(name: string): string {
  return (name.replace(/\.[^.]*$/, '') || name).replace(/[^\w.\-]+/g, '_');
}

function download(text: string, filename: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function downloadResult(kind: 'csv' | 'json' | 'geojson' | 'hotspot'): void {
  if (slideShown) return downloadSlideResult(kind);
  const s = shown;
  if (!s) return;
  const base = `${stem(s.image.name)}.mitoses`;
  if (kind === 'hotspot') return;
  if (kind === 'csv') download(detectionsCsv(s.detections), `${base}.csv`, 'text/csv');
  else if (kind === 'geojson') download(detectionsGeoJson(s.detections), `${base}.geojson`, 'application/geo+json');
  else {
    const meta = {
      models: s.models.files.slice(0, s.nets),
      nets: s.models.models.slice(0, s.nets).map((m) => m.spec.name),
      preset: s.preset,
      ...(s.mapStride > 1 ? { mapStride: s.mapStride } : {}),
      threshold: s.threshold,
      umPerPixel: s.umPerPixel,
      modelUmPerPixel: s.models.models[0].umPerPixel,
      smoothingRadiusPx: s.sm.radius,
      resampled: s.scale !== 1,
      seconds: Number(s.seconds.toFixed(2)),
      tool: 'mitoscan web page',
    };
    download(detectionsJson(s.image.name, s.image.image.width, s.image.image.height, s.detections, meta), `${base}.json`, 'application/json');
  }
}

// ---------------------------------------------------------------- wiring

function updateButtons(): void {
  const set = currentModels();
  el.run.disabled = running || !engine || !image || !set;
  el.run.title = !engine ? 'This browser has no WebGPU (see the note at the top)' : !image ? 'Open an image first' : !set ? 'Open a model file first' : '';
  const slideMode = !!slideOpen;
  el.run.hidden = slideMode;
  el.slideRun.hidden = !slideMode;
  const canSlide = slideMode && !running && !drawingRegion && !!engine && !!set;
  for (const b of [el.runView, el.runRegion, el.runSlide]) {
    b.disabled = !canSlide;
    b.title = !engine ? 'This browser has no WebGPU (see the note at the top)' : !set ? 'Open a model file first' : b.dataset.title ?? (b.dataset.title = b.title);
  }
  el.stop.hidden = !(slideMode && running);
  const has = (!!shown || !!slideShown) && !running;
  for (const b of [el.dlCsv, el.dlJson, el.dlGeoJson]) b.disabled = !has;
  el.dlHotspot.hidden = !slideMode;
  el.dlHotspot.disabled = !slideShown || running;
  el.threshold.disabled = !has;
  el.showHeatmap.disabled = !shown || running;
  const busy = running || drawingRegion;
  for (const x of [el.imageFile, el.sample, el.modelChoice, el.modelFile, el.preset, el.mpp]) (x as HTMLInputElement).disabled = busy;
  el.drop.classList.toggle('disabled', busy);
}

function isModelFile(f: File): boolean {
  return /\.mitoscan$/i.test(f.name);
}

function setup(): void {
  for (const p of Object.keys(PRESETS) as Preset[]) {
    const o = document.createElement('option');
    o.value = p;
    o.textContent = presetLabel(p);
    el.preset.append(o);
  }
  el.preset.value = 'DNNf1';
  setThreshold(DEFAULT_THRESHOLD);

  el.imageFile.addEventListener('change', () => {
    const f = el.imageFile.files?.[0];
    el.imageFile.value = '';
    if (f) void openImageFile(f);
  });
  el.modelFile.addEventListener('change', () => {
    const files = Array.from(el.modelFile.files ?? []);
    el.modelFile.value = '';
    if (files.length) void openModelFiles(files);
    else modelChanged();
  });
  el.modelChoice.addEventListener('change', () => {
    if (el.modelChoice.value === 'file' && !fromFile) el.modelFile.click();
    dropResult();
    dropSlideResult();
    modelChanged();
  });
  el.modelInfo.addEventListener('click', (ev) => {
    if ((ev.target as HTMLElement).dataset.action === 'open-model') el.modelFile.click();
  });
  el.sample.addEventListener('click', openSample);
  el.mpp.addEventListener('input', () => {
    mppTouched = true;
    slideMppHint();
    if (slideOpen) slideOpen.view.setScale(Number(el.mpp.value.trim()) || null);
    if (!shown) drawMarks(); // the scale bar
  });
  el.run.addEventListener('click', () => void runDetector());
  el.runView.addEventListener('click', () => void runSlide('view'));
  el.runRegion.addEventListener('click', () => void runSlide('region'));
  el.runSlide.addEventListener('click', () => void runSlide('slide'));
  el.stop.addEventListener('click', () => {
    stopRequested = true;
    setStatus('Stopping after the tile in progress…');
  });
  el.zoomIn.addEventListener('click', () => slideOpen?.view.zoomBy(1.6));
  el.zoomOut.addEventListener('click', () => slideOpen?.view.zoomBy(1 / 1.6));
  el.zoomHome.addEventListener('click', () => slideOpen?.view.home());
  el.dlHotspot.addEventListener('click', () => downloadResult('hotspot'));
  el.threshold.addEventListener('input', () => void thresholdMoved());
  el.showHeatmap.addEventListener('change', () => {
    el.heatCanvas.hidden = !el.showHeatmap.checked;
    if (shown) drawLegend(!!shown.image.truth);
  });
  el.dlCsv.addEventListener('click', () => downloadResult('csv'));
  el.dlJson.addEventListener('click', () => downloadResult('json'));
  el.dlGeoJson.addEventListener('click', () => downloadResult('geojson'));
  el.drop.addEventListener('click', (ev) => {
    if (!(ev.target as HTMLElement).closest('label')) el.imageFile.click(); // the label opens it itself
  });
  el.drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      el.imageFile.click();
    }
  });

  // drag and drop anywhere on the page: images open as the image, .mitoscan files as the model
  let depth = 0;
  document.addEventListener('dragenter', (ev) => {
    ev.preventDefault();
    if (++depth === 1) document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      document.body.classList.remove('dragging');
    }
  });
  document.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer) ev.dataTransfer.dropEffect = running ? 'none' : 'copy';
  });
  document.addEventListener('drop', (ev) => {
    ev.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    if (running || drawingRegion) return;
    const files = Array.from(ev.dataTransfer?.files ?? []);
    const models = files.filter(isModelFile);
    const images = files.filter((f) => !isModelFile(f));
    if (models.length) void openModelFiles(models);
    if (images.length) void openImageFile(images[0]);
    if (images.length > 1) setStatus(`Opened ${images[0].name}; the page works on one image at a time.`);
  });
  new ResizeObserver(() => layout()).observe(el.view);
  updateButtons();
}

hook.ready = (async () => {
  setup();
  await Promise.all([openEngine(), loadBuiltin()]);
  updateButtons();
})().catch((err) => {
  showError(`The page failed to start: ${err instanceof Error ? err.message : String(err)}`);
});

/** A detection that threw: say so, and reopen the engine when the GPU device was lost. */
async function detectionFailed(name: string, err: unknown): Promise<void> {
  const msg = err instanceof Error ? err.message : String(err);
  showError(`Detection on ${name} failed: ${msg}`);
  setStatus('');
  if (/device was lost/.test(msg)) {
    engine?.destroy();
    engine = null;
    hook.gpu = false;
    await openEngine();
  }
}
