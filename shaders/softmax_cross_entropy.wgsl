// Softmax cross-entropy of each row n < N of logits z [N, C] against a class label y[n] < C:
//   m = max_c z[n, c],   s = sum_c exp(z[n, c] - m),   lse = m + log(s)   (= log sum_c exp z[n, c])
//   probs[n, c] = exp(z[n, c] - m) / s
//   loss[n]     = -log probs[n, y[n]] = lse - z[n, y[n]]     (never log(0), even for logits of 1e4)
//   grad[n, c]  = (probs[n, c] - [c == y[n]]) / N            (gradient of the MEAN loss over the N rows)
// A label >= C gives loss NaN and a NaN gradient row, so that it cannot pass unnoticed.
// Layout: z, probs, grad float32 [N, C] row-major; labels uint32 [N]; loss float32 [N].
// One invocation per row (C is a number of classes: small); rows folded into workgroups x and y.
override N: u32;
override C: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= N) { return; }
  let base = n * C;
  let y = labels[n];
  var m = z[base];
  for (var c = 1u; c < C; c++) { m = max(m, z[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < C; c++) { s += exp(z[base + c] - m); }
  let inv = 1.0 / s;
  let invN = 1.0 / f32(N);
  let bad = y >= C;
  let nan = bitcast<f32>(0x7fc00000u + (y & 0u));   // a quiet NaN, built at run time (not a constant)
  let zy = z[base + min(y, C - 1u)];
  loss[n] = select((m + log(s)) - zy, nan, bad);
  for (var c = 0u; c < C; c++) {
    let pc = exp(z[base + c] - m) * inv;
    probs[base + c] = pc;
    grad[base + c] = select((pc - select(0.0, 1.0, c == y)) * invN, nan, bad);
  }
}

