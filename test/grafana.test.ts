/**
 * contrib/grafana/ballast-fleet.json: every query is valid PromQL (promtool check rules)
 * over metrics the daemon really exports; every variable it uses is defined; the panels
 * tile the grid without overlapping.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DaemonMetrics } from "../src/daemon/metrics.js";
import { repoPath } from "./helpers.js";
import { tempDir } from "./web/fixtures.js";

interface Panel {
  type: string;
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource: { uid: string } }>;
}

const dash = JSON.parse(readFileSync(repoPath("contrib/grafana/ballast-fleet.json"), "utf8")) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string }> };
};
const queries = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
const PROMTOOL = spawnSync("promtool", ["--version"]).error
  ? "promtool not found: install Debian's prometheus package (CI's .ci/run does)"
  : null;

describe("Grafana dashboard", () => {
  it("queries only metrics the daemon exports", () => {
    const exported = new Set(new DaemonMetrics().registry.getMetricsAsArray().map((m) => m.name));
    const used = new Set(
      queries.flatMap((q) => [...q.matchAll(/\b(ballast_\w+|process_\w+)/g)].map((m) => m[1]!)),
    );
    assert.ok(used.size >= 12, [...used].join(" "));
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      assert.ok(exported.has(name) || exported.has(base), `${name} is not exported`);
    }
  });

  it("defines every variable its queries use, and takes its data source as one", () => {
    const defined = new Set(dash.templating.list.map((v) => v.name));
    assert.ok(defined.has("datasource"));
    const all = JSON.stringify(dash);
    for (const m of all.matchAll(/\$\{?(\w+)/g)) {
      if (m[1]!.startsWith("__")) continue; // Grafana's own ($__rate_interval)
      assert.ok(defined.has(m[1]!), `$${m[1]} is not defined`);
    }
    for (const p of dash.panels.filter((x) => x.type !== "row")) {
      assert.equal(p.datasource?.uid, "${datasource}", p.title);
      for (const t of p.targets ?? []) assert.equal(t.datasource.uid, "${datasource}", p.title);
    }
  });

  it("tiles the 24-column grid without overlaps", () => {
    const ids = new Set<number>();
    const cells = new Map<string, string>();
    for (const p of dash.panels) {
      assert.ok(!ids.has(p.id), `duplicate panel id ${p.id}`);
      ids.add(p.id);
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${p.title}: ${JSON.stringify(g)}`);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          const k = `${x},${y}`;
          assert.ok(!cells.has(k), `${p.title} overlaps ${cells.get(k)}`);
          cells.set(k, p.title);
        }
    }
  });

  it("is valid PromQL (promtool check rules)", (t) => {
    if (PROMTOOL) return t.skip(PROMTOOL);
    const tmp = tempDir("ballast-grafana-");
    try {
      // Grafana's variables as Prometheus would see them once substituted.
      const rules = queries.map((q, i) => ({
        record: `ballast:dashboard_query_${i}`,
        expr: q.replace(/\$__rate_interval/g, "5m").replace(/\$\w+/g, ".*"),
      }));
      const file = join(tmp.dir, "rules.json");
      // YAML is a superset of JSON: promtool reads this as a rules file.
      writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
      const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      tmp.remove();
    }
  });
});
