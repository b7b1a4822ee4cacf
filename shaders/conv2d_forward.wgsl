// 2-D convolution, forward: valid (no padding), stride 1, dilation D, bias and fused activation f.
//   y[n, co, oy, ox] = f( b[co] + sum_{ci, ky, kx} w[co, ci, ky, kx] * x[n, ci, oy + D*ky, ox + D*kx] )
//   HO = H - D*(K-1),  WO = W - D*(K-1);   f: 0 none, 1 tanh, 2 relu.
// Layout: x [N, CIN, H, W], b [COUT], y [N, COUT, HO, WO], all row-major float32; the weights
// [COUT, CIN, K, K] come repacked by conv2d_pack_weights as w[(ci*K*K + ky*K + kx) * CP + co]
// (output channel innermost, zero-padded to CP, a multiple of CB), read as vec4s.
//
// Register blocking: one invocation computes CB = 4*CG output channels (CG vec4s, CG <= 4) for PX
// output pixels of one row, D apart (PX <= 4): PX*CG vec4 accumulators a{p}{g} in registers
// (written out by hand: arrays indexed in loops may live in memory on some drivers). The channel
// block is workgroup_id.z (channels co0 = CB * wid.z ..), so every weight address depends only on
// the workgroup and loop counters: all invocations of a workgroup read the same weights (a cached
// uniform read on a GPU; see below for CPU drivers), and each x value an invocation
// loads feeds CB multiply-adds. The PX pixels of an invocation sit D apart in their output row
// (columns ox0, ox0 + D, ..): pixel p + 1 then reads at tap kx what pixel p reads at tap kx + 1, so
// the window slides along the kernel row, one new input value per kx step (PX + K - 1 loads per
// kernel row instead of PX * K). A row's pixels are thus split into D residue classes mod D, each
// cut into blocks of PX: block (r, q) holds columns r + D * (PX * q + p). Edges: pixel and channel
// indices are clamped (no test in the loops) and only real outputs are stored.
// The packed weights sit in a 64 KiB uniform buffer, which a GPU serves from its constant cache.
// llvmpipe (Mesa 25.0) still loads them once per invocation inside the loops, but from a uniform
// buffer as a plain gather (~25 instructions for 8 lanes) where a storage load is a bounds-checked,
// branching load per lane (~90): 1.1-1.5x faster (docs/PERFORMANCE.md). CPU adapters with
// subgroups run conv2d_forward_subgroup.wgsl, which shares them through the subgroup instead.
// Layers whose packed weights exceed 64 KiB get this one declaration rewritten to a storage
// binding (engine/ops/conv2d.ts).
// Launch: x/y fold N * HO * D * ceil(ceil(WO / D) / PX) invocations (engine/dispatch.ts grid1d), z = ceil(COUT / CB).
override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;
override D: u32;
override ACT: u32;
override CG: u32 = 2u;    // vec4 groups of output channels per invocation, 1..4
override PX: u32 = 2u;    // output pixels per invocation, 1..4
override WG: u32 = 64u;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);
override CB: u32 = 4u * CG;
override CP: u32 = (COUT + CB - 1u) / CB * CB;   // output channels padded to whole blocks
override QB: u32 = ((WO + D - 1u) / D + PX - 1u) / PX;   // pixel blocks per residue class
override WXB: u32 = D * QB;   // pixel blocks per output row

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<uniform> w: array<vec4f, 4096>;   // packed weights (see header)
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// tanh from one exp, exact to ~1e-7: (1 - e^-2|v|) / (1 + e^-2|v|) never overflows, and costs half the built-in's usual (e^v - e^-v) / (e^v + e^-v) on CPU adapters
fn act(v: f32) -> f32 {
  if (ACT == 1u) { let t = exp(-2.0 * abs(v)); return sign(v) * (1.0 - t) / (1.0 + t); }
  if (ACT == 2u) { return max(v, 0.0); }
  return v;
}

// weights of output channels co0 + 4g .. co0 + 4g + 3 at i = (ci*K + ky)*K + kx (w packed, see header)
fn wvec(co0: u32, g: u32, i: u32) -> vec4f {
  return w[(i * CP + co0) / 4u + g];
}

fn put(n: u32, co: u32, oy: u32, ox: u32, v: vec4f) {
  if (ox >= WO) { return; }
  let o = ((n * COUT + co) * HO + oy) * WO + ox;
  let plane = HO * WO;
  for (var j = 0u; j < 4u; j++) {
    if (co + j < COUT) { y[o + j * plane] = act(v[j] + b[co + j]); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let total = N * HO * WXB;
  let t0 = gid.x + gid.y * nwg.x * WG;
  let t = min(t0, total - 1u);
  // residue r fastest: neighbouring invocations read neighbouring columns
  let ox0 = t % D + D * PX * ((t / D) % QB);
  let oy = (t / WXB) % HO;
  let n = t / (WXB * HO);
  let co0 = wid.z * CB;
  var a00 = vec4f(0.0);
  var a01 = vec4f(0.0);
  var a02 = vec4f(0.0);
  var a03 = vec4f(0.0);
  var a10 = vec4f(0.0);
  var a11 = vec4f(0.0);
  var a12 = vec4f(0.0);
  var a13 = vec4f(0.0);
  var a20 = vec4f(0.0);
  var a21 = vec4f(0.0);
  var a22 = vec4f(0.0);
  var a23 = vec4f(0.0);
  var a30 = vec4f(0.0);
  var a31 = vec4f(0.0);
  var a32 = vec4f(0.0);
  var a33 = vec4f(0.0);
  let xn = n * CIN * H * W + oy * W;
  // The PX input columns read at kx = 0, clamped at W - 1: a stored pixel's taps never reach
  // past it (ox + D*(K-1) <= W - 1), so the clamp only touches outputs that are not stored.
  let c0 = min(ox0, W - 1u);
  let c1 = min(ox0 + D, W - 1u);
  let c2 = min(ox0 + 2u * D, W - 1u);
  let c3 = min(ox0 + 3u * D, W - 1u);
  for (var ci = 0u; ci < CIN; ci++) {
    for (var ky = 0u; ky < K; ky++) {
      let row = xn + (ci * H + D * ky) * W;
      var x0 = 0.0; var x1 = 0.0; var x2 = 0.0; var x3 = 0.0;
      for (var kx = 0u; kx < K; kx++) {
        if (kx > 0u) {
          // slide: pixel p at tap kx reads what pixel p+1 read at tap kx-1
          let v = x[row + min(ox0 + D * (PX - 1u + kx), W - 1u)];
          if (PX == 1u) { x0 = v; }
          if (PX == 2u) { x0 = x1; x1 = v; }
          if (PX == 3u) { x0 = x1; x1 = x2; x2 = v; }
          if (PX == 4u) { x0 = x1; x1 = x2; x2 = x3; x3 = v; }
        } else {
          x0 = x[row + c0];
          if (PX > 1u) { x1 = x[row + c1]; }
          if (PX > 2u) { x2 = x[row + c2]; }
          if (PX > 3u) { x3 = x[row + c3]; }
        }
        let wi = (ci * K + ky) * K + kx;
        let w0 = wvec(co0, 0u, wi);
        var w1 = vec4f(0.0); if (CG > 1u) { w1 = wvec(co0, 1u, wi); }
        var w2 = vec4f(0.0); if (CG > 2u) { w2 = wvec(co0, 2u, wi); }
        var w3 = vec4f(0.0); if (CG > 3u) { w3 = wvec(co0, 3u, wi); }
        a00 = fma(vec4f(x0), w0, a00);
        if (CG > 1u) { a01 = fma(vec4f(x0), w1, a01); }
        if (CG > 2u) { a02 = fma(vec4f(x0), w2, a02); }
        if (CG > 3u) { a03 = fma(vec4f(x0), w3, a03); }
        if (PX > 1u) { a10 = fma(vec4f(x1), w0, a10); }
        if (PX > 1u && CG > 1u) { a11 = fma(vec4f(x1), w1, a11); }
        if (PX > 1u && CG > 2u) { a12 = fma(vec4f(x1), w2, a12); }
        if (PX > 1u && CG > 3u) { a13 = fma(vec4f(x1), w3, a13); }
        if (PX > 2u) { a20 = fma(vec4f(x2), w0, a20); }
        if (PX > 2u && CG > 1u) { a21 = fma(vec4f(x2), w1, a21); }
        if (PX > 2u && CG > 2u) { a22 = fma(vec4f(x2), w2, a22); }
        if (PX > 2u && CG > 3u) { a23 = fma(vec4f(x2), w3, a23); }
        if (PX > 3u) { a30 = fma(vec4f(x3), w0, a30); }
        if (PX > 3u && CG > 1u) { a31 = fma(vec4f(x3), w1, a31); }
        if (PX > 3u && CG > 2u) { a32 = fma(vec4f(x3), w2, a32); }
        if (PX > 3u && CG > 3u) { a33 = fma(vec4f(x3), w3, a33); }
      }
    }
  }
  if (t0 >= total) { return; }
  put(n, co0 + 0u, oy, ox0, a00);
  if (CG > 1u) { put(n, co0 + 4u, oy, ox0, a01); }
  if (CG > 2u) { put(n, co0 + 8u, oy, ox0, a02); }
  if (CG > 3u) { put(n, co0 + 12u, oy, ox0, a03); }
  if (PX > 1u) { put(n, co0 + 0u, oy, ox0 + D, a10); }
  if (PX > 1u && CG > 1u) { put(n, co0 + 4u, oy, ox0 + D, a11); }
  if (PX > 1u && CG > 2u) { put(n, co0 + 8u, oy, ox0 + D, a12); }
  if (PX > 1u && CG > 3u) { put(n, co0 + 12u, oy, ox0 + D, a13); }
  if (PX > 2u) { put(n, co0 + 0u, oy, ox0 + 2u * D, a20); }
  if (PX > 2u && CG > 1u) { put(n, co0 + 4u, oy, ox0 + 2u * D, a21); }
  if (PX > 2u && CG > 2u) { put(n, co0 + 8u, oy, ox0 + 2u * D, a22); }
  if (PX > 2u && CG > 3u) { put(n, co0 + 12u, oy, ox0 + 2u * D, a23); }
  if (PX > 3u) { put(n, co0 + 0u, oy, ox0 + 3u * D, a30); }
  if (PX > 3u && CG > 1u) { put(n, co0 + 4u, oy, ox0 + 3u * D, a31); }
  if (PX > 3u && CG > 2u) { put(n, co0 + 8u, oy, ox0 + 3u * D, a32); }
  if (PX > 3u && CG > 3u) { put(n, co0 + 12u, oy, ox0 + 3u * D, a33); }
}
