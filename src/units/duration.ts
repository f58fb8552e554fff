/** Durations in scenario files and CLI flags: `100ms`, `60s`, `5m`, `1h`. */
import { UnitError } from "./size.js";

const MULT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/i;

/** Parse a duration into whole milliseconds. A bare number is refused (which unit?). */
export function parseDuration(input: string): number {
  const text = String(input).trim();
  const m = DURATION_RE.exec(text);
  if (!m) {
    if (/^\d+(\.\d+)?$/.test(text)) {
      throw new UnitError(`duration "${text}" has no unit: write ${text}s or ${text}ms`);
    }
    throw new UnitError(`cannot read duration "${text}": write e.g. 100ms, 60s, 5m or 1h`);
  }
  const ms = Number(m[1]) * MULT[m[2]!.toLowerCase()]!;
  if (!Number.isInteger(ms)) {
    throw new UnitError(`duration "${text}" is not a whole number of milliseconds`);
  }
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
