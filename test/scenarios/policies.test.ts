/**
 * The policies on the benchmark scenarios (the shipped ones and those written to break
 * ballast): the goals asserted from one real bench run, and for each of ballast's safety
 * rules a scenario that goes wrong without it.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  type BenchReport,
  type BenchRow,
  benchPolicies,
  measureRun,
  scenarioFiles,
  withStandardGuests,
} from "../../src/daemon/policy_bench.js";
import { type BallastFistpoint, makeBallastPolicy } from "../../src/policy/ballast/index.js";
import { POLICIES } from "../../src/policy/index.js";
import type { Policy } from "../../src/policy/policy.js";
import { loadScenario } from "../../src/sim/scenario.js";
import { repoPath } from "../helpers.js";

const ANCHORS = ["proxmox", "mom", "squeezed"];
const scenario = (name: string) => loadScenario(repoPath(`bench/scenarios/${name}.yaml`));
const ballast = POLICIES.ballast!;
const without = (f: BallastFistpoint) => makeBallastPolicy({ fistpoints: [f] }) as Policy<unknown>;

describe("ballast bench policies: the goals, from one real run", () => {
  let report: BenchReport;
  before(async () => {
    report = await benchPolicies(
      ["ballast", ...ANCHORS].map((n) => POLICIES[n]!),
      scenarioFiles(repoPath("bench/scenarios")),
    );
  });
  const rowsOf = (p: string) => report.rows.filter((r) => r.policy === p);
  const row = (p: string, s: string) =>
    report.rows.find((r) => r.policy === p && r.scenario === s)!;
  const totalsOf = (p: string) => report.totals.filter((t) => t.policy === p);

  it("covers the shipped scenarios and the five written to break ballast, on Xen", () => {
    const names = new Set(report.rows.map((r) => r.scenario));
    for (const s of [
      "idle-fleet",
      "batch-spikes",
      "lying-guest",
      "boot-storm",
      "leaking-guest",
      "small-guests-burst",
      "working-set-return",
      "mixed-fleet",
      "leak-tight",
      "boot-storm-full",
    ])
      assert.ok(names.has(s), s);
    for (const r of report.rows) assert.ok(r.hypervisor === "xen" || r.hypervisor === "kvm");
  });

  it("ballast: no OOM kill, and none while the host had room, on any scenario", () => {
    for (const r of rowsOf("ballast")) {
      assert.equal(r.oom_kills, 0, r.scenario);
      assert.equal(r.oom_kills_host_had_room, 0, r.scenario);
    }
  });

  it("ballast: no more stall than the best anchor, scenario by scenario", () => {
    for (const r of rowsOf("ballast")) {
      const best = Math.min(...ANCHORS.map((a) => row(a, r.scenario).stall_s));
      assert.ok(r.stall_s <= best, `${r.scenario}: ${r.stall_s} s vs ${best} s`);
    }
  });

  it("ballast: reaction p99 at most 1.5 s, on every scenario and in all", () => {
    for (const r of [...rowsOf("ballast"), ...totalsOf("ballast")] as BenchRow[])
      if (r.reaction_p99_s !== null)
        assert.ok(r.reaction_p99_s <= 1.5, `${r.scenario}: ${r.reaction_p99_s}`);
  });

  it("ballast: at least 1.25x the VMs per host of the best anchor, and one more", () => {
    for (const t of totalsOf("ballast")) {
      const best = Math.max(
        ...ANCHORS.map(
          (a) =>
            report.totals.find((x) => x.policy === a && x.hypervisor === t.hypervisor)!.density_vms,
        ),
      );
      assert.ok(t.density_vms >= best + 1, `${t.hypervisor}: ${t.density_vms} vs ${best}`);
      assert.ok(t.density_vms >= 1.25 * best, `${t.hypervisor}: ${t.density_vms} vs ${best}`);
    }
  });

  it("ballast wins where anchors squeeze in proportion: a mixed fleet, leaks, a returning working set", () => {
    for (const s of ["mixed-fleet", "leak-tight", "working-set-return"]) {
      const best = Math.max(...ANCHORS.map((a) => row(a, s).density_vms));
      assert.ok(
        row("ballast", s).density_vms >= 1.25 * best,
        `${s}: ${row("ballast", s).density_vms} vs ${best}`,
      );
    }
  });

  describe("ballast's safety rules, each shown by switching it off", () => {
    it("reclaim on demand: without it, small guests are shrunk while the host has room, and OOM-killed at their jump", async () => {
      const s = scenario("small-guests-burst");
      assert.equal((await measureRun(ballast, s)).oomKills, 0);
      const greedy = await measureRun(without("reclaim-all"), s);
      assert.ok(greedy.oomKillsWithRoom > 0, `${greedy.oomKillsWithRoom}`);
    });
    it("headroom: without it, a mixed fleet packed as tight as ballast packs it kills its batch guests", async () => {
      const s = withStandardGuests(
        scenario("mixed-fleet"),
        row("ballast", "mixed-fleet").density_vms,
      );
      assert.equal((await measureRun(ballast, s)).failure, null);
      assert.ok((await measureRun(without("no-headroom"), s)).oomKills > 0);
    });
    it("pressure: without it, a short guest waits for its memory (reaction p99 above 1.5 s)", async () => {
      const s = withStandardGuests(
        scenario("batch-spikes"),
        row("ballast", "batch-spikes").density_vms,
      );
      const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(0.99 * xs.length) - 1]!;
      assert.ok(p99((await measureRun(ballast, s)).reactions) <= 1.5);
      assert.ok(p99((await measureRun(without("ignore-pressure"), s)).reactions) > 1.5);
    });
    it("distrust: without it, a hog's lies starve honest guests into stalls", async () => {
      const s = scenario("lying-guest");
      assert.equal((await measureRun(ballast, s)).stallUs, 0);
      const gullible = await measureRun(without("trust-everyone"), s);
      assert.ok(gullible.stallUs > 0 && gullible.majorFaults > 10_000, `${gullible.stallUs}`);
    });
  });
});
