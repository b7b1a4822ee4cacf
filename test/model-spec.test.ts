import { describe, expect, it } from 'vitest';
import { compact20x, DNN1, DNN2, wide20x, layerShapes, paramCount, validateSpec, windowRadius, describeSpec, type NetSpec } from '../src/model/spec.js';

const sizes = (s: NetSpec) => layerShapes(s).map((l) => `${l.maps}x${l.size}`);
const weights = (s: NetSpec) => layerShapes(s).filter((l) => l.weights > 0).map((l) => l.weights);

describe('net specs (Table 1)', () => {
  it('DNN1: 13 layers, map sizes and weight counts of Table 1', () => {
    expect(DNN1.layers.length + 1).toBe(13);
    expect(sizes(DNN1)).toEqual(['16x100', '16x50', '16x48', '16x24', '16x22', '16x11', '16x10', '16x5', '16x4', '16x2', '100x1', '2x1']);
    expect(weights(DNN1)).toEqual([208, 2320, 2320, 1040, 1040, 6500, 202]);
    expect(paramCount(DNN1)).toBe(208 + 2 * 2320 + 2 * 1040 + 6500 + 202);
    expect(layerShapes(DNN1)[10].weightShape).toEqual([100, 64]);
    expect(windowRadius(DNN1)).toBe(50);
  });

  it('DNN2: 11 layers, map sizes and weight counts of Table 1', () => {
    expect(DNN2.layers.length + 1).toBe(11);
    expect(sizes(DNN2)).toEqual(['16x98', '16x49', '16x46', '16x23', '16x20', '16x10', '16x8', '16x4', '100x1', '2x1']);
    expect(weights(DNN2)).toEqual([784, 4112, 4112, 2320, 25700, 202]);
    expect(layerShapes(DNN2)[0].weightShape).toEqual([16, 3, 4, 4]);
  });

  it('wide20x is compact20x with wider layers', () => {
    validateSpec(wide20x);
    expect(sizes(wide20x)).toEqual(['32x28', '32x14', '48x12', '48x6', '48x4', '48x2', '96x1', '2x1']);
    expect(paramCount(wide20x)).toBe(54946);
    expect(windowRadius(wide20x)).toBe(windowRadius(compact20x));
  });

  it('compact20x is valid and small', () => {
    validateSpec(compact20x);
    expect(sizes(compact20x)).toEqual(['16x28', '16x14', '32x12', '32x6', '32x4', '32x2', '64x1', '2x1']);
    expect(paramCount(compact20x)).toBeLessThan(30000);
    expect(describeSpec(compact20x)).toContain('compact20x: 3x31x31 C16k4 MP2');
  });

  it('the built-in specs cannot be changed by accident', () => {
    expect(() => (DNN1.layers as unknown[]).push({ type: 'fc', units: 2 })).toThrow();
  });

  const bad = (patch: Partial<NetSpec>): NetSpec => ({ ...DNN1, layers: [...DNN1.layers], ...patch });
  it.each([
    ['max-pool on an odd map', bad({ layers: [{ type: 'conv', maps: 4, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 2 }], input: { channels: 3, size: 10 } }), /layer 2 \(max-pool 2x2\) gets a 9x9 map: every MP halves an even-sized map/],
    ['window too small for a filter', bad({ input: { channels: 3, size: 2 }, layers: [{ type: 'conv', maps: 2, k: 3 }, { type: 'fc', units: 2 }] }), /layer 1 \(conv 3x3, 2 maps\) gets a 2x2 map, smaller than its filter: the window is too small/],
    ['window too small for a pool', bad({ input: { channels: 3, size: 3 }, layers: [{ type: 'conv', maps: 2, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 2 }] }), /layer 2 \(max-pool 2x2\) gets a 1x1 map, smaller than its window/],
    ['last layer not FC 2', bad({ layers: [...DNN1.layers.slice(0, -1), { type: 'fc', units: 3 }] }), /last layer must be FC with 2 units/],
    ['conv after FC', bad({ input: { channels: 3, size: 4 }, layers: [{ type: 'fc', units: 4 }, { type: 'conv', maps: 2, k: 1 }, { type: 'fc', units: 2 }] }), /layer 2 \(conv 1x1, 2 maps\) follows an FC layer/],
    ['unknown activation', bad({ activation: 'sigmoid' as never }), /activation 'sigmoid'/],
    ['unknown layer type', bad({ layers: [{ type: 'dropout' } as never, { type: 'fc', units: 2 }] }), /layer 1 has unknown type 'dropout'/],
    ['bad filter size', bad({ layers: [{ type: 'conv', maps: 4, k: 0 }, { type: 'fc', units: 2 }] }), /layer 1 \(conv\) needs positive integer maps and k/],
    ['no layers', bad({ layers: [] }), /no layers/],
    ['bad input', bad({ input: { channels: 3, size: 0 } }), /input must be/],
  ])('rejects %s with a clear message', (_what, spec, msg) => {
    expect(() => validateSpec(spec)).toThrow(msg);
    expect(() => validateSpec(spec)).toThrow(/net spec 'DNN1'/);
  });
});
