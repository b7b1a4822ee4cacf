// Text that came from a file (a label file, a spec, an image header) made safe to echo in a
// message: a binary file must not write raw bytes to the user's terminal.

/** Control and non-ASCII characters escaped (\xNN, \uNNNN), cut to `max` characters. */
export function printable(s: string, max = 60): string {
  const esc = s.replace(/[^\x20-\x7e]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
  return esc.length > max ? `${esc.slice(0, max)}...` : esc;
}

/** What a value is, for a message about a wrong argument: 'null', 'a plain array', a class name
 * (Float32Array, DataView), or a primitive with its value (`string "2"`), cut to 60 characters. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a plain array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}
