/**
 * squeezed: xen-api's squeeze.ml, proven by squeezed's own test scenarios.
 *
 * The first table is ocaml/squeezed/test/squeeze_test.ml's scenarios a-h (xen-api at
 * e2ee48d6, 2026-08-21), domain for domain, with its simulated guests (ideal, lower
 * and upper hidden limits, stuck, intermittently stuck; test/anchors/squeeze_sim.ts)
 * and its expected verdicts; f and g switch off two-phase target setting and the
 * inaccuracy allowance through the same fistpoints as there. The rest are this policy's
 * own rules, each shown on a small host.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SQUEEZED_STALL } from "../../src/model/stall.js";
import { getPolicy, parsePolicy, PolicySpecError } from "../../src/policy/index.js";
import {
  makeSqueezedPolicy,
  poseRequest,
  REQUEST_LOOP_MS,
  SQUEEZED_FREE_TARGET,
  SQUEEZED_FREE_TARGET_BEFORE_2026,
  type SqueezedState,
  squeezedPolicy,
} from "../../src/policy/squeezed.js";
import { GiB, KiB, MiB } from "../../src/units/index.js";
import { guest, obs } from "../policy_helpers.js";
import { domainMake as dm, type Scenario, simulate } from "./squeeze_sim.js";

const scenarioA: Scenario = {
  name: "a",
  description:
    "a small domain with a hidden limit and a large domain which exhibits 'sticky' behaviour",
  shouldSucceed: true,
  domains: [
    [dm(0, true, 1000, 1500, 2000, 1500, 1500, 4), { kind: "lower", rate: 100, minimum: 1250 }],
    [
      dm(1, true, 2500, 3500, 4500, 3500, 3500, 4),
      { kind: "intermittent", rate: 500, interval: 0.25 },
    ],
  ],
  hostFreeMemKiB: 0,
  requiredMemKiB: 1000,
  fistpoints: [],
};
const scenarioE: Scenario = {
  name: "e",
  description:
    "one domain needs to free but is stuck, other domain needs to allocate but can't because there is not enough free memory",
  shouldSucceed: true,
  domains: [
    [dm(0, true, 5000, 7000, 7000, 7000, 7000, 0), { kind: "stuck" }],
    [dm(1, true, 5000, 6000, 11000, 6000, 6000, 0), { kind: "ideal", rate: 100 }],
  ],
  hostFreeMemKiB: 0,
  requiredMemKiB: 1000,
  fistpoints: [],
};
const SCENARIOS: Scenario[] = [
  scenarioA,
  {
    name: "b",
    description:
      "two domains exhibiting 'sticky' behaviour with different periods: one > than the assumed stuck interval and the other <",
    shouldSucceed: true,
    domains: [
      [
        dm(1, true, 500, 3500, 4500, 3500, 3500, 4),
        { kind: "intermittent", rate: 100, interval: 3 },
      ],
      [
        dm(0, true, 500, 1500, 2500, 1500, 1500, 4),
        { kind: "intermittent", rate: 100, interval: 1.5 },
      ],
    ],
    hostFreeMemKiB: 0,
    requiredMemKiB: 1000,
    fistpoints: [],
  },
  {
    name: "c",
    description: "dynamic_mins are too high to allow enough memory to be freed",
    shouldSucceed: false,
    domains: [
      [dm(0, true, 1000, 1500, 2000, 1500, 1500, 0), { kind: "ideal", rate: 100 }],
      [dm(1, true, 2000, 2500, 3000, 2500, 2500, 0), { kind: "ideal", rate: 100 }],
    ],
    hostFreeMemKiB: 0,
    requiredMemKiB: 1500,
    fistpoints: [],
  },
  {
    name: "d",
    description: "looks ok but one VM is permanently stuck above its dynamic_min",
    shouldSucceed: false,
    domains: [
      [dm(0, true, 1000, 1500, 2000, 1500, 1500, 0), { kind: "ideal", rate: 100 }],
      [dm(1, true, 2000, 2500, 3000, 2500, 2500, 0), { kind: "lower", rate: 100, minimum: 2250 }],
    ],
    hostFreeMemKiB: 0,
    requiredMemKiB: 1000,
    fistpoints: [],
  },
  scenarioE,
  { ...scenarioE, name: "f", shouldSucceed: false, fistpoints: ["DisableTwoPhaseTargetSets"] },
  {
    ...scenarioA,
    name: "g",
    shouldSucceed: false,
    fistpoints: ["DisableInaccuracyCompensation"],
  },
  {
    name: "h",
    description: "a small domain with a hidden upper limit and a perfectly working domain",
    shouldSucceed: true,
    domains: [
      [dm(0, true, 1000, 1500, 2000, 1500, 1500, 4), { kind: "upper", rate: 100, limit: 1500 }],
      [dm(1, true, 1000, 1500, 2000, 1500, 1500, 4), { kind: "ideal", rate: 100 }],
    ],
    hostFreeMemKiB: 1000,
    requiredMemKiB: 0,
    fistpoints: [],
  },
];

describe("squeezed: squeeze_test.ml's scenarios a-h", () => {
  it("has all eight", () => {
    assert.deepEqual(
      SCENARIOS.map((s) => `${s.name}${s.shouldSucceed ? "+" : "-"}`),
      ["a+", "b+", "c-", "d-", "e+", "f-", "g-", "h+"],
    );
  });
  for (const s of SCENARIOS) {
    it(`${s.name}: ${s.description} (${s.shouldSucceed ? "succeeds" : "fails"}${s.fistpoints.length ? `, ${s.fistpoints.join(", ")}` : ""})`, () => {
      const run = simulate(s);
      assert.equal(run.ok, s.shouldSucceed, run.error ?? "succeeded");
    });
  }
  it("fails each for squeezed's reason", () => {
    const why = (name: string) => simulate(SCENARIOS.find((s) => s.name === name)!).error;
    // c: nobody to blame, the dynamic_mins are too high.
    assert.match(why("c")!, /^Cannot_free_this_much_memory/);
    // d: the domain stuck above its dynamic_min is blamed.
    assert.match(why("d")!, /^Domains_refused_to_cooperate.*"d1"/);
    // f: without two phases the growing domain takes memory that is not free.
    assert.match(why("f")!, /Attempted to allocate more than host_free_mem domid = 1/);
    // g: without the allowance both domains look stuck at 4 KiB from their targets.
    assert.match(why("g")!, /^Domains_refused_to_cooperate/);
  });
  it("e: gives up on the stuck domain, then has the other free instead of allocate", () => {
    const run = simulate(scenarioE);
    assert.ok(run.ok, run.error ?? "");
    const [d0, d1] = run.host.vms;
    assert.equal(d0!.domain.actual, 7000, "the stuck domain never moved");
    assert.ok(d1!.domain.actual <= 5000 + 500, `d1 freed: ${d1!.domain.actual}`);
    assert.deepEqual(
      run.outcomes.map((o) => o.result),
      ["Success", "Success"],
    );
  });
});

const s = (minMiB: number, maxMiB: number) => ({
  minBytes: minMiB * MiB,
  maxBytes: maxMiB * MiB,
  weight: 100,
  bufferPct: 20,
});
const at = (name: string, actualMiB: number, minMiB: number, maxMiB: number, targetMiB?: number) =>
  guest(name, {
    actualBytes: actualMiB * MiB,
    targetBytes: (targetMiB ?? actualMiB) * MiB,
    settings: s(minMiB, maxMiB),
  });
const targetsKiB = (ds: { name: string; targetBytes: number }[]) =>
  Object.fromEntries(ds.map((d) => [d.name, d.targetBytes / KiB]));

describe("squeezed: the proportional rule, as squeeze.ml computes it", () => {
  it("every domain gets the same (target - min) / (max - min), in KiB, less the allowance", () => {
    // free 3 GiB + freeable (1 GiB - 8 KiB) x 2 - 72 MiB, over a range of 6 GiB.
    const r = squeezedPolicy.decide(
      obs([at("a", 2048, 1024, 3072), at("b", 3072, 2048, 6144)], {
        total: 16 * GiB,
        free: 3 * GiB,
      }),
      squeezedPolicy.initialState(),
    );
    const surplus = 3 * 1048576 + 2 * (1048576 - 8) - 73728;
    const gamma = surplus / (6 * 1048576);
    assert.deepEqual(targetsKiB(r.decisions), {
      a: 1048576 + Math.trunc(gamma * 2097152),
      b: 2097152 + Math.trunc(gamma * 4194304),
    });
  });
  it("keeps 72 MiB free by default (CA-423173), 9 MiB with the older setting", () => {
    assert.equal(SQUEEZED_FREE_TARGET, 72 * MiB);
    assert.equal(SQUEEZED_FREE_TARGET_BEFORE_2026, 9 * MiB);
    for (const [p, slack] of [
      [squeezedPolicy, 72],
      [makeSqueezedPolicy({ freeTargetBytes: 9 * MiB }), 9],
    ] as const) {
      // One domain that can go from 1 to 3 GiB on a host with 1 GiB free.
      const r = p.decide(
        obs([at("a", 1024, 1024, 3072)], { total: 8 * GiB, free: 1 * GiB }),
        p.initialState(),
      );
      assert.equal(r.decisions[0]!.targetBytes, (2048 - slack) * MiB, p.name);
    }
  });
  it("frees first: while any domain must free, only freeing targets are sent", () => {
    // b holds more than its share, a less: a's raise waits until b has freed.
    const g = [at("a", 1024, 1024, 3072), at("b", 3072, 1024, 3072)];
    let st = squeezedPolicy.initialState();
    const r1 = squeezedPolicy.decide(obs(g, { total: 8 * GiB, free: 0 }, 0), st);
    st = r1.state;
    assert.deepEqual(Object.keys(targetsKiB(r1.decisions)), ["b"]);
    assert.match(r1.decisions[0]!.reason, /freeing phase/);
    // b has freed down to its new target: now a is raised, out of free memory.
    const tb = r1.decisions[0]!.targetBytes;
    const freed = 3072 * MiB - tb;
    const g2 = [
      at("a", 1024, 1024, 3072),
      guest("b", { ...g[1]!, actualBytes: tb, targetBytes: tb }),
    ];
    const r2 = squeezedPolicy.decide(obs(g2, { total: 8 * GiB, free: freed }, 1000), st);
    assert.deepEqual(Object.keys(targetsKiB(r2.decisions)), ["a"]);
    assert.match(r2.decisions[0]!.reason, /allocation phase/);
    assert.ok(r2.decisions[0]!.targetBytes - 1024 * MiB <= freed - 72 * MiB);
  });
  it("with DisableTwoPhaseTargetSets, sends every target at once", () => {
    const p = makeSqueezedPolicy({ fistpoints: ["DisableTwoPhaseTargetSets"] });
    const r = p.decide(
      obs([at("a", 1024, 1024, 3072), at("b", 3072, 1024, 3072)], { total: 8 * GiB, free: 0 }),
      p.initialState(),
    );
    assert.deepEqual(Object.keys(targetsKiB(r.decisions)).sort(), ["a", "b"]);
  });
  it("leaves Domain-0 alone (manage-domain-zero=false)", () => {
    const r = squeezedPolicy.decide(
      obs([at("Domain-0", 1024, 512, 4096), at("a", 1024, 1024, 3072)], {
        total: 8 * GiB,
        free: 1 * GiB,
      }),
      squeezedPolicy.initialState(),
    );
    assert.deepEqual(Object.keys(targetsKiB(r.decisions)), ["a"]);
  });
});

describe("squeezed: requests, served every second until an outcome", () => {
  const p = squeezedPolicy;
  it("checks every 10 s and loops every second while serving a request", () => {
    assert.equal(p.intervalMs, 10_000);
    assert.equal(REQUEST_LOOP_MS, 1000);
    // Balanced already (at its max, the rest free): nothing to do, no hurry.
    const idle = p.decide(
      obs([at("a", 3072, 1024, 3072)], { total: 8 * GiB, free: 80 * MiB }),
      p.initialState(),
    );
    assert.deepEqual(idle.decisions, []);
    assert.equal(idle.nextIntervalMs, undefined);
    assert.equal(idle.state.request, null);
    // Unbalanced: a balance request starts, and the policy asks to be run in 1 s.
    const g = at("a", 1024, 1024, 3072);
    const r1 = p.decide(obs([g], { total: 8 * GiB, free: 1 * GiB }, 0), p.initialState());
    assert.equal(r1.nextIntervalMs, 1000);
    assert.equal(r1.state.request?.label, "balance");
    // The domain follows its targets (all the memory it takes comes out of free): the
    // request goes on every second until the host is balanced to within 512 KiB.
    let st = r1.state;
    let actual = GiB;
    let last = r1;
    for (let t = 0; st.request; t += 1000) {
      assert.equal(last.nextIntervalMs, 1000);
      actual = last.decisions[0]?.targetBytes ?? actual;
      const now = guest("a", { ...g, actualBytes: actual, targetBytes: actual });
      last = p.decide(obs([now], { total: 8 * GiB, free: 2 * GiB - actual }, t + 1000), st);
      st = last.state;
      assert.ok(t < 10_000, "converges");
    }
    assert.equal(last.nextIntervalMs, undefined);
    assert.equal(st.outcome?.result, "Success");
    assert.equal(st.outcome?.label, "balance");
    assert.ok(2 * GiB - actual - 72 * MiB < 512 * KiB);
  });

  it("serves a new reservation: frees its size + the host target, then keeps it", () => {
    let st = p.initialState();
    const g = at("a", 3072, 1024, 3072);
    const r1 = p.decide(obs([g], { total: 8 * GiB, free: 100 * MiB }, 0, 1 * GiB), st);
    st = r1.state;
    assert.equal(st.request?.label, "reservation of 1 GiB");
    assert.equal(st.request?.requiredKiB, (1024 + 72) * 1024);
    // It needs 1 GiB + 72 MiB - 100 MiB more free, with the allowance of 8 KiB.
    assert.equal(r1.decisions[0]!.targetBytes, (3072 - 1024 - 72 + 100) * MiB - 8 * KiB);
    const t = r1.decisions[0]!.targetBytes;
    const freed = guest("a", { ...g, actualBytes: t, targetBytes: t });
    const r2 = p.decide(
      obs([freed], { total: 8 * GiB, free: 100 * MiB + (3072 * MiB - t) }, 1000, 1 * GiB),
      st,
    );
    assert.equal(r2.state.outcome?.result, "Success");
    assert.equal(r2.state.reservedBytes, 1 * GiB, "served: from now on counted as reserved");
    // Nothing more to do while the reservation stands; when it is gone, rebalance.
    const r3 = p.decide(
      obs([freed], { total: 8 * GiB, free: 100 * MiB + (3072 * MiB - t) }, 11_000, 1 * GiB),
      r2.state,
    );
    assert.deepEqual(r3.decisions, []);
    const r4 = p.decide(
      obs([freed], { total: 8 * GiB, free: 100 * MiB + (3072 * MiB - t) }, 21_000, 0),
      r3.state,
    );
    assert.equal(r4.state.reservedBytes, 0);
    assert.equal(r4.decisions[0]?.targetBytes, 3072 * MiB);
  });

  it("ends in Cannot_free_this_much_memory when the dynamic_mins are too high", () => {
    let st = p.initialState();
    const g = at("a", 1024, 1024, 3072);
    let r = p.decide(obs([g], { total: 8 * GiB, free: 100 * MiB }, 0, 1 * GiB), st);
    st = r.state;
    assert.equal(r.state.outcome?.result, "Cannot_free_this_much_memory");
    assert.equal(r.nextIntervalMs, undefined);
    // The failed reservation stays (the daemon keeps it), counted as reserved.
    assert.equal(st.reservedBytes, 1 * GiB);
    r = p.decide(obs([g], { total: 8 * GiB, free: 100 * MiB }, 10_000, 1 * GiB), st);
    assert.equal(r.state.request, null);
  });

  it("declares a domain stuck after 5 s, clips its target to its actual, and blames it", () => {
    // b was asked to grow to 3 GiB but cannot allocate: it is stuck at 1 GiB.
    let st: SqueezedState = poseRequest(p.initialState(), {
      label: "test",
      requiredKiB: 72 * 1024,
      success: { op: ">=", kib: 1024 * 1024 },
    });
    const a = at("a", 2048, 2048, 2048);
    const b = at("b", 1024, 1024, 3072, 3072);
    const reasons: string[] = [];
    let clipped: number | undefined;
    for (let t = 0; t <= 7000 && (st.request || st.queued.length); t += 1000) {
      const r = p.decide(obs([a, b], { total: 8 * GiB, free: 0 }, t), st);
      st = r.state;
      for (const d of r.decisions) {
        reasons.push(d.reason);
        if (d.name === "b") clipped = d.targetBytes;
      }
    }
    assert.ok(t_stuck(reasons), reasons.join("\n"));
    assert.equal(clipped, 1024 * MiB, "target clipped to min(target, actual)");
    assert.equal(st.outcome?.result, "Domains_refused_to_cooperate");
    assert.deepEqual(st.outcome?.result === "Domains_refused_to_cooperate" && st.outcome.domains, [
      "b",
    ]);
    assert.equal(SQUEEZED_STALL.afterMs, 5000);
  });

  it("starts stuckness afresh with every request", () => {
    // b should grow to 2 GiB but does not move: the first request blames it.
    const stuck = at("b", 1024, 1024, 3072, 2048);
    let st = poseRequest(p.initialState(), {
      label: "first",
      requiredKiB: 72 * 1024,
      success: { op: ">=", kib: 8 * 1024 * 1024 },
    });
    for (let t = 0; st.request || st.queued.length; t += 1000)
      st = p.decide(obs([stuck], { total: 8 * GiB, free: 4 * GiB }, t), st).state;
    assert.equal(st.outcome?.result, "Domains_refused_to_cooperate");
    // The next request does not inherit that: b is active again and gets a target.
    st = poseRequest(st, {
      label: "second",
      requiredKiB: 72 * 1024,
      success: { op: ">=", kib: 0 },
    });
    const r = p.decide(obs([stuck], { total: 8 * GiB, free: 4 * GiB }, 20_000), st);
    assert.equal(r.state.request?.stall.b?.stuck, false);
    assert.ok(r.decisions.some((d) => d.name === "b" && d.targetBytes === 3072 * MiB));
  });
});

function t_stuck(reasons: string[]): boolean {
  return reasons.some(
    (r) => /declared inactive/.test(r) && /Domains_refused_to_cooperate \[b\]/.test(r),
  );
}

describe("squeezed: the older host free target, by policy spec", () => {
  it("squeezed:free-target=9MiB keeps 9 MiB free; plain squeezed keeps 72 MiB", () => {
    const old = parsePolicy("squeezed:free-target=9MiB");
    assert.equal(old.name, "squeezed:free-target=9MiB");
    assert.equal(getPolicy("squeezed:free-target=9216KiB")?.name, "squeezed:free-target=9MiB");
    assert.equal(parsePolicy("squeezed"), squeezedPolicy);
    const host = obs([at("a", 1024, 1024, 3072)], { total: 8 * GiB, free: 1 * GiB });
    assert.equal(old.decide(host, old.initialState()).decisions[0]!.targetBytes, 2039 * MiB);
    assert.equal(
      squeezedPolicy.decide(host, squeezedPolicy.initialState()).decisions[0]!.targetBytes,
      1976 * MiB,
    );
    assert.match(old.summary, /9 MiB/);
  });
  it("refuses bad specs with the reason, and getPolicy gives null for them", () => {
    const bad: Array<[string, RegExp]> = [
      ["squeezd", /unknown policy "squeezd" \(known: none, proxmox, mom, squeezed, ballast\)/],
      ["mom:free-target=9MiB", /policy "mom" takes no options/],
      ["squeezed:free-target", /write options as KEY=VALUE, e\.g\. squeezed:free-target=9MiB/],
      ["squeezed:target=9MiB", /unknown option "target" \(squeezed takes: free-target\)/],
      ["squeezed:free-target=9", /free-target: size "9" has no unit/],
      ["squeezed:free-target=9MB", /free-target: .*ambiguous/],
      ["squeezed:free-target=1000B", /not a whole number of KiB/],
      ["squeezed:free-target=9MiB,free-target=8MiB", /"free-target" given twice/],
    ];
    for (const [spec, re] of bad) {
      assert.throws(
        () => parsePolicy(spec),
        (e: Error) => e instanceof PolicySpecError && re.test(e.message),
        spec,
      );
      assert.equal(getPolicy(spec), null, spec);
    }
  });
});
