import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Psi } from "../src/sim/guest/psi.js";

describe("PSI averages (kernel/sched/psi.c arithmetic)", () => {
  it("stay at zero without stalls", () => {
    const p = new Psi();
    for (let i = 0; i < 1000; i++) p.record(100, 0, 0);
    assert.deepEqual(p.some(), { avg10: 0, avg60: 0, avg300: 0 });
  });
  it("approach 1 - 1/e of a full stall after one window (10 s for avg10)", () => {
    const p = new Psi();
    for (let i = 0; i < 100; i++) p.record(100, 100_000, 100_000);
    const s = p.some();
    // 5 folds of EXP_10s = 1677/2048: 100 * (1 - (1677/2048)^5) = 63.2
    assert.ok(Math.abs(s.avg10 - 63.2) < 0.6, `avg10 ${s.avg10}`);
    assert.ok(s.avg60 < s.avg10 && s.avg300 < s.avg60);
    assert.deepEqual(p.full(), s);
  });
  it("caps samples at the period and keeps full <= some", () => {
    const p = new Psi();
    for (let i = 0; i < 200; i++) p.record(100, 500_000, 50_000);
    assert.ok(p.some().avg10 <= 100);
    assert.ok(p.full().avg10 < p.some().avg10);
  });
  it("decays when the stall stops", () => {
    const p = new Psi();
    for (let i = 0; i < 100; i++) p.record(100, 100_000, 0);
    const high = p.some().avg10;
    for (let i = 0; i < 300; i++) p.record(100, 0, 0);
    assert.ok(p.some().avg10 < high / 10);
  });
});
