// Max-pooling, forward: K x K window, stride S, dilation D, keeping where the maximum came from.
//   y[n, c, oy, ox] = max_{ky, kx < K} x[n, c, S*oy + D*ky, S*ox + D*kx]
//   argmax[n, c, oy, ox] = flat index into x of that maximum (the first one in ky, kx order on ties)
//   HO = (H - D*(K-1) - 1) / S + 1 (integer division), WO likewise.
// The paper's layers are K = S = 2, D = 1; dense "a trous" evaluation uses S = 1 with D = 1, 2, 4, ...
// Layout: x [N, C, H, W] -> y, argmax [N, C, HO, WO] (argmax as u32). 1-D launch over N*C*HO*WO.
// ARGMAX = false (inference: nothing goes backward) skips the argmax store; the binding is then a
// placeholder that is never written.
// BLOCKS (inference, 2x2 windows, stride 1: the dense detection path): one invocation computes the
// 2x2 outputs (oy0 + D*i, ox0 + D*j), i, j < 2, whose windows overlap on a 3x3 grid of inputs D
// apart, so it reads 9 values for 4 outputs instead of 16 (on a CPU adapter every read is a
// gather). Blocks are cut from the D residue classes of rows and columns (as conv2d_forward's pixels):
// row block rb holds rows rb % D + D * (2 * (rb / D) + i). 1-D launch over N*C*(D*QH)*(D*QW).
override NC: u32;
override H: u32;
override W: u32;
override K: u32;
override S: u32;
override D: u32;
override ARGMAX: bool = true;
override BLOCKS: bool = false;   // 2x2 output blocks (only with K = 2, S = 1, no argmax)
override WG: u32 = 64;
override HO: u32 = (H - D * (K - 1u) - 1u) / S + 1u;
override WO: u32 = (W - D * (K - 1u) - 1u) / S + 1u;
override QH: u32 = ((HO + D - 1u) / D + 1u) / 2u;   // BLOCKS: row (column) blocks per residue class
override QW: u32 = ((WO + D - 1u) / D + 1u) / 2u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;

// BLOCKS: the 2x2 outputs of block t (see the header)
fn block(t: u32) {
  let cb = t % (D * QW);
  let rb = (t / (D * QW)) % (D * QH);
  let nc = t / (D * QW * D * QH);
  let oy0 = rb % D + 2u * D * (rb / D);
  let ox0 = cb % D + 2u * D * (cb / D);
  // the 3x3 inputs, clamped inside the map (a clamped value only feeds outputs that are not stored)
  let plane = nc * H * W;
  let r0 = plane + min(oy0, H - 1u) * W;
  let r1 = plane + min(oy0 + D, H - 1u) * W;
  let r2 = plane + min(oy0 + 2u * D, H - 1u) * W;
  let c0 = min(ox0, W - 1u);
  let c1 = min(ox0 + D, W - 1u);
  let c2 = min(ox0 + 2u * D, W - 1u);
  let v00 = x[r0 + c0]; let v01 = x[r0 + c1]; let v02 = x[r0 + c2];
  let v10 = x[r1 + c0]; let v11 = x[r1 + c1]; let v12 = x[r1 + c2];
  let v20 = x[r2 + c0]; let v21 = x[r2 + c1]; let v22 = x[r2 + c2];
  // column pairs first: m{a}{j} = max of row a at columns j, j + 1
  let m00 = max(v00, v01); let m01 = max(v01, v02);
  let m10 = max(v10, v11); let m11 = max(v11, v12);
  let m20 = max(v20, v21); let m21 = max(v21, v22);
  let o = nc * HO * WO;
  let xok1 = ox0 + D < WO;
  if (oy0 < HO && ox0 < WO) {
    y[o + oy0 * WO + ox0] = max(m00, m10);
    if (xok1) { y[o + oy0 * WO + ox0 + D] = max(m01, m11); }
  }
  if (oy0 + D < HO && ox0 < WO) {
    y[o + (oy0 + D) * WO + ox0] = max(m10, m20);
    if (xok1) { y[o + (oy0 + D) * WO + ox0 + D] = max(m11, m21); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (BLOCKS) {
    if (t < NC * D * QH * D * QW) { block(t); }
    return;
  }
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
