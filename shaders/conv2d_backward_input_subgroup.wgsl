// 2-D convolution, gradient with respect to the input, for CPU adapters with subgroups: the math
// and layout of conv2d_backward_input.wgsl (read its header first), with the weights shared through
// the subgroup as in conv2d_forward_subgroup.wgsl.
//   dx[n, ci, iy, ix] = sum_{co, ky, kx} g[n, co, iy - D*ky, ix - D*kx] * w[co, ci, ky, kx]
//   over the terms whose output position lies inside [0, HO) x [0, WO).
// Layout: g [N, COUT, HO, WO], dx [N, CIN, H, W]; packed weights w[(co*K*K + ky*K + kx) * CP + ci]
// as vec4s (input channel innermost, CP a multiple of 16).
//
// One invocation computes 16 input channels (ci0 = 16 * workgroup_id.z) for PX horizontally
// adjacent pixels (4, or 3 or 5 where 3- or 5-pixel blocks fill the rows better: a 5-pixel row fills
// 5 of the 8 slots of two 4-pixel blocks, a 6-pixel row 6 of 6 with 3): every g value it loads feeds 16 multiply-adds (4 in the plain form). The K taps
// of a kernel row need 4*K weight vec4s, the same for the whole workgroup: 8 lanes of each subgroup
// (of at least 8) load one each (2 gathers per row) and subgroupBroadcast hands them round, so the
// taps are written out (K <= 4). With D = 1 the pixels slide along the kernel row (one new g value
// per tap). Out-of-range g positions load a clamped address and are weighed by 0; invocations past
// the end compute a clamped copy and store nothing (every lane must reach the broadcasts).
// Launch: x/y fold N * H * ceil(W / PX) invocations (engine/dispatch.ts grid1d), z = CP / 16.
enable subgroups;

override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;          // 1..4
override D: u32;
override PX: u32 = 4u;    // input pixels per invocation, 1..5
override WG: u32 = 64u;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);
override CP: u32 = (CIN + 15u) / 16u * 16u;
override WXB: u32 = (W + PX - 1u) / PX;

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<uniform> w: array<vec4f, 4096>;   // packed weights (see header)
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

// accumulators: a{p}{q} = input channels ci0 + 4q .. + 3 at pixel p (module-private so that mac()
// can update them; every index is fixed, so they stay in registers)
var<private> a00: vec4f; var<private> a01: vec4f; var<private> a02: vec4f; var<private> a03: vec4f;
var<private> a10: vec4f; var<private> a11: vec4f; var<private> a12: vec4f; var<private> a13: vec4f;
var<private> a20: vec4f; var<private> a21: vec4f; var<private> a22: vec4f; var<private> a23: vec4f;
var<private> a30: vec4f; var<private> a31: vec4f; var<private> a32: vec4f; var<private> a33: vec4f;
var<private> a40: vec4f; var<private> a41: vec4f; var<private> a42: vec4f; var<private> a43: vec4f;
// PX = 5: the fifth pixel's g value at the current tap (taps() sets it beside the four in gs)
var<private> g4: f32;

// g at (row, column) of the current plane, 0 outside [0, WO) or when the row is outside
fn gat(rowbase: u32, rowok: bool, col: i32) -> f32 {
  let ok = rowok && col >= 0 && col < i32(WO);
  let v = g[rowbase + u32(clamp(col, 0, i32(WO) - 1))];
  return select(0.0, v, ok);
}

// one tap: the PX pixels' gradients gs times the 16 channels' weights w0..w3
fn mac(gs: vec4f, w0: vec4f, w1: vec4f, w2: vec4f, w3: vec4f) {
  a00 = fma(vec4f(gs.x), w0, a00); a01 = fma(vec4f(gs.x), w1, a01); a02 = fma(vec4f(gs.x), w2, a02); a03 = fma(vec4f(gs.x), w3, a03);
  if (PX > 1u) { a10 = fma(vec4f(gs.y), w0, a10); a11 = fma(vec4f(gs.y), w1, a11); a12 = fma(vec4f(gs.y), w2, a12); a13 = fma(vec4f(gs.y), w3, a13); }
  if (PX > 2u) { a20 = fma(vec4f(gs.z), w0, a20); a21 = fma(vec4f(gs.z), w1, a21); a22 = fma(vec4f(gs.z), w2, a22); a23 = fma(vec4f(gs.z), w3, a23); }
  if (PX > 3u) { a30 = fma(vec4f(gs.w), w0, a30); a31 = fma(vec4f(gs.w), w1, a31); a32 = fma(vec4f(gs.w), w2, a32); a33 = fma(vec4f(gs.w), w3, a33); }
  if (PX > 4u) { a40 = fma(vec4f(g4), w0, a40); a41 = fma(vec4f(g4), w1, a41); a42 = fma(vec4f(g4), w2, a42); a43 = fma(vec4f(g4), w3, a43); }
}

// the g values the PX pixels read at tap kx (pixel p reads column ix0 + p - D*kx; the fifth, if
// any, goes to g4); at D = 1 the window slides: pixel p reads what pixel p - 1 read at tap kx - 1,
// and pixel 0 one new value
fn taps(prev: vec4f, kx: u32, rowbase: u32, rowok: bool, ix0: u32) -> vec4f {
  let c = i32(ix0) - i32(D * kx);
  if (D == 1u && kx > 0u) {
    g4 = prev.w;
    return vec4f(gat(rowbase, rowok, c), prev.x, prev.y, prev.z);
  }
  var gs = vec4f(gat(rowbase, rowok, c), 0.0, 0.0, 0.0);
  if (PX > 1u) { gs.y = gat(rowbase, rowok, c + 1); }
  if (PX > 2u) { gs.z = gat(rowbase, rowok, c + 2); }
  if (PX > 3u) { gs.w = gat(rowbase, rowok, c + 3); }
  if (PX > 4u) { g4 = gat(rowbase, rowok, c + 4); }
  return gs;
}

fn put(n: u32, ci: u32, iy: u32, ix: u32, v: vec4f) {
  if (ix >= W) { return; }
  let plane = H * W;
  let o = (n * CIN + ci) * plane + iy * W + ix;
  for (var j = 0u; j < 4u; j++) {
    if (ci + j < CIN) { dx[o + j * plane] = v[j]; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  let total = N * H * WXB;
  let t0 = gid.x + gid.y * nwg.x * WG;
  let t = min(t0, total - 1u);
  let ix0 = (t % WXB) * PX;
  let iy = (t / WXB) % H;
  let n = t / (WXB * H);
  let ci0 = wid.z * 16u;
  let gn = n * COUT * HO * WO;
  // the kernel-row weight vec4 this lane fetches: item m = 4*kx + q (see conv2d_forward_subgroup)
  let m0 = lane % 8u;
  let m1 = m0 + 8u;
  let i0 = min(m0 / 4u, K - 1u) * CP + ci0 + 4u * (m0 % 4u);
  let i1 = min(m1 / 4u, K - 1u) * CP + ci0 + 4u * (m1 % 4u);
  for (var co = 0u; co < COUT; co++) {
    for (var ky = 0u; ky < K; ky++) {
      let oy = i32(iy) - i32(D * ky);
      let rowok = oy >= 0 && oy < i32(HO);
      let rowbase = gn + (co * HO + u32(clamp(oy, 0, i32(HO) - 1))) * WO;
      let tap0 = (co * K + ky) * K * CP;
      let v0 = w[(tap0 + i0) / 4u];
      var v1 = vec4f(0.0);
      if (K > 2u) { v1 = w[(tap0 + i1) / 4u]; }
      var gs = taps(vec4f(0.0), 0u, rowbase, rowok, ix0);
      mac(gs, subgroupBroadcast(v0, 0u), subgroupBroadcast(v0, 1u), subgroupBroadcast(v0, 2u), subgroupBroadcast(v0, 3u));
      if (K > 1u) {
        gs = taps(gs, 1u, rowbase, rowok, ix0);
        mac(gs, subgroupBroadcast(v0, 4u), subgroupBroadcast(v0, 5u), subgroupBroadcast(v0, 6u), subgroupBroadcast(v0, 7u));
      }
      if (K > 2u) {
        gs = taps(gs, 2u, rowbase, rowok, ix0);
        mac(gs, subgroupBroadcast(v1, 0u), subgroupBroadcast(v1, 1u), subgroupBroadcast(v1, 2u), subgroupBroadcast(v1, 3u));
      }
      if (K > 3u) {
        gs = taps(gs, 3u, rowbase, rowok, ix0);
        mac(gs, subgroupBroadcast(v1, 4u), subgroupBroadcast(v1, 5u), subgroupBroadcast(v1, 6u), subgroupBroadcast(v1, 7u));
      }
    }
  }
  if (t0 >= total) { return; }
  for (var p = 0u; p < PX; p++) {
    let ix = ix0 + p;
    var q0 = a00; var q1 = a01; var q2 = a02; var q3 = a03;
    if (p == 1u) { q0 = a10; q1 = a11; q2 = a12; q3 = a13; }
    if (p == 2u) { q0 = a20; q1 = a21; q2 = a22; q3 = a23; }
    if (p == 3u) { q0 = a30; q1 = a31; q2 = a32; q3 = a33; }
    if (p == 4u) { q0 = a40; q1 = a41; q2 = a42; q3 = a43; }
    put(n, ci0, iy, ix, q0);
    put(n, ci0 + 4u, iy, ix, q1);
    put(n, ci0 + 8u, iy, ix, q2);
    put(n, ci0 + 12u, iy, ix, q3);
  }
}
