// Index of the maximum of each row of a row-major [R, L] matrix:
//   out[r] = the smallest j < L with x[r * L + j] = max_j' x[r * L + j'].   (ties: first index)
// Layout: x float32 [R, L] (L >= 1), out uint32 [R].
// One workgroup of WG invocations per row (rows folded into workgroups x and y): invocation i
// scans elements i, i + WG, ... keeping the first strict maximum, starting from element 0 (a valid
// candidate, so rows of -inf work); then a tree reduction in workgroup memory keeps, of two
// candidates, the larger value, or the smaller index when the values are equal.
override R: u32;
override L: u32;
const WG = 256u;           // a power of two

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

var<workgroup> pv: array<f32, WG>;
var<workgroup> pi: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= R) { return; }            // uniform over the workgroup
  let base = r * L;
  var bv = x[base];
  var bi = 0u;
  for (var j = lid; j < L; j += WG) {
    let v = x[base + j];
    if (v > bv) { bv = v; bi = j; }
  }
  pv[lid] = bv;
  pi[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      let ov = pv[lid + s];
      let oi = pi[lid + s];
      let v = pv[lid];
      if (ov > v || (ov == v && oi < pi[lid])) { pv[lid] = ov; pi[lid] = oi; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[r] = pi[0]; }
}
