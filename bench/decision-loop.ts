/**
 * Benchmark: one decision interval of each policy over 1,000 simulated guests (the
 * policy's decide() on a full observation, as the daemon calls it). Prints JSON with
 * per-interval times; the goal is under 10 ms for ballast.
 *
 *   node --expose-gc dist/bench/decision-loop.js [--guests 1000] [--rounds 200]
 *
 * With --expose-gc the heap is collected before each policy, so that one policy's
 * garbage is not billed to the next.
 */
import { parseArgs } from "node:util";
import type { GuestObservation, Observation } from "../src/model/observation.js";
import { POLICIES } from "../src/policy/index.js";
import { uniform } from "../src/sim/rng.js";
import { GiB, MiB } from "../src/units/index.js";

const { values } = parseArgs({
  options: {
    guests: { type: "string", default: "1000" },
    rounds: { type: "string", default: "200" },
  },
});
const n = Number(values.guests);
const rounds = Number(values.rounds);

function observation(t: number): Observation {
  const guests: GuestObservation[] = [];
  for (let i = 0; i < n; i++) {
    const r = (k: string) => uniform(1, `${k}${i}`, Math.floor(t / 10_000));
    const actual = Math.round((2 + 6 * r("a")) * 1024) * MiB;
    const total = actual - 100 * MiB;
    const anon = Math.floor(total * 0.5 * r("anon"));
    const file = Math.floor((total - anon) * r("file"));
    guests.push({
      name: `vm${i}`,
      memoryBytes: 4 * GiB,
      maxmemBytes: 8 * GiB,
      targetBytes: actual,
      actualBytes: actual,
      settings: {
        minBytes: 1 * GiB,
        maxBytes: 8 * GiB,
        weight: 100 + (i % 3) * 100,
        bufferPct: 20,
      },
      balloonable: true,
      stats: {
        timestamp_s: t / 1000,
        total_bytes: total,
        free_bytes: total - anon - file,
        available_bytes: total - anon,
        anon_bytes: anon,
        file_bytes: file,
        active_anon_bytes: Math.floor(anon * 0.8),
        inactive_anon_bytes: anon - Math.floor(anon * 0.8),
        active_file_bytes: Math.floor(file * 0.3),
        inactive_file_bytes: file - Math.floor(file * 0.3),
        swap_total_bytes: GiB,
        swap_free_bytes: GiB,
        swap_in_bytes: 0,
        swap_out_bytes: 0,
        major_faults: Math.floor(t / 1000),
        psi_some_avg10: r("psi") < 0.05 ? 3 : 0,
        psi_full_avg10: 0,
      },
    });
  }
  const held = guests.reduce((s, g) => s + g.actualBytes, 0);
  return {
    nowMs: t,
    host: { totalBytes: held * 1.1, freeBytes: held * 0.1, reserveBytes: 0 },
    guests,
    reservedBytes: 0,
  };
}

const results: Record<string, unknown> = {};
for (const p of Object.values(POLICIES)) {
  (globalThis as { gc?: () => void }).gc?.();
  let state = p.initialState();
  // Warm up (JIT), then time every round.
  for (let k = 0; k < 20; k++) state = p.decide(observation(380_000 + k * 1000), state).state;
  const times: number[] = [];
  let decisions = 0;
  for (let k = 0; k < rounds; k++) {
    // Built outside the timed region: the daemon's observation comes from the backend.
    const o = observation(400_000 + k * 1000);
    const t0 = process.hrtime.bigint();
    const r = p.decide(o, state);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    state = r.state;
    decisions += r.decisions.length;
  }
  times.sort((a, b) => a - b);
  const pct = (q: number) =>
    Number(times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(3));
  results[p.name] = {
    mean_ms: Number((times.reduce((a, b) => a + b, 0) / times.length).toFixed(3)),
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    max_ms: pct(1),
    decisions_per_round: Math.round(decisions / rounds),
  };
}
console.log(
  JSON.stringify(
    { bench: "decision-loop", guests: n, rounds, goal_ms: 10, policies: results },
    null,
    2,
  ),
);
