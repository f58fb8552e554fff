/**
 * One round of the control loop: observe the host through a Backend, let the policy
 * decide, apply the targets, and log every decision with its reason. The daemon calls
 * it on a timer; the policy benchmark calls it in virtual time.
 */
import { type Backend, type BackendDomain, toObservation } from "../backends/backend.js";
import type { Decision, Observation } from "../model/observation.js";
import type { GuestSettings } from "../model/settings.js";
import type { Policy } from "../policy/policy.js";
import { formatSize } from "../units/index.js";

export interface AppliedDecision extends Decision {
  fromBytes: number;
  ok: boolean;
  message: string;
}

export async function observe(
  backend: Backend,
  nowMs: number,
  settings: (d: BackendDomain) => GuestSettings,
  reservedBytes: number,
): Promise<Observation> {
  const [host, domains] = await Promise.all([backend.host(), backend.domains()]);
  const running = domains.filter((d) => d.state === "running");
  const stats = await Promise.all(running.map((d) => backend.stats(d.name)));
  return toObservation(nowMs, host, running, stats, settings, reservedBytes);
}

/** The log line for a decision: `web: 3.00 GiB -> 2.60 GiB: idle, psi 0.00, ...`. */
export function decisionLine(d: {
  name: string;
  fromBytes: number;
  targetBytes: number;
  reason: string;
}): string {
  return `${d.name}: ${formatSize(d.fromBytes)} -> ${formatSize(d.targetBytes)}: ${d.reason}`;
}

export interface RoundResult<S> {
  state: S;
  applied: AppliedDecision[];
}

/**
 * Decide and apply. Policies set targets with force: each policy carries its own idea
 * of how low a guest may go (ours: the floor), and the anchors run as their authors
 * wrote them.
 */
export async function runRound<S>(
  backend: Backend,
  policy: Policy<S>,
  state: S,
  obs: Observation,
): Promise<RoundResult<S>> {
  const { decisions, state: next } = policy.decide(obs, state);
  const applied: AppliedDecision[] = [];
  for (const d of decisions) {
    const g = obs.guests.find((x) => x.name === d.name);
    if (!g) continue;
    const r = await backend.setTarget(d.name, d.targetBytes, { force: true });
    applied.push({ ...d, fromBytes: g.targetBytes, ok: r.ok, message: r.message });
  }
  return { state: next, applied };
}
