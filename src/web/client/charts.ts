/**
 * Charts shared by the live dashboard and the HTML report: a guest's memory over time
 * (actual, target, floor, working set, host RSS, PSI), the host's free memory, events
 * marked on the time axis, and bar charts for the policy bench.
 *
 * Browser code, written as classic scripts rather than ES modules: the report is one
 * self-contained HTML file, and classic scripts can be inlined one after another into
 * it (uPlot's IIFE build, this file, the page's own) with no bundler, while the
 * dashboard loads the very same files with <script src>. They share one global scope,
 * which src/web/client/tsconfig.json type-checks as such (DOM lib, uPlot's global).
 */
"use strict";

/** One sample in the report's `samples` shape (DESIGN.md), which /v1/series also serves. */
interface ChartSample {
  t_s: number;
  host: { free_bytes: number; total_bytes?: number; reserved_bytes?: number };
  domains: Record<string, ChartDomainSample>;
}

interface ChartDomainSample {
  state?: string;
  actual_bytes?: number | null;
  target_bytes?: number | null;
  host_rss_bytes?: number | null;
  floor_bytes?: number | null;
  working_set_bytes?: number | null;
  mem_total_bytes?: number | null;
  available_bytes?: number | null;
  psi_some_avg10?: number | null;
  psi_full_avg10?: number | null;
}

interface ChartEvent {
  t_s: number;
  domain: string;
  type: string;
  code?: string | null;
  message: string;
}

const KiB_ = 1024;
const UNITS_: Array<[string, number]> = [
  ["TiB", KiB_ ** 4],
  ["GiB", KiB_ ** 3],
  ["MiB", KiB_ ** 2],
  ["KiB", KiB_],
];

/** Sizes as the CLI prints them (src/units' formatSize): "1.50 GiB", "512 MiB". */
function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "-";
  const sign = bytes < 0 ? "-" : "";
  const abs = Math.abs(bytes);
  for (const [name, mult] of UNITS_) {
    if (abs >= mult) {
      const v = abs / mult;
      return `${sign}${Number.isInteger(v) ? String(v) : v.toFixed(2)} ${name}`;
    }
  }
  return `${sign}${abs} B`;
}

/** Simulated or wall seconds on a time axis: "45s", "12m30s", "3h05m". */
function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "-";
  const neg = s < 0 ? "-" : "";
  const a = Math.abs(s);
  if (a < 60) return `${neg}${Number.isInteger(a) ? a : a.toFixed(1)}s`;
  const h = Math.floor(a / 3600);
  const m = Math.floor((a % 3600) / 60);
  const sec = Math.round(a % 60);
  if (h > 0) return `${neg}${h}h${String(m).padStart(2, "0")}m`;
  return `${neg}${m}m${sec ? `${String(sec).padStart(2, "0")}s` : ""}`;
}

function formatPct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "-" : `${v.toFixed(2)}%`;
}

/** Events by what an operator should notice: refusals and kills stand out. */
function eventColor(type: string): string {
  if (type === "oom-kill") return "#b00020";
  if (type.endsWith("-refused") || type === "boot-failed" || type === "guest-panic")
    return "#e8590c";
  if (type.endsWith("-stalled")) return "#f2a900";
  if (type === "boot" || type === "balloon-reached-target") return "#2b8a3e";
  return "#8a8f98";
}

/**
 * Events worth a mark on a live chart: not the routine traffic of a policy at work
 * (every target it sets and every balloon reaching it), which would paint the chart over.
 */
function notableEvent(type: string): boolean {
  return !["mem-set", "balloon-reached-target", "balloon-change", "list"].includes(type);
}

/** Events that went wrong: refused, killed, stalled, failed. */
function troubleEvent(type: string, code: string | null | undefined): boolean {
  return (
    !!code ||
    type.endsWith("-refused") ||
    type.endsWith("-stalled") ||
    type === "oom-kill" ||
    type === "boot-failed" ||
    type === "guest-gone" ||
    type === "guest-panic"
  );
}

/**
 * Vertical marks at events' times, drawn under the series. How many were drawn is kept
 * on the chart's element (`data-markers`), for tests and for anyone inspecting the page.
 */
function eventMarkers(events: () => readonly ChartEvent[]): uPlot.Plugin {
  return {
    hooks: {
      drawAxes: [
        (u: uPlot) => {
          const ctx = u.ctx;
          const { top, height, left, width } = u.bbox;
          ctx.save();
          ctx.lineWidth = Math.max(1, devicePixelRatio);
          ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
          let drawn = 0;
          for (const e of events()) {
            const x = Math.round(u.valToPos(e.t_s, "x", true));
            if (x < left || x > left + width) continue;
            drawn++;
            ctx.strokeStyle = eventColor(e.type);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
          }
          ctx.restore();
          u.root.dataset.markers = String(drawn);
        },
      ],
    },
  };
}

/** Tick steps a person reads at a glance: whole seconds, minutes, hours. */
const TIME_STEPS_ = [
  0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
  86400, 172800, 604800,
];

/** Sizes step in powers of two, so ticks read 512 MiB, 1 GiB, 2 GiB rather than 953.67 MiB. */
const BYTE_STEPS_ = Array.from({ length: 41 }, (_, i) => 2 ** (i + 10));

const timeAxis_: uPlot.Axis = {
  incrs: TIME_STEPS_,
  space: 64,
  values: (_u: uPlot, splits: number[]) => splits.map(formatSeconds),
};

function bytesAxis_(): uPlot.Axis {
  return {
    scale: "bytes",
    size: 78,
    incrs: BYTE_STEPS_,
    values: (_u: uPlot, splits: number[]) => splits.map((v) => formatBytes(v)),
  };
}

function chartWidth(el: HTMLElement): number {
  return Math.max(280, Math.floor(el.clientWidth || 600));
}

/** What a guest chart draws, in its order. */
const GUEST_LINES_: Array<{
  key: string;
  label: string;
  stroke: string;
  dash?: number[];
  pct?: boolean;
  /** Drawn as steps: a target holds until the next one is set. */
  stepped?: boolean;
}> = [
  { key: "actual", label: "actual", stroke: "#1c7ed6" },
  { key: "target", label: "target", stroke: "#7048e8", dash: [6, 4], stepped: true },
  { key: "floor", label: "floor", stroke: "#e03131", dash: [2, 3] },
  { key: "ws", label: "working set", stroke: "#2f9e44" },
  { key: "rss", label: "host RSS", stroke: "#868e96", dash: [1, 3] },
  { key: "psiSome", label: "PSI some", stroke: "#f08c00", pct: true },
  { key: "psiFull", label: "PSI full", stroke: "#c2255c", pct: true },
];

/**
 * The guest's working set: what the daemon computed, or, where only the report's
 * sample fields are there, memory in use (MemTotal - MemAvailable).
 */
function workingSet(d: ChartDomainSample): number | null {
  if (d.working_set_bytes !== undefined && d.working_set_bytes !== null) return d.working_set_bytes;
  if (typeof d.mem_total_bytes === "number" && typeof d.available_bytes === "number")
    return d.mem_total_bytes - d.available_bytes;
  return null;
}

function guestValue(d: ChartDomainSample | undefined, key: string): number | null {
  if (!d || (d.state !== undefined && d.state !== "running")) return null;
  const v =
    key === "actual"
      ? d.actual_bytes
      : key === "target"
        ? d.target_bytes
        : key === "floor"
          ? d.floor_bytes
          : key === "ws"
            ? workingSet(d)
            : key === "rss"
              ? d.host_rss_bytes
              : key === "psiSome"
                ? d.psi_some_avg10
                : d.psi_full_avg10;
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * Lines that have at least one value in these samples; host RSS only where it differs
 * from actual (on Xen the two are the same by definition).
 */
function guestLinesIn(samples: readonly ChartSample[], name: string): string[] {
  return GUEST_LINES_.filter((l) =>
    samples.some((s) => {
      const v = guestValue(s.domains[name], l.key);
      return v !== null && (l.key !== "rss" || v !== guestValue(s.domains[name], "actual"));
    }),
  ).map((l) => l.key);
}

/** "working set" where the daemon computed it; else what the samples give: memory in use. */
function workingSetLabel(samples: readonly ChartSample[], name: string): string {
  return samples.some((s) => typeof s.domains[name]?.working_set_bytes === "number")
    ? "working set"
    : "in use";
}

function guestData(
  samples: readonly ChartSample[],
  name: string,
  keys: string[],
): uPlot.AlignedData {
  const t = samples.map((s) => s.t_s);
  const cols = keys.map((k) => samples.map((s) => guestValue(s.domains[name], k)));
  return [t, ...cols] as uPlot.AlignedData;
}

/**
 * The legend shows the newest values while the pointer is not on the chart (uPlot
 * blanks it then), the values under the pointer while it is.
 */
const legendAtLatest_: uPlot.Plugin = {
  hooks: {
    setLegend: [
      (u: uPlot) => {
        const n = u.data[0]?.length ?? 0;
        if (n > 0 && u.legend.idx !== n - 1 && (u.cursor.left ?? -1) < 0)
          u.setLegend({ idx: n - 1 }, false);
      },
    ],
  },
};

interface LiveChart {
  readonly root: HTMLElement;
  update(samples: readonly ChartSample[], events: readonly ChartEvent[]): void;
  resize(): void;
  destroy(): void;
}

/** A guest's memory and pressure over time, its events marked. */
function guestChart(
  el: HTMLElement,
  name: string,
  samples: readonly ChartSample[],
  events: readonly ChartEvent[],
  keys: string[] = GUEST_LINES_.map((l) => l.key),
  height = 200,
): LiveChart {
  let evs = events.filter((e) => e.domain === name);
  const wsLabel = workingSetLabel(samples, name);
  const lines = GUEST_LINES_.filter((l) => keys.includes(l.key)).map((l) =>
    l.key === "ws" ? { ...l, label: wsLabel } : l,
  );
  const hasPct = lines.some((l) => l.pct);
  const opts: uPlot.Options = {
    width: chartWidth(el),
    height,
    scales: {
      x: { time: false },
      bytes: { range: (_u, min, max) => [0, Math.max(max, min, 1) * 1.05] },
      pct: { range: [0, 100] },
    },
    series: [
      { label: "t", value: (_u, v) => (v === null ? "-" : formatSeconds(v)) },
      ...lines.map((l): uPlot.Series => ({
        label: l.label,
        stroke: l.stroke,
        width: l.pct ? 1 : 2,
        scale: l.pct ? "pct" : "bytes",
        value: (_u, v) => (l.pct ? formatPct(v) : formatBytes(v)),
        ...(l.dash ? { dash: l.dash } : {}),
      })),
    ],
    axes: [
      timeAxis_,
      bytesAxis_(),
      ...(hasPct
        ? [
            {
              scale: "pct",
              side: 1 as const,
              size: 48,
              grid: { show: false },
              values: (_u: uPlot, splits: number[]) => splits.map((v) => `${v}%`),
            },
          ]
        : []),
    ],
    plugins: [eventMarkers(() => evs), legendAtLatest_],
  };
  const u = new uPlot(
    opts,
    guestData(
      samples,
      name,
      lines.map((l) => l.key),
    ),
    el,
  );
  return {
    root: u.root,
    update(s, e) {
      evs = e.filter((x) => x.domain === name);
      u.setData(
        guestData(
          s,
          name,
          lines.map((l) => l.key),
        ),
      );
    },
    resize() {
      u.setSize({ width: chartWidth(el), height });
    },
    destroy() {
      u.destroy();
    },
  };
}

function hostData(samples: readonly ChartSample[], withReserved: boolean): uPlot.AlignedData {
  const cols: Array<Array<number | null>> = [samples.map((s) => s.host.free_bytes)];
  if (withReserved) cols.push(samples.map((s) => s.host.reserved_bytes ?? null));
  return [samples.map((s) => s.t_s), ...cols] as uPlot.AlignedData;
}

/** The host's free memory (and reservations, where known), every event marked. */
function hostChart(
  el: HTMLElement,
  totalBytes: number,
  samples: readonly ChartSample[],
  events: readonly ChartEvent[],
  withReserved: boolean,
  height = 220,
): LiveChart {
  let evs = events;
  const series: uPlot.Series[] = [
    { label: "t", value: (_u, v) => (v === null ? "-" : formatSeconds(v)) },
    {
      label: "host free",
      stroke: "#1c7ed6",
      fill: "rgba(28,126,214,0.12)",
      width: 2,
      scale: "bytes",
      value: (_u, v) => formatBytes(v),
    },
  ];
  if (withReserved)
    series.push({
      label: "reserved",
      stroke: "#e8590c",
      width: 2,
      scale: "bytes",
      value: (_u, v) => formatBytes(v),
    });
  const opts: uPlot.Options = {
    width: chartWidth(el),
    height,
    scales: { x: { time: false }, bytes: { range: [0, Math.max(totalBytes, 1)] } },
    series,
    axes: [timeAxis_, bytesAxis_()],
    plugins: [eventMarkers(() => evs), legendAtLatest_],
  };
  const u = new uPlot(opts, hostData(samples, withReserved), el);
  return {
    root: u.root,
    update(s, e) {
      evs = e;
      u.setData(hostData(s, withReserved));
    },
    resize() {
      u.setSize({ width: chartWidth(el), height });
    },
    destroy() {
      u.destroy();
    },
  };
}

/** A tick step near `rough`: 1, 2 or 5 times a power of ten; a power of two for sizes; whole for counts. */
function tickStep(rough: number, kind: "count" | "real" | "bytes"): number {
  if (!(rough > 0)) return 1;
  if (kind === "bytes") return 2 ** Math.ceil(Math.log2(rough));
  const p = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= rough)!;
  return kind === "count" ? Math.max(1, Math.round(step)) : step;
}

const PALETTE_ = ["#1c7ed6", "#e8590c", "#2f9e44", "#7048e8", "#c2255c", "#0c8599", "#868e96"];

const SVG_NS_ = "http://www.w3.org/2000/svg";

function svgEl(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG_NS_, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Grouped bars: one group per category (a scenario), one bar per series (a policy),
 * each bar's value in its tooltip and above it.
 */
function barChart(
  el: HTMLElement,
  title: string,
  categories: string[],
  groups: Array<{ label: string; values: number[] }>,
  format: (v: number) => string,
  kind: "count" | "real" | "bytes" = "real",
): SVGElement {
  const W = Math.max(480, chartWidth(el));
  // Labels that do not fit under their group are set at a slant, with room below.
  const longest = Math.max(0, ...categories.map((c) => c.length));
  const slant = longest * 6.5 > (W - 80) / Math.max(1, categories.length);
  const H = slant ? 260 + Math.min(80, longest * 4) : 260;
  const pad = { l: 70, r: 10, t: 28, b: slant ? H - 212 : 48 };
  const tick = (v: number) =>
    kind === "count" && v >= 10_000
      ? new Intl.NumberFormat("en", { notation: "compact" }).format(v)
      : format(v);
  const top = Math.max(0, ...groups.flatMap((g) => g.values.filter(Number.isFinite)));
  const step = tickStep(top / 4, kind);
  const max = Math.max(step, Math.ceil(top / step) * step);
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  svg.appendChild(svgEl("title", {}, title));
  svg.appendChild(svgEl("text", { x: pad.l, y: 18, class: "bar-title" }, title));
  const plotW = W - pad.l - pad.r;
  const plotH = H - pad.t - pad.b;
  for (let v = 0; v <= max + step / 2; v += step) {
    const y = pad.t + plotH - (plotH * v) / max;
    svg.appendChild(svgEl("line", { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: "grid" }));
    svg.appendChild(
      svgEl("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "tick" }, tick(v)),
    );
  }
  if (top === 0)
    svg.appendChild(
      svgEl(
        "text",
        { x: pad.l + plotW / 2, y: pad.t + plotH / 2, "text-anchor": "middle", class: "tick" },
        "0 for every policy on every scenario",
      ),
    );
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(1, groups.length));
  categories.forEach((c, ci) => {
    const x0 = pad.l + ci * groupW + groupW * 0.1;
    groups.forEach((g, gi) => {
      const v = g.values[ci] ?? 0;
      const h = Number.isFinite(v) ? (plotH * v) / max : 0;
      const rect = svgEl("rect", {
        x: x0 + gi * barW,
        y: pad.t + plotH - h,
        width: barW - 1,
        height: Math.max(0, h),
        fill: PALETTE_[gi % PALETTE_.length]!,
        "data-series": g.label,
        "data-category": c,
      });
      rect.appendChild(svgEl("title", {}, `${g.label} on ${c}: ${format(v)}`));
      svg.appendChild(rect);
    });
    svg.appendChild(
      svgEl(
        "text",
        slant
          ? {
              x: x0 + (groupW * 0.8) / 2,
              y: H - pad.b + 14,
              "text-anchor": "end",
              class: "tick",
              transform: `rotate(-30 ${x0 + (groupW * 0.8) / 2} ${H - pad.b + 14})`,
            }
          : {
              x: x0 + (groupW * 0.8) / 2,
              y: H - pad.b + 16,
              "text-anchor": "middle",
              class: "tick",
            },
        c,
      ),
    );
  });
  groups.forEach((g, gi) => {
    const x = pad.l + gi * 110;
    svg.appendChild(
      svgEl("rect", {
        x,
        y: H - 16,
        width: 10,
        height: 10,
        fill: PALETTE_[gi % PALETTE_.length]!,
      }),
    );
    svg.appendChild(svgEl("text", { x: x + 14, y: H - 7, class: "tick" }, g.label));
  });
  el.appendChild(svg);
  return svg;
}

/** A legend for the event marks. */
function eventLegend(el: HTMLElement, types: string[]): void {
  el.textContent = "";
  for (const t of [...new Set(types)].sort()) {
    const item = document.createElement("span");
    item.className = "ev-key";
    const sw = document.createElement("i");
    sw.style.borderColor = eventColor(t);
    item.append(sw, t);
    el.appendChild(item);
  }
}
