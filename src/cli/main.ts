/** The `ballast` command: argument parsing and printing only. */
import { DaemonError } from "../daemon/daemon.js";
import { benchCommand } from "./bench.js";
import { checkCommand } from "./check.js";
import { DaemonStartError, daemonCommand } from "./daemon.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.js";
import { simCommand } from "./sim.js";
import {
  listCommand,
  memMaxCommand,
  memSetCommand,
  policyCommand,
  reserveCommand,
  setCommand,
  topCommand,
} from "./verbs.js";

const HELP = `ballast: memory ballooning for virtual machines

usage:
  ballast daemon [--backend sim[:FILE]] [--policy NAME] [--interval 1s] [--speed N]
                 [--listen 127.0.0.1:PORT|unix:PATH] [--state DIR] [--top]
                 [--metrics-listen HOST:PORT]   dashboard at http://LISTEN/, metrics at /metrics
  ballast list | top [--once]          what the daemon sees (target, actual, floor, pressure)
  ballast mem-set DOMAIN SIZE [--force] [--dry-run]
                                       set the target and pin it: the policy leaves it there
  ballast set DOMAIN auto              clear the pin: the policy manages DOMAIN again
  ballast mem-max DOMAIN SIZE
  ballast set DOMAIN min=SIZE max=SIZE weight=N buffer=PCT
  ballast policy [NAME]                show or switch the policy (none, proxmox, mom, squeezed, ballast)
  ballast reserve SIZE | --release ID  keep memory free for a new domain (as squeezed does)
  ballast sim run FILE [--json] [--html OUT]   run a scenario on the simulated host
  ballast check --memory SIZE --maxmem SIZE [--arch i686] [--cmdline TEXT]
  ballast check FILE.cfg              would this xl domain boot, and what does ballooning up cost?
  ballast bench policies [--scenarios DIR] [--policies LIST] [--hypervisor xen|kvm|both]
                         [--no-density] [--json] [--html OUT]
                                      every policy on every scenario, same seed, same simulator

Sizes take binary units: 512MiB, 1.5GiB, 4G (= 4GiB). A bare number is refused.
Exit codes: 0 done, 1 failed (or: would not boot), 2 bad input.`;

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
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out(HELP);
        return cmd === undefined ? EXIT_USAGE : EXIT_OK;
      default:
        throw new UsageError(`unknown command "${cmd}"\n\n${HELP}`);
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
      process.stderr.write(`ballast: ${e.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`ballast: ${(e as Error).stack ?? e}\n`);
    return EXIT_FAILED;
  }
}
