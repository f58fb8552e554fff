/**
 * The balloon driver's control state: where it is headed and when it may try again.
 *
 * As Linux's drivers/xen/balloon.c: balloon_process() works towards target_pages; when
 * it cannot (no free page to hand back, or no frame from the hypervisor) it returns
 * BP_EAGAIN and update_schedule() doubles schedule_delay, from 1 s up to
 * max_schedule_delay = 32 s; a pass that completes (BP_DONE) resets it to 1 s.
 *
 * With deflate-on-oom (virtio-balloon's VIRTIO_BALLOON_F_DEFLATE_ON_OOM), the OOM
 * notifier gives back OOM_VBALLOON_DEFAULT_PAGES = 256 pages per notification, and the
 * driver does not inflate again until the host sets a new target (fill_balloon() runs
 * only from the config-change work).
 */

export const BACKOFF_INITIAL_S = 1;
export const BACKOFF_MAX_S = 32;
export const OOM_DEFLATE_PAGES = 256;

export type BalloonPhase = "idle" | "inflating" | "deflating";

export class BalloonDriver {
  /** Target for the domain's actual memory, in pages. */
  targetPages: number;
  /** Pages per second the driver moves when it can. */
  readonly ratePagesPerS: number;
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
  /** Fractional pages carried from tick to tick so that slow rates still move. */
  carry = 0;

  constructor(targetPages: number, ratePagesPerS: number) {
    this.targetPages = targetPages;
    this.ratePagesPerS = ratePagesPerS;
  }

  setTarget(pages: number, nowMs: number): void {
    this.targetPages = pages;
    this.delayS = BACKOFF_INITIAL_S;
    this.sleepUntilMs = nowMs;
    this.stalled = null;
    this.reachedReported = false;
    this.heldByOom = false;
    this.carry = 0;
  }

  /** Pages the driver may move in a tick of `dtMs` (its rate budget). */
  budget(dtMs: number): number {
    const exact = (this.ratePagesPerS * dtMs) / 1000 + this.carry;
    const whole = Math.floor(exact);
    this.carry = exact - whole;
    return whole;
  }

  /** A pass that could not finish: sleep, and double the delay up to the maximum. */
  backOff(nowMs: number): number {
    const d = this.delayS;
    this.sleepUntilMs = nowMs + d * 1000;
    this.delayS = Math.min(this.delayS * 2, BACKOFF_MAX_S);
    return d;
  }

  /** A pass that did all it was allowed to: the delay returns to 1 s. */
  progressed(): void {
    this.delayS = BACKOFF_INITIAL_S;
  }
}
