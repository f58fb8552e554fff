/**
 * Page reclaim, cheapest and coldest first, as mm/vmscan.c orders it:
 *
 * 1. clean, cold page cache on the inactive list (evicted: nothing to write);
 * 2. cold page cache demoted from the active list, then evicted;
 * 3. cold anonymous pages, written to swap (only with swap space and swap I/O left);
 * 4. under real shortage only (direct reclaim for an allocation that must succeed):
 *    hot page cache (it will refault) and hot anonymous pages (they will swap back in:
 *    thrashing). Hot pages are otherwise protected: they are referenced every second,
 *    so reclaim finds them referenced and rotates them back to the active list.
 *
 * The balloon's own allocations (GFP_NORETRY) stop after step 2: cheap pages only.
 */
import { type AnonPages, type FilePages, move } from "./lru.js";

export type ReclaimMode = "balloon" | "kswapd" | "direct";

export interface ReclaimTarget {
  anon: AnonPages[];
  files: FilePages[];
  /** Swap pages still free. */
  swapFree: number;
  /** Swap-out I/O left in this tick, pages. */
  swapOutBudget: number;
}

export interface ReclaimResult {
  /** Pages freed into the guest's free list. */
  freed: number;
  /** Of them, clean file pages (cheap). */
  clean: number;
  /** Of them, anonymous pages written to swap. */
  swappedOut: number;
}

function evictFiles(
  files: FilePages[],
  from: "coldInactive" | "hotInactive" | "hotActive",
  to: "coldEvicted" | "hotEvicted",
  want: number,
): number {
  let got = 0;
  for (const f of files) {
    if (got >= want) break;
    got += move(f, from, to, want - got);
  }
  return got;
}

function demoteFiles(files: FilePages[], want: number): number {
  let got = 0;
  for (const f of files) {
    if (got >= want) break;
    got += move(f, "coldActive", "coldInactive", want - got);
  }
  return got;
}

function swapOut(
  anon: AnonPages[],
  from: "coldInactive" | "coldActive" | "hotInactive" | "hotActive",
  to: "coldSwap" | "hotSwap",
  want: number,
): number {
  let got = 0;
  for (const a of anon) {
    if (got >= want) break;
    got += move(a, from, to, want - got);
  }
  return got;
}

/** Reclaim up to `want` pages from `t` in `mode`; mutates the pools and t's budgets. */
export function reclaim(t: ReclaimTarget, want: number, mode: ReclaimMode): ReclaimResult {
  let clean = 0;
  let swapped = 0;
  const left = () => want - clean - swapped;

  clean += evictFiles(t.files, "coldInactive", "coldEvicted", left());
  if (left() > 0) {
    demoteFiles(t.files, left());
    clean += evictFiles(t.files, "coldInactive", "coldEvicted", left());
  }
  if (mode === "balloon") return { freed: clean, clean, swappedOut: 0 };

  const swapRoom = () => Math.min(t.swapFree, t.swapOutBudget);
  const doSwap = (
    from: "coldInactive" | "coldActive" | "hotInactive" | "hotActive",
    to: "coldSwap" | "hotSwap",
  ) => {
    const n = swapOut(t.anon, from, to, Math.min(left(), swapRoom()));
    t.swapFree -= n;
    t.swapOutBudget -= n;
    swapped += n;
  };
  if (left() > 0) doSwap("coldInactive", "coldSwap");
  if (left() > 0) doSwap("coldActive", "coldSwap");
  if (mode === "kswapd") return { freed: clean + swapped, clean, swappedOut: swapped };

  if (left() > 0) clean += evictFiles(t.files, "hotInactive", "hotEvicted", left());
  if (left() > 0) clean += evictFiles(t.files, "hotActive", "hotEvicted", left());
  if (left() > 0) doSwap("hotInactive", "hotSwap");
  if (left() > 0) doSwap("hotActive", "hotSwap");
  return { freed: clean + swapped, clean, swappedOut: swapped };
}
