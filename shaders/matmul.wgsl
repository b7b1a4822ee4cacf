// Matrix product with fused bias and activation:
//   C[m, n] = act( sum_k op(A)[m, k] * op(B)[k, n] + bias[n] ),   m < M, n < N, k < K.
// Layout (float32, row-major): A is [M, K], or [K, M] when TRANS_A (then op(A) = A^T);
// B is [K, N], or [N, K] when TRANS_B; bias is [N] (read only when HAS_BIAS; otherwise any bound
// buffer, e.g. A again), or [M] added along rows (bias[m]) when BIAS_ROWS; C is [M, N]. act: ACT 0 none, 1 tanh, 2 relu.
//
// Tiling: workgroup (x, y) computes the 64 x 64 tile of C at rows 64y.., columns 64x...
// Its 16 x 16 invocations each hold a 4 x 4 block of that tile in registers (invocation (tx, ty):
// rows 4ty..4ty+3, columns 4tx..4tx+3). K is walked in chunks of 16: each chunk of op(A)
// (64 rows x 16) and op(B) (16 x 64 columns) is staged in workgroup memory, stored k-major as
// vec4s of 4 consecutive rows (As) or columns (Bs), so that one k step of an invocation reads one
// vec4 of A and one of B and does 16 multiply-adds. Reads outside A or B load 0, and only
// elements inside C are written, so any M, N, K >= 0 works (partial tiles at the edges).
override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override BIAS_ROWS: bool = false;
override ACT: u32 = 0u;   // 0 none, 1 tanh, 2 relu

const BK = 16u;     // K chunk
const S = 17u;      // vec4s per k row of As/Bs: 16 used + 1 of padding (avoids bank conflicts on stores)

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// As[k * S + i] = op(A)[m0 + 4i .. m0 + 4i + 3, k0 + k];  Bs[k * S + j] = op(B)[k0 + k, n0 + 4j .. n0 + 4j + 3]
var<workgroup> As: array<vec4f, 272>;   // BK * S
var<workgroup> Bs: array<vec4f, 272>;

// op(A)[m, k] (0 outside)
fn a_at(m: u32, k: u32) -> f32 {
  if (m >= M || k >= K) { return 0.0; }
  if (TRANS_A) { return A[k * M + m]; }
  return A[m * K + k];
}

// op(B)[k, n] (0 outside)
fn b_at(k: u32, n: u32) -> f32 {
  if (k >= K || n >= N) { return 0.0; }
  if (TRANS_B) { return B[n * K + k]; }
  return B[k * N + n];
}

// tanh from one exp, exact to ~1e-7: (1 - e^-2|v|) / (1 + e^-2|v|) never overflows, and costs half the built-in's usual (e^v - e^-v) / (e^v + e^-v) on CPU adapters
fn activate(z: f32) -> f32 {
  if (ACT == 1u) { let t = exp(-2.0 * abs(z)); return sign(z) * (1.0 - t) / (1.0 + t); }
  if (ACT == 2u) { return max(z, 0.0); }
  return z;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let m0 = wg.y * 64u;
  let n0 = wg.x * 64u;
  // Which vec4 of each staged chunk this invocation loads. Consecutive invocations walk the
  // contiguous axis of the stored matrix, so that global reads coalesce.
  var la_i: u32; var la_k: u32;   // As[la_k * S + la_i]
  if (TRANS_A) { la_i = t % 16u; la_k = t / 16u; } else { la_k = t % 16u; la_i = t / 16u; }
  var lb_j: u32; var lb_k: u32;   // Bs[lb_k * S + lb_j]
  if (TRANS_B) { lb_k = t % 16u; lb_j = t / 16u; } else { lb_j = t % 16u; lb_k = t / 16u; }

  var acc: array<vec4f, 4>;       // acc[i][j] = C[m0 + 4ty + i, n0 + 4tx + j] before bias/activation
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4f(0.0); }

  for (var k0 = 0u; k0 < K; k0 += BK) {
    let am = m0 + 4u * la_i;
    let ak = k0 + la_k;
    As[la_k * S + la_i] = vec4f(a_at(am, ak), a_at(am + 1u, ak), a_at(am + 2u, ak), a_at(am + 3u, ak));
    let bn = n0 + 4u * lb_j;
    let bk = k0 + lb_k;
    Bs[lb_k * S + lb_j] = vec4f(b_at(bk, bn), b_at(bk, bn + 1u), b_at(bk, bn + 2u), b_at(bk, bn + 3u));
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a = As[k * S + lid.y];
      let b = Bs[k * S + lid.x];
      acc[0] = fma(vec4f(a.x), b, acc[0]);
      acc[1] = fma(vec4f(a.y), b, acc[1]);
      acc[2] = fma(vec4f(a.z), b, acc[2]);
      acc[3] = fma(vec4f(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }

  let col = n0 + 4u * lid.x;
  var bv = vec4f(0.0);
  if (HAS_BIAS && !BIAS_ROWS) {
    for (var j = 0u; j < 4u; j++) {
      if (col + j < N) { bv[j] = bias[col + j]; }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let row = m0 + 4u * lid.y + i;
    if (row >= M) { break; }
    if (HAS_BIAS && BIAS_ROWS) { bv = vec4f(bias[row]); }
    for (var j = 0u; j < 4u; j++) {
      if (col + j < N) { C[row * N + col + j] = activate(acc[i][j] + bv[j]); }
    }
  }
}
