/**
 * Trace replay: a CSV of `t,anon,file` rows, sizes with units (`10s,1GiB,512MiB`), an
 * optional header row, `#` comments. Points must be in time order.
 */
import { parseDuration, parseSize, UnitError } from "../../units/index.js";
import type { TracePoint } from "./spec.js";

export class TraceError extends Error {
  override name = "TraceError";
}

export function parseTraceCsv(text: string, source: string): TracePoint[] {
  const points: TracePoint[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const cells = line.split(",").map((c) => c.trim());
    if (points.length === 0 && cells[0]?.toLowerCase() === "t") return; // header
    const where = `${source}:${i + 1}`;
    if (cells.length !== 3) {
      throw new TraceError(`${where}: expected 3 columns t,anon,file, got ${cells.length}`);
    }
    try {
      const p = {
        tMs: parseDuration(cells[0]!),
        anon: parseSize(cells[1]!),
        file: parseSize(cells[2]!),
      };
      const prev = points[points.length - 1];
      if (prev && p.tMs < prev.tMs) {
        throw new TraceError(`${where}: time ${cells[0]} is before the row above`);
      }
      points.push(p);
    } catch (e) {
      if (e instanceof UnitError) throw new TraceError(`${where}: ${e.message}`);
      throw e;
    }
  });
  if (points.length === 0) throw new TraceError(`${source}: no data rows`);
  return points;
}
