/**
 * `mom`: oVirt MOM's balloon policy as VDSM installs it, with ballooning enabled.
 *
 * Version followed: the rules VDSM ships in static/etc/vdsm/mom.d (00-defines.policy,
 * 01-parameters.policy, 02-balloon.policy; vdsm at fd4b0df2, 2026-06-25, rules last
 * changed 2017), evaluated by MOM's policy engine (oVirt/mom at 3de1c8e6, 2025-07-07),
 * with VDSM's mom.conf (every interval 15 s, sample-history-length 10). The engine sets
 * `balloonEnabled` to True through 01-parameters when the cluster enables ballooning
 * (lib/vdsm/momIF.py setPolicyParameters); without it VDSM's rules never shrink.
 *
 * Every policy run (15 s), as 02-balloon.policy does it:
 * - host_free_percent = the average of the host's last 10 `mem_free` samples (MemFree +
 *   Buffers + Cached) / `mem_available` (MemTotal);
 * - guest_free_percent = -0.05 + host_free_percent when that is <= 5% (critical: force
 *   the guest to swap), else 0.20 * host_free_percent / 0.20;
 * - used = avg(balloon_cur) - avg(mem_unused) over the guest's last 10 samples (samples
 *   without mem_unused are left out of its average), and
 *   floor = max(balloon_min, used + guest_free_percent * balloon_cur);
 * - below 20% host free, shrink: size = max(balloon_cur * 0.95, floor), set only if
 *   it is not above balloon_cur;
 * - otherwise grow, if balloon_cur < balloon_max: size = max(balloon_cur * 1.05, floor),
 *   then min(size, balloon_max);
 * - a size is set only if it differs from balloon_cur by more than 0.25% of it;
 * - a guest without mem_unused in its latest sample gets no balloon rule;
 * - then every guest below balloon_min (the guaranteed memory) is set to it
 *   ("Balloon minimum guaranteed memory ruleset"), whatever the host's state;
 * - the Balloon controller sends int(size) KiB.
 * Arithmetic is MOM's: KiB, doubles, in the rules' order, so the targets are the same
 * to the KiB. Proven by test/anchors/mom.test.ts on situations whose expected targets
 * MOM's own engine computed from VDSM's rule files (test/fixtures/mom/).
 *
 * Mapping: balloon_cur = actual, balloon_min = settings.min (VDSM: the guaranteed
 * memory), balloon_max = settings.max, mem_unused = the guest's reported free memory,
 * host mem_free = host free, mem_available = host total. Guests without a working
 * balloon are left out (VDSM reports no balloonInfo for them).
 *
 * Still different, and why:
 * - MOM's collectors sample on their own 15 s timers; here the samples are taken when
 *   the policy runs, one per run, so the 10-sample history spans the same 150 s.
 * - MOM re-sends a target equal to the current one; Ballast skips it (it changes
 *   nothing and would only fill the decision log).
 * - VDSM's KSM, CPU and I/O tuning rules (03-05) are not modelled: Ballast balloons.
 */
import type { Decision } from "../model/observation.js";
import { formatSize, KiB } from "../units/index.js";
import type { Policy } from "./policy.js";

/** 02-balloon.policy's constants. */
export const MOM = {
  pressureThreshold: 0.2,
  pressureCritical: 0.05,
  minGuestFreePercent: 0.2,
  maxBalloonChangePercent: 0.05,
  minBalloonChangePercent: 0.0025,
  /** VDSM's mom.conf sample-history-length. */
  sampleHistoryLength: 10,
  /** VDSM's mom.conf policy-engine-interval (and every monitor interval), ms. */
  intervalMs: 15_000,
};

interface GuestSample {
  /** balloon_cur, KiB. */
  cur: number;
  /** mem_unused, KiB; null when the guest reported nothing. */
  unused: number | null;
}

export interface MomState {
  /** The host's recent mem_free samples, KiB, oldest first. */
  hostFree: number[];
  /** Each guest's recent samples, oldest first. */
  guests: Record<string, GuestSample[]>;
}

/** Entity.StatAvg: the mean of the samples that have the field. */
function statAvg(xs: Array<number | null>): number {
  const have = xs.filter((x): x is number => x !== null);
  if (have.length === 0) return 0;
  let total = 0;
  for (const x of have) total += x;
  return total / have.length;
}

const kib = (bytes: number) => Math.floor(bytes / KiB);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export const momPolicy: Policy<MomState> = {
  name: "mom",
  summary:
    "oVirt MOM balloon rules as VDSM installs them: below 20% host free shrink by up to 5% to used + a pressure-scaled free share, else grow 5%; never below the guaranteed minimum",
  intervalMs: MOM.intervalMs,
  initialState: () => ({ hostFree: [], guests: {} }),
  decide(obs, state) {
    const keep = <T>(xs: T[]) => xs.slice(-MOM.sampleHistoryLength);
    const hostFree = keep([...state.hostFree, kib(obs.host.freeBytes)]);
    const memAvailable = kib(obs.host.totalBytes);
    const hostFreePercent = statAvg(hostFree) / memAvailable;
    const guestFreePercent =
      hostFreePercent <= MOM.pressureCritical
        ? -0.05 + hostFreePercent
        : MOM.minGuestFreePercent * (hostFreePercent / MOM.pressureThreshold);
    const shrinking = hostFreePercent < MOM.pressureThreshold;
    const hostWords = `host free ${pct(hostFreePercent)} (mean of ${hostFree.length})`;

    const guests: MomState["guests"] = {};
    const decisions: Decision[] = [];
    for (const g of obs.guests) {
      if (!g.balloonable) continue;
      const free = g.stats?.free_bytes;
      const sample: GuestSample = {
        cur: kib(g.actualBytes),
        unused: free === undefined ? null : kib(free),
      };
      const samples = keep([...(state.guests[g.name] ?? []), sample]);
      guests[g.name] = samples;
      const cur = sample.cur;
      const balloonMin = kib(g.settings.minBytes);
      const balloonMax = kib(g.settings.maxBytes);
      const changeBigEnough = (v: number) => Math.abs(v - cur) > MOM.minBalloonChangePercent * cur;

      let target: number | null = null;
      let reason = "";
      if (sample.unused !== null) {
        const used = statAvg(samples.map((s) => s.cur)) - statAvg(samples.map((s) => s.unused));
        const floor = Math.max(balloonMin, used + guestFreePercent * cur);
        const floorWords = `floor ${formatSize(floor * KiB)} (used ${formatSize(used * KiB)} + ${pct(guestFreePercent)} free, guaranteed ${formatSize(balloonMin * KiB)})`;
        if (shrinking) {
          let size = cur * (1 - MOM.maxBalloonChangePercent);
          if (size < floor) size = floor;
          if (size <= cur && changeBigEnough(size)) {
            target = size;
            reason = `${hostWords} < 20%: shrink by up to 5%, ${floorWords}`;
          }
        } else if (cur < balloonMax) {
          let size = cur * (1 + MOM.maxBalloonChangePercent);
          if (size < floor) size = floor;
          if (size > balloonMax) size = balloonMax;
          if (changeBigEnough(size)) {
            target = size;
            reason = `${hostWords} >= 20%: grow by 5% or to the ${floorWords}, at most ${formatSize(balloonMax * KiB)}`;
          }
        }
      }
      if (cur < balloonMin) {
        target = balloonMin;
        reason = `below its guaranteed ${formatSize(balloonMin * KiB)}`;
      }
      if (target === null) continue;
      // The Balloon controller: int(target) KiB.
      const targetBytes = Math.trunc(target) * KiB;
      if (targetBytes === g.targetBytes) continue;
      decisions.push({ name: g.name, targetBytes, reason });
    }
    return { decisions, state: { hostFree, guests } };
  },
};
