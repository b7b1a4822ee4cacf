// Throughput ceiling, arithmetic: every invocation runs ITER steps of 8 independent multiply-add
// chains a_j = fma(a_j, m, c) held in registers (no memory traffic), then stores their sum once.
// FLOPs = invocations * ITER * 8 * 2. Layout: out [invocations] (one float each, to keep the work).
// 8 chains per invocation hide the FMA latency of a CPU lane and of a GPU thread alike.
override ITER: u32 = 1024u;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let s = f32(i) * 1e-9;
  let m = 0.999999 + s;
  let c = 1e-7 - s;
  var a = vec4f(s, s + 0.1, s + 0.2, s + 0.3);
  var b = vec4f(s + 0.4, s + 0.5, s + 0.6, s + 0.7);
  for (var t = 0u; t < ITER; t++) {
    a = fma(a, vec4f(m), vec4f(c));
    b = fma(b, vec4f(m), vec4f(c));
  }
  out[i] = dot(a + b, vec4f(1.0));
}
