/**
 * The KVM host: one test per example in examples/kvm-*.yaml, each asserting the
 * behaviour it shows, plus the scenario fields that came with it (samples, rates,
 * free_page_reporting, withHypervisor).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { USERSPACE_ANON_BYTES } from "../../src/sim/guest/kernel.js";
import { buildReport } from "../../src/sim/report.js";
import {
  loadScenario,
  parseScenario,
  ScenarioError,
  withHypervisor,
} from "../../src/sim/scenario.js";
import { World } from "../../src/sim/world.js";
import { GiB, MiB } from "../../src/units/index.js";
import { dom, eventsOf, repoPath, runChecked, runExample, runYaml } from "../helpers.js";

const at = (r: ReturnType<typeof runExample>["report"], t: number, name: string) => {
  const s = r.samples!.find((x) => x.t_s === t);
  assert.ok(s, `no sample at ${t}s`);
  return s.domains[name]!;
};

describe("a KVM guest's boot, calibrated to a real Linux 6.1 guest", () => {
  it("MemTotal, what boot touches, min_free_kbytes as measured on a 1 GiB QEMU guest", () => {
    const { report } = runYaml(`
duration: 1s
host: { hypervisor: kvm, memory: 4GiB }
domains: [{ name: vm, memory: 1GiB }]
`);
    const vm = dom(report, "vm");
    assert.equal(report.host.hypervisor, "kvm");
    assert.equal(vm.balloon_driver, "virtio");
    // Real guest: MemTotal 995612 kB, min_free_kbytes 45056, QEMU RSS 140 MiB after boot.
    assert.equal(vm.stats.mem_total_bytes, 995612 * 1024);
    assert.equal(vm.min_free_kbytes, 45056);
    assert.ok(Math.abs(vm.host_rss_bytes / MiB - 140) < 1, `rss ${vm.host_rss_bytes / MiB}`);
    assert.equal(vm.actual_bytes, 1 * GiB);
    // The host holds only what boot touched.
    assert.equal(report.host.free_bytes, 4 * GiB - vm.host_rss_bytes);
    assert.equal(vm.stats.anon_bytes, USERSPACE_ANON_BYTES);
  });
  it("a Xen guest of the same kernel gets the same kernel rules (MemTotal, min_free_kbytes)", () => {
    const { report } = runYaml(`
duration: 1s
host: { memory: 4GiB }
domains: [{ name: vm, memory: 1GiB }]
`);
    const vm = dom(report, "vm");
    assert.equal(vm.balloon_driver, "xen");
    assert.equal(vm.min_free_kbytes, 45056);
    // All of `memory` populated at build: RSS is actual.
    assert.equal(vm.host_rss_bytes, vm.actual_bytes);
    // The same kernel less the E820 holes QEMU's machine has.
    assert.ok(Math.abs(vm.stats.mem_total_bytes / MiB - 972.8) < 0.5);
  });
});

describe("cold pages first on KVM (examples/kvm-pressure-cache-first.yaml)", () => {
  it("reaches 2 GiB from the cache, without swap or kills, and QEMU's RSS drops with it", () => {
    const { report } = runExample("kvm-pressure-cache-first.yaml");
    const db = dom(report, "db");
    assert.equal(db.actual_bytes, 2 * GiB);
    assert.equal(eventsOf(report, "balloon-reached-target", "db").length, 1);
    assert.equal(db.stats.oom_kills, 0);
    assert.ok(db.stats.swap_out_bytes <= 4 * MiB);
    assert.equal(db.stats.anon_bytes, 1 * GiB + USERSPACE_ANON_BYTES);
    // MemTotal shrank with the balloon (no deflate-on-oom).
    assert.ok(db.stats.mem_total_bytes < 2 * GiB);
    const before = at(report, 15, "db").host_rss_bytes;
    assert.ok(before > 3 * GiB, `rss before ${before}`);
    assert.ok(db.host_rss_bytes < 2 * GiB, `rss after ${db.host_rss_bytes}`);
    assert.equal(report.host.free_bytes, 16 * GiB - db.host_rss_bytes);
    // virtio_balloon's default inflate rate: 2 GiB takes over half a minute.
    const reached = eventsOf(report, "balloon-reached-target", "db")[0]!;
    assert.ok(reached.t_s > 20 + 30 && reached.t_s < 20 + 40, `reached at ${reached.t_s}`);
  });
});

describe("forced far below a process (examples/kvm-oom-panic.yaml)", () => {
  it("kills the process, then the shell, then panics: crashed, guest-panic", () => {
    const { report } = runExample("kvm-oom-panic.yaml");
    const vm = dom(report, "vm");
    const kills = eventsOf(report, "oom-kill", "vm");
    assert.deepEqual(
      kills.map((k) => /Killed process (\S+)/.exec(k.message)![1]),
      ["app", "sh"],
    );
    assert.equal(eventsOf(report, "balloon-stalled", "vm").length, 1);
    const panic = eventsOf(report, "guest-panic", "vm");
    assert.equal(panic.length, 1);
    assert.match(panic[0]!.message, /System is deadlocked on memory/);
    assert.equal(vm.state, "crashed");
    assert.ok(vm.crash && vm.crash.t_s === panic[0]!.t_s);
    assert.match(vm.crash.reason, /Kernel panic - not syncing: System is deadlocked on memory/);
    // The panic comes at init's next fork after the last kill.
    assert.ok(panic[0]!.t_s - kills[1]!.t_s <= 1);
    // Stopped at the floor: kernel, struct pages, slab and 47.7 MiB free (real: 136-138).
    assert.ok(Math.abs(vm.actual_bytes / MiB - 136) < 2, `actual ${vm.actual_bytes / MiB}`);
    // No pvpanic device: QEMU keeps the crashed guest's memory.
    assert.ok(vm.host_rss_bytes > 90 * MiB);
    assert.equal(report.host.free_bytes, 8 * GiB - vm.host_rss_bytes);
  });
  it("a crashed guest refuses mem-set and gives its memory back when destroyed", () => {
    const { report } = runYaml(`
duration: 40s
host: { hypervisor: kvm, memory: 8GiB }
domains:
  - { name: vm, memory: 1GiB, workload: { processes: [{ name: app, anon: 600MiB, hot: 0 }] } }
events:
  - { at: 1s, run: "mem-set vm 96MiB --force" }
  - { at: 35s, run: "mem-set vm 1GiB" }
  - { at: 36s, run: "destroy vm" }
`);
    assert.equal(eventsOf(report, "mem-set-refused", "vm")[0]?.code, "no-such-domain");
    assert.match(eventsOf(report, "mem-set-refused", "vm")[0]!.message, /not running \(crashed\)/);
    assert.equal(report.host.free_bytes, 8 * GiB);
  });
  it("on Xen the crashed domain is destroyed (xl's on_crash=destroy) and its memory freed", () => {
    const { report } = runYaml(`
duration: 40s
host: { memory: 8GiB }
domains:
  - { name: vm, memory: 1GiB, workload: { processes: [{ name: app, anon: 600MiB, hot: 0 }] } }
events:
  - { at: 1s, run: "mem-set vm 96MiB --force" }
`);
    const vm = dom(report, "vm");
    assert.equal(vm.state, "crashed");
    assert.equal(eventsOf(report, "guest-panic", "vm").length, 1);
    assert.equal(vm.actual_bytes, 0);
    assert.equal(vm.host_rss_bytes, 0);
    assert.equal(report.host.free_bytes, 8 * GiB);
  });
});

describe("OOM without deflate-on-oom on KVM (examples/kvm-oom-without-deflate.yaml)", () => {
  it("kills the grown workload, and the driver then reaches its target", () => {
    const { report } = runExample("kvm-oom-without-deflate.yaml");
    const b = dom(report, "batch");
    assert.equal(b.stats.oom_kills, 1);
    assert.match(eventsOf(report, "oom-kill", "batch")[0]!.message, /Killed process worker/);
    assert.equal(b.actual_bytes, 700 * MiB);
    assert.equal(b.state, "running");
    assert.ok(b.stats.mem_total_bytes < 700 * MiB);
  });
});

describe("deflate-on-oom on KVM (examples/kvm-oom-deflate-on-oom.yaml)", () => {
  const { report } = runExample("kvm-oom-deflate-on-oom.yaml");
  it("MemTotal does not shrink as the balloon inflates", () => {
    for (const name of ["stuck", "grown"]) {
      const d = dom(report, name);
      assert.equal(d.stats.mem_total_bytes, at(report, 0, name).mem_total_bytes, name);
      assert.ok(d.balloon_bytes > 256 * MiB, name);
    }
  });
  it("forced below a process: no kill, the driver goes on chasing at the floor, PSI rises", () => {
    const d = dom(report, "stuck");
    assert.equal(d.stats.oom_kills, 0);
    assert.equal(eventsOf(report, "balloon-deflated-on-oom", "stuck").length, 1);
    // Still at the floor at the end: the pages the notifier gave back were taken again.
    const levels = report
      .samples!.filter((s) => s.t_s >= 20)
      .map((s) => s.domains.stuck!.actual_bytes);
    assert.ok(Math.max(...levels) - Math.min(...levels) <= 2 * MiB);
    assert.ok(Math.abs(d.actual_bytes / MiB - 737) < 3, `actual ${d.actual_bytes / MiB}`);
    // The driver retries five times a second: ~22 ms of stall per second (real: 16-33).
    assert.ok(
      d.stats.psi_some_avg10 > 1.5 && d.stats.psi_some_avg10 < 3.5,
      `${d.stats.psi_some_avg10}`,
    );
    assert.equal(at(report, 8, "stuck").psi_some_avg10, 0);
  });
  it("after reaching its target, an OOM deflation stays: the balloon holds", () => {
    const d = dom(report, "grown");
    assert.equal(d.stats.oom_kills, 0);
    const ev = eventsOf(report, "balloon-deflated-on-oom", "grown");
    assert.equal(ev.length, 2);
    assert.match(ev[1]!.message, /no process was killed; the balloon holds until a new target/);
    assert.ok(d.actual_bytes > 1 * GiB, `actual ${d.actual_bytes / MiB}`);
    assert.equal(d.target_bytes, 700 * MiB);
    assert.equal(at(report, 59, "grown").actual_bytes, d.actual_bytes);
  });
});

describe("free page reporting (examples/kvm-free-page-reporting.yaml)", () => {
  const { report } = runExample("kvm-free-page-reporting.yaml");
  it("without it, freed memory stays in QEMU's RSS", () => {
    assert.ok(at(report, 19, "plain").host_rss_bytes > 1.6 * GiB);
    assert.equal(at(report, 39, "plain").host_rss_bytes, at(report, 19, "plain").host_rss_bytes);
  });
  it("with it, freed 2 MiB blocks leave QEMU's RSS 2 s later, 256 MiB a pass", () => {
    const rss = (t: number) => at(report, t, "reporting").host_rss_bytes;
    // The job's memory is freed in the tick after 20 s; 2 s later, the first pass.
    assert.equal(rss(22), rss(19));
    assert.equal(rss(19) - rss(23), 256 * MiB);
    assert.equal(rss(23) - rss(25), 256 * MiB);
    // All but boot's leftovers and the 6% of the job's memory left in small blocks.
    assert.ok(rss(39) < 250 * MiB, `rss ${rss(39) / MiB} MiB`);
    assert.ok(rss(39) > 150 * MiB, `rss ${rss(39) / MiB} MiB`);
    // Touched again, it is backed again (the small blocks first, already backed).
    assert.ok(rss(45) >= rss(39) + 400 * MiB, `rss ${rss(45) / MiB} MiB`);
    // The host's free memory follows.
    const s = report.samples!.find((x) => x.t_s === 39)!;
    assert.equal(
      s.host.free_bytes,
      8 * GiB - s.domains.plain!.host_rss_bytes - s.domains.reporting!.host_rss_bytes,
    );
  });
});

describe("inflate and deflate rates (examples/kvm-rates.yaml)", () => {
  it("inflating is slower than deflating; defaults as measured, or set per domain", () => {
    const { report } = runExample("kvm-rates.yaml");
    const reached = (name: string) =>
      eventsOf(report, "balloon-reached-target", name).map((e) => e.t_s);
    // 768 MiB at 60 MiB/s, back at 1 GiB/s.
    assert.deepEqual(reached("default"), [13.8, 20.8]);
    // 768 MiB at 256 MiB/s, back at 2 GiB/s.
    assert.deepEqual(reached("tuned"), [4, 20.4]);
  });
  it("balloon_rate sets both; inflate_rate/deflate_rate override it", () => {
    const { report } = runYaml(`
duration: 20s
host: { hypervisor: kvm, memory: 4GiB }
domains:
  - { name: a, memory: 1GiB, balloon_rate: 128MiB/s }
  - { name: b, memory: 1GiB, balloon_rate: 128MiB/s, deflate_rate: 512MiB/s }
events:
  - { at: 0s, run: "mem-set a 512MiB" }
  - { at: 0s, run: "mem-set b 512MiB" }
  - { at: 10s, run: "mem-set a 1GiB" }
  - { at: 10s, run: "mem-set b 1GiB" }
`);
    const t = (n: string) => eventsOf(report, "balloon-reached-target", n).map((e) => e.t_s);
    assert.deepEqual(t("a"), [4, 14]);
    assert.deepEqual(t("b"), [4, 11]);
  });
});

describe("memory backed on first touch (examples/kvm-overcommit.yaml)", () => {
  it("four 4 GiB guests start on a 10 GiB host; when they touch too much, the host OOM-kills a QEMU", () => {
    const { report } = runExample("kvm-overcommit.yaml");
    assert.equal(eventsOf(report, "boot").length, 4);
    const killed = eventsOf(report, "host-oom-kill");
    assert.equal(killed.length, 1);
    assert.equal(killed[0]!.domain, "b");
    const b = dom(report, "b");
    assert.equal(b.state, "crashed");
    assert.match(b.crash!.reason, /host's OOM killer/);
    assert.equal(b.host_rss_bytes, 0);
    const held = report.domains.reduce((n, d) => n + d.host_rss_bytes, 0);
    assert.equal(report.host.free_bytes, 10 * GiB - held);
    for (const n of ["a", "c", "d"]) assert.equal(dom(report, n).state, "running");
  });
});

describe("virtio-mem above boot memory (examples/kvm-virtio-mem.yaml)", () => {
  it("plugs up to the target, pays struct pages only for what it plugs, unplugs first", () => {
    const { report } = runExample("kvm-virtio-mem.yaml");
    const s = (t: number) => at(report, t, "vm");
    assert.equal(s(5).actual_bytes, 1 * GiB);
    assert.equal(s(10).actual_bytes, 3 * GiB);
    // No struct pages for maxmem at boot: MemTotal as a plain 1 GiB guest's.
    assert.equal(s(0).mem_total_bytes, 995612 * 1024);
    // Plugged memory is backed only once touched.
    assert.ok(s(10).host_rss_bytes < 450 * MiB);
    assert.ok(s(30).host_rss_bytes > 1.7 * GiB);
    const vm = dom(report, "vm");
    assert.equal(vm.actual_bytes, 1 * GiB);
    assert.equal(vm.balloon_bytes, 0);
    assert.equal(eventsOf(report, "memory-device-size-change", "vm").length, 2);
    // Boot's struct pages cover boot memory only: 262015 frames, 4094 pages.
    assert.equal(vm.mem_map_bytes, 4094 * 4096);
    // Unplugged, the memory the workload touched and freed left QEMU.
    assert.ok(vm.host_rss_bytes < 600 * MiB, `rss ${vm.host_rss_bytes / MiB}`);
  });
});

describe("samples", () => {
  it("a scenario's samples: adds the time series of the contract to the report", () => {
    const { report } = runYaml(`
duration: 3s
samples: 1s
host: { hypervisor: kvm, memory: 4GiB }
domains: [{ name: vm, memory: 1GiB }]
`);
    assert.deepEqual(
      report.samples!.map((s) => s.t_s),
      [0, 1, 2, 3],
    );
    const d = report.samples![1]!.domains.vm!;
    for (const k of [
      "state",
      "actual_bytes",
      "target_bytes",
      "host_rss_bytes",
      "mem_total_bytes",
      "free_bytes",
      "available_bytes",
      "psi_some_avg10",
      "psi_full_avg10",
      "oom_kills",
    ])
      assert.ok(k in d, k);
    assert.equal(typeof report.samples![1]!.host.free_bytes, "number");
  });
  it("a report without samples: has none", () => {
    const { report } = runYaml(`
duration: 1s
host: { memory: 4GiB }
domains: [{ name: vm, memory: 1GiB }]
`);
    assert.equal(report.samples, undefined);
  });
  it("refuses a samples interval that is not a whole number of ticks", () => {
    assert.throws(
      () => parseScenario("duration: 2s\nsamples: 150ms\nhost: { memory: 4GiB }\n", "s.yaml", "."),
      (e: unknown) =>
        e instanceof ScenarioError && /samples: must be a whole number of ticks/.test(e.message),
    );
  });
});

describe("the scenario's KVM fields", () => {
  const bad = (yaml: string, re: RegExp) =>
    assert.throws(
      () => parseScenario(yaml, "k.yaml", "."),
      (e: unknown) => e instanceof ScenarioError && re.test(e.message),
    );
  it("refuses Xen-only settings on a KVM host and KVM-only ones on Xen, naming the field", () => {
    bad(
      "duration: 1s\nhost: { hypervisor: kvm, memory: 8GiB, dom0: { dom0_mem: 1GiB } }\n",
      /k\.yaml:2: host\.dom0: a KVM host has no dom0/,
    );
    bad(
      "duration: 1s\nhost: { hypervisor: kvm, memory: 8GiB }\ndomains:\n  - { name: a, memory: 1GiB, maxmem: 4GiB, pci_hole: 3GiB-4GiB }\n",
      /domains\[0\]\.pci_hole: a KVM guest's RAM is laid out by QEMU/,
    );
    bad(
      "duration: 1s\nhost: { hypervisor: kvm, memory: 8GiB }\ndomains:\n  - { name: a, memory: 1GiB, cmdline: balloon.max_initial=1GiB }\n",
      /domains\[0\]\.cmdline: balloon\.max_initial is Xen's balloon/,
    );
    bad(
      "duration: 1s\nhost: { memory: 8GiB }\ndomains:\n  - { name: a, memory: 1GiB, free_page_reporting: true }\n",
      /domains\[0\]\.free_page_reporting: is virtio-balloon's \(kvm hosts only\)/,
    );
    bad("duration: 1s\nhost: { hypervisor: hyperv, memory: 8GiB }\n", /host\.hypervisor/);
    bad(
      "duration: 1s\nhost: { memory: 8GiB }\ndomains:\n  - { name: a, memory: 1GiB, inflate_rate: 1KiB/s }\n",
      /domains\[0\]\.inflate_rate: must be at least 4KiB\/s/,
    );
  });
});

describe("withHypervisor: the same scenario on the other host kind", () => {
  it("turns every bench scenario into a KVM one that runs, keeping the invariants", () => {
    for (const name of ["dom0-pressure", "overcommit-2x", "boot-storm"]) {
      const xen = loadScenario(repoPath(`bench/scenarios/${name}.yaml`));
      const kvm = withHypervisor(xen, "kvm");
      assert.equal(kvm.host.hypervisor, "kvm");
      assert.equal(kvm.host.dom0, null);
      for (const d of kvm.domains) {
        assert.equal(d.e820, null);
        assert.equal(d.pciHole, null);
      }
      // Pure: the Xen scenario is untouched.
      assert.equal(xen.host.hypervisor, "xen");
      const world = new World({ ...kvm, durationMs: Math.min(kvm.durationMs, 120_000) });
      const r = runChecked(world);
      assert.equal(r.host.hypervisor, "kvm");
      assert.ok(r.domains.every((d) => d.balloon_driver === "virtio" || d.state !== "running"));
    }
  });
  it("dom0's memory becomes the KVM host's reserve; back to Xen, free page reporting goes", () => {
    const xen = loadScenario(repoPath("bench/scenarios/dom0-pressure.yaml"));
    const kvm = withHypervisor(xen, "kvm");
    assert.equal(kvm.host.reserveBytes, xen.host.reserveBytes + xen.host.dom0!.mem.amountBytes);
    assert.ok(kvm.events.every((e) => !("domain" in e.command) || e.command.domain !== "Domain-0"));
    const withFpr = withHypervisor(
      { ...kvm, domains: kvm.domains.map((d) => ({ ...d, freePageReporting: true })) },
      "xen",
    );
    assert.ok(withFpr.domains.every((d) => !d.freePageReporting));
    assert.equal(withHypervisor(xen, "xen").host.hypervisor, "xen");
  });
  it("the same workload on both hosts: Xen holds all of memory, KVM only what is touched", () => {
    const xen = parseScenario(
      `
duration: 10s
host: { memory: 8GiB }
domains:
  - { name: vm, memory: 4GiB, workload: { processes: [{ name: app, anon: 1GiB, hot: 0 }] } }
`,
      "x.yaml",
      ".",
    );
    const rx = buildReport(runWorld(xen));
    const rk = buildReport(runWorld(withHypervisor(xen, "kvm")));
    assert.equal(dom(rx, "vm").host_rss_bytes, 4 * GiB);
    assert.ok(dom(rk, "vm").host_rss_bytes < 1.3 * GiB);
    assert.ok(rk.host.free_bytes > rx.host.free_bytes + 2.5 * GiB);
  });
});

function runWorld(s: ReturnType<typeof parseScenario>): World {
  const w = new World(s);
  w.runToEnd();
  return w;
}

describe("ballast sim run --samples", () => {
  it("adds the time series to the --json report; a bad interval is a usage error", async () => {
    const { simCommand } = await import("../../src/cli/sim.js");
    const { UsageError } = await import("../../src/cli/errors.js");
    let out = "";
    const code = simCommand(
      ["run", repoPath("examples/kvm-rates.yaml"), "--json", "--samples", "2s"],
      (s) => {
        out += s;
      },
    );
    assert.equal(code, 0);
    const r = JSON.parse(out);
    assert.equal(r.samples.length, 21);
    assert.equal(r.samples[1].t_s, 2);
    assert.equal(r.samples[1].domains.tuned.actual_bytes < 1 * GiB, true);
    for (const bad of ["150ms", "soon", "0s"])
      assert.throws(
        () => simCommand(["run", repoPath("examples/kvm-rates.yaml"), "--samples", bad], () => {}),
        UsageError,
        bad,
      );
  });
});
