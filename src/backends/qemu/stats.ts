/**
 * A QEMU guest's statistics: virtio-balloon's (qom-get guest-stats on the balloon
 * device), and /proc from inside the guest where it can be read: the Ballast agent's
 * lines on NAME.agent, or qemu-ga's file commands on NAME.qga. QEMU sends 2^64-1 for a
 * value the guest did not give: anything at or above 2^53 is absent.
 */
import { type BalloonStat, type BalloonStats, balloonStatsFrom } from "../shared/guest_stats.js";
import type { QmpClient } from "./qmp.js";
import { guestStats } from "./schemas.js";

/** QEMU's names for virtio-balloon's statistics (hw/virtio/virtio-balloon.c, balloon_stat_names). */
const QMP_NAMES: Record<BalloonStat, string> = {
  totalBytes: "stat-total-memory",
  freeBytes: "stat-free-memory",
  availableBytes: "stat-available-memory",
  cachesBytes: "stat-disk-caches",
  swapInBytes: "stat-swap-in",
  swapOutBytes: "stat-swap-out",
  majorFaults: "stat-major-faults",
  minorFaults: "stat-minor-faults",
};

export async function readBalloonStats(
  qmp: QmpClient,
  balloonPath: string,
): Promise<BalloonStats | null> {
  const gs = await qmp
    .execute("qom-get", { path: balloonPath, property: "guest-stats" }, guestStats)
    .catch(() => null);
  if (!gs) return null;
  const v = (k: string): number | undefined => {
    const x = gs.stats[k];
    return x !== undefined && Number.isSafeInteger(x) && x >= 0 ? x : undefined;
  };
  return balloonStatsFrom(gs["last-update"] * 1000, (stat) => v(QMP_NAMES[stat]));
}
