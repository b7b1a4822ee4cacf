// Workgroup-count helpers. WebGPU caps each dimension at 65535 workgroups, so large 1-D launches
// are folded into x and y; the shaders unfold them as
//   let i = gid.x + gid.y * nwg.x * WG;   (nwg = @builtin(num_workgroups), WG = workgroup size)
// and return when i >= the element count.

export function grid1d(threads: number, workgroupSize: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(threads / workgroupSize);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
