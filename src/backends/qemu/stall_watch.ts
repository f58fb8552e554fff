/**
 * When a QEMU guest's balloon is sampled for the stall rule (shared/stall_watch.ts): on
 * every read of the VM (query-balloon and query-memory-devices) and on every
 * BALLOON_CHANGE event, with the actual counting the balloon and virtio-mem together,
 * since one target covers both.
 */
import type { StallWatch } from "../shared/stall_watch.js";
import { actualOf, type MemoryLayout } from "../shared/targets.js";

export function sampleStall(
  watch: StallWatch,
  name: string,
  targetBytes: number | null,
  layout: MemoryLayout,
  nowMs = Date.now(),
): void {
  watch.sample(name, targetBytes, actualOf(layout), nowMs);
}
