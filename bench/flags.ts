// The benchmarks' flags: `--name value` read from the command line (no value after it, or another
// flag there, is an error rather than a silent default).
const argv = process.argv.slice(2);

export function flag(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

/** `--name n`: an integer >= min, or the fallback when the flag is absent. */
export function intFlag(name: string, fallback: number, min: number): number {
  const s = flag(name);
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name}: '${s}' is not an integer >= ${min}`);
  return v;
}
