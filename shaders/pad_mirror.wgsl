// Mirror padding of a batch of images (pixels outside the image synthesised by reflection).
//   out[p, i, j] = x[p, refl(i - TOP, H), refl(j - LEFT, W)]
// where p = n * C + c is the plane, Ho = H + TOP + BOTTOM, Wo = W + LEFT + RIGHT, and refl reflects
// WITHOUT repeating the edge pixel (numpy 'reflect', PyTorch ReflectionPad2d): -1 -> 1, -2 -> 2,
// n -> n - 2. Pads larger than the image keep reflecting back and forth: refl is periodic with
// period 2(n - 1), e.g. n = 3: ... 2 1 | 0 1 2 | 1 0 1 2 1 0 ...; for n = 1 every index maps to 0.
// Layout: x = float32 [P, H, W] row-major (P = N*C planes), out = float32 [P, Ho, Wo].
// 1-D launch over P*Ho*Wo elements folded into x/y (see engine/dispatch.ts).
override P: u32;
override H: u32;
override W: u32;
override TOP: u32;
override LEFT: u32;
override HO: u32;
override WO: u32;
override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// Reflection without edge repeat; i may be any integer (negative or >= n).
fn refl(i: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let period = 2 * (n - 1);
  var k = i % period;                 // WGSL %: sign of the dividend
  if (k < 0) { k = k + period; }
  return select(k, period - k, k >= n);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= P * HO * WO) { return; }
  let p = t / (HO * WO);
  let i = (t / WO) % HO;
  let j = t % WO;
  let si = refl(i32(i) - i32(TOP), i32(H));
  let sj = refl(i32(j) - i32(LEFT), i32(W));
  out[t] = x[(p * H + u32(si)) * W + u32(sj)];
}
