/**
 * `ballast`'s constants, its fault switches, and the per-guest memory it keeps between
 * rounds. Every step of `decide` (trust, need, headroom, fit) reads its numbers here.
 */
import { MiB } from "../../units/index.js";

export const BALLAST = {
  intervalMs: 1000,
  /** Host memory kept free beyond reservations and starts, so a burst is served at once. */
  hostReserveFraction: 0.005,
  hostReserveMin: 64 * MiB,
  /** Host memory never handed out (rounding, the toolstack's own). */
  hostSlack: 16 * MiB,

  /** Pressure signs (need.ts). PSI some avg10 above this is a sign of shortage. */
  shortPsi: 0,
  spikePsi: 5,
  shortFaultsPerS: 50,
  spikeFaultsPerS: 2000,
  shortSwapInPerS: 1 * MiB,
  /** What a short guest gets at once on top of what it has: the most of these. */
  raiseMin: 64 * MiB,
  raiseFraction: 0.05,
  /** ... and on a spike, this share of what it has. */
  spikeRaiseFraction: 0.25,
  /** A raise is held this long before the guest may be asked to give it back. */
  holdMs: 60_000,
  /** A short guest is raised again no sooner than this after its last raise. */
  reRaiseMs: 2000,

  /** Headroom (headroom.ts): growth is measured over these windows ... */
  shortWindowMs: 5000,
  longWindowMs: 30_000,
  /** ... a ramp (the long window) counting for this share: the loop follows a ramp ... */
  longWindowWeight: 0.25,
  /** ... from the guest's low point over this window ... */
  lowWindowMs: 300_000,
  /** ... the largest seen is held this long, then halves every growthHalfLifeMs ... */
  growthHoldMs: 900_000,
  growthHalfLifeMs: 3_600_000,
  /** ... growth in a guest's first moments (boot, first allocations) is not counted ... */
  warmupMs: 30_000,
  /** ... and a guest is learned after this long; before, it gets the default. */
  learnMs: 120_000,
  /** Default headroom for a guest not yet learned: this share of its boot memory. */
  defaultHeadroomFraction: 0.1,
  /** The least headroom a learned guest keeps: the most of these. */
  minHeadroom: 16 * MiB,
  minHeadroomFraction: 0.01,

  /**
   * Decide: above a guest's keep, while the host's own ask is met, a move smaller than
   * the least of these is not made (no balloon operation, no log line, for a few MiB).
   */
  smallStep: 16 * MiB,
  smallStepFraction: 0.01,

  /** Trust (trust.ts). */
  insatiableAfterMs: 30_000,
  staleAfterMs: 30_000,
};

/**
 * Named fault switches, as squeezed's fistpoints: each turns one safety rule off, so a
 * test can show that without it a scenario goes wrong.
 */
export type BallastFistpoint =
  /** Targets may go below the guest's floor (its settings' min is the only bound). */
  | "ignore-floor"
  /** Every guest's statistics are believed, however implausible or insatiable. */
  | "trust-everyone"
  /** Pressure is ignored: a short guest is not raised. */
  | "ignore-pressure"
  /** No headroom: guests are sized to what they use now, learned or not. */
  | "no-headroom"
  /** Reclaim everything that can be taken, not just what the host needs. */
  | "reclaim-all"
  /** A booting guest is sized as any other, not left what it was started with. */
  | "no-boot-keep"
  /** A first-touch host keeps nothing free for its guests to grow into. */
  | "no-shared-headroom"
  /** A first-touch host is treated as Xen: every target costs all of itself. */
  | "charge-targets";

/** Demand samples for the headroom windows: fixed-size rings, reused round after round. */
export interface DemandHistory {
  /** Recent samples (time ms, bytes) for the short window. */
  recentT: Float64Array;
  recentV: Float64Array;
  recentNext: number;
  /** Minimum per bucket (start ms, bytes) for the long window. */
  bucketT: Float64Array;
  bucketV: Float64Array;
  bucketNext: number;
}

export const RECENT_SLOTS = 8;
/** Buckets of 10 s: enough for the low window (5 min) and then some. */
export const BUCKET_SLOTS = 32;
export const BUCKET_MS = 10_000;

/** Why a guest got its target this round, formatted only when a decision is made. */
export interface Why {
  untrusted: string | null;
  raised: boolean;
  spike: boolean;
  psi: number;
  faults: number;
  belowLow: boolean;
  insatiable: boolean;
  learned: boolean;
  floor: number;
  use: number;
  headroom: number;
  /** Cold anonymous memory swap can take (not in `use`). */
  cold: number;
  /** First-touch host: what the host backs for it (0 elsewhere). */
  backed: number;
}

/** What `ballast` remembers about one guest. Mutable: reused from round to round. */
export interface GuestMemo {
  /** When the guest was first seen (ms). */
  firstSeenMs: number;
  /**
   * A guest that started while the policy was running is booting until then (ms; 0:
   * it was running before): it keeps what it was started with, and is charged it.
   */
  bootUntilMs: number;
  /** The round it was last seen in (a guest not seen is forgotten). */
  seenRound: number;
  /**
   * Stats timestamp, major faults and swap-ins at the last sample (rates); NaN: none
   * yet. (Numbers, never null: a field that always holds a number is updated in place,
   * a thousand guests a second without garbage.)
   */
  lastTs: number;
  lastMajorFaults: number;
  lastSwapIn: number;
  /** When its stats last moved on (stale after BALLAST.staleAfterMs). */
  lastFreshMs: number;
  /** PSI some avg10 at the last round: a rise is a new stall. */
  lastPsi: number;
  /** The largest growth seen (bytes), and when it was last seen that large. */
  learnedGrowth: number;
  learnedAtMs: number;
  history: DemandHistory;
  /** Was it short at the last round (a pressure episode going on)? */
  wasShort: boolean;
  /** The raise given for pressure: target held until `pressUntilMs`. */
  pressBytes: number;
  pressUntilMs: number;
  raisedAtMs: number;
  /** Since when it has claimed to use everything it has under pressure (NaN: not). */
  greedySinceMs: number;
  grownSinceGreedy: boolean;
  /** This round's explanation (overwritten every round). */
  why: Why;
}

export interface BallastState {
  memo: Map<string, GuestMemo>;
  round: number;
  /**
   * A first-touch host's own headroom: the most its guests have grown by at once (the
   * sum of their growths in one round), remembered as a guest's largest growth is.
   */
  pool: { learnedGrowth: number; learnedAtMs: number };
}

/**
 * Zero as a double (-0, which equals 0 in every comparison and sum): a number field that
 * starts as a small integer and later holds a fraction or a large byte count changes its
 * representation, and every round's optimized code that read it is thrown away once.
 */
export const ZERO = -0;

export function newMemo(nowMs: number): GuestMemo {
  return {
    firstSeenMs: nowMs + ZERO,
    bootUntilMs: ZERO,
    seenRound: 0,
    lastTs: Number.NaN,
    lastMajorFaults: Number.NaN,
    lastSwapIn: Number.NaN,
    lastFreshMs: nowMs + ZERO,
    lastPsi: ZERO,
    learnedGrowth: ZERO,
    learnedAtMs: nowMs + ZERO,
    history: {
      recentT: new Float64Array(RECENT_SLOTS).fill(-Infinity),
      recentV: new Float64Array(RECENT_SLOTS),
      recentNext: 0,
      bucketT: new Float64Array(BUCKET_SLOTS).fill(-Infinity),
      bucketV: new Float64Array(BUCKET_SLOTS),
      bucketNext: 0,
    },
    wasShort: false,
    pressBytes: ZERO,
    pressUntilMs: ZERO,
    raisedAtMs: -Infinity,
    greedySinceMs: Number.NaN,
    grownSinceGreedy: false,
    why: {
      untrusted: null,
      raised: false,
      spike: false,
      psi: ZERO,
      faults: ZERO,
      belowLow: false,
      insatiable: false,
      learned: false,
      floor: ZERO,
      use: ZERO,
      headroom: ZERO,
      cold: ZERO,
      backed: ZERO,
    },
  };
}
