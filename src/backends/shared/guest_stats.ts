/**
 * A guest's statistics, put together from what each backend can read: virtio-balloon's
 * statistics (QEMU's `guest-stats`, libvirt's `domstats --balloon`) and, where the guest
 * has one, an in-guest reader of /proc (the Ballast agent, or qemu-ga's file commands).
 *
 * Freshness is the guest's, not ours: QEMU stamps the balloon statistics with the host
 * time the guest last answered (`last-update`, seconds; hw/virtio/virtio-balloon.c,
 * virtio_balloon_receive_stats()), and that is the sample's time here. Statistics whose
 * `last-update` stops advancing, because the guest's driver stopped answering or the
 * polling was switched off, are stale after STALE_AFTER_MS and count as unknown, so a
 * floor is never computed from them and a policy's staleness rule can fire.
 */
import type { GuestStats } from "../../model/stats.js";
import type { AgentReader } from "./agent.js";
import { type ProcSample, procStats } from "./procfs.js";
import { type QgaBatch, readProcThroughQga } from "./qga.js";

/** How often QEMU asks the guest for balloon statistics (guest-stats-polling-interval, libvirt's <stats period>), s. */
export const STATS_POLL_S = 2;
/** Balloon statistics older than this are stale: five polls missed. */
export const STALE_AFTER_MS = 5 * STATS_POLL_S * 1000;
/** How long a first contact waits for the first fresh statistics after switching polling on. */
export const FIRST_STATS_WAIT_MS = 3 * STATS_POLL_S * 1000;

/** virtio-balloon's statistics, in bytes and counts (absent: the guest did not say). */
export interface BalloonStats {
  /** Host wall time of the guest's last answer, ms since the epoch; 0 = never. */
  lastUpdateMs: number;
  totalBytes?: number;
  freeBytes?: number;
  availableBytes?: number;
  /** VIRTIO_BALLOON_S_CACHES: NR_FILE_PAGES, page cache including shmem. */
  cachesBytes?: number;
  swapInBytes?: number;
  swapOutBytes?: number;
  majorFaults?: number;
  minorFaults?: number;
}

/** virtio-balloon's statistics (VIRTIO_BALLOON_S_*), as the fields of BalloonStats. */
const BALLOON_STATS = [
  "totalBytes",
  "freeBytes",
  "availableBytes",
  "cachesBytes",
  "swapInBytes",
  "swapOutBytes",
  "majorFaults",
  "minorFaults",
] as const;
export type BalloonStat = (typeof BALLOON_STATS)[number];

/**
 * BalloonStats from one source's reading of each statistic (QEMU's and libvirt's names
 * differ; each backend keeps its table of names): undefined, the guest did not say.
 */
export function balloonStatsFrom(
  lastUpdateMs: number,
  read: (stat: BalloonStat) => number | undefined,
): BalloonStats {
  const out: BalloonStats = { lastUpdateMs };
  for (const s of BALLOON_STATS) {
    const v = read(s);
    if (v !== undefined) out[s] = v;
  }
  return out;
}

export function isFresh(lastUpdateMs: number, nowMs: number): boolean {
  return lastUpdateMs > 0 && nowMs - lastUpdateMs <= STALE_AFTER_MS;
}

/**
 * Whether the guest answered since polling was switched on at `sinceMs` (last-update
 * has whole seconds). Until then what QEMU holds is the driver's first answer, from
 * boot (virtio_balloon.c primes the stats queue in init_vqs()), which may look fresh
 * on a guest booted seconds ago and is stale soon after.
 */
export function answeredSince(b: BalloonStats | null, sinceMs: number): boolean {
  return !!b && b.lastUpdateMs >= Math.floor(sinceMs / 1000) * 1000;
}

/** A /proc sample and when it was taken (host wall time, ms). */
export interface TimedProc {
  sample: ProcSample;
  atMs: number;
}

/**
 * GuestStats from what was read, or null when nothing fresh was. `t0Ms` is the
 * backend's time origin: timestamps are seconds since it, as the daemon's clock.
 * The /proc sample comes second and wins: it is more detailed (and as fresh).
 */
export function mergeStats(
  balloon: BalloonStats | null,
  proc: TimedProc | null,
  nowMs: number,
  t0Ms: number,
): GuestStats | null {
  const b = balloon && isFresh(balloon.lastUpdateMs, nowMs) ? balloon : null;
  const p = proc && nowMs - proc.atMs <= STALE_AFTER_MS ? proc : null;
  if (!b && !p) return null;
  const at = Math.max(b?.lastUpdateMs ?? 0, p?.atMs ?? 0);
  const out: GuestStats = { timestamp_s: (at - t0Ms) / 1000 };
  const put = (field: keyof GuestStats, v: number | undefined) => {
    if (v !== undefined) (out as unknown as Record<string, number>)[field] = v;
  };
  if (b) {
    put("total_bytes", b.totalBytes);
    put("free_bytes", b.freeBytes);
    put("available_bytes", b.availableBytes);
    put("file_bytes", b.cachesBytes);
    put("swap_in_bytes", b.swapInBytes);
    put("swap_out_bytes", b.swapOutBytes);
    put("major_faults", b.majorFaults);
    put("minor_faults", b.minorFaults);
  }
  if (p) Object.assign(out, procStats(p.sample));
  return out;
}

/**
 * /proc from inside the guest: the Ballast agent's latest line while it is fresh (it
 * writes every second; a new connection waits for its first), else qemu-ga's reading now.
 */
export async function readGuestProc(
  agent: AgentReader | null,
  qga: QgaBatch | null,
): Promise<TimedProc | null> {
  if (agent) {
    if (!agent.latest) await agent.ready(2500);
    else agent.poll();
    if (agent.latest && Date.now() - agent.receivedAtMs < STALE_AFTER_MS)
      return { sample: agent.latest, atMs: agent.receivedAtMs };
  }
  if (qga) {
    const sample = await readProcThroughQga(qga).catch(() => null);
    if (sample) return { sample, atMs: Date.now() };
  }
  return null;
}
