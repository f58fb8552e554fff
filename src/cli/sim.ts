/**
 * `ballast sim run FILE [--json] [--samples DURATION] [--html OUT]`: run a scenario on the
 * simulated host and report (with a time series every DURATION, as a scenario's
 * `samples:`; as one self-contained HTML page with OUT).
 */
import { buildReport, type Report } from "../sim/report.js";
import { loadScenario, ScenarioError } from "../sim/scenario.js";
import { World } from "../sim/world.js";
import { parseDuration, UnitError } from "../units/index.js";
import { EXIT_OK, UsageError } from "./errors.js";
import { checkHtmlOut, writeHtmlOut } from "./html_out.js";
import { startProgress } from "./progress.js";
import { mib, table } from "./table.js";
import { parseVerb, verb } from "./usage.js";

export const SIM_RUN = verb({
  name: "sim run",
  brief: "run a scenario on the simulated host and report (text, JSON, HTML)",
  summary:
    "Run a scenario (a YAML file: host, domains, workloads, timed commands) on the " +
    "simulated host and print its report: a table of the domains and the events.",
  usage: ["sim run FILE [--json] [--samples DURATION] [--html OUT]"],
  options: {
    json: {
      type: "boolean",
      default: false,
      help: "print the report as JSON, schema ballast.sim.report/v1 (README: Report)",
    },
    samples: {
      type: "string",
      arg: "DURATION",
      help: "add a time series to the report, one sample every DURATION (e.g. 1s), as the scenario's samples:",
    },
    html: {
      type: "string",
      arg: "OUT",
      help: "also write the report as one self-contained HTML page with charts to OUT",
    },
  },
  notes: [
    "Sizes in the table are MiB; PSI some/full is a percentage. On a terminal, progress " +
      "goes to stderr. Exit 2 for a scenario that does not read, naming the file, line and field.",
  ],
});

export function runScenarioFile(file: string, samplesMs: number | null = null): Report {
  const scenario = loadScenario(file);
  if (samplesMs !== null) {
    if (samplesMs <= 0 || samplesMs % scenario.tickMs !== 0)
      throw new UsageError(
        `--samples must be a positive whole number of ticks (${scenario.tickMs} ms)`,
      );
    scenario.samplesMs = samplesMs;
  }
  const world = new World(scenario);
  const progress = startProgress(`sim run ${file}`, world.scenario.durationMs);
  const onTick = world.onTick;
  world.onTick = (w) => {
    onTick?.(w);
    progress.update(w.nowMs);
  };
  world.runToEnd();
  progress.done();
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
      [
        "Name",
        "ID",
        "Mem(MiB)",
        "Target(MiB)",
        "MaxMem(MiB)",
        "Balloon(MiB)",
        "State",
        "PSI some/full(%)",
        "OOM",
      ],
      rows,
    ),
    "",
    `host (${r.host.hypervisor}): ${mib(r.host.memory_bytes)} MiB, free ${mib(r.host.free_bytes)} MiB, reserve ${mib(r.host.reserve_bytes)} MiB; ${r.duration_s}s simulated`,
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
  const usage = `usage: ballast ${SIM_RUN.usage[0]}`;
  if (args[0] !== "run")
    throw new UsageError(
      `${args[0] === undefined ? "sim needs a subcommand" : `sim has no subcommand "${args[0]}"`}\n${usage}`,
    );
  const { values, positionals } = parseVerb(SIM_RUN, args.slice(1));
  if (positionals.length !== 1) throw new UsageError(usage);
  let samplesMs: number | null = null;
  if (values.samples !== undefined) {
    try {
      samplesMs = parseDuration(values.samples);
    } catch (e) {
      if (e instanceof UnitError) throw new UsageError(`--samples: ${e.message}`);
      throw e;
    }
  }
  if (values.html !== undefined) checkHtmlOut(values.html);
  let report: Report;
  try {
    report = runScenarioFile(positionals[0]!, samplesMs);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
  if (values.html !== undefined) writeHtmlOut(values.html, { sim: report }, positionals[0]!);
  out(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return EXIT_OK;
}
