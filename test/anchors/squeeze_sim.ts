/**
 * squeezed's own test bench, ported: the simulated guests and the `simulate` driver of
 * xen-api's ocaml/squeezed/test/squeeze_test.ml (at e2ee48d6, 2026-08-21), with
 * Ballast's squeezed policy in the place of Squeeze.change_host_free_memory. Everything
 * in KiB, time in tenths of a second (squeeze_test's clock: every `wait` is 0.1 s),
 * float arithmetic in squeeze_test's order so that the guests move exactly as there.
 */
import type { Observation } from "../../src/model/observation.js";
import {
  makeSqueezedPolicy,
  poseRequest,
  type SqueezedFistpoint,
  type SqueezedState,
  type SqueezeOutcome,
  type SqueezeRequestSpec,
} from "../../src/policy/squeezed.js";
import { GiB, KiB } from "../../src/units/index.js";

/** squeeze.ml's `domain`, KiB. */
export interface SimDomain {
  domid: number;
  canBalloon: boolean;
  dynamicMin: number;
  target: number;
  dynamicMax: number;
  actual: number;
  memoryMax: number;
  inaccuracy: number;
}

/** squeeze.ml's domain_make, argument for argument. */
export function domainMake(
  domid: number,
  canBalloon: boolean,
  dynamicMin: number,
  target: number,
  dynamicMax: number,
  actual: number,
  memoryMax: number,
  inaccuracy: number,
): SimDomain {
  return { domid, canBalloon, dynamicMin, target, dynamicMax, actual, memoryMax, inaccuracy };
}

/** The simulated balloon drivers of squeeze_test.ml. */
export type Behaviour =
  /** idealised_vm: responds at `rate` KiB per unit time. */
  | { kind: "ideal"; rate: number }
  /** idealised_vm_with_limit: cannot go below a hidden `minimum`. */
  | { kind: "lower"; rate: number; minimum: number }
  /** idealised_vm_with_upper_limit: fails to allocate above `limit`. */
  | { kind: "upper"; rate: number; limit: number }
  /** stuck_vm: its balloon driver has completely failed. */
  | { kind: "stuck" }
  /** intermittently_stuck_vm: stuck for `interval` s every `interval` s. */
  | { kind: "intermittent"; rate: number; interval: number };

/** compute_memory_actual_delta: towards the target, stopping at the inaccuracy. */
function memoryActualDelta(d: SimDomain, rate: number, time: number): number {
  const maxChange = Math.trunc(time * rate);
  const vector = d.actual > d.target ? -1 : 1;
  const distance = (d.target - d.actual) * vector;
  const distance1 = Math.max(0, distance - d.inaccuracy);
  return Math.min(distance1, maxChange) * vector;
}

export class SimVm {
  domain: SimDomain;
  private timeOfLastUpdate = 0;
  constructor(
    domain: SimDomain,
    readonly behaviour: Behaviour,
  ) {
    this.domain = { ...domain };
  }

  get name(): string {
    return `d${this.domain.domid}`;
  }

  setTarget(t: number): void {
    if (t > this.domain.memoryMax)
      throw new Error(
        `Target set above max_mem domid ${this.domain.domid}; max_mem = ${this.domain.memoryMax}; target = ${t}`,
      );
    this.domain.target = t;
  }

  setMaxmem(m: number): void {
    if (this.domain.target > m)
      throw new Error(
        `mem_max set below target domid ${this.domain.domid}; max_mem = ${m}; target = ${this.domain.target}`,
      );
    this.domain.memoryMax = m;
  }

  private delta(timePassed: number): number {
    const b = this.behaviour;
    const d = this.domain;
    switch (b.kind) {
      case "ideal":
        return memoryActualDelta(d, b.rate, timePassed);
      case "lower": {
        const delta = memoryActualDelta(d, b.rate, timePassed);
        const proposed = d.actual + delta;
        return proposed > d.actual || proposed > b.minimum ? delta : b.minimum - d.actual;
      }
      case "upper": {
        const delta = memoryActualDelta(d, b.rate, timePassed);
        const proposed = d.actual + delta;
        return proposed < b.limit ? delta : b.limit - d.actual;
      }
      case "stuck":
        return 0;
      case "intermittent": {
        const notStuck = (t: number) => Math.trunc(t / b.interval) % 2 === 0;
        const useful =
          notStuck(this.timeOfLastUpdate) && notStuck(this.timeOfLastUpdate + timePassed)
            ? timePassed
            : 0;
        return memoryActualDelta(d, b.rate, useful);
      }
    }
  }

  /** vm#update: move memory_actual; a guest can never take more than is free. */
  update(hostFree: number, time: number): number {
    const delta = this.delta(time - this.timeOfLastUpdate);
    if (delta > hostFree)
      throw new Error(
        `Attempted to allocate more than host_free_mem domid = ${this.domain.domid}; delta = ${delta}; free = ${hostFree}`,
      );
    this.domain.actual += delta;
    this.timeOfLastUpdate = time;
    return delta;
  }
}

export interface Scenario {
  name: string;
  description: string;
  shouldSucceed: boolean;
  domains: Array<[SimDomain, Behaviour]>;
  hostFreeMemKiB: number;
  requiredMemKiB: number;
  fistpoints: SqueezedFistpoint[];
}

/** squeeze_test's simulated host, observed as Ballast's policies observe one. */
export class SimHost {
  readonly vms: SimVm[];
  free: number;
  i = 0;
  constructor(s: Scenario) {
    this.vms = s.domains.map(([d, b]) => new SimVm(d, b));
    this.free = s.hostFreeMemKiB;
  }
  /** gettimeofday: i / 10 s. */
  get time(): number {
    return this.i / 10;
  }
  observe(): Observation {
    return {
      nowMs: this.i * 100,
      host: { totalBytes: 64 * GiB, freeBytes: this.free * KiB, reserveBytes: 0 },
      reservedBytes: 0,
      guests: this.vms.map((v) => ({
        name: v.name,
        memoryBytes: v.domain.actual * KiB,
        maxmemBytes: v.domain.memoryMax * KiB,
        targetBytes: v.domain.target * KiB,
        actualBytes: v.domain.actual * KiB,
        hostRssBytes: null,
        stats: null,
        settings: {
          minBytes: v.domain.dynamicMin * KiB,
          maxBytes: v.domain.dynamicMax * KiB,
          weight: 100,
          bufferPct: 20,
        },
        balloonable: v.domain.canBalloon,
      })),
    };
  }
  /** execute_action (and setmaxmem, which squeeze_test routes through it). */
  executeAction(name: string, newTarget: number): void {
    const v = this.vms.find((x) => x.name === name);
    if (!v) throw new Error(`no domain ${name}`);
    if (newTarget > v.domain.memoryMax) {
      v.setMaxmem(newTarget);
      v.setTarget(newTarget);
    } else {
      v.setTarget(newTarget);
      v.setMaxmem(newTarget);
    }
  }
  /** wait: one tick of 0.1 s, the balloons move and host free memory follows. */
  wait(): void {
    this.i++;
    const t = this.time;
    for (const v of this.vms) this.free -= v.update(this.free, t);
  }
  /** verify_memory_is_guaranteed_free. */
  verifyMemoryIsGuaranteedFree(kib: number): void {
    const total = this.vms.reduce(
      (n, v) => n + (v.domain.target + v.domain.inaccuracy - v.domain.actual),
      0,
    );
    if (this.free - total < kib)
      throw new Error(
        `Memory not guaranteed free: free_mem = ${this.free}; total guests could take = ${total}; required free = ${kib}`,
      );
  }
}

/** What a run did: the outcome of each request, the iterations, and any failure. */
export interface SimRun {
  ok: boolean;
  error: string | null;
  outcomes: SqueezeOutcome[];
  host: SimHost;
}

/**
 * squeeze_test's `simulate`: free the required memory (phase 1), check it is
 * guaranteed free, use 500 KiB of it (phase 2), give the rest back with a request
 * that succeeds at <= 32 KiB free (phase 3), check again. Each request is posed to
 * the policy and served by calling it once per iteration, as change_host_free_memory
 * loops, the guests moving 0.1 s between iterations.
 */
export function simulate(s: Scenario): SimRun {
  const host = new SimHost(s);
  const inaccuracy = new Map(host.vms.map((v) => [v.name, v.domain.inaccuracy * KiB]));
  const policy = makeSqueezedPolicy({
    // squeeze_test's io: target_host_free_mem_kib = the scenario's required memory.
    freeTargetBytes: s.requiredMemKiB * KiB,
    inaccuracyBytes: (n) => inaccuracy.get(n) ?? 0,
    fistpoints: s.fistpoints,
  });
  let state: SqueezedState = policy.initialState();
  const outcomes: SqueezeOutcome[] = [];
  const serve = (spec: SqueezeRequestSpec) => {
    state = poseRequest(state, spec);
    for (let n = 0; n < 100_000; n++) {
      const r = policy.decide(host.observe(), state);
      state = r.state;
      for (const d of r.decisions) host.executeAction(d.name, d.targetBytes / KiB);
      if (!state.request && state.queued.length === 0) {
        const o = state.outcome!;
        outcomes.push(o);
        if (o.result !== "Success") throw new Error(`${o.result}: ${JSON.stringify(o)}`);
        return;
      }
      host.wait();
    }
    throw new Error("request never ended");
  };
  try {
    serve({
      label: "phase 1",
      requiredKiB: s.requiredMemKiB,
      success: { op: ">=", kib: s.requiredMemKiB },
    });
    host.verifyMemoryIsGuaranteedFree(s.requiredMemKiB);
    host.free -= 500;
    serve({ label: "phase 3", requiredKiB: 0, success: { op: "<", kib: 33 } });
    host.verifyMemoryIsGuaranteedFree(0);
    return { ok: true, error: null, outcomes, host };
  } catch (e) {
    return { ok: false, error: (e as Error).message, outcomes, host };
  }
}
