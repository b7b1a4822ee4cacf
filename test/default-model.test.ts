// The shipped models: models/default.mitoscan is the real-tissue model (what `detect`, `eval`, the
// library's loadDefaultModel() and the web page use without a model given), trained on real H&E
// crops with slides held out that it records; models/demo.mitoscan is the procedural-field model
// that `demo` uses. `detect` on a real tile without --model runs the real model; `info` prints its
// provenance.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run as detect } from '../pipelines/detect.js';
import { run as info } from '../pipelines/info.js';
import { isValidThreshold } from '../src/detect/threshold.js';
import { loadDefaultModel, loadDemoModel } from '../src/node/default-model.js';
import { captured } from './helpers/quiet.js';

const REPO = resolve(import.meta.dirname, '..');
const TILE = join(REPO, '../shared/data/mitos-atypia14-tiles/mitosis/H03_00Aa_1.jpg');
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-default-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

describe('the shipped models', () => {
  it('default.mitoscan is the real-tissue model: trained on AMi-Br crops and TUPAC16 patches, with held-out slides and a threshold', async () => {
    const m = await loadDefaultModel();
    const pv = m.provenance;
    expect(String(pv.dataset)).toMatch(/amibr-figures/);
    expect(String(pv.command)).toMatch(/^mitoscan train /);
    const held = pv.heldOut as { patients: string[] };
    expect(held.patients.length).toBeGreaterThan(10);
    // the TUPAC16 cases whose auxiliary patches are a test set are among them
    for (const c of ['TUPAC16:32', 'TUPAC16:36', 'TUPAC16:62', 'TUPAC16:63']) expect(held.patients).toContain(c);
    const valImages = (pv.trainingSet as { valImages: string[] }).valImages;
    expect(valImages.length).toBeGreaterThan(0);
    expect(isValidThreshold(pv.threshold)).toBe(true);
    expect((pv.training as { stain: unknown }).stain).toBeTruthy();
    // the demo model is the procedural one
    const demo = await loadDemoModel();
    expect(String(demo.provenance.dataset)).toMatch(/^synthetic/);
  });

  it('`detect` on a real tile without --model uses it, and `info` prints its provenance', async (ctx) => {
    if (!existsSync(TILE)) {
      console.warn(`default-model test: ${TILE} is absent (../shared/data is not beside the repository): the real-tile run is skipped`);
      ctx.skip();
    }
    const m = await loadDefaultModel();
    const out = join(TMP, 'out');
    const r = await captured(() => detect([TILE, '--mpp', '0.2273', '--out', out]));
    expect(r.error).toBeUndefined();
    expect(r.stdout).toContain(`(${m.spec.name} from (embedded default model: real tissue`);
    expect(r.stdout).toContain(`at ${m.umPerPixel} µm/px`);
    expect(r.stdout).toContain(`threshold ${m.provenance.threshold}`);
    expect(existsSync(join(out, 'H03_00Aa_1.csv'))).toBe(true);
    const i = await captured(() => info([]));
    expect(i.error).toBeUndefined();
    expect(i.stdout).toMatch(/dataset: .*amibr-figures/);
    expect(i.stdout).toMatch(/heldOut: /);
    expect(readFileSync(join(out, 'summary.csv'), 'utf8')).toMatch(/H03_00Aa_1/);
  }, 120_000);
});
