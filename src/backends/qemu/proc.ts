/**
 * Host truth from /proc: the host's memory, which process serves a QMP socket, and how
 * much memory that QEMU process really holds (VmRSS).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { resolve } from "node:path";
import { KiB } from "../../units/index.js";

export function hostMeminfo(): { totalBytes: number; availableBytes: number } {
  const text = readFileSync("/proc/meminfo", "utf8");
  const kb = (k: string) =>
    Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * KiB;
  return { totalBytes: kb("MemTotal"), availableBytes: kb("MemAvailable") };
}

/** The PID of the process listening on unix socket `path` (via /proc/net/unix and fds). */
export function pidOfSocket(path: string): number | null {
  const want = resolve(path);
  let inode: string | null = null;
  try {
    for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = listening.
      if (f[7] === want && f[3] === "00010000") {
        inode = f[6]!;
        break;
      }
    }
  } catch {
    return null;
  }
  if (!inode) return null;
  const target = `socket:[${inode}]`;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return null;
}

/** VmRSS of a process, bytes; null when it is gone. */
export function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * KiB : null;
  } catch {
    return null;
  }
}
