import argmaxSource from '../../shaders/argmax_rows.wgsl';
import reduceSource from '../../shaders/reduce_rows.wgsl';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';

const OPS = { sum: 0, max: 1 } as const;
/** Elements summed by one workgroup in each pass of sumAll. */
const SUM_CHUNK = 4096;

/** Rows R and row length L of x viewed as [R, L] (L = last axis). */
function rowsOf(x: Tensor, fn: string): { R: number; L: number } {
  if (x.shape.length < 1) throw new Error(`${fn}: needs at least one axis`);
  const L = x.shape[x.shape.length - 1];
  if (L < 1) throw new Error(`${fn}: rows of length 0 in shape [${x.shape}]`);
  return { R: x.size / L, L };
}

/** One reduce_rows dispatch: out[r] = OP_{j<L} x[r*rowStride + j*elemStride] over flat indices < count. */
function reduce(
  e: Engine, x: Tensor, op: 'sum' | 'max', R: number, L: number, rowStride: number, elemStride: number, count: number,
  outShape: readonly number[],
): Tensor {
  const out = e.empty(outShape);
  e.run(
    {
      name: `reduce_rows_${op}`,
      source: reduceSource,
      constants: { R, L, ROW_STRIDE: rowStride, ELEM_STRIDE: elemStride, COUNT: count, OP: OPS[op] },
      workgroups: grid1d(R, 1),
    },
    [x, out],
  );
  return out;
}

/** Sum or maximum over the last axis: x [..., L] -> [...] (a 1-D x gives [1]). */
export function reduceRows(e: Engine, x: Tensor, op: 'sum' | 'max'): Tensor {
  if (OPS[op] === undefined) throw new Error(`reduceRows: unknown op '${op}' (use sum or max)`);
  const { R, L } = rowsOf(x, 'reduceRows');
  const shape = x.shape.length > 1 ? x.shape.slice(0, -1) : [1];
  return reduce(e, x, op, R, L, L, 1, x.size, shape);
}

/** Column sums of a 2-D x [R, L]: out[j] = sum_r x[r, j], shape [L] (e.g. a bias gradient). */
export function sumColumns(e: Engine, x: Tensor): Tensor {
  if (x.shape.length !== 2) throw new Error(`sumColumns: x must be 2-D, got [${x.shape}]`);
  const [R, L] = x.shape;
  if (R < 1) throw new Error(`sumColumns: no rows in [${x.shape}]`);
  return reduce(e, x, 'sum', L, R, 1, L, x.size, [L]);
}

/** Index of the first maximum over the last axis: x [..., L] -> u32 [...] (read with engine.readU32). */
export function argmaxRows(e: Engine, x: Tensor): Tensor {
  const { R, L } = rowsOf(x, 'argmaxRows');
  const out = e.empty(x.shape.length > 1 ? x.shape.slice(0, -1) : [1]);
  e.run({ name: 'argmax_rows', source: argmaxSource, constants: { R, L }, workgroups: grid1d(R, 1) }, [x, out]);
  return out;
}

/** Sum of all elements, shape [1]: chunks of SUM_CHUNK summed per workgroup, repeated until one is left. */
export function sumAll(e: Engine, x: Tensor): Tensor {
  if (x.size === 0) return e.zeros([1]);
  let cur = x;
  for (;;) {
    const R = Math.ceil(cur.size / SUM_CHUNK);
    const L = Math.min(SUM_CHUNK, cur.size);
    const next = reduce(e, cur, 'sum', R, L, L, 1, cur.size, [R]);
    if (cur !== x) cur.release();
    if (R === 1) return next;
    cur = next;
  }
}
