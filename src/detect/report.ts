// The files of one detection run on one image, as `mitoscan detect` and `mitoscan demo` write them:
//   <name>.csv          x,y,score per detection (image pixels, x = column)
//   <name>.json         image size, µm per pixel, run settings, detections (with a tp flag and the
//                       contest scores when the truth is known)
//   <name>.geojson      QuPath point annotations ("Import objects")
//   <name>.overlay.png  the image with circles of the match radius (5 µm): detections in yellow, or,
//                       with the truth, true positives green, false positives red, misses blue
//                       (the paper's Fig. 1; colours of results.ts COLOURS)
//   <name>.heatmap.png  the probability map M blended over the image (when a map is given)
// No node: imports (the browser demo can use it): `writeReport` takes the file writer.
import type { Centroid } from '../datasets/labels.js';
import { contestRadiusPx, matchDetections, type Scores } from '../eval/score.js';
import { encodePng } from '../io/image.js';
import type { ProbabilityMap, RgbaImage } from '../model/dense.js';
import { detectionsCsv, detectionsGeoJson, detectionsJson, heatmap, overlay, type Detection, type Rgba } from './results.js';

export interface ReportInput {
  /** Stem of the output files (`<name>.csv`, ...). */
  name: string;
  /** The image as named in the JSON (a path or a file name). */
  imageName: string;
  image: RgbaImage;
  /** µm per pixel of `image` (sets the 5 µm match radius and the circles' size). */
  umPerPixel: number;
  /** Detections in `image`'s pixel coordinates. */
  detections: readonly Detection[];
  /** The probability map M at any resolution covering the same field (resampled to the image). */
  map?: ProbabilityMap;
  /** Ground-truth centroids (image pixels): adds TP/FP/miss colours and scores. */
  truth?: readonly Centroid[];
  /** Extra fields for the JSON (model, preset, threshold, seconds, ...). */
  meta?: Record<string, unknown>;
}

export interface ReportFile {
  /** File name, relative to the output folder. */
  name: string;
  data: Uint8Array | string;
}

export interface ReportResult {
  files: ReportFile[];
  /** Match radius in image pixels (5 µm). */
  radiusPx: number;
  /** With the truth: contest scores and the TP flag of every detection. */
  scores?: Scores;
  tp?: boolean[];
  matchedTruth?: boolean[];
}

/** An RgbaImage as results.ts's Rgba (Uint8ClampedArray view of the same bytes, no copy). */
export function asRgba(img: RgbaImage): Rgba {
  const d = img.data;
  const data = d instanceof Uint8ClampedArray ? d : new Uint8ClampedArray(d.buffer, d.byteOffset, d.length);
  return { width: img.width, height: img.height, data };
}

/**
 * `map` resampled to width x height by bilinear interpolation of pixel centres (clamped at the
 * borders); the map itself when it already has that size.
 */
export function resampleMap(map: ProbabilityMap, width: number, height: number): Float32Array {
  if (map.data.length !== map.width * map.height) throw new Error(`resampleMap: ${map.data.length} values for a ${map.width}x${map.height} map`);
  if (map.width === width && map.height === height) return map.data;
  const out = new Float32Array(width * height);
  const sx = map.width / width;
  const sy = map.height / height;
  const W = map.width;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(map.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(map.height - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(W - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(W - 1, x0 + 1);
      const tx = fx - x0;
      const a = map.data[y0 * W + x0] * (1 - tx) + map.data[y0 * W + x1] * tx;
      const b = map.data[y1 * W + x0] * (1 - tx) + map.data[y1 * W + x1] * tx;
      out[y * width + x] = a * (1 - ty) + b * ty;
    }
  }
  return out;
}

/** Builds the report's files in memory (see the header for the list). */
export function buildReport(input: ReportInput): ReportResult {
  const { name, image, detections: dets } = input;
  if (!name || /[/\\]/.test(name)) throw new Error(`report: '${name}' is not a plain file name stem`);
  if (!(input.umPerPixel > 0)) throw new Error(`report: µm per pixel must be > 0, got ${input.umPerPixel}`);
  const radiusPx = contestRadiusPx(input.umPerPixel);
  const circle = Math.max(6, radiusPx);
  const rgba = asRgba(image);
  const files: ReportFile[] = [];
  let scores: Scores | undefined;
  let tp: boolean[] | undefined;
  let matchedTruth: boolean[] | undefined;
  let over: Rgba;
  if (input.truth) {
    const truth = input.truth;
    ({ scores, tp, matchedTruth } = matchDetections(dets, truth, radiusPx));
    over = overlay(
      rgba,
      {
        truePositives: dets.filter((_, i) => tp![i]),
        falsePositives: dets.filter((_, i) => !tp![i]),
        misses: truth.filter((_, j) => !matchedTruth![j]),
      },
      circle,
    );
  } else {
    over = overlay(rgba, { detections: dets }, circle);
  }
  const jsonDets = tp ? dets.map((d, i) => ({ x: d.x, y: d.y, score: d.score, tp: tp![i] })) : dets;
  const extra: Record<string, unknown> = { umPerPixel: input.umPerPixel, ...input.meta };
  if (input.truth && scores) {
    extra.truth = {
      count: input.truth.length,
      matchRadiusUm: 5,
      matchRadiusPx: radiusPx,
      scores,
      missed: input.truth.filter((_, j) => !matchedTruth![j]),
    };
  }
  files.push({ name: `${name}.csv`, data: detectionsCsv(dets) });
  files.push({ name: `${name}.json`, data: detectionsJson(input.imageName, image.width, image.height, jsonDets, extra) });
  files.push({ name: `${name}.geojson`, data: detectionsGeoJson(dets) });
  files.push({ name: `${name}.overlay.png`, data: encodePng(over) });
  if (input.map) {
    const m = resampleMap(input.map, image.width, image.height);
    files.push({ name: `${name}.heatmap.png`, data: encodePng(heatmap(m, image.width, image.height, rgba)) });
  }
  return { files, radiusPx, scores, tp, matchedTruth };
}

/** Builds the report and writes its files into `dir` with `write` (e.g. src/node/files.ts writeFileAtomic). */
export async function writeReport(
  dir: string,
  input: ReportInput,
  write: (path: string, data: Uint8Array | string) => Promise<void>,
): Promise<ReportResult> {
  const r = buildReport(input);
  const base = dir.replace(/[/\\]+$/, '');
  for (const f of r.files) await write(`${base}/${f.name}`, f.data);
  return r;
}
