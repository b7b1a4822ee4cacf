// `mitoscan merge <dir...> --out <dir>`: combines the journals of `mitoscan detect --shard k/n`
// runs of one slide (or several) into what one run writes: the kept pixels of every tile, then the
// one global suppression (src/slide/detect-slide.ts slideDetections) and the same outputs
// (pipelines/detect.ts writeSlideOutputs): <name>.csv, .geojson, .heatmap.png, .hotspot.json and
// summary.csv. The journals must share one key (same slide file version, same settings) and
// together hold every tile of the plan; a missing shard is named.
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readJournal, slideStamp, type JournalContents } from '../src/node/slide-journal.js';
import { checkExistingResults, checkOutputDir, lockOutputDir, writeFileAtomic } from '../src/node/files.js';
import { openFileSource } from '../src/node/slide-file.js';
import { slideDetections, type KeptPixels } from '../src/slide/detect-slide.js';
import type { Window } from '../src/slide/hotspot.js';
import { openSlide } from '../src/slide/slide.js';
import { slideTissueMask } from '../src/slide/tissue.js';
import { checkFlags, flagBoolean, flagString, parseArgs, UsageError } from './args.js';
import { SLIDE_JOURNAL, SLIDE_OUTPUTS, writeSlideOutputs, type SlideOutputInfo } from './detect.js';

const USAGE = `usage: mitoscan merge <dir...> --out <dir> [--force]

Combines the outputs of \`mitoscan detect <slide> --shard k/n --out <dir_k>\` runs (their
<name>.${SLIDE_JOURNAL} journals) into exactly what one run over the whole slide writes: the
global non-maxima suppression over the union of every tile's kept pixels, then <name>.csv,
<name>.geojson, <name>.heatmap.png, <name>.hotspot.json and summary.csv in --out.
The shards must be runs of one slide file (unchanged since) with the same settings, and together
hold every tile; a missing or unfinished shard is named (rerun it with --resume).

options:
  --out <dir>   output folder (required)
  --force       replace the results of an earlier run in --out`;

/** Groups the journals of `dirs` by slide name, checking keys, shards and tile coverage. */
export async function collectJournals(dirs: readonly string[]): Promise<{ name: string; parts: JournalContents[]; tiles: Map<number, KeptPixels> }[]> {
  const byName = new Map<string, { dir: string; j: JournalContents }[]>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOTDIR'
        ? `${dir}: is a file, not a folder (give the --out folders of the shard runs${dir.endsWith(`.${SLIDE_JOURNAL}`) ? ', not their journals' : ''})`
        : code === 'ENOENT' ? `${dir}: no such folder (give the --out folders of the shard runs)` : `${dir}: cannot be read (${code ?? (e as Error).message})`);
    }
    const found = names.filter((n) => n.endsWith(`.${SLIDE_JOURNAL}`));
    if (!found.length) throw new Error(`${dir}: no *.${SLIDE_JOURNAL} journal (was it the --out of a mitoscan detect --shard run?)`);
    for (const f of found) {
      const name = f.slice(0, -(SLIDE_JOURNAL.length + 1));
      const j = await readJournal(join(dir, f));
      (byName.get(name) ?? byName.set(name, []).get(name)!).push({ dir, j });
    }
  }
  const out = [];
  for (const [name, parts] of byName) {
    const h0 = parts[0].j.header;
    for (const p of parts) {
      if (p.j.header.key !== h0.key) {
        throw new Error(`${name}: the journals in ${parts[0].dir} and ${p.dir} are of different runs (another slide file version or other settings); merge only the shards of one run`);
      }
    }
    const n = h0.shard?.n ?? 1;
    const ks = new Set<number>();
    for (const p of parts) {
      const s = p.j.header.shard;
      if ((s?.n ?? 1) !== n) throw new Error(`${name}: ${p.dir} holds shard ${s ? `${s.k}/${s.n}` : 'of a run without --shard'}, ${parts[0].dir} one of ${n}`);
      if (ks.has(s?.k ?? 0)) throw new Error(`${name}: shard ${s?.k ?? 0}/${n} is given twice (${p.dir})`);
      ks.add(s?.k ?? 0);
    }
    const tiles = new Map<number, KeptPixels>();
    for (const p of parts) for (const [id, k] of p.j.tiles) if (!tiles.has(id)) tiles.set(id, k);
    const want = h0.tiles;
    const missing = want.filter((id) => !tiles.has(id));
    if (missing.length) {
      const absent = Array.from({ length: n }, (_, k) => k).filter((k) => !ks.has(k));
      const incomplete = parts.filter((p) => {
        const s = p.j.header.shard;
        return want.some((id, i) => (!s || i % s.n === s.k) && !p.j.tiles.has(id));
      }).map((p) => `${p.j.header.shard?.k ?? 0}/${n} (${p.dir})`);
      throw new Error(
        `${name}: ${missing.length} of ${want.length} tiles are in no journal` +
          (absent.length ? `; shard(s) ${absent.map((k) => `${k}/${n}`).join(', ')} not given` : '') +
          (incomplete.length ? `; unfinished: ${incomplete.join(', ')} (rerun with --resume)` : ''),
      );
    }
    out.push({ name, parts: parts.map((p) => p.j), tiles });
  }
  return out;
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['help', 'force']);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, ['out', 'force', 'help']);
  const dirs = args.positionals;
  if (!dirs.length) throw new UsageError('no shard folder given');
  const outArg = flagString(args, 'out');
  if (!outArg) throw new UsageError('--out <dir> is required');
  const outDir = resolve(outArg);
  const force = flagBoolean(args, 'force');
  await checkOutputDir(outDir);
  const slides = await collectJournals(dirs);
  const lock = await lockOutputDir(outDir, ['mitoscan', 'merge', ...argv].join(' '), { onWarning: (m) => console.error(`mitoscan merge: warning: ${m}`) });
  try {
    const outputs = ['summary.csv', ...slides.flatMap((s) => SLIDE_OUTPUTS.map((x) => `${s.name}.${x}`))];
    const replaced = await checkExistingResults(outDir, outputs, force);
    if (replaced.length) console.error(`mitoscan merge: --force: replacing ${replaced.length} file(s) of an earlier run in ${outDir}`);
    const rows: string[] = [];
    for (const s of slides) {
      const h = s.parts[0].header;
      const st = h.settings as unknown as SlideOutputInfo & { toLevel0: number; radius: number };
      const stamp = await slideStamp(h.slide.path).catch(() => {
        throw new Error(`${s.name}: the slide ${h.slide.path} the shards read is gone`);
      });
      if (stamp.size !== h.slide.size || stamp.mtimeMs !== h.slide.mtimeMs) throw new Error(`${s.name}: ${h.slide.path} changed since the shards read it (size or modification time); run them again`);
      const src = await openFileSource(h.slide.path);
      const slide = await openSlide(src);
      try {
        const dets = slideDetections(s.tiles.values(), { toLevel0: st.toLevel0, radius: st.radius, threshold: st.threshold });
        const mask = await slideTissueMask(slide);
        const info: SlideOutputInfo = { slidePath: st.slidePath, mpp0: st.mpp0, threshold: st.threshold, preset: st.preset, ...(st.mapStride ? { mapStride: st.mapStride } : {}), nets: st.nets, window: st.window as Window };
        const { line } = await writeSlideOutputs(outDir, s.name, slide, dets, mask, info);
        console.log(`${line} (merged from ${s.parts.length} shard(s), ${s.tiles.size} tiles)`);
        const L0 = slide.levels[0];
        const path = /[",\n]/.test(h.slide.path) ? `"${h.slide.path.replace(/"/g, '""')}"` : h.slide.path;
        rows.push([path, s.name, L0.width, L0.height, dets.length, '', ''].join(','));
      } finally {
        await slide.close();
        await src.close();
      }
    }
    await writeFileAtomic(join(outDir, 'summary.csv'), ['image,name,width,height,count,seconds,error', ...rows].join('\n') + '\n');
  } finally {
    lock.release();
  }
}
