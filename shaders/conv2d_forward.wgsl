// 2-D convolution, forward: valid (no padding), stride 1, dilation D, bias and fused activation f.
//   y[n, co, oy, ox] = f( b[co] + sum_{ci, ky, kx} w[co, ci, ky, kx] * x[n, ci, oy + D*ky, ox + D*kx] )
//   HO = H - D*(K-1),  WO = W - D*(K-1);   f: 0 none, 1 tanh, 2 relu.
// Layout: x [N, CIN, H, W], w [COUT, CIN, K, K], b [COUT], y [N, COUT, HO, WO], all row-major float32.
// One invocation computes 4 consecutive output channels of one output pixel (register blocking:
// each input value is read once for 4 weights); 1-D launch over N * ceil(COUT/4) * HO * WO.
override N: u32;
override CIN: u32;
override H: u32;
override W: u32;
override COUT: u32;
override K: u32;
override D: u32;
override ACT: u32;
override WG: u32 = 64;
override HO: u32 = H - D * (K - 1u);
override WO: u32 = W - D * (K - 1u);

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn act(v: f32) -> f32 {
  if (ACT == 1u) { return tanh(v); }
  if (ACT == 2u) { return max(v, 0.0); }
  return v;
}

fn weight(co: u32, i: u32) -> f32 {   // i = (ci * K + ky) * K + kx
  if (co >= COUT) { return 0.0; }
  return w[co * CIN * K * K + i];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  let cob = (COUT + 3u) / 4u;
  if (t >= N * cob * HO * WO) { return; }
  let ox = t % WO;
  let oy = (t / WO) % HO;
  let co0 = ((t / (WO * HO)) % cob) * 4u;
  let n = t / (WO * HO * cob);
  var acc = vec4f(0.0);
  for (var ci = 0u; ci < CIN; ci++) {
    let xbase = ((n * CIN + ci) * H + oy) * W + ox;
    for (var ky = 0u; ky < K; ky++) {
      for (var kx = 0u; kx < K; kx++) {
        let v = x[xbase + D * (ky * W + kx)];
        let i = (ci * K + ky) * K + kx;
        acc += v * vec4f(weight(co0, i), weight(co0 + 1u, i), weight(co0 + 2u, i), weight(co0 + 3u, i));
      }
    }
  }
  for (var j = 0u; j < 4u; j++) {
    let co = co0 + j;
    if (co < COUT) { y[((n * COUT + co) * HO + oy) * WO + ox] = act(acc[j] + b[co]); }
  }
}
