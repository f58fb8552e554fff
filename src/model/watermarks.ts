/**
 * Linux's free-memory watermarks, computed as mm/page_alloc.c does, so that the
 * simulator's guests and the floor rule for real guests agree on what "minimum free"
 * means.
 */
import { KiB, PAGE_SIZE } from "../units/index.js";

/**
 * min_free_kbytes for `lowmemBytes` of managed low memory: int_sqrt(lowmem_kbytes * 16),
 * clamped to [128, 262144] KiB (mm/page_alloc.c, calculate_min_free_kbytes()).
 */
export function minFreeKbytes(lowmemBytes: number): number {
  const kbytes = Math.floor(lowmemBytes / KiB);
  const v = Math.floor(Math.sqrt(kbytes * 16));
  return Math.min(262144, Math.max(128, v));
}

export interface Watermarks {
  /** Pages below which only atomic/emergency allocations succeed (WMARK_MIN). */
  min: number;
  /** kswapd wakes below this (WMARK_LOW). */
  low: number;
  /** kswapd sleeps again above this (WMARK_HIGH). */
  high: number;
}

/**
 * Watermarks for a guest with `managedPages` pages under the page allocator, as
 * setup_per_zone_wmarks(): min from min_free_kbytes, then low = min + gap and
 * high = min + 2 * gap with gap = max(min / 4, managed * watermark_scale_factor / 10000)
 * and the default watermark_scale_factor of 10 (0.1%).
 */
export function watermarks(managedPages: number): Watermarks {
  const min = Math.ceil((minFreeKbytes(managedPages * PAGE_SIZE) * KiB) / PAGE_SIZE);
  const gap = Math.max(Math.floor(min / 4), Math.floor((managedPages * 10) / 10000));
  return { min, low: min + gap, high: min + 2 * gap };
}
