// Cut training windows directly from whole images held on the GPU (no patch files).
// For patch n with request (image offset o, width W, height H, centre (cx, cy), angle a, mirror m,
// scale k):
//   with c = k cos(a), s = k sin(a) computed on the CPU (so that every GPU samples the same points;
//   k scales the sampling grid about the centre, k > 1 covers a larger area),
//   for output pixel (i, j) of the S x S window (row i, column j; offsets u = j - R, v = i - R with R = S/2
//   rounded down), u' = (m ? -u : u), and the sample point is
//       x = cx + c u' - s v,     y = cy + s u' + c v     (= cx + k (cos a u' - sin a v), ...)
//   read with bilinear interpolation; coordinates outside the image are reflected back in without
//   repeating the edge pixel (-1 -> 1, W -> W-2), the same mirroring as pad_mirror.wgsl.
//   out[n, c, i, j] = (rgb_c(x, y) * SCALE - mean[c]) / std[c].
// For a = 0, k = 1 (c = 1, s = 0: read without interpolation) and m = 0 this is exactly the window
// of the image centred on (cx, cy).
// Layout: images = packed RGBA8 (one u32 per pixel, R in the low byte), row-major, images concatenated;
// requests = 8 u32 per patch: [offset, W, H, cx, cy, mirror, bitcast<u32>(c), bitcast<u32>(s)];
// out = float32 [N, 3, S, S]. Params (uniform): mean.xyz, scale; sdev.xyz (standard deviations).
override S: u32;
override N: u32;
override WG: u32 = 64;

struct Params { mean: vec4f, sdev: vec4f }

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> requests: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn reflect_index(i: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let period = 2 * (n - 1);
  var k = i % period;
  if (k < 0) { k = k + period; }
  return select(k, period - k, k >= n);
}

fn pixel(o: u32, w: i32, h: i32, x: i32, y: i32) -> vec3f {
  let p = images[o + u32(reflect_index(y, h) * w + reflect_index(x, w))];
  return vec3f(f32(p & 255u), f32((p >> 8u) & 255u), f32((p >> 16u) & 255u));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= N * S * S) { return; }
  let n = t / (S * S);
  let i = (t / S) % S;
  let j = t % S;
  let r = n * 8u;
  let o = requests[r];
  let w = i32(requests[r + 1u]);
  let h = i32(requests[r + 2u]);
  let cx = f32(requests[r + 3u]);
  let cy = f32(requests[r + 4u]);
  let mirror = requests[r + 5u] != 0u;
  let c = bitcast<f32>(requests[r + 6u]);
  let s = bitcast<f32>(requests[r + 7u]);
  let half = i32(S / 2u);
  var u = f32(i32(j) - half);
  let v = f32(i32(i) - half);
  if (mirror) { u = -u; }
  var rgb: vec3f;
  if (c == 1.0 && s == 0.0) {
    rgb = pixel(o, w, h, i32(cx + u), i32(cy + v));   // exact integer window, no interpolation
  } else {
    let x = cx + c * u - s * v;
    let y = cy + s * u + c * v;
    let x0 = floor(x);
    let y0 = floor(y);
    let fx = x - x0;
    let fy = y - y0;
    let xi = i32(x0);
    let yi = i32(y0);
    rgb = mix(mix(pixel(o, w, h, xi, yi), pixel(o, w, h, xi + 1, yi), fx),
              mix(pixel(o, w, h, xi, yi + 1), pixel(o, w, h, xi + 1, yi + 1), fx), fy);
  }
  let v3 = (rgb * params.mean.w - params.mean.xyz) / params.sdev.xyz;
  let base = n * 3u * S * S + i * S + j;
  out[base] = v3.x;
  out[base + S * S] = v3.y;
  out[base + 2u * S * S] = v3.z;
}
