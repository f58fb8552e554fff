/**
 * Each verb's options, parsed and explained from one table, so `ballast VERB --help`
 * lists exactly what the verb accepts (an option cannot be added without its help).
 */
import { parseArgs } from "node:util";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  default?: string | boolean;
  /** The value's name in the help: DIR, ADDR, SIZE. */
  arg?: string;
  help: string;
  /** Accepted only to be refused with a reason (e.g. --backend on a daemon-only verb): not listed. */
  hidden?: boolean;
}

export interface VerbSpec<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  /** As typed: "list", "sim run", "bench policies". */
  name: string;
  /** A few words for the verb list of `ballast --help`. */
  brief: string;
  /** What the verb does, for `ballast VERB --help`. */
  summary: string;
  /** The forms of the command, each without "ballast ". */
  usage: string[];
  options: O;
  /** Paragraphs after the options: what the JSON holds, rules worth knowing. */
  notes?: string[];
}

/** Declare a verb (keeps the options' literal types, for typed parsing). */
export function verb<const O extends Record<string, OptionSpec>>(spec: VerbSpec<O>): VerbSpec<O> {
  return spec;
}

/** The options every verb that talks to a running daemon takes. */
export const DAEMON_CLIENT = {
  state: {
    type: "string",
    arg: "DIR",
    help:
      "the daemon's state directory, where its address (daemon.json) and token are read " +
      "(default $BALLAST_STATE_DIR, else $XDG_STATE_HOME/ballast or ~/.local/state/ballast)",
  },
  connect: {
    type: "string",
    arg: "ADDR",
    help:
      "the daemon's API address, 127.0.0.1:PORT or unix:PATH, instead of the one in " +
      "DIR/daemon.json (the token is still read from --state)",
  },
} as const satisfies Record<string, OptionSpec>;

/** `--backend` on a verb that can talk to a backend directly. */
export const DIRECT_BACKEND = {
  type: "string",
  arg: "SPEC",
  help:
    "talk to a backend directly instead of the daemon: sim, sim:FILE.yaml, qemu:DIR, " +
    "qemu:FILE.yaml or libvirt:URI (no pins, no policy: the daemon does not hear of it)",
} as const satisfies OptionSpec;

/** `--backend` on a verb that works through the daemon only: parsed to say so. */
export const NO_BACKEND = {
  type: "string",
  arg: "SPEC",
  help: "refused: this verb works through the daemon",
  hidden: true,
} as const satisfies OptionSpec;

/** Parse a verb's arguments (strict: an unknown option is exit 2). */
export function parseVerb<const O extends Record<string, OptionSpec>>(
  spec: VerbSpec<O>,
  args: string[],
) {
  return parseArgs({ args, options: spec.options, allowPositionals: true, strict: true });
}

/** `--help` or `-h` among the arguments (before a `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
}

/** Wrap text at `width` columns, each line after the first indented by `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const words = text.split(/\s+/).filter((w) => w !== "");
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line !== "" && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line === "" ? w : `${line} ${w}`;
  }
  if (line !== "") lines.push(line);
  return lines.join(`\n${indent}`);
}

/** What `ballast VERB --help` prints. */
export function helpText(spec: VerbSpec): string {
  // A form that starts with spaces continues the one before it.
  const forms = spec.usage.map((u, i) =>
    /^\s/.test(u)
      ? `${" ".repeat(15)}${u.trim()}`
      : `${i === 0 ? "usage: " : "       "}ballast ${u}`,
  );
  const flags = Object.entries(spec.options)
    .filter(([, o]) => !o.hidden)
    .map(([name, o]) => {
      const short = o.short ? `-${o.short}, ` : "";
      return [`${short}--${name}${o.arg ? ` ${o.arg}` : ""}`, o.help] as const;
    });
  flags.push(["-h, --help", "this help"]);
  const w = Math.min(26, Math.max(...flags.map(([f]) => f.length)));
  const pad = " ".repeat(w + 4);
  const opts = flags.map(([f, h]) =>
    f.length > w
      ? `  ${f}\n${pad}${wrap(h, 92 - pad.length, pad)}`
      : `  ${f.padEnd(w)}  ${wrap(h, 92 - pad.length, pad)}`,
  );
  return [
    ...forms,
    "",
    wrap(spec.summary, 92, ""),
    "",
    "options:",
    ...opts,
    ...(spec.notes ?? []).flatMap((n) => ["", wrap(n, 92, "")]),
  ].join("\n");
}
