// Second pass of conv2d_backward_weight: dw[i] = sum_{s < S} part[s, i], added in order s = 0, 1, ...
// (deterministic). Layout: part [S, M] (M = COUT*CIN*K*K), dw [M]; one invocation per weight.
override M: u32;
override S: u32;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= M) { return; }
  var acc = 0.0;
  for (var s = 0u; s < S; s++) { acc += part[s * M + i]; }
  dw[i] = acc;
}
