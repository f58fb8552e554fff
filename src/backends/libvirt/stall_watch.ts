/**
 * When a libvirt guest's balloon is sampled for the stall rule (shared/stall_watch.ts):
 * at every `domstats` read, with libvirt's balloon.current, which already counts
 * virtio-mem's plugged memory with the balloon's actual, as the one target does.
 */
import type { StallWatch } from "../shared/stall_watch.js";

export function sampleStall(
  watch: StallWatch,
  name: string,
  targetBytes: number | null,
  currentBytes: number,
  nowMs = Date.now(),
): void {
  watch.sample(name, targetBytes, currentBytes, nowMs);
}
