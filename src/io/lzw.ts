// TIFF LZW decoding, shared by the whole-image reader (src/io/image.ts, which checks every strip
// before utif decodes it) and the lazy slide reader (src/slide/decode.ts).

/**
 * TIFF LZW (codes of 9-12 bits, MSB first; 256 clear, 257 end; the code width grows one code
 * early, as every TIFF writer does). Stops at the end code, the end of the input or `max` bytes.
 */
export function lzwDecode(b: Uint8Array, max: number): Uint8Array {
  if (b.length >= 2 && b[0] === 0 && b[1] === 1) throw new Error('old-style LZW (reversed bit order) is not supported');
  const out = new Uint8Array(max);
  const prefix = new Int32Array(4096), suffix = new Uint8Array(4096), first = new Uint8Array(4096), len = new Uint16Array(4096);
  for (let i = 0; i < 256; i++) (suffix[i] = i), (first[i] = i), (len[i] = 1), (prefix[i] = -1);
  let bits = 9, next = 258, prev = -1, o = 0;
  const totalBits = b.length * 8;
  for (let pos = 0; pos + bits <= totalBits && o < max; ) {
    const k = pos >>> 3;
    const v = (b[k] << 16) | ((b[k + 1] ?? 0) << 8) | (b[k + 2] ?? 0);
    const code = (v >>> (24 - (pos & 7) - bits)) & ((1 << bits) - 1);
    pos += bits;
    if (code === 257) break;
    if (code === 256) {
      (bits = 9), (next = 258), (prev = -1);
      continue;
    }
    if (prev < 0) {
      if (code > 255) throw new Error(`corrupt LZW data (code ${code} right after a clear code)`);
      out[o++] = code;
      prev = code;
      continue;
    }
    let c: number;
    if (code < next) c = code;
    else if (code === next && next < 4096) c = prev;
    else throw new Error(`corrupt LZW data (code ${code} before the table holds it)`);
    // write string c (then, for the KwKwK case, its first byte again) backwards
    const l = len[c];
    let end = o + l;
    for (let q = c, p = Math.min(end, max) - 1, at = end - 1; q >= 0; q = prefix[q], at--) if (at <= p) out[at] = suffix[q];
    const fc = first[c];
    if (code === next) {
      if (end < max) out[end] = fc;
      end++;
    }
    o = Math.min(end, max);
    if (next < 4096) {
      prefix[next] = prev;
      suffix[next] = code === next ? fc : first[code];
      first[next] = first[prev];
      len[next] = len[prev] + 1;
      next++;
    }
    prev = code;
    if (next + 1 >= 1 << bits && bits < 12) bits++;
  }
  return o === max ? out : out.subarray(0, o);
}
