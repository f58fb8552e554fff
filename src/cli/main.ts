/** The `ballast` command: argument parsing and printing only. */
import { benchCommand } from "./bench.js";
import { checkCommand } from "./check.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.js";
import { simCommand } from "./sim.js";

const HELP = `ballast: memory ballooning for virtual machines

usage:
  ballast sim run FILE [--json]       run a scenario on the simulated host
  ballast check --memory SIZE --maxmem SIZE [--arch i686] [--cmdline TEXT]
  ballast check FILE.cfg              would this xl domain boot, and what does ballooning up cost?
  ballast bench policies [--scenarios DIR] [--policies LIST] [--json]
                                      every policy on every scenario, same seed, same simulator

Sizes take binary units: 512MiB, 1.5GiB, 4G (= 4GiB). A bare number is refused.
Exit codes: 0 done, 1 failed (or: would not boot), 2 bad input.`;

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "sim":
        return simCommand(rest, out);
      case "check":
        return checkCommand(rest, out);
      case "bench":
        return benchCommand(rest, out);
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
