// 2-D convolution, gradient with respect to the bias: db[co] = sum_{n, oy, ox} g[n, co, oy, ox].
// Layout: g [N, COUT, HW] (HW = HO*WO), db [COUT]. One workgroup per output channel: 256 invocations
// stride over the N*HW terms, then a tree in workgroup memory adds the partial sums (deterministic).
override N: u32;
override COUT: u32;
override HW: u32;
const WG = 256u;

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let co = wid.x;
  var acc = 0.0;
  for (var p = lid; p < N * HW; p += WG) {
    let n = p / HW;
    acc += g[(n * COUT + co) * HW + p % HW];
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { db[co] = partial[0]; }
}
