// Plain-text tables for the terminal: columns padded to their widest cell, text columns on the left
// aligned left, number columns aligned right.

/** rows[0] is the header; the first `leftColumns` columns are aligned left, the rest right. */
export function table(rows: readonly (readonly string[])[], leftColumns = 1): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => (c < leftColumns ? v.padEnd(w[c]) : v.padStart(w[c]))).join('  ')).join('\n');
}
