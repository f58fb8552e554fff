/** `ballast bench policies [--scenarios DIR] [--policies a,b] [--json]`. */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { type BenchReport, benchPolicies, scenarioFiles } from "../daemon/policy_bench.js";
import { getPolicy, POLICY_NAMES } from "../policy/index.js";
import { ScenarioError } from "../sim/scenario.js";
import { formatSize } from "../units/index.js";
import { EXIT_OK, UsageError } from "./errors.js";
import { table } from "./table.js";

export function formatBench(r: BenchReport): string {
  const row = (x: BenchReport["rows"][0] | BenchReport["totals"][0]) => [
    x.scenario,
    x.policy,
    String(x.oom_kills),
    x.stall_s.toFixed(2),
    String(x.major_faults),
    formatSize(x.mean_host_free_bytes),
    String(x.admitted_vms),
    String(x.boot_failures),
  ];
  const header = [
    "scenario",
    "policy",
    "oom_kills",
    "stall_s",
    "major_faults",
    "mean_host_free",
    "admitted_vms",
    "boot_failures",
  ];
  return [table(header, r.rows.map(row)), "", table(header, r.totals.map(row))].join("\n");
}

export function benchCommand(args: string[], out: (s: string) => void): number {
  if (args[0] !== "policies")
    throw new UsageError(
      "usage: ballast bench policies [--scenarios DIR] [--policies LIST] [--json]",
    );
  const { values } = parseArgs({
    args: args.slice(1),
    options: {
      scenarios: { type: "string", default: "bench/scenarios" },
      policies: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!existsSync(values.scenarios))
    throw new UsageError(`--scenarios: no directory ${values.scenarios}`);
  const names = values.policies ? values.policies.split(",").map((s) => s.trim()) : POLICY_NAMES;
  const policies = names.map((n) => {
    const p = getPolicy(n);
    if (!p)
      throw new UsageError(`--policies: unknown policy "${n}" (known: ${POLICY_NAMES.join(", ")})`);
    return p;
  });
  const files = scenarioFiles(values.scenarios);
  if (files.length === 0)
    throw new UsageError(`--scenarios: no .yaml files in ${values.scenarios}`);
  let report: BenchReport;
  try {
    report = benchPolicies(policies, files);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
  out(values.json ? JSON.stringify(report, null, 2) : formatBench(report));
  return EXIT_OK;
}
