/** Observations for policy tests, built from a few numbers. */
import type { GuestObservation, Observation } from "../src/model/observation.js";
import type { GuestStats } from "../src/model/stats.js";
import { GiB, MiB } from "../src/units/index.js";

type Opts = Omit<Partial<GuestObservation>, "stats"> & { stats?: Partial<GuestStats> | null };

export function guest(name: string, o: Opts = {}): GuestObservation {
  const actual = o.actualBytes ?? 2 * GiB;
  const total = actual - 100 * MiB;
  const stats: GuestStats | null =
    o.stats === null
      ? null
      : {
          timestamp_s: 1,
          total_bytes: total,
          free_bytes: total / 2,
          available_bytes: total / 2,
          anon_bytes: total / 4,
          file_bytes: total / 4,
          active_anon_bytes: total / 4,
          inactive_anon_bytes: 0,
          active_file_bytes: 0,
          inactive_file_bytes: total / 4,
          swap_total_bytes: 0,
          swap_free_bytes: 0,
          swap_in_bytes: 0,
          swap_out_bytes: 0,
          major_faults: 0,
          psi_some_avg10: 0,
          psi_full_avg10: 0,
          ...(o.stats ?? {}),
        };
  return {
    name,
    memoryBytes: o.memoryBytes ?? 2 * GiB,
    maxmemBytes: o.maxmemBytes ?? 4 * GiB,
    targetBytes: o.targetBytes ?? actual,
    actualBytes: actual,
    hostRssBytes: o.hostRssBytes ?? null,
    stats,
    settings: o.settings ?? { minBytes: 512 * MiB, maxBytes: 4 * GiB, weight: 100, bufferPct: 20 },
    balloonable: o.balloonable ?? true,
  };
}

export function obs(
  guests: GuestObservation[],
  host: { total: number; free: number },
  nowMs = 0,
  reservedBytes = 0,
): Observation {
  return {
    nowMs,
    host: { totalBytes: host.total, freeBytes: host.free, reserveBytes: 0 },
    guests,
    reservedBytes,
  };
}
