// A per-tile journal of a slide detection (src/slide/detect-slide.ts TileJournal) on disk: lines of
// JSON, appended and fsync'd one tile at a time, so that a run killed at any moment resumes with
// nothing recomputed and nothing lost (`mitoscan detect slide.tif --out r/ --resume`), and so that
// the journals of `--shard k/n` runs can be merged (`mitoscan merge`).
//
//   line 1: the header {format, version, key, slide: {path, size, mtimeMs}, settings, tiles: [ids of
//           the plan], shard: {k, n} | null}; key = a hash of the slide's size + mtime and the settings
//   then:   {"t": tileId, "x": [...], "y": [...], "s": [...]} per tile done (kept pixels; the
//           scores are float32 values, which JSON round-trips exactly)
// A torn last line (a kill in the middle of a write) is dropped on reading, and cut off before
// appending again. A journal whose key differs (another file version or other settings) is refused.
import { createHash } from 'node:crypto';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import type { KeptPixels, TileJournal } from '../slide/detect-slide.js';

export const JOURNAL_FORMAT = 'mitoscan-slide-journal';
export const JOURNAL_VERSION = 1;

export interface JournalHeader {
  format: typeof JOURNAL_FORMAT;
  version: number;
  key: string;
  slide: { path: string; size: number; mtimeMs: number };
  settings: Record<string, unknown>;
  /** Tile ids of the whole plan (every shard's). */
  tiles: number[];
  shard: { k: number; n: number } | null;
}

export interface JournalContents {
  header: JournalHeader;
  tiles: Map<number, KeptPixels>;
  /** Bytes of the complete lines (what a resume keeps). */
  goodBytes: number;
  torn: boolean;
}

/** The key of a journal: the slide file's size and mtime and the settings (canonical JSON), hashed. */
export function journalKey(slide: { size: number; mtimeMs: number }, settings: Record<string, unknown>): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256').update(JSON.stringify([slide.size, slide.mtimeMs, canon(settings)])).digest('hex').slice(0, 32);
}

/** The size and mtime of the slide file (what the key is made of). */
export async function slideStamp(path: string): Promise<{ size: number; mtimeMs: number }> {
  const s = await stat(path);
  return { size: s.size, mtimeMs: Math.round(s.mtimeMs) };
}

/** Reads a journal; a torn or unparsable LAST line is dropped, a bad line before it is an error. */
export async function readJournal(path: string): Promise<JournalContents> {
  const bytes = await readFile(path);
  const text = bytes.toString('utf8');
  const tiles = new Map<number, KeptPixels>();
  let header: JournalHeader | undefined;
  let planned = new Set<number>();
  let pos = 0, goodBytes = 0, torn = false;
  const lineNo = () => text.slice(0, pos).split('\n').length;
  const numbers = (a: unknown): a is number[] => Array.isArray(a) && a.every((v) => typeof v === 'number' && Number.isFinite(v));
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const last = nl < 0;
    const line = text.slice(pos, last ? text.length : nl);
    let obj: unknown;
    try {
      obj = last ? undefined : JSON.parse(line);
    } catch {
      obj = undefined;
    }
    if (obj === undefined) {
      const rest = text.slice(nl < 0 ? text.length : nl + 1);
      if (last || !rest.trim()) {
        torn = line.length > 0;
        break;
      }
      throw new Error(`${path}: line ${lineNo()} of the journal is corrupt (not at its end: not a torn write); delete the file to start again`);
    }
    if (!header) {
      const h = obj as JournalHeader;
      if (h.format !== JOURNAL_FORMAT || !Array.isArray(h.tiles)) throw new Error(`${path}: not a mitoscan slide journal`);
      if (h.version !== JOURNAL_VERSION) throw new Error(`${path}: journal version ${h.version}, this mitoscan reads ${JOURNAL_VERSION}`);
      header = h;
      planned = new Set(h.tiles);
    } else {
      // a line that parses but is not what record() writes (an edit, another program): its pixels
      // would become detections, so it is refused rather than trusted
      const t = obj as { t: unknown; x: unknown; y: unknown; s: unknown };
      const ok = typeof t.t === 'number' && planned.has(t.t) && numbers(t.x) && numbers(t.y) && numbers(t.s) &&
        t.x.length === t.s.length && t.y.length === t.s.length && t.s.every((v) => v >= 0 && v <= 1) && [...t.x, ...t.y].every((v) => v >= -1);
      if (!ok) throw new Error(`${path}: line ${lineNo()} of the journal is not a tile of this slide's plan (a tile id of the header, then x, y >= -1 and scores in [0, 1], one of each per pixel); delete the file to start again`);
      tiles.set(t.t as number, { x: t.x as number[], y: t.y as number[], score: (t.s as number[]).map(Math.fround) });
    }
    pos = nl + 1;
    goodBytes += Buffer.byteLength(line) + 1;
  }
  if (!header) {
    throw new Error(text.trim()
      ? `${path}: not a mitoscan slide journal (its first line is not a journal header, or a run was killed while writing it); delete it, or run without --resume (with --force) to start over`
      : `${path}: an empty journal (no header); delete it, or run without --resume (with --force) to start over`);
  }
  return { header, tiles, goodBytes, torn };
}

/** A journal file open for appending: done/kept answer from the tiles read at open, record appends + fsyncs. */
export class SlideJournalFile implements TileJournal {
  private constructor(
    readonly path: string,
    readonly header: JournalHeader,
    readonly tiles: Map<number, KeptPixels>,
    private fh: FileHandle | null,
    /** Tiles found in the journal when it was opened. */
    readonly resumedTiles: number,
  ) {}

  /**
   * A new journal (replacing any file at `path`), or with `resume` the existing one when its key
   * matches `header.key` (else an error saying why; a missing file starts a new journal).
   */
  static async open(path: string, header: JournalHeader, opts: { resume?: boolean } = {}): Promise<SlideJournalFile> {
    if (opts.resume && (await stat(path).then(() => true, () => false))) {
      const j = await readJournal(path);
      if (j.header.key !== header.key) {
        const why = j.header.slide.size !== header.slide.size || j.header.slide.mtimeMs !== header.slide.mtimeMs ? 'the slide file changed since (size or modification time)' : 'it was written with other settings (model, threshold, preset, tile, region, µm/px or area)';
        throw new Error(`${path}: cannot --resume: ${why}; run again without --resume (with --force) to start over`);
      }
      if (JSON.stringify(j.header.shard) !== JSON.stringify(header.shard)) {
        throw new Error(`${path}: cannot --resume: the journal is of shard ${j.header.shard ? `${j.header.shard.k}/${j.header.shard.n}` : 'none'}, this run of ${header.shard ? `${header.shard.k}/${header.shard.n}` : 'none'}`);
      }
      const fh = await open(path, 'r+');
      await fh.truncate(j.goodBytes); // a torn last line is cut off
      await fh.sync();
      await fh.close();
      const app = await open(path, 'a');
      return new SlideJournalFile(path, j.header, j.tiles, app, j.tiles.size);
    }
    const fh = await open(path, 'w');
    await fh.write(JSON.stringify(header) + '\n');
    await fh.sync();
    return new SlideJournalFile(path, header, new Map(), fh, 0);
  }

  done(tileId: number): boolean {
    return this.tiles.has(tileId);
  }

  kept(tileId: number): KeptPixels {
    const k = this.tiles.get(tileId);
    if (!k) throw new Error(`${this.path}: tile ${tileId} is not in the journal`);
    return k;
  }

  async record(tileId: number, kept: KeptPixels): Promise<void> {
    if (!this.fh) throw new Error(`${this.path}: the journal is closed`);
    await this.fh.write(JSON.stringify({ t: tileId, x: kept.x, y: kept.y, s: kept.score }) + '\n');
    await this.fh.sync();
    this.tiles.set(tileId, kept);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}
