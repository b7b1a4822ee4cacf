// Minimal command-line parsing: positionals, --flag value, --flag=value, boolean --flag.

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: string[], booleans: readonly string[] = []): ParsedArgs {
  const positionals: string[] = [];
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
    } else positionals.push(a);
  }
  return { positionals, flags };
}

export class UsageError extends Error {}

export function flagString(args: ParsedArgs, name: string, fallback?: string): string | undefined {
  const v = args.flags.get(name);
  if (v === undefined) return fallback;
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

export function flagNumber(args: ParsedArgs, name: string, fallback: number, check?: (v: number) => boolean): number {
  const s = flagString(args, name);
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!Number.isFinite(v) || (check && !check(v))) throw new UsageError(`--${name}: '${s}' is not a valid value`);
  return v;
}

/** Rejects flags the command does not know (typos should not be silently ignored). */
export function checkFlags(args: ParsedArgs, known: readonly string[]): void {
  for (const k of args.flags.keys()) if (!known.includes(k)) throw new UsageError(`unknown option --${k}`);
}

/** A boolean flag: present or not; `--flag value` is a usage error. */
export function flagBoolean(args: ParsedArgs, name: string): boolean {
  const v = args.flags.get(name);
  if (v === undefined) return false;
  if (v !== true) throw new UsageError(`--${name} takes no value`);
  return true;
}
