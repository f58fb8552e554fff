/**
 * The host side of a guest's frames, as the guest sees it: where a balloon driver
 * sends frames it gives up and asks for frames it wants back. The hypervisor
 * implements it; the guest never sees more than this.
 */
export interface FramePool {
  /** Give `n` frames back to the host's free pool. */
  release(n: number): void;
  /** Ask for up to `n` frames; returns how many the host could give. */
  claim(n: number): number;
}

/** Where a guest reports what happened to it. */
export type Emit = (
  type: import("../../model/events.js").EventType,
  message: string,
  code?: string,
) => void;
