/**
 * Step 1 of `ballast`'s decide: TRUST. Is this guest's word worth acting on?
 *
 * In: the guest's observation (host truth plus its untrusted statistics) and what was
 * remembered of it. Out: a verdict, and the greed record to remember.
 *
 * What it does:
 * - Implausible statistics (negative or non-finite numbers, more memory than the host
 *   backs, free above total, PSI outside 0-100 or full above some, counters going
 *   backwards), no statistics, or statistics that stopped moving for 30 s make the guest
 *   untrusted: it is not moved on its word, and under contention it is held to its
 *   weighted share.
 * - A guest that claims to use everything it has (active >= 97% of total) while claiming
 *   pressure, for 30 s after it was grown, is insatiable: it is held to its weighted
 *   share and not raised for pressure. So a lying guest can never push another guest
 *   below its floor or take the host's free memory.
 * What it does not: judge whether the guest needs memory (need.ts) or how much to keep
 * in hand for it (headroom.ts).
 */
import type { GuestObservation } from "../../model/observation.js";
import type { GuestStats } from "../../model/stats.js";
import { formatSize, MiB } from "../../units/index.js";
import { BALLAST, type GuestMemo } from "./params.js";

export interface TrustVerdict {
  /** Why the guest is not believed (null: it is). */
  untrusted: string | null;
  /** Its statistics moved on since the last round. */
  fresh: boolean;
}

/** A count or size that cannot be: negative, not a number, infinite. */
function bad(v: number | undefined): boolean {
  return v !== undefined && !(v >= 0 && v < Infinity);
}

/**
 * The first count or size that cannot be, or null. Field by field rather than by a list
 * of names: a property read by a name from a list boxes each number it reads (garbage,
 * a thousand guests a second).
 */
function badField(s: GuestStats): string | null {
  if (bad(s.total_bytes)) return `total_bytes is ${s.total_bytes}`;
  if (bad(s.free_bytes)) return `free_bytes is ${s.free_bytes}`;
  if (bad(s.available_bytes)) return `available_bytes is ${s.available_bytes}`;
  if (bad(s.file_bytes)) return `file_bytes is ${s.file_bytes}`;
  if (bad(s.anon_bytes)) return `anon_bytes is ${s.anon_bytes}`;
  if (bad(s.active_anon_bytes)) return `active_anon_bytes is ${s.active_anon_bytes}`;
  if (bad(s.active_file_bytes)) return `active_file_bytes is ${s.active_file_bytes}`;
  if (bad(s.inactive_anon_bytes)) return `inactive_anon_bytes is ${s.inactive_anon_bytes}`;
  if (bad(s.inactive_file_bytes)) return `inactive_file_bytes is ${s.inactive_file_bytes}`;
  if (bad(s.swap_in_bytes)) return `swap_in_bytes is ${s.swap_in_bytes}`;
  if (bad(s.swap_out_bytes)) return `swap_out_bytes is ${s.swap_out_bytes}`;
  if (bad(s.major_faults)) return `major_faults is ${s.major_faults}`;
  return null;
}

/** Why these stats cannot be true, or null when they are plausible. */
export function implausible(
  s: GuestStats | null,
  g: GuestObservation,
  memo: GuestMemo | undefined,
): string | null {
  if (!s) return "no statistics";
  const field = badField(s);
  if (field) return field;
  const total = s.total_bytes;
  if (total === undefined || s.free_bytes === undefined) return "no total/free";
  const slack = 4 * MiB;
  if (total > g.actualBytes + slack)
    return `claims ${formatSize(total)} but has ${formatSize(g.actualBytes)}`;
  if (s.free_bytes > total) return "free above total";
  if ((s.available_bytes ?? 0) > total) return "available above total";
  if ((s.anon_bytes ?? 0) + (s.file_bytes ?? 0) > total + slack) return "anon + file above total";
  if ((s.active_anon_bytes ?? 0) > (s.anon_bytes ?? Infinity)) return "active anon above anon";
  const some = s.psi_some_avg10;
  const full = s.psi_full_avg10;
  if (some !== undefined && !(some >= 0 && some <= 100)) return "PSI outside 0-100";
  if (full !== undefined && !(full >= 0 && full <= 100)) return "PSI outside 0-100";
  if ((full ?? 0) > (some ?? 100)) return "PSI full above some";
  if (memo) {
    if ((s.major_faults ?? 0) < memo.lastMajorFaults) return "major faults went backwards";
    if ((s.swap_in_bytes ?? 0) < memo.lastSwapIn) return "swap-in went backwards";
  }
  return null;
}

/** The verdict on one guest this round (to `out`, reused: no garbage). */
export function trust(
  g: GuestObservation,
  memo: GuestMemo,
  isNew: boolean,
  nowMs: number,
  trustEveryone: boolean,
  out: TrustVerdict = { untrusted: null, fresh: false },
): TrustVerdict {
  const s = g.stats;
  out.fresh = !!s && (Number.isNaN(memo.lastTs) || s.timestamp_s > memo.lastTs);
  if (trustEveryone) {
    out.untrusted = s ? null : "no statistics";
    return out;
  }
  let why = implausible(s, g, isNew ? undefined : memo);
  const lastFresh = out.fresh || isNew ? nowMs : memo.lastFreshMs;
  if (!why && nowMs - lastFresh > BALLAST.staleAfterMs) why = "statistics are stale";
  out.untrusted = why;
  return out;
}

export interface Greed {
  /** NaN: not greedy. */
  greedySinceMs: number;
  grownSinceGreedy: boolean;
  insatiable: boolean;
}

/**
 * Insatiable: claims pressure with everything it has active, and keeps claiming it for
 * `insatiableAfterMs` after being grown.
 */
export function greed(
  prev: { greedySinceMs: number; grownSinceGreedy: boolean },
  claimsPressure: boolean,
  activeBytes: number,
  totalBytes: number,
  grown: boolean,
  nowMs: number,
  trustEveryone: boolean,
  out: Greed = { greedySinceMs: Number.NaN, grownSinceGreedy: false, insatiable: false },
): Greed {
  const greedy = claimsPressure && activeBytes >= 0.97 * totalBytes;
  if (!greedy) {
    out.greedySinceMs = Number.NaN;
    out.grownSinceGreedy = false;
    out.insatiable = false;
    return out;
  }
  const was = !Number.isNaN(prev.greedySinceMs);
  const since = was ? prev.greedySinceMs : nowMs;
  const grownSince = prev.grownSinceGreedy || (was && grown);
  out.greedySinceMs = since;
  out.grownSinceGreedy = grownSince;
  out.insatiable = !trustEveryone && grownSince && nowMs - since >= BALLAST.insatiableAfterMs;
  return out;
}
