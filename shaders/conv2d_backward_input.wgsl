// 2-D convolution, gradient with respect to the input (the "full" correlation with the kernel):
//   dx[n, ci, iy, ix] = sum_{co, ky, kx} g[n, co, iy - D*ky, ix - D*kx] * w[co, ci, ky, kx]
//   over the terms whose output position (iy - D*ky, ix - D*kx) lies inside [0, HO) x [0, WO).
// g is the gradient with respect to the convolution's pre-activation output (see activation_backward).
// Layout: g [N, COUT, HO, WO], w [COUT, CIN, K, K], dx [N, CIN, H, W]; HO = H - D*(K-1), WO likewise.
// One invocation per input pixel and group of 4 input channels (each g value read once serves 4
// channels, as conv2d_forward does for 4 output maps); 1-D launch over N * ceil(CIN/4) * H * W.
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
override CIG: u32 = (CIN + 3u) / 4u;

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= N * CIG * H * W) { return; }
  let ix = i32(t % W);
  let iy = i32((t / W) % H);
  let c0 = ((t / (W * H)) % CIG) * 4u;
  let n = t / (W * H * CIG);
  // channels past CIN (the last group) read channel CIN-1's weights and are not written
  let KK = K * K;
  let c1 = min(c0 + 1u, CIN - 1u);
  let c2 = min(c0 + 2u, CIN - 1u);
  let c3 = min(c0 + 3u, CIN - 1u);
  var acc = vec4f(0.0);
  let gn = n * COUT * HO * WO;
  for (var ky = 0u; ky < K; ky++) {
    let oy = iy - i32(D * ky);
    for (var kx = 0u; kx < K; kx++) {
      let ox = ix - i32(D * kx);
      // out-of-range terms read g[0] and weigh it by 0: no branch inside the channel loop
      let inside = oy >= 0 && oy < i32(HO) && ox >= 0 && ox < i32(WO);
      let m = select(0.0, 1.0, inside);
      var gi = select(0u, gn + u32(oy) * WO + u32(ox), inside);
      var wi = (ky * K + kx);
      for (var co = 0u; co < COUT; co++) {
        let gv = m * g[gi];
        acc += gv * vec4f(w[wi + c0 * KK], w[wi + c1 * KK], w[wi + c2 * KK], w[wi + c3 * KK]);
        gi += select(0u, HO * WO, inside);
        wi += CIN * KK;
      }
    }
  }
  let plane = H * W;
  let o = (n * CIN + c0) * plane + u32(iy) * W + u32(ix);
  dx[o] = acc.x;
  if (c0 + 1u < CIN) { dx[o + plane] = acc.y; }
  if (c0 + 2u < CIN) { dx[o + 2u * plane] = acc.z; }
  if (c0 + 3u < CIN) { dx[o + 3u * plane] = acc.w; }
}
