// Non-maxima suppression, pass 1 of 3 (see nms_mark.wgsl for the whole algorithm): candidates.
//   state[i] = 1 (alive) and i appended to cand[]   if mf[i] > t
//   state[i] = 0 (out)                               otherwise (NaN included)
// t = params.x is the largest float32 <= the caller's threshold, so `mf[i] > t` in float32 equals
// the exact comparison with the caller's (float64) threshold.
// Appending: each workgroup counts its candidates in workgroup memory, reserves a block of slots
// with ONE atomicAdd on counters[0], and writes its indices there (their order in cand[] is
// arbitrary; the result of the later passes does not depend on it).
// Layout: mf = float32 [N] (the H x W map, row-major, N = H*W); state, cand = u32 [N];
// counters = u32 [4]: [0] number of candidates (must be 0 on entry), [1] detections, [2] flag.
// 1-D launch over N folded into x/y.
override N: u32;
override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> mf: array<f32>;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> cand: array<u32>;
@group(0) @binding(3) var<storage, read_write> counters: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> params: vec4f;

var<workgroup> wcount: atomic<u32>;
var<workgroup> wbase: u32;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (lid == 0u) { atomicStore(&wcount, 0u); }
  workgroupBarrier();
  var slot = 0xffffffffu;
  if (i < N) {
    if (mf[i] > params.x) {
      state[i] = 1u;
      slot = atomicAdd(&wcount, 1u);
    } else {
      state[i] = 0u;
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    let c = atomicLoad(&wcount);
    if (c > 0u) { wbase = atomicAdd(&counters[0], c); }
  }
  let base = workgroupUniformLoad(&wbase);
  if (slot != 0xffffffffu) { cand[base + slot] = i; }
}
