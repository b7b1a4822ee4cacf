// The detection web page (web/main.ts) served by `mitoscan serve` (pipelines/serve.ts), driven in
// real headless Chromium (WebGPU on SwiftShader, as test/browser-parity.test.ts):
//   - the server: MIME types, 404s, no path traversal (raw request paths, not normalised by a client);
//   - the page opens a PNG and a model file, runs, and shows exactly the detections Node's
//     detectMitoses finds on the same image and model (same x, y; scores to 1e-4);
//   - the threshold slider re-runs only the suppression: its counts and points are Node's
//     SmoothedMap.detections(t) at the same t;
//   - the CSV / JSON / GeoJSON downloads hold those rows; bad files are reported naming them;
//   - without WebGPU the page shows the banner that says what to do.
// The image (96x96 at 0.4912 µm/px) and the net (untrained compact20x, its output layer scaled so
// that the probabilities spread over 0..1) are tiny: SwiftShader runs at ~0.2 GFLOP/s.
// The served root is a temporary folder with copies of web/index.html, web/style.css and the built
// dist/web/main.js (and no models/default.mitoscan), so that the test does not depend on whether
// the built-in model exists.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { bundleCli } from './helpers/cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBundle, resolveRequest, startServer, type RunningServer } from '../pipelines/serve.js';
import { detectMitoses, probabilityMap, SmoothedMap, smoothingRadiusPx } from '../src/detect/detector.js';
import { detectionsCsv, type Detection } from '../src/detect/results.js';
import { modelThreshold } from '../src/detect/threshold.js';
import { decodeImage, encodePng, rescaleToMpp } from '../src/io/image.js';
import { decodeModel, encodeModel, type Model } from '../src/model/model-file.js';
import { generateField } from '../src/synth/tissue.js';
import { launchChromium } from './helpers/chromium.js';
import { useEngine } from './helpers/gpu.js';
import { tinyPageModel } from './helpers/tiny-model.js';

const REPO = resolve(import.meta.dirname, '..');
const MPP = 0.4912;
const SIZE = 96;
const SCORE_TOL = 1e-4;
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-web-'));
const ROOT = join(TMP, 'root'); // the served package folder
const FILES = join(TMP, 'files'); // what the "user" opens
const IMAGE_PATH = join(FILES, 'field.png');
const MODEL_PATH = join(FILES, 'tiny.mitoscan');
const SCREENSHOT = join(REPO, 'test-output/web.png');
// the CLI bundle lives under the repository so that it finds the package folder (and node_modules)
const CLI_DIR = join(REPO, 'dist', `test-web-${process.pid}`);

const gpu = useEngine();
let model: Model;
let nodeResult: Detection[];
let smoothed: SmoothedMap;
let browser: Browser;
let server: RunningServer;


beforeAll(async () => {
  mkdirSync(FILES, { recursive: true });
  // the served root: the page, its bundle (built from the sources when stale), a file that must never be served
  await ensureWebBundle(REPO);
  mkdirSync(join(ROOT, 'web'), { recursive: true });
  mkdirSync(join(ROOT, 'dist/web'), { recursive: true });
  copyFileSync(join(REPO, 'web/index.html'), join(ROOT, 'web/index.html'));
  copyFileSync(join(REPO, 'web/style.css'), join(ROOT, 'web/style.css'));
  copyFileSync(join(REPO, 'dist/web/main.js'), join(ROOT, 'dist/web/main.js'));
  writeFileSync(join(ROOT, 'secret.txt'), 'SECRET');
  writeFileSync(join(ROOT, 'web/main.ts'), '// SECRET source');

  const field = generateField({ width: SIZE, height: SIZE, seed: 11, mpp: MPP });
  writeFileSync(IMAGE_PATH, encodePng(field.image));
  model = tinyPageModel(MPP, 'test/web.test.ts');
  writeFileSync(MODEL_PATH, encodeModel(model, 'tiny.mitoscan'));
  writeFileSync(join(FILES, 'broken.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]));
  writeFileSync(join(FILES, 'notes.mitoscan'), 'this is not a model');

  // Node (Dawn) on the decoded PNG, as the page sees it
  const image = decodeImage(readFileSync(IMAGE_PATH), 'field.png');
  nodeResult = (await detectMitoses(gpu.e, [model], image)).detections;
  smoothed = SmoothedMap.create(gpu.e, await probabilityMap(gpu.e, [model], image), smoothingRadiusPx(MPP));

  server = await startServer({ port: 0, root: ROOT, build: false });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  smoothed?.release();
  await browser?.close();
  await server?.close();
  rmSync(TMP, { recursive: true, force: true });
  rmSync(CLI_DIR, { recursive: true, force: true });
});

/** A raw GET (the path is sent as written: fetch() would normalise '..' away). */
function rawGet(url: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('mitoscan serve', () => {
  it('serves the page, the bundle and the model with their MIME types', async () => {
    const page = await rawGet(server.url, '/');
    expect(page.status).toBe(200);
    expect(page.type).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<script type="module" src="main.js">');
    expect((await rawGet(server.url, '/index.html')).body).toBe(page.body);
    expect((await rawGet(server.url, '/style.css')).type).toBe('text/css; charset=utf-8');
    const js = await rawGet(server.url, '/main.js?v=1');
    expect(js.status).toBe(200);
    expect(js.type).toBe('text/javascript; charset=utf-8');
    expect(js.body.length).toBeGreaterThan(10_000);
    const noModel = await rawGet(server.url, '/models/default.mitoscan');
    expect(noModel.status).toBe(404);
    expect(noModel.body).toMatch(/no built-in model/);
    expect((await rawGet(server.url, '/', 'POST')).status).toBe(405);
    const head = await rawGet(server.url, '/style.css', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('serves models/default.mitoscan as application/octet-stream when it exists', async () => {
    const root = join(TMP, 'root-with-model');
    mkdirSync(join(root, 'models'), { recursive: true });
    mkdirSync(join(root, 'web'), { recursive: true });
    writeFileSync(join(root, 'web/index.html'), '<!doctype html>');
    writeFileSync(join(root, 'models/default.mitoscan'), encodeModel(model));
    const s = await startServer({ port: 0, root, build: false });
    try {
      const r = await rawGet(s.url, '/models/default.mitoscan');
      expect(r.status).toBe(200);
      expect(r.type).toBe('application/octet-stream');
      expect(r.body.startsWith('MITOSCAN')).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('never serves a file outside web/, dist/web/main.js(.map) and models/default.mitoscan', async () => {
    const attacks = [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/web/../secret.txt',
      '/x/../../secret.txt',
      '/..\\secret.txt',
      '/%5c..%5csecret.txt',
      '/..%5csecret.txt',
      '//secret.txt',
      '/./secret.txt',
      '/secret.txt',
      '/main.ts',
      '/web/index.html',
      '/dist/web/main.js',
      '/models/../secret.txt',
      '/models/%2e%2e/secret.txt',
      '/style.css%00.html',
      '/%',
      '/' + '../'.repeat(12) + 'etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    ];
    for (const p of attacks) {
      const r = await rawGet(server.url, p);
      expect(r.status, p).toBe(404);
      expect(r.body, p).not.toContain('SECRET');
      expect(r.body, p).not.toContain('root:');
    }
    // the resolver alone, on paths a client could not even send
    for (const p of ['/..', '/a/../../b', '/\0', '/C:/x', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd']) expect(resolveRequest(ROOT, p), p).toBeNull();
    expect(resolveRequest(ROOT, '/style.css')).toBe(join(ROOT, 'web/style.css'));
  });
});

describe('the `mitoscan serve` command', () => {
  it('prints the URL, serves the page, and stops cleanly on SIGINT; bad options exit 2', async () => {
    const cli = join(CLI_DIR, 'cli.mjs');
    await bundleCli(cli);
    const p = spawn(process.execPath, [cli, 'serve', '--port', '0'], { cwd: TMP, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => p.on('exit', (code, signal) => ok({ code, signal })));
    try {
      await expect.poll(() => out, { timeout: 60_000, interval: 100 }).toMatch(/the detection page is at http:\/\/127\.0\.0\.1:\d+\//);
      const url = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)![1];
      const r = await rawGet(url, '/');
      expect(r.status).toBe(200);
      expect(r.body).toContain('mitoscan');
      expect((await rawGet(url, '/main.js')).status).toBe(200);
      expect((await rawGet(url, '/../package.json')).status).toBe(404);
    } finally {
      p.kill('SIGINT');
    }
    const { code, signal } = await exited;
    expect({ code, signal }, err).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/stopping/);

    const bad = spawn(process.execPath, [cli, 'serve', '--port', 'eighty'], { cwd: TMP, stdio: ['ignore', 'pipe', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (d) => (badErr += d));
    const badCode = await new Promise<number | null>((ok) => bad.on('exit', (c) => ok(c)));
    expect(badCode).toBe(2);
    expect(badErr).toMatch(/--port: 'eighty' is not a valid value/);
  }, 120_000);
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  (page as Page & { logs: string[] }).logs = logs;
  await page.goto(server.url + '/');
  await page.evaluate(() => window.mitoscan.ready);
  return page;
}

/** Waits until window.mitoscan.version exceeds `v`, or fails with the page's error and console. */
async function waitVersion(page: Page, v: number, timeout = 150_000): Promise<void> {
  try {
    await page.waitForFunction((old) => window.mitoscan.version > old || window.mitoscan.lastError !== null, v, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`the page gave no result: ${(e as Error).message}\nconsole:\n${(page as Page & { logs: string[] }).logs.join('\n')}`);
  }
  const err = await page.evaluate(() => window.mitoscan.lastError);
  if (err) throw new Error(`the page shows an error: ${err}`);
}

function expectSame(got: readonly Detection[], want: readonly Detection[], what: string): void {
  expect(got.map((d) => [d.x, d.y]), what).toEqual(want.map((d) => [d.x, d.y]));
  got.forEach((d, i) => expect(Math.abs(d.score - want[i].score), `${what}: score of (${d.x}, ${d.y})`).toBeLessThanOrEqual(SCORE_TOL));
}

async function downloadText(page: Page, button: string): Promise<{ name: string; text: string }> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  const path = await dl.path();
  return { name: dl.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

describe('the detection page in Chromium (WebGPU on SwiftShader)', () => {
  it('finds what Node finds; the slider re-thresholds as SmoothedMap does; downloads hold the rows', async () => {
    const t0 = performance.now();
    const page = await openPage();
    expect(await page.evaluate(() => window.mitoscan.gpu), 'WebGPU engine open in Chromium').toBe(true);
    expect(await page.isHidden('#nogpu')).toBe(true);
    await expect.poll(() => page.textContent('#model-info')).toMatch(/No built-in model: open a model file/);
    expect(await page.isDisabled('#run')).toBe(true);

    // bad files are reported on the page, naming them
    await page.setInputFiles('#image-file', join(FILES, 'broken.png'));
    await expect.poll(() => page.textContent('#error')).toMatch(/^broken\.png: /);
    await page.setInputFiles('#model-file', join(FILES, 'notes.mitoscan'));
    await expect.poll(() => page.textContent('#error')).toMatch(/^notes\.mitoscan: /);
    await page.evaluate(() => (window.mitoscan.lastError = null));

    await page.setInputFiles('#model-file', MODEL_PATH);
    await expect.poll(() => page.textContent('#model-info')).toMatch(/tiny\.mitoscan: compact20x, 31×31 px window, 0\.4912 µm\/px/);
    expect(await page.inputValue('#mpp')).toBe('0.4912');
    expect(await page.inputValue('#threshold')).toBe('0.35');
    await page.setInputFiles('#image-file', IMAGE_PATH);
    await expect.poll(() => page.textContent('#image-info')).toBe(`field.png: ${SIZE} × ${SIZE} pixels`);
    expect(await page.isHidden('#error')).toBe(true);

    const tRun = performance.now();
    await page.click('#run');
    await waitVersion(page, 0);
    const runSeconds = (performance.now() - tRun) / 1000;
    const res = (await page.evaluate(() => window.mitoscan.lastResult))!;
    const progress = (await page.evaluate(() => window.mitoscan.progress))!;
    expect(progress.total).toBeGreaterThanOrEqual(1);
    expect(progress.done).toBe(progress.total);
    expect(await page.isHidden('#progress')).toBe(true);
    expect(res.width).toBe(SIZE);
    expect(res.height).toBe(SIZE);
    expect(res.threshold).toBe(0.35);
    expect(nodeResult.length, 'the test needs some detections').toBeGreaterThan(3);
    expectSame(res.detections, nodeResult, 'page vs detectMitoses');
    expect(await page.textContent('#count')).toBe(String(nodeResult.length));
    expect(await page.textContent('#status')).toMatch(/^field\.png: done in [\d.]+ s \(DNNf1, 1 net at 0\.4912 µm\/px\)\.$/);

    // the slider: two thresholds with other counts than at 0.35, away from any score by > 1e-3
    const all = await smoothed.detections(0.01);
    const clear = (t: number) => all.every((d) => Math.abs(d.score - t) > 1e-3);
    const candidates = [0.5, 0.55, 0.6, 0.45, 0.25, 0.2, 0.3, 0.15].filter(clear);
    const picks: { t: number; want: Detection[] }[] = [];
    for (const t of candidates) {
      const want = await smoothed.detections(t);
      if (want.length !== nodeResult.length && !picks.some((p) => p.want.length === want.length)) picks.push({ t, want });
      if (picks.length === 2) break;
    }
    expect(picks.length, 'two thresholds with other counts').toBe(2);
    for (const { t, want } of picks) {
      const v = await page.evaluate(() => window.mitoscan.version);
      await page.locator('#threshold').fill(String(t));
      await waitVersion(page, v);
      const r = (await page.evaluate(() => window.mitoscan.lastResult))!;
      expect(r.threshold).toBe(t);
      expectSame(r.detections, want, `slider at ${t}`);
      expect(await page.textContent('#count')).toBe(String(want.length));
      expect(await page.textContent('#threshold-value')).toBe(String(t));
    }
    const last = picks[picks.length - 1];

    // downloads: the rows now shown
    const csv = await downloadText(page, '#dl-csv');
    expect(csv.name).toBe('field.mitoses.csv');
    const shown = (await page.evaluate(() => window.mitoscan.lastResult))!.detections;
    expect(csv.text).toBe(detectionsCsv(shown));
    const rows = csv.text.trim().split('\n');
    expect(rows[0]).toBe('x,y,score');
    const parsed = rows.slice(1).map((l) => l.split(',').map(Number));
    expect(parsed.map(([x, y]) => [x, y])).toEqual(last.want.map((d) => [d.x, d.y]));
    parsed.forEach(([, , s], i) => expect(Math.abs(s - last.want[i].score)).toBeLessThanOrEqual(SCORE_TOL));
    const json = await downloadText(page, '#dl-json');
    expect(json.name).toBe('field.mitoses.json');
    const j = JSON.parse(json.text);
    expect(j).toMatchObject({ image: 'field.png', width: SIZE, height: SIZE, count: last.want.length, threshold: last.t, preset: 'DNNf1', umPerPixel: MPP, models: ['tiny.mitoscan'] });
    expect(j.detections.map((d: Detection) => [d.x, d.y])).toEqual(last.want.map((d) => [d.x, d.y]));
    const geo = await downloadText(page, '#dl-geojson');
    expect(geo.name).toBe('field.mitoses.geojson');
    const g = JSON.parse(geo.text);
    expect(g.type).toBe('FeatureCollection');
    expect(g.features.map((f: { geometry: { coordinates: number[] } }) => f.geometry.coordinates)).toEqual(last.want.map((d) => [d.x, d.y]));

    // back to the model's threshold; the heatmap shows and hides
    const v = await page.evaluate(() => window.mitoscan.version);
    await page.locator('#threshold').fill('0.35');
    await waitVersion(page, v);
    expect(await page.textContent('#count')).toBe(String(nodeResult.length));
    await page.check('#show-heatmap');
    expect(await page.isVisible('#heat-canvas')).toBe(true);
    await page.uncheck('#show-heatmap');
    // the picture: the pick with the fewest detections
    const fewest = picks.reduce((a, b) => (b.want.length < a.want.length ? b : a));
    const v2 = await page.evaluate(() => window.mitoscan.version);
    await page.locator('#threshold').fill(String(fewest.t));
    await waitVersion(page, v2);
    await page.evaluate(() => window.scrollTo(0, 0));
    mkdirSync(join(REPO, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`web page screenshot: ${SCREENSHOT} (run ${runSeconds.toFixed(1)} s in SwiftShader, test ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.close();
  }, 240_000);

  it('with the built-in model (models/default.mitoscan, served from the package) it finds the mitoses Node finds', async () => {
    const builtin = join(REPO, 'models/default.mitoscan');
    expect(existsSync(builtin), 'the repository ships models/default.mitoscan').toBe(true);
    const shipped = decodeModel(readFileSync(builtin), builtin);
    const field = generateField({ width: 160, height: 160, seed: 21, mpp: shipped.umPerPixel, mitoses: 3 });
    const png = join(FILES, 'sample-field.png');
    writeFileSync(png, encodePng(field.image));
    const t = modelThreshold(shipped); // the page's rule is the library's (src/detect/threshold.ts)
    const want = (await detectMitoses(gpu.e, [shipped], decodeImage(readFileSync(png), png), { threshold: t })).detections;
    const repoServer = await startServer({ port: 0, root: REPO, build: false });
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    try {
      await page.goto(repoServer.url + '/');
      await page.evaluate(() => window.mitoscan.ready);
      await page.selectOption('#model-choice', 'builtin');
      await page.setInputFiles('#image-file', png);
      await expect.poll(() => page.textContent('#image-info')).toBe('sample-field.png: 160 × 160 pixels');
      const v = await page.evaluate(() => window.mitoscan.version);
      await page.click('#run');
      await waitVersion(page, v);
      const got = (await page.evaluate(() => window.mitoscan.lastResult))!;
      expect(got.threshold).toBeCloseTo(t, 6);
      expectSame(got.detections, want, 'built-in model: page vs Node');
      // the page says which model runs, at which resolution, and how to set µm/px
      const info = (await page.textContent('#model-info'))!;
      expect(info).toContain(shipped.spec.name);
      expect(info).toMatch(new RegExp(`runs at ${shipped.umPerPixel} µm/px`));
      expect(info).toMatch(/set your image's resolution/);
      mkdirSync(join(REPO, 'test-output'), { recursive: true });
      await page.screenshot({ path: join(REPO, 'test-output/web-default-model.png'), fullPage: true });
    } finally {
      await page.close();
      await repoServer.close();
    }
  }, 240_000);

  it('the Fast map box: the page finds what Node finds at map stride 2, and says so', async () => {
    const image = decodeImage(readFileSync(IMAGE_PATH), 'field.png');
    const want = (await detectMitoses(gpu.e, [model], image, { mapStride: 2 })).detections;
    expect(want.length, 'the test needs some detections').toBeGreaterThan(3);
    const page = await openPage();
    try {
      await page.setInputFiles('#model-file', MODEL_PATH);
      await expect.poll(() => page.textContent('#model-info')).toMatch(/tiny\.mitoscan: compact20x/);
      await page.setInputFiles('#image-file', IMAGE_PATH);
      await expect.poll(() => page.textContent('#image-info')).toBe(`field.png: ${SIZE} × ${SIZE} pixels`);
      await page.check('#fast-map');
      await page.click('#run');
      await waitVersion(page, 0);
      const got = (await page.evaluate(() => window.mitoscan.lastResult))!;
      expectSame(got.detections, want, 'page (fast map) vs detectMitoses at map stride 2');
      expect(await page.textContent('#status')).toMatch(/\(DNNf1, fast map, 1 net at 0\.4912 µm\/px\)\.$/);
      const json = JSON.parse((await downloadText(page, '#dl-json')).text);
      expect(json.mapStride).toBe(2);
    } finally {
      await page.close();
    }
  });

  it('a real H&E tile from ../shared/data with the built-in model: the page finds what Node finds at the tile\'s µm/px', async (ctx) => {
    // MITOS-ATYPIA-14, scanner H (Hamamatsu, 0.2273 µm/px): another scanner than the training data
    const tile = join(REPO, '../shared/data/mitos-atypia14-tiles/mitosis/H03_00Aa_1.jpg');
    if (!existsSync(tile)) {
      console.warn(`web test: ${tile} is absent (../shared/data is not beside the repository): the real-tile test is skipped`);
      ctx.skip();
    }
    const TILE_MPP = 0.2273;
    const shipped = decodeModel(readFileSync(join(REPO, 'models/default.mitoscan')), 'default.mitoscan');
    const t = modelThreshold(shipped);
    const image = decodeImage(readFileSync(tile), tile);
    const want = (await detectMitoses(gpu.e, [shipped], image, { threshold: t, umPerPixel: TILE_MPP, rescale: rescaleToMpp })).detections;
    const repoServer = await startServer({ port: 0, root: REPO, build: false });
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    try {
      await page.goto(repoServer.url + '/');
      await page.evaluate(() => window.mitoscan.ready);
      await page.selectOption('#model-choice', 'builtin');
      await page.setInputFiles('#image-file', tile);
      await expect.poll(() => page.textContent('#image-info')).toBe(`H03_00Aa_1.jpg: ${image.width} × ${image.height} pixels`);
      await page.locator('#mpp').fill(String(TILE_MPP));
      const v = await page.evaluate(() => window.mitoscan.version);
      await page.click('#run');
      await waitVersion(page, v);
      const got = (await page.evaluate(() => window.mitoscan.lastResult))!;
      expect(got.umPerPixel).toBeCloseTo(TILE_MPP, 9);
      expectSame(got.detections, want, 'real tile: page vs Node');
      mkdirSync(join(REPO, 'test-output'), { recursive: true });
      await page.screenshot({ path: join(REPO, 'test-output/web-real-tile.png'), fullPage: true });
      console.log(`web page screenshot: ${join(REPO, 'test-output/web-real-tile.png')} (${want.length} detection(s) on a real ATYPIA tile)`);
    } finally {
      await page.close();
      await repoServer.close();
    }
  }, 240_000);

  it('without WebGPU the page says so and what to do, and Run stays off', async () => {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    await page.goto(server.url + '/');
    await page.evaluate(() => window.mitoscan.ready);
    expect(await page.evaluate(() => window.mitoscan.gpu)).toBe(false);
    expect(await page.isVisible('#nogpu')).toBe(true);
    const text = (await page.textContent('#nogpu'))!;
    expect(text).toMatch(/WebGPU/);
    expect(text).toMatch(/Chrome or Edge 113/);
    expect(text).toMatch(/Firefox 141/);
    expect(text).toMatch(/Safari 26/);
    expect(text).toContain('chrome://flags/#enable-unsafe-webgpu');
    // images still open (dropped on the page, or generated); the detector stays off
    const drop = async (files: { name: string; bytes: number[] }[]) =>
      page.evaluate((fs) => {
        const dt = new DataTransfer();
        for (const f of fs) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
        document.querySelector('#view')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, files);
    await drop([
      { name: 'tiny.mitoscan', bytes: [...readFileSync(MODEL_PATH)] },
      { name: 'field.png', bytes: [...readFileSync(IMAGE_PATH)] },
    ]);
    await expect.poll(() => page.textContent('#image-info')).toBe(`field.png: ${SIZE} × ${SIZE} pixels`);
    await expect.poll(() => page.textContent('#model-info')).toMatch(/^tiny\.mitoscan: compact20x/);
    expect(await page.isDisabled('#run')).toBe(true);
    await page.click('#sample');
    await expect.poll(() => page.textContent('#image-info')).toMatch(/^sample-\d+\.png: \d+ × \d+ pixels$/);
    expect(await page.inputValue('#mpp')).toBe('0.4912');
    expect(await page.isDisabled('#run')).toBe(true);
    await page.close();
  });

  it('in a Chromium started without the WebGPU flags the banner shows too', async () => {
    const { chromium } = await import('playwright-core');
    const { CHROMIUM } = await import('./helpers/chromium.js');
    const plain = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-features=WebGPU,Vulkan'] });
    try {
      const page = await plain.newPage();
      await page.goto(server.url + '/');
      await page.evaluate(() => window.mitoscan.ready);
      expect(await page.evaluate(() => window.mitoscan.gpu)).toBe(false);
      expect(await page.textContent('#nogpu')).toMatch(/cannot run the detector/);
    } finally {
      await plain.close();
    }
  });
});
