// 2-D convolution, gradient with respect to the weights, for CPU adapters with subgroups: the math
// and layout of conv2d_backward_weight.wgsl (read its header first), a split-K matrix product
//   dw[co, j] = sum_p g[co, p] * col[j, p],   j = (ci, ky, kx),  p = (n, oy, ox),
//   g[co, p] = g[n, co, oy, ox],  col[j, p] = x[n, ci, oy + D*ky, ox + D*kx] (never stored),
// written as part [S, COUT, CIN*K*K] (split s of the positions; conv2d_backward_weight_sum adds them).
//
// One invocation computes 16 output channels (co0 = 16 * workgroup_id.z) x TJ columns j over split
// s = workgroup_id.y. A workgroup is 8 invocations, 8 neighbouring column tiles of one split (a
// subgroup never spans workgroups, so all its lanes share the split): at every position they need
// the same 16 values of g, so lanes 0..7 (subgroups of at least 8) load two each and
// subgroupBroadcast hands them round (2 loads per position instead of 16, on llvmpipe where every
// load is a gather one invocation at a time); each lane then loads its TJ values of x, and every x
// value feeds 16 multiply-adds. Tiles past the last compute a clamped copy and store nothing (every
// lane must reach the broadcasts), as do channels past COUT.
// Launch: [ceil(NJT / 8), S, ceil(COUT / 16)] workgroups of 8.
enable subgroups;

override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;
override D: u32;
override S: u32 = 1u;
override TJ: u32 = 4u;     // columns per invocation, 1..4
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);
override P: u32 = N * HO * WO;
override CHUNK: u32 = (P + S - 1u) / S;
override J: u32 = CIN * K * K;
override NJT: u32 = (J + TJ - 1u) / TJ;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;

// where column j reads x, relative to x[n, 0, oy, ox] (clamped to a valid column)
fn xoff(j: u32) -> u32 {
  let jj = min(j, J - 1u);
  let r = jj % (K * K);
  return (jj / (K * K)) * H * W + D * ((r / K) * W + r % K);
}

fn put(s: u32, co: u32, j: u32, v: vec4f) {
  if (j >= J) { return; }
  for (var c = 0u; c < 4u; c++) {
    if (co + c < COUT) { part[(s * COUT + co + c) * J + j] = v[c]; }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let jt = gid.x;
  let s = wid.y;
  let co0 = wid.z * 16u;
  let j0 = jt * TJ;
  let o0 = xoff(j0);
  let o1 = xoff(j0 + 1u);
  let o2 = xoff(j0 + 2u);
  let o3 = xoff(j0 + 3u);
  // the two channels of g this lane loads for the subgroup: co0 + lane % 8 and co0 + 8 + lane % 8
  let plane = HO * WO;
  let gc0 = min(co0 + lane % 8u, COUT - 1u) * plane;
  let gc1 = min(co0 + 8u + lane % 8u, COUT - 1u) * plane;
  // a{k}{q}: columns j0 + k, channels co0 + 4q .. + 3
  var a00 = vec4f(0.0); var a01 = vec4f(0.0); var a02 = vec4f(0.0); var a03 = vec4f(0.0);
  var a10 = vec4f(0.0); var a11 = vec4f(0.0); var a12 = vec4f(0.0); var a13 = vec4f(0.0);
  var a20 = vec4f(0.0); var a21 = vec4f(0.0); var a22 = vec4f(0.0); var a23 = vec4f(0.0);
  var a30 = vec4f(0.0); var a31 = vec4f(0.0); var a32 = vec4f(0.0); var a33 = vec4f(0.0);
  let p0 = s * CHUNK;
  let p1 = min(P, p0 + CHUNK);
  var n = p0 / plane;
  var oy = (p0 / WO) % HO;
  var ox = p0 % WO;
  for (var p = p0; p < p1; p++) {
    let gb = n * COUT * plane + oy * WO + ox;
    let xb = n * CIN * H * W + oy * W + ox;
    let u = g[gb + gc0];
    let v = g[gb + gc1];
    let g0 = vec4f(subgroupBroadcast(u, 0u), subgroupBroadcast(u, 1u), subgroupBroadcast(u, 2u), subgroupBroadcast(u, 3u));
    let g1 = vec4f(subgroupBroadcast(u, 4u), subgroupBroadcast(u, 5u), subgroupBroadcast(u, 6u), subgroupBroadcast(u, 7u));
    let g2 = vec4f(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u));
    let g3 = vec4f(subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
    let x0 = vec4f(x[xb + o0]);
    a00 = fma(x0, g0, a00); a01 = fma(x0, g1, a01); a02 = fma(x0, g2, a02); a03 = fma(x0, g3, a03);
    if (TJ > 1u) {
      let x1 = vec4f(x[xb + o1]);
      a10 = fma(x1, g0, a10); a11 = fma(x1, g1, a11); a12 = fma(x1, g2, a12); a13 = fma(x1, g3, a13);
    }
    if (TJ > 2u) {
      let x2 = vec4f(x[xb + o2]);
      a20 = fma(x2, g0, a20); a21 = fma(x2, g1, a21); a22 = fma(x2, g2, a22); a23 = fma(x2, g3, a23);
    }
    if (TJ > 3u) {
      let x3 = vec4f(x[xb + o3]);
      a30 = fma(x3, g0, a30); a31 = fma(x3, g1, a31); a32 = fma(x3, g2, a32); a33 = fma(x3, g3, a33);
    }
    ox++;
    if (ox == WO) {
      ox = 0u;
      oy++;
      if (oy == HO) { oy = 0u; n++; }
    }
  }
  if (jt >= NJT) { return; }
  put(s, co0, j0, a00); put(s, co0 + 4u, j0, a01); put(s, co0 + 8u, j0, a02); put(s, co0 + 12u, j0, a03);
  if (TJ > 1u) { put(s, co0, j0 + 1u, a10); put(s, co0 + 4u, j0 + 1u, a11); put(s, co0 + 8u, j0 + 1u, a12); put(s, co0 + 12u, j0 + 1u, a13); }
  if (TJ > 2u) { put(s, co0, j0 + 2u, a20); put(s, co0 + 4u, j0 + 2u, a21); put(s, co0 + 8u, j0 + 2u, a22); put(s, co0 + 12u, j0 + 2u, a23); }
  if (TJ > 3u) { put(s, co0, j0 + 3u, a30); put(s, co0 + 4u, j0 + 3u, a31); put(s, co0 + 8u, j0 + 3u, a32); put(s, co0 + 12u, j0 + 3u, a33); }
}
