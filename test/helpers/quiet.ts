// Runs a command's `run(argv)` in-process with its console output captured instead of printed.
import { vi } from 'vitest';

export interface Captured<T> {
  value?: T;
  /** What it threw, if it threw. */
  error?: unknown;
  /** console.log lines. */
  stdout: string;
  /** console.error lines and raw stderr writes (the progress bars). */
  stderr: string;
}

/** Never throws: an error comes back in `error`. */
export async function captured<T>(f: () => Promise<T>): Promise<Captured<T>> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const elog = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ') + '\n'));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  try {
    return { value: await f(), stdout: out.join('\n'), stderr: err.join('') };
  } catch (error) {
    return { error, stdout: out.join('\n'), stderr: err.join('') };
  } finally {
    log.mockRestore();
    elog.mockRestore();
    write.mockRestore();
  }
}

/** Like `captured`, but rethrows what `f` threw. */
export async function quiet<T>(f: () => Promise<T>): Promise<Captured<T> & { value: T }> {
  const r = await captured(f);
  if ('error' in r) throw r.error;
  return r as Captured<T> & { value: T };
}
