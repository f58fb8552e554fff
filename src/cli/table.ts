/** Plain-text tables for terminals: columns padded, numbers right-aligned. */

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map(
    (_, i) =>
      rows.length > 0 && rows.every((r) => /^[-+]?[\d.]+( ?[KMGT]i?B|%)?$|^-$/.test(r[i] ?? "")),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** MiB with no decimals, as xl list prints Mem. */
export function mib(bytes: number): string {
  return String(Math.round(bytes / (1024 * 1024)));
}
