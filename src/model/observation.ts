/**
 * What a policy sees: a snapshot of the host and its guests. Sizes in bytes, time in
 * milliseconds. Guest statistics come from the guest and may be absent or lies.
 */
import type { GuestSettings } from "./settings.js";
import type { GuestStats } from "./stats.js";

export interface HostObservation {
  totalBytes: number;
  freeBytes: number;
  reserveBytes: number;
  /**
   * Guest memory is backed when the guest first touches it, not when it is given (KVM:
   * QEMU's RAM is an anonymous mapping): a target above what a guest has touched costs
   * the host nothing yet, and `hostRssBytes` is what it does cost. Absent: false (Xen
   * populates a domain's memory as its balloon deflates).
   */
  firstTouch?: boolean;
}

export interface GuestObservation {
  name: string;
  /** Memory the guest was started with. */
  memoryBytes: number;
  maxmemBytes: number;
  targetBytes: number;
  /** What the host backs now (host truth). */
  actualBytes: number;
  /**
   * What the host holds for it in fact: on a host that backs guest memory on first touch
   * (KVM) this is below actual by what the guest never touched or gave back through free
   * page reporting; null where unknown (take actual).
   */
  hostRssBytes: number | null;
  /** Untrusted. */
  stats: GuestStats | null;
  settings: GuestSettings;
  /** Dom0 and guests without a working balloon are observed but never moved. */
  balloonable: boolean;
}

export interface Observation {
  nowMs: number;
  host: HostObservation;
  guests: GuestObservation[];
  /** Memory promised to domains about to start (kept free, as squeezed's reservations). */
  reservedBytes: number;
}

export interface Decision {
  name: string;
  targetBytes: number;
  /** Why, in words an operator reads in the log. */
  reason: string;
}
