/**
 * The hypervisor's view of host memory, in whole 4 KiB frames. It owns the free pool;
 * domains hold the rest, and the hypervisor keeps `reserve` for itself:
 *   free + reserve + sum(domain actual) == memory        (tested after every tick)
 */
import type { FramePool } from "../guest/frames.js";

export class Hypervisor implements FramePool {
  readonly memoryPages: number;
  readonly reservePages: number;
  freePages: number;

  constructor(memoryPages: number, reservePages: number) {
    if (reservePages > memoryPages) {
      throw new RangeError("the hypervisor reserve is larger than host memory");
    }
    this.memoryPages = memoryPages;
    this.reservePages = reservePages;
    this.freePages = memoryPages - reservePages;
  }

  release(n: number): void {
    this.freePages += n;
  }

  claim(n: number): number {
    const k = Math.min(Math.max(0, n), this.freePages);
    this.freePages -= k;
    return k;
  }
}
