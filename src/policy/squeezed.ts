/**
 * `squeezed`: XenServer's squeezed, the proportional policy of xen-api's squeeze.ml.
 *
 * Version followed: xen-api at e2ee48d6 (2026-08-21), whose ocaml/squeezed last changed
 * in 0c3aaca7 (2026-02-04): lib/squeeze.ml (Stuckness_monitor, Proportional,
 * Squeezer.one_iteration, change_host_free_memory, balance_memory,
 * is_host_memory_unbalanced) and src/squeeze_xen.ml (the host view, the targets, the
 * constants). Proven by test/anchors/squeezed.test.ts: test/squeeze_test.ml's
 * scenarios a-h with its simulated guests, driven through this policy.
 *
 * What it does ("a simple 'proportional memory' policy where VMs are squeezed equally
 * to free memory. There is no direct attempt to respond to distress or memory pressure
 * information from within the guest."), all in KiB as squeezed counts:
 * - Requests. Every 10 s (balance-check-interval) squeezed asks whether the host is
 *   unbalanced (one iteration with no domain stuck would set a new target); if so it
 *   serves a balance request: aim for host free = target_host_free_mem_kib, succeed
 *   when free - that < 512 KiB (free_memory_tolerance_kib). A domain about to start
 *   (a reservation) is a request to free its size + the host target, succeeding when
 *   free >= that. A request is served by iterating once a second (`wait 1.`, here
 *   `nextIntervalMs`) until it ends in Success, Cannot_free_this_much_memory (nobody
 *   to blame: the dynamic_mins are too high) or Domains_refused_to_cooperate (the
 *   stuck domains); the outcome is kept in the state and said in the reasons.
 * - Stuckness starts fresh with every request (a new Squeezer per request): a domain
 *   with a target to reach (|actual - target| > its inaccuracy) that has not moved
 *   towards it for more than 5 s is stuck (src/model/stall.ts, SQUEEZED_STALL) and
 *   left out until it moves again.
 * - One iteration: surplus = host free + sum over active domains of
 *   max(0, actual - dynamic_min - 2 x inaccuracy) - the request's target; gamma =
 *   surplus / sum(dynamic_max - dynamic_min), clamped to [0, 1]; every active domain's
 *   target = dynamic_min + int(gamma x range). Two phases: while any new target frees
 *   memory (below actual, not within the inaccuracy) only those freeing targets are
 *   sent; the others only once nothing is left to free. The request ends when every
 *   active domain has reached its target and no target changes.
 * - A domain newly declared stuck gets target (and in Xen maxmem) = min(target,
 *   actual), kept within [dynamic_min, dynamic_max] (CA-41832), so that if it wakes up
 *   it cannot take memory squeezed counted as free.
 * - Domain-0 is left alone (squeezed.conf: manage-domain-zero=false).
 * - The host target is 64 MiB (low_mem_emergency_pool, Xen's low_mem_virq_limit,
 *   CA-423173, January 2026) + 8 MiB (extra_mem_to_keep) = 72 MiB; before that commit
 *   it was 1 + 8 = 9 MiB, selectable as `squeezed:free-target=9MiB`.
 *
 * Fistpoints (as squeeze.ml's, for its tests): DisableTwoPhaseTargetSets sends every
 * target at once; DisableInaccuracyCompensation counts actual - dynamic_min as
 * freeable.
 *
 * Mapping: dynamic_min = settings.min, dynamic_max = settings.max, target and
 * memory_actual as observed, can_balloon = balloonable, inaccuracy = 4 KiB per domain
 * (squeeze_xen.ml), host free = host free - reservations squeezed has already served.
 *
 * Still different, and why:
 * - Ballast's decisions set targets only; squeezed also sets maxmem = target with every
 *   target (and on stuck domains). The simulated and real balloons here never take
 *   more than their target, so the target clip alone keeps a woken-up domain out of
 *   free memory; a guest that allocated on its own above target would not be stopped.
 * - squeezed serves a reservation the moment the API call arrives; here it is seen at
 *   the next policy round (at most 10 s later, 1 s while a request is being served).
 * - A reservation squeezed could not free memory for fails the VM start in XenServer;
 *   Ballast's reservation stays (the daemon's API keeps it until deleted) and is
 *   counted as reserved from then on, with the failure in the state and reasons.
 * - Requests are served one at a time (squeezed's big_server_mutex): a reservation
 *   that arrives during a balance waits for it to end.
 * - make_host's bookkeeping for domains still being built (initial-reservation,
 *   memory offsets, scrub pages) has no counterpart: Ballast observes running domains.
 */
import type { Decision, GuestObservation, Observation } from "../model/observation.js";
import { SQUEEZED_STALL, type StallEntry, type StallState, watchOne } from "../model/stall.js";
import { formatSize, KiB, MiB } from "../units/index.js";
import type { Policy, PolicyResult } from "./policy.js";

/** squeeze_xen.ml: low_mem_emergency_pool (64 MiB since CA-423173) + extra_mem_to_keep. */
export const SQUEEZED_FREE_TARGET = 64 * MiB + 8 * MiB;
/** The host target before CA-423173 (xen-api before 4275f76a, 2026-01-27): 1 + 8 MiB. */
export const SQUEEZED_FREE_TARGET_BEFORE_2026 = 1 * MiB + 8 * MiB;
/** squeeze_xen.ml: free_memory_tolerance_kib, "No need to be too exact". */
export const SQUEEZED_TOLERANCE = 512 * KiB;
/** squeeze_xen.ml: every domain's inaccuracy_kib. */
export const SQUEEZED_INACCURACY = 4 * KiB;
/** squeezed.conf: balance-check-interval. */
export const BALANCE_CHECK_INTERVAL_MS = 10_000;
/** change_host_free_memory: `io.wait 1.` between iterations while serving a request. */
export const REQUEST_LOOP_MS = 1000;
/** Xen's name for domain 0; squeezed leaves it alone unless manage-domain-zero. */
const DOM0 = "Domain-0";

export type SqueezedFistpoint = "DisableTwoPhaseTargetSets" | "DisableInaccuracyCompensation";

export interface SqueezedOptions {
  /** target_host_free_mem_kib, bytes. */
  freeTargetBytes: number;
  /** free_memory_tolerance_kib, bytes. */
  toleranceBytes: number;
  /** Each domain's inaccuracy_kib, bytes (squeeze_xen: 4 KiB for all). */
  inaccuracyBytes: (name: string) => number;
  fistpoints: readonly SqueezedFistpoint[];
  /** Policy name (the spec it was made from, e.g. `squeezed:free-target=9MiB`). */
  name: string;
}

/** What a request must reach: host free (KiB) >= or < a value. */
export type SqueezeSuccess = { op: ">="; kib: number } | { op: "<"; kib: number };

export interface SqueezeRequestSpec {
  /** In words, for reasons: "balance", "reservation of 1 GiB". */
  label: string;
  /** required_mem_kib: the host free memory this request aims for. */
  requiredKiB: number;
  success: SqueezeSuccess;
  /** Reservation bytes squeezed counts as reserved once this request ends. */
  reservesBytes?: number;
}

export interface SqueezeRequest extends SqueezeRequestSpec {
  startedMs: number;
  iterations: number;
  /** The request's Stuckness_monitor (fresh per request). */
  stall: StallState;
  /** Squeezer.non_active_domains. */
  nonActive: string[];
}

/** How change_host_free_memory ends: Success, or the exception it raises. */
export type SqueezeResult =
  | { result: "Success" }
  | { result: "Cannot_free_this_much_memory"; neededKiB: number; freeKiB: number }
  | { result: "Domains_refused_to_cooperate"; domains: string[] };

export type SqueezeOutcome = SqueezeResult & {
  label: string;
  atMs: number;
  iterations: number;
};

export interface SqueezedState {
  /** The request being served, if any. */
  request: SqueezeRequest | null;
  /** Requests waiting their turn (posed by `poseRequest`). */
  queued: SqueezeRequestSpec[];
  /** Reservation bytes squeezed has served and keeps out of host free memory. */
  reservedBytes: number;
  /** How the last request ended. */
  outcome: SqueezeOutcome | null;
}

/** squeeze.ml's `domain`, KiB. */
interface Domain {
  name: string;
  canBalloon: boolean;
  dynamicMin: number;
  target: number;
  dynamicMax: number;
  actual: number;
  inaccuracy: number;
}

const kib = (bytes: number) => Math.floor(bytes / KiB);
const size = (k: number) => formatSize(k * KiB);

/** direction_of_actual = None: within the inaccuracy of the target. */
function hasHitTarget(inaccuracy: number, actual: number, target: number): boolean {
  return Math.abs(actual - target) <= inaccuracy;
}

function minFreeable(d: Domain, fist: readonly SqueezedFistpoint[]): number {
  return fist.includes("DisableInaccuracyCompensation")
    ? Math.max(0, d.actual - d.dynamicMin)
    : Math.max(0, d.actual - d.dynamicMin - 2 * d.inaccuracy);
}

const range = (d: Domain) => Math.max(0, d.dynamicMax - d.dynamicMin);

/** Proportional.constrain 0. 1.: NaN (0 / 0) counts as the minimum. */
function constrain01(v: number): number {
  if (v < 0) return 0;
  if (v > 1) return 1;
  if (Number.isNaN(v)) return 0;
  return v;
}

/** Proportional.compute_target_adjustments. */
function computeTargets(
  domains: Domain[],
  freeKiB: number,
  hostTargetKiB: number,
  fist: readonly SqueezedFistpoint[],
): { gamma: number; targets: Array<[Domain, number]> } {
  const maximumFree = domains.reduce((n, d) => n + minFreeable(d, fist), freeKiB);
  const surplus = Math.max(0, maximumFree - hostTargetKiB);
  const totalRange = domains.reduce((n, d) => n + range(d), 0);
  const gamma = constrain01(surplus / totalRange);
  // Int64.of_float truncates.
  return { gamma, targets: domains.map((d) => [d, d.dynamicMin + Math.trunc(gamma * range(d))]) };
}

type Action =
  | { kind: "AdjustTargets"; targets: Array<[Domain, number]> }
  | { kind: "Success" }
  | { kind: "Failed"; blamed: string[] };

interface Iteration {
  stall: Record<string, StallEntry>;
  nonActive: string[];
  declaredInactive: Domain[];
  action: Action;
  gamma: number;
  allocationPhase: boolean;
}

/** Squeezer.one_iteration. */
function oneIteration(
  o: SqueezedOptions,
  success: SqueezeSuccess,
  stallIn: StallState,
  nonActiveIn: readonly string[],
  domains: Domain[],
  freeKiB: number,
  hostTargetKiB: number,
  nowMs: number,
): Iteration {
  const fist = o.fistpoints;
  // 1. Which domains are still active (Stuckness_monitor.update, then domid_is_active).
  const stall: Record<string, StallEntry> = {};
  for (const d of domains) {
    stall[d.name] = watchOne(
      stallIn[d.name],
      { name: d.name, targetBytes: d.target * KiB, actualBytes: d.actual * KiB },
      nowMs,
      { ...SQUEEZED_STALL, inaccuracyBytes: d.inaccuracy * KiB },
    );
  }
  const active = domains.filter((d) => d.canBalloon && !stall[d.name]!.stuck);
  const nonActive = domains.filter((d) => !active.includes(d));
  const declaredInactive = nonActive.filter((d) => !nonActiveIn.includes(d.name));
  // 2. How the targets would change.
  const { gamma, targets: all } = computeTargets(active, freeKiB, hostTargetKiB, fist);
  // Xen heap workaround: free first, allocate only once nothing is left to free.
  const freeing = all.filter(([d, t]) => !hasHitTarget(d.inaccuracy, d.actual, t) && t < d.actual);
  const allocating = all.filter((x) => !freeing.includes(x));
  const allocationPhase = freeing.length === 0;
  const targets = fist.includes("DisableTwoPhaseTargetSets")
    ? all
    : allocationPhase
      ? allocating
      : freeing;
  const allTargetsReached = active.every((d) => hasHitTarget(d.inaccuracy, d.actual, d.target));
  const noTargetChanges = targets.every(([d, t]) => d.target === t);
  const ok = success.op === ">=" ? freeKiB >= success.kib : freeKiB < success.kib;
  const action: Action =
    !allTargetsReached || !noTargetChanges
      ? { kind: "AdjustTargets", targets }
      : ok
        ? { kind: "Success" }
        : { kind: "Failed", blamed: nonActive.filter((d) => d.canBalloon).map((d) => d.name) };
  return {
    stall,
    nonActive: nonActive.map((d) => d.name),
    declaredInactive,
    action,
    gamma,
    allocationPhase,
  };
}

/** The host as squeezed sees it (squeeze_xen.make_host), KiB. */
function hostView(
  obs: Observation,
  o: SqueezedOptions,
  reservedBytes: number,
): { domains: Domain[]; freeKiB: number } {
  const domains = obs.guests
    .filter((g) => g.name !== DOM0)
    .map((g: GuestObservation): Domain => ({
      name: g.name,
      canBalloon: g.balloonable,
      dynamicMin: kib(g.settings.minBytes),
      target: kib(g.targetBytes),
      dynamicMax: kib(g.settings.maxBytes),
      actual: kib(g.actualBytes),
      inaccuracy: kib(o.inaccuracyBytes(g.name)),
    }));
  return { domains, freeKiB: kib(obs.host.freeBytes - reservedBytes) };
}

/** Pose a request (as squeezed's API would): served when the one before it has ended. */
export function poseRequest(state: SqueezedState, spec: SqueezeRequestSpec): SqueezedState {
  return { ...state, queued: [...state.queued, spec] };
}

function startRequest(spec: SqueezeRequestSpec, nowMs: number): SqueezeRequest {
  return { ...spec, startedMs: nowMs, iterations: 0, stall: {}, nonActive: [] };
}

function outcomeWords(x: SqueezeOutcome): string {
  switch (x.result) {
    case "Success":
      return `${x.label}: Success`;
    case "Cannot_free_this_much_memory":
      return `${x.label}: Cannot_free_this_much_memory (needed ${size(x.neededKiB)}, free ${size(x.freeKiB)})`;
    case "Domains_refused_to_cooperate":
      return `${x.label}: Domains_refused_to_cooperate [${x.domains.join(", ")}]`;
  }
}

export function makeSqueezedPolicy(opts: Partial<SqueezedOptions> = {}): Policy<SqueezedState> {
  const o: SqueezedOptions = {
    freeTargetBytes: SQUEEZED_FREE_TARGET,
    toleranceBytes: SQUEEZED_TOLERANCE,
    inaccuracyBytes: () => SQUEEZED_INACCURACY,
    fistpoints: [],
    name: "squeezed",
    ...opts,
  };
  const freeTargetKiB = kib(o.freeTargetBytes);
  const balanceSpec: SqueezeRequestSpec = {
    label: "balance",
    requiredKiB: freeTargetKiB,
    // is_balanced: x - target_host_free_mem_kib < free_memory_tolerance_kib
    success: { op: "<", kib: freeTargetKiB + kib(o.toleranceBytes) },
  };

  function decide(obs: Observation, state0: SqueezedState): PolicyResult<SqueezedState> {
    // Reservations deleted or used up are no longer kept free.
    let state: SqueezedState = {
      ...state0,
      reservedBytes: Math.min(state0.reservedBytes, obs.reservedBytes),
    };
    const { domains, freeKiB } = hostView(obs, o, state.reservedBytes);

    let request = state.request;
    if (!request) {
      // A request posed, then a new reservation, then the periodic balance check.
      let spec: SqueezeRequestSpec | undefined = state.queued[0];
      if (spec) {
        state = { ...state, queued: state.queued.slice(1) };
      } else if (obs.reservedBytes > state.reservedBytes) {
        const extra = obs.reservedBytes - state.reservedBytes;
        // Squeeze_xen.free_memory: required + target, succeeding at >= that.
        const required = kib(extra) + freeTargetKiB;
        spec = {
          label: `reservation of ${formatSize(extra)}`,
          requiredKiB: required,
          success: { op: ">=", kib: required },
          reservesBytes: extra,
        };
      } else {
        // is_host_memory_unbalanced: one iteration with a fresh Squeezer.
        const check = oneIteration(
          o,
          balanceSpec.success,
          {},
          [],
          domains,
          freeKiB,
          freeTargetKiB,
          obs.nowMs,
        );
        if (
          check.action.kind === "AdjustTargets" &&
          check.action.targets.some(([d, t]) => d.target !== t)
        )
          spec = balanceSpec;
      }
      if (!spec) return { decisions: [], state };
      request = startRequest(spec, obs.nowMs);
      // change_host_free_memory: done already if the memory is free and every
      // balloonable domain is on its target (not for a request of exactly the target).
      const onTarget = domains
        .filter((d) => d.canBalloon)
        .every((d) => hasHitTarget(d.inaccuracy, d.actual, d.target));
      if (spec.requiredKiB !== freeTargetKiB && spec.requiredKiB <= freeKiB && onTarget) {
        return { decisions: [], state: finish(state, request, { result: "Success" }, obs.nowMs) };
      }
    }

    const it = oneIteration(
      o,
      request.success,
      request.stall,
      request.nonActive,
      domains,
      freeKiB,
      request.requiredKiB,
      obs.nowMs,
    );
    request = {
      ...request,
      stall: it.stall,
      nonActive: it.nonActive,
      iterations: request.iterations + 1,
    };
    const aim = `host free ${size(freeKiB)}, aiming for ${size(request.requiredKiB)}`;
    const decisions: Decision[] = [];
    // A domain just declared inactive: target within [dynamic_min, dynamic_max] of
    // min(target, actual), so it may free memory but not take any (CA-41832).
    for (const d of it.declaredInactive) {
      if (!d.canBalloon) continue;
      const t = Math.min(d.dynamicMax, Math.max(d.dynamicMin, Math.min(d.target, d.actual)));
      if (t === d.target) continue;
      decisions.push({
        name: d.name,
        targetBytes: t * KiB,
        reason: `${request.label}: no progress for 5 s, declared inactive: target clipped to min(target, actual) so it cannot take memory counted as free; ${aim}`,
      });
    }
    if (it.action.kind === "AdjustTargets") {
      const phase = it.allocationPhase ? "allocation phase" : "freeing phase";
      for (const [d, t] of it.action.targets) {
        if (t === d.target) continue;
        decisions.push({
          name: d.name,
          targetBytes: t * KiB,
          reason: `${request.label}: ${phase}, gamma ${it.gamma.toFixed(3)} of [dynamic_min, dynamic_max]; ${aim}`,
        });
      }
      return { decisions, state: { ...state, request }, nextIntervalMs: REQUEST_LOOP_MS };
    }
    // Failed []: nobody to blame, the dynamic_mins are too high.
    let outcome: SqueezeResult;
    if (it.action.kind === "Success") outcome = { result: "Success" };
    else if (it.action.blamed.length === 0)
      outcome = {
        result: "Cannot_free_this_much_memory",
        neededKiB: request.requiredKiB,
        freeKiB,
      };
    else outcome = { result: "Domains_refused_to_cooperate", domains: it.action.blamed };
    const next = finish(state, request, outcome, obs.nowMs);
    const words = outcomeWords(next.outcome!);
    for (const d of decisions) d.reason = `${d.reason}; ${words}`;
    return { decisions, state: next };
  }

  return {
    name: o.name,
    summary: `XenServer squeezed: equal (target-min)/(max-min) for all domains, host free kept at reservations + ${formatSize(o.freeTargetBytes)}, freeing before allocating, stuck domains left out`,
    intervalMs: BALANCE_CHECK_INTERVAL_MS,
    initialState: () => ({ request: null, queued: [], reservedBytes: 0, outcome: null }),
    decide,
  };
}

function finish(
  state: SqueezedState,
  request: SqueezeRequest,
  outcome: SqueezeResult,
  nowMs: number,
): SqueezedState {
  return {
    ...state,
    request: null,
    reservedBytes: state.reservedBytes + (request.reservesBytes ?? 0),
    outcome: {
      ...outcome,
      label: request.label,
      atMs: nowMs,
      iterations: request.iterations,
    },
  };
}

export const squeezedPolicy = makeSqueezedPolicy();
