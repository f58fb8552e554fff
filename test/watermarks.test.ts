/**
 * The watermarks a policy reads for every guest every round are computed zone by zone in
 * locals; they must be exactly what the general per-zone computation gives (the one the
 * simulator's guests use, zoneReserves()).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fromReserves, watermarks, x86Zones, zoneReserves } from "../src/model/watermarks.js";
import { GiB, PAGE_SIZE } from "../src/units/index.js";

describe("watermarks of an x86_64 guest", () => {
  const general = (pages: number) => fromReserves(zoneReserves(x86Zones(pages)));

  it("are those of its zones, computed in general, for any size", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: (1024 * GiB) / PAGE_SIZE }), (pages) => {
        assert.deepEqual(watermarks(pages), general(pages));
      }),
      { numRuns: 5000 },
    );
  });

  it("at the zone boundaries (DMA only, DMA32 just filled, Normal just begun)", () => {
    const dma32End = 3840 + ((3584 - 16) * 1024 * 1024) / PAGE_SIZE;
    for (const pages of [0, 1, 3839, 3840, 3841, dma32End - 1, dma32End, dma32End + 1])
      assert.deepEqual(watermarks(pages), general(pages), `${pages} pages`);
  });

  it("more sizes than the cache has slots (some must share one), asked in turn, each get their own", () => {
    // 20,000 whole-MiB sizes (multiples of 256 pages, as most guests' are) into 8,192 slots.
    const sizes = Array.from({ length: 20_000 }, (_, k) => 256 + 256 * k);
    const want = sizes.map(general);
    for (let round = 0; round < 2; round++)
      for (let k = 0; k < sizes.length; k++)
        assert.deepEqual(watermarks(sizes[k]!), want[k], `${sizes[k]} pages, round ${round}`);
  });
});
