// node scripts/run-ts.mjs bench/big-image.ts [--sizes 4096x4096,6000x4000] [--spec models/mini20x.json] [--threshold 0.5] [--compare 2048]
// Issue 11 item 3: images larger than the adapter's per-buffer limit. Detects mitoses on generated
// images of the given sizes with a small net (models/mini20x.json spec by default, random weights:
// the work per pixel does not depend on them) at the REAL adapter limit, and prints per image: the
// time of each stage (dense map, smoothing + suppression), the number of dense tiles, whether the
// suppression ran on the GPU or tiled + CPU, the detections, and the largest GPU buffer allocated
// (a spy on engine.empty, which engine.tensor and engine.zeros call) against the limit.
// With --compare N it also times the two suppression paths (GPU passes vs tiled smoothing + CPU
// greedy) on one N x N map that fits the GPU, at three thresholds. A benchmark: asserts nothing.
import { readFileSync } from 'node:fs';
import { createNodeEngine } from '../engine/node.js';
import type { Tensor } from '../engine/engine.js';
import { probabilityMap, SmoothedMap, smoothingRadiusPx } from '../src/detect/detector.js';
import { largestTile, maxTensorBytes, type RgbaImage } from '../src/model/dense.js';
import { initModel } from '../src/model/model-file.js';
import type { NetSpec } from '../src/model/spec.js';
import { flag } from './flags.js';

const sizes = (flag('sizes') ?? '4096x4096,6000x4000').split(',').map((s) => {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`--sizes: '${s}' is not WIDTHxHEIGHT`);
  return [Number(m[1]), Number(m[2])] as const;
});
const spec = JSON.parse(readFileSync(flag('spec') ?? 'models/mini20x.json', 'utf8')) as NetSpec;
const compare = flag('compare') === undefined ? 0 : Number(flag('compare'));
const threshold = Number(flag('threshold') ?? '0.5');
const mpp = 0.4912; // a 20x scan
const model = initModel(spec, 1, { umPerPixel: mpp });

/** Cheap procedural colours (pink background, purple blobs, noise): no tissue generator for 24 MP. */
function image(width: number, height: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  let s = 12345;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const n = (s >>> 24) - 128;
      const blob = Math.sin(x / 13) * Math.sin(y / 17) > 0.8 ? 1 : 0;
      const i = 4 * (y * width + x);
      data[i] = 220 - 90 * blob + n / 8;
      data[i + 1] = 160 - 100 * blob + n / 8;
      data[i + 2] = 200 - 30 * blob + n / 8;
      data[i + 3] = 255;
    }
  return { width, height, data };
}

const e = await createNodeEngine();
let largest = 0;
const empty = e.empty.bind(e);
e.empty = (shape: readonly number[]): Tensor => {
  const t = empty(shape);
  largest = Math.max(largest, t.bytes);
  return t;
};
const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
try {
  const limit = maxTensorBytes(e);
  console.log(`adapter: ${e.adapterName}; per-buffer limit ${MiB(Math.min(e.limits.maxStorageBufferBindingSize, e.limits.maxBufferSize))}, tensors <= ${MiB(limit)}`);
  console.log(`net: ${spec.name} (window ${spec.input.size}), random weights, ${mpp} µm/px, d = ${smoothingRadiusPx(mpp).toFixed(2)} px, t = ${threshold}`);
  for (const [w, h] of sizes) {
    const img = image(w, h);
    largest = 0;
    let tiles = 0;
    const t0 = performance.now();
    const map = await probabilityMap(e, [model], img, {
      onProgress: (d, t) => {
        tiles = t;
        if (d === 1 || d % 6 === 0 || d === t) console.log(`  ${w}x${h}: tile ${d} / ${t} at ${((performance.now() - t0) / 1000).toFixed(1)} s, largest buffer so far ${MiB(largest)}`);
      },
    });
    const t1 = performance.now();
    const sm = SmoothedMap.create(e, map, smoothingRadiusPx(mpp));
    const dets = await sm.detections(threshold);
    const t2 = performance.now();
    sm.release();
    console.log(
      `${w}x${h} (${((w * h) / 1e6).toFixed(1)} MP): dense ${((t1 - t0) / 1000).toFixed(1)} s in ${tiles} tiles of <= ${largestTile(spec, limit, Math.max(w, h))} px; ` +
        `smoothing + suppression ${((t2 - t1) / 1000).toFixed(2)} s (${sm.onGpu ? 'GPU' : 'tiled + CPU'}); ${dets.length} detections; ` +
        `largest buffer ${MiB(largest)} (limit ${MiB(limit)})`,
    );
  }
  if (compare > 0) {
    // a smooth random map with blobs, as a probability map
    const n = compare;
    const data = new Float32Array(n * n);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) data[y * n + x] = 0.5 + 0.25 * Math.sin(x / 7.3) * Math.sin(y / 5.1) + 0.25 * Math.sin((x + y) / 11.7);
    const map = { width: n, height: n, data };
    const r = smoothingRadiusPx(mpp);
    for (const mode of ['gpu', 'tiled'] as const) {
      const t0 = performance.now();
      const sm = SmoothedMap.create(e, map, r, { mode });
      const first = await sm.detections(0.5);
      const t1 = performance.now();
      const counts = [first.length];
      for (const t of [0.7, 0.9]) counts.push((await sm.detections(t)).length);
      const t2 = performance.now();
      sm.release();
      console.log(`suppression of a ${n}x${n} map, ${mode}: smoothing + first threshold ${((t1 - t0) / 1000).toFixed(2)} s, two more thresholds ${((t2 - t1) / 1000).toFixed(2)} s (detections ${counts.join(', ')})`);
    }
  }
} finally {
  e.destroy();
}
