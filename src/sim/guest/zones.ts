/**
 * The guest kernel's memory zones, from where its RAM lies (arch/x86/mm/init.c
 * zone_sizes_init()): x86_64 has DMA (below 16 MiB), DMA32 (below 4 GiB) and Normal;
 * i686 has DMA, Normal (lowmem, below 896 MiB) and HighMem. The reserves the kernel
 * keeps in them (min_free_kbytes with khugepaged's raise, watermarks, lowmem_reserve)
 * are model/watermarks.ts's, shared with the floor rule for real guests.
 */
import type { Arch } from "../../model/domain.js";
import {
  DMA_MANAGED_PAGES,
  type Zone,
  type ZoneReserves,
  zoneReserves,
} from "../../model/watermarks.js";
import { GiB, MiB, PAGE_SIZE } from "../../units/index.js";
import { I686_LOWMEM_BYTES } from "./kernel.js";

export type { ZoneReserves } from "../../model/watermarks.js";

/**
 * The reserves of a guest whose populated RAM frames are `pfns` (sorted [start, end)
 * ranges), `managed` of them under the page allocator (MemTotal).
 */
export function guestReserves(
  arch: Arch,
  pfns: readonly { start: number; end: number }[],
  managed: number,
): ZoneReserves {
  const bounds =
    arch === "x86_64"
      ? [(16 * MiB) / PAGE_SIZE, (4 * GiB) / PAGE_SIZE, Infinity]
      : [(16 * MiB) / PAGE_SIZE, I686_LOWMEM_BYTES / PAGE_SIZE, Infinity];
  const present = [0, 0, 0];
  let lo = 0;
  bounds.forEach((hi, z) => {
    for (const r of pfns) {
      const a = Math.max(r.start, lo);
      const b = Math.min(r.end, hi);
      if (b > a) present[z]! += b - a;
    }
    lo = hi;
  });
  // The kernel image and mem_map come out of the zones above DMA: split what is managed
  // there in proportion to what is present.
  const dma = Math.min(present[0]!, DMA_MANAGED_PAGES, Math.max(0, managed));
  const upper = present[1]! + present[2]!;
  const rest = Math.max(0, managed - dma);
  const z1 = upper > 0 ? Math.round((rest * present[1]!) / upper) : 0;
  const zones: Zone[] = [
    { managed: dma, highmem: false, ratio: 256 },
    { managed: z1, highmem: false, ratio: arch === "x86_64" ? 256 : 32 },
    { managed: rest - z1, highmem: arch === "i686", ratio: 32 },
  ];
  return zoneReserves(zones);
}
