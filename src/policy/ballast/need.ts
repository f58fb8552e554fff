/**
 * Step 2 of `ballast`'s decide: NEED. What does this guest use, how low may it go, and
 * is it short right now?
 *
 * In: a trusted guest's observation and what was remembered of it. Out: its floor, its
 * use, its pressure signs, and the raise pressure asks for (with what to remember).
 *
 * What it does:
 * - Floor: src/model/floor.ts (working set, kernel and struct pages, unevictable, low
 *   watermark), within the guest's settings. Nothing ever goes below it.
 * - Use: what the guest holds that is not cheap to take: actual less free memory less
 *   inactive page cache less cold anonymous memory swap can take (inactive anon, up to
 *   free swap), plus its high watermark (below it kswapd wakes). Taking a guest down to
 *   its use takes free memory and cold clean cache, the pages the balloon driver takes
 *   without swapping (GFP_NORETRY), and cold anonymous pages that kswapd writes to swap
 *   as the balloon takes free memory, with no task waiting for them (as TMO's senpai
 *   offloads cold memory: pages that are touched again come back as major faults, which
 *   are pressure, answered within an interval). The cold part is kept while the host has
 *   room (in the guest's comfort), taken only when the host asks for memory.
 * - Short: any sign of shortage (PSI some avg10 above 0, free under the low watermark
 *   with no cold cache for kswapd to take back, major faults or swap-ins above a
 *   trickle); a spike is PSI some >= 5% or a fault storm. As Meta's senpai reads PSI for
 *   cgroups and oVirt MOM reads free memory.
 * - Pressure raise: the first round a guest is short, it is given memory at once: the
 *   most of 64 MiB and 5% of what it has (25% on a spike), on top of what it has, held
 *   for 60 s. It is raised again while short only when the last raise has
 *   arrived, 2 s have passed, and the shortage is new (PSI rising, faults, free under the
 *   low watermark), so a PSI average that decays over a minute does not raise it again.
 * What it does not: decide whether the host can afford the raise (fit.ts).
 */
import { floorBytes } from "../../model/floor.js";
import type { GuestObservation } from "../../model/observation.js";
import type { GuestStats } from "../../model/stats.js";
import { watermarks } from "../../model/watermarks.js";
import { MiB, PAGE_SIZE } from "../../units/index.js";
import { clamp } from "../policy.js";
import { BALLAST, type GuestMemo, ZERO } from "./params.js";

export interface Need {
  /** Never below this: the floor within [min, max]. */
  floorBytes: number;
  /** What it holds that is not cheap to take, plus its high watermark. */
  useBytes: number;
  /**
   * Cold anonymous memory it holds that swap can take (inactive anon, up to free swap):
   * not in `useBytes`; kswapd writes it out when the balloon takes the memory, with no
   * task waiting, as TMO's senpai offloads cold memory.
   */
  coldBytes: number;
  short: boolean;
  spike: boolean;
  psi: number;
  faultsPerS: number;
  /** Free under the low watermark, with no cold cache to mend it (kswapd cannot help). */
  belowLow: boolean;
}

export interface NeedOptions {
  ignoreFloor: boolean;
  ignorePressure: boolean;
}

export function newNeed(): Need {
  return {
    floorBytes: ZERO,
    useBytes: ZERO,
    coldBytes: ZERO,
    short: false,
    spike: false,
    psi: ZERO,
    faultsPerS: ZERO,
    belowLow: false,
  };
}

/**
 * Floor, use and pressure signs from one round's statistics, written to `out` (the
 * policy reuses one: no garbage per guest) and returned.
 */
export function need(
  g: GuestObservation,
  s: GuestStats,
  memo: GuestMemo,
  opts: NeedOptions,
  out: Need = newNeed(),
): Need {
  const minB = g.settings.minBytes;
  const maxB = Math.min(g.settings.maxBytes, g.maxmemBytes);
  const total = s.total_bytes ?? 0;
  const free = s.free_bytes ?? 0;
  const floor = opts.ignoreFloor ? minB : clamp(floorBytes(s, g.actualBytes) ?? minB, minB, maxB);
  const wm = watermarks(Math.floor(total / PAGE_SIZE));
  const swapFree = s.swap_free_bytes ?? s.swap_total_bytes ?? 0;
  const cold = Math.min(s.inactive_anon_bytes ?? 0, swapFree);
  const use =
    Math.max(0, g.actualBytes - free - (s.inactive_file_bytes ?? 0) - cold) + wm.high * PAGE_SIZE;
  const dt = s.timestamp_s > memo.lastTs ? s.timestamp_s - memo.lastTs : 0;
  const faultsPerS =
    dt > 0 && !Number.isNaN(memo.lastMajorFaults)
      ? ((s.major_faults ?? 0) - memo.lastMajorFaults) / dt
      : 0;
  const swapInPerS =
    dt > 0 && !Number.isNaN(memo.lastSwapIn) ? ((s.swap_in_bytes ?? 0) - memo.lastSwapIn) / dt : 0;
  const psi = s.psi_some_avg10 ?? 0;
  // Free under the low watermark is a shortage when kswapd has no cold cache to take
  // back the gap to the high watermark with; otherwise the guest mends it itself.
  const belowLow =
    free < wm.low * PAGE_SIZE && (s.inactive_file_bytes ?? 0) < wm.high * PAGE_SIZE - free;
  const heed = !opts.ignorePressure;
  const spike = heed && (psi >= BALLAST.spikePsi || faultsPerS >= BALLAST.spikeFaultsPerS);
  const short =
    heed &&
    (psi > BALLAST.shortPsi ||
      belowLow ||
      faultsPerS >= BALLAST.shortFaultsPerS ||
      swapInPerS >= BALLAST.shortSwapInPerS);
  out.floorBytes = floor;
  out.useBytes = use;
  out.coldBytes = cold;
  out.short = short;
  out.spike = spike;
  out.psi = psi;
  out.faultsPerS = faultsPerS;
  out.belowLow = belowLow;
  return out;
}

export interface Press {
  /** Target pressure asks for (0: none). */
  pressBytes: number;
  pressUntilMs: number;
  raisedAtMs: number;
  /** Raised this round. */
  raised: boolean;
}

/** The raise pressure asks for this round, from the need and the last raise (to `out`). */
export function press(
  g: GuestObservation,
  n: Need,
  memo: GuestMemo,
  nowMs: number,
  heldBack: boolean,
  out: Press = { pressBytes: 0, pressUntilMs: 0, raisedAtMs: 0, raised: false },
): Press {
  const held = nowMs < memo.pressUntilMs ? memo.pressBytes : 0;
  out.pressBytes = held;
  out.pressUntilMs = held ? memo.pressUntilMs : 0;
  out.raisedAtMs = memo.raisedAtMs;
  out.raised = false;
  if (!n.short || heldBack) return out;
  const has = Math.max(g.targetBytes, g.actualBytes);
  const fresh = !memo.wasShort;
  const delivered = g.actualBytes >= memo.pressBytes - MiB;
  const renewed =
    delivered &&
    nowMs - memo.raisedAtMs >= BALLAST.reRaiseMs &&
    (n.psi > memo.lastPsi || n.faultsPerS >= BALLAST.shortFaultsPerS || n.belowLow || n.spike);
  if (!fresh && !renewed) return out;
  const raise = Math.max(
    BALLAST.raiseMin,
    g.actualBytes * (n.spike ? BALLAST.spikeRaiseFraction : BALLAST.raiseFraction),
  );
  out.pressBytes = has + raise;
  out.pressUntilMs = nowMs + BALLAST.holdMs;
  out.raisedAtMs = nowMs;
  out.raised = true;
  return out;
}
