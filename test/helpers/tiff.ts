// A little-endian TIFF with one strip (at offset 8) and any tags, for tests that need files our
// encoder never writes (other compressions, size-lying headers, corrupt strips). Tags are
// [tag, type, values] with type 3 = SHORT, 4 = LONG; the strip offset and byte count (273, 279) are
// added here.
export type Tag = [tag: number, type: 3 | 4, values: number[]];

export function oneStripTiff(tags: readonly Tag[], strip: Uint8Array): Uint8Array {
  const own: Tag[] = [[273, 4, [8]], [279, 4, [strip.length]]];
  const entries = [...tags.filter((t) => t[0] !== 273 && t[0] !== 279), ...own].sort((a, b) => a[0] - b[0]);
  const ifdAt = 8 + strip.length + (strip.length & 1);
  const extraAt = ifdAt + 2 + 12 * entries.length + 4;
  const size = (t: Tag) => t[2].length * (t[1] === 3 ? 2 : 4);
  const out = new Uint8Array(extraAt + entries.reduce((s, t) => s + (size(t) > 4 ? size(t) : 0), 0));
  const v = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  v.setUint32(4, ifdAt, true);
  out.set(strip, 8);
  v.setUint16(ifdAt, entries.length, true);
  let extra = extraAt;
  entries.forEach((t, i) => {
    const o = ifdAt + 2 + 12 * i;
    v.setUint16(o, t[0], true);
    v.setUint16(o + 2, t[1], true);
    v.setUint32(o + 4, t[2].length, true);
    let p = o + 8;
    if (size(t) > 4) {
      v.setUint32(p, extra, true);
      p = extra;
      extra += size(t);
    }
    for (const val of t[2]) {
      if (t[1] === 3) v.setUint16(p, val, true);
      else v.setUint32(p, val, true);
      p += t[1] === 3 ? 2 : 4;
    }
  });
  return out;
}
