/**
 * The one controller loop (src/daemon/loop.ts) the daemon, the bench and the tests use:
 * rounds when due, at the policy's interval or sooner when it asks (nextIntervalMs), and
 * a policy switch taking effect at once with the new policy's interval, in virtual time
 * (the simulator) and on a real backend's timer.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, mock } from "node:test";
import type { Backend, BackendDomain, HostInfo } from "../src/backends/backend.js";
import { SimBackend, settingsFor } from "../src/backends/sim/backend.js";
import { Daemon } from "../src/daemon/daemon.js";
import {
  Controller,
  decisionLine,
  driveSim,
  runRound,
  type TargetIntent,
} from "../src/daemon/loop.js";
import { ballastPolicy } from "../src/policy/ballast/index.js";
import { Store } from "../src/daemon/store.js";
import type { Policy } from "../src/policy/policy.js";
import { parseScenario } from "../src/sim/scenario.js";
import { World } from "../src/sim/world.js";
import { GiB } from "../src/units/index.js";
import { repoPath } from "./helpers.js";

/** A policy that decides nothing and records when it was asked. */
function recorder(
  name: string,
  intervalMs: number,
  sooner?: (nowMs: number) => number | undefined,
): Policy<null> & { at: number[] } {
  const at: number[] = [];
  return {
    name,
    summary: "records its rounds",
    intervalMs,
    at,
    initialState: () => null,
    decide(obs) {
      at.push(obs.nowMs);
      const next = sooner?.(obs.nowMs);
      return next === undefined
        ? { decisions: [], state: null }
        : { decisions: [], state: null, nextIntervalMs: next };
    },
  };
}

function simHost(): SimBackend {
  const yaml = `
duration: 1h
host: { memory: 8GiB }
domains:
  - { name: a, memory: 1GiB }
`;
  return new SimBackend(new World(parseScenario(yaml, "loop.yaml", repoPath("test"))));
}

function controller(sim: SimBackend, policy: Policy<unknown>) {
  return new Controller({ backend: sim, policy, settings: settingsFor, reservedBytes: () => 0 });
}

describe("a round with the daemon's guard", () => {
  it("journals each target with the policy's reason (a getter on ballast's decisions)", async () => {
    // Room to grow into: ballast hands it out, and says so.
    const yaml =
      "duration: 1h\nhost: { memory: 8GiB }\ndomains: [{ name: a, memory: 1GiB, maxmem: 2GiB }]\n";
    const sim = new SimBackend(new World(parseScenario(yaml, "grow.yaml", repoPath("test"))));
    const obs = sim.observe(settingsFor, 0);
    const intents: TargetIntent[] = [];
    const journal = {
      begin: (t: TargetIntent) => intents.push(t),
      settle: () => {},
    };
    const r = await runRound(sim, ballastPolicy, ballastPolicy.initialState(), obs, {
      isPinned: () => false,
      journal,
    });
    assert.ok(r.applied.length > 0, "ballast decided something");
    assert.equal(intents.length, r.applied.length);
    intents.forEach((t, i) => {
      assert.equal(typeof t.reason, "string");
      assert.equal(t.reason, r.applied[i]!.reason);
      assert.match(decisionLine(t), /^a: .* -> .*: [a-z]/);
    });
  });
});

describe("controller loop in virtual time", () => {
  it("runs a round every interval", async () => {
    const sim = simHost();
    const p = recorder("slow", 2000);
    await driveSim(controller(sim, p as Policy<unknown>), sim, 7000);
    assert.deepEqual(p.at, [0, 2000, 4000, 6000]);
  });

  it("honours nextIntervalMs: sooner while the policy asks, then its interval", async () => {
    const sim = simHost();
    // As squeezed: every 10 s, but every second while it is serving a request (here
    // its first three rounds).
    const p = recorder("squeezed-like", 10_000, (t) => (t < 3000 ? 1000 : undefined));
    await driveSim(controller(sim, p as Policy<unknown>), sim, 25_000);
    assert.deepEqual(p.at, [0, 1000, 2000, 3000, 13_000, 23_000]);
  });

  it("a policy switch takes effect at once, then with the new policy's interval", async () => {
    const sim = simHost();
    const old = recorder("old", 10_000);
    const fresh = recorder("new", 1000);
    const ctrl = controller(sim, old as Policy<unknown>);
    await driveSim(ctrl, sim, 3000);
    ctrl.setPolicy(fresh as Policy<unknown>, sim.nowMs);
    await driveSim(ctrl, sim, 3000);
    assert.deepEqual(old.at, [0]);
    assert.deepEqual(fresh.at, [3000, 4000, 5000]);
    assert.equal(ctrl.intervalMs, 1000);
  });

  it("an interval set for every policy wins over each policy's own", async () => {
    const sim = simHost();
    const p = recorder("own", 10_000);
    const ctrl = new Controller({
      backend: sim,
      policy: p as Policy<unknown>,
      intervalMs: 2500,
      settings: settingsFor,
      reservedBytes: () => 0,
    });
    await driveSim(ctrl, sim, 6000);
    assert.deepEqual(p.at, [0, 2500, 5000]);
  });

  it("stops early when asked after a tick", async () => {
    const sim = simHost();
    const ctrl = controller(sim, recorder("p", 1000) as Policy<unknown>);
    const done = await driveSim(ctrl, sim, 10_000, () => sim.nowMs < 2000);
    assert.equal(done, false);
    assert.equal(sim.nowMs, 2000);
  });
});

/** A real-looking backend (not the simulator): one guest, wall time, counts its rounds. */
class FakeBackend implements Backend {
  readonly kind = "fake";
  rounds = 0;
  async host(): Promise<HostInfo> {
    this.rounds++;
    return { totalBytes: 8 * GiB, freeBytes: 4 * GiB, reserveBytes: 0 };
  }
  async domains(): Promise<BackendDomain[]> {
    return [
      {
        name: "a",
        id: 1,
        state: "running",
        memoryBytes: 2 * GiB,
        maxmemBytes: 2 * GiB,
        targetBytes: 2 * GiB,
        actualBytes: 2 * GiB,
        balloonable: true,
      },
    ];
  }
  async stats() {
    return null;
  }
  async setTarget() {
    return { ok: true, message: "ok" };
  }
  async setMax() {
    return { ok: true, message: "ok" };
  }
  events() {
    return { events: [], next: 0, missed: 0 };
  }
  async close() {}
}

describe("stopping the daemon", () => {
  const dir = mkdtempSync(join(tmpdir(), "ballast-stop-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("waits for a round in flight: the target it is applying is settled, nothing left pending", async () => {
    let applying!: () => void;
    let release!: () => void;
    const inRound = new Promise<void>((r) => (applying = r));
    class Slow extends FakeBackend {
      slow = false;
      override async setTarget() {
        if (this.slow) {
          applying();
          await new Promise<void>((r) => (release = r));
        }
        return { ok: true, message: "ok" };
      }
    }
    const backend = new Slow();
    const store = new Store(join(dir, "state"));
    const daemon = new Daemon({
      backend,
      store,
      policy: "none",
      intervalMs: 50,
      speed: 1,
      log: () => {},
    });
    // An operator's pin the backend does not show (it keeps saying 2 GiB): the next
    // round puts it back, and that apply is slow.
    assert.ok((await daemon.setTarget("a", 1 * GiB, false, false)).ok);
    backend.slow = true;
    daemon.start();
    await inRound;
    let stopped = false;
    const stopping = daemon.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(stopped, false, "stop() returned while a target was being applied");
    release();
    await stopping;
    assert.deepEqual(store.pending(), []);
    store.close();
  });
});

describe("the daemon's timer on a real backend", () => {
  const dir = mkdtempSync(join(tmpdir(), "ballast-loop-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs at the policy's interval, and a switch re-arms it with the new one", async () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
    const settle = () => new Promise((r) => setImmediate(r));
    const backend = new FakeBackend();
    const store = new Store(join(dir, "state"));
    const daemon = new Daemon({
      backend,
      store,
      policy: "squeezed",
      intervalMs: null,
      speed: 1,
      log: () => {},
    });
    try {
      daemon.start();
      const tick = async (ms: number) => {
        for (let t = 0; t < ms; t += 100) {
          mock.timers.tick(100);
          await settle();
        }
      };
      await tick(100);
      assert.equal(backend.rounds, 1, "a round at once");
      await tick(9000);
      assert.equal(backend.rounds, 1, "squeezed: nothing more within its 10 s");
      daemon.setPolicy("ballast");
      await tick(100);
      assert.equal(backend.rounds, 2, "the new policy at once, not at the old timer");
      await tick(3000);
      assert.equal(backend.rounds, 5, "then every second");
      assert.equal(daemon.intervalMs, 1000);
    } finally {
      void daemon.stop();
      store.close();
      mock.timers.reset();
    }
  });
});
