/**
 * Benchmark: one decision interval of each policy over 1,000 simulated guests (the
 * policy's decide() on a full observation, as the daemon calls it). Prints JSON with
 * per-interval times (wall and CPU) and the machine's load; the goal is a p99 under 5 ms
 * for ballast.
 *
 *   node --expose-gc dist/bench/decision-loop.js [--guests 1000] [--rounds 200]
 *
 * Each round's targets are the last round's decisions (as a backend reports them once
 * applied); every 10 s the guests' use, cache and pressure are drawn afresh, and about
 * one guest in twenty shows pressure, so some rounds decide for many guests at once.
 * With --expose-gc the heap is collected before each policy, so that one policy's
 * garbage is not billed to the next.
 */
import { cpus, loadavg } from "node:os";
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

/** Host memory: 5% more than the guests' first sizes. */
function hostBytes(guests: number): number {
  let held = 0;
  for (let i = 0; i < guests; i++)
    held += Math.round((2 + 6 * uniform(1, `a${i}`, 38)) * 1024) * MiB;
  return Math.round((held * 1.05) / MiB) * MiB;
}

const HOST_BYTES = hostBytes(n);

/** The guests' random draws for one 10 s window, computed once (not billed to a round). */
interface Draws {
  a: Float64Array;
  anon: Float64Array;
  file: Float64Array;
  psi: Float64Array;
}
const drawn = new Map<number, Draws>();
function draws(window: number): Draws {
  let d = drawn.get(window);
  if (d) return d;
  const make = (k: string) =>
    Float64Array.from({ length: n }, (_, i) => uniform(1, `${k}${i}`, window));
  d = { a: make("a"), anon: make("anon"), file: make("file"), psi: make("psi") };
  drawn.set(window, d);
  return d;
}
const NAMES = Array.from({ length: n }, (_, i) => `vm${i}`);

/**
 * What the daemon hands a policy every round: fresh objects, as a backend's statistics
 * are fresh every round.
 */
function observation(t: number, targets: Map<string, number>): Observation {
  const guests: GuestObservation[] = [];
  const d = draws(Math.floor(t / 10_000));
  for (let i = 0; i < n; i++) {
    // What the guest uses is drawn from its first size; what it has is what it was given.
    const first = Math.round((2 + 6 * d.a[i]!) * 1024) * MiB - 100 * MiB;
    const actual = targets.get(NAMES[i]!) ?? first + 100 * MiB;
    const total = actual - 100 * MiB;
    const anon = Math.min(total, Math.floor(first * 0.5 * d.anon[i]!));
    const file = Math.min(total - anon, Math.floor((first - anon) * d.file[i]!));
    guests.push({
      name: NAMES[i]!,
      memoryBytes: 4 * GiB,
      maxmemBytes: 8 * GiB,
      targetBytes: actual,
      actualBytes: actual,
      hostRssBytes: null,
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
        psi_some_avg10: d.psi[i]! < 0.05 ? 3 : 0,
        psi_full_avg10: 0,
      },
    });
  }
  // A host a little larger than its guests at first: as policies hand memory out, what
  // is free shrinks, and a round in which use changes has to take memory back.
  const held = guests.reduce((s, g) => s + g.actualBytes, 0);
  const total = HOST_BYTES;
  return {
    nowMs: t,
    host: { totalBytes: total, freeBytes: Math.max(0, total - held), reserveBytes: 0 },
    guests,
    reservedBytes: 0,
  };
}

const results: Record<string, unknown> = {};
for (const p of Object.values(POLICIES)) {
  (globalThis as { gc?: () => void }).gc?.();
  let state = p.initialState();
  const targets = new Map<string, number>();
  const apply = (ds: Array<{ name: string; targetBytes: number }>) => {
    for (const d of ds) targets.set(d.name, d.targetBytes);
  };
  // Warm up (JIT), then time every round.
  for (let k = 0; k < 20; k++) {
    const r = p.decide(observation(380_000 + k * 1000, targets), state);
    state = r.state;
    apply(r.decisions);
  }
  const times: number[] = [];
  const cpu: number[] = [];
  let decisions = 0;
  let most = 0;
  for (let k = 0; k < rounds; k++) {
    // Built outside the timed region: the daemon's observation comes from the backend.
    const o = observation(400_000 + k * 1000, targets);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const r = p.decide(o, state);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    state = r.state;
    decisions += r.decisions.length;
    most = Math.max(most, r.decisions.length);
    apply(r.decisions);
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const pct = (xs: number[], q: number) =>
    Number(xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!.toFixed(3));
  results[p.name] = {
    mean_ms: Number((times.reduce((a, b) => a + b, 0) / times.length).toFixed(3)),
    p50_ms: pct(times, 0.5),
    p99_ms: pct(times, 0.99),
    max_ms: pct(times, 1),
    // CPU time of the process in the round (main thread and GC helpers): what the round
    // cost, without the time the machine gave to other processes meanwhile.
    cpu_p50_ms: pct(cpu, 0.5),
    cpu_p99_ms: pct(cpu, 0.99),
    decisions_per_round: Math.round(decisions / rounds),
    most_decisions_in_a_round: most,
  };
}
console.log(
  JSON.stringify(
    {
      bench: "decision-loop",
      guests: n,
      rounds,
      goal_p99_ms: 5,
      // How busy the machine was (1-minute load average, and its CPUs): p99 of wall time
      // on a shared machine includes time given to others.
      load_average: Number(loadavg()[0]!.toFixed(2)),
      cpus: cpus().length,
      policies: results,
    },
    null,
    2,
  ),
);
