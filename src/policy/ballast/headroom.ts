/**
 * Step 3 of `ballast`'s decide: HEADROOM. How much above its use should this guest keep,
 * so that its next burst finds free memory rather than an OOM killer or a stall?
 *
 * In: the guest's use this round and its demand history. Out: its headroom (what it
 * keeps above its use now) and the learned growth to remember (the history rings are
 * updated in place: `record`).
 *
 * What it does:
 * - Growth is measured from the guest's own history: its use now less the least use
 *   seen in the last 5 s (a burst), and a quarter of that over the last 30 s (a ramp: the
 *   loop raises a short guest within an interval, so it keeps up with all but the
 *   first seconds of a ramp; a burst comes faster than any loop). The largest growth
 *   seen is remembered for 15 minutes, then halves every hour (as its peak demand is
 *   held and then decays), so a guest that bursts every few minutes keeps room for its
 *   burst between bursts.
 * - The room is kept above the guest's low point of the last 5 minutes: in the middle
 *   of a burst the guest keeps room to reach the burst's size from its low, not a second
 *   burst on top of the first.
 * - Growth in a guest's first 30 s (boot, first allocations) is not counted: it is how
 *   the guest started, not how it behaves.
 * - A guest seen for less than 2 minutes is not learned yet and gets a default: a tenth
 *   of its boot memory (or what it has learned, if more). No history foresees a first
 *   burst; this covers the modest ones, and a larger default would cost every new guest
 *   (and so VMs per host) for what most guests never do.
 * - Every guest keeps a margin of 1% of its use (16 MiB at least) on top: room for
 *   kswapd to work in the background when it is at its peak.
 * What it does not: decide whether the host can leave the guest that much (fit.ts).
 * Headroom is what a guest keeps when the host needs memory; while the host has room,
 * guests keep more (their buffer, what they have, and the host's spare memory).
 */
import { BALLAST, BUCKET_MS, BUCKET_SLOTS, type DemandHistory, RECENT_SLOTS } from "./params.js";

/** Add this round's use to the history rings (in place: they are reused every round). */
export function record(h: DemandHistory, nowMs: number, useBytes: number): void {
  h.recentT[h.recentNext] = nowMs;
  h.recentV[h.recentNext] = useBytes;
  h.recentNext = (h.recentNext + 1) % RECENT_SLOTS;
  const last = (h.bucketNext + BUCKET_SLOTS - 1) % BUCKET_SLOTS;
  const start = Math.floor(nowMs / BUCKET_MS) * BUCKET_MS;
  if (h.bucketT[last] === start) {
    if (useBytes < h.bucketV[last]!) h.bucketV[last] = useBytes;
  } else {
    h.bucketT[h.bucketNext] = start;
    h.bucketV[h.bucketNext] = useBytes;
    h.bucketNext = (h.bucketNext + 1) % BUCKET_SLOTS;
  }
}

/**
 * The least use recorded since `sinceMs` in the recent ring, or in the buckets. Every
 * slot's value is read whether or not it counts: in a guest's warm-up none counts, and
 * a read first reached after warm-up has no type feedback, so V8 throws away the
 * optimized code of this and its callers in the round a thousand guests' warm-ups end
 * (seen with --trace-deopt: "Insufficient type feedback for generic keyed access").
 */
function leastSince(t: Float64Array, v: Float64Array, sinceMs: number, fallback: number): number {
  let least = fallback;
  for (let i = 0; i < t.length; i++) {
    const x = v[i]!;
    const lower = x < least;
    if (t[i]! >= sinceMs && lower) least = x;
  }
  return least;
}

/**
 * Growth over the short and long windows, ending at `useBytes` now, counting samples
 * from `fromMs` on (the end of the guest's warm-up).
 */
export function growth(h: DemandHistory, nowMs: number, useBytes: number, fromMs = 0): number {
  const shortStart = Math.max(fromMs, nowMs - BALLAST.shortWindowMs);
  const short = useBytes - leastSince(h.recentT, h.recentV, shortStart, useBytes);
  const longStart = Math.max(
    Math.ceil(fromMs / BUCKET_MS) * BUCKET_MS,
    Math.floor((nowMs - BALLAST.longWindowMs) / BUCKET_MS) * BUCKET_MS,
  );
  const long = useBytes - leastSince(h.bucketT, h.bucketV, longStart, useBytes);
  return Math.max(0, short, long * BALLAST.longWindowWeight);
}

export interface Headroom {
  /** What it keeps above its use now. */
  headroomBytes: number;
  /** The largest growth, and when it was last seen that large (to remember). */
  learnedGrowth: number;
  learnedAtMs: number;
  learned: boolean;
  /** The growth seen now (over the windows, after the warm-up): what it is growing by. */
  growthBytes: number;
}

/**
 * The largest growth seen, held for `growthHoldMs` after it was last seen that large,
 * then halving every `growthHalfLifeMs`; `seen` is this round's (written to `out`).
 */
export function remember(
  prev: { learnedGrowth: number; learnedAtMs: number },
  seen: number,
  nowMs: number,
  out: { learnedGrowth: number; learnedAtMs: number },
): void {
  const since = Math.max(0, nowMs - prev.learnedAtMs - BALLAST.growthHoldMs);
  const remembered = prev.learnedGrowth * 0.5 ** (since / BALLAST.growthHalfLifeMs);
  const renewed = seen >= remembered && seen > 0;
  out.learnedGrowth = renewed ? seen : remembered;
  out.learnedAtMs = renewed ? nowMs : prev.learnedAtMs;
}

/**
 * Headroom from the guest's history, written to `out` (reused: no garbage) and returned.
 * `prev` is what was remembered; the history must already hold this round's use
 * (`record`).
 */
export function headroom(
  h: DemandHistory,
  useBytes: number,
  memoryBytes: number,
  prev: { learnedGrowth: number; learnedAtMs: number; firstSeenMs: number },
  nowMs: number,
  noHeadroom: boolean,
  out: Headroom = {
    headroomBytes: 0,
    learnedGrowth: 0,
    learnedAtMs: 0,
    learned: false,
    growthBytes: 0,
  },
): Headroom {
  const age = nowMs - prev.firstSeenMs;
  const warm = prev.firstSeenMs + BALLAST.warmupMs;
  // Before the warm-up ends no sample counts, and growth() finds none: 0 (computed all the
  // same, so that the round a guest's warm-up ends runs no code the rounds before did not).
  // Passed on through a field that has held fractions (read back as a double, never a
  // small integer): growth is 0 in every round of the warm-up, and code compiled for a
  // small-integer growth is thrown away the round the first guest grows.
  out.growthBytes = growth(h, nowMs, useBytes, warm);
  remember(prev, out.growthBytes, nowMs, out);
  const learnedGrowth = out.learnedGrowth;
  const learned = age >= BALLAST.learnMs;
  out.learned = learned;
  out.headroomBytes = 0;
  if (noHeadroom) return out;
  const margin = Math.max(BALLAST.minHeadroom, BALLAST.minHeadroomFraction * useBytes);
  const room = Math.max(learnedGrowth, learned ? 0 : BALLAST.defaultHeadroomFraction * memoryBytes);
  // The low point since the warm-up (boot is not a low point), over the low window.
  const lowStart = Math.max(warm, nowMs - BALLAST.lowWindowMs);
  const low = leastSince(
    h.bucketT,
    h.bucketV,
    Math.ceil(lowStart / BUCKET_MS) * BUCKET_MS,
    useBytes,
  );
  out.headroomBytes = Math.max(0, low + room - useBytes) + margin;
  return out;
}
