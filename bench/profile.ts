// `--profile` for the benchmarks: GPU time per kernel (timestamp queries around every pass).
import type { Engine } from '../engine/engine.js';

export const profileFlag = process.argv.includes('--profile');

/** Prints GPU time per kernel since the engine's last reset, largest first, against the wall time.
 * The rest of the wall time is the host (recording, submission, waiting, CPU work). On lavapipe the
 * passes overlap, so the sum can exceed the wall time: read the shares, not the milliseconds. */
export async function printKernelTimes(e: Engine, wallMs: number): Promise<void> {
  if (!e.profile) {
    console.log('  (--profile: this adapter has no timestamp queries; no per-kernel times)');
    return;
  }
  const times = await e.kernelTimes();
  const total = times.reduce((a, k) => a + k.ms, 0);
  for (const k of times.sort((a, b) => b.ms - a.ms)) console.log(`  ${k.name.padEnd(28)} ${k.ms.toFixed(1).padStart(9)} ms ${((100 * k.ms) / total).toFixed(1).padStart(5)}%  ${k.calls} calls`);
  console.log(`  GPU time ${total.toFixed(0)} ms of ${wallMs.toFixed(0)} ms wall`);
}
