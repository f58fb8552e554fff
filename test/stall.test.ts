/**
 * The shared stall rule (src/model/stall.ts): squeezed's Stuckness_monitor semantics,
 * and the wobble-proof variant the backends use.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type StallEntry,
  type StallOptions,
  SQUEEZED_STALL,
  watchOne,
  watchStalls,
} from "../src/model/stall.js";
import { BACKEND_STALL } from "../src/backends/shared/stall_watch.js";
import { MiB } from "../src/units/index.js";

/** Feed a series of (t, actual) samples with a fixed target; return the entries. */
function run(o: StallOptions, target: number, series: Array<[number, number]>): StallEntry[] {
  let e: StallEntry | undefined;
  return series.map(([t, actual]) => {
    e = watchOne(e, { name: "d", targetBytes: target, actualBytes: actual }, t, o);
    return e;
  });
}

describe("stall monitor", () => {
  it("a domain first seen is making progress and not stuck", () => {
    const [e] = run(SQUEEZED_STALL, 100 * MiB, [[0, 500 * MiB]]);
    assert.equal(e!.stuck, false);
    assert.equal(e!.lastProgressMs, 0);
  });

  it("squeezed: stuck after more than 5 s without moving towards the target", () => {
    const es = run(SQUEEZED_STALL, 100 * MiB, [
      [0, 500 * MiB],
      [1000, 400 * MiB],
      [6000, 400 * MiB],
      [6001, 400 * MiB],
    ]);
    assert.deepEqual(
      es.map((e) => e.stuck),
      [false, false, false, true],
    );
  });

  it("squeezed: moving away from the target is not progress; moving back is", () => {
    const es = run(SQUEEZED_STALL, 100 * MiB, [
      [0, 400 * MiB],
      [3000, 450 * MiB],
      [5500, 460 * MiB],
      [7000, 455 * MiB],
    ]);
    assert.deepEqual(
      es.map((e) => e.stuck),
      [false, false, true, false],
    );
  });

  it("squeezed: with no request (on target) nothing changes, so a new target can find it stuck", () => {
    let e = watchOne(
      undefined,
      { name: "d", targetBytes: 100, actualBytes: 100 },
      0,
      SQUEEZED_STALL,
    );
    e = watchOne(e, { name: "d", targetBytes: 100, actualBytes: 100 }, 10_000, SQUEEZED_STALL);
    assert.equal(e.stuck, false);
    e = watchOne(e, { name: "d", targetBytes: 50, actualBytes: 100 }, 10_001, SQUEEZED_STALL);
    assert.equal(e.stuck, true);
  });

  it("new-best: a wobble of a MiB is not progress", () => {
    const wobble: Array<[number, number]> = [
      [0, 400 * MiB],
      [1000, 380 * MiB],
      [2000, 381 * MiB],
      [3000, 380 * MiB],
      [4000, 381 * MiB],
      [6500, 380 * MiB],
    ];
    assert.deepEqual(
      run(BACKEND_STALL, 128 * MiB, wobble).map((e) => e.stuck),
      [false, false, false, false, false, true],
    );
    // The same series under squeezed's rule never becomes stuck: every other sample moves down.
    assert.ok(run(SQUEEZED_STALL, 128 * MiB, wobble).every((e) => !e.stuck));
  });

  it("new-best: reaching the target clears it, and a new target starts a new episode", () => {
    let e = watchOne(
      undefined,
      { name: "d", targetBytes: 100 * MiB, actualBytes: 300 * MiB },
      0,
      BACKEND_STALL,
    );
    e = watchOne(
      e,
      { name: "d", targetBytes: 100 * MiB, actualBytes: 300 * MiB },
      6000,
      BACKEND_STALL,
    );
    assert.equal(e.stuck, true);
    e = watchOne(
      e,
      { name: "d", targetBytes: 300 * MiB, actualBytes: 300 * MiB },
      7000,
      BACKEND_STALL,
    );
    assert.equal(e.stuck, false);
    e = watchOne(
      e,
      { name: "d", targetBytes: 200 * MiB, actualBytes: 300 * MiB },
      20_000,
      BACKEND_STALL,
    );
    assert.equal(e.stuck, false, "a new target is a new episode");
    assert.equal(e.lastProgressMs, 20_000);
  });

  it("forgets domains that are no longer observed", () => {
    const a = watchStalls({}, [{ name: "a", targetBytes: 1, actualBytes: 1 }], 0, SQUEEZED_STALL);
    const b = watchStalls(a, [{ name: "b", targetBytes: 1, actualBytes: 1 }], 1, SQUEEZED_STALL);
    assert.deepEqual(Object.keys(b), ["b"]);
  });
});
