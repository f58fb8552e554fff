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
}

export function computeFloor(stats: GuestStats, actualBytes: number): Floor | null {
  const total = stats.total_bytes;
  const activeAnon = stats.active_anon_bytes;
  const activeFile = stats.active_file_bytes;
  if (total === undefined || activeAnon === undefined || activeFile === undefined) return null;
  // Inactive anon can only leave RAM through swap: what swap cannot take is stuck.
  const swapFree = stats.swap_free_bytes ?? stats.swap_total_bytes ?? 0;
  const stuckAnon = Math.max(0, (stats.inactive_anon_bytes ?? 0) - swapFree);
  const workingSet = activeAnon + activeFile + stuckAnon;
  const overhead = Math.max(0, actualBytes - total);
  const unevictable = (stats.unevictable_bytes ?? 0) + (stats.slab_unreclaimable_bytes ?? 0);
  const reserve = watermarks(Math.floor(total / PAGE_SIZE)).low * PAGE_SIZE;
  const raw = overhead + workingSet + unevictable + reserve;
  return {
    floorBytes: Math.ceil(raw / MiB) * MiB,
    workingSetBytes: workingSet,
    overheadBytes: overhead,
    unevictableBytes: unevictable,
    reserveBytes: reserve,
  };
}

/** The refusal every backend gives for a target below the floor. */
export function belowFloorMessage(change: string, f: Floor): string {
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
