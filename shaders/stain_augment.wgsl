// Colour / stain augmentation of gathered patches, then the model's input normalisation.
// Input x = float32 [N, 3, S, S] RGB in 0..255 (patches gathered with scale 1, mean 0, std 1);
// params = float32 [N, 12] per patch:
//   [alphaH, alphaE, alphaD, betaH, betaE, betaD, brightness, contrast, saturation, blur, 0, 0]
// (identity: [1,1,1, 0,0,0, 0, 1, 1, 0, 0,0]); out = float32 [N, 3, S, S], normalised.
// For output pixel (n, i, j), with rgb = x[n, :, i, j] (a 3-vector), in this order:
//   a. blur:  rgb = (1 - b) rgb + b * (mean of the 3x3 neighbourhood of (i, j), centre included;
//             neighbours outside the patch are clamped to its edge), b = blur in [0, 1].
//   b. HED jitter (Tellez et al. 2018) by colour deconvolution (Ruifrok & Johnston 2001):
//        od   = -ln((rgb + 1) / 256)           optical density per channel (0..255 -> 5.55..0)
//        hed  = od * Minv                      row vectors: od = hed * M, the rows of M are the
//                                              unit OD vectors of haematoxylin, eosin and DAB
//        hed' = hed * alpha + beta             per stain k = H, E, D
//        od'  = hed' * M = hed'_H M_H + hed'_E M_E + hed'_D M_D
//        rgb  = clamp(256 exp(-od') - 1, 0, 255)
//      M's rows (normalised to length 1) are (0.65, 0.70, 0.29), (0.07, 0.99, 0.11), (0.27, 0.57, 0.78),
//      as in scikit-image's rgb_from_hed; Minv = M^-1 (computed in float64, rounded to f32 below).
//      When alpha = 1 and beta = 0 for all stains this step is skipped (so it is exactly the identity).
//   c. brightness, contrast, saturation, then one clamp:
//        rgb = rgb + brightness                          (0..255 units)
//        rgb = (rgb - 127.5) * contrast + 127.5
//        rgb = Y + (rgb - Y) * saturation,  Y = 0.299 R + 0.587 G + 0.114 B (of the rgb after contrast)
//        rgb = clamp(rgb, 0, 255)
//   d. out[n, c, i, j] = (rgb_c * SCALE - mean[c]) / std[c]   (the model's normalisation).
// Uniform: mean.xyz, scale; sdev.xyz (standard deviations). One thread per pixel, 1-D launch folded into x/y.
override S: u32;
override N: u32;
override WG: u32 = 64;

struct Norm { mean: vec4f, sdev: vec4f }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> norm: Norm;

// rows of M (stain OD vectors) and of Minv
const M_H = vec3f(0.65110782575744930, 0.70119304312340680, 0.29049426072255424);
const M_E = vec3f(0.07010172129736670, 0.99143862974304330, 0.11015984775300482);
const M_D = vec3f(0.26916687204956063, 0.56824117432685020, 0.77759318592095300);
const MINV_R = vec3f(1.874787447891341, -1.0062164913294247, -0.5578371133511998);
const MINV_G = vec3f(-0.06579592311838535, 1.133083818841409, -0.13594126703275314);
const MINV_B = vec3f(-0.6008832496835673, -0.4797170821546902, 1.5784586572455417);

fn px(base: u32, i: i32, j: i32) -> vec3f {
  let last = i32(S) - 1;
  let k = base + u32(clamp(i, 0, last)) * S + u32(clamp(j, 0, last));
  return vec3f(x[k], x[k + S * S], x[k + 2u * S * S]);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= N * S * S) { return; }
  let n = t / (S * S);
  let i = i32((t / S) % S);
  let j = i32(t % S);
  let base = n * 3u * S * S;
  let p = n * 12u;
  let alpha = vec3f(params[p], params[p + 1u], params[p + 2u]);
  let beta = vec3f(params[p + 3u], params[p + 4u], params[p + 5u]);
  let brightness = params[p + 6u];
  let contrast = params[p + 7u];
  let saturation = params[p + 8u];
  let b = params[p + 9u];

  // a. blur
  var rgb = px(base, i, j);
  if (b != 0.0) {
    var sum = vec3f(0.0);
    for (var di = -1; di <= 1; di++) {
      for (var dj = -1; dj <= 1; dj++) { sum += px(base, i + di, j + dj); }
    }
    rgb = (1.0 - b) * rgb + b * (sum / 9.0);
  }

  // b. HED jitter
  if (any(alpha != vec3f(1.0)) || any(beta != vec3f(0.0))) {
    let od = -log((rgb + 1.0) / 256.0);
    let hed = od.x * MINV_R + od.y * MINV_G + od.z * MINV_B;
    let h2 = hed * alpha + beta;
    let od2 = h2.x * M_H + h2.y * M_E + h2.z * M_D;
    rgb = clamp(256.0 * exp(-od2) - 1.0, vec3f(0.0), vec3f(255.0));
  }

  // c. brightness, contrast, saturation
  rgb = rgb + brightness;
  rgb = (rgb - 127.5) * contrast + 127.5;
  let luma = dot(rgb, vec3f(0.299, 0.587, 0.114));
  rgb = luma + (rgb - luma) * saturation;
  rgb = clamp(rgb, vec3f(0.0), vec3f(255.0));

  // d. normalisation
  let v = (rgb * norm.mean.w - norm.mean.xyz) / norm.sdev.xyz;
  let o = base + u32(i) * S + u32(j);
  out[o] = v.x;
  out[o + S * S] = v.y;
  out[o + 2u * S * S] = v.z;
}
