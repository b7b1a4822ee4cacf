// The tensor engine: an allocator (pooled GPU buffers), a program call (cached, specialised compute
// pipelines recorded into one command encoder) and readback at the edges. Nothing here knows what
// the kernels compute; engine/ops.ts declares them.
import { adapterName, type AdapterDescription, type OpenedGpu } from './gpu.js';

export interface EngineOptions {
  powerPreference?: GPUPowerPreference;
  /** Ask for 'timestamp-query' (default: when the adapter has it). */
  timestamps?: boolean;
  /** Time every kernel on the GPU (needs timestamps); see Engine.kernelTimes(). */
  profile?: boolean;
}

/** A compute kernel call: one WGSL source, specialised by override constants, dispatched once. */
export interface Program {
  /** Kernel name, used in profiles and error messages. */
  name: string;
  /** WGSL source with entry point `main` and all bindings in @group(0), numbered in call order. */
  source: string;
  /** WGSL `override` constants: shapes and flags. Each distinct set compiles one cached pipeline. */
  constants?: Record<string, number>;
  /** Workgroup counts [x, y, z]. */
  workgroups: readonly number[];
}

/** A small block of per-call parameters bound as a uniform (e.g. a learning rate that changes). */
export interface Uniform {
  uniform: ArrayBufferView | ArrayBuffer;
}

export type Binding = Tensor | Uniform;

export class Tensor {
  readonly size: number;
  private released = false;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
  get bytes(): number {
    return this.size * 4;
  }
  get isReleased(): boolean {
    return this.released;
  }
  /** Reads the values back to the CPU (flushes recorded work). */
  read(): Promise<Float32Array> {
    return this.engine.read(this);
  }
  /** Returns the buffer to the engine's pool; the tensor must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.engine.recycle(this.buffer);
  }
  /** Same buffer, another shape of the same size (no copy). The view must not be released separately. */
  view(shape: readonly number[]): Tensor {
    const t = new Tensor(this.engine, this.buffer, shape);
    if (t.size !== this.size) throw new Error(`view: shape [${shape}] has ${t.size} elements, tensor has ${this.size}`);
    return t;
  }
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Rounds a byte size up to one of 4 sizes per power of two, so that released buffers are reused. */
function bucket(bytes: number): number {
  const b = Math.max(256, bytes);
  const p = 2 ** Math.floor(Math.log2(b));
  const step = Math.max(256, p / 4);
  return Math.ceil(b / step) * step;
}

export interface KernelTime {
  name: string;
  calls: number;
  ms: number;
}

export class Engine {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  readonly timestamps: boolean;
  readonly profile: boolean;
  /** Smallest subgroup size the device may run (the 'subgroups' feature), 0 without subgroups. */
  readonly subgroupMinSize: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  // keyed by size, negated for the buffers that can also bind as uniforms (their own pool: some
  // backends, e.g. Dawn on D3D11, keep a second copy of every uniform-usage buffer)
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly uniformBuffers = new WeakSet<GPUBuffer>();
  private encoder: GPUCommandEncoder | null = null;
  private recorded = 0;
  private transient: GPUBuffer[] = [];
  private destroyed = false;
  private lostReason: string | null = null;
  private gpuErrors: string[] = [];
  // profiling
  private querySet: GPUQuerySet | null = null;
  private queryNames: string[] = [];
  private readonly times = new Map<string, KernelTime>();
  private pendingTimes: Promise<void>[] = [];
  /** Bytes currently held by live tensors and the pool. */
  allocatedBytes = 0;

  constructor(opened: OpenedGpu, options: EngineOptions = {}) {
    this.device = opened.device;
    this.adapter = opened.adapter;
    this.timestamps = opened.timestamps;
    this.subgroupMinSize = opened.subgroupMinSize;
    this.profile = !!options.profile && opened.timestamps;
    this.device.lost.then((info) => {
      if (!this.destroyed) this.lostReason = `${info.reason}: ${info.message}`;
    });
    // A WGSL or validation error does not throw where it happens: WebGPU reports it here, and the
    // next read()/sync() throws it, so that a broken kernel never passes as zeros.
    this.device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      if (this.gpuErrors.length < 8) this.gpuErrors.push(ev.error.message);
    };
  }

  get adapterName(): string {
    return adapterName(this.adapter);
  }

  /** A software adapter running on the CPU (lavapipe, SwiftShader): kernels with a CPU-shaped variant use it. */
  get isCpuAdapter(): boolean {
    return this.adapter.architecture === 'software' || /swiftshader|llvmpipe|lavapipe/i.test(this.adapterName);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  private check(): void {
    if (this.destroyed) throw new Error('engine: used after destroy()');
    if (this.lostReason) throw new Error(`engine: the GPU device was lost (${this.lostReason})`);
    if (this.gpuErrors.length) {
      const msg = this.gpuErrors.join('\n');
      this.gpuErrors = [];
      throw new Error(`engine: WebGPU reported an error:\n${msg}`);
    }
  }

  // ---- allocator -------------------------------------------------------------------------------

  private acquire(bytes: number, uniform = false): GPUBuffer {
    this.check();
    const size = bucket(bytes);
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    if (size > this.device.limits.maxBufferSize || size > maxBinding) {
      throw new Error(
        `engine: a tensor of ${(bytes / 2 ** 20).toFixed(1)} MiB exceeds this adapter's limit of ` +
          `${(Math.min(maxBinding, this.device.limits.maxBufferSize) / 2 ** 20).toFixed(0)} MiB per buffer; ` +
          `process the input in smaller tiles or batches`,
      );
    }
    const free = this.pool.get(uniform ? -size : size);
    if (free && free.length) return free.pop()!;
    this.allocatedBytes += size;
    if (!uniform) return this.device.createBuffer({ size, usage: USAGE() });
    const buf = this.device.createBuffer({ size, usage: USAGE() | GPUBufferUsage.UNIFORM });
    this.uniformBuffers.add(buf);
    return buf;
  }

  /** Called by Tensor.release(). Work already recorded may still use the buffer: that is safe,
   * because later kernels run after it in queue order, and uploads flush recorded work first. */
  recycle(buffer: GPUBuffer): void {
    if (this.destroyed) return;
    const key = this.uniformBuffers.has(buffer) ? -buffer.size : buffer.size;
    const list = this.pool.get(key) ?? [];
    list.push(buffer);
    this.pool.set(key, list);
  }

  /** Frees every pooled (released) buffer. */
  trim(): void {
    this.flush();
    for (const list of this.pool.values()) for (const b of list) {
      this.allocatedBytes -= b.size;
      b.destroy();
    }
    this.pool.clear();
  }

  /** An uninitialised tensor (contents are whatever the pooled buffer held). With `uniform`, its
   * buffer can also be bound as a uniform buffer (a shader's `var<uniform>`; at most
   * maxUniformBufferBindingSize, 64 KiB by default, is bound). */
  empty(shape: readonly number[], opts: { uniform?: boolean } = {}): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(size) || size < 0) throw new Error(`engine: bad shape [${shape}]`);
    return new Tensor(this, this.acquire(size * 4, opts.uniform ?? false), shape);
  }

  /** A tensor filled with zeros (recorded as a GPU clear, no upload). */
  zeros(shape: readonly number[]): Tensor {
    const t = this.empty(shape);
    this.enc().clearBuffer(t.buffer, 0, bucketAligned(t.bytes, t.buffer.size));
    this.recorded++;
    return t;
  }

  /** A tensor holding `data` (float32, or uint32 bit patterns for index tensors). */
  tensor(shape: readonly number[], data: ArrayLike<number> | Float32Array | Uint32Array | Int32Array, opts: { uniform?: boolean } = {}): Tensor {
    const t = this.empty(shape, opts);
    if (data.length !== t.size) {
      t.release();
      throw new Error(`engine: ${data.length} values given for shape [${shape}] (${t.size} elements)`);
    }
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the CPU. Flushes recorded work first so that a pooled
   * buffer is never overwritten before earlier recorded kernels have read it. */
  write(t: Tensor, data: ArrayLike<number> | Float32Array | Uint32Array | Int32Array, offsetElements = 0): void {
    this.check();
    this.flush();
    const arr =
      data instanceof Float32Array || data instanceof Uint32Array || data instanceof Int32Array
        ? data
        : Float32Array.from(data as ArrayLike<number>);
    this.device.queue.writeBuffer(t.buffer, offsetElements * 4, arr.buffer, arr.byteOffset, arr.byteLength);
  }

  /** Records a copy of `src` into `dst` (whole tensors or ranges, in elements). */
  copy(src: Tensor, dst: Tensor, srcOffset = 0, dstOffset = 0, count = src.size): void {
    this.check();
    if (srcOffset + count > src.size || dstOffset + count > dst.size) throw new Error('engine.copy: range out of bounds');
    this.enc().copyBufferToBuffer(src.buffer, srcOffset * 4, dst.buffer, dstOffset * 4, count * 4);
    this.recorded++;
  }

  // ---- programs --------------------------------------------------------------------------------

  private module(source: string): GPUShaderModule {
    let m = this.modules.get(source);
    if (!m) {
      m = this.device.createShaderModule({ code: source });
      this.modules.set(source, m);
    }
    return m;
  }

  /** The compiled pipeline of a program, one per (source, constants) pair. */
  pipeline(p: Program): GPUComputePipeline {
    const constants = p.constants ?? {};
    const key = p.name + '|' + JSON.stringify(constants) + '|' + p.source.length + '|' + hash(p.source);
    let pipe = this.pipelines.get(key);
    if (!pipe) {
      pipe = this.device.createComputePipeline({
        label: p.name,
        layout: 'auto',
        compute: { module: this.module(p.source), entryPoint: 'main', constants },
      });
      this.pipelines.set(key, pipe);
    }
    return pipe;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private enc(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Records one dispatch of `p` with `bindings` as @group(0) @binding(0..n-1). No GPU sync. */
  run(p: Program, bindings: readonly Binding[]): void {
    this.check();
    const [x, y = 1, z = 1] = p.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(`engine: ${p.name} asks for workgroups [${x},${y},${z}], over the limit of ${maxWg} per dimension`);
    }
    const pipeline = this.pipeline(p);
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => {
      if (b instanceof Tensor) {
        if (b.isReleased) throw new Error(`engine: ${p.name} binding ${i} is a released tensor`);
        return { binding: i, resource: { buffer: b.buffer, size: bucketAligned(b.bytes, b.buffer.size) } };
      }
      return { binding: i, resource: { buffer: this.uniformBuffer(b.uniform) } };
    });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const enc = this.enc();
    let timestampWrites: GPUComputePassTimestampWrites | undefined;
    if (this.profile) {
      if (!this.querySet) this.querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * 1024 });
      const i = this.queryNames.length;
      if (2 * i + 2 > this.querySet.count) {
        this.flush();
        return this.run(p, bindings);
      }
      this.queryNames.push(p.name);
      timestampWrites = { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
    }
    const pass = enc.beginComputePass(timestampWrites ? { timestampWrites } : {});
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.recorded++;
  }

  private uniformBuffer(data: ArrayBufferView | ArrayBuffer): GPUBuffer {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
    const buf = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
    new Uint8Array(buf.getMappedRange()).set(bytes);
    buf.unmap();
    this.transient.push(buf);
    return buf;
  }

  /** Submits the recorded work (does not wait for it). */
  flush(): void {
    if (!this.encoder) return;
    const enc = this.encoder;
    this.encoder = null;
    let timing: { buf: GPUBuffer; names: string[] } | null = null;
    if (this.profile && this.querySet && this.queryNames.length) {
      const n = this.queryNames.length;
      const resolve = this.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const buf = this.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.resolveQuerySet(this.querySet, 0, 2 * n, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, buf, 0, n * 16);
      this.transient.push(resolve);
      timing = { buf, names: this.queryNames };
      this.queryNames = [];
    }
    this.device.queue.submit([enc.finish()]);
    this.recorded = 0;
    if (timing) this.pendingTimes.push(this.collectTimes(timing.buf, timing.names));
    const done = this.transient;
    this.transient = [];
    if (done.length) this.device.queue.onSubmittedWorkDone().then(() => done.forEach((b) => b.destroy()));
  }

  private async collectTimes(buf: GPUBuffer, names: string[]): Promise<void> {
    await buf.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(buf.getMappedRange().slice(0));
    buf.destroy();
    names.forEach((name, i) => {
      const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
      const rec = this.times.get(name) ?? { name, calls: 0, ms: 0 };
      rec.calls++;
      rec.ms += ms > 0 && ms < 1e7 ? ms : 0;
      this.times.set(name, rec);
    });
  }

  /** Waits until all submitted work has finished. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await Promise.all(this.pendingTimes);
    this.pendingTimes = [];
    this.check();
  }

  /** GPU time per kernel name since the last reset (needs `profile: true`). */
  async kernelTimes(reset = true): Promise<KernelTime[]> {
    await this.sync();
    const out = [...this.times.values()].sort((a, b) => b.ms - a.ms);
    if (reset) this.times.clear();
    return out;
  }

  /** Reads a tensor back as float32 (flushes recorded work and waits for it). */
  async read(t: Tensor): Promise<Float32Array> {
    return new Float32Array(await this.readBytes(t));
  }

  /** Reads a tensor back as uint32 (index tensors such as argmax). */
  async readU32(t: Tensor): Promise<Uint32Array> {
    return new Uint32Array(await this.readBytes(t));
  }

  private async readBytes(t: Tensor): Promise<ArrayBuffer> {
    this.check();
    if (t.isReleased) throw new Error('engine.read: tensor was released');
    const staging = this.device.createBuffer({ size: t.bytes || 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    if (t.bytes) this.enc().copyBufferToBuffer(t.buffer, 0, staging, 0, t.bytes);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.check();
      throw e;
    }
    const out = staging.getMappedRange(0, t.bytes).slice(0);
    staging.destroy();
    this.check();
    return out;
  }

  /** Releases the device. Node does not exit while a Dawn device lives. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool.clear();
    this.pipelines.clear();
    this.modules.clear();
    this.device.destroy();
  }
}

/** The binding size of a tensor: its bytes rounded up to 4 (bindings must be multiples of 4). */
function bucketAligned(bytes: number, bufferSize: number): number {
  return Math.min(bufferSize, Math.max(4, Math.ceil(bytes / 4) * 4));
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
