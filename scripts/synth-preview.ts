// Writes previews of the procedural tissue generator:
//   /tmp/synth-preview.png  a 512x512 field (or the given size) with its mitoses circled
//   /tmp/synth-montage.png  4x zoomed crops: each mitosis phase (rows) and the look-alikes
// Usage: node scripts/run-ts.mjs scripts/synth-preview.ts [seed=1] [size=512]
import { writeFileSync } from 'node:fs';
import { generateField, type SynthImage, type MitosisPhase, type NucleusKind } from '../src/synth/tissue.js';

interface UpngModule {
  encode(frames: ArrayBuffer[], w: number, h: number, cnum: number): ArrayBuffer;
}
// upng-js ships no type declarations: import it through a non-literal specifier (typed here).
const upngName = 'upng-js';
const UPNG = ((await import(upngName)) as { default: UpngModule }).default;

const seed = Number(process.argv[2] ?? 1);
const size = Number(process.argv[3] ?? 512);

function savePng(path: string, img: SynthImage): void {
  const rgba = new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength).slice();
  writeFileSync(path, new Uint8Array(UPNG.encode([rgba.buffer], img.width, img.height, 0)));
}

function circle(img: SynthImage, cx: number, cy: number, r: number, rgb: [number, number, number]): void {
  for (let k = 0; k < 720; k++) {
    const a = (k / 720) * 2 * Math.PI;
    for (const dr of [0, 1]) {
      const x = Math.round(cx + (r + dr) * Math.cos(a));
      const y = Math.round(cy + (r + dr) * Math.sin(a));
      if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
      const o = (y * img.width + x) * 4;
      img.data[o] = rgb[0];
      img.data[o + 1] = rgb[1];
      img.data[o + 2] = rgb[2];
    }
  }
}

const t0 = performance.now();
const field = generateField({ width: size, height: size, seed });
const t1 = performance.now();
const marked: SynthImage = { ...field.image, data: field.image.data.slice() };
for (const m of field.mitoses) circle(marked, m.x, m.y, 30, [0, 255, 0]);
savePng('/tmp/synth-preview.png', marked);
console.log(`field ${size}x${size} seed ${seed}: ${(t1 - t0).toFixed(0)} ms, ${field.mitoses.length} mitoses (${field.mitoses.map((m) => m.phase).join(', ')}), ${field.nuclei.length} nuclei`);
console.log('wrote /tmp/synth-preview.png');

// ---- montage: 2 examples of each phase, then look-alikes ----
const big = generateField({ width: 1024, height: 1024, seed: seed + 1000, mitoses: 14 });
const crop = 56;
const zoom = 4;
const cell = crop * zoom + 4;
const rows: { x: number; y: number }[][] = [];
const phases: MitosisPhase[] = ['prophase', 'metaphase', 'anaphase', 'telophase'];
for (const p of phases) rows.push(big.mitoses.filter((m) => m.phase === p).slice(0, 3));
const kinds: NucleusKind[] = ['hyperchromatic', 'apoptotic', 'lymphocyte', 'epithelial'];
rows.push(kinds.map((k) => big.nuclei.find((n) => n.kind === k && n.x > crop && n.y > crop && n.x < 1024 - crop && n.y < 1024 - crop)).filter((n) => n !== undefined));
rows.push(big.nuclei.filter((n) => n.kind === 'apoptotic' && n.x > crop && n.y > crop && n.x < 1024 - crop && n.y < 1024 - crop).slice(1, 5));
const ncols = Math.max(...rows.map((r) => r.length), 1);
const M: SynthImage = { width: ncols * cell, height: rows.length * cell, data: new Uint8ClampedArray(ncols * cell * rows.length * cell * 4).fill(255) };
rows.forEach((row, r) =>
  row.forEach((c, k) => {
    for (let y = 0; y < crop * zoom; y++) {
      for (let x = 0; x < crop * zoom; x++) {
        const sx = Math.min(1023, Math.max(0, Math.round(c.x) - crop / 2 + Math.floor(x / zoom)));
        const sy = Math.min(1023, Math.max(0, Math.round(c.y) - crop / 2 + Math.floor(y / zoom)));
        const s = (sy * 1024 + sx) * 4;
        const d = ((r * cell + y) * M.width + k * cell + x) * 4;
        for (let ch = 0; ch < 4; ch++) M.data[d + ch] = big.image.data[s + ch];
      }
    }
  }),
);
savePng('/tmp/synth-montage.png', M);
console.log(`wrote /tmp/synth-montage.png (rows: ${phases.join(', ')}, look-alikes [${kinds.join(', ')}], more apoptotic)`);
