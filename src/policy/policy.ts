/**
 * The shape every policy has: a pure function from what it observed (and its own
 * state, passed in and returned) to targets with reasons. No I/O, no clock: the same
 * policy runs a simulated hour in a second and on a real host.
 */
import type { Decision, Observation } from "../model/observation.js";
import { MiB } from "../units/index.js";

export interface PolicyResult<S> {
  decisions: Decision[];
  state: S;
  /**
   * When set, the controller runs the next round after this many ms instead of the
   * policy's `intervalMs` (squeezed checks every 10 s, but loops every second while it
   * is serving a request).
   */
  nextIntervalMs?: number;
}

export interface Policy<S = unknown> {
  readonly name: string;
  /** One line: where its rules come from. */
  readonly summary: string;
  /** How often its authors run it (ms); the daemon uses this unless told otherwise. */
  readonly intervalMs: number;
  initialState(): S;
  decide(obs: Observation, state: S): PolicyResult<S>;
}

/** Round down to a whole MiB, as targets are set in practice (and page-aligned). */
export function mibFloor(bytes: number): number {
  return Math.max(0, Math.floor(bytes / MiB) * MiB);
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
