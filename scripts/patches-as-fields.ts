// Turns a folder of class patches (mitosis/, non-mitosis/; TUPAC16 names <case>_<image>_<k>.jpg)
// into two data sets in the tutorial's layout (<case>_<n>.tif + .csv of x,y; n numbers the case's
// patches, mitoses first), so that
// `mitoscan train` and `mitoscan eval` run on real tissue: a mitosis patch has one figure at its
// centre, a non-mitosis patch none. Cases listed in --test go to <out>/test, the rest to <out>/train
// (patient-level split). The data stay outside the repository.
// Usage: node scripts/run-ts.mjs scripts/patches-as-fields.ts <patches-root> <out> --test 36,62,63
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage, encodeTiff } from '../src/io/image.js';

const [root, out, flag, list] = process.argv.slice(2);
if (!root || !out || flag !== '--test' || !list) {
  console.error('usage: node scripts/run-ts.mjs scripts/patches-as-fields.ts <patches-root> <out> --test <case,case,...>');
  process.exit(2);
}
const test = new Set(list.split(','));
const counts = { train: [0, 0], test: [0, 0] };
const next = new Map<string, number>();
for (const [cls, label] of [['mitosis', 1], ['non-mitosis', 0]] as const) {
  for (const name of readdirSync(join(root, cls)).filter((n) => /\.(jpe?g|png|tiff?)$/i.test(n))) {
    const m = /^(\d+)_(\d+)_(\d+)\./.exec(name);
    if (!m) throw new Error(`${join(root, cls, name)}: not a <case>_<image>_<k> name`);
    const img = decodeImage(readFileSync(join(root, cls, name)), name);
    const split = test.has(String(Number(m[1]))) || test.has(m[1]) ? 'test' : 'train';
    const dir = join(out, split);
    mkdirSync(dir, { recursive: true });
    const n = (next.get(m[1]) ?? 0) + 1;
    next.set(m[1], n);
    const stem = `${m[1]}_${String(n).padStart(3, '0')}`;
    writeFileSync(join(dir, `${stem}.tif`), encodeTiff(img));
    writeFileSync(join(dir, `${stem}.csv`), label ? `${(img.width - 1) / 2},${(img.height - 1) / 2}\n` : '');
    counts[split][label]++;
  }
}
console.log(`train: ${counts.train[1]} mitosis + ${counts.train[0]} non-mitosis patches; test: ${counts.test[1]} + ${counts.test[0]}`);
