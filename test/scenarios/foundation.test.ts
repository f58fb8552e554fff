/** One test per behaviour of the seeds' ballooning-up post, each on its example. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildReport } from "../../src/sim/report.js";
import { loadScenario } from "../../src/sim/scenario.js";
import { World } from "../../src/sim/world.js";
import { GiB, MiB, PAGE_SIZE } from "../../src/units/index.js";
import { dom, eventsOf, repoPath, runExample } from "../helpers.js";

describe("ballooning up (examples/balloon-up.yaml)", () => {
  it("grows 1 GiB -> 3 GiB: actual exactly 3 GiB, host free down exactly 2 GiB", () => {
    const { world, report } = runExample("balloon-up.yaml");
    const web = dom(report, "web");
    assert.equal(web.actual_bytes, 3 * GiB);
    assert.equal(web.target_bytes, 3 * GiB);
    assert.equal(web.balloon_bytes, 1 * GiB);
    // Host: 16 GiB - 256 MiB reserve - 1 GiB at boot, then 2 GiB more.
    assert.equal(report.host.free_bytes, 16 * GiB - 256 * MiB - 3 * GiB);
    const bootFree = 16 * GiB - 256 * MiB - 1 * GiB;
    assert.equal(bootFree - report.host.free_bytes, 2 * GiB);
    assert.equal(eventsOf(report, "balloon-reached-target", "web").length, 1);
    assert.ok(world.events.length > 0);
  });

  it("refuses mem-set above maxmem and changes nothing", () => {
    const { report } = runExample("balloon-up.yaml");
    const refused = eventsOf(report, "mem-set-refused", "web");
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.code, "above-maxmem");
    assert.equal(dom(report, "web").target_bytes, 3 * GiB);
  });

  it("the guest's E820 reaches maxmem; the kernel marks RAM beyond memory reserved", () => {
    const web = dom(runExample("balloon-up.yaml").report, "web");
    assert.deepEqual(web.e820, [{ start: 0, end: 4 * GiB, type: "ram" }]);
    assert.equal(web.mem_map_bytes, ((4 * GiB) / PAGE_SIZE) * 64);
  });
});

describe("struct pages (examples/struct-pages-boot.yaml)", () => {
  it("memory=512MiB maxmem=64GiB fails to boot; balloon.max_initial=4GiB boots", () => {
    const { report } = runExample("struct-pages-boot.yaml");
    const big = dom(report, "big");
    assert.equal(big.state, "boot-failed");
    assert.equal(big.boot_error?.code, "struct-pages-exceed-memory");
    assert.match(big.boot_error!.message, /need 1 GiB.*would boot/);
    assert.equal(big.actual_bytes, 0);
    const capped = dom(report, "capped");
    assert.equal(capped.state, "running");
    assert.equal(capped.actual_bytes, 512 * MiB);
    assert.equal(capped.balloon_bytes, 4 * GiB);
    assert.equal(capped.mem_map_bytes, ((4 * GiB + 512 * MiB) / PAGE_SIZE) * 64);
    // Nothing was taken for the guest that failed.
    assert.equal(report.host.free_bytes, 8 * GiB - 512 * MiB);
  });
});

describe("i686 lowmem (examples/i686-lowmem.yaml)", () => {
  it("lowmem shrinks by exactly the struct-page cost", () => {
    const { report } = runExample("i686-lowmem.yaml");
    const small = dom(report, "small32");
    const grow = dom(report, "grow32");
    assert.equal(grow.lowmem_bytes, 896 * MiB);
    assert.equal(grow.mem_map_bytes, ((32 * GiB) / PAGE_SIZE) * 32);
    assert.equal(
      small.lowmem_free_bytes! - grow.lowmem_free_bytes!,
      grow.mem_map_bytes - small.mem_map_bytes,
    );
    // And against the kernel's fixed footprint: lowmem - kernel - slab - struct pages.
    assert.equal(grow.lowmem_free_bytes, 896 * MiB - 16 * MiB - 8 * MiB - grow.mem_map_bytes);
  });
  it("refuses an i686 guest above 64 GiB (above-arch-limit)", () => {
    const huge = dom(runExample("i686-lowmem.yaml").report, "huge32");
    assert.equal(huge.state, "boot-failed");
    assert.equal(huge.boot_error?.code, "above-arch-limit");
  });
  it("reports lowmem_free_bytes as null on x86_64", () => {
    assert.equal(dom(runExample("balloon-up.yaml").report, "web").lowmem_free_bytes, null);
  });
});

describe("dom0 (examples/dom0.yaml)", () => {
  it("boots Domain-0 with dom0_mem over the host E820 and grows past it up to max:", () => {
    const { report } = runExample("dom0.yaml");
    const d0 = dom(report, "Domain-0");
    assert.equal(d0.id, 0);
    assert.equal(d0.memory_bytes, 4 * GiB);
    assert.equal(d0.maxmem_bytes, 8 * GiB);
    assert.equal(d0.actual_bytes, 6 * GiB);
    assert.ok(d0.actual_bytes > d0.memory_bytes, "dom0 grew past dom0_mem");
    // Struct pages for all 32 GiB of host RAM, the price of being able to grow.
    assert.equal(d0.mem_map_bytes, ((32 * GiB) / PAGE_SIZE) * 64);
    // Every host RAM page dom0 does not hold is on its balloon.
    assert.equal(d0.actual_bytes + d0.balloon_bytes, 32 * GiB);
    const boot = eventsOf(report, "boot", "Domain-0")[0]!;
    assert.match(boot.message, /released to the balloon/);
    assert.equal(eventsOf(report, "mem-set-refused", "Domain-0")[0]?.code, "above-maxmem");
    // The host's E820 is a PC map: the guest got it, with the hole and ACPI tables.
    assert.ok(d0.e820.some((e) => e.type === "acpi"));
    assert.ok(!d0.e820.some((e) => e.type === "ram" && e.start < 4 * GiB && e.end > 3 * GiB));
  });
});

describe("E820 holes (examples/e820-holes.yaml)", () => {
  it("pages populated in holes are on the balloon after boot, and come back only on mem-set", () => {
    const { world, report } = runExample("e820-holes.yaml");
    const boot = eventsOf(report, "boot", "holey")[0]!;
    assert.match(boot.message, /256 MiB populated in E820 holes released/);
    const holey = dom(report, "holey");
    assert.equal(holey.actual_bytes, 1 * GiB);
    assert.equal(holey.released_hole_bytes, 0);
    assert.ok(world.events.some((e) => e.type === "mem-set" && e.t_s === 5));
  });
  it("before any mem-set, the released credit sits on the balloon and target equals actual", () => {
    const w = new World(loadScenario(repoPath("examples/e820-holes.yaml")));
    w.runToEnd(4000);
    const holey = dom(buildReport(w), "holey");
    assert.equal(holey.actual_bytes, 768 * MiB);
    assert.equal(holey.released_hole_bytes, 256 * MiB);
    assert.equal(holey.balloon_bytes, 256 * MiB);
    assert.equal(holey.target_bytes, 768 * MiB);
    assert.equal(buildReport(w).host.free_bytes, 8 * GiB - 768 * MiB);
  });
});

describe("PCI hole (examples/pci-hole.yaml)", () => {
  it("never places RAM in the hole, and the guest still reaches maxmem", () => {
    const d = dom(runExample("pci-hole.yaml").report, "passthru");
    assert.equal(d.actual_bytes, 6 * GiB);
    for (const e of [...d.e820, ...d.kernel_e820]) {
      if (e.type === "ram")
        assert.ok(e.end <= 3 * GiB || e.start >= 4 * GiB, `RAM at ${e.start}-${e.end}`);
    }
    assert.ok(
      d.e820.some((e) => e.type === "reserved" && e.start === 3 * GiB && e.end === 4 * GiB),
    );
  });
});

describe("host out of memory (examples/host-full.yaml)", () => {
  it("refuses to build a domain the host cannot supply, and takes nothing", () => {
    const { report } = runExample("host-full.yaml");
    const c = dom(report, "c");
    assert.equal(c.state, "boot-failed");
    assert.equal(c.boot_error?.code, "above-host-free");
  });
  it("a grow waits (deflate-stalled, with backoff) and completes once memory is freed", () => {
    const { report } = runExample("host-full.yaml");
    const stalls = eventsOf(report, "deflate-stalled", "b");
    assert.equal(stalls.length, 1);
    assert.ok(stalls[0]!.t_s < 20);
    const reached = eventsOf(report, "balloon-reached-target", "b");
    assert.equal(reached.length, 1);
    // Freed at 20 s; Xen's backoff (1, 2, 4, 8, 16 s) means the retry lands after it.
    assert.ok(reached[0]!.t_s > 20);
    assert.equal(dom(report, "b").actual_bytes, 4 * GiB);
  });
});

describe("mem-max (examples/mem-max.yaml)", () => {
  it("refuses mem-max below the target, and honours a lowered maxmem", () => {
    const { report } = runExample("mem-max.yaml");
    assert.equal(eventsOf(report, "mem-max-refused", "app")[0]?.code, "below-target");
    assert.equal(eventsOf(report, "mem-max", "app").length, 1);
    assert.equal(eventsOf(report, "mem-set-refused", "app")[0]?.code, "above-maxmem");
    const app = dom(report, "app");
    assert.equal(app.maxmem_bytes, 1536 * MiB);
    assert.equal(app.actual_bytes, 1536 * MiB);
  });
});
