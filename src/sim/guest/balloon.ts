/**
 * What a balloon driver needs of its guest, and what every driver offers the guest and
 * the toolstack. One module per driver implements it: xen_balloon.ts (Linux's
 * drivers/xen/balloon.c, on Xen hosts) and virtio_balloon.ts (Linux's
 * drivers/virtio/virtio_balloon.c, on KVM hosts).
 */
import type { Emit, FramePool } from "./frames.js";

/**
 * The cost of one failed attempt to get a balloon page: the allocation's single pass of
 * direct reclaim and compaction (__GFP_NORETRY), during which the driver's kworker is
 * in a memory stall (psi_memstall_enter() in __perform_reclaim()). Measured on the test
 * guest under TCG: a virtio balloon retrying every 200 ms with nothing to take adds
 * 16-33 ms of PSI `some` per second (six runs, median 23: the spread is the host's load),
 * so about 4.5 ms per attempt. (An upper bound for KVM, where the guest runs natively.)
 */
export const FAILED_ATTEMPT_STALL_US = 4500;

/** The guest as a balloon driver sees it. */
export interface BalloonGuest {
  readonly name: string;
  /** Frames the guest holds (not ballooned out), pages. */
  actual(): number;
  /** Actual memory as the toolstack shows it (QEMU: RAM size less the balloon), pages. */
  shownActual(): number;
  /** The most frames it can hold (its RAM, less what it never took on). */
  capacity(): number;
  /** Pages on the balloon's list. */
  balloonList(): number;
  /**
   * Allocate up to `n` pages for the balloon, as its allocation flags allow: free pages
   * above the floor, after one pass of cheap reclaim (__GFP_NORETRY: never the OOM
   * killer). Moves them onto the balloon list and returns what the host got back.
   */
  inflate(n: number, host: FramePool): number;
  /** Take `n` pages off the balloon list onto the free lists (`backed`: the host
   * populated them first, as Xen does; KVM backs them only when touched). */
  deflate(n: number, backed: boolean): void;
  /** The driver's kworker was stalled on memory for `us` this tick (PSI). */
  stallKworker(us: number): void;
  emit: Emit;
}

export interface BalloonDriver {
  readonly kind: "xen" | "virtio";
  /** With VIRTIO_BALLOON_F_DEFLATE_ON_OOM: the OOM notifier takes pages back. */
  readonly deflateOnOom: boolean;
  /** Whether ballooned pages still count in MemTotal (virtio with deflate-on-oom). */
  readonly balloonInMemTotal: boolean;
  /** The toolstack's new target for the guest's actual memory, pages. */
  setTarget(actualPages: number, nowMs: number): void;
  /** Target for the guest's actual memory, pages. */
  targetActual(g: BalloonGuest): number;
  /** One tick of the driver's work. */
  step(g: BalloonGuest, nowMs: number, dtMs: number, host: FramePool): void;
  /** The OOM notifier (deflate_on_oom): pages given back to the guest, 0 if none. */
  oomNotify(g: BalloonGuest, host: FramePool): number;
  /** Whether the driver is still working towards its target (not reached, not held). */
  chasing(g: BalloonGuest): boolean;
}

/** Pages per second as a per-tick budget, carrying fractions so that slow rates move. */
export class RateBudget {
  private carry = 0;
  constructor(readonly pagesPerS: number) {}
  take(dtMs: number): number {
    const exact = (this.pagesPerS * dtMs) / 1000 + this.carry;
    const whole = Math.floor(exact);
    this.carry = exact - whole;
    return whole;
  }
  reset(): void {
    this.carry = 0;
  }
}
