// conv2d kernels against the float64 reference, finite differences, odd sizes, batch > 1, dilation > 1.
import { describe, expect, it } from 'vitest';
import { CONV_TILE, conv2dBackward, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, weightSplits } from '../engine/ops/conv2d.js';
import { subgroupsUsable } from '../engine/ops/subgroups.js';
import { MATMUL_FORM } from '../engine/ops/matmul.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray } from './helpers/reference.js';
import { actF, conv2dBackwardRef, conv2dRef, convOut, type Act, type ConvShape } from './reference/conv.js';

const ctx = useEngine();

const CASES: [string, ConvShape, Act][] = [
  ['DNN1 layer 1 shape (3->16, 2x2) small image', { N: 2, CIN: 3, H: 11, W: 11, COUT: 16, K: 2, D: 1 }, 'tanh'],
  ['odd sizes, Cout not a multiple of 4', { N: 3, CIN: 5, H: 9, W: 13, COUT: 7, K: 3, D: 1 }, 'relu'],
  ['dilation 2', { N: 2, CIN: 2, H: 12, W: 10, COUT: 5, K: 3, D: 2 }, 'tanh'],
  ['dilation 4, 4x4 kernel, no activation', { N: 1, CIN: 3, H: 17, W: 16, COUT: 3, K: 4, D: 4 }, 'none'],
  ['1x1 kernel (an FC layer as a conv)', { N: 2, CIN: 9, H: 3, W: 5, COUT: 6, K: 1, D: 1 }, 'tanh'],
  // register-tile edges (forward: 16 channels x 4 pixels per invocation, the pixels D apart):
  // channel counts and widths that are not multiples of 4 or 16, K up to 5, dilation 3
  ['Cout 5, Cin 7, 5x5 kernel, width 13', { N: 2, CIN: 7, H: 11, W: 13, COUT: 5, K: 5, D: 1 }, 'tanh'],
  ['mini20x layer 1 (3->12, 4x4), width 14', { N: 2, CIN: 3, H: 15, W: 14, COUT: 12, K: 4, D: 1 }, 'tanh'],
  ['Cout 24, dilation 3', { N: 2, CIN: 5, H: 13, W: 11, COUT: 24, K: 3, D: 3 }, 'relu'],
  ['Cout 33, dilation 2, width 15 (three 16-channel blocks, the last partial)', { N: 2, CIN: 4, H: 12, W: 15, COUT: 33, K: 2, D: 2 }, 'tanh'],
  ['Cout 33, Cin 3, 2x2, batch 3', { N: 3, CIN: 3, H: 7, W: 9, COUT: 33, K: 2, D: 1 }, 'tanh'],
  // the forward's pixels sit D apart (residue classes mod D, blocks of 4): classes of unequal length
  // (width 25 at d3: 9, 8, 8 columns), and fewer output columns than D (width 3 at d5: empty classes)
  ['dilation 3, 3x3, output width 25', { N: 1, CIN: 3, H: 10, W: 31, COUT: 16, K: 3, D: 3 }, 'tanh'],
  ['dilation 5, 2x2, output width 3 < D', { N: 2, CIN: 2, H: 9, W: 8, COUT: 4, K: 2, D: 5 }, 'relu'],
];

describe('conv2d', () => {
  for (const [name, s, act] of CASES) {
    it(`forward and backward match float64: ${name}`, async () => {
      const e = ctx.e;
      const { HO, WO } = convOut(s);
      const x = randomArray(s.N * s.CIN * s.H * s.W, 1);
      const w = randomArray(s.COUT * s.CIN * s.K * s.K, 2, -0.5, 0.5);
      const b = randomArray(s.COUT, 3, -0.2, 0.2);
      const dy = randomArray(s.N * s.COUT * HO * WO, 4);
      const ref = conv2dRef(x, w, b, s, act);
      const X = e.tensor([s.N, s.CIN, s.H, s.W], x), Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), B = e.tensor([s.COUT], b);
      const Y = conv2dForward(e, X, Wt, B, { dilation: s.D, activation: act });
      expect(Y.shape).toEqual([s.N, s.COUT, HO, WO]);
      // float32 sums of up to CIN*K*K = 48 terms: 1e-5 relative + 1e-5 absolute
      expectClose(await Y.read(), ref.y, 1e-5, 1e-5, 'y');
      const { dx, dw, db } = conv2dBackward(e, X, Wt, Y, e.tensor(Y.shape, dy), { dilation: s.D, activation: act });
      const yy = ref.y;
      const g = dy.map((v, i) => v * (act === 'tanh' ? 1 - yy[i] ** 2 : act === 'relu' ? (yy[i] > 0 ? 1 : 0) : 1));
      const gr = conv2dBackwardRef(x, w, g, s);
      // dw sums N*HO*WO (up to ~8500) terms: 1e-4 relative, 1e-4 absolute
      expectClose(await dx.read(), gr.dx, 1e-4, 1e-5, 'dx');
      expectClose(await dw.read(), gr.dw, 1e-4, 1e-4, 'dw');
      expectClose(await db.read(), gr.db, 1e-4, 1e-4, 'db');
    });
  }

  // Both forms of the forward and of the weight gradient, forced: the plain kernels and those that
  // share loads through the subgroup (CONV_TILE.subgroups; 'auto' picks them on CPU adapters with
  // subgroups of >= 8 lanes, for K <= 4): every case above with K <= 4, and on three of them each
  // pixel count per invocation of the forward (PX 1..3, which moves the tile edges; 4 is the
  // default). Where the device has no such subgroups, forcing them must fail clearly.
  const PX_SWEEP = new Set([CASES[1][0], CASES[8][0], CASES[10][0]]);
  for (const form of ['never', 'always'] as const)
    it(`forward and weight gradient with CONV_TILE.subgroups = '${form}' match float64 at every case with K <= 4`, async () => {
      const e = ctx.e;
      const before = { PX: CONV_TILE.PX, dilated: CONV_TILE.dilated.PX };
      CONV_TILE.subgroups = form;
      try {
        for (const [name, s, act] of CASES.filter(([, c]) => c.K <= 4)) {
          const x = randomArray(s.N * s.CIN * s.H * s.W, 51);
          const w = randomArray(s.COUT * s.CIN * s.K * s.K, 52, -0.5, 0.5);
          const b = randomArray(s.COUT, 53, -0.2, 0.2);
          const X = e.tensor([s.N, s.CIN, s.H, s.W], x), Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), B = e.tensor([s.COUT], b);
          if (form === 'always' && !subgroupsUsable(e)) {
            expect(() => conv2dForward(e, X, Wt, B, { dilation: s.D, activation: act })).toThrow(/no subgroups of >= 8/);
          } else {
            const ref = conv2dRef(x, w, b, s, act).y;
            for (const px of PX_SWEEP.has(name) ? [1, 2, 3, 4] : [4]) {
              CONV_TILE.PX = px;
              CONV_TILE.dilated.PX = px;
              const Y = conv2dForward(e, X, Wt, B, { dilation: s.D, activation: act });
              expectClose(await Y.read(), ref, 1e-5, 1e-5, `y (${name}, PX ${px})`);
              Y.release();
            }
            // the weight gradient's two forms (the subgroup one: 16 channels x 1..4 columns)
            const { HO, WO } = convOut(s);
            const gr = randomArray(s.N * s.COUT * HO * WO, 54);
            const G = e.tensor([s.N, s.COUT, HO, WO], gr);
            const dw = conv2dBackwardWeight(e, X, G, s.K, s.D);
            expectClose(await dw.read(), conv2dBackwardRef(x, w, gr, s).dw, 1e-4, 1e-4, `dw (${name})`);
            for (const t of [G, dw]) t.release();
          }
          for (const t of [X, Wt, B]) t.release();
        }
      } finally {
        CONV_TILE.subgroups = 'auto';
        CONV_TILE.PX = before.PX;
        CONV_TILE.dilated.PX = before.dilated;
      }
    });

  // The subgroup forward's two output blocks (CONV_TILE.vec4Stores): where an invocation's 4 pixels
  // are one aligned vec4 of a row (dilation 1, WO % 4 == 0) it stores them as vec4s. Widths of 1, 2
  // and 3 vec4s, channel blocks full and partial (Cout 20: the second block holds 4 channels), each
  // activation: the same values as the scalar stores, bit for bit, and as float64.
  const VEC4_CASES: [string, ConvShape, Act][] = [
    ['DNN1 5² layer (16->16, 2x2), output width 4', { N: 3, CIN: 16, H: 5, W: 5, COUT: 16, K: 2, D: 1 }, 'tanh'],
    ['Cin 3, 2x2, output width 12', { N: 2, CIN: 3, H: 9, W: 13, COUT: 16, K: 2, D: 1 }, 'relu'],
    ['Cout 20, 4x4, output width 8', { N: 2, CIN: 5, H: 7, W: 11, COUT: 20, K: 4, D: 1 }, 'none'],
  ];
  it('the subgroup forward stores as vec4s exactly what it stores as scalars (CONV_TILE.vec4Stores)', async () => {
    const e = ctx.e;
    CONV_TILE.subgroups = 'always';
    try {
      for (const [name, s, act] of VEC4_CASES) {
        const x = randomArray(s.N * s.CIN * s.H * s.W, 61);
        const w = randomArray(s.COUT * s.CIN * s.K * s.K, 62, -0.5, 0.5);
        const b = randomArray(s.COUT, 63, -0.2, 0.2);
        const X = e.tensor([s.N, s.CIN, s.H, s.W], x), Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), B = e.tensor([s.COUT], b);
        if (!subgroupsUsable(e)) {
          expect(() => conv2dForward(e, X, Wt, B, { dilation: s.D, activation: act })).toThrow(/no subgroups of >= 8/);
          for (const t of [X, Wt, B]) t.release();
          continue;
        }
        const outs: Float32Array[] = [];
        for (const vec4 of [true, false]) {
          CONV_TILE.vec4Stores = vec4;
          const Y = conv2dForward(e, X, Wt, B, { dilation: s.D, activation: act });
          outs.push(await Y.read());
          Y.release();
        }
        expectClose(outs[0], conv2dRef(x, w, b, s, act).y, 1e-5, 1e-5, `y (${name})`);
        expect(outs[0], name).toEqual(outs[1]);
        for (const t of [X, Wt, B]) t.release();
      }
    } finally {
      CONV_TILE.subgroups = 'auto';
      CONV_TILE.vec4Stores = true;
    }
  });

  // The backward-input's subgroup form (16 input channels per invocation, used from 8 input channels
  // on): one and two channel blocks (the second partial), K 2..4, dilation 2, PX 1..4 on two cases;
  // in the subgroup form also 3 or 5 pixels per invocation (CONV_TILE.fitRows, where 3- or 5-pixel
  // blocks fill the rows better: 5 at widths 5, 10, 13; 3 at widths 6 and 9), sliding (dilation 1)
  // and not (dilation 2).
  const BACKWARD_INPUT_CASES: [string, ConvShape][] = [
    ['Cin 16, Cout 16, 3x3, width 13', { N: 2, CIN: 16, H: 12, W: 13, COUT: 16, K: 3, D: 1 }],
    ['Cin 12, Cout 7, 4x4, width 10', { N: 1, CIN: 12, H: 11, W: 10, COUT: 7, K: 4, D: 1 }],
    ['Cin 20 (two blocks), Cout 5, 2x2, dilation 2', { N: 2, CIN: 20, H: 9, W: 11, COUT: 5, K: 2, D: 2 }],
    ["DNN1's 5x5 map (16 -> 16, 2x2), batch 7", { N: 7, CIN: 16, H: 5, W: 5, COUT: 16, K: 2, D: 1 }],
    ['Cin 9, Cout 18, 3x3, width 13 (5-pixel blocks: 3, the last partial)', { N: 3, CIN: 9, H: 7, W: 13, COUT: 18, K: 3, D: 1 }],
    ['Cin 16, Cout 5, 2x2, dilation 2, width 10', { N: 2, CIN: 16, H: 6, W: 10, COUT: 5, K: 2, D: 2 }],
    ["wide20x's 6x6 map (48 -> 48, 3x3; 3-pixel blocks: 2)", { N: 2, CIN: 48, H: 6, W: 6, COUT: 48, K: 3, D: 1 }],
    ['Cin 9, Cout 16, 2x2, width 9, height 7 (3-pixel blocks: 3)', { N: 3, CIN: 9, H: 7, W: 9, COUT: 16, K: 2, D: 1 }],
  ];
  for (const form of ['never', 'always'] as const)
    it(`backward-input with CONV_TILE.subgroups = '${form}' matches float64 (Cin >= 8)`, async () => {
      const e = ctx.e;
      const before = CONV_TILE.PX;
      CONV_TILE.subgroups = form;
      try {
        for (const [name, s] of BACKWARD_INPUT_CASES) {
          const { HO, WO } = convOut(s);
          const w = randomArray(s.COUT * s.CIN * s.K * s.K, 61, -0.5, 0.5);
          const g = randomArray(s.N * s.COUT * HO * WO, 62);
          const Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), G = e.tensor([s.N, s.COUT, HO, WO], g);
          const shape = [s.N, s.CIN, s.H, s.W];
          if (form === 'always' && !subgroupsUsable(e)) {
            expect(() => conv2dBackwardInput(e, G, Wt, shape, s.D)).toThrow(/no subgroups of >= 8/);
          } else {
            const ref = conv2dBackwardRef(new Float64Array(s.N * s.CIN * s.H * s.W), w, g, s).dx;
            for (const px of name === BACKWARD_INPUT_CASES[0][0] || s.N === 7 ? [1, 2, 3, 4] : [4])
              for (const fit of form === 'always' && px === 4 ? [false, true] : [false]) {
                CONV_TILE.PX = px;
                CONV_TILE.fitRows = fit;
                const dx = conv2dBackwardInput(e, G, Wt, shape, s.D);
                // sums of up to COUT*K*K = 144 terms
                expectClose(await dx.read(), ref, 1e-4, 1e-5, `dx (${name}, PX ${px}${fit ? ', 3 or 5 where it fills better' : ''})`);
                dx.release();
              }
          }
          for (const t of [Wt, G]) t.release();
        }
      } finally {
        CONV_TILE.subgroups = 'auto';
        CONV_TILE.fitRows = true;
        CONV_TILE.PX = before;
      }
    });

  // The backward-input without subgroups (the first layer's few channels on lavapipe, every layer
  // where there are no subgroups) computes 2 input rows per invocation at dilation 1 on a CPU adapter
  // (CONV_TILE.backwardRows): 1 and 2 forced on every case with Cin < 8 above and on the Cin >= 8
  // cases, odd heights (the last block's second row lies outside), PX 1..4 on DNN1's first layer, and
  // dilation > 1 (2 falls back to 1). Both sum each pixel in the same order, so they agree bit for bit.
  it('backward-input without subgroups, 1 and 2 rows per invocation, matches float64 and agrees bit for bit', async () => {
    const e = ctx.e;
    const before = CONV_TILE.PX;
    CONV_TILE.subgroups = 'never';
    try {
      const cases = [...CASES.map(([name, s]) => [name, s] as [string, ConvShape]), ...BACKWARD_INPUT_CASES];
      for (const [name, s] of cases) {
        const { HO, WO } = convOut(s);
        const w = randomArray(s.COUT * s.CIN * s.K * s.K, 71, -0.5, 0.5);
        const g = randomArray(s.N * s.COUT * HO * WO, 72);
        const Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), G = e.tensor([s.N, s.COUT, HO, WO], g);
        const shape = [s.N, s.CIN, s.H, s.W];
        const ref = conv2dBackwardRef(new Float64Array(s.N * s.CIN * s.H * s.W), w, g, s).dx;
        for (const px of name === CASES[0][0] ? [1, 2, 3, 4] : [4]) {
          CONV_TILE.PX = px;
          const out: Float32Array[] = [];
          for (const rows of [1, 2]) {
            CONV_TILE.backwardRows = rows;
            const dx = conv2dBackwardInput(e, G, Wt, shape, s.D);
            out.push(await dx.read());
            dx.release();
            expectClose(out[out.length - 1], ref, 1e-4, 1e-5, `dx (${name}, PX ${px}, ${rows} row(s) per invocation)`);
          }
          expect(out[1], `${name}, PX ${px}: 2 rows per invocation changed the sums`).toEqual(out[0]);
        }
        for (const t of [Wt, G]) t.release();
      }
    } finally {
      CONV_TILE.subgroups = 'auto';
      CONV_TILE.backwardRows = 0;
      CONV_TILE.PX = before;
    }
  });

  // The packed weights read from a storage binding (CONV_TILE.weights; the default reads them from a
  // 64 KiB uniform buffer when they fit): forced on three of the cases above, and chosen by itself for
  // a layer whose packed weights exceed 64 KiB (40 x 30 x 4x4 = 19,200 > 16,384 floats).
  const STORAGE_CASES: [string, ConvShape, Act][] = [
    CASES[1],
    CASES[7],
    CASES[8],
    ['packed weights over 64 KiB (Cin 30, Cout 40, 4x4)', { N: 2, CIN: 30, H: 9, W: 8, COUT: 40, K: 4, D: 1 }, 'tanh'],
  ];
  for (const [name, s, act] of STORAGE_CASES) {
    it(`forward and backward-input with storage-bound weights match float64: ${name}`, async () => {
      const e = ctx.e;
      const x = randomArray(s.N * s.CIN * s.H * s.W, 41);
      const w = randomArray(s.COUT * s.CIN * s.K * s.K, 42, -0.5, 0.5);
      const b = randomArray(s.COUT, 43, -0.2, 0.2);
      const { HO, WO } = convOut(s);
      const dy = randomArray(s.N * s.COUT * HO * WO, 44);
      const X = e.tensor([s.N, s.CIN, s.H, s.W], x), Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), B = e.tensor([s.COUT], b);
      const big = s.CIN * s.K * s.K * s.COUT > 16384;
      if (big) expect(() => { CONV_TILE.weights = 'uniform'; try { conv2dForward(e, X, Wt, B, { dilation: s.D }); } finally { CONV_TILE.weights = 'auto'; } }).toThrow(/do not fit/);
      CONV_TILE.weights = big ? 'auto' : 'storage';
      try {
        const Y = conv2dForward(e, X, Wt, B, { dilation: s.D, activation: act });
        const ref = conv2dRef(x, w, b, s, act);
        // sums of up to CIN*K*K = 480 terms: 1e-5 relative + 1e-5 absolute (2e-5 for the big layer)
        expectClose(await Y.read(), ref.y, 1e-5, big ? 2e-5 : 1e-5, 'y');
        const { dx } = conv2dBackward(e, X, Wt, Y, e.tensor(Y.shape, dy), { dilation: s.D, activation: act });
        const g = dy.map((v, i) => v * (act === 'tanh' ? 1 - ref.y[i] ** 2 : act === 'relu' ? (ref.y[i] > 0 ? 1 : 0) : 1));
        expectClose(await dx.read(), conv2dBackwardRef(x, w, g, s).dx, 1e-4, 1e-5, 'dx');
      } finally {
        CONV_TILE.weights = 'auto';
      }
      for (const t of [X, Wt, B]) t.release();
    });
  }

  // The forward as im2col + matmul (CONV_TILE.gemm; chosen automatically on CPU adapters without
  // the subgroup forms, for one image when Cout >= Cin*K*K at dilation > 1): forced here on every adapter, with both matmul
  // kernels, at DNN1's dense FC1 shape (16 maps, 2x2 taps 32 px apart, 100 outputs) on an odd-sized
  // map, and at odd channel counts (Cout 7, Cin 5, 3x3, so 45 taps > 7 outputs: the rule would not
  // pick it, but it must still be right).
  const GEMM_CASES: [string, ConvShape, Act][] = [
    ['DNN1 dense FC1 (16->100, 2x2, d32), 37x70 map', { N: 1, CIN: 16, H: 69, W: 102, COUT: 100, K: 2, D: 32 }, 'tanh'],
    ['Cout 7, Cin 5, 3x3, d2, width 13', { N: 1, CIN: 5, H: 11, W: 13, COUT: 7, K: 3, D: 2 }, 'relu'],
  ];
  for (const form of ['tiled', 'registers'] as const)
    for (const [name, s, act] of GEMM_CASES) {
      it(`forward as im2col + matmul (${form}) matches float64: ${name}`, async () => {
        const e = ctx.e;
        const x = randomArray(s.N * s.CIN * s.H * s.W, 31);
        const w = randomArray(s.COUT * s.CIN * s.K * s.K, 32, -0.5, 0.5);
        const b = randomArray(s.COUT, 33, -0.2, 0.2);
        const X = e.tensor([s.N, s.CIN, s.H, s.W], x), Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), B = e.tensor([s.COUT], b);
        const before = MATMUL_FORM.form;
        CONV_TILE.gemm = 'always';
        MATMUL_FORM.form = form;
        try {
          const Y = conv2dForward(e, X, Wt, B, { dilation: s.D, activation: act });
          const { HO, WO } = convOut(s);
          expect(Y.shape).toEqual([1, s.COUT, HO, WO]);
          // float32 sums of 64 terms (as the direct kernel's cases)
          expectClose(await Y.read(), conv2dRef(x, w, b, s, act).y, 1e-5, 1e-5, 'y');
          Y.release();
        } finally {
          CONV_TILE.gemm = 'auto';
          MATMUL_FORM.form = before;
        }
        for (const t of [X, Wt, B]) t.release();
      });
    }

  it('gradients agree with central finite differences of the float64 forward', async () => {
    const e = ctx.e;
    const s: ConvShape = { N: 2, CIN: 2, H: 7, W: 6, COUT: 3, K: 2, D: 2 };
    const { HO, WO } = convOut(s);
    const x = randomArray(s.N * s.CIN * s.H * s.W, 11);
    const w = randomArray(s.COUT * s.CIN * s.K * s.K, 12, -0.5, 0.5);
    const b = randomArray(s.COUT, 13);
    const r = randomArray(s.N * s.COUT * HO * WO, 14); // L = sum(r * y)
    const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => conv2dRef(xx, ww, bb, s, 'tanh').y.reduce((a, v, i) => a + v * r[i], 0);
    const X = e.tensor([s.N, s.CIN, s.H, s.W], x), Wt = e.tensor([s.COUT, s.CIN, s.K, s.K], w), B = e.tensor([s.COUT], b);
    const Y = conv2dForward(e, X, Wt, B, { dilation: s.D, activation: 'tanh' });
    const grads = conv2dBackward(e, X, Wt, Y, e.tensor(Y.shape, r), { dilation: s.D, activation: 'tanh' });
    const h = 1e-6;
    for (const [name, arr, got] of [['x', x, await grads.dx.read()], ['w', w, await grads.dw.read()], ['b', b, await grads.db.read()]] as const) {
      const fd = new Float64Array(arr.length);
      for (let i = 0; i < arr.length; i++) {
        const p = Float64Array.from(arr), m = Float64Array.from(arr);
        p[i] += h;
        m[i] -= h;
        const args = (v: Float64Array) => (name === 'x' ? loss(v, w, b) : name === 'w' ? loss(x, v, b) : loss(x, w, v));
        fd[i] = (args(p) - args(m)) / (2 * h);
      }
      // float32 GPU gradient vs float64 central difference (h = 1e-6, error ~1e-9): 2e-4 relative + 2e-5
      expectClose(got, fd, 2e-4, 2e-5, `d${name} vs finite differences`);
    }
  });

  it('the split weight gradient (GPU rule) matches float64 and is bit-identical run to run', async () => {
    const e = ctx.e;
    const s: ConvShape = { N: 2, CIN: 2, H: 23, W: 20, COUT: 5, K: 3, D: 2 };
    const { HO, WO } = convOut(s);
    // 100,000 positions, 12 tiles: 256 / 12 -> 22 splits on a CPU adapter, 16384 / 12 -> 1366 elsewhere;
    // never splits under 64 positions
    expect(weightSplits(100_000, 12, true)).toBe(22);
    expect(weightSplits(100_000, 12, false)).toBe(1366);
    expect(weightSplits(100, 1, true)).toBe(1);
    const x = randomArray(s.N * s.CIN * s.H * s.W, 21), g = randomArray(s.N * s.COUT * HO * WO, 22);
    const X = e.tensor([s.N, s.CIN, s.H, s.W], x), G = e.tensor([s.N, s.COUT, HO, WO], g);
    CONV_TILE.forceWeightSplits = 7; // 7 uneven splits of the 608 positions, then the summing pass
    try {
      const a = await conv2dBackwardWeight(e, X, G, s.K, s.D).read();
      const b = await conv2dBackwardWeight(e, X, G, s.K, s.D).read();
      expect(Array.from(new Uint32Array(b.buffer))).toEqual(Array.from(new Uint32Array(a.buffer)));
      const w = new Float64Array(s.COUT * s.CIN * s.K * s.K);
      // sums of 608 terms: 1e-4 relative, 1e-4 absolute (as above)
      expectClose(a, conv2dBackwardRef(x, w, g, s).dw, 1e-4, 1e-4, 'dw (7 splits)');
    } finally {
      CONV_TILE.forceWeightSplits = 0;
    }
  });

  it('rejects mismatched shapes with clear messages', () => {
    const e = ctx.e;
    const x = e.zeros([1, 3, 5, 5]);
    expect(() => conv2dForward(e, x, e.zeros([4, 2, 3, 3]), e.zeros([4]))).toThrow(/3 channels, weights expect 2/);
    expect(() => conv2dForward(e, x, e.zeros([4, 3, 3, 3]), e.zeros([4]), { dilation: 3 })).toThrow(/does not fit a 5x5 input/);
    expect(() => conv2dForward(e, x, e.zeros([4, 3, 3, 3]), e.zeros([5]))).toThrow(/bias has 5 values/);
  });

  it('activations are applied as configured', () => {
    expect(actF('relu', -2)).toBe(0);
  });
});
