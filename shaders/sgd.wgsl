// One step of SGD with momentum and (L2) weight decay, in place, for each i < N:
//   v[i] = mu * v[i] - lr * (g[i] + wd * w[i]);     w[i] = w[i] + v[i]
// (weight decay adds wd * w to the gradient before the momentum update, as in Caffe/PyTorch).
// Layout: w, g, v flat float32 [N]; params (uniform, changes between steps): lr, mu, wd.
// 1-D launch folded into workgroups x and y.
override N: u32;
override WG: u32 = 256;

struct Params { lr: f32, momentum: f32, weight_decay: f32, pad: f32 }

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) { return; }
  let wi = w[i];
  let vi = params.momentum * v[i] - params.lr * (g[i] + params.weight_decay * wi);
  v[i] = vi;
  w[i] = wi + vi;
}
