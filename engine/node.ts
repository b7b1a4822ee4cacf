// Node entry to the engine: Dawn's GPU object from the npm `webgpu` package.
// Browser code never imports this file (it uses navigator.gpu through createEngine).
import { create, globals } from 'webgpu';
import { Engine, type EngineOptions } from './engine.js';
import { openGpu } from './gpu.js';

let globalsInstalled = false;
// Dawn tears its instance down when the GPU object is garbage-collected, even while devices made
// from it live (a segfault later on): keep it for the life of the process.
let dawnGpu: GPU | null = null;

/** Opens the first adapter Dawn finds. Call `engine.destroy()` when done, or Node will not exit. */
export async function createNodeEngine(options: EngineOptions = {}): Promise<Engine> {
  if (!globalsInstalled) {
    // GPUBufferUsage, GPUMapMode, ... are globals in browsers; Dawn ships them separately.
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
  try {
    dawnGpu ??= create([]) as unknown as GPU;
  } catch (e) {
    throw new Error(`Could not load Dawn (npm package \`webgpu\`): ${(e as Error).message}. Run \`npm ci\` again.`);
  }
  const opened = await openGpu(dawnGpu, options);
  return new Engine(opened, options);
}
