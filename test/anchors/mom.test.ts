/**
 * mom: oVirt MOM's balloon rules as VDSM installs them, against MOM's own engine.
 *
 * test/fixtures/mom/vdsm-balloon.json holds situations (a host's and its guests' sample
 * histories, KiB, oldest first) and, for each, the targets oVirt MOM's policy engine
 * set when it ran VDSM's rule files on them (balloonEnabled True). Those expected values
 * were made once by test/fixtures/mom/run_mom_rules.py from checkouts of oVirt/mom
 * (3de1c8e6, 2025-07-07) and oVirt/vdsm (fd4b0df2, 2026-06-25); the fixture's "how"
 * says exactly how. Ballast's policy is fed the same samples, one policy run per
 * sample, and must send the same int(target) KiB for every guest, or nothing where MOM
 * set nothing.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { Observation } from "../../src/model/observation.js";
import { MOM, type MomState, momPolicy } from "../../src/policy/mom.js";
import { GiB, KiB, MiB } from "../../src/units/index.js";
import { repoPath } from "../helpers.js";
import { guest, obs } from "../policy_helpers.js";

interface Situation {
  name: string;
  why: string;
  host: { mem_available: number; mem_free: number[] };
  guests: Array<{
    name: string;
    balloon_min: number;
    balloon_max: number;
    samples: Array<{ balloon_cur: number; mem_unused: number | null }>;
  }>;
  expected: Record<string, number | null>;
}

const fixture = JSON.parse(
  readFileSync(repoPath("test/fixtures/mom/vdsm-balloon.json"), "utf8"),
) as { how: string[]; situations: Situation[] };

/** One observation per host sample; a guest appears for its last samples only. */
function observations(s: Situation): Observation[] {
  const n = s.host.mem_free.length;
  return s.host.mem_free.map((free, i) => {
    const guests = s.guests.flatMap((g) => {
      const j = i - (n - g.samples.length);
      if (j < 0) return [];
      const x = g.samples[j]!;
      return [
        guest(g.name, {
          actualBytes: x.balloon_cur * KiB,
          targetBytes: x.balloon_cur * KiB,
          stats: x.mem_unused === null ? null : { free_bytes: x.mem_unused * KiB },
          settings: {
            minBytes: g.balloon_min * KiB,
            maxBytes: g.balloon_max * KiB,
            weight: 100,
            bufferPct: 20,
          },
        }),
      ];
    });
    return obs(guests, { total: s.host.mem_available * KiB, free: free * KiB }, i * 15_000);
  });
}

function lastRound(s: Situation) {
  let state: MomState = momPolicy.initialState();
  let last: ReturnType<typeof momPolicy.decide> | null = null;
  for (const o of observations(s)) {
    last = momPolicy.decide(o, state);
    state = last.state;
  }
  return last!;
}

describe("mom: MOM's own engine on VDSM's rules (fixtures)", () => {
  it("the fixture says how it was made and has its outputs", () => {
    assert.match(fixture.how.join(" "), /MOM's own policy engine/);
    assert.ok(fixture.situations.length >= 20);
    for (const s of fixture.situations)
      assert.deepEqual(
        Object.keys(s.expected),
        s.guests.map((g) => g.name),
        s.name,
      );
  });
  for (const s of fixture.situations) {
    it(`${s.name}: ${s.why}`, () => {
      const r = lastRound(s);
      const got = Object.fromEntries(
        s.guests.map((g) => {
          const d = r.decisions.find((x) => x.name === g.name);
          return [g.name, d ? d.targetBytes / KiB : null];
        }),
      );
      assert.deepEqual(got, s.expected, r.decisions.map((d) => d.reason).join("\n"));
    });
  }
});

describe("mom: as VDSM runs it", () => {
  it("runs every 15 s, VDSM's mom.conf policy-engine-interval", () => {
    assert.equal(momPolicy.intervalMs, 15_000);
  });
  it("keeps the last 10 samples of the host and of each guest, and forgets gone guests", () => {
    let state = momPolicy.initialState();
    const g = guest("a", { actualBytes: 2 * GiB, stats: { free_bytes: GiB } });
    for (let i = 0; i < 14; i++)
      state = momPolicy.decide(obs([g], { total: 16 * GiB, free: 8 * GiB }, i), state).state;
    assert.equal(state.hostFree.length, MOM.sampleHistoryLength);
    assert.equal(state.guests.a!.length, MOM.sampleHistoryLength);
    state = momPolicy.decide(obs([], { total: 16 * GiB, free: 8 * GiB }, 15), state).state;
    assert.deepEqual(state.guests, {});
  });
  it("leaves guests without a working balloon alone", () => {
    const g = guest("a", { actualBytes: GiB, balloonable: false });
    const r = momPolicy.decide(
      obs([g], { total: 16 * GiB, free: 8 * GiB }),
      momPolicy.initialState(),
    );
    assert.deepEqual(r.decisions, []);
  });
  it("says why, in MOM's terms", () => {
    const g = guest("a", { actualBytes: 4 * GiB, stats: { free_bytes: 3 * GiB } });
    const r = momPolicy.decide(
      obs([g], { total: 16 * GiB, free: 2 * GiB }),
      momPolicy.initialState(),
    );
    assert.equal(r.decisions[0]?.targetBytes, Math.trunc(4 * 1024 * 1024 * 0.95) * KiB);
    assert.match(r.decisions[0]!.reason, /host free 12\.5% .*< 20%: shrink by up to 5%/);
    assert.ok(r.decisions[0]!.targetBytes < 4 * GiB - 200 * MiB);
  });
});
