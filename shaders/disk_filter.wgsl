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
// One invocation computes 4 neighbouring pixels of a row (x0 .. x0 + 3): per disk row it loads the
// union of their spans once (2*span + 4 values instead of 4 * (2*span + 1); on a CPU adapter every
// load is a gather) and adds each value to the pixels whose span holds it, each pixel's sum in the
// same order (ascending column) as one pixel alone would take it.
// Layout: m, out = float32 [P, H, W] row-major (P planes); spans = u32 [2*RM + 1].
// 1-D launch over P*H*ceil(W/4) folded into x/y.
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
  let W4 = (W + 3u) / 4u;
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= P * H * W4) { return; }
  let plane = (t / (H * W4)) * H * W;
  let y = i32((t / W4) % H);
  let x0 = i32(t % W4) * 4;
  let h = i32(H);
  let w = i32(W);
  let rm = i32(RM);
  let xs = vec4i(x0, x0 + 1, x0 + 2, x0 + 3);
  var total = vec4f(0.0);
  // the max starts from each pixel itself (clamped: pixels past the row are never stored)
  let own = plane + u32(y) * W;
  var best = vec4f(m[own + u32(min(x0, w - 1))], m[own + u32(min(x0 + 1, w - 1))], m[own + u32(min(x0 + 2, w - 1))], m[own + u32(min(x0 + 3, w - 1))]);
  for (var dy = -rm; dy <= rm; dy = dy + 1) {
    let s = i32(spans[u32(dy + rm)]);
    var yy = y + dy;
    // pixel p sums columns lo[p] ..= hi[p]
    var lo = xs - vec4i(s);
    var hi = xs + vec4i(s);
    if (BORDER == 0u) {
      if (yy < 0 || yy >= h) { continue; }
      lo = max(lo, vec4i(0));
      hi = min(hi, vec4i(w - 1));
    } else {
      yy = refl(yy, h);
    }
    let row = plane + u32(yy) * W;
    var part = vec4f(0.0);
    for (var j = lo.x; j <= hi.w; j = j + 1) {
      var jj = j;
      if (BORDER != 0u) { jj = refl(j, w); }
      let v = m[row + u32(clamp(jj, 0, w - 1))];
      let inside = (vec4i(j) >= lo) & (vec4i(j) <= hi);
      if (OP == 0u) { part = select(part, part + vec4f(v), inside); } else { best = select(best, max(best, vec4f(v)), inside); }
    }
    total = total + part;
  }
  let o = plane + u32(y) * W + u32(x0);
  for (var p = 0; p < 4; p = p + 1) {
    if (x0 + p >= w) { break; }
    if (OP == 0u) {
      out[o + u32(p)] = total[p] / f32(COUNT);
    } else {
      out[o + u32(p)] = best[p];
    }
  }
}
