/**
 * Anonymous and file pages on Linux's active/inactive LRU lists, counted per owner.
 *
 * Each owner's pages are split by temperature (hot = touched every second by the
 * workload, cold = not touched) and by place (active list, inactive list, or out of
 * RAM: in swap for anon, evicted for file). Aging follows mm/vmscan.c: new pages start
 * on the inactive list (anon since Linux 5.9's workingset protection, file always),
 * referenced pages are promoted to the active list within a second, and unreferenced
 * pages are demoted from the active list only when reclaim finds the inactive list
 * short (shrink_active_list()).
 */

export interface AnonPages {
  hotActive: number;
  hotInactive: number;
  coldActive: number;
  coldInactive: number;
  hotSwap: number;
  coldSwap: number;
}

export interface FilePages {
  hotActive: number;
  hotInactive: number;
  coldActive: number;
  coldInactive: number;
  /** Evicted pages that the workload will read again (refaults: major faults). */
  hotEvicted: number;
  /** Evicted pages read once and not again. */
  coldEvicted: number;
  /** Pages of the file not read yet. */
  unread: number;
}

export function emptyAnon(): AnonPages {
  return { hotActive: 0, hotInactive: 0, coldActive: 0, coldInactive: 0, hotSwap: 0, coldSwap: 0 };
}

export function emptyFile(unread: number): FilePages {
  return {
    hotActive: 0,
    hotInactive: 0,
    coldActive: 0,
    coldInactive: 0,
    hotEvicted: 0,
    coldEvicted: 0,
    unread,
  };
}

export function anonResident(a: AnonPages): number {
  return a.hotActive + a.hotInactive + a.coldActive + a.coldInactive;
}

export function anonSwapped(a: AnonPages): number {
  return a.hotSwap + a.coldSwap;
}

export function anonHot(a: AnonPages): number {
  return a.hotActive + a.hotInactive + a.hotSwap;
}

export function anonCold(a: AnonPages): number {
  return a.coldActive + a.coldInactive + a.coldSwap;
}

export function fileResident(f: FilePages): number {
  return f.hotActive + f.hotInactive + f.coldActive + f.coldInactive;
}

export function fileHot(f: FilePages): number {
  return f.hotActive + f.hotInactive + f.hotEvicted;
}

export function fileCold(f: FilePages): number {
  return f.coldActive + f.coldInactive + f.coldEvicted;
}

/** Move up to `n` pages from one field to another of the same record; returns how many. */
export function move<T extends object>(rec: T, from: keyof T, to: keyof T, n: number): number {
  const have = rec[from] as unknown as number;
  const k = Math.min(have, Math.max(0, n));
  if (k > 0) {
    (rec[from] as unknown as number) = have - k;
    (rec[to] as unknown as number) = (rec[to] as unknown as number) + k;
  }
  return k;
}

/** Take up to `n` pages out of a field; returns how many. */
export function take<T extends object>(rec: T, field: keyof T, n: number): number {
  const have = rec[field] as unknown as number;
  const k = Math.min(have, Math.max(0, n));
  if (k > 0) (rec[field] as unknown as number) = have - k;
  return k;
}

/**
 * Promotion of referenced pages: hot pages on the inactive list are referenced every
 * second, so they reach the active list within a second (mark_page_accessed() /
 * folio_check_references()). `fraction` is the share of a second that elapsed.
 */
export function promoteHot(rec: AnonPages | FilePages, fraction: number): void {
  if (rec.hotInactive > 0) {
    move(rec, "hotInactive", "hotActive", Math.ceil(rec.hotInactive * Math.min(1, fraction)));
  }
}
