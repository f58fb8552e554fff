/** `ballast bench policies [--scenarios DIR] [--policies a,b] [--hypervisor xen|kvm|both] [--no-density] [--json] [--html OUT]`. */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type BenchReport,
  type BenchRow,
  type BenchTotal,
  benchPolicies,
  scenarioFiles,
} from "../daemon/policy_bench.js";
import { PolicySpecError, parsePolicy, POLICY_NAMES } from "../policy/index.js";
import { type HypervisorKind, ScenarioError, withHypervisor } from "../sim/scenario.js";
import { EXIT_OK, UsageError } from "./errors.js";
import { checkHtmlOut, writeHtmlOut } from "./html_out.js";
import { startProgress } from "./progress.js";
import { mib, table } from "./table.js";
import { parseVerb, verb } from "./usage.js";

const SHIPPED_SCENARIOS = fileURLToPath(new URL("../../../bench/scenarios", import.meta.url));

const HYPERVISORS: Record<string, HypervisorKind[]> = {
  xen: ["xen"],
  kvm: ["kvm"],
  both: ["xen", "kvm"],
};

export const BENCH_POLICIES = verb({
  name: "bench policies",
  brief: "every policy on every scenario, same seed, same simulator",
  summary:
    "Every policy on every scenario, same seed, same simulator: OOM kills, stalls, faults, " +
    "density, reaction times, per host kind.",
  usage: [
    "bench policies [--scenarios DIR] [--policies LIST] [--hypervisor xen|kvm|both] [--no-density] [--json] [--html OUT]",
  ],
  options: {
    // The shipped scenarios, found next to the package: the bench runs from anywhere.
    scenarios: {
      type: "string",
      default: SHIPPED_SCENARIOS,
      arg: "DIR",
      help: "a directory of scenario .yaml files (default: bench/scenarios)",
    },
    policies: {
      type: "string",
      arg: "LIST",
      help: "comma-separated policy specs, e.g. ballast,squeezed:free-target=9MiB (default: all)",
    },
    "no-density": {
      type: "boolean",
      default: false,
      help: "skip the density search (how many VMs each policy fits)",
    },
    hypervisor: {
      type: "string",
      default: "both",
      arg: "KIND",
      help: "run each scenario on xen, kvm or both (default both)",
    },
    json: {
      type: "boolean",
      default: false,
      help: "print the report as JSON, schema ballast.bench.policies/v1 (README: The policy benchmark)",
    },
    html: { type: "string", arg: "OUT", help: "also write the report as an HTML page with charts" },
  },
  notes: [
    "Table: + marks a column where higher is better, - where lower is; mean host free memory " +
      "is in MiB. On a terminal, progress goes to stderr.",
  ],
});

const USAGE = `usage: ballast ${BENCH_POLICIES.usage[0]}`;

/** Columns of the text table: header, which way is better, and the cell. */
const COLUMNS: Array<[string, "higher" | "lower" | null, (x: BenchRow | BenchTotal) => string]> = [
  ["scenario", null, (x) => x.scenario],
  ["policy", null, (x) => x.policy],
  ["hv", null, (x) => x.hypervisor],
  ["density_vms", "higher", (x) => String(x.density_vms)],
  ["oom_kills", "lower", (x) => String(x.oom_kills)],
  ["kills_with_room", "lower", (x) => String(x.oom_kills_host_had_room)],
  ["stall_s", "lower", (x) => x.stall_s.toFixed(2)],
  ["major_faults", "lower", (x) => String(x.major_faults)],
  [
    "reaction_p50_s",
    "lower",
    (x) => (x.reaction_p50_s === null ? "-" : x.reaction_p50_s.toFixed(2)),
  ],
  [
    "reaction_p99_s",
    "lower",
    (x) => (x.reaction_p99_s === null ? "-" : x.reaction_p99_s.toFixed(2)),
  ],
  ["mean_host_free(MiB)", null, (x) => mib(x.mean_host_free_bytes)],
  ["admitted_vms", "higher", (x) => String(x.admitted_vms)],
  ["boot_failures", "lower", (x) => String(x.boot_failures)],
  ["crashes", "lower", (x) => String(x.crashes)],
];

/**
 * The report as two tables (per scenario, then totals per host kind), each column's
 * header marked with which way is better: `+` higher, `-` lower. Mean host free memory
 * has no mark: more free memory is not better in itself (a policy gets it by squeezing
 * guests that did not need to give it up).
 */
export function formatBench(r: BenchReport): string {
  const header = COLUMNS.map(([h, better]) =>
    better === "higher" ? `${h} +` : better === "lower" ? `${h} -` : h,
  );
  const row = (x: BenchRow | BenchTotal) => COLUMNS.map(([, , cell]) => cell(x));
  return [
    "+ higher is better, - lower is better",
    "",
    table(header, r.rows.map(row)),
    "",
    table(header, r.totals.map(row)),
  ].join("\n");
}

export async function benchCommand(args: string[], out: (s: string) => void): Promise<number> {
  if (args[0] !== "policies")
    throw new UsageError(
      `${args[0] === undefined ? "bench needs a subcommand" : `bench has no subcommand "${args[0]}"`}\n${USAGE}`,
    );
  const { values, positionals } = parseVerb(BENCH_POLICIES, args.slice(1));
  if (positionals.length > 0)
    throw new UsageError(`bench policies takes no arguments (got "${positionals[0]}")\n${USAGE}`);
  if (!existsSync(values.scenarios))
    throw new UsageError(`--scenarios: no directory ${values.scenarios}`);
  const names = values.policies ? values.policies.split(",").map((s) => s.trim()) : POLICY_NAMES;
  const policies = names.map((n) => {
    try {
      return parsePolicy(n);
    } catch (e) {
      if (e instanceof PolicySpecError) throw new UsageError(`--policies: ${e.message}`);
      throw e;
    }
  });
  const files = scenarioFiles(values.scenarios);
  if (files.length === 0)
    throw new UsageError(`--scenarios: no .yaml files in ${values.scenarios}`);
  const kinds = HYPERVISORS[values.hypervisor];
  if (!kinds) throw new UsageError(`--hypervisor: xen, kvm or both (got "${values.hypervisor}")`);
  if (values.html !== undefined) checkHtmlOut(values.html);
  let report: BenchReport;
  try {
    const progress = startProgress("bench policies", null);
    report = await benchPolicies(policies, files, {
      density: !values["no-density"],
      // Every scenario on each host kind asked for, whatever kind its file names.
      transform: (s) => kinds.map((k) => withHypervisor(s, k)),
      onProgress: (done, total, detail) => progress.update(done, detail, total),
    });
    progress.done();
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
  if (values.html !== undefined)
    writeHtmlOut(values.html, { bench: report }, "Ballast policy benchmark");
  out(values.json ? JSON.stringify(report, null, 2) : formatBench(report));
  return EXIT_OK;
}
