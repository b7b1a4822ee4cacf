import type { Engine } from '../engine.js';

/** Whether the device runs the subgroup forms of the kernels (conv2d_forward_subgroup.wgsl,
 * matmul_registers_subgroup.wgsl): they need the 'subgroups' feature with subgroups of at least
 * 8 invocations, since 8 lanes each load one of the values they share. */
export function subgroupsUsable(e: Engine): boolean {
  return e.subgroupMinSize >= 8;
}
