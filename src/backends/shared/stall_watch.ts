/**
 * Balloon progress for real backends: src/model/stall.ts's rule in its `new-best` mode
 * with a 1 MiB step (a guest that cannot give memory wobbles by a MiB or so, virtio-balloon's
 * "Out of puff!", and a wobble is not progress), turned into the events an operator
 * reads: `balloon-reached-target` once per target, `balloon-stalled` (or
 * `deflate-stalled`) once per stall. Each backend feeds it what it measures, when it
 * measures it (its own stall_watch.ts).
 */
import { STUCK_AFTER_MS, type StallEntry, type StallOptions, watchOne } from "../../model/stall.js";
import { formatSize, MiB } from "../../units/index.js";
import type { EventLog } from "../../model/event_log.js";

export const BACKEND_STALL: StallOptions = {
  afterMs: STUCK_AFTER_MS,
  inaccuracyBytes: MiB,
  progress: "new-best",
  minStepBytes: MiB,
};

export class StallWatch {
  private entries = new Map<string, StallEntry>();
  private reached = new Set<string>();
  private reported = new Set<string>();

  constructor(private readonly log: EventLog) {}

  /** A target was (re)set: a new episode, reported afresh. */
  restart(name: string): void {
    this.entries.delete(name);
    this.reached.delete(name);
    this.reported.delete(name);
  }

  /** The domain is gone: forget it. */
  forget(name: string): void {
    this.restart(name);
  }

  stalled(name: string): boolean {
    return this.entries.get(name)?.stuck ?? false;
  }

  sample(name: string, targetBytes: number | null, actualBytes: number, nowMs: number): void {
    if (targetBytes === null) return;
    const e = watchOne(
      this.entries.get(name),
      { name, targetBytes, actualBytes },
      nowMs,
      BACKEND_STALL,
    );
    this.entries.set(name, e);
    const distance = Math.abs(actualBytes - targetBytes);
    if (distance <= BACKEND_STALL.inaccuracyBytes) {
      this.reported.delete(name);
      if (!this.reached.has(name)) {
        this.reached.add(name);
        this.log.emit(
          name,
          "balloon-reached-target",
          `${name}: balloon reached ${formatSize(targetBytes)}`,
        );
      }
      return;
    }
    if (e.stuck && !this.reported.has(name)) {
      this.reported.add(name);
      this.log.emit(
        name,
        actualBytes > targetBytes ? "balloon-stalled" : "deflate-stalled",
        `${name}: balloon stalled at ${formatSize(actualBytes)}, ${formatSize(distance)} from target ` +
          `${formatSize(targetBytes)}: no progress for ${BACKEND_STALL.afterMs / 1000}s`,
      );
    }
  }
}
