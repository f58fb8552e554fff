/**
 * HTML reports: one self-contained file from a simulation report
 * (`ballast.sim.report/v1`) or a policy bench (`ballast.bench.policies/v1`). The tables
 * and the final state are plain HTML, readable with scripts off; the charts are drawn
 * by uPlot and our chart script, both inlined, from the report embedded as JSON. No
 * file is fetched when the page is opened: it can be mailed, archived, opened offline.
 *
 * The shapes below are the JSON contracts' (DESIGN.md), as far as the page reads them,
 * so a report read back from a `--json` file renders the same as one built in process.
 */
import { writeFileSync } from "node:fs";
import { formatSize } from "../units/index.js";
import { clientScript, uplotCss, uplotScript } from "./assets.js";
import { PAGE_CSS } from "./style.js";

export interface SimReportLike {
  schema: string;
  duration_s: number;
  seed?: number;
  host: { memory_bytes: number; free_bytes: number; reserve_bytes: number };
  domains: Array<{
    name: string;
    id?: number;
    arch: string;
    state: string;
    boot_error: { code: string; message: string } | null;
    memory_bytes: number;
    maxmem_bytes: number;
    target_bytes: number;
    actual_bytes: number;
    balloon_bytes: number;
    host_rss_bytes?: number;
    stats: {
      oom_kills: number;
      major_faults: number;
      swap_out_bytes: number;
      available_bytes: number;
      psi_some_avg10: number;
      psi_full_avg10: number;
    };
  }>;
  events: Array<{ t_s: number; domain: string; type: string; code?: string; message: string }>;
  samples?: Array<{
    t_s: number;
    host: { free_bytes: number };
    /** Per domain: state, actual_bytes, target_bytes, host_rss_bytes, psi_some_avg10, ... */
    domains: Record<string, object>;
  }>;
}

export interface BenchRowLike {
  policy: string;
  scenario: string;
  oom_kills: number;
  stall_s: number;
  major_faults: number;
  mean_host_free_bytes: number;
  admitted_vms: number;
  boot_failures: number;
  /** Added fields (hypervisor, density_vms, reaction_p50_s, ...) are read by name. */
  hypervisor?: string;
}

function field(r: BenchRowLike, key: string): unknown {
  return (r as unknown as Record<string, unknown>)[key];
}

export interface BenchReportLike {
  schema: string;
  rows: BenchRowLike[];
  totals: BenchRowLike[];
}

/** Events listed in the page's table; the JSON report has them all. */
export const MAX_EVENT_ROWS = 2000;

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** JSON inside <script>: no "</script>" or "<!--" can end or bend the element. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** An inlined script may not contain "</script" (uPlot's and ours do not; checked). */
function inlineScript(js: string): string {
  if (/<\/script/i.test(js)) throw new Error("an inlined script contains </script");
  return `<script>${js}</script>`;
}

/** Sizes as the CLI prints them, with their unit. */
function size(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined || !Number.isFinite(bytes) ? "-" : formatSize(bytes);
}

function seconds(s: number): string {
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = Math.round(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${r ? `${r}s` : ""}`;
}

type Cell = string | { n: string };

function table(header: Array<string | { n: string }>, rows: Cell[][], rowClass?: string[]): string {
  const th = header
    .map((h) => (typeof h === "string" ? `<th>${h}</th>` : `<th class="n">${h.n}</th>`))
    .join("");
  const trs = rows
    .map((r, i) => {
      const cls = rowClass?.[i] ? ` class="${rowClass[i]}"` : "";
      const tds = r
        .map((c) =>
          typeof c === "string"
            ? `<td class="msg">${escapeHtml(c)}</td>`
            : `<td class="n">${escapeHtml(c.n)}</td>`,
        )
        .join("");
      return `<tr${cls}>${tds}</tr>`;
    })
    .join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

const n = (s: string) => ({ n: s });

function card(k: string, v: string): string {
  return `<div class="card"><div class="k">${escapeHtml(k)}</div><div class="v">${escapeHtml(v)}</div></div>`;
}

function page(title: string, subtitle: string, body: string, data: unknown): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ballast">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${uplotCss()}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<header class="top"><h1>${escapeHtml(title)}</h1><span class="sub">${escapeHtml(subtitle)}</span></header>
<main>
${body}
</main>
<script type="application/json" id="ballast-data">${scriptJson(data)}</script>
${inlineScript(uplotScript())}
${inlineScript(clientScript("charts"))}
${inlineScript(clientScript("report"))}
</body>
</html>
`;
}

function finalBar(d: SimReportLike["domains"][0]): string {
  if (d.state !== "running" || d.maxmem_bytes <= 0) return "";
  const pct = (x: number) => `${Math.min(100, (100 * x) / d.maxmem_bytes).toFixed(2)}%`;
  return (
    `<div class="bar" title="actual ${size(d.actual_bytes)} of maxmem ${size(d.maxmem_bytes)}; target ${size(d.target_bytes)}">` +
    `<div class="fill" style="width:${pct(d.actual_bytes)}"></div>` +
    `<div class="mark" style="left:${pct(d.target_bytes)}"></div></div>` +
    `<div class="note">actual ${size(d.actual_bytes)} of maxmem ${size(d.maxmem_bytes)}, target ${size(d.target_bytes)}</div>`
  );
}

/** The page for `ballast sim run FILE --html OUT`. */
export function renderSimReportHtml(r: SimReportLike, title = "Ballast simulation report"): string {
  const samples = r.samples ?? [];
  const running = r.domains.filter((d) => d.state === "running").length;
  const refusals = r.events.filter((e) => e.type.endsWith("-refused")).length;
  const oom = r.domains.reduce((k, d) => k + d.stats.oom_kills, 0);
  const cards = [
    card("Host memory", size(r.host.memory_bytes)),
    card("Host free at the end", size(r.host.free_bytes)),
    card("Hypervisor reserve", size(r.host.reserve_bytes)),
    card("Domains running", `${running} of ${r.domains.length}`),
    card("OOM kills", String(oom)),
    card("Refused commands", String(refusals)),
    card("Events", String(r.events.length)),
  ].join("");
  const timeCharts =
    samples.length > 0
      ? `<section><h2>Host free memory over time</h2><div id="host-chart"></div>
<p class="note">Dashed marks: events (all domains). <span id="event-legend"></span></p></section>`
      : `<section><p class="note" id="no-samples">This report has no samples, so there are no charts over time: give the scenario <code>samples: 1s</code>, or run <code>ballast sim run FILE --samples 1s --html OUT</code>.</p></section>`;
  const guests = r.domains
    .map(
      (d) => `<article class="guest" data-domain="${escapeHtml(d.name)}">
<h3>${escapeHtml(d.name)}<span class="state">${escapeHtml(d.state)}${d.boot_error ? `: ${escapeHtml(d.boot_error.code)}` : ""}</span></h3>
${samples.length > 0 && d.state !== "boot-failed" ? `<div class="guest-chart" data-domain="${escapeHtml(d.name)}"></div>` : ""}
${finalBar(d)}
${d.boot_error ? `<p class="bad">${escapeHtml(d.boot_error.message)}</p>` : ""}
</article>`,
    )
    .join("\n");
  const finalTable = table(
    [
      "Name",
      n("ID"),
      "Arch",
      "State",
      n("Actual"),
      n("Target"),
      n("Memory"),
      n("Maxmem"),
      n("Balloon"),
      n("Host RSS"),
      n("Available"),
      n("PSI some/full (%)"),
      n("OOM kills"),
      n("Major faults"),
      n("Swapped out"),
    ],
    r.domains.map((d) => [
      d.name,
      n(d.id === undefined ? "-" : String(d.id)),
      d.arch,
      d.state,
      n(size(d.actual_bytes)),
      n(size(d.target_bytes)),
      n(size(d.memory_bytes)),
      n(size(d.maxmem_bytes)),
      n(size(d.balloon_bytes)),
      n(size(d.host_rss_bytes ?? d.actual_bytes)),
      n(d.state === "running" ? size(d.stats.available_bytes) : "-"),
      n(
        d.state === "running"
          ? `${d.stats.psi_some_avg10.toFixed(2)}/${d.stats.psi_full_avg10.toFixed(2)}`
          : "-",
      ),
      n(String(d.stats.oom_kills)),
      n(String(d.stats.major_faults)),
      n(size(d.stats.swap_out_bytes)),
    ]),
  );
  const shown = r.events.slice(0, MAX_EVENT_ROWS);
  const eventsTable = table(
    [n("Time"), "Domain", "Event", "Code", "Message"],
    shown.map((e) => [n(seconds(e.t_s)), e.domain, e.type, e.code ?? "", e.message]),
    shown.map((e) => (e.type.endsWith("-refused") || e.type === "oom-kill" ? "refused" : "")),
  );
  const more =
    r.events.length > shown.length
      ? `<p class="note">The first ${shown.length} of ${r.events.length} events; the <code>--json</code> report has them all.</p>`
      : "";
  const body = `<section><div class="cards">${cards}</div></section>
${timeCharts}
<section><h2>Guests</h2><div class="grid">${guests}</div></section>
<section><h2>Final state</h2>${finalTable}</section>
<section><h2>Events</h2>${eventsTable}${more}</section>`;
  const subtitle = `${seconds(r.duration_s)} simulated${r.seed !== undefined ? `, seed ${r.seed}` : ""}; ${r.schema}`;
  return page(title, subtitle, body, { kind: "sim", report: r });
}

const BENCH_COLUMNS: Array<{ key: string; head: string; fmt: (v: unknown) => string }> = [
  { key: "oom_kills", head: "OOM kills", fmt: String },
  { key: "stall_s", head: "Stall (s)", fmt: (v) => (v as number).toFixed(2) },
  { key: "major_faults", head: "Major faults", fmt: String },
  { key: "mean_host_free_bytes", head: "Mean host free", fmt: (v) => size(v as number) },
  { key: "admitted_vms", head: "Admitted 1 GiB VMs", fmt: String },
  { key: "boot_failures", head: "Boot failures", fmt: String },
  { key: "density_vms", head: "Density (VMs)", fmt: String },
  { key: "oom_kills_host_had_room", head: "OOM kills, host had room", fmt: String },
  { key: "reaction_p50_s", head: "Reaction p50 (s)", fmt: (v) => (v as number).toFixed(1) },
  { key: "reaction_p99_s", head: "Reaction p99 (s)", fmt: (v) => (v as number).toFixed(1) },
];

/** The page for `ballast bench policies --html OUT`. */
export function renderBenchHtml(b: BenchReportLike, title = "Ballast policy benchmark"): string {
  const cols = BENCH_COLUMNS.filter((c) => b.rows.some((r) => field(r, c.key) !== undefined));
  const cell = (r: BenchRowLike, c: (typeof cols)[0]) => {
    const v = field(r, c.key);
    return n(v === undefined || v === null ? "-" : c.fmt(v));
  };
  const kinds = b.rows.some((r) => r.hypervisor);
  const totals = table(
    ["Policy", ...(kinds ? ["Hypervisor"] : []), ...cols.map((c) => n(c.head))],
    b.totals.map((r) => [
      r.policy,
      ...(kinds ? [String(r.hypervisor ?? "-")] : []),
      ...cols.map((c) => cell(r, c)),
    ]),
  );
  const rows = table(
    ["Scenario", "Policy", ...(kinds ? ["Hypervisor"] : []), ...cols.map((c) => n(c.head))],
    b.rows.map((r) => [
      r.scenario,
      r.policy,
      ...(kinds ? [String(r.hypervisor ?? "-")] : []),
      ...cols.map((c) => cell(r, c)),
    ]),
  );
  const scenarios = new Set(b.rows.map((r) => r.scenario)).size;
  const policies = new Set(b.rows.map((r) => r.policy)).size;
  const body = `<section><h2>Totals over all scenarios</h2>${totals}
<p class="note">Totals are per host kind: counts are summed over the scenarios, mean host free is the mean over every simulated second of them, reaction times are over every shortage.</p></section>
<section><h2>Per scenario</h2><div id="bench-charts"></div></section>
<section><h2>Every run</h2>${rows}</section>`;
  return page(title, `${policies} policies on ${scenarios} scenarios; ${b.schema}`, body, {
    kind: "bench",
    report: b,
  });
}

/** Write a report page; the CLI's `--html OUT`. */
export function writeHtmlReport(
  file: string,
  what: { sim: SimReportLike } | { bench: BenchReportLike },
  title?: string,
): void {
  const html =
    "sim" in what ? renderSimReportHtml(what.sim, title) : renderBenchHtml(what.bench, title);
  writeFileSync(file, html);
}
