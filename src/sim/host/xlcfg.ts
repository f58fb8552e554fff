/**
 * xl domain configuration files (xl.cfg(5)), as far as memory goes: `memory` and
 * `maxmem` are whole MiB (xl says so; no units are written there), `type` or `builder`
 * says PV or HVM, `extra`/`cmdline` carry the kernel command line.
 *
 * The syntax is libxlu's (tools/libs/util/libxlu_cfg_y.y): `KEY = VALUE` ended by a
 * newline or `;`; a value is an atom (a number, a 'string' or a "string") or a list
 * `[ atom, atom, ]` that may span lines and end with a comma; `#` starts a comment.
 * Numbers are read as xl reads them, with strtol(value, &end, 0) in xlu_cfg_get_long:
 * a "1024" string is 1024, 0x400 is hexadecimal, a leading 0 is octal, and a value
 * out of range is refused.
 */
import { MAX_SIZE_BYTES, MiB } from "../../units/index.js";

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

type Atom = { kind: "string" | "number"; text: string; line: number };
type Value = Atom | { kind: "list"; items: Atom[]; line: number };

type Token =
  | { t: "ident" | "string" | "number"; text: string; line: number }
  | { t: "=" | "," | ";" | "[" | "]" | "nl" | "end"; line: number };

/** libxlu_cfg_l.l's tokens: identifiers, numbers, quoted strings, punctuation, newlines. */
function tokenize(text: string, source: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  const fail = (msg: string): never => {
    throw new XlConfigError(`${source}:${line}: ${msg}`);
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "\n") {
      out.push({ t: "nl", line });
      line++;
      i++;
    } else if (ch === " " || ch === "\t" || ch === "\r") i++;
    else if (ch === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (ch === "=" || ch === "," || ch === ";" || ch === "[" || ch === "]") {
      out.push({ t: ch, line });
      i++;
    } else if (ch === '"' || ch === "'") {
      let j = i + 1;
      let value = "";
      for (;;) {
        if (j >= text.length || text[j] === "\n") fail(`a ${ch}string${ch} is not closed`);
        const c = text[j]!;
        if (c === ch) break;
        // Double-quoted strings take backslash escapes (xlu__cfgl_dequote); single do not.
        if (c === "\\" && ch === '"' && j + 1 < text.length && text[j + 1] !== "\n") {
          const e = text[j + 1]!;
          value += e === "n" ? "\n" : e === "t" ? "\t" : e;
          j += 2;
          continue;
        }
        value += c;
        j++;
      }
      out.push({ t: "string", text: value, line });
      i = j + 1;
    } else if (/[0-9]/.test(ch)) {
      const m = /^[0-9][0-9a-fA-Fx]*/.exec(text.slice(i, i + 64))!;
      out.push({ t: "number", text: m[0], line });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 256))!;
      out.push({ t: "ident", text: m[0], line });
      i += m[0].length;
    } else {
      const shown = /[\x20-\x7e]/.test(ch) ? `"${ch}"` : `byte 0x${ch.charCodeAt(0).toString(16)}`;
      fail(`unexpected ${shown} (an xl config is KEY = VALUE lines)`);
    }
  }
  out.push({ t: "end", line });
  return out;
}

/** libxlu_cfg_y.y's grammar, building KEY -> value with the line each value is on. */
function parseSettings(tokens: Token[], source: string): Map<string, Value> {
  const values = new Map<string, Value>();
  let p = 0;
  const peek = () => tokens[p]!;
  const fail = (tok: Token, msg: string): never => {
    throw new XlConfigError(`${source}:${tok.line}: ${msg}`);
  };
  const describe = (tok: Token) =>
    tok.t === "nl"
      ? "the end of the line"
      : tok.t === "end"
        ? "the end of the file"
        : "text" in tok
          ? `"${tok.text.slice(0, 40)}"`
          : `"${tok.t}"`;
  const skipNewlines = () => {
    while (peek().t === "nl") p++;
  };
  const atom = (): Atom => {
    const tok = peek();
    if (tok.t === "string" || tok.t === "number") {
      p++;
      return { kind: tok.t, text: tok.text, line: tok.line };
    }
    return fail(tok, `expected a number or a "string", found ${describe(tok)}`);
  };
  for (;;) {
    const tok = peek();
    if (tok.t === "end") break;
    if (tok.t === "nl" || tok.t === ";") {
      p++;
      continue;
    }
    if (tok.t !== "ident") fail(tok, `expected KEY = VALUE, found ${describe(tok)}`);
    const key = (tok as { text: string }).text;
    p++;
    if (peek().t !== "=") fail(peek(), `expected "=" after ${key}, found ${describe(peek())}`);
    p++;
    let value: Value;
    if (peek().t === "[") {
      const open = peek();
      p++;
      const items: Atom[] = [];
      skipNewlines();
      while (peek().t !== "]") {
        if (peek().t === "end") fail(open, `the list for ${key} is not closed with "]"`);
        items.push(atom());
        skipNewlines();
        if (peek().t === ",") {
          p++;
          skipNewlines();
        } else if (peek().t !== "]") {
          fail(peek(), `expected "," or "]" in the list for ${key}, found ${describe(peek())}`);
        }
      }
      p++;
      value = { kind: "list", items, line: open.line };
    } else value = atom();
    const end = peek();
    if (end.t !== "nl" && end.t !== ";" && end.t !== "end")
      fail(end, `expected the end of the line after ${key}, found ${describe(end)}`);
    values.set(key, value);
  }
  return values;
}

/** C's strtol(text, &end, 0) for a whole atom: decimal, 0x hexadecimal or 0 octal. */
function strtol(text: string): bigint | null {
  const t = text.trim();
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(t);
  if (!m) return null;
  const digits = m[2]!;
  const n = /^0[xX]/.test(digits)
    ? BigInt(digits)
    : digits.length > 1 && digits.startsWith("0")
      ? BigInt(`0o${digits.slice(1)}`)
      : BigInt(digits);
  return m[1] === "-" ? -n : n;
}

const LONG_MAX = 2n ** 63n - 1n;

export function parseXlConfig(text: string, source: string): XlConfig {
  const values = parseSettings(tokenize(text, source), source);
  const mib = (key: string): number | null => {
    const v = values.get(key);
    if (v === undefined) return null;
    const where = `${source}:${v.line}`;
    if (v.kind === "list") throw new XlConfigError(`${where}: ${key} is a list, not a number`);
    const n = strtol(v.text);
    if (n === null || n <= 0n) {
      throw new XlConfigError(
        `${where}: ${key} must be a whole number of MiB above 0 (xl reads "${key} = 1024" as 1 GiB; got "${v.text.slice(0, 40)}")`,
      );
    }
    // xl multiplies by 1024 into a KiB count held in a 64-bit integer; we hold bytes.
    if (n > LONG_MAX || n * BigInt(MiB) > BigInt(MAX_SIZE_BYTES)) {
      throw new XlConfigError(
        `${where}: ${key} = ${v.text.slice(0, 40)} MiB is too large: sizes are below 8192TiB (${Math.floor(MAX_SIZE_BYTES / MiB)} MiB at most)`,
      );
    }
    return Number(n) * MiB;
  };
  const memory = mib("memory");
  if (memory === null) throw new XlConfigError(`${source}: no "memory = MiB" line`);
  const maxmem = mib("maxmem") ?? memory;
  if (maxmem < memory)
    throw new XlConfigError(
      `${source}:${values.get("maxmem")!.line}: maxmem (${maxmem / MiB}) is below memory (${memory / MiB})`,
    );
  const str = (key: string): string | null => {
    const v = values.get(key);
    if (v === undefined) return null;
    if (v.kind === "list")
      throw new XlConfigError(`${source}:${v.line}: ${key} must be a "string", not a list`);
    return v.text;
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
