// Activation codes shared by every kernel with a fused activation (WGSL override constant ACT).
export const ACTIVATIONS = { none: 0, tanh: 1, relu: 2 } as const;
export type Activation = keyof typeof ACTIVATIONS;

export function activationCode(a: Activation): number {
  const code = ACTIVATIONS[a];
  if (code === undefined) throw new Error(`unknown activation '${a}' (use none, tanh or relu)`);
  return code;
}
