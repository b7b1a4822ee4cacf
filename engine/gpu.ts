// Opening a WebGPU device, the same way in browsers (navigator.gpu) and in Node (Dawn's GPU object).
// Nothing here knows about tensors: this is the only place that talks to the adapter.

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface OpenedGpu {
  device: GPUDevice;
  adapter: AdapterDescription;
  /** True when the device was created with 'timestamp-query' (per-kernel GPU timing). */
  timestamps: boolean;
  /** The smallest subgroup the adapter may run when the device has the 'subgroups' feature, else 0. */
  subgroupMinSize: number;
}

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter is available${detail ? ` (${detail})` : ''}.\n` +
        `  Node on Linux without a GPU: run \`bash scripts/setup-webgpu.sh\` (installs Mesa >= 24 lavapipe from\n` +
        `  bookworm-backports and Chromium's SwiftShader), or point VK_ICD_FILENAMES at a Vulkan driver that Dawn\n` +
        `  accepts (Mesa 22.x lavapipe is refused).\n` +
        `  Browser: use Chrome/Edge 113+ or Firefox 141+ with WebGPU enabled (chrome://gpu shows its status).`,
    );
    this.name = 'NoAdapterError';
  }
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
}

export function adapterName(a: AdapterDescription): string {
  return [a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' / ') || 'unknown adapter';
}

export async function openGpu(
  gpu: GPU | undefined,
  options: { powerPreference?: GPUPowerPreference; timestamps?: boolean } = {},
): Promise<OpenedGpu> {
  if (!gpu) throw new NoAdapterError('this environment exposes no WebGPU (navigator.gpu is undefined)');
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new NoAdapterError(String((e as Error)?.message ?? e));
  }
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');

  const wantTimestamps = options.timestamps !== false && adapter.features.has('timestamp-query');
  // Subgroups let the CPU forms of some kernels share what every invocation loads (engine/ops/conv2d.ts).
  const subgroupMinSize = adapter.features.has('subgroups') ? ((adapter.info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize ?? 0) : 0;
  const features: GPUFeatureName[] = [];
  if (wantTimestamps) features.push('timestamp-query');
  if (subgroupMinSize > 0) features.push('subgroups' as GPUFeatureName);
  const lim = adapter.limits;
  // Ask for the adapter's own maxima: dense maps and batches of 256 patches need large bindings.
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
    maxBufferSize: lim.maxBufferSize,
    maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: lim.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
  };
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits,
  });
  return { device, adapter: describeAdapter(adapter), timestamps: wantTimestamps, subgroupMinSize };
}
