// Non-maxima suppression, pass 3 of 3 (see nms_mark.wgsl for the algorithm and why it equals
// the sequential loop): output the pixels selected this round and kill their neighbours.
// For each candidate slot s, p = cand[s]; if state[p] == 2 (selected this round):
//   state[p] = 3; k = atomicAdd(counters[1], 1); det[3k..3k+2] = (x, y, bits of mf[p]);
//   state[q] = 0 for every alive q (state 1) with |q - p| < r  (disk offsets as in nms_mark).
// Pixels selected in the same round are farther apart than r, so no thread kills a pixel another
// thread outputs; two threads may both write 0 into the same pixel (same value).
// Layout: mf = float32 [H*W]; spans = u32 [2*RM + 1]; cand = u32 slots; state = u32 [H*W];
// counters = u32 [4] ([0] candidates, [1] detections so far); det = u32 [3 * capacity]
// (x = column, y = row, score as float32 bits), capacity = number of candidates.
// 1-D launch over the candidate slots folded into x/y; threads past counters[0] return.
override H: u32;
override W: u32;
override RM: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> mf: array<f32>;
@group(0) @binding(1) var<storage, read> spans: array<u32>;
@group(0) @binding(2) var<storage, read> cand: array<u32>;
@group(0) @binding(3) var<storage, read_write> state: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> counters: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> det: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = gid.x + gid.y * nwg.x * WG;
  if (s >= atomicLoad(&counters[0])) { return; }
  let p = cand[s];
  if (atomicLoad(&state[p]) != 2u) { return; }
  atomicStore(&state[p], 3u);
  let y = i32(p / W);
  let x = i32(p % W);
  let k = atomicAdd(&counters[1], 1u);
  det[3u * k] = u32(x);
  det[3u * k + 1u] = u32(y);
  det[3u * k + 2u] = bitcast<u32>(mf[p]);
  let rm = i32(RM);
  for (var dy = -rm; dy <= rm; dy = dy + 1) {
    let yy = y + dy;
    if (yy < 0 || yy >= i32(H)) { continue; }
    let sp = i32(spans[u32(dy + rm)]);
    let j0 = max(x - sp, 0);
    let j1 = min(x + sp, i32(W) - 1);
    let row = u32(yy) * W;
    for (var j = j0; j <= j1; j = j + 1) {
      let q = row + u32(j);
      if (atomicLoad(&state[q]) == 1u) { atomicStore(&state[q], 0u); }
    }
  }
}
