/**
 * xl domain configuration files (xl.cfg(5)), as far as memory goes: `memory` and
 * `maxmem` are integers in MiB (xl says so; no units are written there), `type` or
 * `builder` says PV or HVM, `extra`/`cmdline` carry the kernel command line. Values are
 * numbers, quoted strings or [lists]; `#` starts a comment.
 */
import { MiB } from "../../units/index.js";

export interface XlConfig {
  name: string | null;
  memoryBytes: number;
  maxmemBytes: number;
  cmdline: string;
  hvm: boolean;
}

export class XlConfigError extends Error {
  override name = "XlConfigError";
}

type Value = string | number | Value[];

function parseValue(text: string, where: string): Value {
  const t = text.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  const q = /^"((?:[^"\\]|\\.)*)"$|^'([^']*)'$/.exec(t);
  if (q) return q[1] !== undefined ? q[1].replace(/\\(.)/g, "$1") : q[2]!;
  if (t.startsWith("[") && t.endsWith("]")) {
    const inner = t.slice(1, -1).trim();
    if (inner === "") return [];
    return splitTopLevel(inner).map((v) => parseValue(v, where));
  }
  throw new XlConfigError(`${where}: cannot read value ${t} (numbers, "strings" or [lists])`);
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = "";
  for (const ch of s) {
    if (quote) {
      cur += ch;
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    if (ch === "[") depth++;
    if (ch === "]") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += ch;
  }
  if (cur.trim() !== "") out.push(cur);
  return out;
}

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "#") return line.slice(0, i);
  }
  return line;
}

export function parseXlConfig(text: string, source: string): XlConfig {
  const values = new Map<string, Value>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = stripComment(raw).trim().replace(/;$/, "");
    if (line === "") return;
    const where = `${source}:${i + 1}`;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new XlConfigError(`${where}: expected KEY = VALUE`);
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      throw new XlConfigError(`${where}: bad key "${key}"`);
    values.set(key, parseValue(line.slice(eq + 1), where));
  });
  const mib = (key: string): number | null => {
    const v = values.get(key);
    if (v === undefined) return null;
    if (typeof v !== "number" || v <= 0) {
      throw new XlConfigError(
        `${source}: ${key} must be a whole number of MiB above 0 (xl reads "${key} = 1024" as 1 GiB)`,
      );
    }
    return v * MiB;
  };
  const memory = mib("memory");
  if (memory === null) throw new XlConfigError(`${source}: no "memory = MiB" line`);
  const maxmem = mib("maxmem") ?? memory;
  if (maxmem < memory)
    throw new XlConfigError(
      `${source}: maxmem (${maxmem / MiB}) is below memory (${memory / MiB})`,
    );
  const str = (key: string): string | null => {
    const v = values.get(key);
    if (v === undefined) return null;
    if (typeof v !== "string") throw new XlConfigError(`${source}: ${key} must be a "string"`);
    return v;
  };
  const type = str("type") ?? str("builder");
  const cmdline = [str("cmdline"), str("extra")].filter((s) => s !== null).join(" ");
  return {
    name: str("name"),
    memoryBytes: memory,
    maxmemBytes: maxmem,
    cmdline,
    hvm: type === "hvm",
  };
}
