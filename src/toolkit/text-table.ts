/**
 * Plain-text tables for the toolkit's reports: columns padded to their widest cell, numbers
 * right-aligned, a rule under the header.
 *
 * @example
 * ```ts
 * textTable(['op', 'count'], [['MatMul', 24], ['Add', 17]]);
 * // op      count
 * // ------  -----
 * // MatMul     24
 * // Add        17
 * ```
 */
export type Cell = string | number;

export function textTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = (c: Cell) => (typeof c === 'number' ? formatNumber(c) : c);
  const cells = rows.map((r) => r.map(text));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Integers as they are; other numbers to 4 significant digits. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  if (!Number.isFinite(n)) return String(n);
  return Number(n.toPrecision(4)).toString();
}

/** Bytes in the largest unit that keeps the number over 1: 44.76 MB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(2)} ${units[u]}`;
}
