// The slide viewer of the detection page: an OpenSeadragon 6 viewer fed by the lazy slide reader
// (src/slide/slide.ts), with a canvas layer for the detections, the hotspot and the analysed region,
// and a rectangle tool to draw a region. Nothing is fetched: every tile comes from the local file.
//
// How the tiles get in. OpenSeadragon's TileSource can be given as an options object: its fields
// and methods are copied onto the instance ($.extend in the TileSource constructor), so that we
// override, per source:
//   getTileUrl(level, x, y)      a unique, never-fetched key (`mitoscan-slide:<id>/<level>/<x>_<y>`),
//                                which OpenSeadragon uses as the cache key of the tile;
//   getTilePostData(level, x, y) {level, x, y}: OpenSeadragon hands it to the ImageJob as job.postData
//                                (whether or not loadTilesWithAjax is on);
//   downloadTileStart(job)       reads the tile's level-0 rectangle with slide.readRegion from the best
//                                slide level (OpenSlide's rule: the largest downsample not above the
//                                tile level's), draws it into a canvas, and calls
//                                job.finish(ctx2d, null, 'context2d') ('context2d' is one of
//                                OpenSeadragon 6's built-in tile data types, which the canvas drawer
//                                draws directly); job.fail(message) on a read error;
//   downloadTileAbort(job)       marks the job aborted (a read in flight is simply dropped).
// OpenSeadragon's levels are powers of two: level k shows the slide at 2^(k - maxLevel), maxLevel =
// ceil(log2(max(W, H))) being level 0 of the slide. A tile of level k covers the level-0 pixels
// [x T D, (x + 1) T D) x [y T D, (y + 1) T D), D = 2^(maxLevel - k), T = 256. When a slide level has
// exactly that downsample (vips and Aperio pyramids: 1, 2, 4, ... or 1, 4, 16, ...), its pixels are
// put into the tile as they are; otherwise the read is scaled by drawImage. Levels coarser than 8x
// the slide's coarsest are not offered (minLevel), so that no tile reads a huge region.
//
// Coordinates: everything this module takes or gives (regions, detections, the hotspot) is in
// level-0 pixels of the slide, as detectSlide and slideGeoJson use them.
import OpenSeadragon from 'openseadragon/build/openseadragon/openseadragon.min.js'; // typed in web/openseadragon-min.d.ts
import type { Slide } from '../src/slide/slide.js';

/** A rectangle in level-0 pixels. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface SlideMarks {
  /** Level-0 pixels. */
  detections: readonly { x: number; y: number }[];
  /** Circle radius in level-0 pixels (drawn at least 6 screen px). */
  radiusPx: number;
  colour: readonly [number, number, number];
  hotspot?: { x: number; y: number; radiusPx: number; colour: readonly [number, number, number] } | null;
  /** The analysed region (dashed outline). */
  region?: Rect | null;
}

const TILE = 256;
let sources = 0;

/** The OpenSeadragon tile source over `slide` (see the top of the file). */
export function slideTileSource(slide: Slide, onTile?: () => void): OpenSeadragon.TileSource {
  const W = slide.levels[0].width, H = slide.levels[0].height;
  const maxLevel = Math.max(0, Math.ceil(Math.log2(Math.max(W, H))));
  const coarsest = slide.levels[slide.levels.length - 1].downsample;
  const minLevel = Math.max(0, Math.min(maxLevel, maxLevel - Math.floor(Math.log2(Math.max(1, coarsest) * 8))));
  const id = `${++sources}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  interface Job {
    postData: { level: number; x: number; y: number };
    userData: { aborted?: boolean };
    finish(data: unknown, request: null, type: string): void;
    fail(msg: string, request: null): void;
  }
  const options = {
    width: W,
    height: H,
    tileSize: TILE,
    tileOverlap: 0,
    minLevel,
    maxLevel,
    getTileUrl: (level: number, x: number, y: number) => `mitoscan-slide:${id}/${level}/${x}_${y}`,
    getTilePostData: (level: number, x: number, y: number) => ({ level, x, y }),
    hasTransparency: () => false,
    downloadTileStart: (job: Job) => {
      const { level, x, y } = job.postData;
      renderTile(slide, maxLevel - level, x, y)
        .then((ctx) => {
          if (job.userData.aborted) return;
          job.finish(ctx, null, 'context2d');
          onTile?.();
        })
        .catch((err) => {
          if (!job.userData.aborted) job.fail(`${slide.name}: tile ${level}/${x}_${y}: ${(err as Error)?.message ?? err}`, null);
        });
    },
    downloadTileAbort: (job: Job) => {
      job.userData.aborted = true;
    },
  };
  return new OpenSeadragon.TileSource(options as unknown as OpenSeadragon.TileSourceOptions);
}

/** Tile (x, y) of the OpenSeadragon level 2^-shift, as a 2D canvas context. */
async function renderTile(slide: Slide, shift: number, x: number, y: number): Promise<CanvasRenderingContext2D> {
  const D = 2 ** shift;
  const W = slide.levels[0].width, H = slide.levels[0].height;
  const X0 = x * TILE * D, Y0 = y * TILE * D;
  const X1 = Math.min(W, (x + 1) * TILE * D), Y1 = Math.min(H, (y + 1) * TILE * D);
  const cw = Math.max(1, Math.min(TILE, Math.ceil((X1 - X0) / D))), ch = Math.max(1, Math.min(TILE, Math.ceil((Y1 - Y0) / D)));
  const canvas = document.createElement('canvas');
  canvas.width = cw;
  canvas.height = ch;
  const ctx = canvas.getContext('2d')!;
  const li = slide.bestLevelForDownsample(D);
  const L = slide.levels[li];
  const ds = L.downsample;
  // the level-li pixels under the tile (whole pixels around it)
  const lx0 = Math.max(0, Math.floor(X0 / ds)), ly0 = Math.max(0, Math.floor(Y0 / ds));
  const lx1 = Math.min(L.width, Math.max(lx0 + 1, Math.ceil(X1 / ds))), ly1 = Math.min(L.height, Math.max(ly0 + 1, Math.ceil(Y1 / ds)));
  const img = await slide.readRegion(li, lx0, ly0, lx1 - lx0, ly1 - ly0);
  const tmp = new OffscreenCanvas(img.width, img.height);
  tmp.getContext('2d')!.putImageData(new ImageData(img.data as Uint8ClampedArray<ArrayBuffer>, img.width, img.height), 0, 0);
  ctx.fillStyle = '#fff'; // under transparent pixels (off the slide)
  ctx.fillRect(0, 0, cw, ch);
  if (Math.abs(ds - D) / D < 1e-9 && img.width === cw && img.height === ch && lx0 * ds === X0 && ly0 * ds === Y0) {
    ctx.drawImage(tmp, 0, 0); // the slide has this level: its pixels as they are
  } else {
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(tmp, X0 / ds - lx0, Y0 / ds - ly0, (X1 - X0) / ds, (Y1 - Y0) / ds, 0, 0, (X1 - X0) / D, (Y1 - Y0) / D);
  }
  return ctx;
}

/** An OpenSeadragon viewer of a slide in `container` (which it fills), with a marks layer on top. */
export class SlideView {
  readonly viewer: OpenSeadragon.Viewer;
  readonly slide: Slide;
  /** Resolves when the slide is open in the viewer (the first tiles may still be loading). */
  readonly ready: Promise<void>;
  /** Tiles rendered so far. */
  tilesRendered = 0;
  /** µm per level-0 pixel for the scale bar (none when null). */
  private mpp: number | null = null;
  private readonly host: HTMLDivElement;
  private readonly layer: HTMLCanvasElement;
  private marks: SlideMarks | null = null;
  private drawing: { start: OpenSeadragon.Point; end: OpenSeadragon.Point } | null = null;
  private cancelDrawing: (() => void) | null = null;
  private readonly resize: ResizeObserver;

  constructor(container: HTMLElement, slide: Slide) {
    this.slide = slide;
    container.innerHTML = '';
    this.host = document.createElement('div');
    this.host.className = 'osd';
    this.layer = document.createElement('canvas');
    this.layer.className = 'slide-marks';
    container.append(this.host, this.layer);
    this.viewer = OpenSeadragon({
      element: this.host,
      tileSources: slideTileSource(slide, () => this.tilesRendered++),
      drawer: 'canvas',
      showNavigationControl: false, // our own buttons: no button images to serve
      showNavigator: false,
      crossOriginPolicy: false,
      maxZoomPixelRatio: 4,
      visibilityRatio: 0.5,
      animationTime: 0.6,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
      imageLoaderLimit: 4,
      timeout: 120_000,
    } as OpenSeadragon.Options);
    this.ready = new Promise((ok, fail) => {
      this.viewer.addOnceHandler('open', () => ok());
      this.viewer.addOnceHandler('open-failed', (e) => fail(new Error(`${slide.name}: the viewer could not open the slide (${(e as { message?: string }).message ?? 'unknown'})`)));
    });
    const redraw = () => this.draw();
    for (const ev of ['update-viewport', 'animation', 'animation-finish', 'resize', 'open'] as const) this.viewer.addHandler(ev, redraw);
    this.resize = new ResizeObserver(redraw);
    this.resize.observe(container);
  }

  /** The level-0 size of the slide. */
  get size(): { width: number; height: number } {
    return { width: this.slide.levels[0].width, height: this.slide.levels[0].height };
  }

  /** What the view shows, in level-0 pixels (whole pixels, inside the slide). */
  viewRegion(): Rect {
    const vp = this.viewer.viewport;
    const r = vp.viewportToImageRectangle(vp.getBounds(true));
    return this.clip({ x: r.x, y: r.y, w: r.width, h: r.height });
  }

  /** Whole level-0 pixels of `r` inside the slide. */
  clip(r: Rect): Rect {
    const { width, height } = this.size;
    const x0 = Math.max(0, Math.floor(r.x)), y0 = Math.max(0, Math.floor(r.y));
    const x1 = Math.min(width, Math.ceil(r.x + r.w)), y1 = Math.min(height, Math.ceil(r.y + r.h));
    return { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
  }

  /** Zooms and pans so that `r` (level-0 px) fills the view. */
  showRegion(r: Rect, immediately = false): void {
    const vp = this.viewer.viewport;
    vp.fitBounds(vp.imageToViewportRectangle(r.x, r.y, r.w, r.h), immediately);
    if (immediately) this.viewer.forceRedraw();
  }

  /** Zooms by `factor` about the centre (> 1 in). */
  zoomBy(factor: number): void {
    this.viewer.viewport.zoomBy(factor);
    this.viewer.viewport.applyConstraints();
  }

  /** Whether every tile the view needs is drawn. */
  fullyLoaded(): boolean {
    const item = this.viewer.world.getItemAt(0);
    return !!item && item.getFullyLoaded();
  }

  home(): void {
    this.viewer.viewport.goHome();
  }

  /** Screen (viewer element) px per level-0 px. */
  private scale(): number {
    const vp = this.viewer.viewport;
    const a = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    const b = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(1000, 0));
    return (b.x - a.x) / 1000;
  }

  setScale(mpp: number | null): void {
    this.mpp = mpp && mpp > 0 ? mpp : null;
    this.draw();
  }

  setMarks(m: SlideMarks | null): void {
    this.marks = m;
    this.draw();
  }

  /** Lets the user drag a rectangle on the slide; resolves with it (level-0 px), or null (Escape, or cancelled). */
  drawRegion(): Promise<Rect | null> {
    this.cancelDrawing?.();
    const layer = this.layer;
    const vp = this.viewer.viewport;
    this.viewer.setMouseNavEnabled(false);
    layer.classList.add('drawing');
    return new Promise((done) => {
      const at = (ev: PointerEvent) => vp.viewerElementToImageCoordinates(new OpenSeadragon.Point(ev.offsetX, ev.offsetY));
      const finish = (r: Rect | null) => {
        layer.removeEventListener('pointerdown', down);
        layer.removeEventListener('pointermove', move);
        layer.removeEventListener('pointerup', up);
        window.removeEventListener('keydown', key);
        layer.classList.remove('drawing');
        this.viewer.setMouseNavEnabled(true);
        this.drawing = null;
        this.cancelDrawing = null;
        this.draw();
        done(r);
      };
      const down = (ev: PointerEvent) => {
        ev.preventDefault();
        layer.setPointerCapture(ev.pointerId);
        const p = at(ev);
        this.drawing = { start: p, end: p };
      };
      const move = (ev: PointerEvent) => {
        if (!this.drawing) return;
        this.drawing.end = at(ev);
        this.draw();
      };
      const up = (ev: PointerEvent) => {
        if (!this.drawing) return;
        this.drawing.end = at(ev);
        const { start: s, end: e } = this.drawing;
        const r = this.clip({ x: Math.min(s.x, e.x), y: Math.min(s.y, e.y), w: Math.abs(e.x - s.x), h: Math.abs(e.y - s.y) });
        finish(r.w >= 2 && r.h >= 2 ? r : null);
      };
      const key = (ev: KeyboardEvent) => {
        if (ev.key === 'Escape') finish(null);
      };
      layer.addEventListener('pointerdown', down);
      layer.addEventListener('pointermove', move);
      layer.addEventListener('pointerup', up);
      window.addEventListener('keydown', key);
      this.cancelDrawing = () => finish(null);
    });
  }

  cancelDraw(): void {
    this.cancelDrawing?.();
  }

  /** Redraws the marks layer for the current viewport. */
  draw(): void {
    const c = this.layer;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(c.clientWidth * dpr), h = Math.round(c.clientHeight * dpr);
    if (c.width !== w || c.height !== h) (c.width = w), (c.height = h);
    const ctx = c.getContext('2d')!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    if (!this.viewer.world.getItemCount()) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const vp = this.viewer.viewport;
    const k = this.scale();
    const px = (x: number, y: number) => vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
    const rect = (r: Rect, colour: string, dash: number[]) => {
      const a = px(r.x, r.y);
      ctx.setLineDash(dash);
      ctx.lineWidth = 3;
      ctx.strokeStyle = 'rgba(0, 0, 0, 0.5)';
      ctx.strokeRect(a.x, a.y, r.w * k, r.h * k);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = colour;
      ctx.strokeRect(a.x, a.y, r.w * k, r.h * k);
      ctx.setLineDash([]);
    };
    const m = this.marks;
    if (m?.region) rect(m.region, '#ffffff', [6, 4]);
    if (m) {
      const r = Math.max(6, m.radiusPx * k);
      const vw = c.clientWidth, vh = c.clientHeight;
      for (const d of m.detections) {
        const p = px(d.x + 0.5, d.y + 0.5);
        if (p.x < -r || p.y < -r || p.x > vw + r || p.y > vh + r) continue;
        ring(ctx, p.x, p.y, r, m.colour, 2);
      }
      if (m.hotspot && Number.isFinite(m.hotspot.x)) {
        const p = px(m.hotspot.x, m.hotspot.y);
        ring(ctx, p.x, p.y, Math.max(4, m.hotspot.radiusPx * k), m.hotspot.colour, 2.5);
      }
    }
    if (this.mpp) scaleBar(ctx, k / this.mpp, c.clientHeight);
    if (this.drawing) {
      const { start: s, end: e } = this.drawing;
      rect({ x: Math.min(s.x, e.x), y: Math.min(s.y, e.y), w: Math.abs(e.x - s.x), h: Math.abs(e.y - s.y) }, '#ffd400', [4, 3]);
    }
  }

  destroy(): void {
    this.cancelDraw();
    this.resize.disconnect();
    this.viewer.destroy();
    this.host.remove();
    this.layer.remove();
  }
}

function ring(ctx: CanvasRenderingContext2D, x: number, y: number, r: number, colour: readonly [number, number, number], width: number): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.lineWidth = width + 2;
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.55)';
  ctx.stroke();
  ctx.lineWidth = width;
  ctx.strokeStyle = `rgb(${colour[0]}, ${colour[1]}, ${colour[2]})`;
  ctx.stroke();
}

/** A scale bar (1, 2, 5, 10, ... µm; about 120 screen px) in the lower left corner; pxPerUm in screen px. */
function scaleBar(ctx: CanvasRenderingContext2D, pxPerUm: number, height: number): void {
  if (!(pxPerUm > 0)) return;
  const target = 120 / pxPerUm;
  const nice = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000];
  const um = nice.reduce((best, v) => (Math.abs(Math.log(v / target)) < Math.abs(Math.log(best / target)) ? v : best));
  const len = um * pxPerUm, m = 12, y = height - m;
  const label = um >= 1000 ? `${um / 1000} mm` : `${um} µm`;
  ctx.font = '600 12px system-ui, sans-serif';
  const tw = ctx.measureText(label).width;
  ctx.fillStyle = 'rgba(255, 255, 255, 0.8)';
  ctx.beginPath();
  ctx.roundRect(m - 6, y - 22, Math.max(len, tw) + 12, 28, 4);
  ctx.fill();
  ctx.fillStyle = '#2b1d35';
  ctx.fillRect(m, y - 4, len, 4);
  ctx.textBaseline = 'bottom';
  ctx.fillText(label, m, y - 6);
}
