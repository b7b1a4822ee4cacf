// Matrix product with fused bias and activation, register-tiled, for CPU adapters with subgroups:
// the math, layout, 8x8 register block and launch of matmul_registers.wgsl (read its header first).
//   C[m, n] = act( sum_k op(A)[m, k] * op(B)[k, n] + bias[n] ),   m < M, n < N, k < K.
// A is [M, K] (or [K, M] when TRANS_A), B is [K, N] (or [N, K] when TRANS_B), bias [N] (or [M] with
// BIAS_ROWS), C [M, N], float32 row-major; act: ACT 0 none, 1 tanh, 2 relu.
//
// The difference: all invocations of a workgroup share the row block (bm = workgroup_id.z), so they
// need the same 8 values of op(A) at every k. On llvmpipe each of those loads is a gather, one
// invocation at a time; here lane i (of subgroups of at least 8) loads row i's value only and
// subgroupBroadcast gives it to the others: 1 load per k for A instead of 8. B's 8 values differ
// per invocation and are loaded as before, or, when N is a multiple of 8 and B is not transposed,
// as two vec4s (engine/ops/matmul.ts rewrites the two places marked "B as vec4s": a vec4 load
// costs less than four scalar ones on llvmpipe, 1.2-1.3x at DNN1's dense FC1 shape). Invocations
// past the last column block compute a clamped copy and store nothing, so that every lane reaches
// the broadcasts.
// Launch: x/y fold NB = ceil(N / TN) invocations (engine/dispatch.ts grid1d), z = ceil(M / TM).
enable subgroups;

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
@group(0) @binding(1) var<storage, read> B: array<f32>;   // B as vec4s: array<vec4f>
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// tanh from one exp, exact to ~1e-7: (1 - e^-2|v|) / (1 + e^-2|v|) never overflows, and costs half the built-in's usual (e^v - e^-v) / (e^v + e^-v) on CPU adapters
fn activate(z: f32) -> f32 {
  if (ACT == 1u) { let t = exp(-2.0 * abs(z)); return sign(z) * (1.0 - t) / (1.0 + t); }
  if (ACT == 2u) { return max(z, 0.0); }
  return z;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  let bn0 = gid.x + gid.y * nwg.x * WG;
  let bn = min(bn0, NB - 1u);
  let bm = wid.z;
  // this lane's row of op(A) (row lane % 8 of the block) and the stride of one k step
  let m = min(bm * TM + lane % TM, M - 1u);
  var ao = m * K;
  var ak = 1u;
  if (TRANS_A) { ao = m; ak = M; }
  var bo: array<u32, TN>;
  for (var j = 0u; j < TN; j++) {
    let n = min(bn * TN + j, N - 1u);
    if (TRANS_B) { bo[j] = n * K; } else { bo[j] = n; }
  }
  var bk = N;
  if (TRANS_B) { bk = 1u; }

  var acc: array<f32, TM * TN>;   // acc[i * TN + j] = C[bm*TM + i, bn*TN + j] before bias/activation
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
  for (var k = 0u; k < K; k++) {
    let mine = A[ao + k * ak];
    var av: array<f32, TM>;
    av[0] = subgroupBroadcast(mine, 0u);
    av[1] = subgroupBroadcast(mine, 1u);
    av[2] = subgroupBroadcast(mine, 2u);
    av[3] = subgroupBroadcast(mine, 3u);
    av[4] = subgroupBroadcast(mine, 4u);
    av[5] = subgroupBroadcast(mine, 5u);
    av[6] = subgroupBroadcast(mine, 6u);
    av[7] = subgroupBroadcast(mine, 7u);
    // B as vec4s: the 8 values are B[(k * N + bn * TN) / 4 + 0, 1]
    for (var j = 0u; j < TN; j++) {
      let bv = B[bo[j] + k * bk];
      for (var i = 0u; i < TM; i++) { acc[i * TN + j] = fma(av[i], bv, acc[i * TN + j]); }
    }
  }

  if (bn0 >= NB) { return; }
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
