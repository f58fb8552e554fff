/** What every layer says about a domain: its identity, sizes and state. */

export type Arch = "x86_64" | "i686";

/** Report states (ballast.sim.report/v1). */
export type DomainState = "running" | "boot-failed" | "crashed";

export type BootErrorCode =
  | "struct-pages-exceed-memory"
  | "struct-pages-exceed-lowmem"
  | "above-arch-limit"
  /** The toolstack could not find `memory` free on the host to build the domain. */
  | "above-host-free";

/** Why a domain is `crashed` (report: `crash: { t_s, reason }`). */
export interface CrashInfo {
  /** Virtual time of the crash, seconds. */
  t_s: number;
  /** What the guest printed (its kernel panic), or why the host killed it. */
  reason: string;
}

export interface BootError {
  code: BootErrorCode;
  message: string;
}

/** A domain as `list` shows it (the Backend's `domains()`), sizes in bytes. */
export interface DomainInfo {
  name: string;
  id: number;
  state: DomainState;
  memoryBytes: number;
  maxmemBytes: number;
  targetBytes: number;
  actualBytes: number;
}
