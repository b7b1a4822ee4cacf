// The paper's two-stage training set on two small procedural fields (128x128 at 0.9824 µm/px, a
// 15x15 net): positives are exactly the pixels closer than d to a mitosis, the stage-2 negatives
// concentrate where the brief net Cd says "mitosis" (mean D at the drawn negatives >> mean D over all
// negative pixels) and so near nuclei, the validation samples come from the validation image only,
// and the tutorial's blue-ratio option keeps negatives inside the dilated nuclei mask.
import { describe, expect, it } from 'vitest';
import { initModel } from '../src/model/model-file.js';
import type { NetSpec } from '../src/model/spec.js';
import { generateField, type SynthField } from '../src/synth/tissue.js';
import { makeRng, mitosisMask, sampleNegatives } from '../src/train/sampling.js';
import { ImageStore, imageNormalisation } from '../src/train/trainer.js';
import { buildTrainingSet, otsuThreshold, splitByPatient, type TrainingImage } from '../src/train/training-set.js';
import { useEngine } from './helpers/gpu.js';

const ctx = useEngine();
const MPP = 0.9824;
const D = 2.5; // 10 px at 0.2456 µm/px

const spec: NetSpec = {
  name: 'tiny15',
  input: { channels: 3, size: 15 },
  // 15 -C4-> 12 -MP-> 6 -C3-> 4 -MP-> 2 -> FC 8 -> FC 2
  layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 6, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};

const fields: SynthField[] = [21, 22].map((seed) => generateField({ width: 128, height: 128, seed, mpp: MPP, mitoses: 4 }));
const images: TrainingImage[] = fields.map((f, i) => ({ id: `f${i}`, patient: `p${i}`, image: f.image, mitoses: f.mitoses }));
const isVal = [false, true];
const model = { spec, normalisation: imageNormalisation([images[0].image]), umPerPixel: MPP };

/** Share of the samples within r px of a generator nucleus (any kind) of their image. */
function nearNuclei(samples: { image: number; x: number; y: number }[], r: number): number {
  let n = 0;
  for (const s of samples) if (fields[s.image].nuclei.some((c) => (c.x - s.x) ** 2 + (c.y - s.y) ** 2 < r * r)) n++;
  return n / samples.length;
}

describe('the two-stage training set', () => {
  it('stage 2 draws negatives where Cd sees mitoses: look-alike nuclei', async () => {
    const e = ctx.e;
    const store = ImageStore.upload(e, images.map((im) => im.image));
    const stages: string[] = [];
    const set = await buildTrainingSet(e, store, images, isVal, model, {
      radiusPx: D,
      samples: 3000,
      stage1Epochs: 20, // 5 batches each: "briefly"
      train: { batch: 32, lr: 0.05 },
      seed: 1,
    }, { onStage: (m) => stages.push(m) });
    store.destroy();
    expect(stages.join('\n')).toMatch(/stage 1[\s\S]*stage 2/);
    const masks = images.map((im) => mitosisMask(128, 128, im.mitoses, D));
    // positives: exactly the mitosis pixels of the training image; negatives: never one
    const pos = set.train.filter((s) => s.label === 1);
    expect(pos.length).toBe(masks[0].reduce((a, b) => a + b, 0));
    expect(set.stats.trainPositives).toBe(pos.length);
    expect(pos.length).toBeGreaterThan(40);
    expect(set.train.every((s) => s.image === 0 && masks[0][s.y * 128 + s.x] === s.label)).toBe(true);
    expect(set.train.length).toBe(3000);
    // validation: from the validation image only, all its mitosis pixels, labelled by its mask
    expect(set.val.length).toBeGreaterThan(0);
    expect(set.val.every((s) => s.image === 1 && masks[1][s.y * 128 + s.x] === s.label)).toBe(true);
    expect(set.val.filter((s) => s.label === 1).length).toBe(Math.min(masks[1].reduce((a, b) => a + b, 0), set.stats.valPositives));
    // D(p): the drawn negatives sit where Cd's probability is high
    expect(set.weights).toHaveLength(2);
    expect(set.stats.meanDChosen!).toBeGreaterThan(3 * set.stats.meanD!);
    // ... which is on nuclei: far more often than uniform negatives are
    const neg = set.train.filter((s) => s.label === 0);
    const uniform = sampleNegatives([{ width: 128, mask: masks[0] }], neg.length, makeRng(9)).map((s) => ({ ...s, image: 0 }));
    const rNuc = 4; // px: about a nucleus radius at 0.98 µm/px
    const hard = nearNuclei(neg, rNuc);
    const easy = nearNuclei(uniform, rNuc);
    expect(hard).toBeGreaterThan(easy * 1.5);
    // and the look-alikes (hyperchromatic, apoptotic, lymphocytes) get a large share of them
    const look = fields[0].nuclei.filter((n) => n.lookalike);
    expect(look.length).toBeGreaterThan(0);
    const nearLook = (ss: typeof neg) => ss.filter((s) => look.some((c) => (c.x - s.x) ** 2 + (c.y - s.y) ** 2 < rNuc * rNuc)).length / ss.length;
    expect(nearLook(neg)).toBeGreaterThan(nearLook(uniform) * 2);
  });

  it('with --blue-ratio, every negative lies inside the dilated blue-ratio mask', async () => {
    const e = ctx.e;
    const store = ImageStore.upload(e, images.map((im) => im.image));
    const set = await buildTrainingSet(e, store, images, isVal, model, { radiusPx: D, samples: 800, stage1Epochs: 0, blueRatioDilatePx: 2, seed: 2 });
    store.destroy();
    const allowed = set.allowed!;
    expect(allowed).toHaveLength(2);
    for (const a of allowed) {
      const share = a.reduce((s, v) => s + v, 0) / a.length;
      expect(share).toBeGreaterThan(0.05);
      expect(share).toBeLessThan(0.9);
    }
    for (const s of [...set.train, ...set.val]) if (s.label === 0) expect(allowed[s.image][s.y * 128 + s.x]).toBe(1);
    // the mask holds the nuclei
    const nuc = fields[0].nuclei.filter((n) => n.x >= 0 && n.y >= 0 && n.x < 128 && n.y < 128);
    const inside = nuc.filter((n) => allowed[0][Math.round(n.y) * 128 + Math.round(n.x)] === 1).length;
    expect(inside / nuc.length).toBeGreaterThan(0.8);
    expect(set.weights).toBeUndefined();
  });

  it('a whole-image region and exclusion = d draw exactly the same samples as neither; a wider exclusion keeps negatives away', async () => {
    const e = ctx.e;
    const store = ImageStore.upload(e, images.map((im) => im.image));
    const o = { radiusPx: D, samples: 500, stage1Epochs: 0, seed: 4 };
    const plain = await buildTrainingSet(e, store, images, isVal, model, o);
    const whole = images.map((im) => ({ ...im, region: { x0: 0, y0: 0, x1: 128, y1: 128 } }));
    const same = await buildTrainingSet(e, store, whole, isVal, model, { ...o, exclusionPx: D });
    expect(same.train).toEqual(plain.train);
    expect(same.val).toEqual(plain.val);
    expect(plain.stats.trainImagesWithoutNegatives).toBe(0);
    const far = await buildTrainingSet(e, store, images, isVal, model, { ...o, exclusionPx: 3 * D });
    store.destroy();
    expect(far.stats.trainPositives).toBe(plain.stats.trainPositives);
    for (const s of [...far.train, ...far.val])
      if (s.label === 0) for (const c of images[s.image].mitoses) expect((s.x - c.x) ** 2 + (s.y - c.y) ** 2).toBeGreaterThanOrEqual(9 * D * D);
    // the ring d <= r < 3d held negatives before
    const inRing = plain.train.filter((s) => s.label === 0 && images[0].mitoses.some((c) => (s.x - c.x) ** 2 + (s.y - c.y) ** 2 < 9 * D * D));
    expect(inRing.length).toBeGreaterThan(0);
  });

  it('positiveShare caps the mitosis pixels at that share of the set; the rest are negatives', async () => {
    const e = ctx.e;
    const store = ImageStore.upload(e, images.map((im) => im.image));
    const o = { radiusPx: D, samples: 40, stage1Epochs: 0, seed: 5 };
    const half = await buildTrainingSet(e, store, images, isVal, model, o);
    const tenth = await buildTrainingSet(e, store, images, isVal, model, { ...o, positiveShare: 0.1 });
    await expect(buildTrainingSet(e, store, images, isVal, model, { ...o, positiveShare: 0.7 })).rejects.toThrow(/positiveShare must be in \(0, 0.5\]/);
    store.destroy();
    // 4 mitoses of radius 2.5 px hold more than 20 mitosis pixels: both caps bind
    expect(half.stats.trainPositivesAvailable).toBeGreaterThan(20);
    expect([half.stats.trainPositives, half.stats.trainNegatives]).toEqual([20, 20]);
    expect([tenth.stats.trainPositives, tenth.stats.trainNegatives]).toEqual([4, 36]);
    expect(tenth.train.filter((s) => s.label === 1).length).toBe(4);
  });

  it('explains what is wrong', async () => {
    const e = ctx.e;
    const blank = images.map((im) => ({ ...im, mitoses: [] }));
    const store = ImageStore.upload(e, blank.map((im) => im.image));
    await expect(buildTrainingSet(e, store, blank, isVal, model, { radiusPx: D, samples: 100, stage1Epochs: 0, seed: 1 })).rejects.toThrow(/no mitoses in the 1 training image/);
    await expect(buildTrainingSet(e, store, images, [true, true], model, { radiusPx: D, samples: 100, stage1Epochs: 0, seed: 1 })).rejects.toThrow(/no training images/);
    store.destroy();
    expect(initModel(spec, 1).params).toHaveLength(4);
  });
});

describe('helpers', () => {
  it("Otsu's threshold separates two modes", () => {
    const r = makeRng(3);
    const v = Float32Array.from({ length: 4000 }, (_, i) => (i % 4 === 0 ? 80 : 20) + 5 * (r() - 0.5));
    const t = otsuThreshold(v);
    expect(t).toBeGreaterThan(25);
    expect(t).toBeLessThan(75);
  });

  it('validation keeps patients together', () => {
    const ims = ['a', 'a', 'b', 'c', 'c', 'd', 'e'].map((patient) => ({ patient }));
    const { isVal } = splitByPatient(ims, 0.4, 1);
    const valPatients = new Set(ims.filter((_, i) => isVal[i]).map((im) => im.patient));
    expect(valPatients.size).toBe(2);
    ims.forEach((im, i) => expect(isVal[i]).toBe(valPatients.has(im.patient)));
    expect(splitByPatient(ims, 0.4, 1)).toEqual({ isVal });
    expect(splitByPatient(ims, 0, 1).isVal.every((v) => !v)).toBe(true);
    const one = splitByPatient([{ patient: 'x' }, { patient: 'x' }, { patient: 'x' }], 0.3, 1);
    expect(one.isVal.filter(Boolean)).toHaveLength(1);
    expect(one.warning).toMatch(/one patient/);
  });
});
