// Filtering of image planes with a disk of radius r: the set D of integer offsets (dx, dy) with
// dx^2 + dy^2 <= r^2 (the boundary circle included).
//   OP = 0 (mean, diskFilter):  out(p) = (1/|D|) * sum_{o in D} m(p + o)
//   OP = 1 (max, dilateDisk):   out(p) = max_{o in D} m(p + o)
// Pixels outside the image:
//   BORDER = 0 (zero): they count as zero in the mean (the normaliser stays |D| everywhere, i.e.
//                      zero padding); the max ignores them (the disk always holds p itself);
//   BORDER = 1 (mirror): they read the image reflected without repeating the edge pixel
//                      (-1 -> 1, as pad_mirror.wgsl).
// The disk is given as row spans: for dy = -RM..RM (RM = floor(r)), spans[dy + RM] = the largest
// dx >= 0 with dx^2 + dy^2 <= r^2, so row dy of D is dx = -span..span; COUNT = |D|.
// Sums are taken per row span first, then over rows (two-level summation in float32, which keeps
// the rounding error near that of 2r+1 terms instead of |D|).
// Layout: m, out = float32 [P, H, W] row-major (P planes); spans = u32 [2*RM + 1].
// 1-D launch over P*H*W folded into x/y.
override P: u32;
override H: u32;
override W: u32;
override RM: u32;
override COUNT: u32;
override OP: u32;       // 0 mean, 1 max
override BORDER: u32;   // 0 zero, 1 mirror
override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> m: array<f32>;
@group(0) @binding(1) var<storage, read> spans: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn refl(i: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let period = 2 * (n - 1);
  var k = i % period;
  if (k < 0) { k = k + period; }
  return select(k, period - k, k >= n);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= P * H * W) { return; }
  let plane = (t / (H * W)) * H * W;
  let y = i32((t / W) % H);
  let x = i32(t % W);
  let h = i32(H);
  let w = i32(W);
  let rm = i32(RM);
  var total = 0.0;
  var best = m[t];
  for (var dy = -rm; dy <= rm; dy = dy + 1) {
    let s = i32(spans[u32(dy + rm)]);
    var yy = y + dy;
    var j0 = x - s;
    var j1 = x + s;
    if (BORDER == 0u) {
      if (yy < 0 || yy >= h) { continue; }
      j0 = max(j0, 0);
      j1 = min(j1, w - 1);
    } else {
      yy = refl(yy, h);
    }
    let row = plane + u32(yy) * W;
    var part = 0.0;
    for (var j = j0; j <= j1; j = j + 1) {
      var jj = j;
      if (BORDER != 0u) { jj = refl(j, w); }
      let v = m[row + u32(jj)];
      if (OP == 0u) { part = part + v; } else { best = max(best, v); }
    }
    total = total + part;
  }
  if (OP == 0u) {
    out[t] = total / f32(COUNT);
  } else {
    out[t] = best;
  }
}
