/** The VMware-balloon seed's asks: cold pages first, never OOM from the balloon, back-pressure. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { USERSPACE_ANON_BYTES } from "../../src/sim/guest/kernel.js";
import { GiB, MiB } from "../../src/units/index.js";
import { dom, eventsOf, runExample, runYaml } from "../helpers.js";

describe("cold pages first (examples/pressure-cache-first.yaml)", () => {
  it("reaches 2 GiB from the cache alone: no swap-out, no major faults, no stall", () => {
    const { report } = runExample("pressure-cache-first.yaml");
    const db = dom(report, "db");
    assert.equal(db.actual_bytes, 2 * GiB);
    assert.equal(eventsOf(report, "balloon-reached-target", "db").length, 1);
    assert.ok(db.stats.swap_out_bytes <= 4 * MiB, `swap-out ${db.stats.swap_out_bytes}`);
    assert.ok(db.stats.major_faults <= 100, `major faults ${db.stats.major_faults}`);
    // The hot working set is intact (plus the guest's init and shell), the cache paid.
    assert.equal(db.stats.anon_bytes, 1 * GiB + USERSPACE_ANON_BYTES);
    assert.ok(db.stats.file_bytes < 1 * GiB);
    assert.equal(db.stats.oom_kills, 0);
    assert.equal(db.stats.psi_some_avg10, 0);
  });
});

describe("a forced over-shrink (examples/pressure-forced-stall.yaml)", () => {
  it("is refused without --force, then with it stalls instead of killing, keeping the working set", () => {
    const { report } = runExample("pressure-forced-stall.yaml");
    const app = dom(report, "app");
    assert.equal(eventsOf(report, "mem-set-refused", "app")[0]?.code, "below-floor");
    assert.equal(app.target_bytes, 512 * MiB);
    assert.equal(app.stats.oom_kills, 0);
    const stalled = eventsOf(report, "balloon-stalled", "app");
    assert.equal(stalled.length, 1);
    assert.match(stalled[0]!.message, /above target 512 MiB/);
    // Working set (1 GiB hot) still resident, and no hot page ever swapped back in.
    assert.ok(app.stats.anon_bytes >= 1 * GiB);
    assert.equal(app.stats.swap_in_bytes, 0);
    assert.ok(app.actual_bytes > 1 * GiB);
  });
});

describe("OOM with and without deflate_on_oom", () => {
  it("without it, the grown workload is OOM-killed", () => {
    const { report } = runExample("oom-without-deflate.yaml");
    const b = dom(report, "batch");
    assert.equal(b.stats.oom_kills, 1);
    assert.match(eventsOf(report, "oom-kill", "batch")[0]!.message, /Killed process worker/);
  });
  it("with it, nothing is killed and the balloon gives memory back", () => {
    const { report } = runExample("oom-deflate-on-oom.yaml");
    const b = dom(report, "batch");
    assert.equal(b.stats.oom_kills, 0);
    assert.equal(eventsOf(report, "oom-kill").length, 0);
    assert.ok(eventsOf(report, "balloon-deflated-on-oom", "batch").length >= 1);
    assert.ok(b.actual_bytes > 700 * MiB, `actual ${b.actual_bytes}`);
    assert.equal(b.stats.anon_bytes, 1 * GiB + USERSPACE_ANON_BYTES);
    // The balloon holds (virtio: no re-inflation until a new target).
    assert.equal(b.target_bytes, 700 * MiB);
  });
});

describe("the floor (examples/floor-refused.yaml)", () => {
  it("refuses mem-set below the floor, naming floor and working set, and changes nothing", () => {
    const { report } = runExample("floor-refused.yaml");
    const refused = eventsOf(report, "mem-set-refused", "web");
    assert.equal(refused.length, 2);
    for (const r of refused) {
      assert.equal(r.code, "below-floor");
      assert.match(r.message, /floor of [\d.]+ GiB \(working set [\d.]+ GiB/);
    }
    // Between the refusals and the accepted mem-set, the target never moved off 4 GiB.
    const firstSet = eventsOf(report, "mem-set", "web")[0]!;
    assert.equal(firstSet.t_s, 12);
    assert.match(firstSet.message, /4 GiB -> 2 GiB/);
  });
  it("a refused mem-set leaves target and actual untouched", () => {
    const { report } = runYaml(`
duration: 5s
host: { memory: 8GiB }
domains:
  - name: a
    memory: 2GiB
    workload: { processes: [{ name: p, anon: 1GiB, hot: 1GiB }] }
events:
  - { at: 2s, run: "mem-set a 256MiB" }
`);
    const a = dom(report, "a");
    assert.equal(a.target_bytes, 2 * GiB);
    assert.equal(a.actual_bytes, 2 * GiB);
    assert.equal(eventsOf(report, "mem-set").length, 0);
  });
});

describe("PSI (examples/psi-thrash.yaml)", () => {
  it("is zero for an idle guest and rises under thrashing", () => {
    const { report } = runExample("psi-thrash.yaml");
    const idle = dom(report, "idle");
    const thrash = dom(report, "thrash");
    assert.equal(idle.stats.psi_some_avg10, 0);
    assert.equal(idle.stats.psi_full_avg10, 0);
    assert.ok(thrash.stats.psi_some_avg10 > 50, `some ${thrash.stats.psi_some_avg10}`);
    assert.ok(thrash.stats.psi_full_avg10 > 50);
    assert.ok(thrash.stats.major_faults > 10000);
    assert.ok(thrash.stats.swap_in_bytes > 0 && thrash.stats.swap_out_bytes > 0);
    // Thrashing is a stall, not an OOM: swap I/O throttles, the task waits.
    assert.equal(thrash.stats.oom_kills, 0);
  });
  it("is zero before the working set outgrows memory", () => {
    const { report } = runYaml(`
duration: 19s
host: { memory: 8GiB }
domains:
  - name: thrash
    memory: 1GiB
    swap: 2GiB
    workload:
      processes: [{ name: solver, anon: 512MiB, hot: 512MiB }]
`);
    assert.equal(dom(report, "thrash").stats.psi_some_avg10, 0);
  });
});

describe("workload shapes (examples/workload-shapes.yaml)", () => {
  it("steady, ramp, spike, periodic, leak and trace end where their specs say", () => {
    const { report } = runExample("workload-shapes.yaml");
    // Anonymous memory beyond the guest's own init and shell.
    const anon = (n: string) => (dom(report, n).stats.anon_bytes - USERSPACE_ANON_BYTES) / MiB;
    const file = (n: string) => dom(report, n).stats.file_bytes / MiB;
    assert.equal(anon("steady"), 512);
    assert.equal(file("steady"), 512);
    assert.equal(anon("ramp"), 1024);
    assert.ok(Math.abs(anon("leaky") - (128 + 8 * 120)) < 8, `leaky ${anon("leaky")}`);
    assert.ok(Math.abs(anon("traced") - 256) < 2);
    assert.ok(Math.abs(file("traced") - 256) < 2);
    for (const d of report.domains) assert.equal(d.stats.oom_kills, 0, d.name);
  });
});
