/**
 * The policies on the shipped benchmark scenarios: the claims the README makes, and
 * for each of ballast's safety rules a scenario that goes wrong without it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SimBackend, settingsFor } from "../../src/backends/sim.js";
import {
  benchPolicies,
  runPolicyOnScenario,
  scenarioFiles,
} from "../../src/daemon/policy_bench.js";
import {
  type BallastFistpoint,
  ballastPolicy,
  makeBallastPolicy,
} from "../../src/policy/ballast.js";
import { POLICIES } from "../../src/policy/index.js";
import type { Policy } from "../../src/policy/policy.js";
import { loadScenario } from "../../src/sim/scenario.js";
import { World } from "../../src/sim/world.js";
import { GiB, PAGE_SIZE } from "../../src/units/index.js";
import { repoPath } from "../helpers.js";

const scenario = (name: string) => loadScenario(repoPath(`bench/scenarios/${name}.yaml`));

describe("ballast bench policies: the README's claims", () => {
  const report = benchPolicies(Object.values(POLICIES), scenarioFiles(repoPath("bench/scenarios")));
  const total = (p: string) => report.totals.find((t) => t.policy === p)!;
  const anchors = ["proxmox", "mom", "squeezed"];

  it("ships at least eight scenarios", () => {
    assert.ok(new Set(report.rows.map((r) => r.scenario)).size >= 8);
  });
  it("ballast has zero OOM kills on every scenario", () => {
    for (const r of report.rows.filter((x) => x.policy === "ballast"))
      assert.equal(r.oom_kills, 0, r.scenario);
  });
  it("ballast has no more stall than any anchor policy", () => {
    for (const a of anchors)
      assert.ok(total("ballast").stall_s <= total(a).stall_s, `${a}: ${total(a).stall_s}`);
  });
  it("ballast keeps at least 1.25x the host free memory of the best zero-OOM anchor", () => {
    const best = Math.max(
      ...anchors.filter((a) => total(a).oom_kills === 0).map((a) => total(a).mean_host_free_bytes),
    );
    assert.ok(
      total("ballast").mean_host_free_bytes >= 1.25 * best,
      `${total("ballast").mean_host_free_bytes} vs ${best}`,
    );
  });
});

function run(policy: Policy<unknown>, name: string) {
  return runPolicyOnScenario(policy, scenario(name), name);
}
const without = (f: BallastFistpoint) => makeBallastPolicy({ fistpoints: [f] }) as Policy<unknown>;

describe("ballast's safety rules, each shown by switching it off", () => {
  it("the floor: without it, batch guests are shrunk under their spikes and OOM-killed", () => {
    assert.equal(run(ballastPolicy as Policy<unknown>, "batch-spikes").oom_kills, 0);
    assert.ok(run(without("ignore-floor"), "batch-spikes").oom_kills > 0);
  });
  it("probing only into cheap memory: without it, the leaking guest stalls in direct reclaim", () => {
    assert.equal(run(ballastPolicy as Policy<unknown>, "leaking-guest").stall_s, 0);
    assert.ok(run(without("probe-anything"), "leaking-guest").stall_s > 0);
  });
  it("distrust: liars get no more than their weighted share; without it the hog takes everything", () => {
    const finalActual = (policy: Policy<unknown>) => {
      const world = new World(scenario("lying-guest"));
      const backend = new SimBackend(world);
      let state = policy.initialState();
      while (world.nowMs < world.scenario.durationMs) {
        if (world.nowMs % policy.intervalMs === 0) {
          const r = policy.decide(backend.observe(settingsFor, 0), state);
          state = r.state;
          for (const d of r.decisions)
            backend.setTargetSync(d.name, d.targetBytes, { force: true });
        }
        world.step();
      }
      const by = (n: string) => world.domains.find((d) => d.name === n)!.guest!;
      const held = world.domains.reduce((n, d) => n + (d.guest?.actual() ?? 0), 0) * PAGE_SIZE;
      const share = (held + world.hv.freePages * PAGE_SIZE) / world.domains.length;
      return {
        hog: by("hog").actual() * PAGE_SIZE,
        junk: by("junk").actual() * PAGE_SIZE,
        share,
        honestSafe: ["honest0", "honest1", "honest2"].every(
          (n) => by(n).oomKills === 0 && by(n).psi.fullTotalUs === 0,
        ),
      };
    };
    const careful = finalActual(ballastPolicy as Policy<unknown>);
    assert.ok(careful.hog <= careful.share, `hog ${careful.hog} > share ${careful.share}`);
    assert.ok(careful.junk <= 4 * GiB, `junk grown to ${careful.junk}`);
    assert.ok(careful.honestSafe, "honest guests stalled or were killed");
    const gullible = finalActual(without("trust-everyone"));
    assert.ok(gullible.hog > 1.5 * gullible.share, `hog only ${gullible.hog}`);
  });
});
