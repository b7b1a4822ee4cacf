// The 8 dihedral variants of a batch of images and their inverses.
// Variant k = 0..7 of an H x W image: mirror left-right first when k >= 4, then rotate by
// (k mod 4) * 90 degrees counter-clockwise (as displayed, row 0 at the top), i.e.
//   y = rot90^(k mod 4)(k >= 4 ? fliplr(x) : x)        (numpy: np.rot90(np.fliplr(x), k % 4))
// with  fliplr: (a, b) -> (a, w-1-b)  and one rot90 of an h x w image moving the pixel at
// (row a, column b) to (w-1-b, a) of the w x h result (out[i, j] = in[j, w-1-i]).
// Odd rotations give W x H variants.
// Each thread takes one pixel (a, b) of the ORIGINAL H x W image and computes where it lands in
// the variant, (i, j) of the HV x WV variant; then
//   INVERSE = 0:  v[p, i, j] = x[p, a, b]     (x: original [P,H,W] -> out: variant [P,HV,WV])
//   INVERSE = 1:  x[p, a, b] = v[p, i, j]     (v: variant [P,HV,WV] -> out: original [P,H,W])
// The map is a bijection, so both are exact permutations of the values.
// Layout: float32 planes, P = N*C, row-major. 1-D launch over P*H*W folded into x/y.
override P: u32;
override H: u32;        // original image height
override W: u32;        // original image width
override K: u32;        // variant 0..7
override INVERSE: u32;  // 0 forward, 1 inverse
override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= P * H * W) { return; }
  let p = t / (H * W);
  let a = (t / W) % H;
  let b = t % W;
  var r = a;                   // current position (r, c) in a h x w image
  var c = b;
  var h = H;
  var w = W;
  if (K >= 4u) { c = w - 1u - c; }
  for (var s = 0u; s < K % 4u; s = s + 1u) {
    let nr = w - 1u - c;       // one counter-clockwise quarter turn
    c = r;
    r = nr;
    let tmp = h;
    h = w;
    w = tmp;
  }
  let v = (p * h + r) * w + c; // h, w are now the variant's HV, WV
  if (INVERSE == 0u) {
    out[v] = src[t];
  } else {
    out[t] = src[v];
  }
}
