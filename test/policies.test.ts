/** Policies, table-driven: one row per situation with the expected targets. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { computeFloor } from "../src/model/floor.js";
import { ballastPolicy, implausible, makeBallastPolicy, waterFill } from "../src/policy/ballast.js";
import { POLICY_NAMES } from "../src/policy/index.js";
import { MOM, momPolicy } from "../src/policy/mom.js";
import { nonePolicy } from "../src/policy/none.js";
import { computeAlg1, proxmoxPolicy } from "../src/policy/proxmox.js";
import { squeezedPolicy } from "../src/policy/squeezed.js";
import { GiB, MiB } from "../src/units/index.js";
import { guest, obs } from "./policy_helpers.js";

const targets = (ds: { name: string; targetBytes: number }[]) =>
  Object.fromEntries(ds.map((d) => [d.name, d.targetBytes / MiB]));

describe("policy registry", () => {
  it("knows the five policies by name", () => {
    assert.deepEqual(POLICY_NAMES, ["none", "proxmox", "mom", "squeezed", "ballast"]);
  });
  it("none never moves anything", () => {
    const r = nonePolicy.decide(obs([guest("a")], { total: 16 * GiB, free: 1 * GiB }), null);
    assert.deepEqual(r.decisions, []);
  });
});

describe("proxmox: compute_alg1", () => {
  const vm = (
    name: string,
    balloonMiB: number,
    extra: Partial<{ min: number; max: number; shares: number; freemem: number }> = {},
  ) => ({
    name,
    balloon: balloonMiB * MiB,
    min: (extra.min ?? 512) * MiB,
    max: (extra.max ?? 2048) * MiB,
    shares: extra.shares ?? 1000,
    freemem: (extra.freemem ?? 0) * MiB,
  });
  const rows: Array<[string, ReturnType<typeof vm>[], number, Record<string, number>]> = [
    [
      "equal shares split a grow goal, 100 MiB cap per VM",
      [vm("a", 1024), vm("b", 1024)],
      200 * MiB,
      { a: 1124, b: 1124 },
    ],
    ["a goal inside +-10 MiB does nothing", [vm("a", 1024), vm("b", 1024)], 5 * MiB, {}],
    ["each VM moves at most 100 MiB per round", [vm("a", 1024)], 900 * MiB, { a: 1124 }],
    // A quirk of compute_alg1 kept faithfully: a grow goal also shrinks the VM whose
    // share-proportional size is below its current balloon.
    [
      "shares 2:1: a grows, b is pulled towards its share",
      [vm("a", 1024, { shares: 2000 }), vm("b", 1024, { shares: 1000 })],
      150 * MiB,
      { a: 1124, b: 924 },
    ],
    ["never above maxmem", [vm("a", 2000, { max: 2048 })], 500 * MiB, { a: 2048 }],
    [
      "shrink takes from VMs with free memory first",
      [vm("rich", 2048, { freemem: 1024 }), vm("poor", 2048, { freemem: 10 })],
      -100 * MiB,
      { rich: 1948 },
    ],
    ["never below balloon_min", [vm("a", 600, { freemem: 500 })], -500 * MiB, { a: 512 }],
  ];
  for (const [what, vms, goal, expected] of rows) {
    it(what, () => {
      const res = computeAlg1(vms, goal, 100 * MiB);
      assert.deepEqual(Object.fromEntries([...res].map(([k, v]) => [k, v / MiB])), expected);
    });
  }
  it("reads the host as 80% target: grows guests when the host is mostly free", () => {
    const r = proxmoxPolicy.decide(
      obs([guest("a", { actualBytes: GiB })], { total: 16 * GiB, free: 14 * GiB }),
      null,
    );
    assert.deepEqual(targets(r.decisions), { a: 1124 });
  });
});

describe("mom: balloon rules", () => {
  it("grows 5% when the host has >= 20% free", () => {
    const g = guest("a", { actualBytes: 2 * GiB, stats: { free_bytes: 1 * GiB } });
    const r = momPolicy.decide(
      obs([g], { total: 16 * GiB, free: 8 * GiB }),
      momPolicy.initialState(),
    );
    // used = 2 GiB - 1 GiB; min = used + 20% of max 4 GiB = 1.8 GiB; 5% growth = 2150.4 MiB
    assert.deepEqual(targets(r.decisions), { a: 2150 });
  });
  it("shrinks at most 5% under host pressure, keeping used + scaled free", () => {
    const g = guest("a", { actualBytes: 2 * GiB, stats: { free_bytes: 1 * GiB } });
    const r = momPolicy.decide(
      obs([g], { total: 16 * GiB, free: 1.6 * GiB }),
      momPolicy.initialState(),
    );
    assert.deepEqual(targets(r.decisions), { a: 1945 });
    assert.equal(MOM.pressureThreshold, 0.2);
  });
  it("under critical pressure forces guests below their used memory", () => {
    const g = guest("a", { actualBytes: 2 * GiB, stats: { free_bytes: 50 * MiB } });
    const r = momPolicy.decide(
      obs([g], { total: 16 * GiB, free: 0.5 * GiB }),
      momPolicy.initialState(),
    );
    // free 3.1% <= 5%: guest free = -5% + 3.1%; used 1998 MiB - 1.9% of 2 GiB = 1959.6 MiB
    assert.equal(targets(r.decisions).a, 1959);
    assert.ok(targets(r.decisions).a! < 2048 - 50);
  });
  it("skips changes below 0.25% of the current size", () => {
    const g = guest("a", { actualBytes: 4 * GiB - 4 * MiB, stats: { free_bytes: 3 * GiB } });
    const r = momPolicy.decide(
      obs([g], { total: 16 * GiB, free: 8 * GiB }),
      momPolicy.initialState(),
    );
    assert.deepEqual(r.decisions, []);
  });
});

describe("squeezed: proportional", () => {
  const s = (min: number, max: number) => ({
    minBytes: min * GiB,
    maxBytes: max * GiB,
    weight: 100,
    bufferPct: 20,
  });
  it("gives every domain the same (target-min)/(max-min)", () => {
    const a = guest("a", { actualBytes: 2 * GiB, settings: s(1, 3), maxmemBytes: 6 * GiB });
    const b = guest("b", { actualBytes: 3 * GiB, settings: s(2, 6), maxmemBytes: 6 * GiB });
    // free 3 GiB + freeable (1 + 1) = 5 GiB, minus 9 MiB slack, over a range of 6 GiB.
    const r = squeezedPolicy.decide(
      obs([a, b], { total: 16 * GiB, free: 3 * GiB }),
      squeezedPolicy.initialState(),
    );
    const t = targets(r.decisions);
    const ga = (t.a! - 1024) / 2048;
    const gb = (t.b! - 2048) / 4096;
    assert.ok(Math.abs(ga - gb) < 0.001, `gamma ${ga} vs ${gb}`);
    assert.ok(Math.abs(ga - (5 * 1024 - 9) / (6 * 1024)) < 0.001);
  });
  it("keeps reservations for new domains free", () => {
    const a = guest("a", { actualBytes: 3 * GiB, settings: s(1, 3) });
    const r = squeezedPolicy.decide(
      obs([a], { total: 8 * GiB, free: 0 }, 0, 1 * GiB),
      squeezedPolicy.initialState(),
    );
    assert.ok(targets(r.decisions).a! <= 2 * 1024 - 9);
  });
  it("leaves out a domain stuck for more than 5 s", () => {
    const a = guest("a", { actualBytes: 3 * GiB, targetBytes: 2 * GiB, settings: s(1, 3) });
    const b = guest("b", { actualBytes: 2 * GiB, settings: s(1, 3) });
    let st = squeezedPolicy.initialState();
    st = squeezedPolicy.decide(obs([a, b], { total: 8 * GiB, free: 0 }, 0), st).state;
    const later = squeezedPolicy.decide(obs([a, b], { total: 8 * GiB, free: 0 }, 6000), st);
    assert.ok(!later.decisions.some((d) => d.name === "a"), "stuck domain left alone");
  });
});

describe("ballast: safety rules (each fails when switched off)", () => {
  const floorOf = (g: ReturnType<typeof guest>) =>
    computeFloor(g.stats!, g.actualBytes)!.floorBytes;
  it("never targets below the floor, whatever it observes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 30 }),
        (gib, anonPct, freePct, psi) => {
          const actual = gib * GiB;
          const total = actual - 100 * MiB;
          const anon = Math.floor((total * anonPct) / 100);
          const free = Math.floor(((total - anon) * freePct) / 100);
          const g = guest("g", {
            actualBytes: actual,
            maxmemBytes: 32 * GiB,
            settings: { minBytes: 256 * MiB, maxBytes: 32 * GiB, weight: 100, bufferPct: 20 },
            stats: {
              total_bytes: total,
              free_bytes: free,
              available_bytes: total - anon,
              anon_bytes: anon,
              active_anon_bytes: anon,
              file_bytes: total - anon - free,
              inactive_file_bytes: total - anon - free,
              psi_some_avg10: psi,
              psi_full_avg10: psi / 2,
            },
          });
          let st = ballastPolicy.initialState();
          for (let t = 0; t < 400_000; t += 50_000) {
            const r = ballastPolicy.decide(obs([g], { total: 64 * GiB, free: 32 * GiB }, t), st);
            st = r.state;
            for (const d of r.decisions)
              assert.ok(d.targetBytes >= Math.min(floorOf(g), 32 * GiB) - MiB, d.reason);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("deflates at once on a pressure spike (and not with ignore-pressure)", () => {
    for (const [policy, grows] of [
      [ballastPolicy, true],
      [makeBallastPolicy({ fistpoints: ["ignore-pressure"] }), false],
    ] as const) {
      const host = { total: 16 * GiB, free: 8 * GiB };
      let st = policy.initialState();
      let target = 2 * GiB;
      for (const t of [0, 400_000]) {
        const r = policy.decide(
          obs(
            [
              guest("g", {
                actualBytes: target,
                targetBytes: target,
                stats: { timestamp_s: t / 1000 },
              }),
            ],
            host,
            t,
          ),
          st,
        );
        st = r.state;
        target = r.decisions[0]?.targetBytes ?? target;
      }
      const spiking = guest("g", {
        actualBytes: target,
        targetBytes: target,
        stats: { timestamp_s: 401, psi_some_avg10: 12, psi_full_avg10: 8 },
      });
      const r = policy.decide(obs([spiking], host, 401_000), st);
      const after = r.decisions[0]?.targetBytes ?? target;
      assert.equal(after > target, grows, `${policy.name}: ${r.decisions[0]?.reason}`);
    }
  });

  it("does not move a guest on implausible stats (and does with trust-everyone)", () => {
    const liar = guest("liar", {
      actualBytes: 2 * GiB,
      stats: { free_bytes: 8 * GiB, psi_some_avg10: 250 },
    });
    assert.match(implausible(liar.stats, liar, undefined) ?? "", /free above total/);
    const honest = ballastPolicy.decide(
      obs([liar], { total: 16 * GiB, free: 8 * GiB }, 400_000),
      ballastPolicy.initialState(),
    );
    assert.deepEqual(honest.decisions, []);
    const gullible = makeBallastPolicy({ fistpoints: ["trust-everyone"] });
    const moved = gullible.decide(
      obs([liar], { total: 16 * GiB, free: 8 * GiB }, 400_000),
      gullible.initialState(),
    );
    assert.equal(moved.decisions.length, 1);
  });

  it("flags stats that cannot be true", () => {
    const g = guest("g", { actualBytes: 2 * GiB });
    const bad: Array<[Record<string, number>, RegExp]> = [
      [{ total_bytes: 3 * GiB }, /claims/],
      [{ free_bytes: -1 }, /free_bytes is -1/],
      [{ psi_some_avg10: 101 }, /PSI outside/],
      [{ psi_some_avg10: 1, psi_full_avg10: 2 }, /full above some/],
      [{ anon_bytes: 2 * GiB, file_bytes: 1 * GiB }, /anon \+ file above total/],
    ];
    for (const [over, re] of bad) {
      const s = { ...g.stats!, ...over };
      assert.match(implausible(s, g, undefined) ?? "plausible", re);
    }
    assert.match(implausible(null, g, undefined) ?? "", /no statistics/);
    assert.equal(implausible(g.stats, g, undefined), null);
  });

  const contended = (name: string, weight: number, activeGiB: number) =>
    guest(name, {
      actualBytes: 4 * GiB,
      maxmemBytes: 8 * GiB,
      settings: { minBytes: 256 * MiB, maxBytes: 8 * GiB, weight, bufferPct: 20 },
      stats: {
        active_anon_bytes: activeGiB * GiB,
        anon_bytes: activeGiB * GiB,
        free_bytes: 0,
        file_bytes: 0,
        inactive_file_bytes: 0,
        psi_some_avg10: 10,
      },
    });
  it("under contention: min(floor, weighted share) first, then floors, then wants by weight", () => {
    // Both spike (want 6 GiB each) on 8 GiB: above small floors, the rest splits 3:1.
    const r = ballastPolicy.decide(
      obs([contended("a", 300, 1), contended("b", 100, 1)], { total: 8 * GiB, free: 0 }, 0),
      ballastPolicy.initialState(),
    );
    const t = targets(r.decisions);
    const fa = floorOf(contended("a", 300, 1)) / MiB;
    const cap = 8 * 1024 - 64;
    assert.ok(Math.abs(t.a! + t.b! - cap) <= 2, JSON.stringify(t));
    assert.ok(Math.abs((t.a! - fa) / (t.b! - fa) - 3) < 0.02, JSON.stringify({ t, fa }));
    // Big floors beat weights: the light guest still gets its floor when both fit.
    const big = ballastPolicy.decide(
      obs([contended("a", 300, 3.5), contended("b", 100, 3.5)], { total: 8 * GiB, free: 0 }, 0),
      ballastPolicy.initialState(),
    );
    const tb = targets(big.decisions);
    const fb = floorOf(contended("b", 100, 3.5)) / MiB;
    assert.ok(tb.b! >= fb - 1 && tb.a! >= fb - 1, JSON.stringify({ tb, fb }));
  });

  it("water-fills by weight up to caps", () => {
    assert.deepEqual(
      waterFill(
        [
          { weight: 1, cap: 10 },
          { weight: 1, cap: 100 },
        ],
        60,
      ),
      [10, 50],
    );
    assert.deepEqual(
      waterFill(
        [
          { weight: 3, cap: 1000 },
          { weight: 1, cap: 1000 },
        ],
        400,
      ),
      [300, 100],
    );
  });
});
