// Row-wise softmax, numerically stable:  p[n, c] = exp(z[n, c] - m_n) / sum_c' exp(z[n, c'] - m_n),
// m_n = max_c z[n, c] (so every exponent is <= 0 and nothing overflows, even for logits of 1e4).
// Layout: z, p float32 [N, C], row-major. One invocation per row (C is a number of classes: small);
// rows folded into workgroups x and y.
override N: u32;
override C: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= N) { return; }
  let base = n * C;
  var m = z[base];
  for (var c = 1u; c < C; c++) { m = max(m, z[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < C; c++) { s += exp(z[base + c] - m); }
  let inv = 1.0 / s;
  for (var c = 0u; c < C; c++) { p[base + c] = exp(z[base + c] - m) * inv; }
}
