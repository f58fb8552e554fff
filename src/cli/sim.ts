/** `ballast sim run FILE [--json]`: run a scenario on the simulated host and report. */
import { parseArgs } from "node:util";
import { buildReport, type Report } from "../sim/report.js";
import { loadScenario, ScenarioError } from "../sim/scenario.js";
import { World } from "../sim/world.js";
import { EXIT_OK, UsageError } from "./errors.js";
import { mib, table } from "./table.js";

export function runScenarioFile(file: string): Report {
  const world = new World(loadScenario(file));
  world.runToEnd();
  return buildReport(world);
}

export function formatReport(r: Report): string {
  const rows = r.domains.map((d) => [
    d.name,
    String(d.id),
    mib(d.actual_bytes),
    mib(d.target_bytes),
    mib(d.maxmem_bytes),
    mib(d.balloon_bytes),
    d.state,
    d.state === "running"
      ? `${d.stats.psi_some_avg10.toFixed(2)}/${d.stats.psi_full_avg10.toFixed(2)}`
      : "-",
    String(d.stats.oom_kills),
  ]);
  const out = [
    table(
      ["Name", "ID", "Mem(MiB)", "Target", "MaxMem", "Balloon", "State", "PSI some/full", "OOM"],
      rows,
    ),
    "",
    `host: ${mib(r.host.memory_bytes)} MiB, free ${mib(r.host.free_bytes)} MiB, reserve ${mib(r.host.reserve_bytes)} MiB; ${r.duration_s}s simulated`,
    "",
    "events:",
    ...r.events.map(
      (e) =>
        `  [${e.t_s.toFixed(1).padStart(7)}s] ${e.type}${e.code ? ` (${e.code})` : ""}: ${e.message}`,
    ),
  ];
  return out.join("\n");
}

export function simCommand(args: string[], out: (s: string) => void): number {
  const sub = args[0];
  if (sub !== "run") throw new UsageError(`usage: ballast sim run FILE [--json]`);
  const { values, positionals } = parseArgs({
    args: args.slice(1),
    options: { json: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError("usage: ballast sim run FILE [--json]");
  let report: Report;
  try {
    report = runScenarioFile(positionals[0]!);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
  out(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return EXIT_OK;
}
