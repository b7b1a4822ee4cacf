import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, decodeModel, encodeModel, initModel, MODEL_FORMAT_VERSION, type Model } from '../src/model/model-file.js';
import { loadModel, saveModel } from '../src/node/model-io.js';
import { DNN1, DNN2, compact20x, paramCount, type NetSpec } from '../src/model/spec.js';

const small: NetSpec = {
  name: 'small',
  input: { channels: 3, size: 9 },
  layers: [{ type: 'conv', maps: 4, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 5 }, { type: 'fc', units: 2 }],
  activation: 'relu',
};

function sample(): Model {
  const m = initModel(small, 11, {
    umPerPixel: 0.4912,
    normalisation: { scale: 1 / 255, mean: [0.7, 0.5, 0.6], std: [0.15, 0.2, 0.1] },
    provenance: { command: 'mitoscan train --net small', dataset: 'MITOS A T1', date: '2024-01-02T03:04:05Z', epochs: 3, seed: 11, metrics: { valLoss: 0.25 } },
  });
  m.params[0].bias[1] = -0.5; // non-zero biases survive the round trip
  return m;
}

describe('model file', () => {
  it('CRC-32 is the zlib/PNG checksum', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('round-trips spec, metadata and every weight bit for bit', () => {
    const m = sample();
    const bytes = encodeModel(m);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('MITOSCAN');
    expect(bytes.length % 4).toBe(0);
    const back = decodeModel(bytes, 'x.mitoscan');
    expect(back.spec).toEqual(small);
    expect(back.umPerPixel).toBe(0.4912);
    expect(back.normalisation).toEqual(m.normalisation);
    expect(back.provenance).toEqual(m.provenance);
    expect(back.params.length).toBe(3);
    back.params.forEach((p, i) => {
      expect(Array.from(p.weight)).toEqual(Array.from(m.params[i].weight));
      expect(Array.from(p.bias)).toEqual(Array.from(m.params[i].bias));
    });
    // also from an unaligned view and an ArrayBuffer
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(Array.from(decodeModel(shifted.subarray(1)).params[2].weight)).toEqual(Array.from(m.params[2].weight));
    expect(decodeModel(bytes.slice().buffer).spec.name).toBe('small');
  });

  it('initModel is deterministic, sized by the spec, and scaled by fan-in', () => {
    for (const spec of [DNN1, DNN2, compact20x]) {
      const a = initModel(spec, 3);
      const n = a.params.reduce((s, p) => s + p.weight.length + p.bias.length, 0);
      expect(n).toBe(paramCount(spec));
      expect(Array.from(initModel(spec, 3).params[1].weight)).toEqual(Array.from(a.params[1].weight));
      expect(Array.from(initModel(spec, 4).params[1].weight)).not.toEqual(Array.from(a.params[1].weight));
    }
    const w = initModel(DNN1, 1).params[0].weight; // fanIn 12, fanOut 64: limit sqrt(6/76) = 0.281
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 76));
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.2);
  });

  describe('errors name the file and the problem', () => {
    const good = encodeModel(sample());
    const H = new DataView(good.buffer).getUint32(12, true);
    it('wrong magic', () => {
      const b = good.slice();
      b[0] = 0x50;
      expect(() => decodeModel(b, 'a.bin')).toThrow(/^a\.bin: not a mitoscan model/);
      expect(() => decodeModel(new TextEncoder().encode('<html>not found</html>'), 'u')).toThrow(/u: not a mitoscan model/);
    });
    it('unsupported version', () => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(8, MODEL_FORMAT_VERSION + 1, true);
      expect(() => decodeModel(b, 'v.mitoscan')).toThrow(`v.mitoscan: unsupported model format version ${MODEL_FORMAT_VERSION + 1}`);
    });
    it('truncated', () => {
      expect(() => decodeModel(good.subarray(0, good.length - 10), 't.mitoscan')).toThrow(`t.mitoscan: truncated file: expected ${good.length} bytes, got ${good.length - 10}`);
      expect(() => decodeModel(good.subarray(0, 12), 't.mitoscan')).toThrow('t.mitoscan: truncated file: expected at least 16 bytes, got 12');
      expect(() => decodeModel(good.subarray(0, 5), 't.mitoscan')).toThrow('truncated');
      expect(() => decodeModel(good.subarray(0, 100), 't.mitoscan')).toThrow(`truncated file: expected at least ${20 + H} bytes, got 100`);
    });
    it('trailing bytes', () => {
      const b = new Uint8Array(good.length + 4);
      b.set(good);
      expect(() => decodeModel(b, 'x')).toThrow(`x: expected ${good.length} bytes, got ${good.length + 4}`);
    });
    it('checksum mismatch: corrupt', () => {
      for (const at of [20, 16 + H + 40, good.length - 2]) {
        const b = good.slice();
        b[at] ^= 0x10;
        expect(() => decodeModel(b, 'c.mitoscan')).toThrow(/^c\.mitoscan: corrupt: checksum mismatch/);
      }
    });
    it('parameter count not matching the spec', () => {
      const m = sample();
      m.spec = { ...small, layers: [...small.layers.slice(0, 2), { type: 'fc', units: 6 }, { type: 'fc', units: 2 }] };
      expect(() => encodeModel(m, 'w.mitoscan')).toThrow(/w\.mitoscan: layer 3 \(fc\) has 320 weights and 5 biases, the spec needs \[6,64\] = 384 and 6/);
      // a file whose parameter block does not fit its header (written by hand, valid checksum)
      const b = good.slice();
      const dv = new DataView(b.buffer);
      const json = new TextDecoder().decode(b.subarray(16, 16 + H)).replace('"units":5', '"units":4');
      b.set(new TextEncoder().encode(json.padEnd(H, ' ')), 16);
      dv.setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
      expect(() => decodeModel(b, 'w.mitoscan')).toThrow(/w\.mitoscan: the file holds 389 parameters, but its spec small needs 322/);
    });
    it('invalid spec in the header', () => {
      const b = good.slice();
      const json = new TextDecoder().decode(b.subarray(16, 16 + H)).replace('"size":9', '"size":8');
      b.set(new TextEncoder().encode(json.padEnd(H, ' ')), 16);
      new DataView(b.buffer).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
      expect(() => decodeModel(b, 'h.mitoscan')).toThrow(/h\.mitoscan: invalid net spec in header: .*every MP halves an even-sized map/);
    });
  });

  it('saveModel writes atomically, loadModel reads it back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mitoscan-model-'));
    try {
      const path = join(dir, 'net.mitoscan');
      writeFileSync(path, 'old');
      await saveModel(path, sample());
      expect(readdirSync(dir)).toEqual(['net.mitoscan']); // no temp file left behind
      const m = await loadModel(path);
      expect(m.spec).toEqual(small);
      expect(Array.from(m.params[0].weight)).toEqual(Array.from(sample().params[0].weight));
      await expect(loadModel(join(dir, 'missing.mitoscan'))).rejects.toThrow(/missing\.mitoscan/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
