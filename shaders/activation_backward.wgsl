// Backward pass of a fused activation, from the activation's OUTPUT y (no need to keep its input):
//   dz[i] = dy[i] * f'(z[i]),  with  tanh: f' = 1 - y^2,   relu: f' = (y > 0 ? 1 : 0),   none: f' = 1.
// Layout: y, dy, dz are flat float32 arrays of N elements (any shape). 1-D launch folded into x/y.
override N: u32;
override ACT: u32;        // 0 none, 1 tanh, 2 relu
override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) { return; }
  var d = dy[i];
  if (ACT == 1u) { d = d * (1.0 - y[i] * y[i]); }
  else if (ACT == 2u) { d = select(0.0, d, y[i] > 0.0); }
  dz[i] = d;
}
