/**
 * `squeezed`: XenServer's squeezed, the proportional policy of xen-api's squeeze.ml.
 *
 * Source: ocaml/squeezed (squeeze.ml, module Proportional and Squeezer.one_iteration).
 * What it does: keeps the host's free memory at a target (what reservations for new
 * domains need plus a small slack), and divides all other memory between running
 * domains so that every domain has the same fraction
 *   gamma = (target - dynamic_min) / (dynamic_max - dynamic_min),
 * i.e. surplus = host free + sum(actual - dynamic_min) - host target, gamma = surplus
 * / sum(range), clamped to [0, 1]. What it does not: "no direct attempt to respond to
 * distress or memory pressure information from within the guest". Stuck domains are
 * observed and worked around: a domain whose actual has not moved towards its target
 * for 5 s (Stuckness_monitor.assume_balloon_driver_stuck_after) is left out. Targets
 * are set in two phases: domains that free memory first; growth only from memory
 * already free (so free memory never goes negative).
 *
 * Mapping: dynamic_min = settings.min, dynamic_max = settings.max.
 */
import type { Decision } from "../model/observation.js";
import { formatSize, MiB } from "../units/index.js";
import { mibFloor, type Policy } from "./policy.js";

export const STUCK_AFTER_MS = 5000;
/** Slack squeezed aims to keep free beyond reservations (its logs: "aiming for 9216 KiB"). */
export const SQUEEZED_SLACK = 9 * MiB;
/** squeezed's inaccuracy allowance: a target within this of actual counts as hit. */
const INACCURACY = 4 * MiB;

interface StuckState {
  lastActual: number;
  lastProgressMs: number;
}

export interface SqueezedState {
  stuck: Record<string, StuckState>;
}

export const squeezedPolicy: Policy<SqueezedState> = {
  name: "squeezed",
  summary:
    "XenServer squeezed: equal (target-min)/(max-min) for all domains, host free kept at reservations",
  intervalMs: 10_000,
  initialState: () => ({ stuck: {} }),
  decide(obs, state) {
    const stuck: SqueezedState["stuck"] = {};
    const active = obs.guests.filter((g) => {
      if (!g.balloonable) return false;
      const prev = state.stuck[g.name];
      const off = Math.abs(g.actualBytes - g.targetBytes) > INACCURACY;
      const moved = prev
        ? Math.abs(g.actualBytes - g.targetBytes) < Math.abs(prev.lastActual - g.targetBytes)
        : true;
      const lastProgressMs = !prev || moved || !off ? obs.nowMs : prev.lastProgressMs;
      stuck[g.name] = { lastActual: g.actualBytes, lastProgressMs };
      return !(off && obs.nowMs - lastProgressMs > STUCK_AFTER_MS);
    });
    const hostTarget = obs.reservedBytes + SQUEEZED_SLACK;
    const freeable = active.reduce(
      (n, g) => n + Math.max(0, g.actualBytes - g.settings.minBytes),
      0,
    );
    const totalRange = active.reduce(
      (n, g) => n + Math.max(0, g.settings.maxBytes - g.settings.minBytes),
      0,
    );
    const surplus = Math.max(0, obs.host.freeBytes + freeable - hostTarget);
    const gamma = totalRange === 0 ? 0 : Math.min(1, Math.max(0, surplus / totalRange));
    // Two phases: decreases always; increases only out of memory free now.
    let spendable = Math.max(0, obs.host.freeBytes - hostTarget);
    const decisions: Decision[] = [];
    const wanted = active.map((g) => ({
      g,
      t: mibFloor(
        g.settings.minBytes + gamma * Math.max(0, g.settings.maxBytes - g.settings.minBytes),
      ),
    }));
    for (const { g, t } of wanted) {
      if (t < g.targetBytes) {
        decisions.push({
          name: g.name,
          targetBytes: t,
          reason: `gamma ${gamma.toFixed(3)}: free memory (host target ${formatSize(hostTarget)})`,
        });
      }
    }
    for (const { g, t } of wanted) {
      if (t <= g.targetBytes) continue;
      const grow = Math.min(
        t - g.targetBytes,
        Math.max(0, spendable - Math.max(0, g.targetBytes - g.actualBytes)),
      );
      if (grow <= 0) continue;
      const target = mibFloor(g.targetBytes + grow);
      if (target <= g.targetBytes) continue;
      spendable -= target - g.targetBytes;
      decisions.push({
        name: g.name,
        targetBytes: target,
        reason: `gamma ${gamma.toFixed(3)}: allocate from free memory`,
      });
    }
    return { decisions, state: { stuck } };
  },
};
