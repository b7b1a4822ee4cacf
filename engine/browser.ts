// Browser entry to the engine: the page's own WebGPU (navigator.gpu).
import { Engine, type EngineOptions } from './engine.js';
import { openGpu } from './gpu.js';

export async function createBrowserEngine(options: EngineOptions = {}): Promise<Engine> {
  const gpu = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  return new Engine(await openGpu(gpu, options), options);
}
