/**
 * Linux's virtio balloon driver (drivers/virtio/virtio_balloon.c, Linux 6.1), on KVM
 * hosts, with QEMU's device (hw/virtio/virtio-balloon.c) on the other side.
 *
 * - The host sets num_pages, the balloon's size (QEMU: (ram_size - target) / 4 KiB, a
 *   target above RAM clamped to RAM); the config change queues update_balloon_size_func(),
 *   which moves towards it by at most VIRTIO_BALLOON_ARRAY_PFNS_MAX = 256 pages a pass
 *   and queues itself again while any difference is left.
 * - Inflating, fill_balloon() takes pages with balloon_page_alloc(): alloc_page(
 *   GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN): free pages
 *   above the min watermark (and lowmem_reserve) after one pass of reclaim, never the OOM
 *   killer. When it gets none: "Out of puff! Can't get 1 pages", msleep(200), and the
 *   work runs again: a driver that cannot get pages retries five times a second, each
 *   attempt a reclaim stall (PSI). QEMU discards each inflated page from the guest's RAM
 *   (ram_block_discard_range(): the host's RSS drops by the pages that were backed).
 * - Without VIRTIO_BALLOON_F_DEFLATE_ON_OOM each inflated page leaves MemTotal
 *   (adjust_managed_page_count(page, -1)); with it MemTotal stays and ballooned pages
 *   count as used.
 * - Deflating, leak_balloon() frees pages back to the guest; the host needs nothing up
 *   front (it backs a page again when the guest touches it), so deflating never waits.
 * - virtio_balloon_oom_notify() (deflate_on_oom), called by out_of_memory() before it
 *   kills: leak_balloon(VIRTIO_BALLOON_OOM_NR_PAGES = 256) and update_balloon_size(). It
 *   queues no work: a driver still working towards its target (not reached) goes on and
 *   takes those pages again; one that had reached it stays deflated until the host sets a
 *   new target. (Measured on the test guest: forced below a process that holds its
 *   memory, it stops with MemFree at the floor and wobbles there by a MiB, MemTotal
 *   unchanged, while PSI rises; after reaching its target, a later OOM leaves it
 *   deflated.)
 *
 * Rates: the measured speed of the real driver under QEMU (see DEFAULT_VIRTIO_* in
 * costs.ts); inflating costs a discard per page on the host, deflating nothing.
 */
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import {
  type BalloonDriver,
  type BalloonGuest,
  FAILED_ATTEMPT_STALL_US,
  RateBudget,
} from "./balloon.js";
import type { FramePool } from "./frames.js";

/** VIRTIO_BALLOON_OOM_NR_PAGES: pages the OOM notifier takes back per notification. */
export const VIRTIO_BALLOON_OOM_NR_PAGES = 256;
/** fill_balloon()'s msleep(200) after "Out of puff!". */
export const OUT_OF_PUFF_SLEEP_MS = 200;

export class VirtioBalloon implements BalloonDriver {
  readonly kind = "virtio";
  /** num_pages: the balloon size the host asked for. */
  targetBalloonPages = 0;
  /** update_balloon_size_work is queued (or requeued itself). */
  queued = false;
  /** Sleeping in msleep(200) until then, ms. */
  sleepUntilMs = 0;
  /** Whether balloon-reached-target was emitted for the current target. */
  reachedReported = true;
  /** Out of puff since the last target (one balloon-stalled event per target). */
  outOfPuff = false;
  private readonly inflateRate: RateBudget;
  private readonly deflateRate: RateBudget;

  constructor(
    /** QEMU's ram_size in pages (boot memory). */
    readonly ramPages: number,
    inflatePagesPerS: number,
    deflatePagesPerS: number,
    readonly deflateOnOom: boolean,
  ) {
    this.inflateRate = new RateBudget(inflatePagesPerS);
    this.deflateRate = new RateBudget(deflatePagesPerS);
  }

  get balloonInMemTotal(): boolean {
    return this.deflateOnOom;
  }

  /** As QEMU's virtio_balloon_to_target(): a target above RAM is clamped to RAM. */
  setTarget(actualPages: number, _nowMs: number): void {
    this.targetBalloonPages = Math.max(0, this.ramPages - Math.min(actualPages, this.ramPages));
    this.queued = true;
    this.reachedReported = false;
    this.outOfPuff = false;
  }

  targetActual(): number {
    return this.ramPages - this.targetBalloonPages;
  }

  chasing(g: BalloonGuest): boolean {
    return this.queued && g.balloonList() !== this.targetBalloonPages;
  }

  oomNotify(g: BalloonGuest): number {
    if (!this.deflateOnOom) return 0;
    const n = Math.min(VIRTIO_BALLOON_OOM_NR_PAGES, g.balloonList());
    if (n > 0) g.deflate(n, false);
    return n;
  }

  step(g: BalloonGuest, nowMs: number, dtMs: number, host: FramePool): void {
    if (!this.queued || nowMs < this.sleepUntilMs) return;
    const diff = this.targetBalloonPages - g.balloonList();
    if (diff === 0) {
      this.queued = false;
      if (!this.reachedReported) {
        this.reachedReported = true;
        g.emit(
          "balloon-reached-target",
          `${g.name}: balloon reached ${formatSize(g.shownActual() * PAGE_SIZE)}`,
        );
      }
      return;
    }
    if (diff > 0) {
      const n = Math.min(diff, this.inflateRate.take(dtMs));
      if (n === 0) return;
      const got = g.inflate(n, host);
      if (got < n) {
        // "Out of puff!": the failed allocation's reclaim pass, then msleep(200).
        g.stallKworker(FAILED_ATTEMPT_STALL_US);
        this.sleepUntilMs = nowMs + OUT_OF_PUFF_SLEEP_MS;
        this.inflateRate.reset();
        if (!this.outOfPuff) {
          this.outOfPuff = true;
          const cur = g.shownActual();
          const goal = this.ramPages - this.targetBalloonPages;
          g.emit(
            "balloon-stalled",
            `${g.name}: balloon stalled at ${formatSize(cur * PAGE_SIZE)}, ` +
              `${formatSize((cur - goal) * PAGE_SIZE)} above target ${formatSize(goal * PAGE_SIZE)}: ` +
              `"Out of puff! Can't get 1 pages" (nothing free above the min watermark, ` +
              `nothing cheap to reclaim); retrying every ${OUT_OF_PUFF_SLEEP_MS} ms`,
          );
        }
      }
    } else {
      const n = Math.min(-diff, this.deflateRate.take(dtMs));
      if (n > 0) g.deflate(n, false);
    }
  }
}
