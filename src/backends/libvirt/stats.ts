/**
 * A libvirt guest's statistics: virtio-balloon's from `domstats --balloon` (every
 * domain in one call; libvirt renames QEMU's fields and gives KiB: qemu_monitor_json.c
 * maps stat-total-memory to "available", stat-available-memory to "usable",
 * stat-free-memory to "unused", stat-disk-caches to "disk_caches"), and /proc from inside
 * the guest: the Ballast agent's unix channel, read directly (QEMU serves it; libvirt
 * does not hold it), or qemu-ga through `virsh qemu-agent-command`, batched.
 */
import { KiB } from "../../units/index.js";
import type { BalloonStats } from "../shared/guest_stats.js";
import type { QgaBatch } from "../shared/qga.js";
import { intField } from "./discovery.js";
import type { Virsh } from "./virsh.js";

export function balloonStatsOf(f: Record<string, string>): BalloonStats | null {
  const last = intField(f, "balloon.last-update");
  if (last === undefined) return null;
  const out: BalloonStats = { lastUpdateMs: last * 1000 };
  const kib = (k: string) => {
    const v = intField(f, k);
    return v === undefined ? undefined : v * KiB;
  };
  const put = (field: keyof BalloonStats, v: number | undefined) => {
    if (v !== undefined) out[field] = v;
  };
  put("totalBytes", kib("balloon.available"));
  put("freeBytes", kib("balloon.unused"));
  put("availableBytes", kib("balloon.usable"));
  put("cachesBytes", kib("balloon.disk_caches"));
  put("swapInBytes", kib("balloon.swap_in"));
  put("swapOutBytes", kib("balloon.swap_out"));
  put("majorFaults", intField(f, "balloon.major_fault"));
  put("minorFaults", intField(f, "balloon.minor_fault"));
  return out;
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
