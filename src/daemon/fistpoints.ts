/**
 * Named fault switches ("fistpoints", as xen-api's squeezed has): a test sets
 * `BALLAST_FISTPOINT=kill:NAME` in a daemon's environment and the daemon SIGKILLs
 * itself when it reaches NAME, so that "killed in the middle of a decision round" is a
 * repeatable test instead of a race. Without the variable each point costs one string
 * comparison. Points:
 *
 *   after-journal   a target is written down in the state database, not yet applied
 *   after-apply     the backend has applied it, the database does not say so yet
 */
export type Fistpoint = "after-journal" | "after-apply";

const armed = new Set(
  (process.env.BALLAST_FISTPOINT ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("kill:"))
    .map((s) => s.slice(5)),
);

export function fistpoint(name: Fistpoint): void {
  if (armed.size > 0 && armed.has(name)) process.kill(process.pid, "SIGKILL");
}
