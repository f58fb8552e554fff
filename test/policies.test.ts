/** The policy registry (each policy's own tests: ballast.test.ts, anchors/). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { POLICY_NAMES } from "../src/policy/index.js";
import { nonePolicy } from "../src/policy/none.js";
import { GiB } from "../src/units/index.js";
import { guest, obs } from "./policy_helpers.js";

describe("policy registry", () => {
  it("knows the five policies by name", () => {
    assert.deepEqual(POLICY_NAMES, ["none", "proxmox", "mom", "squeezed", "ballast"]);
  });
  it("none never moves anything", () => {
    const r = nonePolicy.decide(obs([guest("a")], { total: 16 * GiB, free: 1 * GiB }), null);
    assert.deepEqual(r.decisions, []);
  });
});
