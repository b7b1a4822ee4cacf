// The detector's arguments are checked before any work: a wrong call fails at once naming the
// argument, instead of a NaN map, an empty result or an error from inside WebGPU (an audit of the
// library API found each of the cases below returning one of those). No GPU is touched: every call
// here fails before the engine is used, so a stand-in engine is enough.
import { describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { detectMitoses, detectMitosesMany, probabilityMap } from '../src/detect/detector.js';
import { decodeModel, initModel, type Model } from '../src/model/model-file.js';
import { compact20x } from '../src/model/spec.js';

const e = { run() {}, tensor() {} } as unknown as Engine;
const model = () => initModel(compact20x, 1, { umPerPixel: 0.4912 });
const image = (w = 32, h = 32) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4).fill(200) });

describe('detector arguments', () => {
  it('refuses models that are not complete models of one resolution, naming models[i]', async () => {
    const nanWeight = model();
    nanWeight.params[0].weight[0] = NaN;
    await expect(detectMitoses(e, [nanWeight], image())).rejects.toThrow(/models\[0\].*layer 1 weight holds NaN/);
    const noParams = model();
    delete (noParams as Partial<Model>).params;
    await expect(detectMitoses(e, [noParams], image())).rejects.toThrow(/models\[0\] is not a model/);
    const stringWeights = model();
    (stringWeights.params[0] as { weight: unknown }).weight = 'x'.repeat(1536);
    await expect(detectMitoses(e, [stringWeights], image())).rejects.toThrow(/params\[0\] needs Float32Array weight/);
    const badStd = model();
    badStd.normalisation = { ...badStd.normalisation, std: [0, 0, 0] };
    await expect(detectMitoses(e, [badStd], image())).rejects.toThrow(/models\[0\].*bad normalisation/);
    const badStain = model();
    badStain.stain = { method: 'reinhard', target: { mean: [50, 0, 0], std: [0, 0, 0] } };
    await expect(detectMitoses(e, [badStain], image())).rejects.toThrow(/models\[0\]/);
    const tiny = model();
    tiny.umPerPixel = 1e-6;
    await expect(detectMitoses(e, [tiny], image())).rejects.toThrow(/models\[0\].*bad umPerPixel/);
    const nanMpp = model();
    nanMpp.umPerPixel = NaN;
    await expect(detectMitoses(e, [model(), nanMpp], image())).rejects.toThrow(/models\[1\].*bad umPerPixel/);
    const other = initModel(compact20x, 2, { umPerPixel: 0.2456 });
    await expect(detectMitoses(e, [model(), other], image())).rejects.toThrow(/share one resolution/);
    await expect(detectMitoses(e, model() as unknown as Model[], image())).rejects.toThrow(/models must be an array of models.*\[model\]/);
    await expect(detectMitoses(e, [], image())).rejects.toThrow(/no model given/);
    const badT = initModel(compact20x, 1, { umPerPixel: 0.4912, provenance: { threshold: 5 } });
    await expect(detectMitoses(e, [badT], image())).rejects.toThrow(/records the threshold 5.*pass opts\.threshold/);
  });

  it('refuses images that are not RGBA bytes of a positive integer size, naming the image', async () => {
    const m = [model()];
    await expect(detectMitoses(e, m, { width: 2.5, height: 32, data: new Uint8ClampedArray(320) })).rejects.toThrow(/image: width and height must be positive integers, got 2\.5 x 32/);
    await expect(detectMitoses(e, m, { width: -4, height: 8, data: new Uint8ClampedArray(0) })).rejects.toThrow(/positive integers/);
    await expect(detectMitoses(e, m, { width: 8, height: 8, data: Float32Array.from({ length: 256 }, () => 0.5) as unknown as Uint8ClampedArray })).rejects.toThrow(/image\.data must be RGBA bytes.*Float32Array/);
    await expect(detectMitoses(e, m, { width: 8, height: 8, data: new Uint8ClampedArray(255) })).rejects.toThrow(/holds 255 bytes; a 8x8 RGBA image needs 256/);
    await expect(detectMitoses(e, m, null as unknown as ReturnType<typeof image>)).rejects.toThrow(/image must be an image/);
    await expect(probabilityMap(e, m, { width: 8, height: 8, data: [1, 2, 3] as unknown as Uint8ClampedArray })).rejects.toThrow(/probabilityMap: image\.data must be RGBA bytes.*plain array/);
    await expect(detectMitosesMany(e, m, [image(), { width: 4, height: 4, data: new Uint8Array(3) }])).rejects.toThrow(/images\[1\]\.data holds 3 bytes/);
    await expect(detectMitosesMany(e, m, image() as unknown as ReturnType<typeof image>[])).rejects.toThrow(/images must be an array/);
  });

  it('refuses options of the wrong type or range before any work', async () => {
    const m = [model()];
    await expect(detectMitoses(e, m, image(), { threshold: 2 })).rejects.toThrow(/opts\.threshold must be a number >= 0 and < 1, got number 2/);
    await expect(detectMitoses(e, m, image(), { threshold: NaN })).rejects.toThrow(/opts\.threshold/);
    await expect(detectMitoses(e, m, image(), { preset: 'toString' as 'DNN' })).rejects.toThrow(/unknown preset/);
    await expect(detectMitoses(e, m, image(), { umPerPixel: 1e-6 })).rejects.toThrow(/opts\.umPerPixel must be a number from 0\.01 to 100/);
    await expect(detectMitoses(e, m, image(), { mapStride: '2' as unknown as number })).rejects.toThrow(/opts\.mapStride must be 1 or 2, got string "2"/);
    await expect(detectMitoses(e, m, image(), { rescale: true as unknown as undefined })).rejects.toThrow(/opts\.rescale must be a function/);
    await expect(detectMitosesMany(e, m, [image()], { umPerPixel: 0.25 } as object)).rejects.toThrow(/takes neither umPerPixel nor preset/);
    await expect(detectMitoses({} as Engine, m, image())).rejects.toThrow(/first argument must be an engine/);
  });

  it('decodeModel says what it takes when given something other than bytes', () => {
    for (const v of [null, 'MITOSCAN', new DataView(new ArrayBuffer(16)), new Uint16Array(8)]) {
      expect(() => decodeModel(v as unknown as Uint8Array)).toThrow(/decodeModel takes the file's bytes \(a Uint8Array or ArrayBuffer\)/);
    }
  });
});
