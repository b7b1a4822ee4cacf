// What a detection run hands to people and tools: CSV, JSON, GeoJSON (QuPath imports its points),
// an overlay with circles (Fig. 1 colours when the truth is known) and a heatmap of the map.

export interface Detection {
  x: number;
  y: number;
  score: number;
}

export interface Rgba {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** A float32 score as the shortest decimal that reads back as the same float32 (6 to 9 significant
 * digits): short to read, and a recomputation from the file sees the scores the program saw (with
 * 6 fixed decimals, an untrained net's near-equal scores tied and thresholds sorted them apart). */
export function scoreText(score: number): string {
  const f = Math.fround(score);
  for (let p = 6; p < 9; p++) {
    const s = String(Number(f.toPrecision(p)));
    if (Math.fround(Number(s)) === f) return s;
  }
  return String(Number(f.toPrecision(9)));
}

export function detectionsCsv(dets: readonly Detection[]): string {
  return 'x,y,score\n' + dets.map((d) => `${d.x},${d.y},${scoreText(d.score)}`).join('\n') + (dets.length ? '\n' : '');
}

export function detectionsJson(image: string, width: number, height: number, dets: readonly Detection[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ image, width, height, count: dets.length, ...extra, detections: dets }, null, 2) + '\n';
}

/** GeoJSON FeatureCollection of points in pixel coordinates, as QuPath's "Import objects" reads it. */
export function detectionsGeoJson(dets: readonly Detection[], className = 'Mitosis'): string {
  return (
    JSON.stringify(
      {
        type: 'FeatureCollection',
        features: dets.map((d) => ({
          type: 'Feature',
          geometry: { type: 'Point', coordinates: [d.x, d.y] },
          properties: {
            objectType: 'annotation',
            classification: { name: className, color: [220, 30, 30] },
            measurements: { score: d.score },
          },
        })),
      },
      null,
      1,
    ) + '\n'
  );
}

export type Colour = readonly [number, number, number];
export const COLOURS = {
  detection: [255, 230, 0] as Colour,
  truePositive: [0, 200, 60] as Colour,
  falsePositive: [255, 40, 40] as Colour,
  miss: [40, 120, 255] as Colour,
};

/** Draws a ring of the given radius and thickness (anti-aliased by coverage) onto a copy of nothing: in place. */
export function drawCircle(img: Rgba, cx: number, cy: number, radius: number, colour: Colour, thickness = 2): void {
  const r0 = radius - thickness / 2, r1 = radius + thickness / 2;
  const x0 = Math.max(0, Math.floor(cx - r1 - 1)), x1 = Math.min(img.width - 1, Math.ceil(cx + r1 + 1));
  const y0 = Math.max(0, Math.floor(cy - r1 - 1)), y1 = Math.min(img.height - 1, Math.ceil(cy + r1 + 1));
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      const d = Math.hypot(x - cx, y - cy);
      const a = Math.max(0, Math.min(1, Math.min(d - r0 + 0.5, r1 - d + 0.5)));
      if (a <= 0) continue;
      const i = 4 * (y * img.width + x);
      for (let c = 0; c < 3; c++) img.data[i + c] = Math.round(img.data[i + c] * (1 - a) + colour[c] * a);
      img.data[i + 3] = 255;
    }
}

export interface OverlayMarks {
  detections?: readonly Detection[];
  truePositives?: readonly { x: number; y: number }[];
  falsePositives?: readonly { x: number; y: number }[];
  misses?: readonly { x: number; y: number }[];
}

/** A copy of the image with circles: detections in yellow, or TP green / FP red / misses blue. */
export function overlay(image: Rgba, marks: OverlayMarks, radius: number): Rgba {
  const out: Rgba = { width: image.width, height: image.height, data: new Uint8ClampedArray(image.data) };
  const t = Math.max(2, Math.round(radius / 8));
  for (const p of marks.detections ?? []) drawCircle(out, p.x, p.y, radius, COLOURS.detection, t);
  for (const p of marks.truePositives ?? []) drawCircle(out, p.x, p.y, radius, COLOURS.truePositive, t);
  for (const p of marks.falsePositives ?? []) drawCircle(out, p.x, p.y, radius, COLOURS.falsePositive, t);
  for (const p of marks.misses ?? []) drawCircle(out, p.x, p.y, radius, COLOURS.miss, t);
  return out;
}

/** Perceptually ordered colour map (dark blue -> magenta -> orange -> pale yellow), like 'inferno'. */
const STOPS: [number, Colour][] = [
  [0.0, [0, 0, 4]],
  [0.25, [87, 16, 110]],
  [0.5, [188, 55, 84]],
  [0.75, [249, 142, 9]],
  [1.0, [252, 255, 164]],
];

export function colourOf(v: number): Colour {
  const x = Math.max(0, Math.min(1, Number.isFinite(v) ? v : 0));
  for (let k = 1; k < STOPS.length; k++) {
    const [p1, c1] = STOPS[k];
    const [p0, c0] = STOPS[k - 1];
    if (x <= p1) {
      const f = (x - p0) / (p1 - p0);
      return [0, 1, 2].map((c) => Math.round(c0[c] + f * (c1[c] - c0[c]))) as unknown as Colour;
    }
  }
  return STOPS[STOPS.length - 1][1];
}

/** The probability map as colours; with `under`, blended over the image (alpha grows with p). */
export function heatmap(map: Float32Array, width: number, height: number, under?: Rgba): Rgba {
  if (map.length !== width * height) throw new Error(`heatmap: map has ${map.length} values, expected ${width}x${height}`);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < map.length; i++) {
    const c = colourOf(map[i]);
    const a = under ? Math.min(1, 0.25 + 0.75 * Math.max(0, Math.min(1, map[i]))) : 1;
    for (let k = 0; k < 3; k++) data[4 * i + k] = under ? Math.round(under.data[4 * i + k] * (1 - a) + c[k] * a) : c[k];
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}
