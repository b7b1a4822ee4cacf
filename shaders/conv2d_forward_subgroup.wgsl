// 2-D convolution, forward, for CPU adapters with subgroups: the math, layout and launch of
// conv2d_forward.wgsl (read its header first), with the weights shared through the subgroup.
//   y[n, co, oy, ox] = f( b[co] + sum_{ci, ky, kx} w[co, ci, ky, kx] * x[n, ci, oy + D*ky, ox + D*kx] )
// Layout: x [N, CIN, H, W], b [COUT], y [N, COUT, HO, WO]; packed weights w[(ci*K*K + ky*K + kx) * CP + co]
// as vec4s (conv2d_pack_weights, CP a multiple of 16).
//
// Why a second form: on llvmpipe (Mesa 25.0) a load inside a loop is done invocation by
// invocation (a gather: ~25 instructions for 8 lanes from a uniform buffer, ~90 from a storage
// buffer), even when every invocation of the workgroup reads the same address, as they do for the
// weights. Here each of 8 invocations of a subgroup loads a different weight vec4 of the kernel row
// (one gather brings 8 of them) and subgroupBroadcast hands each to all lanes (a register
// shuffle, no memory access): 2 gathers per kernel row instead of 4*K. That needs subgroups of at least 8 lanes and
// a literal lane index, so the kx taps are written out (K <= 4) and one invocation always computes
// 16 output channels (4 vec4s) for PX pixels D apart, as conv2d_forward does with CG = 4.
// Launch: x/y fold N * HO * D * ceil(ceil(WO / D) / PX) invocations (engine/dispatch.ts grid1d), z = CP / 16.
// Output: two blocks at the end declare y and its store(); the engine keeps one. Where D = 1, PX = 4
// and WO % 4 == 0 an invocation's 4 pixels are one aligned vec4 of a row and go out as 16 vec4
// stores instead of 64 scalar ones (each store, like each load, costs a loop over the lanes).
enable subgroups;

override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;          // 1..4
override D: u32;
override ACT: u32;
override PX: u32 = 4u;    // output pixels per invocation, 1..4
override WG: u32 = 64u;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);
override CP: u32 = (COUT + 15u) / 16u * 16u;
override QB: u32 = ((WO + D - 1u) / D + PX - 1u) / PX;   // pixel blocks per residue class
override WXB: u32 = D * QB;   // pixel blocks per output row

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<uniform> w: array<vec4f, 4096>;   // packed weights (see header)
@group(0) @binding(2) var<storage, read> b: array<f32>;

// accumulators: a{p}{g} = output channels co0 + 4g .. + 3 at pixel p (module-private, so that
// mac() can update them; every index is fixed, so they stay in registers)
var<private> a00: vec4f; var<private> a01: vec4f; var<private> a02: vec4f; var<private> a03: vec4f;
var<private> a10: vec4f; var<private> a11: vec4f; var<private> a12: vec4f; var<private> a13: vec4f;
var<private> a20: vec4f; var<private> a21: vec4f; var<private> a22: vec4f; var<private> a23: vec4f;
var<private> a30: vec4f; var<private> a31: vec4f; var<private> a32: vec4f; var<private> a33: vec4f;

// tanh from one exp, exact to ~1e-7: (1 - e^-2|v|) / (1 + e^-2|v|) never overflows, and costs half the built-in's usual (e^v - e^-v) / (e^v + e^-v) on CPU adapters
fn act(v: f32) -> f32 {
  if (ACT == 1u) { let t = exp(-2.0 * abs(v)); return sign(v) * (1.0 - t) / (1.0 + t); }
  if (ACT == 2u) { return max(v, 0.0); }
  return v;
}

fn act4(v: vec4f) -> vec4f {
  if (ACT == 1u) { let t = exp(-2.0 * abs(v)); return sign(v) * (1.0 - t) / (1.0 + t); }
  if (ACT == 2u) { return max(v, vec4f(0.0)); }
  return v;
}

// one tap: the PX pixels' inputs xs times the 16 channels' weights w0..w3
fn mac(xs: vec4f, w0: vec4f, w1: vec4f, w2: vec4f, w3: vec4f) {
  a00 = fma(vec4f(xs.x), w0, a00); a01 = fma(vec4f(xs.x), w1, a01); a02 = fma(vec4f(xs.x), w2, a02); a03 = fma(vec4f(xs.x), w3, a03);
  if (PX > 1u) { a10 = fma(vec4f(xs.y), w0, a10); a11 = fma(vec4f(xs.y), w1, a11); a12 = fma(vec4f(xs.y), w2, a12); a13 = fma(vec4f(xs.y), w3, a13); }
  if (PX > 2u) { a20 = fma(vec4f(xs.z), w0, a20); a21 = fma(vec4f(xs.z), w1, a21); a22 = fma(vec4f(xs.z), w2, a22); a23 = fma(vec4f(xs.z), w3, a23); }
  if (PX > 3u) { a30 = fma(vec4f(xs.w), w0, a30); a31 = fma(vec4f(xs.w), w1, a31); a32 = fma(vec4f(xs.w), w2, a32); a33 = fma(vec4f(xs.w), w3, a33); }
}

// the window slides one tap: pixel p now reads what pixel p + 1 read, the last pixel reads v
fn slide(xs: vec4f, v: f32) -> vec4f {
  if (PX == 1u) { return vec4f(v, 0.0, 0.0, 0.0); }
  if (PX == 2u) { return vec4f(xs.y, v, 0.0, 0.0); }
  if (PX == 3u) { return vec4f(xs.y, xs.z, v, 0.0); }
  return vec4f(xs.y, xs.z, xs.w, v);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  let total = N * HO * WXB;
  let t0 = gid.x + gid.y * nwg.x * WG;
  // invocations past the end compute a clamped copy and store nothing: every lane must reach the broadcasts
  let t = min(t0, total - 1u);
  let ox0 = t % D + D * PX * ((t / D) % QB);
  let oy = (t / WXB) % HO;
  let n = t / (WXB * HO);
  let co0 = wid.z * 16u;
  let xn = n * CIN * H * W + oy * W;
  // the kernel-row weight vec4 this lane fetches for the subgroup: item m = 4*kx + g of the row
  // (lanes past 8 fetch what lane % 8 does); items of taps past K are clamped and never used
  let m0 = lane % 8u;
  let m1 = m0 + 8u;
  let i0 = min(m0 / 4u, K - 1u) * CP + co0 + 4u * (m0 % 4u);
  let i1 = min(m1 / 4u, K - 1u) * CP + co0 + 4u * (m1 % 4u);
  for (var ci = 0u; ci < CIN; ci++) {
    for (var ky = 0u; ky < K; ky++) {
      let row = xn + (ci * H + D * ky) * W;
      let tap0 = (ci * K + ky) * K * CP;
      let v0 = w[(tap0 + i0) / 4u];
      var v1 = vec4f(0.0);
      if (K > 2u) { v1 = w[(tap0 + i1) / 4u]; }
      // inputs at kx = 0, clamped at W - 1 (only outputs that are not stored read past the edge)
      var xs = vec4f(0.0);
      xs.x = x[row + min(ox0, W - 1u)];
      if (PX > 1u) { xs.y = x[row + min(ox0 + D, W - 1u)]; }
      if (PX > 2u) { xs.z = x[row + min(ox0 + 2u * D, W - 1u)]; }
      if (PX > 3u) { xs.w = x[row + min(ox0 + 3u * D, W - 1u)]; }
      mac(xs, subgroupBroadcast(v0, 0u), subgroupBroadcast(v0, 1u), subgroupBroadcast(v0, 2u), subgroupBroadcast(v0, 3u));
      if (K > 1u) {
        xs = slide(xs, x[row + min(ox0 + D * PX, W - 1u)]);
        mac(xs, subgroupBroadcast(v0, 4u), subgroupBroadcast(v0, 5u), subgroupBroadcast(v0, 6u), subgroupBroadcast(v0, 7u));
      }
      if (K > 2u) {
        xs = slide(xs, x[row + min(ox0 + D * (PX + 1u), W - 1u)]);
        mac(xs, subgroupBroadcast(v1, 0u), subgroupBroadcast(v1, 1u), subgroupBroadcast(v1, 2u), subgroupBroadcast(v1, 3u));
      }
      if (K > 3u) {
        xs = slide(xs, x[row + min(ox0 + D * (PX + 2u), W - 1u)]);
        mac(xs, subgroupBroadcast(v1, 4u), subgroupBroadcast(v1, 5u), subgroupBroadcast(v1, 6u), subgroupBroadcast(v1, 7u));
      }
    }
  }
  if (t0 >= total) { return; }
  store(n, co0, oy, ox0);
}

// ---- y as scalars (engine/ops/conv2d.ts keeps this block or the next, never both) ----
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn put(n: u32, co: u32, oy: u32, ox: u32, v: vec4f) {
  if (ox >= WO) { return; }
  let o = ((n * COUT + co) * HO + oy) * WO + ox;
  let plane = HO * WO;
  for (var j = 0u; j < 4u; j++) {
    if (co + j < COUT) { y[o + j * plane] = act(v[j] + b[co + j]); }
  }
}

fn store(n: u32, co0: u32, oy: u32, ox0: u32) {
  for (var p = 0u; p < PX; p++) {
    let ox = ox0 + p * D;
    var q0 = a00; var q1 = a01; var q2 = a02; var q3 = a03;
    if (p == 1u) { q0 = a10; q1 = a11; q2 = a12; q3 = a13; }
    if (p == 2u) { q0 = a20; q1 = a21; q2 = a22; q3 = a23; }
    if (p == 3u) { q0 = a30; q1 = a31; q2 = a32; q3 = a33; }
    put(n, co0, oy, ox, q0);
    put(n, co0 + 4u, oy, ox, q1);
    put(n, co0 + 8u, oy, ox, q2);
    put(n, co0 + 12u, oy, ox, q3);
  }
}

// ---- y as vec4s: where D = 1, PX = 4 and WO % 4 == 0 (the 4 pixels of an invocation are one aligned vec4 of a row) ----
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

// channels co .. co + 3 from their accumulators at pixels 0..3 (a{p}{g}, g fixed)
fn put4(o: u32, co: u32, p0: vec4f, p1: vec4f, p2: vec4f, p3: vec4f) {
  let plane = HO * WO;
  for (var j = 0u; j < 4u; j++) {
    if (co + j < COUT) { y[(o + j * plane) / 4u] = act4(vec4f(p0[j], p1[j], p2[j], p3[j]) + b[co + j]); }
  }
}

fn store(n: u32, co0: u32, oy: u32, ox0: u32) {
  let o = ((n * COUT + co0) * HO + oy) * WO + ox0;
  let plane = HO * WO;
  put4(o, co0, a00, a10, a20, a30);
  put4(o + 4u * plane, co0 + 4u, a01, a11, a21, a31);
  put4(o + 8u * plane, co0 + 8u, a02, a12, a22, a32);
  put4(o + 12u * plane, co0 + 12u, a03, a13, a23, a33);
}
// ---- end of y ----
