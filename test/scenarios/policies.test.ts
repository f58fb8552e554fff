/**
 * The policies on the benchmark scenarios (the shipped ones and those written to break
 * ballast), on Xen and on KVM hosts: the goals asserted per host kind from one real bench
 * run of each, and for each of ballast's safety rules a scenario that goes wrong without
 * it.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  type BenchReport,
  type BenchRow,
  benchPolicies,
  type Hypervisor,
  measureRun,
  scenarioFiles,
  withStandardGuests,
} from "../../src/daemon/policy_bench.js";
import { type BallastFistpoint, makeBallastPolicy } from "../../src/policy/ballast/index.js";
import { POLICIES } from "../../src/policy/index.js";
import type { Policy } from "../../src/policy/policy.js";
import { loadScenario, withHypervisor } from "../../src/sim/scenario.js";
import { repoPath } from "../helpers.js";

const ANCHORS = ["proxmox", "mom", "squeezed"];
const KINDS: Hypervisor[] = ["xen", "kvm"];
const scenario = (name: string, kind: Hypervisor = "xen") =>
  withHypervisor(loadScenario(repoPath(`bench/scenarios/${name}.yaml`)), kind);
const ballast = POLICIES.ballast!;
const without = (f: BallastFistpoint) => makeBallastPolicy({ fistpoints: [f] }) as Policy<unknown>;

/** One bench run per host kind, shared by every assertion on it. */
const reports = new Map<Hypervisor, Promise<BenchReport>>();
function bench(kind: Hypervisor): Promise<BenchReport> {
  let r = reports.get(kind);
  if (!r) {
    r = benchPolicies(
      ["ballast", ...ANCHORS].map((n) => POLICIES[n]!),
      scenarioFiles(repoPath("bench/scenarios")),
      { transform: (s) => [withHypervisor(s, kind)] },
    );
    reports.set(kind, r);
  }
  return r;
}

for (const kind of KINDS) {
  describe(`ballast bench policies on ${kind} hosts: the goals, from one real run`, () => {
    let report: BenchReport;
    before(async () => {
      report = await bench(kind);
    });
    const rowsOf = (p: string) => report.rows.filter((r) => r.policy === p);
    const row = (p: string, s: string) =>
      report.rows.find((r) => r.policy === p && r.scenario === s)!;
    const totalOf = (p: string) => report.totals.find((t) => t.policy === p)!;

    it(`covers the shipped scenarios and the ones written to break ballast, all on ${kind}`, () => {
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
      for (const r of report.rows) assert.equal(r.hypervisor, kind, r.scenario);
      assert.deepEqual(
        report.totals.map((t) => t.hypervisor),
        report.totals.map(() => kind),
      );
    });

    it("ballast: no OOM kill, none while the host had room, no crash, on any scenario", () => {
      for (const r of rowsOf("ballast")) {
        assert.equal(r.oom_kills, 0, r.scenario);
        assert.equal(r.oom_kills_host_had_room, 0, r.scenario);
        assert.equal(r.crashes, 0, r.scenario);
      }
    });

    it("ballast: no more stall than the best anchor, scenario by scenario", () => {
      for (const r of rowsOf("ballast")) {
        const best = Math.min(...ANCHORS.map((a) => row(a, r.scenario).stall_s));
        assert.ok(r.stall_s <= best, `${r.scenario}: ${r.stall_s} s vs ${best} s`);
      }
    });

    it("ballast: reaction p99 at most 1.5 s, on every scenario and in all", () => {
      for (const r of [...rowsOf("ballast"), totalOf("ballast")] as BenchRow[])
        if (r.reaction_p99_s !== null)
          assert.ok(r.reaction_p99_s <= 1.5, `${r.scenario}: ${r.reaction_p99_s}`);
    });

    it("ballast: at least 1.25x the VMs per host of the best anchor, and one more", () => {
      const mine = totalOf("ballast").density_vms;
      const best = Math.max(...ANCHORS.map((a) => totalOf(a).density_vms));
      assert.ok(best > 0, "the anchors take guests too: the comparison means something");
      assert.ok(mine >= best + 1, `${kind}: ${mine} vs ${best}`);
      assert.ok(mine >= 1.25 * best, `${kind}: ${mine} vs ${best}`);
    });

    if (kind === "xen")
      it("ballast wins where anchors squeeze in proportion: a mixed fleet, leaks, a returning working set", () => {
        for (const s of ["mixed-fleet", "leak-tight", "working-set-return"]) {
          const best = Math.max(...ANCHORS.map((a) => row(a, s).density_vms));
          assert.ok(
            row("ballast", s).density_vms >= 1.25 * best,
            `${s}: ${row("ballast", s).density_vms} vs ${best}`,
          );
        }
      });
    else
      it("ballast serves starts from memory never touched: a boot storm onto a full host, a mixed fleet", () => {
        // Counting targets as Xen does, ballast took 2 guests here and 40 (the anchors 17
        // and 48): starts waited for memory that was free, and residents were shrunk
        // below their next burst.
        for (const s of ["boot-storm-full", "mixed-fleet"]) {
          const best = Math.max(...ANCHORS.map((a) => row(a, s).density_vms));
          assert.ok(
            row("ballast", s).density_vms >= best,
            `${s}: ${row("ballast", s).density_vms} vs ${best}`,
          );
        }
      });
  });
}

describe("ballast's safety rules, each shown by switching it off", () => {
  /** Ballast's density on a scenario and host kind, from the shared bench run. */
  const densityOf = async (s: string, kind: Hypervisor) =>
    (await bench(kind)).rows.find((r) => r.policy === "ballast" && r.scenario === s)!.density_vms;

  it("reclaim on demand: without it, small guests are shrunk while the host has room, and OOM-killed at their jump", async () => {
    const s = scenario("small-guests-burst");
    assert.equal((await measureRun(ballast, s)).oomKills, 0);
    const greedy = await measureRun(without("reclaim-all"), s);
    assert.ok(greedy.oomKillsWithRoom > 0, `${greedy.oomKillsWithRoom}`);
  });
  it("headroom: without it, a mixed fleet packed as tight as ballast packs it kills its batch guests", async () => {
    const s = withStandardGuests(scenario("mixed-fleet"), await densityOf("mixed-fleet", "xen"));
    assert.equal((await measureRun(ballast, s)).failure, null);
    assert.ok((await measureRun(without("no-headroom"), s)).oomKills > 0);
  });
  it("pressure: without it, a short guest waits for its memory (reaction p99 above 1.5 s)", async () => {
    const s = withStandardGuests(scenario("batch-spikes"), await densityOf("batch-spikes", "xen"));
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
  it("boot keep: without it, a guest started onto a busy host is shrunk while it allocates, and OOM-killed", async () => {
    // 16 extra guests on the diurnal web tier: the 15th starts while the tier is busy.
    const s = withStandardGuests(scenario("diurnal-web"), 16);
    assert.equal((await measureRun(ballast, s)).failure, null);
    const hasty = await measureRun(without("no-boot-keep"), s);
    assert.ok(hasty.oomKillsWithRoom > 0, `${hasty.failure}`);
  });
  it("shared headroom (KVM): without it, the host has nothing free for a burst, and its OOM killer ends a guest", async () => {
    const s = withStandardGuests(
      scenario("mixed-fleet", "kvm"),
      await densityOf("mixed-fleet", "kvm"),
    );
    assert.equal((await measureRun(ballast, s)).failure, null);
    const bare = await measureRun(without("no-shared-headroom"), s);
    assert.ok(bare.crashes > 0, `${bare.failure}`);
  });
  it("first touch (KVM): counting targets as Xen does, residents are shrunk below their burst while memory is free", async () => {
    const s = withStandardGuests(
      scenario("boot-storm-full", "kvm"),
      await densityOf("boot-storm-full", "kvm"),
    );
    assert.equal((await measureRun(ballast, s)).failure, null);
    const xenStyle = await measureRun(without("charge-targets"), s);
    assert.ok(xenStyle.oomKillsWithRoom > 0, `${xenStyle.failure}`);
  });
});
