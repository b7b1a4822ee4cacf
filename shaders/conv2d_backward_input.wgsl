// 2-D convolution, gradient with respect to the input (the "full" correlation with the kernel):
//   dx[n, ci, iy, ix] = sum_{co, ky, kx} g[n, co, iy - D*ky, ix - D*kx] * w[co, ci, ky, kx]
//   over the terms whose output position (iy - D*ky, ix - D*kx) lies inside [0, HO) x [0, WO).
// g is the gradient with respect to the convolution's pre-activation output (see activation_backward).
// Layout: g [N, COUT, HO, WO], dx [N, CIN, H, W]; HO = H - D*(K-1), WO likewise. The weights
// [COUT, CIN, K, K] come repacked by conv2d_pack_weights as w[(co*K*K + ky*K + kx) * CP + ci]
// (input channel innermost, zero-padded to CP = 4 * ceil(CIN/4)), read as vec4s.
//
// Register blocking as in conv2d_forward: one invocation computes 4 input channels (ci0 = 4 *
// workgroup_id.z, so weight addresses are the same for the whole workgroup) for PX horizontally
// adjacent input pixels; each g value loaded feeds 4 multiply-adds. With D = 1 the PX pixels slide
// along the kernel row (one new g value per kx step). Out-of-range g positions load a clamped
// address and are weighed by 0 (no branch in the loops); only real pixels and channels are stored.
// With PY = 2 (D = 1 only) an invocation also computes the row below: input rows iy and iy + 1 read
// the g rows iy + 1 - q for q = 0..K, and each loaded row feeds both (rows iy - ky of the first at
// ky = q - 1, of the second at ky = q), so K + 1 row loads serve 2K row-taps instead of 2K loads.
// Each pixel still sums over (co, ky, kx) in the same order as with PY = 1.
// The packed weights sit in a 64 KiB uniform buffer, which a GPU serves from its constant cache
// (llvmpipe: a plain gather per load instead of a branching one from storage, 1.1-1.5x faster;
// CPU adapters with subgroups run conv2d_backward_input_subgroup.wgsl, see conv2d_forward.wgsl).
// Layers whose packed weights exceed 64 KiB get this one declaration rewritten to a storage
// binding (engine/ops/conv2d.ts).
// Launch: x/y fold N * ceil(H / PY) * ceil(W / PX) invocations (engine/dispatch.ts grid1d), z = CP / 4.
override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;
override D: u32;
override PX: u32 = 4u;    // input pixels per invocation, 1..4
override PY: u32 = 1u;    // input rows per invocation, 1 or 2 (2 only with D = 1)
override WG: u32 = 64u;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);
override CP: u32 = (CIN + 3u) / 4u * 4u;
override WXB: u32 = (W + PX - 1u) / PX;
override HB: u32 = (H + PY - 1u) / PY;

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<uniform> w: array<vec4f, 4096>;   // packed weights (see header)
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

// g at (row, column) of the current plane, 0 outside [0, WO) or when the row is outside
fn gat(rowbase: u32, rowok: bool, col: i32) -> f32 {
  let ok = rowok && col >= 0 && col < i32(WO);
  let v = g[rowbase + u32(clamp(col, 0, i32(WO) - 1))];
  return select(0.0, v, ok);
}

fn put(n: u32, ci: u32, iy: u32, ix: u32, v: vec4f) {
  if (ix >= W || iy >= H) { return; }
  let plane = H * W;
  let o = (n * CIN + ci) * plane + iy * W + ix;
  for (var j = 0u; j < 4u; j++) {
    if (ci + j < CIN) { dx[o + j * plane] = v[j]; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let total = N * HB * WXB;
  let t0 = gid.x + gid.y * nwg.x * WG;
  let t = min(t0, total - 1u);
  let ix0 = (t % WXB) * PX;
  let iy = ((t / WXB) % HB) * PY;
  let n = t / (WXB * HB);
  let ci0 = wid.z * 4u;
  // row iy: a0..a3; row iy + 1 (PY = 2): b0..b3
  var a0 = vec4f(0.0); var a1 = vec4f(0.0); var a2 = vec4f(0.0); var a3 = vec4f(0.0);
  var b0 = vec4f(0.0); var b1 = vec4f(0.0); var b2 = vec4f(0.0); var b3 = vec4f(0.0);
  let gn = n * COUT * HO * WO;
  let KK = K * K;
  for (var co = 0u; co < COUT; co++) {
    // g row q: iy + PY - 1 - D*q; with PY = 1 it is the tap ky = q of row iy
    for (var q = 0u; q < K + PY - 1u; q++) {
      let oy = i32(iy + PY - 1u) - i32(D * q);
      let rowok = oy >= 0 && oy < i32(HO);
      let rowbase = gn + (co * HO + u32(clamp(oy, 0, i32(HO) - 1))) * WO;
      // the taps of row iy (ky = q + 1 - PY) and of row iy + 1 (ky = q) that read this g row
      let kyA = q + 1u - PY;
      let useA = q + 1u >= PY && kyA < K;
      let useB = PY == 2u && q < K;
      var x0 = 0.0; var x1 = 0.0; var x2 = 0.0; var x3 = 0.0;
      for (var kx = 0u; kx < K; kx++) {
        let c = i32(ix0) - i32(D * kx);   // column pixel 0 reads
        if (D == 1u && kx > 0u) {
          // slide: pixel p at tap kx reads what pixel p-1 read at tap kx-1
          let v = gat(rowbase, rowok, c);
          x3 = x2; x2 = x1; x1 = x0; x0 = v;
        } else {
          x0 = gat(rowbase, rowok, c);
          if (PX > 1u) { x1 = gat(rowbase, rowok, c + 1); }
          if (PX > 2u) { x2 = gat(rowbase, rowok, c + 2); }
          if (PX > 3u) { x3 = gat(rowbase, rowok, c + 3); }
        }
        if (useA) {
          let wv = w[((co * KK + kyA * K + kx) * CP + ci0) / 4u];
          a0 = fma(vec4f(x0), wv, a0);
          if (PX > 1u) { a1 = fma(vec4f(x1), wv, a1); }
          if (PX > 2u) { a2 = fma(vec4f(x2), wv, a2); }
          if (PX > 3u) { a3 = fma(vec4f(x3), wv, a3); }
        }
        if (useB) {
          let wv = w[((co * KK + q * K + kx) * CP + ci0) / 4u];
          b0 = fma(vec4f(x0), wv, b0);
          if (PX > 1u) { b1 = fma(vec4f(x1), wv, b1); }
          if (PX > 2u) { b2 = fma(vec4f(x2), wv, b2); }
          if (PX > 3u) { b3 = fma(vec4f(x3), wv, b3); }
        }
      }
    }
  }
  if (t0 >= total) { return; }
  put(n, ci0, iy, ix0, a0);
  if (PX > 1u) { put(n, ci0, iy, ix0 + 1u, a1); }
  if (PX > 2u) { put(n, ci0, iy, ix0 + 2u, a2); }
  if (PX > 3u) { put(n, ci0, iy, ix0 + 3u, a3); }
  if (PY == 2u) {
    put(n, ci0, iy + 1u, ix0, b0);
    if (PX > 1u) { put(n, ci0, iy + 1u, ix0 + 1u, b1); }
    if (PX > 2u) { put(n, ci0, iy + 1u, ix0 + 2u, b2); }
    if (PX > 3u) { put(n, ci0, iy + 1u, ix0 + 3u, b3); }
  }
}
