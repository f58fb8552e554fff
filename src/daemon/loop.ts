/**
 * The control loop: observe the host through a Backend, let the policy decide, apply the
 * targets. One `Controller` owns the schedule (when the next round is due, the policy's
 * own interval or the one it asks for in `nextIntervalMs`, a policy switch taking effect
 * with the new policy's interval), and every caller uses it: the daemon on a timer, the
 * policy benchmark and the tests in virtual time through `driveSim`.
 */
import {
  type Backend,
  type BackendDomain,
  type BackendResult,
  toObservation,
} from "../backends/backend.js";
import type { SimBackend } from "../backends/sim/backend.js";
import type { Decision, Observation } from "../model/observation.js";
import type { GuestSettings } from "../model/settings.js";
import type { Policy } from "../policy/policy.js";
import { formatSize } from "../units/index.js";
import { fistpoint } from "./fistpoints.js";

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
  /** The policy asked for its next round after this many ms (PolicyResult.nextIntervalMs). */
  nextIntervalMs?: number;
}

export interface TargetIntent {
  name: string;
  fromBytes: number;
  targetBytes: number;
  /** Why: the policy's reason, or who asked. */
  reason: string;
  /** `decision` for a policy's, `event` for an operator's or a restore. */
  kind: "decision" | "event";
  /** The history row's type: the policy's name, `operator-mem-set`, `restore`... */
  type: string;
  force: boolean;
  /** An operator's target: the policy leaves the guest at it. */
  pin: boolean;
}

/**
 * Where targets are written down before they are applied and settled after (the
 * daemon's store): a daemon killed between the two finds the intent when it starts
 * again and applies it, so no decision is lost and no target is left half-applied.
 */
export interface TargetJournal {
  begin(t: TargetIntent): number;
  settle(id: number, r: BackendResult): void;
}

/** The daemon's guard on a round's targets. */
export interface RoundGuard {
  /** A pinned guest keeps the operator's target: the policy's decisions for it are dropped. */
  isPinned(name: string): boolean;
  journal: TargetJournal;
}

/** Write a target down, apply it, settle it: the only way the daemon moves a balloon. */
export async function applyTarget(
  backend: Backend,
  journal: TargetJournal,
  t: TargetIntent,
): Promise<BackendResult> {
  const id = journal.begin(t);
  fistpoint("after-journal");
  let r: BackendResult;
  try {
    r = await backend.setTarget(t.name, t.targetBytes, { force: t.force });
  } catch (e) {
    r = { ok: false, code: "backend-error", message: `${t.name}: ${(e as Error).message}` };
  }
  fistpoint("after-apply");
  journal.settle(id, r);
  return r;
}

/**
 * Decide and apply. Policies set targets with force: each policy carries its own idea
 * of how low a guest may go (ours: the floor), and the anchors run as their authors
 * wrote them. With a guard (the daemon), pinned guests are left alone and every target
 * is journaled before it is applied.
 */
export async function runRound<S>(
  backend: Backend,
  policy: Policy<S>,
  state: S,
  obs: Observation,
  guard?: RoundGuard,
): Promise<RoundResult<S>> {
  const r = policy.decide(obs, state);
  const applied: AppliedDecision[] = [];
  for (const d of r.decisions) {
    const g = obs.guests.find((x) => x.name === d.name);
    if (!g) continue;
    if (guard?.isPinned(d.name)) continue;
    // Field by field: a decision's reason may be a getter, formatted when read (ballast's
    // is), which spreading the decision would leave behind.
    const res = guard
      ? await applyTarget(backend, guard.journal, {
          name: d.name,
          targetBytes: d.targetBytes,
          reason: d.reason,
          fromBytes: g.targetBytes,
          kind: "decision",
          type: policy.name,
          force: true,
          pin: false,
        })
      : await backend.setTarget(d.name, d.targetBytes, { force: true });
    applied.push({
      name: d.name,
      targetBytes: d.targetBytes,
      reason: d.reason,
      fromBytes: g.targetBytes,
      ok: res.ok,
      message: res.message,
    });
  }
  const out: RoundResult<S> = { state: r.state, applied };
  if (r.nextIntervalMs !== undefined) out.nextIntervalMs = r.nextIntervalMs;
  return out;
}

export interface ControllerOptions {
  backend: Backend;
  policy: Policy<unknown>;
  /** Decision interval, ms, for every policy; null: each policy's own `intervalMs`. */
  intervalMs?: number | null;
  /** Settings per domain (the daemon's store over the backend's configuration). */
  settings: (d: BackendDomain) => GuestSettings;
  /** Memory promised to domains about to start, offered to the policy as reserved. */
  reservedBytes: () => number;
  /** The daemon's pins and target journal (none in the bench and the tests). */
  guard?: RoundGuard;
  /** The daemon's own observation (pinned guests shown at their pin); default `observe`. */
  observe?: (nowMs: number) => Promise<Observation>;
}

/** What one round did, for the caller to log or count. */
export interface ControllerRound {
  obs: Observation;
  policy: string;
  applied: AppliedDecision[];
  /** When the next round is due (backend time, ms). */
  nextDueMs: number;
  /** Wall time the round took, ms (the loop-duration metric). */
  durationMs: number;
}

/**
 * The schedule and state of one policy over one backend. Rounds run when `due(now)`;
 * after a round the next is due after the policy's `nextIntervalMs` when it gave one,
 * else after the interval. `setPolicy` makes the new policy due at once, so it starts
 * with its own interval rather than the old policy's timer.
 */
export class Controller {
  private policyNow: Policy<unknown>;
  private state: unknown;
  private nextDue = 0;
  /** Called whenever the next due time moves (the daemon re-arms its timer). */
  onReschedule: (() => void) | null = null;

  constructor(private readonly opts: ControllerOptions) {
    this.policyNow = opts.policy;
    this.state = opts.policy.initialState();
  }

  get policy(): Policy<unknown> {
    return this.policyNow;
  }

  /** The interval rounds run at unless the policy asks for sooner. */
  get intervalMs(): number {
    return this.opts.intervalMs ?? this.policyNow.intervalMs;
  }

  /** When the next round is due (backend time, ms). */
  get nextDueMs(): number {
    return this.nextDue;
  }

  due(nowMs: number): boolean {
    return nowMs >= this.nextDue;
  }

  /** Switch policy: fresh state, and a round due at once at `nowMs`. */
  setPolicy(p: Policy<unknown>, nowMs: number): void {
    this.policyNow = p;
    this.state = p.initialState();
    this.nextDue = nowMs;
    this.onReschedule?.();
  }

  /** Observe, decide, apply; schedule the next round. */
  async round(nowMs: number): Promise<ControllerRound> {
    const policy = this.policyNow;
    const started = performance.now();
    const obs = this.opts.observe
      ? await this.opts.observe(nowMs)
      : await observe(this.opts.backend, nowMs, this.opts.settings, this.opts.reservedBytes());
    const r = await runRound(this.opts.backend, policy, this.state, obs, this.opts.guard);
    // A policy switched while this round was awaiting keeps its fresh state and schedule.
    const done = { obs, policy: policy.name, applied: r.applied };
    // A policy switched while this round was awaiting keeps its fresh state and schedule.
    if (policy === this.policyNow) {
      this.state = r.state;
      this.nextDue = obs.nowMs + (r.nextIntervalMs ?? this.intervalMs);
      this.onReschedule?.();
    }
    return { ...done, nextDueMs: this.nextDue, durationMs: performance.now() - started };
  }

  /** A round if one is due at `nowMs`, else null. */
  async tick(nowMs: number): Promise<ControllerRound | null> {
    return this.due(nowMs) ? this.round(nowMs) : null;
  }
}

/**
 * Drive a simulated host for `ms` of virtual time, tick by tick: a round whenever one is
 * due, then the tick. `afterTick` sees the world after every tick and may stop the run
 * early by returning false (the benchmark stops a run once it has failed); it gets the
 * round run before the tick, if any. Returns false when stopped early.
 */
export async function driveSim(
  ctrl: Controller,
  sim: SimBackend,
  ms: number,
  afterTick?: (round: ControllerRound | null) => boolean | void,
): Promise<boolean> {
  const world = sim.world;
  const until = world.nowMs + ms;
  while (world.nowMs + world.tickMs <= until) {
    const r = ctrl.due(world.nowMs) ? await ctrl.round(world.nowMs) : null;
    world.step();
    if (afterTick && afterTick(r) === false) return false;
  }
  return true;
}
