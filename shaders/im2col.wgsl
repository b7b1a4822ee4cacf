// Image to columns (the "im2col" of Chellapilla et al. 2006), so that a convolution becomes one
// matrix product: for one image x [CIN, H, W] (row-major float32), kernel K x K, dilation D,
//   cols[r, p] = x[ci, oy + D*ky, ox + D*kx],   r = (ci*K + ky)*K + kx,  p = oy*WO + ox,
//   HO = H - D*(K-1), WO = W - D*(K-1);  cols is [CIN*K*K, HO*WO] row-major.
// Then conv(x, w)[co, p] = sum_r w[co, r] cols[r, p], with w [COUT, CIN, K, K] read as [COUT, CIN*K*K]
// (engine/ops/conv2d.ts uses it where the product is cheaper than the direct kernel).
// 1-D launch over CIN*K*K*HO*WO elements (engine/dispatch.ts grid1d), one element each: consecutive
// invocations write consecutive p and read consecutive x.
override CIN: u32;
override H: u32;
override W: u32;
override K: u32;
override D: u32;
override WG: u32 = 64u;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let P = HO * WO;
  if (i >= CIN * K * K * P) { return; }
  let p = i % P;
  let r = i / P;
  let kx = r % K;
  let ky = (r / K) % K;
  let ci = r / (K * K);
  let oy = p / WO;
  let ox = p % WO;
  cols[i] = x[(ci * H + oy + D * ky) * W + ox + D * kx];
}
