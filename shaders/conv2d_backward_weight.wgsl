// 2-D convolution, gradient with respect to the weights, as a split-K matrix product:
//   dw[co, j] = sum_p g[co, p] * col[j, p]
//   j = (ci, ky, kx) (CIN*K*K columns, the weight layout), p = (n, oy, ox) (N*HO*WO positions),
//   g[co, p] = g[n, co, oy, ox], col[j, p] = x[n, ci, oy + D*ky, ox + D*kx] (im2col, never stored).
// Layout: x [N, CIN, H, W], g [N, COUT, HO, WO] (gradient of the pre-activation),
//         part [S, COUT, CIN*K*K] (= [S, COUT, CIN, K, K]); conv2d_backward_weight_sum adds the
//         S splits in order (no atomics: bit-identical run to run). With S = 1, part is dw.
// One invocation computes a TCO x TJ register tile of (co, j) over split s of the positions: per
// position it reads TCO values of g and TJ values of x and does TCO*TJ multiply-adds, so each value
// read feeds several sums (on a CPU adapter every per-invocation read is a gather; on a GPU the
// tile is what keeps the arithmetic units fed). Invocation t -> (j-tile, co-tile, split), j first.
override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;
override D: u32;
override S: u32 = 1u;
override WG: u32 = 64u;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);
override P: u32 = N * HO * WO;
override CHUNK: u32 = (P + S - 1u) / S;
override J: u32 = CIN * K * K;
const TCO = 4u;
const TJ = 8u;
override NJT: u32 = (J + TJ - 1u) / TJ;
override NCT: u32 = (COUT + TCO - 1u) / TCO;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= NJT * NCT * S) { return; }
  let jt = t % NJT;
  let ct = (t / NJT) % NCT;
  let s = t / (NJT * NCT);
  // where column j reads x, relative to x[n, 0, oy, ox]; columns past J (and channels past COUT)
  // read a valid neighbour and are never stored
  var off: array<u32, TJ>;
  for (var k = 0u; k < TJ; k++) {
    let j = min(jt * TJ + k, J - 1u);
    let r = j % (K * K);
    off[k] = (j / (K * K)) * H * W + D * ((r / K) * W + r % K);
  }
  var goff: array<u32, TCO>;
  for (var c = 0u; c < TCO; c++) { goff[c] = min(ct * TCO + c, COUT - 1u) * HO * WO; }
  var acc: array<f32, 32>;   // TCO * TJ
  for (var i = 0u; i < TCO * TJ; i++) { acc[i] = 0.0; }
  let p0 = s * CHUNK;
  let p1 = min(P, p0 + CHUNK);
  var n = p0 / (HO * WO);
  var oy = (p0 / WO) % HO;
  var ox = p0 % WO;
  for (var p = p0; p < p1; p++) {
    let gb = n * COUT * HO * WO + oy * WO + ox;
    let xb = n * CIN * H * W + oy * W + ox;
    var gv: array<f32, TCO>;
    for (var c = 0u; c < TCO; c++) { gv[c] = g[gb + goff[c]]; }
    for (var k = 0u; k < TJ; k++) {
      let xv = x[xb + off[k]];
      for (var c = 0u; c < TCO; c++) { acc[c * TJ + k] = fma(gv[c], xv, acc[c * TJ + k]); }
    }
    ox++;
    if (ox == WO) {
      ox = 0u;
      oy++;
      if (oy == HO) { oy = 0u; n++; }
    }
  }
  for (var c = 0u; c < TCO; c++) {
    let co = ct * TCO + c;
    if (co >= COUT) { break; }
    for (var k = 0u; k < TJ; k++) {
      let j = jt * TJ + k;
      if (j < J) { part[(s * COUT + co) * J + j] = acc[c * TJ + k]; }
    }
  }
}
