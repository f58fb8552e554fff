/**
 * A libvirt guest's statistics: virtio-balloon's from `domstats --balloon` (every
 * domain in one call; libvirt renames QEMU's fields and gives KiB: qemu_monitor_json.c
 * maps stat-total-memory to "available", stat-available-memory to "usable",
 * stat-free-memory to "unused", stat-disk-caches to "disk_caches"), and /proc from inside
 * the guest: the Ballast agent's unix channel, read directly (QEMU serves it; libvirt
 * does not hold it), or qemu-ga through `virsh qemu-agent-command`, batched.
 */
import { KiB } from "../../units/index.js";
import { type BalloonStat, type BalloonStats, balloonStatsFrom } from "../shared/guest_stats.js";
import type { QgaBatch } from "../shared/qga.js";
import { intField } from "./discovery.js";
import type { Virsh } from "./virsh.js";

/** libvirt's names for virtio-balloon's statistics, and their unit (sizes in KiB). */
const LIBVIRT_NAMES: Record<BalloonStat, [string, number]> = {
  totalBytes: ["balloon.available", KiB],
  freeBytes: ["balloon.unused", KiB],
  availableBytes: ["balloon.usable", KiB],
  cachesBytes: ["balloon.disk_caches", KiB],
  swapInBytes: ["balloon.swap_in", KiB],
  swapOutBytes: ["balloon.swap_out", KiB],
  majorFaults: ["balloon.major_fault", 1],
  minorFaults: ["balloon.minor_fault", 1],
};

export function balloonStatsOf(f: Record<string, string>): BalloonStats | null {
  const last = intField(f, "balloon.last-update");
  if (last === undefined) return null;
  return balloonStatsFrom(last * 1000, (stat) => {
    const [key, unit] = LIBVIRT_NAMES[stat];
    const v = intField(f, key);
    return v === undefined ? undefined : v * unit;
  });
}

/** qemu-ga commands for one domain, many per virsh process. */
export function qgaThroughLibvirt(v: Virsh, name: string): QgaBatch {
  return async (cmds) => {
    const res = await v.batch(cmds.map((c) => ["qemu-agent-command", name, JSON.stringify(c)]));
    return res.map((r) => {
      if (!r.ok) return new Error(r.error);
      try {
        return (JSON.parse(r.out) as { return?: unknown }).return;
      } catch {
        return new Error(`qemu-ga: not JSON: ${r.out.slice(0, 80)}`);
      }
    });
  };
}
