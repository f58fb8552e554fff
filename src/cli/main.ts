/** The `ballast` command: argument parsing and printing only. */
import { readFileSync } from "node:fs";
import { DaemonError } from "../daemon/daemon.js";
import { BENCH_POLICIES, benchCommand } from "./bench.js";
import { CHECK, checkCommand } from "./check.js";
import { DAEMON, DaemonStartError, daemonCommand } from "./daemon.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.js";
import { SIM_RUN, simCommand } from "./sim.js";
import { helpText, type VerbSpec, wantsHelp } from "./usage.js";
import {
  LIST,
  listCommand,
  MEM_MAX,
  MEM_SET,
  memMaxCommand,
  memSetCommand,
  POLICY,
  policyCommand,
  RESERVE,
  reserveCommand,
  SET,
  setCommand,
  TOP,
  topCommand,
} from "./verbs.js";

/** Every verb, in the order `ballast --help` lists them. */
export const VERBS: readonly VerbSpec[] = [
  DAEMON,
  LIST,
  TOP,
  MEM_SET,
  MEM_MAX,
  SET,
  POLICY,
  RESERVE,
  SIM_RUN,
  CHECK,
  BENCH_POLICIES,
];

/** The spec for `ballast WORD ...` ("sim" and "bench" have one subcommand each). */
export function verbSpec(word: string | undefined): VerbSpec | undefined {
  return VERBS.find((v) => v.name === word || v.name.split(" ")[0] === word);
}

/** The package's version, read from package.json at run time (never a copy that drifts). */
export function packageVersion(): { name: string; version: string } {
  const pkg = JSON.parse(
    readFileSync(new URL("../../../package.json", import.meta.url), "utf8"),
  ) as { name: string; version: string };
  return { name: pkg.name, version: pkg.version };
}

function mainHelp(): string {
  const w = Math.max(...VERBS.map((v) => v.name.length));
  return [
    "ballast: memory ballooning for virtual machines",
    "",
    "usage: ballast VERB [OPTIONS]      ballast VERB --help for a verb's options",
    "       ballast --version | --help",
    "",
    "verbs:",
    ...VERBS.map((v) => `  ${v.name.padEnd(w)}  ${v.brief}`),
    "",
    "Verbs that talk to the daemon (list, top, mem-set, mem-max, set, policy, reserve) find",
    "it through --state DIR (its daemon.json and token; default $BALLAST_STATE_DIR, else",
    "$XDG_STATE_HOME/ballast or ~/.local/state/ballast) or --connect ADDR (127.0.0.1:PORT or",
    "unix:PATH). list, mem-set and mem-max take --backend SPEC to skip the daemon.",
    "A DOMAIN is a name or an id, as in xl; a domain whose name is the text given wins.",
    "--json on every verb: one JSON document on stdout (the daemon: JSON log lines).",
    "",
    "Sizes take binary units: 512MiB, 1.5GiB, 4G (= 4GiB). A bare number is refused.",
    "Exit codes: 0 done, 1 failed (or: would not boot), 2 bad input.",
  ].join("\n");
}

let pipesGuarded = false;

/**
 * `ballast policy | head -1`: when the reader goes away, writes fail with EPIPE. That is
 * not an error of ours: stop writing and finish quietly (a running daemon keeps running).
 */
function guardPipes(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", () => {
      stream.write = (() => true) as typeof stream.write;
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  guardPipes();
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const err = (s: string) => process.stderr.write(`${s}\n`);
  const [cmd, ...rest] = argv;
  try {
    if (cmd === "--version" || cmd === "-V") {
      const v = packageVersion();
      if (rest.length > 0 && !(rest.length === 1 && rest[0] === "--json"))
        throw new UsageError(`--version takes nothing but --json (got "${rest.join(" ")}")`);
      out(rest[0] === "--json" ? JSON.stringify(v) : `${v.name} ${v.version}`);
      return EXIT_OK;
    }
    if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
      if (cmd === "help" && rest.length > 0) {
        const spec = verbSpec(rest[0]);
        if (!spec) throw new UsageError(`no verb "${rest[0]}"; ballast --help lists them`);
        out(helpText(spec));
        return EXIT_OK;
      }
      // `ballast` alone is a usage error: the help, on stderr, exit 2.
      (cmd === undefined ? err : out)(mainHelp());
      return cmd === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const spec = verbSpec(cmd);
    if (spec && wantsHelp(rest)) {
      out(helpText(spec));
      return EXIT_OK;
    }
    switch (cmd) {
      case "sim":
        return simCommand(rest, out);
      case "check":
        return checkCommand(rest, out);
      case "bench":
        return await benchCommand(rest, out);
      case "daemon":
        return await daemonCommand(rest, out);
      case "list":
        return await listCommand(rest, out, err);
      case "mem-set":
        return await memSetCommand(rest, out, err);
      case "mem-max":
        return await memMaxCommand(rest, out, err);
      case "set":
        return await setCommand(rest, out, err);
      case "policy":
        return await policyCommand(rest, out, err);
      case "reserve":
        return await reserveCommand(rest, out, err);
      case "top":
        return await topCommand(rest, out, err);
      default:
        throw new UsageError(`unknown command "${cmd}"; ballast --help lists the verbs`);
    }
  } catch (e) {
    if (e instanceof DaemonStartError) {
      process.stderr.write(`ballast daemon: not started: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof DaemonError) {
      process.stderr.write(`ballast: ${e.message}\n`);
      return e.status === 400 ? EXIT_USAGE : EXIT_FAILED;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`ballast: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS")) {
      const hint = verbSpec(cmd) ? `; ballast ${cmd} --help lists its options` : "";
      process.stderr.write(`ballast: ${e.message}${hint}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`ballast: ${(e as Error).stack ?? e}\n`);
    return EXIT_FAILED;
  }
}
