// Sum or maximum of each row:  out[r] = OP_{j < L} x[r * ROW_STRIDE + j * ELEM_STRIDE],  r < R.
// OP: 0 sum, 1 max. Elements at flat index >= COUNT are left out (sum of a last, partial row).
// Usual rows of a row-major [R, L] matrix: ROW_STRIDE = L, ELEM_STRIDE = 1, COUNT = R * L;
// columns of [L, R] (column sums): ROW_STRIDE = 1, ELEM_STRIDE = R.
// Layout: x float32 (flat), out float32 [R]. L >= 1.
// One workgroup of WG invocations per row (rows folded into workgroups x and y): invocation i
// accumulates elements i, i + WG, i + 2 WG, ... then a tree reduction in workgroup memory halves
// the WG partial results log2(WG) times. (For max every invocation starts from element 0 of its
// row, which is harmless since max(a, a) = a, and keeps -inf rows exact.)
override R: u32;
override L: u32;
override ROW_STRIDE: u32;
override ELEM_STRIDE: u32;
override COUNT: u32;
override OP: u32;          // 0 sum, 1 max
const WG = 256u;           // a power of two

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= R) { return; }            // uniform over the workgroup
  let base = r * ROW_STRIDE;
  var acc = 0.0;
  if (OP == 1u) { acc = x[base]; }
  for (var j = lid; j < L; j += WG) {
    let idx = base + j * ELEM_STRIDE;
    if (idx >= COUNT) { break; }
    if (OP == 1u) { acc = max(acc, x[idx]); } else { acc += x[idx]; }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      if (OP == 1u) { part[lid] = max(part[lid], part[lid + s]); } else { part[lid] = part[lid] + part[lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[r] = part[0]; }
}
