/**
 * A QEMU guest's statistics: virtio-balloon's (qom-get guest-stats on the balloon
 * device), and /proc from inside the guest where it can be read: the Ballast agent's
 * lines on NAME.agent, or qemu-ga's file commands on NAME.qga. QEMU sends 2^64-1 for a
 * value the guest did not give: anything at or above 2^53 is absent.
 */
import type { BalloonStats } from "../shared/guest_stats.js";
import type { QmpClient } from "./qmp.js";
import { guestStats } from "./schemas.js";

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
  const out: BalloonStats = { lastUpdateMs: gs["last-update"] * 1000 };
  const put = (field: keyof BalloonStats, value: number | undefined) => {
    if (value !== undefined) out[field] = value;
  };
  put("totalBytes", v("stat-total-memory"));
  put("freeBytes", v("stat-free-memory"));
  put("availableBytes", v("stat-available-memory"));
  put("cachesBytes", v("stat-disk-caches"));
  put("swapInBytes", v("stat-swap-in"));
  put("swapOutBytes", v("stat-swap-out"));
  put("majorFaults", v("stat-major-faults"));
  put("minorFaults", v("stat-minor-faults"));
  return out;
}
