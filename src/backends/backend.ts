/**
 * One interface for every host Ballast controls (DESIGN.md, "The Backend interface"):
 * the simulator (`sim.ts`) and real QEMU guests (`qemu/`). Asynchronous, because real
 * backends talk to sockets; the simulator answers at once.
 */
import type { DomainInfo } from "../model/domain.js";
import type { Observation } from "../model/observation.js";
import type { EventsSince } from "../model/event_log.js";
import type { GuestSettings } from "../model/settings.js";
import type { GuestStats } from "../model/stats.js";

export interface HostInfo {
  totalBytes: number;
  freeBytes: number;
  reserveBytes: number;
  /** Guest memory is backed on first touch (KVM), not when given (Xen): HostObservation. */
  firstTouch?: boolean;
}

export interface BackendDomain extends DomainInfo {
  /** Has a working balloon the daemon may move. */
  balloonable: boolean;
  /**
   * What the host really backs for this guest (QEMU's RSS; the simulator's touched
   * memory on KVM, actual on Xen); null where it cannot be read, absent where the
   * backend has no notion of it.
   */
  hostRssBytes?: number | null;
  /** Its balloon has made no progress towards its target for 5 s (src/model/stall.ts). */
  stalled?: boolean;
  /** Settings the backend's own configuration gives (scenario, VM list), if any. */
  configured?: Partial<GuestSettings>;
}

/** What a policy observes, from a backend's host, running domains and their stats. */
export function toObservation(
  nowMs: number,
  host: HostInfo,
  running: BackendDomain[],
  stats: Array<GuestStats | null>,
  settings: (d: BackendDomain) => GuestSettings,
  reservedBytes: number,
): Observation {
  return {
    nowMs,
    host,
    reservedBytes,
    guests: running.map((d, i) => ({
      name: d.name,
      memoryBytes: d.memoryBytes,
      maxmemBytes: d.maxmemBytes,
      targetBytes: d.targetBytes,
      actualBytes: d.actualBytes,
      hostRssBytes: d.hostRssBytes ?? null,
      stats: stats[i] ?? null,
      settings: settings(d),
      balloonable: d.balloonable,
    })),
  };
}

export interface SetTargetOptions {
  /** Allow a target below the guest's floor. */
  force?: boolean;
  /** Say what would change; change nothing. */
  dryRun?: boolean;
}

export interface BackendResult {
  ok: boolean;
  code?: string;
  message: string;
}

export interface Backend {
  readonly kind: string;
  host(): Promise<HostInfo>;
  domains(): Promise<BackendDomain[]>;
  /** What the guest reports (untrusted), or null when it reports nothing. */
  stats(name: string): Promise<GuestStats | null>;
  setTarget(name: string, bytes: number, opts?: SetTargetOptions): Promise<BackendResult>;
  setMax(name: string, bytes: number): Promise<BackendResult>;
  /**
   * Events from index `since` on; `next` is the index to ask from next time. The log is a
   * ring (src/model/event_log.ts): `missed` counts events dropped before they were read.
   */
  events(since: number): EventsSince;
  close(): Promise<void>;
}
