/**
 * Whether a simulated guest's balloon is stalled, by the rule every backend shows
 * (src/model/stall.ts in the backends' `new-best` mode: no new closest approach to the
 * target for 5 s), sampled in virtual time on every read. The events are not repeated
 * here: the simulated drivers report `balloon-stalled` themselves, as the guest kernel's
 * driver does (src/sim/guest/xen_balloon.ts, virtio_balloon.ts).
 */
import { type StallEntry, watchOne } from "../../model/stall.js";
import { BACKEND_STALL } from "../shared/stall_watch.js";

export class SimStallWatch {
  private readonly entries = new Map<string, StallEntry>();

  /** Sample a running domain at virtual time `nowMs`; true while it is stalled. */
  sample(name: string, targetBytes: number, actualBytes: number, nowMs: number): boolean {
    const e = watchOne(
      this.entries.get(name),
      { name, targetBytes, actualBytes },
      nowMs,
      BACKEND_STALL,
    );
    this.entries.set(name, e);
    return e.stuck;
  }

  /** Forget domains that are not running (destroyed, crashed). */
  keepOnly(names: ReadonlySet<string>): void {
    for (const n of this.entries.keys()) if (!names.has(n)) this.entries.delete(n);
  }
}
