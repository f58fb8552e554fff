/**
 * The "no progress for 5 s" rule: a balloon that has a target to reach and has not
 * moved towards it for a while is stuck. One module for every user of the rule: the
 * backends (to report `balloon-stalled`) and the squeezed policy (to leave stuck
 * domains out, as squeezed does).
 *
 * As xen-api's squeezed (ocaml/squeezed/lib/squeeze.ml, module Stuckness_monitor):
 * - a domain first seen is making progress now and is not stuck;
 * - there is a request while |actual - target| > inaccuracy (direction_of_actual);
 * - progress is memory_actual moving towards the target since the last sample;
 * - stuck once there is a request and no progress for more than
 *   assume_balloon_driver_stuck_after = 5 s; stuck until progress is seen again;
 * - domains no longer observed are forgotten.
 *
 * Real guests wobble: a virtio-balloon that cannot get pages ("Out of puff!") moves
 * actual back and forth by a MiB or so, and every other sample would count as
 * progress. `progress: "new-best"` counts only a new closest approach to the target,
 * by more than `minStepBytes`; the backends use it. Pure: state in, state out.
 */

export const STUCK_AFTER_MS = 5000;

export interface StallOptions {
  /** No progress for longer than this with a request pending: stuck (squeezed: 5 s). */
  afterMs: number;
  /** Within this of the target counts as there (squeezed: the domain's inaccuracy). */
  inaccuracyBytes: number;
  /**
   * "towards": any move towards the target since the last sample (squeezed);
   * "new-best": a new closest approach to the target (robust against wobbles).
   */
  progress: "towards" | "new-best";
  /** A move smaller than this is not progress. */
  minStepBytes: number;
}

/** squeezed's rule, exactly. */
export const SQUEEZED_STALL: StallOptions = {
  afterMs: STUCK_AFTER_MS,
  inaccuracyBytes: 0,
  progress: "towards",
  minStepBytes: 0,
};

export interface StallEntry {
  /** The target this entry tracks; a new target starts a new episode. */
  targetBytes: number;
  /** memory_actual at the last sample. */
  lastActualBytes: number;
  /** Closest approach to the target in this episode. */
  bestDistanceBytes: number;
  /** Last time progress was seen (or the episode began). */
  lastProgressMs: number;
  stuck: boolean;
}

export type StallState = Readonly<Record<string, StallEntry>>;

export interface StallSample {
  name: string;
  targetBytes: number;
  actualBytes: number;
}

/** One domain's entry after a sample at `nowMs`. */
export function watchOne(
  prev: StallEntry | undefined,
  s: StallSample,
  nowMs: number,
  o: StallOptions,
): StallEntry {
  const distance = Math.abs(s.actualBytes - s.targetBytes);
  const request = distance > o.inaccuracyBytes;
  if (!prev || (o.progress === "new-best" && prev.targetBytes !== s.targetBytes)) {
    return {
      targetBytes: s.targetBytes,
      lastActualBytes: s.actualBytes,
      bestDistanceBytes: distance,
      lastProgressMs: nowMs,
      stuck: false,
    };
  }
  let progress: boolean;
  if (o.progress === "towards") {
    const delta = s.actualBytes - prev.lastActualBytes;
    const up = s.targetBytes > s.actualBytes;
    progress = request && (up ? delta > o.minStepBytes : -delta > o.minStepBytes);
  } else {
    progress = distance < prev.bestDistanceBytes - o.minStepBytes;
  }
  const next: StallEntry = {
    targetBytes: s.targetBytes,
    lastActualBytes: s.actualBytes,
    bestDistanceBytes: Math.min(prev.bestDistanceBytes, distance),
    lastProgressMs: progress ? nowMs : prev.lastProgressMs,
    stuck: progress ? false : prev.stuck,
  };
  if (!request && o.progress === "new-best") {
    // On target: nothing to do is not being stuck, and the clock restarts.
    next.lastProgressMs = nowMs;
    next.stuck = false;
  } else if (request && nowMs - next.lastProgressMs > o.afterMs) {
    // squeezed leaves both alone while on target: a domain idle on its target for
    // longer than 5 s that gets a new target is stuck at once unless it moves.
    next.stuck = true;
  }
  return next;
}

/** Every observed domain's entry after a snapshot; domains not in it are forgotten. */
export function watchStalls(
  prev: StallState,
  samples: readonly StallSample[],
  nowMs: number,
  o: StallOptions,
): Record<string, StallEntry> {
  const out: Record<string, StallEntry> = {};
  for (const s of samples) out[s.name] = watchOne(prev[s.name], s, nowMs, o);
  return out;
}
