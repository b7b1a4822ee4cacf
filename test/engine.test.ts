import { describe, expect, it } from 'vitest';
import { createNodeEngine } from '../engine/node.js';
import { useEngine } from './helpers/gpu.js';

const ctx = useEngine();
// Whether this adapter has 'timestamp-query' (lavapipe and SwiftShader may not): asked once, before
// the tests are collected, so that the timing test is reported as skipped, not as passed.
const probe = await createNodeEngine({ profile: true });
const HAS_TIMESTAMPS = probe.timestamps;
const ADAPTER = probe.adapterName;
probe.destroy();
if (!HAS_TIMESTAMPS) console.warn(`engine.test: skipping the kernel-timing test: the adapter (${ADAPTER}) has no timestamp-query`);
const double = `
override N: u32;
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < N) { y[g.x] = 2.0 * x[g.x]; } }`;

describe('engine', () => {
  it('runs a program, caches its pipeline per constants, and reuses released buffers', async () => {
    const e = ctx.e;
    const before = e.pipelineCount;
    const x = e.tensor([5], [1, 2, 3, 4, 5]);
    const y = e.empty([5]);
    e.run({ name: 'double', source: double, constants: { N: 5 }, workgroups: [1] }, [x, y]);
    e.run({ name: 'double', source: double, constants: { N: 5 }, workgroups: [1] }, [x, y]);
    expect(Array.from(await y.read())).toEqual([2, 4, 6, 8, 10]);
    expect(e.pipelineCount).toBe(before + 1);
    e.run({ name: 'double', source: double, constants: { N: 3 }, workgroups: [1] }, [x, y]);
    expect(e.pipelineCount).toBe(before + 2);
    const buffer = y.buffer;
    y.release();
    const z = e.empty([5]);
    expect(z.buffer).toBe(buffer);
  });

  it('keeps uniform-capable buffers in their own pool and binds them as var<uniform>', async () => {
    const e = ctx.e;
    const src = `@group(0) @binding(0) var<uniform> u: array<vec4f, 4096>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = u[4095].w + u[0].x; }`;
    const u = e.tensor([16384], Float32Array.from({ length: 16384 }, (_, i) => i), { uniform: true });
    const y = e.empty([1]);
    e.run({ name: 'uniform read', source: src, constants: {}, workgroups: [1] }, [u, y]);
    expect(Array.from(await y.read())).toEqual([16383]);
    const ub = u.buffer;
    u.release();
    const plain = e.empty([16384]);
    expect(plain.buffer).not.toBe(ub); // a storage-only request never gets the uniform buffer
    const again = e.empty([16384], { uniform: true });
    expect(again.buffer).toBe(ub);
    for (const t of [plain, again, y]) t.release();
  });

  it('writes after recorded work do not overtake it (pooled buffer reuse is safe)', async () => {
    const e = ctx.e;
    const a = e.tensor([4], [1, 1, 1, 1]);
    const out = e.empty([4]);
    e.run({ name: 'double', source: double, constants: { N: 4 }, workgroups: [1] }, [a, out]);
    a.release();
    const b = e.tensor([4], [7, 7, 7, 7]); // may reuse a's buffer: the recorded kernel must still see 1s
    expect(Array.from(await out.read())).toEqual([2, 2, 2, 2]);
    expect(Array.from(await b.read())).toEqual([7, 7, 7, 7]);
  });

  it('turns a WGSL error into an exception at the next read instead of silent zeros', async () => {
    const e = ctx.e;
    const x = e.tensor([2], [1, 2]);
    const y = e.zeros([2]);
    e.run({ name: 'broken', source: double.replace('2.0 * x[g.x]', 'undefined_thing'), constants: { N: 2 }, workgroups: [1] }, [x, y]);
    await expect(y.read()).rejects.toThrow(/WebGPU reported an error/);
    await e.sync().catch(() => undefined); // follow-up errors (the invalid pipeline's dispatch) arrive late
    await e.sync();
  });

  it('gives clear errors for bad shapes, released tensors and tensors over the buffer limit', () => {
    const e = ctx.e;
    expect(() => e.tensor([2, 2], [1, 2, 3])).toThrow(/3 values given for shape \[2,2\]/);
    const t = e.tensor([1], [1]);
    t.release();
    expect(() => e.run({ name: 'double', source: double, constants: { N: 1 }, workgroups: [1] }, [t, e.empty([1])])).toThrow(
      /released/,
    );
    const huge = Math.ceil(e.limits.maxStorageBufferBindingSize / 4) + 1024;
    expect(() => e.empty([huge])).toThrow(/exceeds this adapter's limit.*smaller tiles/);
  });

  it.skipIf(!HAS_TIMESTAMPS)('times kernels with timestamp queries (skipped where the adapter has no timestamp-query)', async () => {
    const e = await createNodeEngine({ profile: true });
    try {
      expect(e.timestamps).toBe(true);
      const x = e.tensor([64], new Float32Array(64));
      const y = e.empty([64]);
      e.run({ name: 'double', source: double, constants: { N: 64 }, workgroups: [1] }, [x, y]);
      const times = await e.kernelTimes();
      expect(times.map((t) => t.name)).toEqual(['double']);
      expect(times[0].calls).toBe(1);
    } finally {
      e.destroy();
    }
  });
});
