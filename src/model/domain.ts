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

/**
 * A domain named as an operator names it: by its name or by its id, as in xl
 * (`xl mem-set 3 512m`). The name is tried first, so a domain literally named "3" is
 * reached as "3" (xl itself reads an all-digit argument as an id, always: Ballast's
 * order keeps such a domain reachable). Otherwise a whole decimal number names the domain
 * with that id. Undefined when neither matches (see noSuchDomain for the message).
 */
export function findDomain<T extends { name: string; id: number }>(
  domains: readonly T[],
  ref: string,
): T | undefined {
  const byName = domains.find((d) => d.name === ref);
  if (byName || !/^\d{1,15}$/.test(ref)) return byName;
  const id = Number(ref);
  return domains.find((d) => d.id === id);
}

/** Why `ref` names no domain: for a number, that it is neither a name nor an id. */
export function noSuchDomain(ref: string, what = "domain"): string {
  return /^\d{1,15}$/.test(ref)
    ? `no ${what} named "${ref}" and none with id ${Number(ref)}`
    : `no ${what} named "${ref}"`;
}
