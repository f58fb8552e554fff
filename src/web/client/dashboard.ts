/**
 * The live dashboard: polls the daemon's JSON API once a second and draws the host,
 * every guest's memory and pressure over time, the guests' table and the decision log;
 * its forms call the same token-protected endpoints as the CLI (policy, mem-set,
 * settings, reservations). The token is typed in once (or given as `#token=...` in the
 * address) and kept in this tab's sessionStorage only.
 */
"use strict";

interface DashDomain {
  name: string;
  id: number;
  state: string;
  memory_bytes: number;
  maxmem_bytes: number;
  target_bytes: number;
  actual_bytes: number;
  floor_bytes: number | null;
  working_set_bytes: number | null;
  psi_some_avg10: number | null;
  psi_full_avg10: number | null;
  rss_bytes?: number | null;
  stalled?: boolean;
  settings: { min_bytes: number; max_bytes: number; weight: number; buffer_pct: number };
}

interface DashHistoryRow {
  id: number;
  t_s: number;
  domain: string;
  kind: "event" | "decision";
  type: string;
  code: string | null;
  message: string;
}

(() => {
  const POLL_MS = 1000;
  /** Samples kept in the page: as many as the daemon's ring holds. */
  let keep = 600;
  let samples: ChartSample[] = [];
  let events: ChartEvent[] = [];
  let totalBytes = 0;
  let host: LiveChart | null = null;
  const guests = new Map<string, LiveChart>();
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

  // --- the token ---------------------------------------------------------------
  const TOKEN_KEY = "ballast-token";
  const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fromHash[1]!));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const tokenInput = $<HTMLInputElement>("token");
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? "";
  $("token-form").addEventListener("submit", (e) => e.preventDefault());
  tokenInput.addEventListener("change", () => {
    const t = tokenInput.value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  });

  function status(text: string, ok: boolean | null): void {
    const el = $("status");
    el.textContent = text;
    el.className = ok === null ? "" : ok ? "ok" : "error";
  }

  async function getJson<T>(path: string): Promise<T> {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
    return (await r.json()) as T;
  }

  /** A change through the API, with the token; the answer (or refusal) shown in #status. */
  async function change(method: string, path: string, body?: unknown): Promise<boolean> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = tokenInput.value.trim();
    if (token) headers.authorization = `Bearer ${token}`;
    status(`${method} ${path} ...`, null);
    try {
      const r = await fetch(path, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const j = (await r.json().catch(() => ({}))) as {
        message?: string;
        error?: string;
        ok?: boolean;
      };
      if (!r.ok) {
        status(`refused (HTTP ${r.status} ${j.error ?? ""}): ${j.message ?? r.statusText}`, false);
        return false;
      }
      status(j.message ?? `${method} ${path}: done`, true);
      void poll(false);
      return true;
    } catch (e) {
      status(`${method} ${path}: ${(e as Error).message}`, false);
      return false;
    }
  }

  // --- drawing -----------------------------------------------------------------
  function cell(tr: HTMLTableRowElement, text: string, numeric = false): HTMLTableCellElement {
    const td = tr.insertCell();
    td.textContent = text;
    if (numeric) td.className = "n";
    return td;
  }

  function header(table: HTMLTableElement, cols: Array<[string, boolean]>): void {
    table.textContent = "";
    const tr = table.createTHead().insertRow();
    for (const [c, numeric] of cols) {
      const th = document.createElement("th");
      th.textContent = c;
      if (numeric) th.className = "n";
      tr.appendChild(th);
    }
  }

  // --- the guest filter: one name filter for the table and the charts --------------
  const guestFilter = $<HTMLInputElement>("guest-filter");
  const shown = (name: string) => name.includes(guestFilter.value.trim());
  function applyFilter(): void {
    for (const el of document.querySelectorAll<HTMLElement>(
      "#guests tbody tr[data-domain], #guest-charts article.guest",
    ))
      el.classList.toggle("hidden", !shown(el.dataset.domain ?? ""));
  }
  guestFilter.addEventListener("input", applyFilter);

  function drawGuests(ds: DashDomain[]): void {
    const table = $<HTMLTableElement>("guests");
    header(table, [
      ["Name", false],
      ["ID", true],
      ["State", false],
      ["Actual", true],
      ["Target", true],
      ["Floor", true],
      ["Working set", true],
      ["Maxmem", true],
      ["Host RSS", true],
      ["PSI some/full (%)", true],
      ["Min", true],
      ["Max", true],
      ["Weight", true],
      ["Buffer (%)", true],
    ]);
    const body = table.createTBody();
    for (const d of ds) {
      const tr = body.insertRow();
      tr.dataset.domain = d.name;
      cell(tr, d.name);
      cell(tr, String(d.id), true);
      cell(tr, d.stalled ? `${d.state}, balloon stalled` : d.state);
      cell(tr, formatBytes(d.actual_bytes), true);
      cell(tr, formatBytes(d.target_bytes), true);
      cell(tr, formatBytes(d.floor_bytes), true);
      cell(tr, formatBytes(d.working_set_bytes), true);
      cell(tr, formatBytes(d.maxmem_bytes), true);
      cell(tr, formatBytes(d.rss_bytes === undefined ? d.actual_bytes : d.rss_bytes), true);
      cell(
        tr,
        d.psi_some_avg10 === null
          ? "-"
          : `${d.psi_some_avg10.toFixed(2)}/${(d.psi_full_avg10 ?? 0).toFixed(2)}`,
        true,
      );
      cell(tr, formatBytes(d.settings.min_bytes), true);
      cell(tr, formatBytes(d.settings.max_bytes), true);
      cell(tr, String(d.settings.weight), true);
      cell(tr, String(d.settings.buffer_pct), true);
    }
    for (const sel of document.querySelectorAll<HTMLSelectElement>("select.domain-select")) {
      const was = sel.value;
      const names = ds.map((d) => d.name);
      if ([...sel.options].map((o) => o.value).join("\n") !== names.join("\n")) {
        sel.textContent = "";
        for (const n of names) sel.add(new Option(n, n));
        if (names.includes(was)) sel.value = was;
      }
    }
  }

  function drawCharts(ds: DashDomain[]): void {
    if (!host && totalBytes > 0)
      host = hostChart($("host-chart"), totalBytes, samples, events, true);
    else host?.update(samples, events);
    const grid = $("guest-charts");
    const names = new Set(ds.map((d) => d.name));
    for (const [name, c] of guests) {
      if (names.has(name)) continue;
      c.destroy();
      grid.querySelector(`[data-domain="${CSS.escape(name)}"]`)?.remove();
      guests.delete(name);
    }
    for (const d of ds) {
      const c = guests.get(d.name);
      if (c) {
        c.update(samples, events);
        continue;
      }
      const card = document.createElement("article");
      card.className = "guest";
      card.dataset.domain = d.name;
      const h = document.createElement("h3");
      h.textContent = d.name;
      const box = document.createElement("div");
      box.className = "guest-chart";
      card.append(h, box);
      grid.appendChild(card);
      guests.set(d.name, guestChart(box, d.name, samples, events));
    }
    for (const card of grid.querySelectorAll<HTMLElement>("article.guest")) {
      const st = ds.find((d) => d.name === card.dataset.domain)?.state ?? "";
      const h = card.querySelector("h3")!;
      h.textContent = card.dataset.domain!;
      const span = document.createElement("span");
      span.className = "state";
      span.textContent = st;
      h.appendChild(span);
    }
    eventLegend(
      $("event-legend"),
      events.map((e) => e.type),
    );
  }

  const logFilter = $<HTMLSelectElement>("log-filter");
  const LOG_FILTERS: Record<string, (r: DashHistoryRow) => boolean> = {
    all: () => true,
    decisions: (r) => r.kind === "decision",
    events: (r) => r.kind === "event",
    trouble: (r) => troubleEvent(r.type, r.code),
  };
  logFilter.addEventListener("change", () => drawLog(logRows));

  function drawLog(all: DashHistoryRow[]): void {
    const rows = all.filter(LOG_FILTERS[logFilter.value] ?? LOG_FILTERS.all!);
    const table = $<HTMLTableElement>("log");
    header(table, [
      ["Time", true],
      ["Domain", false],
      ["What", false],
      ["Code", false],
      ["Message", false],
    ]);
    const body = table.createTBody();
    for (const r of [...rows].reverse()) {
      const tr = body.insertRow();
      tr.dataset.kind = r.kind;
      if (r.code) tr.className = "refused";
      cell(tr, formatSeconds(r.t_s), true);
      cell(tr, r.domain);
      cell(tr, r.kind === "decision" ? `decision (${r.type})` : r.type);
      cell(tr, r.code ?? "");
      cell(tr, r.message).className = "msg";
    }
  }

  function drawHost(h: {
    totalBytes: number;
    freeBytes: number;
    reserveBytes: number;
    reserved_bytes: number;
  }): void {
    totalBytes = h.totalBytes;
    const cards = $("host-cards");
    cards.textContent = "";
    for (const [k, v] of [
      ["Memory", formatBytes(h.totalBytes)],
      ["Free", formatBytes(h.freeBytes)],
      ["Reserved for new domains", formatBytes(h.reserved_bytes)],
      ["Hypervisor's own", formatBytes(h.reserveBytes)],
    ] as const) {
      const c = document.createElement("div");
      c.className = "card";
      const kk = document.createElement("div");
      kk.className = "k";
      kk.textContent = k;
      const vv = document.createElement("div");
      vv.className = "v";
      vv.textContent = v;
      c.append(kk, vv);
      cards.appendChild(c);
    }
  }

  function drawReservations(rs: Array<{ id: string; bytes: number }>): void {
    const table = $<HTMLTableElement>("reservations");
    header(table, [
      ["Reservation", false],
      ["Size", true],
      ["", false],
    ]);
    const body = table.createTBody();
    for (const r of rs) {
      const tr = body.insertRow();
      cell(tr, r.id);
      cell(tr, formatBytes(r.bytes), true);
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Release";
      b.addEventListener("click", () => void change("DELETE", `/v1/reservations/${r.id}`));
      tr.insertCell().appendChild(b);
    }
  }

  // --- polling -----------------------------------------------------------------
  let lastT: number | null = null;
  let logRows: DashHistoryRow[] = [];
  let shownPolicy = "";
  let timer: number | undefined;

  async function poll(again = true): Promise<void> {
    try {
      const [series, doms, h, hist, res] = await Promise.all([
        getJson<{ samples: ChartSample[]; capacity: number; backend: string }>(
          `/v1/series${lastT === null ? "" : `?since=${lastT}`}`,
        ),
        getJson<{ policy: string; t_s: number; domains: DashDomain[] }>("/v1/domains"),
        getJson<{
          totalBytes: number;
          freeBytes: number;
          reserveBytes: number;
          reserved_bytes: number;
        }>("/v1/host"),
        getJson<{ history: DashHistoryRow[] }>("/v1/events?limit=200"),
        getJson<{ reservations: Array<{ id: string; bytes: number }> }>("/v1/reservations"),
      ]);
      keep = series.capacity;
      if (series.samples.length > 0) {
        samples = samples.concat(series.samples).slice(-keep);
        lastT = samples[samples.length - 1]!.t_s;
      }
      events = hist.history.filter((r) => r.kind === "event" && notableEvent(r.type));
      logRows = hist.history;
      $("hdr-backend").textContent = `${series.backend} backend`;
      $("hdr-policy").textContent = `policy ${doms.policy}`;
      $("hdr-time").textContent = `t = ${formatSeconds(Math.round(doms.t_s))}`;
      // The selector follows the daemon's policy when that changes, and leaves alone
      // a choice the operator has made but not yet sent.
      if (doms.policy !== shownPolicy) {
        $<HTMLSelectElement>("policy-select").value = doms.policy;
        shownPolicy = doms.policy;
      }
      drawHost(h);
      drawGuests(doms.domains);
      drawCharts(doms.domains);
      applyFilter();
      drawLog(logRows);
      drawReservations(res.reservations);
      document.body.dataset.t = String(lastT ?? "");
      document.body.dataset.ready = "1";
    } catch (e) {
      status(`cannot reach the daemon: ${(e as Error).message}`, false);
    }
    if (again) {
      clearTimeout(timer);
      timer = setTimeout(() => void poll(), POLL_MS);
    }
  }

  // --- actions -----------------------------------------------------------------
  function onSubmit(id: string, f: (form: HTMLFormElement) => void): void {
    const form = $<HTMLFormElement>(id);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      f(form);
    });
  }
  const field = (form: HTMLFormElement, name: string) =>
    (form.elements.namedItem(name) as HTMLInputElement).value.trim();
  const checked = (form: HTMLFormElement, name: string) =>
    (form.elements.namedItem(name) as HTMLInputElement).checked;

  onSubmit("f-policy", () => {
    void change("PUT", "/v1/policy", { name: $<HTMLSelectElement>("policy-select").value });
  });
  onSubmit("f-memset", (form) => {
    const domain = field(form, "domain");
    void change("POST", `/v1/domains/${encodeURIComponent(domain)}/target`, {
      size: field(form, "size"),
      force: checked(form, "force"),
      dry_run: checked(form, "dry_run"),
    });
  });
  onSubmit("f-settings", (form) => {
    const body: Record<string, string | number> = {};
    for (const k of ["min", "max"]) if (field(form, k)) body[k] = field(form, k);
    for (const k of ["weight", "buffer"]) if (field(form, k)) body[k] = Number(field(form, k));
    void change("PUT", `/v1/domains/${encodeURIComponent(field(form, "domain"))}/settings`, body);
  });
  onSubmit("f-reserve", (form) => {
    void change("POST", "/v1/reservations", { size: field(form, "size") });
  });

  void getJson<{ available: Array<{ name: string; summary: string }> }>("/v1/policy").then(
    (p) => {
      const sel = $<HTMLSelectElement>("policy-select");
      for (const x of p.available) {
        const o = new Option(x.name, x.name);
        o.title = x.summary;
        sel.add(o);
      }
      void poll();
    },
    (e: Error) => status(`cannot reach the daemon: ${e.message}`, false),
  );
  addEventListener("resize", () => {
    host?.resize();
    for (const c of guests.values()) c.resize();
  });
})();
