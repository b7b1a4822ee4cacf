// Blue ratio of RGB pixels (Chang et al.; used to segment nuclei in H&E images):
//   BR = (100 * B / (1 + R + G)) * (256 / (1 + R + G + B)),   R, G, B in 0..255
// MASK = 0: out = BR;  MASK = 1: out = (BR > t) ? 1 : 0, t = params.x (the caller passes the
// largest float32 <= its threshold, so that the float32 comparison equals the exact one).
// Layout: rgb = float32 [N, 3, H, W] (planes R, G, B per image), out = float32 [N, H, W];
// HW = H*W. 1-D launch over N*HW folded into x/y.
override N: u32;
override HW: u32;
override MASK: u32;
override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> rgb: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: vec4f;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= N * HW) { return; }
  let n = t / HW;
  let q = t % HW;
  let base = n * 3u * HW + q;
  let r = rgb[base];
  let g = rgb[base + HW];
  let b = rgb[base + 2u * HW];
  let br = (100.0 * b / (1.0 + r + g)) * (256.0 / (1.0 + r + g + b));
  if (MASK == 0u) {
    out[t] = br;
  } else {
    out[t] = select(0.0, 1.0, br > params.x);
  }
}
