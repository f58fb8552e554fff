/**
 * What a workload wants at virtual time t: for each process its anonymous memory and
 * hot part, for each file its size and hot part, in bytes. Pure and deterministic:
 * the same spec, seed and t always give the same answer.
 *
 * Shapes: steady (the base values), ramp (a phase with `over`), spike (`spikes`),
 * periodic (`periodic`, a raised cosine peaking mid-period: a diurnal tier), leak
 * (`leak`, cold memory that only grows), and trace replay (`trace`, linear between
 * the CSV's points).
 */
import { hashKey, uniformHashed } from "../rng.js";
import type { PhaseSpec, ProcessSpec, TraceSpec } from "./spec.js";

export interface Want {
  anon: number;
  hot: number;
}

export interface FileWant {
  size: number;
  hot: number;
}

/**
 * Apply the phases for one target in order: each moves its values (`a` and `b`: anon and
 * hot, or size and hot) linearly to its own over `over`. Called every tick for every
 * process and file: no allocation beyond the result.
 */
function phased(
  a: number,
  b: number,
  phases: readonly PhaseSpec[],
  keyA: "anon" | "size",
  t: number,
): [number, number] {
  for (const p of phases) {
    if (p.atMs > t) break;
    const progress = p.overMs <= 0 ? 1 : Math.min(1, (t - p.atMs) / p.overMs);
    const ta = p[keyA];
    if (ta !== undefined) a += (ta - a) * progress;
    if (p.hot !== undefined) b += (p.hot - b) * progress;
  }
  return [a, b];
}

/** The spike jitter's key hashed once per process and guest (it is hashed every tick). */
const spikeKeys = new WeakMap<ProcessSpec, Map<string, number>>();
function spikeKey(spec: ProcessSpec, scope: string): number {
  let m = spikeKeys.get(spec);
  if (!m) spikeKeys.set(spec, (m = new Map()));
  let h = m.get(scope);
  if (h === undefined) m.set(scope, (h = hashKey(`spike:${scope}:${spec.name}`)));
  return h;
}

function traceAt(trace: TraceSpec, t: number, column: "anon" | "file"): number {
  const pts = trace.points;
  if (pts.length === 0) return 0;
  if (t <= pts[0]!.tMs) return pts[0]![column];
  for (let i = 1; i < pts.length; i++) {
    const b = pts[i]!;
    if (t <= b.tMs) {
      const a = pts[i - 1]!;
      const span = b.tMs - a.tMs;
      const f = span <= 0 ? 1 : (t - a.tMs) / span;
      return a[column] + (b[column] - a[column]) * f;
    }
  }
  return pts[pts.length - 1]![column];
}

export function processWant(
  spec: ProcessSpec,
  phases: readonly PhaseSpec[],
  seed: number,
  t: number,
  /** Who runs it (the guest's name): two guests' spikes are drawn independently. */
  scope = "",
): Want {
  if (t < spec.startMs) return { anon: 0, hot: 0 };
  const mine = phases.every((p) => p.process === spec.name)
    ? phases
    : phases.filter((p) => p.process === spec.name);
  let [anon, hot] = phased(spec.anon, spec.hot, mine, "anon", t);
  const alive = t - spec.startMs;
  anon += (spec.leakBytesPerS * alive) / 1000;
  if (spec.periodic) {
    const { periodMs, anon: pa, hot: ph } = spec.periodic;
    const w = (1 - Math.cos((2 * Math.PI * alive) / periodMs)) / 2;
    anon += pa * w;
    hot += ph * w;
  }
  if (spec.spikes) {
    const s = spec.spikes;
    const k = Math.floor(alive / s.everyMs);
    const offset =
      s.jitterMs > 0 ? Math.floor(uniformHashed(seed, spikeKey(spec, scope), k) * s.jitterMs) : 0;
    const into = alive - k * s.everyMs - offset;
    if (into >= 0 && into < s.lengthMs) {
      anon += s.anon;
      hot += s.hot;
    }
  }
  anon = Math.max(0, anon);
  hot = Math.max(0, Math.min(hot, anon));
  return { anon, hot };
}

export function fileWant(
  name: string,
  size: number,
  hot: number,
  startMs: number,
  phases: readonly PhaseSpec[],
  t: number,
): FileWant {
  if (t < startMs) return { size: 0, hot: 0 };
  const mine = phases.every((p) => p.file === name)
    ? phases
    : phases.filter((p) => p.file === name);
  const [vs, vh] = phased(size, hot, mine, "size", t);
  const s = Math.max(0, vs);
  return { size: s, hot: Math.max(0, Math.min(vh, s)) };
}

export function traceProcessWant(trace: TraceSpec, t: number): Want {
  const anon = Math.max(0, traceAt(trace, t, "anon"));
  return { anon, hot: anon * trace.hotFraction };
}

export function traceFileWant(trace: TraceSpec, t: number): FileWant {
  const size = Math.max(0, traceAt(trace, t, "file"));
  return { size, hot: size * trace.fileHotFraction };
}
