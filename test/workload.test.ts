import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fileWant, processWant, traceProcessWant } from "../src/sim/workload/shape.js";
import type { ProcessSpec } from "../src/sim/workload/spec.js";
import { parseTraceCsv } from "../src/sim/workload/trace.js";
import { MiB } from "../src/units/index.js";

const base: ProcessSpec = {
  name: "p",
  anon: 100 * MiB,
  hot: 50 * MiB,
  startMs: 0,
  leakBytesPerS: 0,
  periodic: null,
  spikes: null,
};

describe("workload shapes", () => {
  it("steady: the base values, from the start time on", () => {
    assert.deepEqual(processWant({ ...base, startMs: 5000 }, [], 1, 4999), { anon: 0, hot: 0 });
    assert.deepEqual(processWant({ ...base, startMs: 5000 }, [], 1, 9000), {
      anon: 100 * MiB,
      hot: 50 * MiB,
    });
  });
  it("ramp: a phase moves linearly over `over`", () => {
    const ph = [{ atMs: 10000, overMs: 10000, process: "p", anon: 300 * MiB }];
    assert.equal(processWant(base, ph, 1, 10000).anon, 100 * MiB);
    assert.equal(processWant(base, ph, 1, 15000).anon, 200 * MiB);
    assert.equal(processWant(base, ph, 1, 25000).anon, 300 * MiB);
  });
  it("periodic: peaks mid-period, back to base at the period's end", () => {
    const p = { ...base, periodic: { periodMs: 60000, anon: 200 * MiB, hot: 100 * MiB } };
    assert.equal(processWant(p, [], 1, 0).anon, 100 * MiB);
    assert.equal(processWant(p, [], 1, 30000).anon, 300 * MiB);
    assert.ok(Math.abs(processWant(p, [], 1, 60000).anon - 100 * MiB) < 1);
  });
  it("leak: cold memory grows at its rate; hot does not", () => {
    const p = { ...base, leakBytesPerS: 2 * MiB };
    assert.deepEqual(processWant(p, [], 1, 10000), { anon: 120 * MiB, hot: 50 * MiB });
  });
  it("spikes: last `length` every `every`, shifted by a jitter drawn from the seed", () => {
    const p = {
      ...base,
      spikes: { everyMs: 30000, lengthMs: 5000, anon: 1000 * MiB, hot: 0, jitterMs: 10000 },
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        let inSpike = 0;
        for (let t = 0; t < 30000; t += 100)
          if (processWant(p, [], seed, t).anon > 500 * MiB) inSpike += 100;
        assert.equal(inSpike, 5000);
        // Deterministic per seed.
        assert.deepEqual(processWant(p, [], seed, 12345), processWant(p, [], seed, 12345));
      }),
      { numRuns: 30 },
    );
  });
  it("hot never exceeds anon", () => {
    const ph = [{ atMs: 0, overMs: 0, process: "p", anon: 10 * MiB, hot: 80 * MiB }];
    const w = processWant(base, ph, 1, 100);
    assert.equal(w.hot, w.anon);
  });
  it("files: phases change size and hot", () => {
    const ph = [{ atMs: 1000, overMs: 0, file: "f", size: 10 * MiB }];
    assert.deepEqual(fileWant("f", 20 * MiB, 5 * MiB, 0, ph, 2000), {
      size: 10 * MiB,
      hot: 5 * MiB,
    });
  });
  it("trace: linear between CSV points, with units and a header", () => {
    const pts = parseTraceCsv("t,anon,file\n0s,0MiB,0MiB\n10s,100MiB,10MiB # peak\n", "t.csv");
    const tr = { name: "t", points: pts, hotFraction: 0.5, fileHotFraction: 0 };
    assert.deepEqual(traceProcessWant(tr, 5000), { anon: 50 * MiB, hot: 25 * MiB });
    assert.throws(() => parseTraceCsv("0s,100,0MiB\n", "bad.csv"), /bad\.csv:1: .*no unit/);
    assert.throws(
      () => parseTraceCsv("5s,1MiB,0MiB\n1s,1MiB,0MiB\n", "bad.csv"),
      /bad\.csv:2: .*before/,
    );
  });
});
