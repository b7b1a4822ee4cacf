import source from '../../shaders/matmul.wgsl';
import registersSource from '../../shaders/matmul_registers.wgsl';
import registersSubgroupSource from '../../shaders/matmul_registers_subgroup.wgsl';
import { activationCode, type Activation } from '../activation.js';
import { ceilDiv, grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';
import { activationBackward } from './activation.js';
import { subgroupFormsOn, type SubgroupMode } from './subgroups.js';
import { sumColumns } from './reduce.js';

export interface MatmulParams {
  /** Use A^T: `a` is stored [K, M]. */
  transA?: boolean;
  /** Use B^T: `b` is stored [N, K]. */
  transB?: boolean;
  /** [N], added to every row before the activation ([M], added along each row, with biasRows). */
  bias?: Tensor;
  /** The bias has one value per row of C (a convolution as a product: one per output channel). */
  biasRows?: boolean;
  activation?: Activation;
}

const TILE = 64;

/**
 * Which matmul kernel runs: 'tiled' (matmul.wgsl: 64x64 tiles staged in workgroup memory, the GPU
 * form), 'registers' (matmul_registers.wgsl: an 8x8 block per invocation straight from memory, no
 * barriers: measured faster on lavapipe, docs/PERFORMANCE.md) or 'auto' (registers on CPU adapters,
 * unless M needs more than 65535 row blocks of 8: then tiled).
 * `subgroups`: the register form with op(A) shared through the subgroup (matmul_registers_subgroup.wgsl):
 * 'auto' on CPU adapters with subgroups of >= 8 lanes, 'always' (an error without them) or 'never';
 * it reads B as vec4s where N is a multiple of 8 and B is not transposed (`scalarB` forbids that: tests).
 * Tests set both to check every form on one adapter.
 */
export const MATMUL_FORM: { form: 'auto' | 'tiled' | 'registers'; subgroups: SubgroupMode; scalarB?: boolean } = { form: 'auto', subgroups: 'auto' };
const REG_TM = 8, REG_TN = 8, REG_WG = 64;

/** The subgroup register form with B's 8 columns read as two vec4s (B not transposed, N a
 * multiple of 8): the two places the shader marks "B as vec4s" rewritten, checked at load. */
function vec4BForm(source: string): string {
  const decl = '@group(0) @binding(1) var<storage, read> B: array<f32>;   // B as vec4s: array<vec4f>';
  const loop = `    // B as vec4s: the 8 values are B[(k * N + bn * TN) / 4 + 0, 1]
    for (var j = 0u; j < TN; j++) {
      let bv = B[bo[j] + k * bk];
      for (var i = 0u; i < TM; i++) { acc[i * TN + j] = fma(av[i], bv, acc[i * TN + j]); }
    }`;
  if (!source.includes(decl) || !source.includes(loop)) throw new Error('matmul: matmul_registers_subgroup.wgsl no longer marks its B reads');
  return source.replace(decl, '@group(0) @binding(1) var<storage, read> B: array<vec4f>;').replace(
    loop,
    `    let q = (k * N + bn * TN) / 4u;
    let b0 = B[q];
    let b1 = B[q + 1u];
    for (var j = 0u; j < 4u; j++) {
      for (var i = 0u; i < TM; i++) { acc[i * TN + j] = fma(av[i], b0[j], acc[i * TN + j]); }
      for (var i = 0u; i < TM; i++) { acc[i * TN + j + 4u] = fma(av[i], b1[j], acc[i * TN + j + 4u]); }
    }`,
  );
}
const REGISTERS_SUBGROUP_VEC4B = vec4BForm(registersSubgroupSource);
const MAX_GROUPS = 65535;

function dims2(t: Tensor, what: string): [number, number] {
  if (t.shape.length !== 2) throw new Error(`matmul: ${what} must be 2-D, got shape [${t.shape}]`);
  return [t.shape[0], t.shape[1]];
}

/** Records C = act(op(A) op(B) + bias) into `out` ([M, N] elements, any shape). */
function matmulInto(e: Engine, a: Tensor, b: Tensor, p: MatmulParams, M: number, N: number, K: number, out: Tensor): void {
  const biasLength = p.biasRows ? M : N;
  if (p.bias && p.bias.size !== biasLength) throw new Error(`matmul: bias has ${p.bias.size} elements, expected ${p.biasRows ? 'M' : 'N'} = ${biasLength}`);
  const constants = {
    M, N, K,
    TRANS_A: p.transA ? 1 : 0,
    TRANS_B: p.transB ? 1 : 0,
    HAS_BIAS: p.bias ? 1 : 0,
    BIAS_ROWS: p.biasRows ? 1 : 0,
    ACT: activationCode(p.activation ?? 'none'),
  };
  const rowBlocks = ceilDiv(M, REG_TM);
  // The register form takes its row block from workgroup_id.z (at most 65535: M up to 524,280).
  const form = MATMUL_FORM.form === 'auto' ? (e.isCpuAdapter && rowBlocks <= MAX_GROUPS ? 'registers' : 'tiled') : MATMUL_FORM.form;
  if (form === 'registers') {
    if (rowBlocks > MAX_GROUPS) throw new Error(`matmul: the register form takes at most ${MAX_GROUPS * REG_TM} rows, got M = ${M}`);
    if (M === 0 || N === 0) return;
    const [gx, gy] = grid1d(ceilDiv(N, REG_TN), REG_WG);
    const sg = subgroupFormsOn(e, MATMUL_FORM.subgroups, 'matmul', 'MATMUL_FORM.subgroups');
    const vec4B = sg && !p.transB && N % 8 === 0 && !MATMUL_FORM.scalarB;
    const source = vec4B ? REGISTERS_SUBGROUP_VEC4B : sg ? registersSubgroupSource : registersSource;
    e.run(
      { name: vec4B ? 'matmul_registers_subgroup_vec4b' : sg ? 'matmul_registers_subgroup' : 'matmul_registers', source, constants: { ...constants, WG: REG_WG }, workgroups: [gx, gy, rowBlocks] },
      [a, b, p.bias ?? a, out],
    );
    return;
  }
  e.run(
    {
      name: 'matmul',
      source,
      constants,
      workgroups: [ceilDiv(N, TILE), ceilDiv(M, TILE)],
    },
    // Without a bias the shader never reads binding 2, but it stays in the layout: bind A there.
    [a, b, p.bias ?? a, out],
  );
}

/** C[M,N] = act(op(A) op(B) + bias[N]) (bias[M] along rows with biasRows), op(X) = X or X^T. A is
 * [M,K] (or [K,M] with transA), B is [K,N] (or [N,K] with transB). Returns a new [M,N] tensor, or
 * fills `out` (any shape of M*N elements) when given. */
export function matmul(e: Engine, a: Tensor, b: Tensor, p: MatmulParams = {}, out?: Tensor): Tensor {
  const [a0, a1] = dims2(a, 'A');
  const [b0, b1] = dims2(b, 'B');
  const [M, K] = p.transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = p.transB ? [b1, b0] : [b0, b1];
  if (K !== Kb) {
    throw new Error(`matmul: inner sizes differ: op(A) is [${M},${K}], op(B) is [${Kb},${N}] (A [${a.shape}], B [${b.shape}])`);
  }
  if (out && out.size !== M * N) throw new Error(`matmul: out [${out.shape}] does not hold [${M},${N}]`);
  const c = out ?? e.empty([M, N]);
  matmulInto(e, a, b, p, M, N, K, c);
  return c;
}

/** Rows and row length of a linear layer's input: x is [N, ...] with In = w.shape[1] values per sample. */
function linearDims(x: Tensor, w: Tensor, fn: string): { N: number; In: number; Out: number } {
  if (w.shape.length !== 2) throw new Error(`${fn}: weight must be [Out, In], got [${w.shape}]`);
  const [Out, In] = w.shape;
  const N = x.shape[0];
  if (x.shape.length < 2 || x.size !== N * In) {
    throw new Error(`${fn}: input [${x.shape}] does not hold ${In} values per sample for weight [${w.shape}]`);
  }
  return { N, In, Out };
}

/** Fully connected layer: y[n,o] = act(sum_i x[n,i] w[o,i] + b[o]). x is [N, In] (or [N, ...] with In
 * values per sample, e.g. NCHW maps), w is [Out, In] (PyTorch layout), b is [Out]. Returns [N, Out]. */
export function linearForward(e: Engine, x: Tensor, w: Tensor, b: Tensor, activation: Activation): Tensor {
  const { N, In, Out } = linearDims(x, w, 'linearForward');
  if (b.size !== Out) throw new Error(`linearForward: bias has ${b.size} elements, expected ${Out}`);
  const y = e.empty([N, Out]);
  matmulInto(e, x, w, { transB: true, bias: b, activation }, N, Out, In, y);
  return y;
}

/** Gradients of a fully connected layer from its output y = linearForward(x, w, b, activation) and
 * dy = dLoss/dy: with G = dy * act'(y),  dx = G W  (shaped like x),  dw = G^T X  [Out, In],
 * db = column sums of G [Out]. */
export function linearBackward(
  e: Engine, x: Tensor, w: Tensor, y: Tensor, dy: Tensor, activation: Activation,
): { dx: Tensor; dw: Tensor; db: Tensor } {
  const { N, In, Out } = linearDims(x, w, 'linearBackward');
  if (y.size !== N * Out || dy.size !== N * Out) {
    throw new Error(`linearBackward: y [${y.shape}] and dy [${dy.shape}] must hold [${N}, ${Out}]`);
  }
  const g = activation === 'none' ? dy : activationBackward(e, y, dy, activation);
  const dx = e.empty(x.shape);
  matmulInto(e, g, w, {}, N, In, Out, dx); // [N,Out] [Out,In]
  const dw = e.empty([Out, In]);
  matmulInto(e, g, x, { transA: true }, Out, In, N, dw); // ([N,Out])^T [N,In]
  const db = sumColumns(e, g.view([N, Out]));
  if (g !== dy) g.release();
  return { dx, dw, db };
}
