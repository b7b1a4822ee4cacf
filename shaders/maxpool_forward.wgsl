// Max-pooling, forward: K x K window, stride S, dilation D, keeping where the maximum came from.
//   y[n, c, oy, ox] = max_{ky, kx < K} x[n, c, S*oy + D*ky, S*ox + D*kx]
//   argmax[n, c, oy, ox] = flat index into x of that maximum (the first one in ky, kx order on ties)
//   HO = (H - D*(K-1) - 1) / S + 1 (integer division), WO likewise.
// The paper's layers are K = S = 2, D = 1; dense "a trous" evaluation uses S = 1 with D = 1, 2, 4, ...
// Layout: x [N, C, H, W] -> y, argmax [N, C, HO, WO] (argmax as u32). 1-D launch over N*C*HO*WO.
// ARGMAX = false (inference: nothing goes backward) skips the argmax store; the binding is then a
// placeholder that is never written.
override NC: u32;
override H: u32;
override W: u32;
override K: u32;
override S: u32;
override D: u32;
override ARGMAX: bool = true;
override WG: u32 = 64;
override HO: u32 = (H - D * (K - 1u) - 1u) / S + 1u;
override WO: u32 = (W - D * (K - 1u) - 1u) / S + 1u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= NC * HO * WO) { return; }
  let ox = t % WO;
  let oy = (t / WO) % HO;
  let nc = t / (WO * HO);
  let base = nc * H * W + (S * oy) * W + S * ox;
  var best = x[base];
  var at = base;
  for (var ky = 0u; ky < K; ky++) {
    for (var kx = 0u; kx < K; kx++) {
      let i = base + D * (ky * W + kx);
      let v = x[i];
      if (v > best) { best = v; at = i; }
    }
  }
  y[t] = best;
  if (ARGMAX) { argmax[t] = at; }
}
