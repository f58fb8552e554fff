/** proxmox: PVE::AutoBalloon::compute_alg1 and the pvestatd wrapper. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AutoBalloonVm, computeAlg1, proxmoxPolicy } from "../../src/policy/proxmox.js";
import { GiB, MiB } from "../../src/units/index.js";
import { guest, obs } from "../policy_helpers.js";

const targets = (ds: { name: string; targetBytes: number }[]) =>
  Object.fromEntries(ds.map((d) => [d.name, d.targetBytes / MiB]));

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
  it("does not re-send a target the balloon is still moving to", () => {
    const g = guest("a", { actualBytes: GiB, targetBytes: GiB + 100 * MiB });
    const r = proxmoxPolicy.decide(obs([g], { total: 16 * GiB, free: 14 * GiB }), null);
    assert.deepEqual(r.decisions, []);
  });
  it("sends int(bytes), not MiB-rounded sizes", () => {
    const g = guest("a", {
      actualBytes: 1000 * 1000 * 1000,
      settings: { minBytes: 1000 * 1000 * 1000, maxBytes: 4 * GiB, weight: 100, bufferPct: 20 },
    });
    const r = proxmoxPolicy.decide(obs([g], { total: 16 * GiB, free: 14 * GiB }), null);
    assert.equal(r.decisions[0]?.targetBytes, 1000 * 1000 * 1000 + 100 * MiB);
  });
});

/**
 * pve-manager's test/balloontest.pl, all 19 cases, ported as they are (pve-manager at
 * 14a22df3, 2026-08-21; AutoBalloon.pm last changed 42db4a6c, 2025-11-18). Its MB and
 * GB are decimal (1000 * 1000), maxchange is MB(100), and `abtest` runs compute_alg1
 * once while `absim` applies its result and runs it again until nothing moves (abapply:
 * balloon := result, freemem += the change, clipped at 0). The Perl test walks a hash, so
 * VM order is arbitrary there: every case here runs in every order of its VMs.
 */
describe("proxmox: pve-manager's balloontest.pl (19 cases)", () => {
  const MB = (n: number) => n * 1000 * 1000;
  const GB = (n: number) => n * 1000 * 1000 * 1000;
  type Status = Record<string, Omit<AutoBalloonVm, "name">>;
  const st = (
    s: Record<
      string,
      { maxmem: number; shares: number; balloon: number; balloon_min: number; freemem: number }
    >,
  ): Status =>
    Object.fromEntries(
      Object.entries(s).map(([id, d]) => [
        id,
        {
          balloon: d.balloon,
          min: d.balloon_min,
          max: d.maxmem,
          shares: d.shares,
          freemem: d.freemem,
        },
      ]),
    );
  const status1 = st({
    100: { maxmem: GB(2), shares: 2000, balloon: GB(1), balloon_min: GB(1), freemem: MB(0) },
    101: { maxmem: GB(2), shares: 1000, balloon: GB(1), balloon_min: GB(1), freemem: MB(0) },
  });
  const status2 = st({
    100: { maxmem: GB(2), shares: 2000, balloon: GB(2), balloon_min: GB(2), freemem: MB(0) },
    101: { maxmem: GB(2), shares: 1000, balloon: GB(1), balloon_min: GB(1), freemem: MB(0) },
  });
  const status3 = st({
    100: { maxmem: GB(2), shares: 2000, balloon: GB(2), balloon_min: GB(2), freemem: MB(0) },
    101: {
      maxmem: GB(2),
      shares: 1000,
      balloon: GB(1) + MB(7),
      balloon_min: GB(1),
      freemem: MB(0),
    },
    102: { maxmem: GB(2), shares: 1000, balloon: GB(1), balloon_min: GB(1), freemem: MB(512) },
  });

  const permutations = <T>(xs: T[]): T[][] =>
    xs.length <= 1
      ? [xs]
      : xs.flatMap((x, i) =>
          permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]),
        );
  const vmsOf = (s: Status, order: string[]): AutoBalloonVm[] =>
    order.map((name) => ({ name, ...s[name]! }));

  const abtest = (s: Status, order: string[], goal: number) =>
    Object.fromEntries(computeAlg1(vmsOf(s, order), goal, MB(100)));

  /** absim: apply and repeat until nothing changes; returns the sum and the final status. */
  const absim = (s0: Status, order: string[], goal0: number) => {
    const s: Status = structuredClone(s0);
    const sum: Record<string, number> = {};
    let goal = goal0;
    let abschanges: number;
    do {
      const res = computeAlg1(vmsOf(s, order), goal, MB(100));
      let changes = 0;
      abschanges = 0;
      for (const [id, v] of res) {
        const d = s[id]!;
        const diff = v - d.balloon;
        if (diff !== 0) {
          d.freemem = Math.max(0, d.freemem + diff);
          d.balloon = v;
          sum[id] = v;
          changes += diff;
          abschanges += Math.abs(diff);
        }
      }
      goal -= changes;
    } while (abschanges);
    return { sum, status: s };
  };

  type Row = [
    kind: "test" | "sim",
    from: Status | "after T16",
    goal: number,
    expect: Record<string, number>,
  ];
  const rows: Row[] = [
    ["test", status1, 0, {}],
    ["test", status1, MB(90), { 100: MB(1060), 101: MB(1030) }],
    ["test", status1, MB(150), { 100: MB(1100), 101: MB(1050) }],
    ["test", status1, MB(270), { 100: MB(1100), 101: MB(1090) }],
    ["sim", status1, MB(180), { 100: MB(1120), 101: MB(1060) }],
    ["sim", status1, MB(270), { 100: MB(1180), 101: MB(1090) }],
    ["sim", status1, MB(600), { 100: MB(1300), 101: MB(1300) }],
    ["sim", status1, MB(900), { 100: MB(1600), 101: MB(1300) }],
    ["test", status2, 0, {}],
    ["test", status2, MB(18), { 101: MB(1018) }],
    ["test", status2, MB(500), { 101: MB(1100) }],
    ["test", status3, 0, {}],
    ["test", status3, MB(11), { 101: MB(1018) }],
    ["test", status3, MB(80), { 101: MB(1087) }],
    ["test", status3, MB(200), { 101: MB(1107) }],
    ["sim", status3, MB(593), { 101: MB(1300), 102: MB(1300) }],
    ["sim", "after T16", -MB(200), { 101: MB(1200), 102: MB(1200) }],
    ["sim", "after T16", -MB(400), { 101: MB(1200), 102: GB(1) }],
    ["sim", "after T16", -MB(593), { 101: MB(1007), 102: GB(1) }],
  ];

  it("has all 19 of balloontest.pl's cases", () => assert.equal(rows.length, 19));
  rows.forEach(([kind, from, goal, expect], i) => {
    it(`T${i + 1}: ab${kind} goal ${goal / 1e6} MB -> ${JSON.stringify(Object.fromEntries(Object.entries(expect).map(([k, v]) => [k, v / 1e6])))} MB`, () => {
      for (const order of permutations(Object.keys(from === "after T16" ? status3 : from))) {
        const start = from === "after T16" ? absim(status3, order, MB(593)).status : from;
        const got = kind === "test" ? abtest(start, order, goal) : absim(start, order, goal).sum;
        assert.deepEqual(got, expect, `VM order ${order.join(",")}`);
      }
    });
  });
});
