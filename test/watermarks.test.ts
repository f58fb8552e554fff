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

  it("sizes sharing a cache slot (equal mod 4096 pages) each get their own, asked in turn", () => {
    const base = (4 * GiB) / PAGE_SIZE + 17;
    const sizes = [base, base + 4096, base, base + 4096 * 300, base + 4096, base];
    for (let round = 0; round < 3; round++)
      for (const pages of sizes)
        assert.deepEqual(watermarks(pages), general(pages), `${pages} pages`);
  });
});
