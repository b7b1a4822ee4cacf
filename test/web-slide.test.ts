// The detection page (web/main.ts + web/slide-view.ts) on a whole slide, in real headless Chromium
// (WebGPU on SwiftShader, as test/web.test.ts):
//   - a pyramidal, tiled TIFF made in the test (a procedural H&E field, 1024x768 at 0.4912 µm/px,
//     written by encodeTiff, then `vips tiffsave --tile --pyramid --compression deflate`) opens in
//     the OpenSeadragon viewer (tiles from the lazy reader), with its µm/px from the file;
//   - the wheel zooms; "Detect in view" on a small zoomed-in view finds exactly what Node's
//     detectSlide finds on the same level-0 region (same x, y; scores to 1e-4), and the hotspot
//     (findHotspot on those detections) is shown with its count, density and mitotic score;
//   - the CSV, GeoJSON (slideGeoJson: level-0 points + the hotspot polygon) and hotspot JSON
//     downloads hold those; the slider re-thresholds from the kept pixels as slideDetections does;
//   - a slide that does not say its µm/px says so and asks for it; a small stripped TIFF still
//     opens as a flat image.
// Sizes are small (SwiftShader runs at ~0.2 GFLOP/s): the detection region is about 160x130 px
// and the net is the page tests' untrained compact20x (test/helpers/tiny-model.ts).
// Needs `vips` (libvips-tools); without it the test says so and is skipped.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBundle, startServer, type RunningServer } from '../pipelines/serve.js';
import { detectionsCsv, type Detection } from '../src/detect/results.js';
import { encodeTiff } from '../src/io/image.js';
import { encodeModel, type Model } from '../src/model/model-file.js';
import { detectSlide, planSlide, slideDetections } from '../src/slide/detect-slide.js';
import { areaWindow, findHotspot, slideGeoJson } from '../src/slide/hotspot.js';
import { openSlide, type Slide } from '../src/slide/slide.js';
import { bytesSource } from '../src/slide/source.js';
import { generateField } from '../src/synth/tissue.js';
import { launchChromium } from './helpers/chromium.js';
import { useEngine } from './helpers/gpu.js';
import { tinyPageModel } from './helpers/tiny-model.js';

const REPO = resolve(import.meta.dirname, '..');
const MPP = 0.4912;
const W = 1024, H = 768;
const SCORE_TOL = 1e-4;
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-web-slide-'));
const ROOT = join(TMP, 'root');
const FILES = join(TMP, 'files');
const SLIDE_PATH = join(FILES, 'field-slide.tif');
const NOMPP_PATH = join(FILES, 'no-mpp-slide.tif');
const FLAT_PATH = join(FILES, 'flat.tif');
const MODEL_PATH = join(FILES, 'tiny.mitoscan');
const SCREENSHOT = join(REPO, 'test-output/web-slide.png');
/** The view the test zooms to (level-0 px); the viewer widens it to its own aspect ratio. */
const TARGET = { x: 420, y: 300, w: 150, h: 120 };

const haveVips = spawnSync('vips', ['--version'], { encoding: 'utf8' }).status === 0;
const gpu = useEngine();
let model: Model;
let nodeSlide: Slide;
let browser: Browser;
let server: RunningServer;


function vipsPyramid(input: string, output: string): void {
  const r = spawnSync('vips', ['tiffsave', input, output, '--tile', '--tile-width', '256', '--tile-height', '256', '--pyramid', '--compression', 'deflate'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vips tiffsave ${input} failed: ${r.stderr || r.error}`);
}

beforeAll(async () => {
  if (!haveVips) return;
  mkdirSync(FILES, { recursive: true });
  await ensureWebBundle(REPO);
  mkdirSync(join(ROOT, 'web'), { recursive: true });
  mkdirSync(join(ROOT, 'dist/web'), { recursive: true });
  copyFileSync(join(REPO, 'web/index.html'), join(ROOT, 'web/index.html'));
  copyFileSync(join(REPO, 'web/style.css'), join(ROOT, 'web/style.css'));
  copyFileSync(join(REPO, 'dist/web/main.js'), join(ROOT, 'dist/web/main.js'));

  const field = generateField({ width: W, height: H, seed: 12, mpp: MPP });
  writeFileSync(FLAT_PATH, encodeTiff(field.image, { mpp: MPP })); // stripped: the flat path
  vipsPyramid(FLAT_PATH, SLIDE_PATH);
  const plain = join(FILES, 'plain.tif');
  writeFileSync(plain, encodeTiff(field.image)); // 72 dpi: no scan resolution
  vipsPyramid(plain, NOMPP_PATH);
  model = tinyPageModel(MPP, 'test/web-slide.test.ts');
  writeFileSync(MODEL_PATH, encodeModel(model, 'tiny.mitoscan'));
  nodeSlide = await openSlide(bytesSource(readFileSync(SLIDE_PATH), 'field-slide.tif'));

  server = await startServer({ port: 0, root: ROOT, build: false });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(TMP, { recursive: true, force: true });
});

async function openPage(): Promise<Page & { logs: string[] }> {
  const page = (await browser.newPage({ viewport: { width: 1000, height: 720 } })) as Page & { logs: string[] };
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) page.logs.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(server.url + '/');
  await page.evaluate(() => window.mitoscan.ready);
  return page;
}

async function waitVersion(page: Page & { logs: string[] }, v: number, timeout = 150_000): Promise<void> {
  try {
    await page.waitForFunction((old) => window.mitoscan.version > old || window.mitoscan.lastError !== null, v, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`the page gave no result: ${(e as Error).message}\nconsole:\n${page.logs.join('\n')}`);
  }
  const err = await page.evaluate(() => window.mitoscan.lastError);
  if (err) throw new Error(`the page shows an error: ${err}\nconsole:\n${page.logs.join('\n')}`);
}

async function downloadText(page: Page, button: string): Promise<{ name: string; text: string }> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  return { name: dl.suggestedFilename(), text: readFileSync(await dl.path(), 'utf8') };
}

function expectSame(got: readonly Detection[], want: readonly Detection[], what: string): void {
  expect(got.map((d) => [d.x, d.y]), what).toEqual(want.map((d) => [d.x, d.y]));
  got.forEach((d, i) => expect(Math.abs(d.score - want[i].score), `${what}: score of (${d.x}, ${d.y})`).toBeLessThanOrEqual(SCORE_TOL));
}

describe('the detection page on a pyramidal slide (OpenSeadragon + the lazy reader, Chromium/SwiftShader)', () => {
  it('opens the slide, zooms, detects in the view as Node detectSlide does, shows the hotspot and downloads level-0 results', async (ctx) => {
    if (!haveVips) {
      console.warn('web-slide test: `vips` is not installed (apt-get install libvips-tools): the pyramidal test slide cannot be made; skipped');
      ctx.skip();
    }
    const t0 = performance.now();
    // the test slide, as the reader sees it
    expect(nodeSlide.levels.length, 'vips wrote a pyramid').toBeGreaterThan(1);
    expect(nodeSlide.levels[0]).toMatchObject({ width: W, height: H, tiled: true, tileWidth: 256 });
    expect(nodeSlide.resolution.mpp).toBeCloseTo(MPP, 4);

    const page = await openPage();
    expect(await page.evaluate(() => window.mitoscan.gpu), 'WebGPU engine open in Chromium').toBe(true);
    await page.setInputFiles('#model-file', MODEL_PATH);
    await expect.poll(() => page.textContent('#model-info')).toMatch(/^tiny\.mitoscan: compact20x/);

    // a small stripped TIFF still opens flat (canvas view)
    await page.setInputFiles('#image-file', FLAT_PATH);
    await expect.poll(() => page.textContent('#image-info')).toBe(`flat.tif: ${W} × ${H} pixels`);
    expect(await page.evaluate(() => window.mitoscan.slide)).toBeNull();
    expect(await page.isVisible('#image-canvas')).toBe(true);

    // the pyramid opens in the viewer
    await page.setInputFiles('#image-file', SLIDE_PATH);
    await page.waitForFunction(() => window.mitoscan.slide !== null, null, { timeout: 30_000 });
    const info = (await page.evaluate(() => window.mitoscan.slide))!;
    expect(info).toMatchObject({ name: 'field-slide.tif', width: W, height: H, levels: nodeSlide.levels.map(({ width, height, downsample }) => ({ width, height, downsample })) });
    expect(info.mpp).toBeCloseTo(MPP, 4);
    expect(await page.textContent('#image-info')).toMatch(new RegExp(`^field-slide\\.tif: slide of 1,024 × 768 pixels, ${nodeSlide.levels.length} levels \\(1×, 2×, 4×\\), Deflate, 0\\.4912 µm/px \\(from the file\\)$`));
    expect(await page.inputValue('#mpp')).toBe('0.4912');
    expect(await page.isHidden('#slide-mpp')).toBe(true);
    expect(await page.isVisible('#slide-view')).toBe(true);
    expect(await page.isHidden('#image-canvas')).toBe(true);
    expect(await page.isVisible('#run-view')).toBe(true);
    expect(await page.isHidden('#run')).toBe(true);
    await page.waitForFunction(() => window.mitoscan.slideView!.fullyLoaded(), null, { timeout: 30_000, polling: 100 });
    expect(await page.evaluate(() => window.mitoscan.slideView!.tilesRendered())).toBeGreaterThan(0);

    // the wheel zooms in (OpenSeadragon's own mouse handling)
    const box = (await page.locator('#slide-view').boundingBox())!;
    const z0 = await page.evaluate(() => window.mitoscan.slideView!.zoom());
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -120);
    await expect.poll(() => page.evaluate(() => window.mitoscan.slideView!.zoom()), { timeout: 10_000 }).toBeGreaterThan(z0 * 1.3);
    // then to a small, known view (what the page analyses is what the viewer shows)
    await page.evaluate((r) => window.mitoscan.slideView!.showRegion(r, true), TARGET);
    await page.waitForFunction(() => window.mitoscan.slideView!.fullyLoaded(), null, { timeout: 30_000, polling: 100 });
    const view = await page.evaluate(() => window.mitoscan.slideView!.viewRegion());
    expect(view.x).toBeLessThanOrEqual(TARGET.x);
    expect(view.x + view.w).toBeGreaterThanOrEqual(TARGET.x + TARGET.w);
    expect(view.w * view.h, 'a small view (SwiftShader is slow)').toBeLessThan(300 * 250);

    const tRun = performance.now();
    await page.click('#run-view');
    await waitVersion(page, 0);
    const runSeconds = (performance.now() - tRun) / 1000;
    const res = (await page.evaluate(() => window.mitoscan.lastResult))!;
    expect(res.slide!.mode).toBe('view');
    expect(res.slide!.region).toEqual(view);
    expect(res.width).toBe(W);
    expect(res.height).toBe(H);
    expect(res.umPerPixel, "the file's µm/px, not its rounding in the field").toBe(nodeSlide.resolution.mpp);
    const progress = (await page.evaluate(() => window.mitoscan.progress))!;
    expect(progress.done).toBe(progress.total);

    // Node on the same slide file and level-0 region
    const want = await detectSlide(gpu.e, [model], nodeSlide, { threshold: res.threshold, region: res.slide!.region, mpp: res.umPerPixel });
    expect(want.detections.length, 'the test needs some detections').toBeGreaterThan(2);
    expectSame(res.detections, want.detections, 'page vs detectSlide');
    for (const d of res.detections) {
      expect(d.x).toBeGreaterThanOrEqual(view.x);
      expect(d.x).toBeLessThan(view.x + view.w);
    }
    expect(await page.textContent('#count')).toBe(String(want.detections.length));
    const hs = findHotspot(want.detections, res.umPerPixel, areaWindow(), want.plan.mask);
    expect(res.slide!.hotspot.count).toBe(hs.count);
    expect(res.slide!.hotspot.x).toBeCloseTo(hs.x, 3);
    expect(res.slide!.hotspot.score.score).toBe(hs.score.score);
    expect(await page.textContent('#hotspot-count')).toBe(String(hs.count));
    expect(await page.textContent('#hotspot-density')).toBe((hs.perMm2 >= 10 ? hs.perMm2.toFixed(1) : hs.perMm2.toFixed(2)));
    expect(await page.textContent('#hotspot-score')).toBe(String(hs.score.score));
    expect(await page.textContent('#hotspot')).toMatch(/less than the window/);

    // downloads: level-0 rows, the hotspot polygon, the hotspot JSON
    const csv = await downloadText(page, '#dl-csv');
    expect(csv.name).toBe('field-slide.mitoses.csv');
    expect(csv.text).toBe(detectionsCsv(res.detections));
    const geo = await downloadText(page, '#dl-geojson');
    expect(geo.name).toBe('field-slide.mitoses.geojson');
    const pageHotspot = { ...res.slide!.hotspot, members: [] };
    expect(geo.text).toBe(slideGeoJson(res.detections, pageHotspot));
    const g = JSON.parse(geo.text);
    expect(g.features.slice(0, -1).map((f: { geometry: { coordinates: number[] } }) => f.geometry.coordinates)).toEqual(want.detections.map((d) => [d.x, d.y]));
    expect(g.features.at(-1).properties.measurements.count).toBe(hs.count);
    const hj = JSON.parse((await downloadText(page, '#dl-hotspot')).text);
    expect(hj).toMatchObject({ slide: 'field-slide.tif', width: W, height: H, coordinates: 'level-0 pixels', mode: 'view', region: view, count: want.detections.length, hotspot: { count: hs.count, areaMm2: 2 } });
    expect(hj.hotspot.score.score).toBe(hs.score.score);
    const dj = await downloadText(page, '#dl-json');
    expect(dj.name).toBe('field-slide.mitoses.json');
    const j = JSON.parse(dj.text);
    expect(j).toMatchObject({ image: 'field-slide.tif', width: W, height: H, count: want.detections.length, coordinates: 'level-0 pixels', region: view, preset: 'DNNf1', models: ['tiny.mitoscan'], umPerPixelFrom: 'file' });
    expect(j.detections.map((d: Detection) => [d.x, d.y])).toEqual(want.detections.map((d) => [d.x, d.y]));

    // the slider: re-suppression over the kept pixels, as slideDetections
    const up = [0.5, 0.45, 0.6, 0.4].find((t) => want.detections.every((d) => Math.abs(d.score - t) > 1e-3) && slideDetections(want.kept.values(), { ...want.plan, threshold: t }).length !== want.detections.length);
    expect(up, 'a threshold above the run\'s with another count').toBeDefined();
    {
      const t = up!;
      const v = await page.evaluate(() => window.mitoscan.version);
      await page.locator('#threshold').fill(String(t));
      await waitVersion(page, v);
      const r2 = (await page.evaluate(() => window.mitoscan.lastResult))!;
      expect(r2.threshold).toBe(t);
      expectSame(r2.detections, slideDetections(want.kept.values(), { ...want.plan, threshold: t }), `slider at ${t}`);
      expect(await page.textContent('#count')).toBe(String(r2.detections.length));
      const v2 = await page.evaluate(() => window.mitoscan.version);
      await page.locator('#threshold').fill(String(res.threshold));
      await waitVersion(page, v2);
    }

    // a drawn region: drag a rectangle on the slide; the page analyses what was drawn
    const REGION = { x: view.x + 20, y: view.y + 15, w: 110, h: 90 };
    await page.click('#run-region');
    await expect.poll(() => page.textContent('#status')).toMatch(/Drag a rectangle/);
    const vbox = (await page.locator('#slide-view').boundingBox())!; // the page scrolled the viewer into view
    const sx = (x: number) => vbox.x + ((x - view.x) * vbox.width) / view.w;
    const sy = (y: number) => vbox.y + ((y - view.y) * vbox.height) / view.h;
    const vr = await page.evaluate(() => window.mitoscan.version);
    await page.mouse.move(sx(REGION.x), sy(REGION.y));
    await page.mouse.down();
    await page.mouse.move(sx(REGION.x + REGION.w / 2), sy(REGION.y + REGION.h / 2), { steps: 3 });
    await page.mouse.move(sx(REGION.x + REGION.w), sy(REGION.y + REGION.h), { steps: 3 });
    await page.mouse.up();
    await waitVersion(page, vr, 60_000);
    const rr = (await page.evaluate(() => window.mitoscan.lastResult))!;
    expect(rr.slide!.mode).toBe('region');
    const got = rr.slide!.region;
    for (const k of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(got[k] - REGION[k]), `drawn region ${k}`).toBeLessThanOrEqual(3);
    const wantRegion = await detectSlide(gpu.e, [model], nodeSlide, { threshold: rr.threshold, region: got, mpp: rr.umPerPixel });
    expectSame(rr.detections, wantRegion.detections, 'drawn region: page vs detectSlide');
    expect(await page.evaluate(() => window.mitoscan.slideView!.zoom())).toBeGreaterThan(z0 * 1.3); // drawing did not pan or zoom

    // the picture: zoomed out a little so that the analysed region and its circles show
    await page.evaluate((r) => window.mitoscan.slideView!.showRegion({ x: r.x - r.w / 2, y: r.y - r.h / 2, w: r.w * 2, h: r.h * 2 }, true), view);
    await page.waitForFunction(() => window.mitoscan.slideView!.fullyLoaded(), null, { timeout: 30_000, polling: 100 });
    mkdirSync(join(REPO, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);

    // the whole slide: every tile over tissue (as planSlide plans them), with progress; Stop ends it after the tile in progress
    const plan = await planSlide(nodeSlide, [model], { threshold: rr.threshold, mpp: rr.umPerPixel });
    const shownBefore = await page.textContent('#count');
    await page.click('#run-slide');
    await page.waitForFunction(() => (window.mitoscan.progress?.total ?? 0) > 0, null, { timeout: 30_000, polling: 100 });
    expect(await page.evaluate(() => window.mitoscan.progress!.total)).toBe(plan.tiles.length);
    expect(await page.isVisible('#stop')).toBe(true);
    expect(await page.isDisabled('#run-view')).toBe(true);
    await page.click('#stop');
    await expect.poll(() => page.textContent('#status'), { timeout: 120_000 }).toMatch(/^Stopped; the results shown are those of the last run\.$/);
    expect(await page.isHidden('#stop')).toBe(true);
    expect(await page.isEnabled('#run-view')).toBe(true);
    expect(await page.textContent('#count')).toBe(shownBefore);
    expect(await page.evaluate(() => window.mitoscan.lastError)).toBeNull();

    // a slide without a scan resolution: the page says so and asks for it
    await page.setInputFiles('#image-file', NOMPP_PATH);
    await page.waitForFunction(() => window.mitoscan.slide?.name === 'no-mpp-slide.tif', null, { timeout: 30_000 });
    expect(await page.evaluate(() => window.mitoscan.slide!.mpp)).toBeNull();
    expect(await page.inputValue('#mpp')).toBe('');
    expect(await page.textContent('#slide-mpp')).toMatch(/^no-mpp-slide\.tif does not say its µm per pixel \(.*writer's default.*\)\. Enter it/);
    expect(await page.isHidden('#dl-csv') || (await page.isDisabled('#dl-csv'))).toBe(true);
    await page.click('#run-view');
    await expect.poll(() => page.textContent('#error')).toMatch(/does not say its µm per pixel .*enter it in the resolution field/);
    await page.locator('#mpp').fill('0.25');
    expect(await page.isHidden('#slide-mpp')).toBe(true);
    console.log(`web-slide screenshot: ${SCREENSHOT} (detect in view ${view.w}x${view.h} px: ${runSeconds.toFixed(1)} s in SwiftShader; test ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    await page.close();
  }, 240_000);
});
