/**
 * A guest's workload, resolved from the scenario into bytes and milliseconds.
 * What each field means is documented in the README ("Workloads").
 */

export interface PeriodicSpec {
  periodMs: number;
  /** Extra anonymous memory at the peak (half-way through each period). */
  anon: number;
  hot: number;
}

export interface SpikeSpec {
  everyMs: number;
  lengthMs: number;
  anon: number;
  hot: number;
  /** Each spike starts up to this much later, chosen from the seed. */
  jitterMs: number;
}

export interface ProcessSpec {
  name: string;
  anon: number;
  hot: number;
  startMs: number;
  /** Cold anonymous memory added per second (a leak). */
  leakBytesPerS: number;
  periodic: PeriodicSpec | null;
  spikes: SpikeSpec | null;
}

export interface FileSpec {
  name: string;
  size: number;
  hot: number;
  startMs: number;
  readRateBytesPerS: number;
}

export interface PhaseSpec {
  atMs: number;
  overMs: number;
  process?: string;
  file?: string;
  anon?: number;
  hot?: number;
  size?: number;
}

export interface TracePoint {
  tMs: number;
  anon: number;
  file: number;
}

export interface TraceSpec {
  /** Process `NAME` gets the anon column, file `NAME-cache` the file column. */
  name: string;
  points: TracePoint[];
  /** Share of the traced anon that is hot. */
  hotFraction: number;
  /** Share of the traced file cache that is hot. */
  fileHotFraction: number;
}

export interface WorkloadSpec {
  processes: ProcessSpec[];
  files: FileSpec[];
  phases: PhaseSpec[];
  trace: TraceSpec | null;
}

export function emptyWorkload(): WorkloadSpec {
  return { processes: [], files: [], phases: [], trace: null };
}
