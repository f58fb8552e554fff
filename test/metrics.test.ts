/**
 * GET /metrics: DESIGN.md's names in Prometheus text format, accepted by promtool;
 * decisions, refusals and loop time counted; the series of a guest that is gone dropped.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { DaemonMetrics, decisionAction } from "../src/daemon/metrics.js";
import { Series } from "../src/daemon/series.js";
import { Ring } from "../src/model/ring.js";
import type { Snapshot } from "../src/daemon/snapshot.js";
import { GiB } from "../src/units/index.js";
import { startDaemon } from "./web/fixtures.js";

/** The names DESIGN.md promises; they stay. */
export const DESIGN_METRICS = [
  "ballast_host_memory_bytes",
  "ballast_host_free_bytes",
  "ballast_host_reserved_bytes",
  "ballast_domain_actual_bytes",
  "ballast_domain_target_bytes",
  "ballast_domain_floor_bytes",
  "ballast_domain_maxmem_bytes",
  "ballast_domain_host_rss_bytes",
  "ballast_domain_pressure_some_ratio",
  "ballast_domain_pressure_full_ratio",
  "ballast_domain_oom_kills_total",
  "ballast_decisions_total",
  "ballast_refusals_total",
  "ballast_loop_duration_seconds",
];

const PROMTOOL = spawnSync("promtool", ["--version"]).error
  ? "promtool not found: install Debian's prometheus package (CI's .ci/run does) to check the format"
  : null;

/** Sample lines `name{labels} value`, by name and label text. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe("metrics", () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  const scrape = async () => {
    const r = await fetch(`${d.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return r.text();
  };
  before(async () => {
    d = await startDaemon("ballast");
    await d.advance(20_000);
  });
  after(() => d.stop());

  it("serves every name DESIGN.md lists, with HELP and TYPE, per guest under `domain`", async () => {
    const text = await scrape();
    for (const name of DESIGN_METRICS) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"), name);
      assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter|histogram)$`, "m"), name);
    }
    const s = samples(text);
    assert.equal(s.get("ballast_host_memory_bytes"), 16 * GiB);
    const web = (await (await fetch(`${d.url}/v1/domains`)).json()) as any;
    const v = web.domains.find((x: { name: string }) => x.name === "web");
    assert.equal(s.get('ballast_domain_actual_bytes{domain="web"}'), v.actual_bytes);
    assert.equal(s.get('ballast_domain_maxmem_bytes{domain="web"}'), 6 * GiB);
    assert.equal(s.get('ballast_domain_floor_bytes{domain="web"}'), v.floor_bytes);
    // On Xen the host backs exactly the guest's actual.
    assert.equal(s.get('ballast_domain_host_rss_bytes{domain="web"}'), v.actual_bytes);
    const psi = s.get('ballast_domain_pressure_some_ratio{domain="db"}')!;
    assert.ok(psi >= 0 && psi <= 1, String(psi));
    assert.equal(s.get('ballast_domain_oom_kills_total{domain="db"}'), 0);
    assert.ok(s.get("process_resident_memory_bytes")! > 10 * 2 ** 20);
  });

  it("passes promtool check metrics", async (t) => {
    if (PROMTOOL) return t.skip(PROMTOOL);
    const text = await scrape();
    const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  });

  it("counts decisions by policy and action, refusals by code, and every round's time", async () => {
    const before = samples(await scrape());
    const rounds = before.get("ballast_loop_duration_seconds_count")!;
    assert.ok(rounds >= 20, `rounds ${rounds}`);
    // The ballast policy grows a new guest that may grow (web) by its buffer at once.
    assert.ok(before.get('ballast_decisions_total{policy="ballast",action="grow"}')! >= 1);
    // Every decision the daemon logged is counted, once.
    const logged = d.store.history(null, 100_000).filter((h) => h.kind === "decision").length;
    let counted = 0;
    for (const [k, v] of before) if (k.startsWith("ballast_decisions_total{")) counted += v;
    assert.equal(counted, logged);
    const refused = await fetch(`${d.url}/v1/domains/web/target`, {
      method: "POST",
      headers: { authorization: `Bearer ${d.token}` },
      body: JSON.stringify({ size: "256MiB" }),
    });
    assert.equal(refused.status, 409);
    await d.advance(3000);
    const after = samples(await scrape());
    assert.equal(after.get('ballast_refusals_total{code="below-floor"}'), 1);
    assert.equal(after.get("ballast_loop_duration_seconds_count"), rounds + 3);
    assert.ok(after.get("ballast_loop_duration_seconds_sum")! > 0);
  });

  it("drops every series of a guest that is gone", async () => {
    assert.match(await scrape(), /domain="db"/);
    const r = d.backend.world.runCommand({ verb: "destroy", domain: "db" });
    assert.ok(r.ok, r.message);
    const text = await scrape();
    assert.doesNotMatch(text, /domain="db"/);
    assert.match(text, /ballast_domain_actual_bytes\{domain="web"\}/);
  });

  it("answers GET only on /metrics and /v1/series, and refuses a bad `since`", async () => {
    const post = await fetch(`${d.url}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET");
    const bad = await fetch(`${d.url}/v1/series?since=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as any).message, /since: a time in seconds/);
    const ok = (await (await fetch(`${d.url}/v1/series`)).json()) as any;
    assert.equal(ok.backend, "sim");
    assert.ok(ok.samples.length >= 1);
  });
});

function snapshot(names: string[], floor: number | null = GiB): Snapshot {
  return {
    t_s: 1,
    policy: "none",
    host: {
      total_bytes: 8 * GiB,
      free_bytes: GiB,
      hypervisor_reserve_bytes: 0,
      reserved_bytes: 0,
    },
    domains: names.map((name, id) => ({
      name,
      id,
      state: "running",
      memory_bytes: 2 * GiB,
      maxmem_bytes: 2 * GiB,
      target_bytes: 2 * GiB,
      actual_bytes: 2 * GiB,
      floor_bytes: floor,
      working_set_bytes: null,
      psi_some_avg10: 12.5,
      psi_full_avg10: null,
      host_rss_bytes: 2 * GiB,
      pin_bytes: null,
      settings: { min_bytes: GiB, max_bytes: 2 * GiB, weight: 100, buffer_pct: 20 },
    })),
  };
}

describe("metrics registry", () => {
  it("keeps a bounded set of series as guests come and go", async () => {
    const m = new DaemonMetrics();
    for (let i = 0; i < 50; i++) m.update(snapshot([`g${i}`, `g${i + 1}`]));
    const text = await m.text();
    const guests = new Set([...text.matchAll(/domain="([^"]+)"/g)].map((x) => x[1]));
    assert.deepEqual([...guests].sort(), ["g49", "g50"]);
  });

  it("leaves out what a guest does not report, rather than a made-up zero", async () => {
    const m = new DaemonMetrics();
    m.update(snapshot(["a"], null));
    const text = await m.text();
    assert.doesNotMatch(text, /ballast_domain_floor_bytes\{/);
    assert.doesNotMatch(text, /ballast_domain_pressure_full_ratio\{/);
    assert.match(text, /ballast_domain_pressure_some_ratio\{domain="a"\} 0\.125/);
  });

  it("counts OOM kills from the backend's events, for guests it knows", async () => {
    const m = new DaemonMetrics();
    m.update(snapshot(["a"]));
    m.events([
      { t_s: 1, domain: "a", type: "oom-kill", message: "killed" },
      { t_s: 2, domain: "a", type: "oom-kill", message: "killed" },
      { t_s: 2, domain: "gone", type: "oom-kill", message: "killed" },
      { t_s: 3, domain: "a", type: "mem-set-refused", code: "above-maxmem", message: "no" },
    ]);
    const text = await m.text();
    assert.match(text, /ballast_domain_oom_kills_total\{domain="a"\} 2/);
    assert.doesNotMatch(text, /domain="gone"/);
    assert.match(text, /ballast_refusals_total\{code="above-maxmem"\} 1/);
  });

  it("names a decision's action by the way it moved the target", () => {
    assert.equal(decisionAction({ fromBytes: 1, targetBytes: 2, ok: true }), "grow");
    assert.equal(decisionAction({ fromBytes: 2, targetBytes: 1, ok: true }), "shrink");
    assert.equal(decisionAction({ fromBytes: 2, targetBytes: 2, ok: false }), "hold");
  });
});

describe("series ring buffer", () => {
  it("holds at most its capacity, oldest first", () => {
    const r = new Ring<number>(3);
    for (let i = 1; i <= 7; i++) r.push(i);
    assert.deepEqual(r.toArray(), [5, 6, 7]);
    assert.equal(r.length, 3);
    assert.throws(() => new Ring(0), /capacity/);
  });

  it("serves the samples after a time; a sample at the same time replaces the last", () => {
    const s = new Series(4);
    for (const t of [1, 2, 3, 3, 4, 5]) {
      const snap = snapshot(["a"]);
      snap.t_s = t;
      snap.host.free_bytes = t * GiB;
      s.add(snap);
    }
    assert.deepEqual(
      s.since(null).map((x) => x.t_s),
      [2, 3, 4, 5],
    );
    assert.deepEqual(
      s.since(3).map((x) => x.t_s),
      [4, 5],
    );
    assert.equal(s.since(null)[1]!.host.free_bytes, 3 * GiB);
    assert.equal(s.since(null)[0]!.domains.a!.actual_bytes, 2 * GiB);
  });
});
