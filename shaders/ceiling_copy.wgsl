// Throughput ceiling, memory: y[i] = x[i] as vec4s (bytes moved = 2 * 16 * COUNT).
// Layout: x, y [COUNT] vec4f; 1-D launch folded into x and y (see engine/dispatch.ts).
override COUNT: u32;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= COUNT) { return; }
  y[i] = x[i];
}
