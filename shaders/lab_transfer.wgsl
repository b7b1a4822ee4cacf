// Reinhard et al. 2001 colour transfer in Ruderman's l-alpha-beta space, one thread per pixel.
// For a pixel with RGB (0..255) and alpha A:
//   1. q   = (rgb + 1) / 256                         in (0, 1], so that the logarithm below is finite
//   2. LMS = RGB2LMS q                               (Reinhard's matrix, rows below)
//   3. L   = log10(LMS)                              (per cone channel)
//   4. lab = diag(1/sqrt3, 1/sqrt6, 1/sqrt2) [[1,1,1],[1,1,-2],[1,-1,0]] L      (l, alpha, beta)
//   5. lab' = lab * gain + offset                    gain_k = dst.std_k / src.std_k,
//                                                    offset_k = dst.mean_k - src.mean_k * gain_k (CPU)
//      i.e. l' = (l - src.mean) / src.std * dst.std + dst.mean, per channel;
//   6. back: L' = [[1,1,1],[1,1,-1],[1,-2,0]] diag(sqrt3/3, sqrt6/6, sqrt2/2) lab',
//      LMS' = 10^L', q' = LMS2RGB LMS' (the float64 inverse of RGB2LMS), rgb' = 256 q' - 1,
//      rounded to the nearest integer and clamped to 0..255; alpha is kept.
// Layout: src, dst = packed RGBA8, one u32 per pixel (R in the low byte), NPIX pixels;
// uniform: gain.xyz, offset.xyz (vec4 each, w unused).
override NPIX: u32;
override WG: u32 = 64;

struct Transfer { gain: vec4f, offset: vec4f }

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> tr: Transfer;

// rows of RGB -> LMS and of its inverse
const RGB2LMS_L = vec3f(0.3811, 0.5783, 0.0402);
const RGB2LMS_M = vec3f(0.1967, 0.7244, 0.0782);
const RGB2LMS_S = vec3f(0.0241, 0.1288, 0.8444);
const LMS2RGB_R = vec3f(4.468669863496255, -3.588675903472126, 0.11960436657860118);
const LMS2RGB_G = vec3f(-1.2197166276177631, 2.3830879129554567, -0.16263011175140052);
const LMS2RGB_B = vec3f(0.05850847693854588, -0.2610784390276936, 1.205665908525623);
const INV_LN10 = 0.43429448190325176;
const LN10 = 2.302585092994046;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= NPIX) { return; }
  let p = src[t];
  let rgb = vec3f(f32(p & 255u), f32((p >> 8u) & 255u), f32((p >> 16u) & 255u));
  let q = (rgb + 1.0) / 256.0;
  let lms = vec3f(dot(RGB2LMS_L, q), dot(RGB2LMS_M, q), dot(RGB2LMS_S, q));
  let L = log(lms) * INV_LN10;
  let lab = vec3f((L.x + L.y + L.z) / sqrt(3.0), (L.x + L.y - 2.0 * L.z) / sqrt(6.0), (L.x - L.y) / sqrt(2.0));
  let lab2 = lab * tr.gain.xyz + tr.offset.xyz;
  let a = lab2.x * (sqrt(3.0) / 3.0);
  let b = lab2.y * (sqrt(6.0) / 6.0);
  let c = lab2.z * (sqrt(2.0) / 2.0);
  let L2 = vec3f(a + b + c, a + b - c, a - 2.0 * b);
  let lms2 = exp(L2 * LN10);
  let q2 = vec3f(dot(LMS2RGB_R, lms2), dot(LMS2RGB_G, lms2), dot(LMS2RGB_B, lms2));
  let v = vec3u(clamp(round(256.0 * q2 - 1.0), vec3f(0.0), vec3f(255.0)));
  dst[t] = v.x | (v.y << 8u) | (v.z << 16u) | (p & 0xff000000u);
}
