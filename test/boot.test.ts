import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type BootConfig, bootGuest } from "../src/sim/guest/boot.js";
import {
  countPfns,
  defaultGuestE820,
  defaultHostE820,
  guestE820AroundHole,
  ramBytes,
  ramOverlaps,
  ramPfnRanges,
  validateE820,
} from "../src/sim/guest/e820.js";
import { KERNEL_FOOTPRINT_BYTES, KERNEL_SLAB_BYTES } from "../src/sim/guest/kernel.js";
import { GiB, MiB, PAGE_SIZE, parseSize } from "../src/units/index.js";

function cfg(over: Partial<BootConfig> & { memoryBytes: number; maxmemBytes: number }): BootConfig {
  return {
    arch: "x86_64",
    e820: defaultGuestE820(over.maxmemBytes),
    placement: "pv",
    maxInitialBytes: null,
    ...over,
  };
}

describe("E820 maps", () => {
  it("a typical PC map holds exactly the host's memory as RAM, nothing in 3-4 GiB", () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 1 << 20 }), (mib) => {
        const map = defaultHostE820(mib * MiB);
        validateE820(map);
        assert.equal(ramBytes(map), mib * MiB);
        assert.equal(ramOverlaps(map, 3 * GiB, 4 * GiB), false);
        assert.ok(map.some((e) => e.type === "acpi") && map.some((e) => e.type === "nvs"));
      }),
    );
  });

  it("lays guest RAM around a PCI hole, keeping all of maxmem", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 8 }),
        (gib, holeGib) => {
          const hs = holeGib * 512 * MiB;
          const he = hs + 512 * MiB;
          const map = guestE820AroundHole(gib * GiB, hs, he);
          validateE820(map);
          assert.equal(ramBytes(map), gib * GiB);
          assert.equal(ramOverlaps(map, hs, he), false);
        },
      ),
    );
  });

  it("rejects overlapping and inverted entries", () => {
    assert.throws(
      () =>
        validateE820([
          { start: 0, end: 10, type: "ram" },
          { start: 5, end: 20, type: "ram" },
        ]),
      /overlaps/,
    );
    assert.throws(() => validateE820([{ start: 10, end: 10, type: "ram" }]), /must be above start/);
  });

  it("counts only whole pages inside RAM entries", () => {
    const r = ramPfnRanges([{ start: 100, end: 3 * PAGE_SIZE + 5, type: "ram" }]);
    assert.deepEqual(r, [{ start: 1, end: 3 }]);
    assert.equal(countPfns(r), 2);
  });
});

describe("guest boot", () => {
  it("charges 64 B of struct page per frame up to maxmem on x86_64", () => {
    const r = bootGuest(cfg({ memoryBytes: 1 * GiB, maxmemBytes: 4 * GiB }));
    assert.ok(r.ok);
    assert.equal(r.layout.memMapPages * PAGE_SIZE, ((4 * GiB) / PAGE_SIZE) * 64);
    assert.equal(r.layout.balloonFrames, (3 * GiB) / PAGE_SIZE);
    assert.equal(r.layout.populatedFrames, GiB / PAGE_SIZE);
    assert.equal(
      r.layout.freePages * PAGE_SIZE,
      GiB - KERNEL_FOOTPRINT_BYTES.x86_64 - KERNEL_SLAB_BYTES.x86_64 - 64 * MiB,
    );
    // The kernel's view: populated RAM stays RAM, the rest is reserved (as the post says).
    assert.deepEqual(r.layout.kernelE820, [
      { start: 0, end: GiB, type: "ram" },
      { start: GiB, end: 4 * GiB, type: "reserved" },
    ]);
  });

  it("fails x86_64 memory=512MiB maxmem=64GiB, and boots it with balloon.max_initial=4GiB", () => {
    const big = bootGuest(cfg({ memoryBytes: 512 * MiB, maxmemBytes: 64 * GiB }));
    assert.ok(!big.ok);
    assert.equal(big.error.code, "struct-pages-exceed-memory");
    assert.match(big.error.message, /need 1 GiB/);
    assert.match(big.error.message, /512 MiB/);
    const capped = bootGuest(
      cfg({ memoryBytes: 512 * MiB, maxmemBytes: 64 * GiB, maxInitialBytes: 4 * GiB }),
    );
    assert.ok(capped.ok);
    assert.equal(capped.layout.balloonFrames, (4 * GiB) / PAGE_SIZE);
    assert.equal(capped.layout.truncatedFrames, (60 * GiB - 512 * MiB) / PAGE_SIZE);
  });

  it("suggests a maxmem and a balloon.max_initial that do boot, and just above them do not", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 128, max: 2048 }),
        fc.integer({ min: 2, max: 256 }),
        fc.constantFrom("x86_64" as const, "i686" as const),
        (memMiB, factor, arch) => {
          const memory = memMiB * MiB;
          const maxmem = Math.min(memory * factor, arch === "i686" ? 64 * GiB : 1024 * GiB);
          const r = bootGuest(cfg({ arch, memoryBytes: memory, maxmemBytes: maxmem }));
          if (r.ok) return;
          const m = /maxmem=(\S+) or balloon\.max_initial=(\S+) would boot/.exec(r.error.message);
          if (!m) {
            assert.match(r.error.message, /give it more memory/);
            return;
          }
          const sMax = parseSize(m[1]!);
          const sInit = parseSize(m[2]!);
          assert.ok(
            bootGuest(cfg({ arch, memoryBytes: memory, maxmemBytes: sMax })).ok,
            `maxmem=${m[1]} should boot`,
          );
          assert.ok(
            bootGuest(
              cfg({ arch, memoryBytes: memory, maxmemBytes: maxmem, maxInitialBytes: sInit }),
            ).ok,
            `max_initial=${m[2]} should boot`,
          );
          assert.ok(
            !bootGuest(cfg({ arch, memoryBytes: memory, maxmemBytes: sMax + 64 * MiB })).ok,
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("i686: struct pages are 32 B and come out of lowmem, exactly", () => {
    const small = bootGuest(cfg({ arch: "i686", memoryBytes: 2 * GiB, maxmemBytes: 2 * GiB }));
    const grow = bootGuest(cfg({ arch: "i686", memoryBytes: 2 * GiB, maxmemBytes: 32 * GiB }));
    assert.ok(small.ok && grow.ok);
    assert.equal(grow.layout.memMapPages * PAGE_SIZE, ((32 * GiB) / PAGE_SIZE) * 32);
    assert.equal(grow.layout.lowmemFrames! * PAGE_SIZE, 896 * MiB);
    assert.equal(
      small.layout.lowmemFreePages! - grow.layout.lowmemFreePages!,
      grow.layout.memMapPages - small.layout.memMapPages,
    );
  });

  it("i686: fails with struct-pages-exceed-lowmem when lowmem cannot hold them", () => {
    const r = bootGuest(cfg({ arch: "i686", memoryBytes: 512 * MiB, maxmemBytes: 64 * GiB }));
    assert.ok(!r.ok);
    assert.equal(r.error.code, "struct-pages-exceed-lowmem");
    assert.match(r.error.message, /lowmem/);
  });

  it("i686 above 64 GiB is refused as above-arch-limit", () => {
    const r = bootGuest(cfg({ arch: "i686", memoryBytes: 2 * GiB, maxmemBytes: 65 * GiB }));
    assert.ok(!r.ok);
    assert.equal(r.error.code, "above-arch-limit");
  });

  it("releases populated pages that fall in E820 holes and puts their credit on the balloon", () => {
    const e820 = [
      { start: 0, end: 512 * MiB, type: "ram" as const },
      { start: 512 * MiB, end: 768 * MiB, type: "reserved" as const },
      { start: 768 * MiB, end: 1280 * MiB, type: "ram" as const },
    ];
    const r = bootGuest(cfg({ memoryBytes: GiB, maxmemBytes: GiB, e820 }));
    assert.ok(r.ok);
    assert.equal(r.layout.releasedPages, (256 * MiB) / PAGE_SIZE);
    assert.equal(r.layout.releasedHoleFrames, (256 * MiB) / PAGE_SIZE);
    assert.equal(r.layout.populatedFrames, (768 * MiB) / PAGE_SIZE);
    assert.equal(r.layout.extraRegionFrames, 0);
  });

  it("adds an extra region above the map when there is no RAM left for the released credit", () => {
    const e820 = [
      { start: 0, end: 512 * MiB, type: "ram" as const },
      { start: 512 * MiB, end: 768 * MiB, type: "reserved" as const },
      { start: 768 * MiB, end: 1024 * MiB, type: "ram" as const },
    ];
    const r = bootGuest(cfg({ memoryBytes: GiB, maxmemBytes: GiB, e820 }));
    assert.ok(r.ok);
    assert.equal(r.layout.extraRegionFrames, (256 * MiB) / PAGE_SIZE);
    assert.deepEqual(r.layout.kernelE820.at(-1), {
      start: GiB,
      end: GiB + 256 * MiB,
      type: "reserved",
    });
  });

  it("never populates RAM in a PCI hole (HVM placement)", () => {
    const e820 = guestE820AroundHole(6 * GiB, 3 * GiB, 4 * GiB);
    const r = bootGuest(
      cfg({ memoryBytes: 4 * GiB, maxmemBytes: 6 * GiB, e820, placement: "hvm" }),
    );
    assert.ok(r.ok);
    assert.equal(r.layout.releasedPages, 0);
    assert.equal(r.layout.populatedFrames, (4 * GiB) / PAGE_SIZE);
    for (const e of r.layout.kernelE820) {
      if (e.type === "ram")
        assert.ok(e.end <= 3 * GiB || e.start >= 4 * GiB, `RAM ${e.start}-${e.end} in hole`);
    }
  });
});
