/**
 * virtio-mem above a KVM guest's boot memory, as the QEMU backend drives it
 * (`requested-size` on a virtio-mem-pci device, block-size 2 MiB) and as Linux's
 * drivers/virtio/virtio_mem.c answers: blocks are plugged into the guest (memory the
 * host backs only once touched) or unplugged from it (the guest must first free them:
 * only free pages can go, so unplugging stops where the guest has nothing free above its
 * floor; QEMU then discards them). Linux adds hotplugged memory a memory block (128 MiB)
 * at a time, and allocates the struct pages for the whole block from the memory it
 * already has (memmap_on_memory is off by default): the price of growing, paid only when
 * it grows, unlike Xen's struct pages for maxmem at boot.
 */
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import { RateBudget } from "./balloon.js";
import type { Emit, FramePool } from "./frames.js";

/** The device's block size (the QEMU backend's block-size=2M). */
export const VIRTIO_MEM_BLOCK_PAGES = 512;
/** Linux's memory block size on x86_64 (MIN_MEMORY_BLOCK_SIZE, 128 MiB). */
export const MEMORY_BLOCK_PAGES = 32768;

export interface VirtioMemGuest {
  readonly name: string;
  /** Move `n` device pages into the guest's free memory. */
  plug(n: number, host: FramePool): void;
  /** Take up to `n` free pages (above the floor) back into the device; returns how many. */
  unplug(n: number, host: FramePool): number;
  emit: Emit;
}

export class VirtioMem {
  requestedPages = 0;
  pluggedPages = 0;
  private reported = true;
  private readonly plugRate: RateBudget;
  private readonly unplugRate: RateBudget;

  constructor(
    /** Size of the device's memory region, pages (maxmem - memory). */
    readonly regionPages: number,
    plugPagesPerS: number,
    unplugPagesPerS: number,
  ) {
    this.plugRate = new RateBudget(plugPagesPerS);
    this.unplugRate = new RateBudget(unplugPagesPerS);
  }

  /** A new requested-size, in whole blocks within the region. */
  setRequested(pages: number): void {
    const blocks = Math.floor(
      Math.min(Math.max(0, pages), this.regionPages) / VIRTIO_MEM_BLOCK_PAGES,
    );
    const next = blocks * VIRTIO_MEM_BLOCK_PAGES;
    if (next !== this.requestedPages) this.reported = false;
    this.requestedPages = next;
  }

  /** mem_map pages for the memory blocks the plugged memory touches. */
  static memMapBlocks(pluggedPages: number): number {
    return Math.ceil(pluggedPages / MEMORY_BLOCK_PAGES);
  }

  step(g: VirtioMemGuest, dtMs: number, host: FramePool): void {
    const diff = this.requestedPages - this.pluggedPages;
    if (diff === 0) {
      if (!this.reported) {
        this.reported = true;
        g.emit(
          "memory-device-size-change",
          `${g.name}: virtio-mem now provides ${formatSize(this.pluggedPages * PAGE_SIZE)}`,
        );
      }
      return;
    }
    if (diff > 0) {
      const n = Math.min(diff, this.plugRate.take(dtMs));
      if (n > 0) {
        g.plug(n, host);
        this.pluggedPages += n;
      }
    } else {
      const n = Math.min(-diff, this.unplugRate.take(dtMs));
      if (n > 0) this.pluggedPages -= g.unplug(n, host);
    }
  }
}
