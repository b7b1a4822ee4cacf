// Repacks conv weights w [COUT, CIN, K, K] so that the channels one invocation block needs are
// contiguous vec4s (one load instead of 4 scalar loads), zero-padded to a whole number of blocks:
//   INNER_OUT (forward):        p[(ci * KK + t) * CP + co] = w[(co * CIN + ci) * KK + t],  co < CP
//   otherwise (backward-input): p[(co * KK + t) * CP + ci] = w[(co * CIN + ci) * KK + t],  ci < CP
// KK = K*K, t = ky*K + kx; entries past COUT (or CIN) are 0. CP is a multiple of 4.
// 1-D launch over (CIN or COUT) * KK * CP (engine/dispatch.ts grid1d).
override COUT: u32;
override CIN: u32;
override KK: u32;
override CP: u32;
override INNER_OUT: bool;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let outer = select(COUT, CIN, INNER_OUT);
  if (i >= outer * KK * CP) { return; }
  let c = i % CP;          // the packed (inner) channel
  let t = (i / CP) % KK;
  let o = i / (CP * KK);   // the outer channel
  let co = select(o, c, INNER_OUT);
  let ci = select(c, o, INNER_OUT);
  let inner = select(CIN, COUT, INNER_OUT);
  p[i] = select(0.0, w[(min(co, COUT - 1u) * CIN + min(ci, CIN - 1u)) * KK + t], c < inner);
}
