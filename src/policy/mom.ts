/**
 * `mom`: oVirt MOM's default balloon policy (mom-balloon.policy, "Auto-Balloon").
 *
 * Source: the rules file VDSM installs as /etc/vdsm/mom.d balloon policy. Every
 * policy interval (10 s, MOM's policy-engine default):
 * - host_free_percent = host free / host available memory;
 * - below pressure_threshold (20%) every guest shrinks: it keeps its used memory
 *   (balloon_cur - mem_unused, averaged) plus guest_free_percent of its size, where
 *   guest_free_percent = min_guest_free_percent (20%) scaled down by host pressure, or
 *   -5% + host_free_percent when pressure is critical (<= 5%: "force guest to swap");
 *   each step shrinks by at most max_balloon_change_percent (5%) of the current size;
 * - otherwise every ballooned guest grows by 5% per step, to at least used + 20% of
 *   its max, never above balloon_max;
 * - changes smaller than min_balloon_change_percent (0.25%) of the current size are
 *   skipped.
 * Guest statistics are averaged over the last samples (MOM's StatAvg, 10 samples).
 *
 * Mapping: balloon_cur = actual, balloon_max = settings.max, mem_unused = the guest's
 * reported free memory. MOM has no minimum of its own.
 */
import type { Decision } from "../model/observation.js";
import { formatSize } from "../units/index.js";
import { mibFloor, type Policy } from "./policy.js";

export const MOM = {
  pressureThreshold: 0.2,
  pressureCritical: 0.05,
  minGuestFreePercent: 0.2,
  maxBalloonChangePercent: 0.05,
  minBalloonChangePercent: 0.0025,
  statWindow: 10,
};

interface MomState {
  /** Recent samples per guest: [balloon_cur, mem_unused]. */
  samples: Record<string, Array<[number, number]>>;
}

function avg(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

export const momPolicy: Policy<MomState> = {
  name: "mom",
  summary:
    "oVirt MOM balloon policy: shrink all guests by up to 5% per step below 20% host free, else grow 5%",
  intervalMs: 10_000,
  initialState: () => ({ samples: {} }),
  decide(obs, state) {
    const samples: MomState["samples"] = {};
    const decisions: Decision[] = [];
    const hostFree = obs.host.freeBytes / Math.max(1, obs.host.totalBytes);
    for (const g of obs.guests) {
      const unused = g.stats?.free_bytes;
      const prev = state.samples[g.name] ?? [];
      const window =
        unused === undefined
          ? prev
          : [...prev, [g.actualBytes, unused] as [number, number]].slice(-MOM.statWindow);
      samples[g.name] = window;
      if (!g.balloonable || window.length === 0) continue;
      const cur = g.actualBytes;
      const used = avg(window.map((s) => s[0])) - avg(window.map((s) => s[1]));
      const big = (v: number) => Math.abs(v - cur) > MOM.minBalloonChangePercent * cur;
      if (hostFree < MOM.pressureThreshold) {
        const guestFree =
          hostFree <= MOM.pressureCritical
            ? -0.05 + hostFree
            : MOM.minGuestFreePercent * (hostFree / MOM.pressureThreshold);
        const balloonMin = used + guestFree * cur;
        let size = cur * (1 - MOM.maxBalloonChangePercent);
        if (size < balloonMin) size = balloonMin;
        if (size <= cur && big(size)) {
          decisions.push({
            name: g.name,
            targetBytes: mibFloor(size),
            reason: `host free ${(hostFree * 100).toFixed(1)}% < 20%: shrink, keep used ${formatSize(used)} + ${(guestFree * 100).toFixed(1)}% free`,
          });
        }
      } else if (cur < g.settings.maxBytes) {
        const balloonMin = used + MOM.minGuestFreePercent * g.settings.maxBytes;
        let size = cur * (1 + MOM.maxBalloonChangePercent);
        if (size > g.settings.maxBytes) size = g.settings.maxBytes;
        if (size < balloonMin) size = balloonMin;
        if (big(size)) {
          decisions.push({
            name: g.name,
            targetBytes: mibFloor(Math.min(size, g.settings.maxBytes)),
            reason: `host free ${(hostFree * 100).toFixed(1)}% >= 20%: grow 5% towards max ${formatSize(g.settings.maxBytes)}`,
          });
        }
      }
    }
    return { decisions, state: { samples } };
  },
};
