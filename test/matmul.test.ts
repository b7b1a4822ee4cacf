import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activation } from '../engine/activation.js';
import { linearBackward, linearForward, matmul, MATMUL_FORM } from '../engine/ops/matmul.js';
import { subgroupsUsable } from '../engine/ops/subgroups.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray } from './helpers/reference.js';
import { refLinearBackward, refLinearForward, refMatmul } from './reference/matmul.js';

const ctx = useEngine();

/** Random values already rounded to float32, so that the reference sees exactly what the GPU sees. */
function rand32(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from(Float32Array.from(randomArray(n, seed, lo, hi)));
}

// Tolerances, GPU float32 vs float64 reference on float32 inputs in [-1, 1): the rounding error of a
// K-term float32 dot product is typically ~sqrt(K) * 6e-8 * (partial sums of size ~sqrt(K)/2), at
// worst ~K times that. We use rtol 1e-5, atol 2e-6 * sqrt(K) (K = 71: atol 1.7e-5), well above the
// typical error and far below what an indexing bug gives (errors of order 0.1).
const tol = (K: number) => ({ rtol: 1e-5, atol: 2e-6 * Math.sqrt(Math.max(K, 1)) });

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  biasRows?: boolean;
  activation?: Activation;
}

async function check(c: Case, seed: number): Promise<void> {
  const e = ctx.e;
  const { M, N, K } = c;
  const a = rand32(M * K, seed);
  const b = rand32(K * N, seed + 1);
  const bias = c.bias ? rand32(c.biasRows ? M : N, seed + 2) : undefined;
  const want = refMatmul(a, b, M, N, K, { transA: c.transA, transB: c.transB, bias, biasRows: c.biasRows, activation: c.activation });
  const ta = e.tensor(c.transA ? [K, M] : [M, K], a);
  const tb = e.tensor(c.transB ? [N, K] : [K, N], b);
  const tbias = bias ? e.tensor([bias.length], bias) : undefined;
  const out = matmul(e, ta, tb, { transA: c.transA, transB: c.transB, bias: tbias, biasRows: c.biasRows, activation: c.activation });
  expect(out.shape).toEqual([M, N]);
  const got = await out.read();
  const { rtol, atol } = tol(K);
  expectClose(got, want, rtol, atol, `C ${JSON.stringify(c)}`);
  for (const t of [ta, tb, tbias, out]) t?.release();
}

// Each distinct (shape, flags) set compiles one pipeline (~1.7 s on lavapipe): the cases below are
// chosen to cover the required combinations with few pipelines. Both kernels run on every adapter
// (the tiled one with 64x64 workgroup tiles, the register one with 8x8 blocks: 37x53 leaves partial
// blocks of both), whichever the adapter would choose; the register one also in its subgroup form
// (op(A) shared through the subgroup) where the device has subgroups of >= 8 lanes.
const FORMS = [
  { name: 'tiled', form: 'tiled', subgroups: 'never' },
  { name: 'registers', form: 'registers', subgroups: 'never' },
  { name: 'registers, subgroups', form: 'registers', subgroups: 'always' },
] as const;
for (const { name, form, subgroups } of FORMS)
describe(`matmul (${name} kernel)`, () => {
  const before = { ...MATMUL_FORM };
  beforeAll(() => {
    MATMUL_FORM.form = form;
    MATMUL_FORM.subgroups = subgroups;
    // without subgroups of >= 8 lanes the subgroup form cannot run: forcing it must say so, and the
    // cases below then check the plain register form again
    if (subgroups === 'always' && !subgroupsUsable(ctx.e)) {
      const a = ctx.e.tensor([2, 2], [1, 2, 3, 4]);
      expect(() => matmul(ctx.e, a, a)).toThrow(/no subgroups of >= 8/);
      a.release();
      MATMUL_FORM.subgroups = 'never';
    }
  });
  afterAll(() => void Object.assign(MATMUL_FORM, before));
  it('matches float64 for odd sizes (37x53x71, one partial tile) in all four transpose combinations, with and without bias', async () => {
    await check({ M: 37, N: 53, K: 71, transA: false, transB: false, bias: false }, 11);
    await check({ M: 37, N: 53, K: 71, transA: false, transB: true, bias: true }, 12);
    await check({ M: 37, N: 53, K: 71, transA: true, transB: false, bias: false }, 13);
    await check({ M: 37, N: 53, K: 71, transA: true, transB: true, bias: true }, 14);
  });

  it('matches float64 across several partial tiles (67x131x33, 2x3 workgroups) with bias and tanh, two seeds', async () => {
    await check({ M: 67, N: 131, K: 33, transA: true, transB: true, bias: true, activation: 'tanh' }, 20);
    await check({ M: 67, N: 131, K: 33, transA: true, transB: true, bias: true, activation: 'tanh' }, 21);
  });

  it('adds a bias per row (biasRows: a convolution as a product) over partial tiles (67x131x33, tanh)', async () => {
    await check({ M: 67, N: 131, K: 33, bias: true, biasRows: true, activation: 'tanh' }, 22);
  });

  it('matches float64 for an exact multiple of the tile (128x64x32) with bias and relu', async () => {
    await check({ M: 128, N: 64, K: 32, bias: true, activation: 'relu' }, 30);
  });

  it('handles 1x1x1 and keeps tanh finite and saturated for huge pre-activations', async () => {
    const e = ctx.e;
    await check({ M: 1, N: 1, K: 1, bias: true, activation: 'tanh' }, 40);
    const one = e.tensor([1, 1], [1]);
    const zero = e.tensor([1], [0]);
    for (const [z, want] of [[1e4, 1], [-1e4, -1], [3e38, 1], [-3e38, -1]]) {
      const got = await matmul(e, e.tensor([1, 1], [z]), one, { bias: zero, activation: 'tanh' }).read();
      expect(got[0], `tanh(${z})`).toBe(want);
    }
  });

  it('rejects mismatched inner sizes and biases', () => {
    const e = ctx.e;
    const a = e.zeros([3, 4]);
    const b = e.zeros([5, 2]);
    expect(() => matmul(e, a, b)).toThrow(/inner sizes differ/);
    expect(() => matmul(e, a, b, { transA: true, transB: false })).toThrow(/inner sizes differ/);
    expect(() => matmul(e, a, e.zeros([4, 2]), { bias: e.zeros([3]) })).toThrow(/bias has 3 elements, expected N = 2/);
    expect(() => matmul(e, a, e.zeros([4, 2]), { bias: e.zeros([2]), biasRows: true })).toThrow(/bias has 2 elements, expected M = 3/);
    expect(() => matmul(e, a, e.zeros([4, 2]), {}, e.zeros([5]))).toThrow(/does not hold \[3,2\]/);
    expect(() => matmul(e, e.zeros([2, 3, 4]), b)).toThrow(/2-D/);
  });

  // The register form takes its row block from workgroup_id.z: at most 65535 blocks of 8 rows.
  it(`${form === 'registers' ? 'refuses' : 'computes (auto form)'} M = 524,296 rows (65,537 row blocks of 8)`, async () => {
    const e = ctx.e;
    const M = 65537 * 8;
    const a = Float32Array.from({ length: M }, (_, i) => (i % 7) - 3);
    const A = e.tensor([M, 1], a), B = e.tensor([1, 1], Float32Array.of(0.5));
    if (form === 'registers') {
      expect(() => matmul(e, A, B)).toThrow(/register form takes at most 524280 rows, got M = 524296/);
    } else {
      // 'auto' here: on a CPU adapter it would pick the register form, and must fall back to tiled
      MATMUL_FORM.form = 'auto';
      let got: Float32Array;
      try {
        got = await matmul(e, A, B).read();
      } finally {
        MATMUL_FORM.form = form;
      }
      expect(got[M - 1]).toBe(a[M - 1] * 0.5);
      expect(Array.from(got, (v, i) => v - a[i] * 0.5).every((d) => d === 0)).toBe(true);
    }
    A.release();
    B.release();
  });
});

/** `count` distinct indices below n, deterministic. */
function sample(n: number, count: number, seed: number): number[] {
  const r = randomArray(count * 4, seed, 0, n);
  return [...new Set(Array.from(r, Math.floor))].slice(0, count);
}

// The subgroup register form reads B's 8 columns as two vec4s when N is a multiple of 8 and B is
// not transposed: against the scalar reads and float64 (N = 40: five column blocks in one partial
// workgroup; odd M and K; with a row bias and tanh, as the dense FC1).
it('matmul (registers, subgroups) with B read as vec4s equals the scalar reads and float64', async () => {
  const e = ctx.e;
  const before = { ...MATMUL_FORM };
  Object.assign(MATMUL_FORM, { form: 'registers', subgroups: subgroupsUsable(e) ? 'always' : 'never' });
  try {
    const M = 13, K = 9, N = 40;
    const a = randomArray(M * K, 91), b = randomArray(K * N, 92), bias = randomArray(M, 93);
    const A = e.tensor([M, K], a), B = e.tensor([K, N], b), Bias = e.tensor([M], bias);
    const run = async (scalarB: boolean) => {
      MATMUL_FORM.scalarB = scalarB;
      return matmul(e, A, B, { bias: Bias, biasRows: true, activation: 'tanh' }).read();
    };
    const vec = await run(false), scalar = await run(true);
    expect(Array.from(vec)).toEqual(Array.from(scalar));
    const want = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let z = bias[m];
        for (let k = 0; k < K; k++) z += a[m * K + k] * b[k * N + n];
        want[m * N + n] = Math.tanh(z);
      }
    expectClose(vec, want, 1e-5, 1e-6, 'C');
  } finally {
    Object.assign(MATMUL_FORM, before);
    delete MATMUL_FORM.scalarB;
  }
});

describe('linear layer', () => {
  // y = act(x w^T + b) with batch N = 37, In = 71, Out = 53; the input is given as NCHW maps
  // [37, 1, 71, 1] for tanh (flattened per sample). Loss L = sum(r * y) for a fixed random r, so dy = r.
  // Checks: y, dx, dw, db against the float64 reference (rtol 1e-5, atol 2e-6 sqrt(terms summed));
  // and sampled entries of dx, dw, db against central differences of the float64 reference,
  // dL/dp ~ (L(p + h) - L(p - h)) / 2h with h = 1e-6 (truncation ~h^2 = 1e-12, rounding ~1e-16/h =
  // 1e-10): GPU float32 gradients within rtol 1e-4, atol 1e-5; the float64 analytic reference within
  // rtol 1e-6, atol 1e-8 (which checks the reference itself).
  for (const act of ['none', 'tanh', 'relu'] as const) {
    it(`forward and backward match float64 and finite differences for a batch of 37 (${act})`, async () => {
      const e = ctx.e;
      const N = 37, In = 71, Out = 53, h = 1e-6;
      const seed = 100 + act.length * 17;
      const x = rand32(N * In, seed);
      const w = rand32(Out * In, seed + 1, -0.3, 0.3);
      const b = rand32(Out, seed + 2);
      const r = rand32(N * Out, seed + 3);
      const y64 = refLinearForward(x, w, b, N, In, Out, act);
      const tx = e.tensor(act === 'tanh' ? [N, 1, In, 1] : [N, In], x);
      const tw = e.tensor([Out, In], w);
      const tb = e.tensor([Out], b);
      const y = linearForward(e, tx, tw, tb, act);
      expect(y.shape).toEqual([N, Out]);
      const yGot = await y.read();
      expectClose(yGot, y64, 1e-5, 2e-6 * Math.sqrt(In), `y (${act})`);

      const { dx, dw, db } = linearBackward(e, tx, tw, y, e.tensor([N, Out], r), act);
      expect(dx.shape).toEqual(tx.shape);
      expect(dw.shape).toEqual([Out, In]);
      expect(db.shape).toEqual([Out]);
      const got = { dx: await dx.read(), dw: await dw.read(), db: await db.read() };
      // The GPU's backward pass starts from the GPU's y (as in training): so does this reference.
      const want = refLinearBackward(x, w, Float64Array.from(yGot), r, N, In, Out, act);
      expectClose(got.dx, want.dx, 1e-5, 2e-6 * Math.sqrt(Out), `dx (${act})`);
      expectClose(got.dw, want.dw, 1e-5, 2e-6 * Math.sqrt(N), `dw (${act})`);
      expectClose(got.db, want.db, 1e-5, 2e-6 * Math.sqrt(N), `db (${act})`);

      const exact = refLinearBackward(x, w, y64, r, N, In, Out, act);
      const loss = () => refLinearForward(x, w, b, N, In, Out, act).reduce((s, v, i) => s + v * r[i], 0);
      const params = { dx: x, dw: w, db: b } as const;
      for (const [name, p] of Object.entries(params) as [keyof typeof params, Float64Array][]) {
        const idx = sample(p.length, 24, seed + name.length);
        const fd = idx.map((i) => {
          const v = p[i];
          p[i] = v + h;
          const up = loss();
          p[i] = v - h;
          const down = loss();
          p[i] = v;
          return (up - down) / (2 * h);
        });
        expectClose(idx.map((i) => exact[name][i]), fd, 1e-6, 1e-8, `reference ${name} vs FD (${act})`);
        expectClose(idx.map((i) => got[name][i]), fd, 1e-4, 1e-5, `GPU ${name} vs FD (${act})`);
      }
    });
  }
});
