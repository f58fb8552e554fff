/**
 * Free page reporting (Linux's mm/page_reporting.c, 6.1; virtio-balloon's
 * VIRTIO_BALLOON_F_REPORTING; QEMU's virtio_balloon_handle_report() discards each
 * reported range from the guest's RAM, so the host's RSS drops):
 *
 * - Freeing a buddy block of page_reporting_order or more (pageblock_order: 9, 2 MiB on
 *   x86) requests a report; the work runs PAGE_REPORTING_DELAY = 2 s later.
 * - A pass skips a zone unless its free memory is above the low watermark plus
 *   PAGE_REPORTING_CAPACITY (32) blocks of that order (64 MiB).
 * - Per free list a pass makes at most DIV_ROUND_UP(nr_free, 32 * 16) + 1 reports of
 *   32 blocks each (page_reporting_cycle()'s budget); when the budget runs out the work
 *   is requested again and runs 2 s later. Freed memory coalesces into the largest
 *   blocks (order 10, 4 MiB): 2 reports * 32 * 4 MiB = 256 MiB per pass for a guest with
 *   under 2 GiB free, as measured (a 500 MiB process exits: QEMU's RSS drops by 244 MiB
 *   2 s later and by the rest 2 s after that).
 * - Reported pages stay on the free lists, flagged, and are not reported again until
 *   allocated and freed; the host backs them again when the guest touches them.
 *
 * Only pages the host backs lower its RSS; the model reports those (pages never touched
 * since boot are reported too on a real guest, which changes nothing on the host).
 */
import { PAGE_SIZE } from "../../units/index.js";
import type { FramePool } from "./frames.js";

/** PAGE_REPORTING_DELAY: 2 * HZ. */
export const PAGE_REPORTING_DELAY_MS = 2000;
/** PAGE_REPORTING_CAPACITY: blocks per report. */
export const PAGE_REPORTING_CAPACITY = 32;
/** page_reporting_order = pageblock_order (x86: 9). */
export const PAGE_REPORTING_ORDER_PAGES = 512;
/** MAX_ORDER - 1 in 6.1: freed memory coalesces into 4 MiB blocks. */
const MAX_ORDER_PAGES = 1024;

/** What reporting needs of its guest. */
export interface ReportingGuest {
  /** Free pages (MemFree). */
  free: number;
  /** Free pages the host backs that reporting can find in whole blocks. */
  reportable(): number;
  /** The low watermark, pages. */
  lowWatermark(): number;
  /** Report `n` backed free pages to the host: they leave its RSS. */
  report(n: number, host: FramePool): void;
  /** Set by the guest when it frees pages (page_reporting_notify_free()'s hook). */
  freedSinceReport: boolean;
}

export class FreePageReporting {
  /** When the requested work runs; -1: idle. */
  private runAtMs = -1;

  /** Called every tick: a free of a reportable block since the last pass requests one. */
  step(g: ReportingGuest, nowMs: number, host: FramePool): void {
    if (this.runAtMs < 0) {
      if (!g.freedSinceReport) return;
      g.freedSinceReport = false;
      if (g.reportable() >= PAGE_REPORTING_ORDER_PAGES)
        this.runAtMs = nowMs + PAGE_REPORTING_DELAY_MS;
      return;
    }
    if (nowMs < this.runAtMs) return;
    this.runAtMs = -1;
    const threshold = g.lowWatermark() + PAGE_REPORTING_CAPACITY * PAGE_REPORTING_ORDER_PAGES;
    if (g.free <= threshold) return;
    const blocks = Math.floor(g.free / MAX_ORDER_PAGES);
    const budget =
      (Math.ceil(blocks / (PAGE_REPORTING_CAPACITY * 16)) + 1) *
      PAGE_REPORTING_CAPACITY *
      MAX_ORDER_PAGES;
    const avail = g.reportable();
    const whole = avail - (avail % PAGE_REPORTING_ORDER_PAGES);
    const n = Math.min(whole, budget);
    if (n > 0) g.report(n, host);
    // Budget used up: more is waiting, and the work is requested again.
    if (whole > budget) this.runAtMs = nowMs + PAGE_REPORTING_DELAY_MS;
  }
}

/** Bytes per pass for a guest with under 2 GiB free (for documentation and tests). */
export const REPORT_BYTES_PER_PASS = 2 * PAGE_REPORTING_CAPACITY * MAX_ORDER_PAGES * PAGE_SIZE;
