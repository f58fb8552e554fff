/**
 * Sizes that a person types, read so that they cannot be got wrong.
 *
 * Binary units only, as QEMU (`-m 4G`) and xl (`mem-set d 4G`) read them: `K`, `M`,
 * `G`, `T` and `KiB`..`TiB` are powers of 1024. A bare number is refused (the seed's
 * "entering the wrong units": is `512` bytes, KiB or MiB?), and so are `KB/MB/GB/TB`,
 * which mean powers of 1000 to half the world and 1024 to the other half.
 */

export const PAGE_SIZE = 4096;
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;
/**
 * The largest size read: 2^53 - 1 bytes (just below 8192 TiB), the largest integer a
 * JavaScript number holds exactly. Named in TiB in messages, a unit that is accepted.
 */
export const MAX_SIZE_BYTES = Number.MAX_SAFE_INTEGER;

/** A size or duration that was typed wrong; `message` says how to type it right. */
export class UnitError extends Error {
  override name = "UnitError";
}

const BINARY: Record<string, number> = {
  b: 1,
  k: KiB,
  kib: KiB,
  m: MiB,
  mib: MiB,
  g: GiB,
  gib: GiB,
  t: TiB,
  tib: TiB,
};

const AMBIGUOUS: Record<string, string> = {
  kb: "KiB",
  mb: "MiB",
  gb: "GiB",
  tb: "TiB",
};

const SIZE_RE = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)$/i;

export interface ParseSizeOptions {
  /** Require a whole number of 4 KiB pages (for values that become page counts). */
  wholePages?: boolean;
  /** Allow 0 (default: allowed). */
  allowZero?: boolean;
}

/**
 * Parse a size such as `1.5GiB`, `512 M` or `4096B` into whole bytes.
 * Throws UnitError with a message that names the right spelling.
 */
export function parseSize(input: string, opts: ParseSizeOptions = {}): number {
  const text = String(input).trim();
  if (text === "") throw new UnitError("empty size: write a number and a unit, e.g. 512MiB");
  const m = SIZE_RE.exec(text);
  if (!m) {
    throw new UnitError(
      `cannot read size "${text}": write a number and a binary unit, e.g. 512MiB or 1.5GiB`,
    );
  }
  const numText = m[1]!;
  const unitText = m[2]!.toLowerCase();
  const value = Number(numText);
  if (unitText === "") {
    throw new UnitError(
      `size "${text}" has no unit: which did you mean, ${numText}MiB or ${numText}GiB? ` +
        `(B, KiB, MiB, GiB, TiB; K/M/G/T are binary)`,
    );
  }
  const ambiguous = AMBIGUOUS[unitText];
  if (ambiguous) {
    throw new UnitError(
      `size "${text}": ${m[2]} is ambiguous (1000 or 1024?); write ${numText}${ambiguous}`,
    );
  }
  const mult = BINARY[unitText];
  if (mult === undefined) {
    throw new UnitError(
      `size "${text}": unknown unit "${m[2]}"; use B, KiB, MiB, GiB or TiB (or K, M, G, T)`,
    );
  }
  if (!Number.isFinite(value)) {
    throw new UnitError(`size "${text}" is not a finite number`);
  }
  // Say what is allowed where it is read: some places take 0, some do not.
  const range = opts.allowZero === false ? "above 0" : "0 or more";
  if (value < 0 || Object.is(value, -0) || numText.startsWith("-")) {
    throw new UnitError(`size "${text}" has a minus sign; sizes are ${range}`);
  }
  const bytes = value * mult;
  if (!Number.isFinite(bytes) || bytes > MAX_SIZE_BYTES) {
    throw new UnitError(`size "${text}" is too large: sizes are below 8192TiB`);
  }
  if (!Number.isInteger(bytes)) {
    throw new UnitError(
      `size "${text}" is not a whole number of bytes (${bytes} B); write it in a smaller unit`,
    );
  }
  if (opts.allowZero === false && bytes === 0) {
    throw new UnitError(`size "${text}" is zero; give a size above 0`);
  }
  if (opts.wholePages && bytes % PAGE_SIZE !== 0) {
    const down = Math.floor(bytes / PAGE_SIZE) * PAGE_SIZE;
    throw new UnitError(
      `size "${text}" is not a whole number of 4 KiB pages; ` +
        `use ${formatSize(down, { exact: true })} or ${formatSize(down + PAGE_SIZE, { exact: true })}`,
    );
  }
  return bytes;
}

export interface FormatOptions {
  /** Print the exact value in the largest unit that divides it (e.g. `1536MiB`). */
  exact?: boolean;
}

const UNITS: Array<[string, number]> = [
  ["TiB", TiB],
  ["GiB", GiB],
  ["MiB", MiB],
  ["KiB", KiB],
];

/**
 * Format bytes for people: `1.50 GiB`, `512 MiB`, `4 KiB`, `0 B`. With `exact`, the
 * largest unit that divides the value exactly, with no space (`1536MiB`), which
 * parseSize reads back to the same number.
 */
export function formatSize(bytes: number, opts: FormatOptions = {}): string {
  const sign = bytes < 0 ? "-" : "";
  const abs = Math.abs(bytes);
  if (opts.exact) {
    for (const [name, mult] of UNITS) {
      if (abs >= mult && abs % mult === 0) return `${sign}${abs / mult}${name}`;
    }
    return `${sign}${abs}B`;
  }
  for (const [name, mult] of UNITS) {
    if (abs >= mult) {
      const v = abs / mult;
      const text = Number.isInteger(v) ? String(v) : v.toFixed(2);
      return `${sign}${text} ${name}`;
    }
  }
  return `${sign}${abs} B`;
}

/** Bytes to whole pages; throws if not page-aligned (callers round where they say so). */
export function bytesToPages(bytes: number): number {
  if (bytes % PAGE_SIZE !== 0) {
    throw new UnitError(`${bytes} B is not a whole number of 4 KiB pages`);
  }
  return bytes / PAGE_SIZE;
}

export function pagesToBytes(pages: number): number {
  return pages * PAGE_SIZE;
}

/** Round bytes up to whole pages. */
export function bytesToPagesCeil(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE);
}

/** A rate such as `256MiB/s` (a size per second), in bytes per second. */
export function parseRate(input: string): number {
  const text = String(input).trim();
  const m = /^(.*?)\s*\/\s*s$/i.exec(text);
  if (!m) {
    throw new UnitError(`cannot read rate "${text}": write a size per second, e.g. 256MiB/s`);
  }
  return parseSize(m[1]!);
}
