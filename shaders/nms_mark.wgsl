// Non-maxima suppression, pass 2 of 3: mark the pixels that win this round.
//
// The detector's sequential loop on the smoothed map Mf (threshold t >= 0, radius r = 2d):
//   D = {}; repeat { pm = argmax Mf (ties: smallest row-major index); if Mf(pm) <= t stop;
//                    add (pm, Mf(pm)) to D; Mf(p) = 0 for every p with |p - pm| < r }
// Parallel form, in rounds over "alive" pixels (initially: every pixel with Mf > t):
//   mark (this pass):     an alive pixel p is selected when it beats every OTHER alive pixel q
//                         with |q - p| < r, where p beats q iff Mf(p) > Mf(q), or Mf(p) == Mf(q)
//                         and index(p) < index(q);
//   suppress (next pass): every selected pixel is output and every alive pixel within distance
//                         < r of a selected pixel dies;
//   repeat until no pixel is alive.
// Why this gives exactly the sequential set D:
//  (a) "beats" is a strict total order on pixels (the argmax order of the loop). Zeroing never
//      changes the value of a pixel that stays above t (t >= 0, so zeroed pixels are <= t for
//      good), and the kill relation |p - q| < r is symmetric. Hence the loop is the greedy scan
//      "go through the pixels above t in beats-order; take p unless a pixel already taken lies
//      within distance < r". Call its result G.
//  (b) Invariant of the rounds: every output pixel is in G, and every dead pixel above t has an
//      output pixel within < r, so it is not in G (G never holds two pixels closer than r).
//      Take p selected in a round: each q within < r that beats p is dead (else p would not
//      win), so q is not in G. So when the greedy scan reaches p, nothing taken before p lies
//      within < r: p is in G. Its killed neighbours then satisfy the invariant.
//  (c) Every round selects at least the best alive pixel, so the rounds end; then every pixel
//      above t is output (in G) or dead (not in G): the outputs are exactly G.
//  The order of D is the beats-order, so sorting the outputs by (score desc, index asc) gives
//  the loop's order, and its first k entries are what the loop gives when stopped after k.
// Pixels selected in the same round are never within < r of each other (each would beat the
// other), so the suppress pass has no conflicting writes.
//
// This pass: for each candidate slot s, p = cand[s]; if state[p] == 1 (alive), scan the disk of
// offsets with dx^2 + dy^2 < r^2 around p; if some alive q != p beats p, p stays alive (it may
// win a later round), else state[p] = 2 (selected this round). A neighbour being marked 1 -> 2
// by its own thread during this pass is still counted as alive (states 1 and 2 both), so the
// result does not depend on thread timing. With SET_FLAG = 1, any thread that finds an alive
// pixel sets counters[2] = 1 (the host reads it every few rounds: 0 means nothing was alive at
// the start of this round, so all is done).
// States: 0 below t or dead, 1 alive, 2 selected this round, 3 output (detection).
// Layout: mf = float32 [H*W] row-major; spans = u32 [2*RM + 1]: for dy = -RM..RM the largest
// dx >= 0 with dx^2 + dy^2 < r^2 (row dy of the disk is dx = -span..span); cand = u32 slots
// (counters[0] of them valid); state = u32 [H*W]; counters = u32 [4].
// 1-D launch over the candidate slots folded into x/y; threads past counters[0] return.
override H: u32;
override W: u32;
override RM: u32;
override SET_FLAG: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> mf: array<f32>;
@group(0) @binding(1) var<storage, read> spans: array<u32>;
@group(0) @binding(2) var<storage, read> cand: array<u32>;
@group(0) @binding(3) var<storage, read_write> state: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> counters: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = gid.x + gid.y * nwg.x * WG;
  if (s >= atomicLoad(&counters[0])) { return; }
  let p = cand[s];
  if (atomicLoad(&state[p]) != 1u) { return; }
  if (SET_FLAG != 0u) { atomicStore(&counters[2], 1u); }
  let v = mf[p];
  let y = i32(p / W);
  let x = i32(p % W);
  let rm = i32(RM);
  // rows in the order dy = 0, -1, 1, -2, 2, ...: in smooth maps a better neighbour is usually close,
  // so most losing pixels stop early
  for (var k = 0; k <= 2 * rm; k = k + 1) {
    let dy = select(k / 2, -(k + 1) / 2, (k & 1) == 1);
    let yy = y + dy;
    if (yy < 0 || yy >= i32(H)) { continue; }
    let sp = i32(spans[u32(dy + rm)]);
    let j0 = max(x - sp, 0);
    let j1 = min(x + sp, i32(W) - 1);
    let row = u32(yy) * W;
    for (var j = j0; j <= j1; j = j + 1) {
      let q = row + u32(j);
      let mq = mf[q];
      if (mq > v || (mq == v && q < p)) {          // q beats p (q == p never passes this test)
        let st = atomicLoad(&state[q]);
        if (st == 1u || st == 2u) { return; }      // beaten by an alive neighbour
      }
    }
  }
  atomicStore(&state[p], 2u);
}
