/**
 * The HTML report's charts. The page (src/web/report_html.ts) already holds the tables
 * and the final state as plain HTML; this script reads the report embedded in it and
 * draws the charts into the placeholders the page left for them.
 */
"use strict";

interface ReportPageData {
  kind: "sim" | "bench";
  report: unknown;
}

interface SimReportData {
  host: { memory_bytes: number; free_bytes: number };
  domains: Array<{ name: string; state: string }>;
  events: ChartEvent[];
  samples?: ChartSample[];
}

interface BenchRowData {
  policy: string;
  scenario: string;
  [metric: string]: string | number | null | undefined;
}

interface BenchReportData {
  rows: BenchRowData[];
  totals: BenchRowData[];
}

/** The bench's figures, how to print them, and whether more is better. */
const count_ = (v: number) => v.toFixed(0);
const BENCH_METRICS_: Array<{
  key: string;
  title: string;
  fmt: (v: number) => string;
  kind: "count" | "real" | "bytes";
}> = [
  { key: "oom_kills", title: "OOM kills (fewer is better)", fmt: count_, kind: "count" },
  {
    key: "stall_s",
    title: "Stall, PSI full, seconds (less is better)",
    fmt: (v) => String(Math.round(v * 100) / 100),
    kind: "real",
  },
  { key: "major_faults", title: "Major faults (fewer is better)", fmt: count_, kind: "count" },
  {
    key: "mean_host_free_bytes",
    title: "Mean host free (more is better)",
    fmt: (v) => formatBytes(Math.round(v)),
    kind: "bytes",
  },
  {
    key: "admitted_vms",
    title: "1 GiB guests that could start at any time (more is better)",
    fmt: count_,
    kind: "count",
  },
  { key: "density_vms", title: "Density, guests (more is better)", fmt: count_, kind: "count" },
  { key: "boot_failures", title: "Boot failures (fewer is better)", fmt: count_, kind: "count" },
  {
    key: "reaction_p99_s",
    title: "Reaction time p99, seconds (less is better)",
    fmt: (v) => String(Math.round(v * 10) / 10),
    kind: "real",
  },
];

function drawSimCharts(r: SimReportData): void {
  const samples = r.samples ?? [];
  if (samples.length === 0) return;
  const charts: LiveChart[] = [];
  const hostEl = document.getElementById("host-chart");
  if (hostEl) charts.push(hostChart(hostEl, r.host.memory_bytes, samples, r.events, false));
  for (const el of document.querySelectorAll<HTMLElement>(".guest-chart[data-domain]")) {
    const name = el.dataset.domain!;
    const keys = guestLinesIn(samples, name);
    if (keys.length === 0) continue;
    charts.push(guestChart(el, name, samples, r.events, keys));
  }
  const legend = document.getElementById("event-legend");
  if (legend)
    eventLegend(
      legend,
      r.events.map((e) => e.type),
    );
  addEventListener("resize", () => {
    for (const c of charts) c.resize();
  });
}

function drawBenchCharts(r: BenchReportData): void {
  const el = document.getElementById("bench-charts");
  if (!el) return;
  // One bar group per scenario, or per scenario and host kind when the bench ran several.
  const kinds = new Set(r.rows.map((x) => x.hypervisor ?? ""));
  const groupOf = (x: BenchRowData) =>
    kinds.size > 1 ? `${x.scenario} (${String(x.hypervisor)})` : x.scenario;
  const scenarios = [...new Set(r.rows.map(groupOf))];
  const policies = [...new Set(r.rows.map((x) => x.policy))];
  for (const m of BENCH_METRICS_) {
    if (!r.rows.some((x) => typeof x[m.key] === "number")) continue;
    const box = document.createElement("div");
    box.className = "bar-chart";
    box.dataset.metric = m.key;
    el.appendChild(box);
    barChart(
      box,
      m.title,
      scenarios,
      policies.map((p) => ({
        label: p,
        values: scenarios.map((s) => {
          const v = r.rows.find((x) => x.policy === p && groupOf(x) === s)?.[m.key];
          return typeof v === "number" ? v : 0;
        }),
      })),
      m.fmt,
      m.kind,
    );
  }
}

(() => {
  const node = document.getElementById("ballast-data");
  if (!node?.textContent) throw new Error("report page without its data (#ballast-data)");
  const data = JSON.parse(node.textContent) as ReportPageData;
  if (data.kind === "sim") drawSimCharts(data.report as SimReportData);
  else drawBenchCharts(data.report as BenchReportData);
  document.body.dataset.chartsReady = "1";
})();
