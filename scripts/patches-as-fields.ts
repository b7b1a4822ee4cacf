// Turns a folder of class patches (mitosis/, non-mitosis/; TUPAC16 names <case>_<image>_<k>.jpg)
// into two data sets in the tutorial's layout (src/node/datasets.ts writePatchesAsFields), so that
// `mitoscan train`, `eval` and `crossval` run on real tissue: a mitosis patch has one figure at its
// centre, a non-mitosis patch none. Cases listed in --test go to <out>/test, the rest to <out>/train
// (patient-level split). The data stay outside the repository.
// Usage: node scripts/run-ts.mjs scripts/patches-as-fields.ts <patches-root> <out> --test 36,62,63
import { writePatchesAsFields } from '../src/node/datasets.js';

const [root, out, flag, list] = process.argv.slice(2);
if (!root || !out || flag !== '--test' || !list) {
  console.error('usage: node scripts/run-ts.mjs scripts/patches-as-fields.ts <patches-root> <out> --test <case,case,...>');
  process.exit(2);
}
const c = await writePatchesAsFields(root, out, { test: list.split(',') });
console.log(`train: ${c.train.mitoses} mitosis + ${c.train.others} non-mitosis patches; test: ${c.test.mitoses} + ${c.test.others}`);
