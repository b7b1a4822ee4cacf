import type { Engine } from '../engine.js';

/** Whether the device runs the subgroup forms of the kernels (conv2d_forward_subgroup.wgsl,
 * conv2d_backward_input_subgroup.wgsl, conv2d_backward_weight_subgroup.wgsl,
 * matmul_registers_subgroup.wgsl): they need the 'subgroups' feature with subgroups of at least
 * 8 invocations, since lanes 0..7 each load one of the values they share. They also take lanes
 * 0..7 to be active: true of full subgroups (lavapipe: 8 lanes, workgroups of 8 or 64) and of
 * the usual GPU mappings, which WebGPU does not promise; 'auto' picks them on CPU adapters only. */
export function subgroupsUsable(e: Engine): boolean {
  return e.subgroupMinSize >= 8;
}
