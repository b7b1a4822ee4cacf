// The paper's Fig. 2: every detection (above a low threshold, 0.1 in the paper) as a square crop
// centred on it, sorted by decreasing score, framed green when it is a true positive and red when
// it is a false positive, with its score written in the corner. Crops reaching outside the image
// are mirrored (-1 -> 1: src/io/image.ts cropImage). Runs in Node and browsers.
//
// Large sets: make tiles image by image with galleryTile (so that only one source image is in
// memory at a time) and put them together with assembleGallery; gallery() does both at once.
import { COLOURS, type Colour } from '../detect/results.js';
import { cropImage } from '../io/image.js';
import type { RgbaImage } from '../model/dense.js';

export interface GalleryItem {
  /** Index into the source images (default 0). */
  image?: number;
  x: number;
  y: number;
  score: number;
  /** True positive (green frame) or false positive (red frame). */
  tp: boolean;
}

export interface GalleryOptions {
  /** Side of the square crop in source pixels (default 64). */
  crop?: number;
  /** Frame width in pixels around each crop (default 3). */
  border?: number;
  /** Tiles per row (default 10). */
  columns?: number;
  /** Background between tiles (default 2 px). */
  gap?: number;
  /** Keep only the best-scoring tiles (default: all). */
  maxTiles?: number;
  /** Size of a font pixel (default: 2 for crops >= 48 px, else 1). */
  fontScale?: number;
}

export interface GalleryTile {
  image: RgbaImage;
  score: number;
}

const BACKGROUND = [240, 240, 240, 255];

// ---- a 3x5 bitmap font ----------------------------------------------------------------------------

/** Glyphs: 5 rows of 3 bits (bit 2 = left column). Digits, '.', '-', '%' and space. */
export const FONT_3X5: Readonly<Record<string, readonly number[]>> = Object.freeze({
  '0': [0b111, 0b101, 0b101, 0b101, 0b111],
  '1': [0b010, 0b110, 0b010, 0b010, 0b111],
  '2': [0b111, 0b001, 0b111, 0b100, 0b111],
  '3': [0b111, 0b001, 0b111, 0b001, 0b111],
  '4': [0b101, 0b101, 0b111, 0b001, 0b001],
  '5': [0b111, 0b100, 0b111, 0b001, 0b111],
  '6': [0b111, 0b100, 0b111, 0b101, 0b111],
  '7': [0b111, 0b001, 0b010, 0b010, 0b010],
  '8': [0b111, 0b101, 0b111, 0b101, 0b111],
  '9': [0b111, 0b101, 0b111, 0b001, 0b111],
  '.': [0b000, 0b000, 0b000, 0b000, 0b010],
  '-': [0b000, 0b000, 0b111, 0b000, 0b000],
  '%': [0b101, 0b001, 0b010, 0b100, 0b101],
  ' ': [0, 0, 0, 0, 0],
});

/** Width in pixels of `text` in the 3x5 font (1 px spacing between glyphs) at `scale`. */
export function textWidth(text: string, scale = 1): number {
  return text.length ? (4 * text.length - 1) * scale : 0;
}

function setPixel(img: RgbaImage, x: number, y: number, c: Colour, alpha = 1): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const i = 4 * (y * img.width + x);
  for (let k = 0; k < 3; k++) img.data[i + k] = Math.round(img.data[i + k] * (1 - alpha) + c[k] * alpha);
  img.data[i + 3] = 255;
}

/** Draws `text` with its top-left at (x, y), in place; unknown characters are drawn as blanks. */
export function drawText(img: RgbaImage, text: string, x: number, y: number, colour: Colour, scale = 1): void {
  [...text].forEach((ch, k) => {
    const g = FONT_3X5[ch] ?? FONT_3X5[' '];
    for (let r = 0; r < 5; r++)
      for (let c = 0; c < 3; c++) {
        if (!((g[r] >> (2 - c)) & 1)) continue;
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) setPixel(img, x + (4 * k + c) * scale + dx, y + r * scale + dy, colour);
      }
  });
}

// ---- tiles ----------------------------------------------------------------------------------------

/** The size x size crop whose centre pixel is (round(cx), round(cy)); mirrored outside the image. */
export function cropCentred(src: RgbaImage, cx: number, cy: number, size: number): RgbaImage {
  if (!(src.width > 0 && src.height > 0) || src.data.length !== 4 * src.width * src.height) {
    throw new Error(`gallery: source image is not a valid ${src.width}x${src.height} RGBA image`);
  }
  return cropImage(src, Math.round(cx) - Math.floor(size / 2), Math.round(cy) - Math.floor(size / 2), size, size);
}

/** Score as written on a tile: two decimals ("0.87"), "1.00" at the top. */
export function scoreLabel(score: number): string {
  return Number.isFinite(score) ? Math.min(Math.max(score, 0), 9.99).toFixed(2) : '-';
}

function options(opts: GalleryOptions) {
  const crop = Math.round(opts.crop ?? 64);
  const border = Math.round(opts.border ?? 3);
  if (!(crop >= 8 && crop <= 1024)) throw new RangeError(`gallery: crop must be 8..1024 px, got ${opts.crop}`);
  if (!(border >= 0 && border <= crop)) throw new RangeError(`gallery: border must be 0..crop px, got ${opts.border}`);
  const fontScale = Math.round(opts.fontScale ?? (crop >= 48 ? 2 : 1));
  if (!(fontScale >= 1)) throw new RangeError(`gallery: fontScale must be >= 1, got ${opts.fontScale}`);
  return { crop, border, fontScale };
}

/** Side of a gallery crop in pixels: about 16 µm (64 px at MITOS's 0.2456 µm/px), 16 to 128. */
export function galleryCropPx(umPerPixel: number): number {
  return Math.min(128, Math.max(16, Math.round(16 / umPerPixel)));
}

/** One framed tile (crop + 2 border on each side) for a detection. */
export function galleryTile(src: RgbaImage, item: Omit<GalleryItem, 'image'>, opts: GalleryOptions = {}): GalleryTile {
  const { crop, border, fontScale } = options(opts);
  const c = cropCentred(src, item.x, item.y, crop);
  const T = crop + 2 * border;
  const img: RgbaImage = { width: T, height: T, data: new Uint8ClampedArray(T * T * 4) };
  const frame = item.tp ? COLOURS.truePositive : COLOURS.falsePositive;
  for (let y = 0; y < T; y++)
    for (let x = 0; x < T; x++) {
      const d = 4 * (y * T + x);
      const inside = x >= border && y >= border && x < border + crop && y < border + crop;
      if (inside) {
        const s = 4 * ((y - border) * crop + (x - border));
        img.data[d] = c.data[s];
        img.data[d + 1] = c.data[s + 1];
        img.data[d + 2] = c.data[s + 2];
      } else {
        img.data[d] = frame[0];
        img.data[d + 1] = frame[1];
        img.data[d + 2] = frame[2];
      }
      img.data[d + 3] = 255;
    }
  // The score at the bottom-left, white on a darkened box.
  const label = scoreLabel(item.score);
  const w = textWidth(label, fontScale), h = 5 * fontScale;
  const bx = border, by = border + crop - h - 2;
  for (let y = by; y < by + h + 2; y++) for (let x = bx; x < Math.min(bx + w + 2, border + crop); x++) setPixel(img, x, y, [0, 0, 0], 0.6);
  drawText(img, label, bx + 1, by + 1, [255, 255, 255], fontScale);
  return { image: img, score: item.score };
}

/** Tiles in rows of `columns`, by decreasing score (stable for ties), on a light background. */
export function assembleGallery(tiles: readonly GalleryTile[], opts: GalleryOptions = {}): RgbaImage {
  const { crop, border } = options(opts);
  const T = crop + 2 * border;
  const gap = Math.max(0, Math.round(opts.gap ?? 2));
  const cols = Math.max(1, Math.round(opts.columns ?? 10));
  for (const t of tiles) if (t.image.width !== T || t.image.height !== T) throw new Error(`gallery: tile of ${t.image.width}x${t.image.height} px, expected ${T}x${T} (same crop and border options)`);
  let sorted = tiles.map((t, i) => ({ t, i })).sort((a, b) => b.t.score - a.t.score || a.i - b.i).map((o) => o.t);
  if (opts.maxTiles !== undefined) sorted = sorted.slice(0, Math.max(0, opts.maxTiles));
  const n = Math.max(1, sorted.length);
  const c = Math.min(cols, n), r = Math.ceil(n / c);
  const W = c * T + (c + 1) * gap, H = r * T + (r + 1) * gap;
  const out: RgbaImage = { width: W, height: H, data: new Uint8ClampedArray(W * H * 4) };
  for (let i = 0; i < W * H; i++) out.data.set(BACKGROUND, 4 * i);
  sorted.forEach((t, k) => {
    const ox = gap + (k % c) * (T + gap), oy = gap + Math.floor(k / c) * (T + gap);
    for (let y = 0; y < T; y++) out.data.set(t.image.data.subarray(4 * y * T, 4 * (y + 1) * T), 4 * ((oy + y) * W + ox));
  });
  return out;
}

/** Fig. 2: the crops of `items` from `sources`, sorted by decreasing score, framed TP green / FP red. */
export function gallery(sources: readonly RgbaImage[], items: readonly GalleryItem[], opts: GalleryOptions = {}): RgbaImage {
  let chosen = items.map((it, i) => ({ it, i })).sort((a, b) => b.it.score - a.it.score || a.i - b.i);
  if (opts.maxTiles !== undefined) chosen = chosen.slice(0, Math.max(0, opts.maxTiles));
  const tiles = chosen.map(({ it, i }) => {
    const k = it.image ?? 0;
    const src = sources[k];
    if (!src) throw new Error(`gallery: item ${i} refers to image ${k}, but ${sources.length} source image(s) were given`);
    return galleryTile(src, it, opts);
  });
  return assembleGallery(tiles, opts);
}
