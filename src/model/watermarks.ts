/**
 * Linux's free-memory reserves, computed as Linux 6.1 does, so that the simulator's
 * guests and the floor rule for real guests agree on what "minimum free" means:
 *
 * - min_free_kbytes: calculate_min_free_kbytes() = int_sqrt(16 * lowmem_kbytes), clamped
 *   to [128, 262144], where lowmem_kbytes is nr_free_buffer_pages() (managed pages above
 *   the high watermark in the zones up to Normal). With transparent huge pages enabled
 *   (Debian's kernels: CONFIG_TRANSPARENT_HUGEPAGE_ALWAYS=y), khugepaged's
 *   set_recommended_min_free_kbytes() raises it to pageblock_nr_pages * nr_zones *
 *   (2 + MIGRATE_PCPTYPES^2) = 512 * nr_zones * 11 pages, at most 5% of
 *   nr_free_buffer_pages() (mm/khugepaged.c): a real 1 GiB guest reads 45056 there.
 * - Watermarks per zone (__setup_per_zone_wmarks()): min is the zone's share of
 *   min_free_kbytes by managed pages; low = min + gap, high = low + gap with
 *   gap = max(min / 4, managed * watermark_scale_factor (10) / 10000).
 * - lowmem_reserve (setup_per_zone_lowmem_reserve()): a lower zone keeps back, from
 *   allocations that could have used a higher zone, the managed pages above it divided by
 *   sysctl_lowmem_reserve_ratio (DMA 256, DMA32 256, Normal 32).
 *
 * User and balloon pages come from the highest zone down, and may take a zone's pages
 * only above its min watermark plus its lowmem_reserve: the sum of those is the free
 * memory a guest keeps however hard its balloon pulls (a real 1 GiB guest's balloon
 * stops with MemFree at 47.8 MiB; this gives 47.7 MiB).
 */
import { KiB, MiB, PAGE_SIZE } from "../units/index.js";

/** Pages per pageblock on x86 (pageblock_order 9: 2 MiB). */
export const PAGEBLOCK_PAGES = 512;
/** MIGRATE_PCPTYPES: unmovable, movable, reclaimable. */
const MIGRATE_PCPTYPES = 3;
const WATERMARK_SCALE_FACTOR = 10;
/** The DMA zone's managed pages on a PC (of 4096 below 16 MiB; a 1 GiB QEMU guest's
 * /proc/zoneinfo: present 3998, managed 3840). */
export const DMA_MANAGED_PAGES = 3840;

/**
 * min_free_kbytes for `lowmemBytes` of managed low memory, without the THP raise:
 * int_sqrt(lowmem_kbytes * 16), clamped to [128, 262144] KiB.
 */
export function minFreeKbytes(lowmemBytes: number): number {
  const kbytes = Math.floor(lowmemBytes / KiB);
  const v = Math.floor(Math.sqrt(kbytes * 16));
  return Math.min(262144, Math.max(128, v));
}

/** A memory zone as the reserves see it. */
export interface Zone {
  managed: number;
  highmem: boolean;
  /** sysctl_lowmem_reserve_ratio of the zone. */
  ratio: number;
}

export interface ZoneReserves {
  /** min_free_kbytes as /proc/sys/vm/min_free_kbytes shows it. */
  minFreeKbytes: number;
  /** Summed watermarks over the zones, pages. */
  min: number;
  low: number;
  high: number;
  /** Pages the lower zones keep back from user allocations (lowmem_reserve). */
  lowmemReserve: number;
  /** Free pages user and balloon allocations can never take: min watermarks + reserves. */
  floor: number;
  /** totalreserve_pages: what si_mem_available() (MemAvailable) leaves out. */
  totalReserve: number;
  /** Populated zones up to Normal (khugepaged's nr_zones). */
  zones: number;
}

function zoneWatermarks(zones: readonly Zone[], minFreeKb: number) {
  const pagesMin = Math.floor((minFreeKb * KiB) / PAGE_SIZE);
  const lowmem = zones.filter((z) => !z.highmem).reduce((n, z) => n + z.managed, 0);
  return zones.map((z) => {
    const min = z.highmem
      ? Math.min(128, Math.max(32, Math.floor(z.managed / 1024)))
      : lowmem > 0
        ? Math.floor((pagesMin * z.managed) / lowmem)
        : 0;
    const gap = Math.max(
      Math.floor(min / 4),
      Math.floor((z.managed * WATERMARK_SCALE_FACTOR) / 10000),
    );
    return { min, low: min + gap, high: min + 2 * gap };
  });
}

/** nr_free_buffer_pages(): managed pages above the high watermark, zones up to Normal. */
function freeBufferPages(zones: readonly Zone[], wms: readonly { high: number }[]): number {
  let n = 0;
  zones.forEach((z, i) => {
    if (!z.highmem && z.managed > wms[i]!.high) n += z.managed - wms[i]!.high;
  });
  return n;
}

/** The reserves of a kernel with these zones (lowest first), THP enabled. */
export function zoneReserves(zones: readonly Zone[]): ZoneReserves {
  const used = zones.filter((z) => z.managed > 0);
  const sqrtMin = (pages: number) => minFreeKbytes(pages * PAGE_SIZE);
  // calculate_min_free_kbytes() runs before the watermarks exist and again (through
  // khugepaged) once they do; one refinement reaches the kernel's figure.
  let minFree = sqrtMin(used.filter((z) => !z.highmem).reduce((n, z) => n + z.managed, 0));
  minFree = sqrtMin(freeBufferPages(used, zoneWatermarks(used, minFree)));
  const nrZones = used.filter((z) => !z.highmem).length;
  const buffer = freeBufferPages(used, zoneWatermarks(used, minFree));
  const recommended = Math.min(
    PAGEBLOCK_PAGES * nrZones * (2 + MIGRATE_PCPTYPES * MIGRATE_PCPTYPES),
    Math.floor(buffer / 20),
  );
  minFree = Math.max(minFree, recommended * (PAGE_SIZE / KiB));
  const wms = zoneWatermarks(used, minFree);
  const top = used.length - 1;
  const out: ZoneReserves = {
    minFreeKbytes: minFree,
    min: 0,
    low: 0,
    high: 0,
    lowmemReserve: 0,
    floor: 0,
    totalReserve: 0,
    zones: nrZones,
  };
  used.forEach((z, i) => {
    const w = wms[i]!;
    out.min += w.min;
    out.low += w.low;
    out.high += w.high;
    let above = 0;
    for (let j = i + 1; j <= top; j++) above += used[j]!.managed;
    const r = i < top ? Math.floor(above / z.ratio) : 0;
    out.lowmemReserve += Math.min(r, Math.max(0, z.managed - w.min));
    out.floor += Math.min(z.managed, w.min + r);
    out.totalReserve += Math.min(z.managed, w.high + r);
  });
  return out;
}

/**
 * The zones of an x86_64 guest known only by its MemTotal: DMA (below 16 MiB), DMA32
 * up to 4 GiB of address space (less the 0.5 GiB a PC's PCI hole takes above 3.5 GiB),
 * Normal above.
 */
export function x86Zones(managedPages: number): Zone[] {
  const dma = Math.min(DMA_MANAGED_PAGES, managedPages);
  const dma32 = Math.min(managedPages - dma, ((3584 - 16) * MiB) / PAGE_SIZE);
  return [
    { managed: dma, highmem: false, ratio: 256 },
    { managed: dma32, highmem: false, ratio: 256 },
    { managed: managedPages - dma - dma32, highmem: false, ratio: 32 },
  ];
}

export interface Watermarks {
  /** Free pages below which user allocations fail and the OOM path starts. */
  min: number;
  /** kswapd wakes below this. */
  low: number;
  /** kswapd sleeps again above this. */
  high: number;
}

/** A zone's min watermark for min_free_kbytes `kb` (zoneWatermarks()). */
function zoneMin(managed: number, kb: number, lowmem: number): number {
  return lowmem > 0 ? Math.floor((Math.floor((kb * KiB) / PAGE_SIZE) * managed) / lowmem) : 0;
}

/** The gap from a zone's min to its low watermark, and from low to high. */
function zoneGap(managed: number, min: number): number {
  return Math.max(Math.floor(min / 4), Math.floor((managed * WATERMARK_SCALE_FACTOR) / 10000));
}

/** A zone's managed pages above its high watermark (its share of nr_free_buffer_pages()). */
function aboveHigh(managed: number, kb: number, lowmem: number): number {
  if (managed <= 0) return 0;
  const min = zoneMin(managed, kb, lowmem);
  const high = min + 2 * zoneGap(managed, min);
  return managed > high ? managed - high : 0;
}

/** nr_free_buffer_pages() of the three x86 zones. */
function freeBuffer(dma: number, dma32: number, normal: number, kb: number): number {
  const n = dma + dma32 + normal;
  return aboveHigh(dma, kb, n) + aboveHigh(dma32, kb, n) + aboveHigh(normal, kb, n);
}

/** What a zone keeps from user pages: its min watermark and lowmem_reserve. */
function zoneFloor(managed: number, kb: number, lowmem: number, higher: number, ratio: number) {
  const r = higher > 0 ? Math.floor(higher / ratio) : 0;
  return Math.min(managed, zoneMin(managed, kb, lowmem) + r);
}

/**
 * The watermarks of an x86_64 guest with `managedPages` pages under the page allocator,
 * as the page allocator applies them to user pages: the zones' min, low and high
 * watermarks with the lower zones' lowmem_reserve on top.
 *
 * The same arithmetic as fromReserves(zoneReserves(x86Zones(managedPages))) (a test
 * checks it), zone by zone in locals: a policy asks for every guest every round (a
 * thousand guests a second), and the general form's arrays and closures are garbage.
 * Sizes already asked for are answered from a direct-mapped cache of 8,192 slots (shared
 * objects, read-only by type; freezing each doubled a miss's cost): a size evicts only
 * the one it shares a slot with, so a host whose
 * guests' sizes keep changing pays for the new sizes alone, never for a whole cache
 * emptied at once (a Map emptied when full made every size a miss for a round).
 */
export function watermarks(managedPages: number): Readonly<Watermarks> {
  // Fibonacci hashing: sizes are mostly whole MiB (multiples of 256 pages), whose low
  // bits alone would share 16 slots.
  const slot = Math.imul(managedPages, 0x9e3779b1) >>> (32 - CACHE_BITS);
  let w = cachedW[slot];
  if (w === undefined || cachedPages[slot] !== managedPages) {
    w = x86Watermarks(Math.max(0, managedPages));
    cachedW[slot] = w;
    cachedPages[slot] = managedPages;
  }
  return w;
}

const CACHE_BITS = 13;
const CACHE_SLOTS = 1 << CACHE_BITS;
/** Slot i holds the watermarks of `cachedPages[i]` pages (one of the sizes hashed to i). */
const cachedPages = new Float64Array(CACHE_SLOTS).fill(-1);
const cachedW: Array<Readonly<Watermarks> | undefined> = new Array(CACHE_SLOTS).fill(undefined);

function x86Watermarks(n: number): Watermarks {
  // x86Zones(): DMA, DMA32, Normal; empty zones are left out (as zoneReserves() does).
  const dma = Math.min(DMA_MANAGED_PAGES, n);
  const dma32 = Math.min(n - dma, ((3584 - 16) * MiB) / PAGE_SIZE);
  const normal = n - dma - dma32;
  const zones = (dma > 0 ? 1 : 0) + (dma32 > 0 ? 1 : 0) + (normal > 0 ? 1 : 0);
  // calculate_min_free_kbytes(), refined once, then khugepaged's raise (zoneReserves()).
  let kb = minFreeKbytes(n * PAGE_SIZE);
  kb = minFreeKbytes(freeBuffer(dma, dma32, normal, kb) * PAGE_SIZE);
  const recommended = Math.min(
    PAGEBLOCK_PAGES * zones * (2 + MIGRATE_PCPTYPES * MIGRATE_PCPTYPES),
    Math.floor(freeBuffer(dma, dma32, normal, kb) / 20),
  );
  kb = Math.max(kb, recommended * (PAGE_SIZE / KiB));
  let floor = 0;
  let gaps = 0;
  if (dma > 0) {
    floor += zoneFloor(dma, kb, n, dma32 + normal, 256);
    gaps += zoneGap(dma, zoneMin(dma, kb, n));
  }
  if (dma32 > 0) {
    floor += zoneFloor(dma32, kb, n, normal, 256);
    gaps += zoneGap(dma32, zoneMin(dma32, kb, n));
  }
  if (normal > 0) {
    floor += zoneFloor(normal, kb, n, 0, 32);
    gaps += zoneGap(normal, zoneMin(normal, kb, n));
  }
  return { min: floor, low: floor + gaps, high: floor + 2 * gaps };
}

export function fromReserves(r: ZoneReserves): Watermarks {
  return { min: r.floor, low: r.floor + (r.low - r.min), high: r.floor + (r.high - r.min) };
}
