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

/** A kernel table's setting for its subgroup forms: 'auto' (on CPU adapters with usable subgroups),
 * 'always' (an error without them), 'never'. */
export type SubgroupMode = 'auto' | 'always' | 'never';

/** Whether the subgroup forms run under `mode` (`setting` names it in the error, e.g.
 * 'CONV_TILE.subgroups'): 'always' on a device without usable subgroups throws. */
export function subgroupFormsOn(e: Engine, mode: SubgroupMode, op: string, setting: string): boolean {
  if (mode === 'never') return false;
  if (!subgroupsUsable(e)) {
    if (mode === 'always') throw new Error(`${op}: ${setting} is 'always' but ${e.adapterName} has no subgroups of >= 8 invocations`);
    return false;
  }
  return mode === 'always' || e.isCpuAdapter;
}
