/**
 * `ballast`: our policy. Guests get what they need, measured by pressure, and the rest
 * of the host's memory stays free for new guests.
 *
 * What it does, every second:
 * - Reads pressure: PSI some avg10, the major-fault rate and the swap-in rate.
 * - Finds each guest's need by probing down carefully, as Meta's senpai does for
 *   cgroups: after watching a new guest for 5 minutes (taking what it was first seen
 *   with as its demand, buffer on top, so its first peaks find memory), while the
 *   guest shows no pressure its need estimate shrinks by 2% a step;
 *   at the first sign of stall (PSI some >= 0.5%, or major faults / swap-ins above a
 *   trickle) it stops, raises the need by 5% and holds for 60 s.
 * - Probes only into memory the guest gives cheaply (free above its high watermark,
 *   clean cache): it never makes the balloon force a guest to swap.
 * - Counts cold cache that sits in a spiky guest's headroom on top of its want: a
 *   return to the peak must find free memory, not cache to reclaim first.
 * - Deflates immediately when pressure spikes (PSI some >= 5%, or a fault storm): the
 *   need jumps 25% above what the guest has now.
 * - Remembers each guest's peak demand (its floor at the busiest moment) for 15 minutes,
 *   then lets it halve every 15 minutes, so recurring spikes find their memory waiting.
 * - Keeps every guest at or above its floor (src/model/floor.ts) and its `buffer` of
 *   headroom: want = max(floor, need, peak) * (1 + buffer%), within [min, max].
 * - Leaves spare memory free on the host. Only when wants do not fit does it split:
 *   first every guest gets min(floor, weighted share), then floors above the share by
 *   weight, then wants by weight (water-filling).
 * - Trusts no guest: stats that are implausible (negative, more than the guest has,
 *   free above total, PSI outside 0-100 or full above some, counters going backwards,
 *   stale) make the guest untrusted: its target is not moved on its word, and under
 *   contention it is held to its weighted share. A guest that claims to use all it is
 *   given (active >= 97% of total) while claiming pressure for 30 s after being grown is
 *   "insatiable" and gets nothing above its share under contention either. So a lying
 *   guest can never push another guest below its floor.
 * What it does not do: move dom0-style guests without a balloon, or grow a guest
 *   above its max.
 */
import { computeFloor } from "../model/floor.js";
import type { Decision, GuestObservation } from "../model/observation.js";
import type { GuestStats } from "../model/stats.js";
import { watermarks } from "../model/watermarks.js";
import { formatSize, MiB, PAGE_SIZE } from "../units/index.js";
import { clamp, mibFloor, type Policy } from "./policy.js";

export const BALLAST = {
  intervalMs: 1000,
  probeStep: 0.02,
  stallPsi: 0.5,
  spikePsi: 5,
  stallFaultsPerS: 50,
  spikeFaultsPerS: 2000,
  stallSwapInPerS: 1 * MiB,
  stallRaise: 0.05,
  spikeRaise: 0.25,
  holdMs: 60_000,
  /** A guest first seen is watched this long before it is probed down. */
  learnMs: 300_000,
  /** Peak demand is held this long, then halves every peakHalfLifeMs. */
  peakHoldMs: 900_000,
  peakHalfLifeMs: 900_000,
  insatiableAfterMs: 30_000,
  staleAfterMs: 30_000,
  hostSlack: 64 * MiB,
};

interface Memo {
  need: number;
  firstSeenMs: number;
  peak: number;
  peakAtMs: number;
  holdUntilMs: number;
  lastMajorFaults: number | null;
  lastSwapIn: number | null;
  lastTs: number | null;
  lastFreshMs: number;
  /** Since when it has claimed to use everything it has under pressure (null: not). */
  greedySinceMs: number | null;
  grownSinceGreedy: boolean;
}

/**
 * Named fault switches, as squeezed's fistpoints: each turns one safety rule off, so a
 * test can show that without it a scenario goes wrong.
 */
export type BallastFistpoint =
  /** Targets may go below the guest's floor. */
  | "ignore-floor"
  /** Every guest's statistics are believed, however implausible or insatiable. */
  | "trust-everyone"
  /** Pressure spikes and stalls are ignored: probing never backs off. */
  | "ignore-pressure"
  /** Probing takes whatever it likes, not just cheap memory. */
  | "probe-anything";

export interface BallastState {
  memo: Record<string, Memo>;
}

const NUMERIC_FIELDS: Array<keyof GuestStats> = [
  "total_bytes",
  "free_bytes",
  "available_bytes",
  "file_bytes",
  "anon_bytes",
  "active_anon_bytes",
  "active_file_bytes",
  "inactive_anon_bytes",
  "inactive_file_bytes",
  "swap_in_bytes",
  "swap_out_bytes",
  "major_faults",
];

/** Why these stats cannot be true, or null when they are plausible. */
export function implausible(
  s: GuestStats | null,
  g: GuestObservation,
  memo: Memo | undefined,
): string | null {
  if (!s) return "no statistics";
  for (const k of NUMERIC_FIELDS) {
    const v = s[k];
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) return `${k} is ${v}`;
  }
  const total = s.total_bytes;
  if (total === undefined || s.free_bytes === undefined) return "no total/free";
  const slack = 4 * MiB;
  if (total > g.actualBytes + slack)
    return `claims ${formatSize(total)} but has ${formatSize(g.actualBytes)}`;
  if (s.free_bytes > total) return "free above total";
  if ((s.available_bytes ?? 0) > total) return "available above total";
  if ((s.anon_bytes ?? 0) + (s.file_bytes ?? 0) > total + slack) return "anon + file above total";
  if ((s.active_anon_bytes ?? 0) > (s.anon_bytes ?? Infinity)) return "active anon above anon";
  const psi = [s.psi_some_avg10, s.psi_full_avg10].filter((x): x is number => x !== undefined);
  if (psi.some((p) => !Number.isFinite(p) || p < 0 || p > 100)) return "PSI outside 0-100";
  if ((s.psi_full_avg10 ?? 0) > (s.psi_some_avg10 ?? 100)) return "PSI full above some";
  if (memo) {
    if (memo.lastMajorFaults !== null && (s.major_faults ?? 0) < memo.lastMajorFaults)
      return "major faults went backwards";
    if (memo.lastSwapIn !== null && (s.swap_in_bytes ?? 0) < memo.lastSwapIn)
      return "swap-in went backwards";
  }
  return null;
}

/**
 * Give `amount` to `items` in proportion to weight, each up to its cap (water-filling):
 * find the level L with sum(min(cap, L * weight)) = amount. Sorting by cap/weight makes
 * it O(n log n), which matters with a thousand guests.
 */
export function waterFill(items: Array<{ weight: number; cap: number }>, amount: number): number[] {
  const out = items.map(() => 0);
  const idx = items.map((_, i) => i).filter((i) => items[i]!.cap > 0 && items[i]!.weight > 0);
  idx.sort((a, b) => items[a]!.cap / items[a]!.weight - items[b]!.cap / items[b]!.weight);
  let left = Math.max(0, amount);
  let wLeft = idx.reduce((n, i) => n + items[i]!.weight, 0);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    const it = items[i]!;
    // If the level needed to fill this item is within what is left, it is capped.
    const level = left / wLeft;
    if (it.cap <= level * it.weight) {
      out[i] = it.cap;
      left -= it.cap;
      wLeft -= it.weight;
    } else {
      // Everything from here on gets level * weight.
      for (let j = k; j < idx.length; j++) out[idx[j]!] = level * items[idx[j]!]!.weight;
      return out;
    }
  }
  return out;
}

type WhyKind =
  "untrusted" | "spike" | "stall" | "learning" | "probing" | "nothing-cheap" | "holding";

interface Why {
  kind: WhyKind;
  psi: number;
  faults: number;
  floor: number;
  detail: string;
}

function explain(w: Why): string {
  const psi = `psi ${w.psi.toFixed(2)}`;
  const floor = `, floor ${formatSize(w.floor)}`;
  switch (w.kind) {
    case "untrusted":
      return `untrusted (${w.detail})`;
    case "spike":
      return `pressure spike (${psi}, ${Math.round(w.faults)} major faults/s): deflate now${floor}`;
    case "stall":
      return `first sign of stall (${psi}, ${Math.round(w.faults)} major faults/s): back off${floor}`;
    case "learning":
      return `learning (first ${BALLAST.learnMs / 60000} min), ${psi}${floor}`;
    case "probing":
      return `idle, ${psi}: probing down${floor}`;
    case "nothing-cheap":
      return `idle, ${psi}: nothing cheap left to take${floor}`;
    case "holding":
      return `holding after a stall, ${psi}${floor}`;
  }
}

export function makeBallastPolicy(
  opts: { fistpoints?: BallastFistpoint[] } = {},
): Policy<BallastState> {
  const fist = new Set(opts.fistpoints ?? []);
  return {
    name: "ballast",
    summary:
      "Ballast: need found by pressure-guided probing, floors and buffers kept, spare left free, weights under contention, guests untrusted",
    intervalMs: BALLAST.intervalMs,
    initialState: () => ({ memo: {} }),
    decide(obs, state) {
      const memo: BallastState["memo"] = {};
      const guests = obs.guests.filter((g) => g.balloonable);
      interface Plan {
        g: GuestObservation;
        floor: number;
        want: number;
        trusted: boolean;
        insatiable: boolean;
        /** Why, as parts formatted only when a decision is made (strings cost). */
        why: Why;
      }
      const plans: Plan[] = [];
      for (const g of guests) {
        const prev = state.memo[g.name];
        const s = g.stats;
        const fresh = !!s && (prev?.lastTs == null || (s.timestamp_s ?? 0) > prev.lastTs);
        const lastFreshMs = fresh || !prev ? obs.nowMs : prev.lastFreshMs;
        let why = fist.has("trust-everyone") ? null : implausible(s, g, prev);
        if (!why && obs.nowMs - lastFreshMs > BALLAST.staleAfterMs) why = "statistics are stale";
        const m: Memo = {
          need: prev?.need ?? g.actualBytes,
          firstSeenMs: prev?.firstSeenMs ?? obs.nowMs,
          peak: prev?.peak ?? 0,
          peakAtMs: prev?.peakAtMs ?? obs.nowMs,
          holdUntilMs: prev?.holdUntilMs ?? 0,
          lastMajorFaults: s?.major_faults ?? prev?.lastMajorFaults ?? null,
          lastSwapIn: s?.swap_in_bytes ?? prev?.lastSwapIn ?? null,
          lastTs: s?.timestamp_s ?? prev?.lastTs ?? null,
          lastFreshMs,
          greedySinceMs: prev?.greedySinceMs ?? null,
          grownSinceGreedy: prev?.grownSinceGreedy ?? false,
        };
        memo[g.name] = m;
        const minB = g.settings.minBytes;
        const maxB = Math.min(g.settings.maxBytes, g.maxmemBytes);
        if (why || !s) {
          // Not moved on its word: it stays where it is (within its settings).
          const keep = clamp(g.targetBytes, minB, maxB);
          plans.push({
            g,
            floor: minB,
            want: keep,
            trusted: false,
            insatiable: true,
            why: { kind: "untrusted", psi: 0, faults: 0, floor: minB, detail: why ?? "" },
          });
          continue;
        }
        const floorInfo = computeFloor(s, g.actualBytes);
        const floor = fist.has("ignore-floor")
          ? minB
          : clamp(floorInfo?.floorBytes ?? minB, minB, maxB);
        const dt =
          prev?.lastTs != null && s.timestamp_s > prev.lastTs ? s.timestamp_s - prev.lastTs : 0;
        const faultRate =
          dt > 0 && prev?.lastMajorFaults != null
            ? ((s.major_faults ?? 0) - prev.lastMajorFaults) / dt
            : 0;
        const swapInRate =
          dt > 0 && prev?.lastSwapIn != null ? ((s.swap_in_bytes ?? 0) - prev.lastSwapIn) / dt : 0;
        const psi = s.psi_some_avg10 ?? 0;
        const heed = !fist.has("ignore-pressure");
        const spike = heed && (psi >= BALLAST.spikePsi || faultRate >= BALLAST.spikeFaultsPerS);
        const stall =
          heed &&
          (psi >= BALLAST.stallPsi ||
            faultRate >= BALLAST.stallFaultsPerS ||
            swapInRate >= BALLAST.stallSwapInPerS);
        let kind: WhyKind;
        if (spike) {
          m.need = Math.max(m.need, g.actualBytes) * (1 + BALLAST.spikeRaise);
          m.holdUntilMs = obs.nowMs + BALLAST.holdMs;
          kind = "spike";
        } else if (stall) {
          m.need = Math.max(m.need, g.actualBytes * (1 + BALLAST.stallRaise));
          m.holdUntilMs = obs.nowMs + BALLAST.holdMs;
          kind = "stall";
        } else if (obs.nowMs - m.firstSeenMs < BALLAST.learnMs) {
          // Watching, not probing. Until it has a history, its demand is taken to be
          // what it was first seen with, and it gets its buffer on top as Hyper-V gives
          // buffer on top of demand; the estimate is held, not ratcheted on actual.
          kind = "learning";
        } else if (obs.nowMs >= m.holdUntilMs) {
          // Probe only into what the guest can give cheaply: free memory above its high
          // watermark and clean page cache. Going further would make the balloon force
          // the guest to swap, which is the stall we are trying to avoid.
          const wm = watermarks(Math.floor((s.total_bytes ?? 0) / PAGE_SIZE));
          // Leave 1% of the guest above its high watermark so that slow growth is met by
          // kswapd in the background rather than by direct reclaim.
          const keep = wm.high * PAGE_SIZE + 0.01 * (s.total_bytes ?? 0);
          const cheap = Math.max(0, (s.free_bytes ?? 0) - keep) + (s.inactive_file_bytes ?? 0);
          const step = Math.min(
            Math.min(m.need, g.actualBytes) * BALLAST.probeStep,
            fist.has("probe-anything") ? Infinity : cheap,
          );
          if (step >= MiB) {
            m.need = Math.max(floor, Math.min(m.need, g.actualBytes) - step);
            kind = "probing";
          } else {
            m.need = Math.max(floor, Math.min(m.need, g.actualBytes));
            kind = "nothing-cheap";
          }
        } else {
          kind = "holding";
        }
        m.need = clamp(m.need, floor, maxB);
        const age = obs.nowMs - m.peakAtMs;
        const decayed =
          age <= BALLAST.peakHoldMs
            ? m.peak
            : m.peak * 0.5 ** ((age - BALLAST.peakHoldMs) / BALLAST.peakHalfLifeMs);
        if (floor >= decayed) {
          m.peak = floor;
          m.peakAtMs = obs.nowMs;
        }
        const peakNow = Math.max(decayed, floor);
        // Insatiable: claims to use all it has, under pressure, even after being grown.
        const active = (s.active_anon_bytes ?? 0) + (s.active_file_bytes ?? 0);
        const greedy = stall && active >= 0.97 * (s.total_bytes ?? Infinity);
        if (!greedy) {
          m.greedySinceMs = null;
          m.grownSinceGreedy = false;
        } else if (m.greedySinceMs === null) {
          m.greedySinceMs = obs.nowMs;
        }
        if (greedy && g.targetBytes > (prev ? g.actualBytes : Infinity)) m.grownSinceGreedy = true;
        const insatiable =
          !fist.has("trust-everyone") &&
          m.greedySinceMs !== null &&
          m.grownSinceGreedy &&
          obs.nowMs - m.greedySinceMs >= BALLAST.insatiableAfterMs;
        const want = clamp(
          Math.max(floor, m.need, peakNow) * (1 + g.settings.bufferPct / 100),
          Math.max(floor, minB),
          maxB,
        );
        // Headroom for a return to the peak must be free memory: a spike into page cache
        // waits for direct reclaim (a stall). Cache sitting where that headroom should be
        // is counted on top of the want, not as headroom.
        const cache = s.inactive_file_bytes ?? 0;
        const planned = clamp(want + Math.min(cache, Math.max(0, peakNow - floor)), want, maxB);
        plans.push({
          g,
          floor,
          want: planned,
          trusted: true,
          insatiable,
          why: { kind, psi, faults: faultRate, floor, detail: "" },
        });
      }

      // Fit wants into what the host can give balloonable guests.
      const capacity = Math.max(
        0,
        obs.host.freeBytes +
          guests.reduce((n, g) => n + g.actualBytes, 0) -
          obs.reservedBytes -
          BALLAST.hostSlack,
      );
      const totalWant = plans.reduce((n, p) => n + p.want, 0);
      const targets = plans.map((p) => p.want);
      let contended = false;
      if (totalWant > capacity && plans.length > 0) {
        contended = true;
        const wsum = plans.reduce((n, p) => n + p.g.settings.weight, 0);
        const share = plans.map((p) => (capacity * p.g.settings.weight) / wsum);
        const base = plans.map((p, i) => Math.min(p.floor, share[i]!, p.want));
        let left = capacity - base.reduce((a, b) => a + b, 0);
        const fillTo = (goal: (p: Plan, i: number) => number) => {
          const items = plans.map((p, i) => ({
            weight: p.g.settings.weight,
            cap:
              p.trusted && !p.insatiable
                ? Math.max(0, goal(p, i) - base[i]!)
                : Math.max(0, Math.min(goal(p, i), share[i]!) - base[i]!),
          }));
          const got = waterFill(items, left);
          got.forEach((x, i) => {
            base[i]! += x;
            left -= x;
          });
        };
        fillTo((p) => p.floor);
        fillTo((p) => p.want);
        plans.forEach((_, i) => {
          targets[i] = base[i]!;
        });
      }

      const decisions: Decision[] = [];
      plans.forEach((p, i) => {
        const t = mibFloor(targets[i]!);
        if (Math.abs(t - p.g.targetBytes) < MiB) return;
        const m = memo[p.g.name]!;
        if (t > p.g.targetBytes && m.greedySinceMs !== null) m.grownSinceGreedy = true;
        const tag = contended
          ? `; host contended: weight ${p.g.settings.weight}${p.insatiable ? ", held to its share" : ""}`
          : "";
        decisions.push({ name: p.g.name, targetBytes: t, reason: `${explain(p.why)}${tag}` });
      });
      return { decisions, state: { memo } };
    },
  };
}

export const ballastPolicy: Policy<BallastState> = makeBallastPolicy();
