// Minimal command-line parsing: positionals, --flag value, --flag=value, boolean --flag.

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
  /** Positionals before any `--` that start with one dash (`-o`): a mistyped option, refused by checkFlags. */
  dashed: string[];
}

export function parseArgs(argv: string[], booleans: readonly string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const dashed: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (booleans.includes(a.slice(2)) || i + 1 >= argv.length || argv[i + 1].startsWith('--')) flags.set(a.slice(2), true);
      else flags.set(a.slice(2), argv[++i]);
    } else if (a === '-h') flags.set('help', true);
    else {
      if (a.length > 1 && a.startsWith('-')) dashed.push(a);
      positionals.push(a);
    }
  }
  return { positionals, flags, dashed };
}

export class UsageError extends Error {}

export function flagString(args: ParsedArgs, name: string, fallback?: string): string | undefined {
  const v = args.flags.get(name);
  if (v === undefined) return fallback;
  if (v === true) throw new UsageError(`--${name} needs a value`);
  // `--out=` or `--threshold ""` is a mistake (an unset shell variable), never a value
  if (!v.trim()) throw new UsageError(`--${name} needs a value (got an empty one)`);
  return v;
}

/** What a numeric flag accepts: the test, and the words the error message states it in. */
export interface NumberRule {
  ok: (v: number) => boolean;
  says: string;
}

/** A whole number, at least `min` and at most `max` where given. */
export function whole(min?: number, max?: number): NumberRule {
  const says = min !== undefined && max !== undefined ? `a whole number from ${min} to ${max}` : min !== undefined ? `a whole number >= ${min}` : 'a whole number';
  return { ok: (v) => Number.isInteger(v) && (min === undefined || v >= min) && (max === undefined || v <= max), says };
}

/** A number above (or from, with `from`) `lo` and below (or up to, with `upTo`) `hi`. */
export function range(lo: number, hi: number, ends: { from?: boolean; upTo?: boolean } = {}): NumberRule {
  const low = ends.from ? (v: number) => v >= lo : (v: number) => v > lo;
  const high = ends.upTo ? (v: number) => v <= hi : (v: number) => v < hi;
  return { ok: (v) => low(v) && high(v), says: `a number ${ends.from ? '>=' : '>'} ${lo} and ${ends.upTo ? '<=' : '<'} ${hi}` };
}

/** A number above 0 (or from 0, with `from`), without an upper bound. */
export function positive(from = false): NumberRule {
  return { ok: (v) => (from ? v >= 0 : v > 0), says: from ? 'a number >= 0' : 'a number > 0' };
}

/** One of the listed values. */
export function oneOf(...values: number[]): NumberRule {
  return { ok: (v) => values.includes(v), says: values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}` };
}

export function flagNumber(args: ParsedArgs, name: string, fallback: number, rule?: NumberRule): number {
  const s = flagString(args, name);
  if (s === undefined) return fallback;
  // Number() reads '', ' ', '0x10' and '1_0' loosely: only decimal numbers are accepted
  const v = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(v) || (rule && !rule.ok(v))) {
    throw new UsageError(`--${name}: '${printableArg(s)}' is not a valid value${rule ? `: expected ${rule.says}` : Number.isFinite(v) ? '' : ': expected a number'}`);
  }
  return v;
}

/** Rejects flags the command does not know (typos should not be silently ignored). */
export function checkFlags(args: ParsedArgs, known: readonly string[]): void {
  for (const k of args.flags.keys()) if (!known.includes(k)) throw new UsageError(`unknown option --${k}`);
  // `-o out` would otherwise run with 'out' as an input and the default output folder
  const d = args.dashed[0];
  if (d) throw new UsageError(`'${printableArg(d)}' is not an option: options start with two dashes (such as --out); a file whose name starts with '-' can be given as ./${printableArg(d)}`);
}

/** A boolean flag: present or not; `--flag value` is a usage error. */
export function flagBoolean(args: ParsedArgs, name: string): boolean {
  const v = args.flags.get(name);
  if (v === undefined) return false;
  if (v !== true) throw new UsageError(`--${name} takes no value`);
  return true;
}

/** A command-line value made safe to echo: control characters escaped, cut to 60 characters. */
export function printableArg(s: string): string {
  const esc = s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return esc.length > 60 ? `${esc.slice(0, 60)}...` : esc;
}

/** µm per pixel that mitoscan accepts anywhere (a model's, --mpp): 0.01 (far beyond any optical scanner) to 100 (a 1x thumbnail). */
export const MIN_UM_PER_PIXEL = 0.01;
export const MAX_UM_PER_PIXEL = 100;

/** `--mpp`: a number within [MIN_UM_PER_PIXEL, MAX_UM_PER_PIXEL], else a usage error that says the range. */
export function flagMpp(args: ParsedArgs, name = 'mpp'): number | undefined {
  if (!args.flags.has(name)) return undefined;
  const v = flagNumber(args, name, 0);
  if (!(v >= MIN_UM_PER_PIXEL && v <= MAX_UM_PER_PIXEL)) {
    throw new UsageError(`--${name}: ${v} µm per pixel is outside ${MIN_UM_PER_PIXEL}..${MAX_UM_PER_PIXEL} (40x scans are about 0.25, 20x about 0.5)`);
  }
  return v;
}
