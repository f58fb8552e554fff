/**
 * The over-shrink floor: the least memory a guest can be given without killing it or
 * sending it into thrashing, computed only from what the guest reports (the same
 * rule for simulated and real guests).
 *
 *   floor = overhead            actual - MemTotal: kernel image, mem_map, reservations
 *         + working set         Active(anon) + Active(file), plus the Inactive(anon) that
 *                               free swap cannot take (anon leaves RAM only through swap)
 *         + unevictable         Unevictable + SUnreclaim
 *         + reserve             the low watermark for MemTotal (below it kswapd runs
 *                               all the time), from mm/page_alloc.c's formulas
 *
 * rounded up to a whole MiB. Pages on the active lists are those referenced recently
 * (mm/vmscan.c promotes referenced pages and demotes the rest), so they are the best
 * estimate a guest exposes of what it is using now. A guest that reports nothing
 * usable gets no floor (null): callers must then refuse to shrink on its word.
 *
 * A stock guest (no Ballast agent, no qemu-ga) reports only virtio-balloon's statistics
 * (drivers/virtio/virtio_balloon.c, update_balloon_stats(): MemTotal, MemFree,
 * MemAvailable from si_mem_available(), caches = NR_FILE_PAGES, swap and fault
 * counters), with no active/inactive split. Its floor is conservative:
 *
 *   floor = overhead + in use + cache kept + reserve
 *     in use      MemTotal - MemAvailable: what the guest's own estimate says it cannot
 *                 give without swapping or OOM (anon, shmem, unreclaimable slab, ...)
 *     cache kept  half of the caches: si_mem_available() assumes "at least half of the
 *                 page cache, or the low watermark worth of cache, needs to stay" and
 *                 counts the smaller as staying; without knowing which cache is hot we
 *                 keep the larger
 */
import { formatSize, MiB, PAGE_SIZE } from "../units/index.js";
import type { GuestStats } from "./stats.js";
import { watermarks } from "./watermarks.js";

export interface Floor {
  floorBytes: number;
  workingSetBytes: number;
  overheadBytes: number;
  unevictableBytes: number;
  reserveBytes: number;
  /** What it was computed from: the guest's /proc/meminfo, or virtio-balloon's statistics. */
  basis?: "meminfo" | "balloon-stats";
  /** balloon-stats only: MemTotal - MemAvailable, and the page cache counted as needed. */
  inUseBytes?: number;
  cacheKeptBytes?: number;
  cacheBytes?: number;
}

/**
 * The parts of a guest's floor, written by `measure` (one object reused: a policy asks
 * for every guest every round, a thousand guests a second).
 */
const parts = {
  workingSet: 0,
  overhead: 0,
  unevictable: 0,
  reserve: 0,
  inUse: 0,
  cacheKept: 0,
  cache: 0,
};

/** Fill `parts` from what the guest reports; which rule applied, or null (no floor). */
function measure(stats: GuestStats, actualBytes: number): "meminfo" | "balloon-stats" | null {
  const total = stats.total_bytes;
  const activeAnon = stats.active_anon_bytes;
  const activeFile = stats.active_file_bytes;
  if (total === undefined) return null;
  parts.overhead = Math.max(0, actualBytes - total);
  parts.reserve = watermarks(Math.floor(total / PAGE_SIZE)).low * PAGE_SIZE;
  if (activeAnon === undefined || activeFile === undefined) {
    // The stock guest's rule (see the header).
    const available = stats.available_bytes;
    if (available === undefined) return null;
    parts.inUse = Math.max(0, total - Math.min(available, total));
    parts.cache = Math.min(stats.file_bytes ?? 0, total);
    parts.cacheKept = Math.ceil(parts.cache / 2);
    parts.workingSet = parts.inUse + parts.cacheKept;
    parts.unevictable = 0;
    return "balloon-stats";
  }
  // Inactive anon can only leave RAM through swap: what swap cannot take is stuck.
  const swapFree = stats.swap_free_bytes ?? stats.swap_total_bytes ?? 0;
  const stuckAnon = Math.max(0, (stats.inactive_anon_bytes ?? 0) - swapFree);
  parts.workingSet = activeAnon + activeFile + stuckAnon;
  parts.unevictable = (stats.unevictable_bytes ?? 0) + (stats.slab_unreclaimable_bytes ?? 0);
  return "meminfo";
}

/** The floor from the parts `measure` wrote, rounded up to a whole MiB. */
function floorOfParts(): number {
  const raw = parts.overhead + parts.workingSet + parts.unevictable + parts.reserve;
  return Math.ceil(raw / MiB) * MiB;
}

export function computeFloor(stats: GuestStats, actualBytes: number): Floor | null {
  const basis = measure(stats, actualBytes);
  if (basis === null) return null;
  const f: Floor = {
    floorBytes: floorOfParts(),
    workingSetBytes: parts.workingSet,
    overheadBytes: parts.overhead,
    unevictableBytes: parts.unevictable,
    reserveBytes: parts.reserve,
    basis,
  };
  if (basis === "balloon-stats") {
    f.inUseBytes = parts.inUse;
    f.cacheKeptBytes = parts.cacheKept;
    f.cacheBytes = parts.cache;
  }
  return f;
}

/** computeFloor(...).floorBytes without the object (null: no floor). */
export function floorBytes(stats: GuestStats, actualBytes: number): number | null {
  return measure(stats, actualBytes) === null ? null : floorOfParts();
}

/** The refusal every backend gives for a target below the floor. */
export function belowFloorMessage(change: string, f: Floor): string {
  if (f.basis === "balloon-stats") {
    return (
      `${change}: refused, below the floor of ${formatSize(f.floorBytes)} from virtio-balloon's ` +
      `statistics (in use ${formatSize(f.inUseBytes ?? 0)} = MemTotal - MemAvailable, page cache ` +
      `kept ${formatSize(f.cacheKeptBytes ?? 0)} = half of ${formatSize(f.cacheBytes ?? 0)}, kernel ` +
      `and struct pages ${formatSize(f.overheadBytes)}, reserve ${formatSize(f.reserveBytes)}); ` +
      `the guest does not say which memory is active, so this floor is conservative (the Ballast ` +
      `agent or qemu-ga gives the working set); --force shrinks anyway`
    );
  }
  return (
    `${change}: refused, below the floor of ${formatSize(f.floorBytes)} ` +
    `(working set ${formatSize(f.workingSetBytes)}, kernel and struct pages ` +
    `${formatSize(f.overheadBytes)}, unevictable ${formatSize(f.unevictableBytes)}, ` +
    `reserve ${formatSize(f.reserveBytes)}); --force shrinks anyway, and the balloon ` +
    `stops at what it can take without killing`
  );
}

/** `web: 4 GiB -> 512 MiB (-87%)`, the way every mem-set describes itself. */
export function describeChange(name: string, from: number, to: number): string {
  const pct =
    from === 0 ? "" : ` (${to >= from ? "+" : ""}${Math.round(((to - from) / from) * 100)}%)`;
  return `${name}: ${formatSize(from)} -> ${formatSize(to)}${pct}`;
}
