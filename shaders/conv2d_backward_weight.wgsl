// 2-D convolution, gradient with respect to the weights:
//   dw[co, ci, ky, kx] = sum_{n, oy, ox} g[n, co, oy, ox] * x[n, ci, oy + D*ky, ox + D*kx]
// Layout: x [N, CIN, H, W], g [N, COUT, HO, WO] (gradient of the pre-activation), dw [COUT, CIN, K, K].
// One workgroup per (co, ci) pair (workgroup id = co * CIN + ci): its 256 invocations stride over the
// N*HO*WO output positions, each keeping K*K partial sums in registers (K*K <= 64), then the partial
// sums are added by a tree in workgroup memory, one weight at a time. No atomics: deterministic.
override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;
override D: u32;
const WG = 256u;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let co = wid.x / CIN;
  let ci = wid.x % CIN;
  var acc: array<f32, 64>;
  for (var k = 0u; k < 64u; k++) { acc[k] = 0.0; }
  let total = N * HO * WO;
  for (var p = lid; p < total; p += WG) {
    let ox = p % WO;
    let oy = (p / WO) % HO;
    let n = p / (WO * HO);
    let gv = g[((n * COUT + co) * HO + oy) * WO + ox];
    let xbase = ((n * CIN + ci) * H + oy) * W + ox;
    for (var ky = 0u; ky < K; ky++) {
      for (var kx = 0u; kx < K; kx++) {
        acc[ky * K + kx] += gv * x[xbase + D * (ky * W + kx)];
      }
    }
  }
  for (var k = 0u; k < K * K; k++) {
    partial[lid] = acc[k];
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) { partial[lid] += partial[lid + s]; }
      workgroupBarrier();
    }
    if (lid == 0u) { dw[(co * CIN + ci) * K * K + k] = partial[0]; }
    workgroupBarrier();
  }
}
