// 2-D convolution, gradient with respect to the input (the "full" correlation with the kernel):
//   dx[n, ci, iy, ix] = sum_{co, ky, kx} g[n, co, iy - D*ky, ix - D*kx] * w[co, ci, ky, kx]
//   over the terms whose output position (iy - D*ky, ix - D*kx) lies inside [0, HO) x [0, WO).
// g is the gradient with respect to the convolution's pre-activation output (see activation_backward).
// Layout: g [N, COUT, HO, WO], w [COUT, CIN, K, K], dx [N, CIN, H, W]; HO = H - D*(K-1), WO likewise.
// One invocation per input element; 1-D launch over N * CIN * H * W.
override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;
override D: u32;
override WG: u32 = 64;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= N * CIN * H * W) { return; }
  let ix = i32(t % W);
  let iy = i32((t / W) % H);
  let ci = (t / (W * H)) % CIN;
  let n = t / (W * H * CIN);
  var acc = 0.0;
  for (var ky = 0u; ky < K; ky++) {
    let oy = iy - i32(D * ky);
    if (oy < 0 || oy >= i32(HO)) { continue; }
    for (var kx = 0u; kx < K; kx++) {
      let ox = ix - i32(D * kx);
      if (ox < 0 || ox >= i32(WO)) { continue; }
      for (var co = 0u; co < COUT; co++) {
        acc += g[((n * COUT + co) * HO + u32(oy)) * WO + u32(ox)] * w[((co * CIN + ci) * K + ky) * K + kx];
      }
    }
  }
  dx[t] = acc;
}
