/** Where the daemon keeps its state, and how a client finds the daemon and its token. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export function defaultStateDir(): string {
  if (process.env.BALLAST_STATE_DIR) return process.env.BALLAST_STATE_DIR;
  const base = process.env.XDG_STATE_HOME ?? join(homedir(), ".local", "state");
  return join(base, "ballast");
}

export interface DaemonInfo {
  listen: string;
  pid: number;
}

export function readDaemonInfo(stateDir: string): DaemonInfo | null {
  const f = join(stateDir, "daemon.json");
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, "utf8")) as DaemonInfo;
  } catch {
    return null;
  }
}

/** The daemon's token, or null when it cannot be read (a change is then refused with 401). */
export function readToken(stateDir: string): string | null {
  try {
    const t = readFileSync(join(stateDir, "token"), "utf8").trim();
    return t === "" ? null : t;
  } catch {
    return null;
  }
}
