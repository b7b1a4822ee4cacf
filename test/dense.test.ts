import { describe, expect, it } from 'vitest';
import { dihedral } from '../engine/ops/image.js';
import { checkMapStride, denseLogits, denseMap, denseMaps, denseTileBytes, largestTile, normaliseImage, windows, type RgbaImage } from '../src/model/dense.js';
import { initModel, type Model } from '../src/model/model-file.js';
import { Network } from '../src/model/network.js';
import { DNN1, type NetSpec } from '../src/model/spec.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray, rng } from './helpers/reference.js';
import { reflectIndex as reflect } from './reference/image.js';

const ctx = useEngine();

function randomImage(width: number, height: number, seed: number): RgbaImage {
  const r = rng(seed);
  const data = new Uint8ClampedArray(width * height * 4);
  // smooth-ish colours plus noise, so that the nets see structure
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 4; c++) data[4 * (y * width + x) + c] = c === 3 ? 255 : 128 + 80 * Math.sin((x + 2 * c) / 3 + y / 5) + 40 * (r() - 0.5);
  return { width, height, data };
}

/** Windows of S x S around the given pixels, cut on the CPU from the normalised image with mirroring: [N, 3, S, S]. */
function cutWindows(x: Float32Array, W: number, H: number, S: number, pixels: [number, number][]): Float32Array {
  const R = Math.floor(S / 2);
  const out = new Float32Array(pixels.length * 3 * S * S);
  pixels.forEach(([px, py], n) => {
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < S; i++)
        for (let j = 0; j < S; j++) {
          out[((n * 3 + c) * S + i) * S + j] = x[(c * H + reflect(py - R + i, H)) * W + reflect(px - R + j, W)];
        }
  });
  return out;
}

/** Window-by-window mitosis probabilities at `pixels` (network.ts forward on a batch of patches). */
async function windowByWindow(model: Model, image: RgbaImage, pixels: [number, number][], transform?: number): Promise<Float32Array> {
  const e = ctx.e;
  const S = model.spec.input.size;
  const x = normaliseImage(image, model.normalisation);
  let t = e.tensor([pixels.length, 3, S, S], cutWindows(x, image.width, image.height, S, pixels));
  if (transform) {
    const u = dihedral(e, t, transform);
    t.release();
    t = u;
  }
  const net = Network.fromModel(e, model);
  const p = net.probabilities(t);
  const probs = await p.read();
  [p, t].forEach((q) => q.release());
  net.destroy();
  return probs.filter((_, i) => i % 2 === 1);
}

function withBiases(m: Model, seed: number): Model {
  m.params.forEach((p, i) => p.bias.set(randomArray(p.bias.length, seed + i, -0.3, 0.3)));
  // larger weights than the init, so that the map is far from constant
  m.params.forEach((p) => p.weight.forEach((v, i) => (p.weight[i] = 2 * v)));
  return m;
}

const allPixels = (W: number, H: number): [number, number][] => Array.from({ length: W * H }, (_, i) => [i % W, Math.floor(i / W)] as [number, number]);

// Odd window 11: 11 -C2-> 10 -MP-> 5 -C2-> 4 -MP-> 2 -> FC 6 -> FC 2
const smallOdd: NetSpec = {
  name: 'small-odd',
  input: { channels: 3, size: 11 },
  layers: [{ type: 'conv', maps: 4, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 5, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 6 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};
// Even window 12 (the window of (x, y) starts at x - 6), relu, a 3x3 pool, three FC layers: 12 -C4-> 9 -MP3-> 3 -> FC 5 -> FC 4 -> FC 2
const smallEven: NetSpec = {
  name: 'small-even',
  input: { channels: 3, size: 12 },
  layers: [{ type: 'conv', maps: 3, k: 4 }, { type: 'maxpool', k: 3 }, { type: 'fc', units: 5 }, { type: 'fc', units: 4 }, { type: 'fc', units: 2 }],
  activation: 'relu',
};

describe('dense evaluation', () => {
  it('tile sizes: bytes of the largest intermediate', () => {
    // DNN1, one output pixel: the first conv's 16 x 100 x 100 maps
    expect(denseTileBytes(DNN1, 1, 1)).toBe(16 * 100 * 100 * 4);
    // 10 x 20 output: 16 x 109 x 119 after the first conv
    expect(denseTileBytes(DNN1, 10, 20)).toBe(16 * 109 * 119 * 4);
    const t = largestTile(DNN1, 128 * 2 ** 20 / 1.25);
    expect(denseTileBytes(DNN1, t, t)).toBeLessThanOrEqual(128 * 2 ** 20 / 1.25);
    expect(denseTileBytes(DNN1, t + 1, t + 1)).toBeGreaterThan(128 * 2 ** 20 / 1.25);
  });

  for (const spec of [smallOdd, smallEven]) {
    it(`${spec.name}: every pixel of a 23x17 image equals the net on its mirrored window`, async () => {
      const model = withBiases(initModel(spec, 5), 50);
      const image = randomImage(23, 17, 6);
      const dense = await denseMap(ctx.e, model, image);
      expect([dense.width, dense.height]).toEqual([23, 17]);
      const want = await windowByWindow(model, image, allPixels(23, 17));
      // float32 sums in a different order: 1e-5 absolute on probabilities
      expectClose(dense.data, want, 0, 1e-5, 'dense vs window by window');
      const spread = Math.max(...want) - Math.min(...want);
      expect(spread, 'the map is not constant').toBeGreaterThan(0.05);
    });
  }

  it('tiling changes no value (tiny tiles, image not a multiple of the tile)', async () => {
    const model = withBiases(initModel(smallOdd, 7), 70);
    const image = randomImage(23, 17, 8);
    const whole = await denseMap(ctx.e, model, image);
    const progress: string[] = [];
    const tiled = await denseMap(ctx.e, model, image, { tileSize: 4, onProgress: (d, t) => progress.push(`${d}/${t}`) });
    expect(progress.length).toBe(6 * 5);
    expect(progress[progress.length - 1]).toBe('30/30');
    expectClose(tiled.data, whole.data, 0, 1e-6, 'tiled vs untiled');
  });

  it('the FC head in row strips (a small buffer budget) gives exactly the one-pass logits, batch of 2', async () => {
    const e = ctx.e;
    for (const spec of [smallOdd, smallEven]) {
      const model = withBiases(initModel(spec, 11), 110);
      const net = Network.fromModel(e, model);
      const S = spec.input.size;
      const x = e.tensor([2, 3, 13 + S - 1, 9 + S - 1], randomArray(2 * 3 * (13 + S - 1) * (9 + S - 1), 12));
      try {
        const whole = await denseLogits(e, net, x).read();
        // the widest head tensor is the first FC's output, 6 (smallOdd) or 5 (smallEven) floats a
        // pixel (its inputs, 20 and 27 taps, run as a direct conv), 9 pixels a row, 2 images:
        // budgets of 1 and 3 rows (the last strip of 13 rows then holds 1)
        const width = spec === smallOdd ? 6 : 5;
        for (const rows of [1, 3]) {
          const copy = e.copy.bind(e);
          let copies = 0;
          e.copy = (...a: Parameters<typeof e.copy>) => void (copies++, copy(...a));
          let z;
          try {
            z = denseLogits(e, net, x, 4 * 2 * width * 9 * rows);
          } finally {
            e.copy = copy;
          }
          // per strip: 2 images x (input maps + 2 logit planes) copies
          const maps = spec === smallOdd ? 5 : 3;
          expect(copies).toBe(Math.ceil(13 / rows) * 2 * (maps + 2));
          expect(z.shape).toEqual([2, 2, 13, 9]);
          expect(Array.from(await z.read()), `${spec.name}, ${rows} row(s) a strip`).toEqual(Array.from(whole));
          z.release();
        }
      } finally {
        x.release();
        net.destroy();
      }
    }
  });

  it('denseMaps (same-sized images batched) equals denseMap image by image, in order, for mixed sizes and an image that needs tiles', async () => {
    const model = withBiases(initModel(smallOdd, 9), 90);
    // three 9x7 images (a batch of 2 and one of 1 under the budget below) and a 20x16 one over the
    // budget (denseMap with tiles), between them
    const images = [randomImage(9, 7, 1), randomImage(20, 16, 2), randomImage(9, 7, 3), randomImage(9, 7, 5)];
    const maxBytes = 2 * denseTileBytes(smallOdd, 7, 9);
    expect(denseTileBytes(smallOdd, 16, 20)).toBeGreaterThan(maxBytes);
    const progress: number[] = [];
    const maps = await denseMaps(ctx.e, model, images, { maxBytes, onProgress: (d) => progress.push(d) });
    expect(progress[progress.length - 1]).toBe(4);
    for (let i = 0; i < images.length; i++) {
      const one = await denseMap(ctx.e, model, images[i], { maxBytes });
      expect([maps[i].width, maps[i].height]).toEqual([images[i].width, images[i].height]);
      expect(Array.from(maps[i].data), `image ${i}`).toEqual(Array.from(one.data));
    }
    // the images differ, so the maps do: a batch mix-up would show
    expect(Array.from(maps[0].data)).not.toEqual(Array.from(maps[2].data));
  }, 300_000);

  it('variants: the map of variant v at a pixel is the net on the transformed window, aligned with the image', async () => {
    const model = withBiases(initModel(smallOdd, 9), 90);
    const image = randomImage(13, 10, 10);
    const pixels = allPixels(13, 10);
    const base = await denseMap(ctx.e, model, image);
    for (const v of [1, 4, 7]) {
      const got = await denseMap(ctx.e, model, image, { variant: v });
      const want = await windowByWindow(model, image, pixels, v);
      expectClose(got.data, want, 0, 1e-5, `variant ${v}`);
      let diff = 0;
      got.data.forEach((p, i) => (diff = Math.max(diff, Math.abs(p - base.data[i]))));
      expect(diff, `variant ${v} differs from variant 0`).toBeGreaterThan(1e-3);
    }
  });

  it('DNN1 on a 40x37 image: dense == window by window at borders, corners and random pixels; tiled == untiled', async () => {
    const model = withBiases(initModel(DNN1, 11), 110);
    const W = 40;
    const H = 37;
    const image = randomImage(W, H, 12);
    const r = rng(13);
    const pixels: [number, number][] = [[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1], [17, 0], [0, 20], [W - 1, 9], [31, H - 1]];
    while (pixels.length < 16) pixels.push([Math.floor(r() * W), Math.floor(r() * H)]);
    const dense = await denseMap(ctx.e, model, image);
    const want = await windowByWindow(model, image, pixels);
    expectClose(pixels.map(([x, y]) => dense.data[y * W + x]), want, 0, 1e-5, 'DNN1 dense vs window by window');
    const tiled = await denseMap(ctx.e, model, image, { tileSize: 20 });
    expectClose(tiled.data, dense.data, 0, 1e-6, 'DNN1 tiled vs untiled');
  });

  // Map stride 2 (the first pooling at its own stride): the net on every second pixel of every
  // second row, exact there, and between them the bilinear interpolation of those values (a float64
  // reference here, from window-by-window values; past an even-sized image's last pixel the grid
  // pixel is the mirrored window there); for odd and even sizes, tiled (tiles start at even offsets,
  // so one grid) or not.
  it('map stride 2: exact on the grid of even pixels, bilinear between, the same tiled; denseMaps agrees', async () => {
    const model = withBiases(initModel(smallOdd, 13), 130);
    for (const [W, H] of [[23, 17], [16, 12]]) {
      const image = randomImage(W, H, W);
      const exact = await denseMap(ctx.e, model, image);
      const fast = await denseMap(ctx.e, model, image, { stride: 2 });
      // grid pixels (2j, 2i) up to the first one at or past the last pixel
      const gw = Math.floor(W / 2) + 1, gh = Math.floor(H / 2) + 1;
      const gridPixels: [number, number][] = [];
      for (let i = 0; i < gh; i++) for (let j = 0; j < gw; j++) gridPixels.push([2 * j, 2 * i]);
      const gv = await windowByWindow(model, image, gridPixels);
      const grid = (i: number, j: number) => gv[i * gw + j];
      const want = new Float64Array(W * H);
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const i = Math.floor(y / 2), j = Math.floor(x / 2), fy = y / 2 - i, fx = x / 2 - j;
          const i1 = fy > 0 ? i + 1 : i, j1 = fx > 0 ? j + 1 : j;
          const top = grid(i, j) * (1 - fx) + grid(i, j1) * fx;
          const bottom = grid(i1, j) * (1 - fx) + grid(i1, j1) * fx;
          want[y * W + x] = top * (1 - fy) + bottom * fy;
        }
      expectClose(fast.data, want, 0, 1e-5, `stride 2, ${W}x${H}`);
      for (let y = 0; y < H; y += 2) for (let x = 0; x < W; x += 2) expect(Math.abs(fast.data[y * W + x] - exact.data[y * W + x])).toBeLessThan(1e-6);
      const tiled = await denseMap(ctx.e, model, image, { stride: 2, tileSize: 5 });
      expectClose(tiled.data, fast.data, 0, 1e-6, `stride 2 tiled, ${W}x${H}`);
      const [many] = await denseMaps(ctx.e, model, [image], { stride: 2 });
      expect(Array.from(many.data)).toEqual(Array.from(fast.data));
    }
  });

  it('map strides: 1 for every net, 2 only where the first pooling is 2x2; tile windows for stride 2 start even', () => {
    expect(() => checkMapStride(smallEven, 1)).not.toThrow();
    expect(() => checkMapStride(smallOdd, 2)).not.toThrow();
    expect(() => checkMapStride(DNN1, 2)).not.toThrow();
    expect(() => checkMapStride(smallEven, 2)).toThrow(/small-even allows 1 or 3/);
    expect(() => checkMapStride(smallOdd, 3)).toThrow(/map stride 3/);
    expect(() => checkMapStride(smallOdd, 1.5)).toThrow(/map stride 1.5/);
    for (let n = 1; n <= 90; n++)
      for (let t = 3; t <= 40; t++)
        for (const a of [1, 2]) {
          const w = windows(n, t, a);
          const len = w[0][1] - w[0][0];
          const where = `n ${n}, t ${t}, stride ${a}: ${JSON.stringify(w)}`;
          // what denseMap computes per tile (the window and, at stride a, a - 1 more) fits the tile size
          expect(len + a - 1 <= t || (a > 1 && t <= 3 * a), where).toBe(true);
          expect(w.every(([s, e]) => e - s === len && s % a === 0), where).toBe(true);
          expect([w[0][0], w[w.length - 1][1]], where).toEqual([0, n]);
          // no gap; at stride 2 an overlap of 2 (the next window rewrites the pixel after a window's last grid pixel)
          for (let i = 1; i < w.length; i++) expect(w[i][0] <= w[i - 1][1] - (a > 1 ? a : 0), where).toBe(true);
        }
  });

  it('rejects bad options and images', async () => {
    const model = initModel(smallOdd, 1);
    await expect(denseMap(ctx.e, model, randomImage(5, 5, 1), { variant: 8 })).rejects.toThrow('variant must be 0..7');
    await expect(denseMap(ctx.e, model, { width: 5, height: 5, data: new Uint8ClampedArray(99) })).rejects.toThrow('99 bytes for a 5x5 RGBA image');
  });
});
