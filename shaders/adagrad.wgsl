// One step of Adagrad, in place, for each i < N (weight decay is part of the gradient, as in Caffe's
// AdaGrad solver, which the tutorial pipeline uses, and in PyTorch's torch.optim.Adagrad):
//   q    = g[i] + wd * w[i]
//   h[i] = h[i] + q^2
//   w[i] = w[i] - lr * q / (sqrt(h[i]) + eps)
// Layout: w, g, h flat float32 [N]; params (uniform, changes between steps): lr, eps, wd.
// 1-D launch folded into workgroups x and y.
override N: u32;
override WG: u32 = 256;

struct Params { lr: f32, eps: f32, weight_decay: f32, pad: f32 }

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) { return; }
  let gi = g[i];
  let wi = w[i];
  let q = gi + params.weight_decay * wi;
  let hi = h[i] + q * q;
  h[i] = hi;
  w[i] = wi - params.lr * q / (sqrt(hi) + params.eps);
}
