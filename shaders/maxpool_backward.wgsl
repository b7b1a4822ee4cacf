// Max-pooling, backward, as a gather (no atomics, deterministic even with overlapping windows):
//   dx[i] = sum of dy[n, c, oy, ox] over the windows (oy, ox) that contain input element i AND
//           whose argmax is i.
// Input element (iy, ix) lies in window (oy, ox) when iy = S*oy + D*ky and ix = S*ox + D*kx for
// some ky, kx < K, so each invocation checks at most K*K windows.
// Non-overlapping windows (S = K, D = 1, training's pooling) are the common case: there element i
// lies in exactly one window, (iy / K, ix / K), and one test replaces the K*K divisibility tests.
// Fused activation backward (ACT != 0): when x is the output of an activation f (a conv layer's
// tanh), dx[i] *= f'(z[i]) computed from x[i] itself (tanh: 1 - x^2, relu: x > 0), so the conv
// layer below receives the gradient of its pre-activation and no separate pass is needed.
// Layout: dy, argmax [N, C, HO, WO] (argmax: u32 flat index into x), x and dx [N, C, H, W].
override NC: u32;
override H: u32;
override W: u32;
override K: u32;
override S: u32;
override D: u32;
override ACT: u32 = 0u;   // 0 none, 1 tanh, 2 relu: the activation whose output x is
override WG: u32 = 64;
override HO: u32 = (H - D * (K - 1u) - 1u) / S + 1u;
override WO: u32 = (W - D * (K - 1u) - 1u) / S + 1u;

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;   // read only when ACT != 0 (otherwise any buffer)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= NC * H * W) { return; }
  let ix = t % W;
  let iy = (t / W) % H;
  let nc = t / (W * H);
  var acc = 0.0;
  if (S == K && D == 1u) {
    let oy = iy / K;
    let ox = ix / K;
    if (oy < HO && ox < WO) {
      let o = (nc * HO + oy) * WO + ox;
      if (argmax[o] == t) { acc = dy[o]; }
    }
  } else {
  for (var ky = 0u; ky < K; ky++) {
    if (iy < D * ky || (iy - D * ky) % S != 0u) { continue; }
    let oy = (iy - D * ky) / S;
    if (oy >= HO) { continue; }
    for (var kx = 0u; kx < K; kx++) {
      if (ix < D * kx || (ix - D * kx) % S != 0u) { continue; }
      let ox = (ix - D * kx) / S;
      if (ox >= WO) { continue; }
      let o = (nc * HO + oy) * WO + ox;
      if (argmax[o] == t) { acc += dy[o]; }
    }
  }
  }
  if (ACT == 1u) { acc *= 1.0 - x[t] * x[t]; }
  if (ACT == 2u) { acc = select(0.0, acc, x[t] > 0.0); }
  dx[t] = acc;
}
