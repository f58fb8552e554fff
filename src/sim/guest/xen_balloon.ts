/**
 * Linux's Xen balloon driver (drivers/xen/balloon.c), on Xen hosts.
 *
 * balloon_process() works towards target_pages (the domain's actual memory). Inflating,
 * decrease_reservation() takes pages with alloc_page(GFP_BALLOON) (GFP_HIGHUSER |
 * __GFP_NOWARN | __GFP_NORETRY | __GFP_NOMEMALLOC: free pages above the min watermark
 * and one pass of reclaim, never the OOM killer) and hands the frames to the hypervisor;
 * MemTotal shrinks with it (adjust_managed_page_count()). Deflating,
 * increase_reservation() asks the hypervisor for frames first: with none free it cannot
 * deflate. When a pass cannot finish it returns BP_EAGAIN and update_schedule() doubles
 * schedule_delay from 1 s up to max_schedule_delay = 32 s; a pass that completes
 * (BP_DONE) resets it to 1 s.
 *
 * deflate_on_oom is virtio-balloon's feature; on a Xen host the simulator keeps it as
 * the scenario contract has it: the OOM notifier gives back 256 pages per notification
 * and the driver holds until the toolstack sets a new target.
 */
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import {
  type BalloonDriver,
  type BalloonGuest,
  FAILED_ATTEMPT_STALL_US,
  RateBudget,
} from "./balloon.js";
import type { FramePool } from "./frames.js";

export const BACKOFF_INITIAL_S = 1;
export const BACKOFF_MAX_S = 32;
/** virtio_balloon's VIRTIO_BALLOON_OOM_NR_PAGES, used for deflate_on_oom here too. */
export const OOM_DEFLATE_PAGES = 256;

export class XenBalloon implements BalloonDriver {
  readonly kind = "xen";
  readonly balloonInMemTotal = false;
  /** Target for the domain's actual memory, pages (target_pages). */
  targetPages: number;
  /** Current retry delay, seconds (schedule_delay). */
  delayS = BACKOFF_INITIAL_S;
  /** Virtual time before which the driver sleeps, ms. */
  sleepUntilMs = 0;
  /** Which stall was last reported in this episode (one event per episode). */
  stalled: "inflate" | "deflate" | null = null;
  /** Whether balloon-reached-target was emitted for the current target. */
  reachedReported = true;
  /** Set after an OOM deflation: the driver leaves the target alone until a new one. */
  heldByOom = false;
  /** At its target with nothing to do (only a new target or the OOM notifier moves
   * a Xen guest's actual memory). */
  private idle = true;
  private readonly inflateRate: RateBudget;
  private readonly deflateRate: RateBudget;

  constructor(
    targetPages: number,
    inflatePagesPerS: number,
    deflatePagesPerS: number,
    readonly deflateOnOom: boolean,
  ) {
    this.targetPages = targetPages;
    this.inflateRate = new RateBudget(inflatePagesPerS);
    this.deflateRate = new RateBudget(deflatePagesPerS);
  }

  setTarget(pages: number, nowMs: number): void {
    this.targetPages = pages;
    this.delayS = BACKOFF_INITIAL_S;
    this.sleepUntilMs = nowMs;
    this.stalled = null;
    this.reachedReported = false;
    this.heldByOom = false;
    this.idle = false;
    this.inflateRate.reset();
    this.deflateRate.reset();
  }

  targetActual(): number {
    return this.targetPages;
  }

  chasing(g: BalloonGuest): boolean {
    return !this.heldByOom && g.actual() !== Math.min(this.targetPages, g.capacity());
  }

  oomNotify(g: BalloonGuest, host: FramePool): number {
    if (!this.deflateOnOom || g.balloonList() === 0) return 0;
    const give = host.claim(Math.min(OOM_DEFLATE_PAGES, g.balloonList()));
    if (give > 0) {
      g.deflate(give, true);
      this.heldByOom = true;
    }
    return give;
  }

  step(g: BalloonGuest, nowMs: number, dtMs: number, host: FramePool): void {
    if (this.idle || this.heldByOom || nowMs < this.sleepUntilMs) return;
    const cur = g.actual();
    const goal = Math.min(this.targetPages, g.capacity());
    if (cur === goal) {
      this.idle = true;
      if (!this.reachedReported) {
        this.reachedReported = true;
        this.stalled = null;
        const capped =
          goal < this.targetPages
            ? ` (target ${formatSize(this.targetPages * PAGE_SIZE)} is beyond the RAM it took on at boot)`
            : "";
        g.emit(
          "balloon-reached-target",
          `${g.name}: balloon reached ${formatSize(cur * PAGE_SIZE)}${capped}`,
        );
      }
      return;
    }
    if (cur > goal) {
      const n = Math.min(cur - goal, this.inflateRate.take(dtMs));
      const got = g.inflate(n, host);
      if (got < n) {
        g.stallKworker(FAILED_ATTEMPT_STALL_US);
        this.stall(g, "inflate", nowMs, goal);
      } else this.delayS = BACKOFF_INITIAL_S;
    } else {
      const n = Math.min(goal - cur, this.deflateRate.take(dtMs), g.balloonList());
      const got = host.claim(n);
      g.deflate(got, true);
      if (got < n) this.stall(g, "deflate", nowMs, goal);
      else this.delayS = BACKOFF_INITIAL_S;
    }
  }

  /** A pass that could not finish: sleep, double the delay, say so once per episode. */
  private stall(g: BalloonGuest, kind: "inflate" | "deflate", nowMs: number, goal: number): void {
    const delay = this.delayS;
    this.sleepUntilMs = nowMs + delay * 1000;
    this.delayS = Math.min(this.delayS * 2, BACKOFF_MAX_S);
    if (this.stalled === kind) return;
    this.stalled = kind;
    const cur = g.actual();
    const gap = formatSize(Math.abs(cur - goal) * PAGE_SIZE);
    if (kind === "inflate") {
      g.emit(
        "balloon-stalled",
        `${g.name}: balloon stalled at ${formatSize(cur * PAGE_SIZE)}, ${gap} above target ` +
          `${formatSize(goal * PAGE_SIZE)}: nothing left it can take without swapping hot pages ` +
          `or OOM; retrying in ${delay}s`,
      );
    } else {
      g.emit(
        "deflate-stalled",
        `${g.name}: balloon cannot deflate: the host has no free memory; at ` +
          `${formatSize(cur * PAGE_SIZE)}, ${gap} below target ${formatSize(goal * PAGE_SIZE)}; retrying in ${delay}s`,
      );
    }
  }
}
