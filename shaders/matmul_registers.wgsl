// Matrix product with fused bias and activation, register-tiled (no workgroup memory):
//   C[m, n] = act( sum_k op(A)[m, k] * op(B)[k, n] + bias[n] ),   m < M, n < N, k < K.
// Layout (float32, row-major) as in matmul.wgsl: A is [M, K], or [K, M] when TRANS_A; B is [K, N],
// or [N, K] when TRANS_B; bias is [N] (read only when HAS_BIAS), or [M] added along rows (bias[m])
// when BIAS_ROWS (a convolution as W [COUT, CIN*K*K] x cols: one bias per output channel);
// C is [M, N]. act: ACT 0 none, 1 tanh, 2 relu.
//
// One invocation computes a TM x TN block of C (rows TM*bm.., columns TN*bn..) in registers: per k
// it reads TM values of op(A) and TN values of op(B) and does TM*TN multiply-adds (8 x 8: 64 per
// 16 values read; on lavapipe 8x8 ran 2x faster than 4x8 or 16x8 and 4x faster than 16x16, whose
// accumulators no longer fit in registers). This is the form
// a CPU adapter (lavapipe, SwiftShader) runs fastest: there every invocation's load is a gather and a
// workgroup barrier is costly, so what counts is multiply-adds per value read and no staging at all.
// matmul.wgsl (64x64 tiles staged in workgroup memory) is the form for GPUs. Rows and columns past
// the edge read a clamped (valid) neighbour and are never stored, so any M, N, K >= 0 works.
// The row block is the workgroup's z (bm = workgroup_id.z) and the column block bn the invocation's
// index within x/y: every A address then depends only on the workgroup and the loop counter, so all
// invocations of a workgroup read the same A values (a cached, shared read on a GPU; lavapipe still
// loads them per invocation inside the loop, docs/PERFORMANCE.md) and only B's TN values differ.
// Launch: x/y fold NB = ceil(N / TN) invocations (engine/dispatch.ts grid1d), z = ceil(M / TM).
override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override BIAS_ROWS: bool = false;
override ACT: u32 = 0u;   // 0 none, 1 tanh, 2 relu
override WG: u32 = 64u;
const TM = 8u;
const TN = 8u;
override NB: u32 = (N + TN - 1u) / TN;

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// tanh from one exp, exact to ~1e-7: (1 - e^-2|v|) / (1 + e^-2|v|) never overflows, and costs half the built-in's usual (e^v - e^-v) / (e^v + e^-v) on CPU adapters
fn activate(z: f32) -> f32 {
  if (ACT == 1u) { let t = exp(-2.0 * abs(z)); return sign(z) * (1.0 - t) / (1.0 + t); }
  if (ACT == 2u) { return max(z, 0.0); }
  return z;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let bn = gid.x + gid.y * nwg.x * WG;
  if (bn >= NB) { return; }
  let bm = wid.z;
  // element offsets of op(A)[m_i, 0] and op(B)[0, n_j], and the stride of one k step in each
  var ao: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let m = min(bm * TM + i, M - 1u);
    if (TRANS_A) { ao[i] = m; } else { ao[i] = m * K; }
  }
  var bo: array<u32, TN>;
  for (var j = 0u; j < TN; j++) {
    let n = min(bn * TN + j, N - 1u);
    if (TRANS_B) { bo[j] = n * K; } else { bo[j] = n; }
  }
  var ak = 1u;
  if (TRANS_A) { ak = M; }
  var bk = N;
  if (TRANS_B) { bk = 1u; }

  var acc: array<f32, TM * TN>;   // acc[i * TN + j] = C[bm*TM + i, bn*TN + j] before bias/activation
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
  for (var k = 0u; k < K; k++) {
    var av: array<f32, TM>;
    for (var i = 0u; i < TM; i++) { av[i] = A[ao[i] + k * ak]; }
    for (var j = 0u; j < TN; j++) {
      let bv = B[bo[j] + k * bk];
      for (var i = 0u; i < TM; i++) { acc[i * TN + j] = fma(av[i], bv, acc[i * TN + j]); }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let row = bm * TM + i;
    if (row >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = bn * TN + j;
      if (col >= N) { break; }
      var z = acc[i * TN + j];
      if (HAS_BIAS) { z += bias[select(col, row, BIAS_ROWS)]; }
      C[row * N + col] = activate(z);
    }
  }
}
