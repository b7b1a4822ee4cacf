// Max-pooling, backward, as a gather (no atomics, deterministic even with overlapping windows):
//   dx[i] = sum of dy[n, c, oy, ox] over the windows (oy, ox) that contain input element i AND
//           whose argmax is i.
// Input element (iy, ix) lies in window (oy, ox) when iy = S*oy + D*ky and ix = S*ox + D*kx for
// some ky, kx < K, so each invocation checks at most K*K windows.
// Non-overlapping windows (S = K, D = 1, training's pooling) are the common case: there element i
// lies in exactly one window, (iy / K, ix / K), and the host launches one invocation per K x K cell
// instead (CELLS): it reads the window's argmax and dy once and writes all K*K elements of dx, dy
// (times f') at the argmax and 0 elsewhere (cells past the last whole window, when K does not divide
// H or W, hold elements no window covers: all 0). On a CPU adapter every load is a gather, so
// reading each window once instead of once per element counts (2.6-3.9x on lavapipe at DNN1's shapes).
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
override CELLS: bool = false;   // one invocation per K x K cell (only with S = K, D = 1)
override WG: u32 = 64;
override HO: u32 = (H - D * (K - 1u) - 1u) / S + 1u;
override WO: u32 = (W - D * (K - 1u) - 1u) / S + 1u;
override CH: u32 = (H + K - 1u) / K;   // cells per column and row (CELLS)
override CW: u32 = (W + K - 1u) / K;

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;   // read only when ACT != 0 (otherwise any buffer)

// f'(z) from the activation's output v (see the header)
fn derivative(v: f32) -> f32 {
  if (ACT == 1u) { return 1.0 - v * v; }
  if (ACT == 2u) { return select(0.0, 1.0, v > 0.0); }
  return 1.0;
}

// CELLS: the K x K cell (cy, cx) of plane nc
fn cell(c: u32) {
  let cx = c % CW;
  let cy = (c / CW) % CH;
  let nc = c / (CW * CH);
  var at = 0xffffffffu;   // no element of a cell without a window matches
  var g = 0.0;
  if (cy < HO && cx < WO) {
    let o = (nc * HO + cy) * WO + cx;
    at = argmax[o];
    g = dy[o];
    if (ACT != 0u) { g *= derivative(x[at]); }
  }
  for (var ky = 0u; ky < K; ky++) {
    let iy = cy * K + ky;
    if (iy >= H) { break; }
    for (var kx = 0u; kx < K; kx++) {
      let ix = cx * K + kx;
      if (ix >= W) { break; }
      let i = (nc * H + iy) * W + ix;
      dx[i] = select(0.0, g, i == at);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (CELLS) {
    if (t < NC * CH * CW) { cell(t); }
    return;
  }
  if (t >= NC * H * W) { return; }
  let ix = t % W;
  let iy = (t / W) % H;
  let nc = t / (W * H);
  var acc = 0.0;
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
  if (ACT != 0u) { acc *= derivative(x[t]); }
  dx[t] = acc;
}
