/**
 * What a guest's /proc says about its memory, however it reached us: the Ballast
 * agent's JSON lines (the files already parsed in the guest) or qemu-ga's
 * guest-file-read of /proc/meminfo, /proc/vmstat and /proc/pressure/memory. One shape
 * for both, and one mapping to GuestStats. A guest is untrusted: text that does not
 * parse gives absent fields, never wrong numbers.
 */
import type { GuestStats } from "../../model/stats.js";
import { KiB, PAGE_SIZE } from "../../units/index.js";

export interface PsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  total: number;
}

export interface ProcSample {
  /** /proc/meminfo, kB as the file says. */
  meminfo_kb: Record<string, number>;
  /** /proc/vmstat counters (pgmajfault, pswpin, ...). */
  vmstat?: Record<string, number>;
  /** /proc/pressure/memory; absent where the kernel has no PSI. */
  psi: { some?: PsiLine; full?: PsiLine };
}

export const PROC_FILES = {
  meminfo: "/proc/meminfo",
  vmstat: "/proc/vmstat",
  pressure: "/proc/pressure/memory",
} as const;

const safe = (n: number) => Number.isSafeInteger(n) && n >= 0;

/** `MemTotal:  480416 kB` lines; values in kB. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^([A-Za-z0-9_()]+):\s+(\d+)(?: kB)?\s*$/gm)) {
    const v = Number(m[2]);
    if (safe(v)) out[m[1]!] = v;
  }
  return out;
}

/** `pgmajfault 123` lines. */
export function parseVmstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^([a-z0-9_]+) (\d+)\s*$/gm)) {
    const v = Number(m[2]);
    if (safe(v)) out[m[1]!] = v;
  }
  return out;
}

/** `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` (and `full ...`), as kernel/sched/psi.c prints. */
export function parsePressure(text: string): ProcSample["psi"] {
  const out: ProcSample["psi"] = {};
  const re = /^(some|full) avg10=([\d.]+) avg60=([\d.]+) avg300=([\d.]+) total=(\d+)\s*$/gm;
  for (const m of text.matchAll(re)) {
    const [a10, a60, a300, total] = [m[2], m[3], m[4], m[5]].map(Number) as [
      number,
      number,
      number,
      number,
    ];
    if ([a10, a60, a300].some((x) => !(x >= 0 && x <= 100))) continue;
    out[m[1] as "some" | "full"] = { avg10: a10, avg60: a60, avg300: a300, total };
  }
  return out;
}

/** The GuestStats fields a /proc sample gives. */
export function procStats(a: ProcSample): Partial<GuestStats> {
  const out: Partial<GuestStats> = {};
  const kb = (k: string) => (a.meminfo_kb[k] === undefined ? undefined : a.meminfo_kb[k]! * KiB);
  const put = (field: keyof GuestStats, value: number | undefined) => {
    if (value !== undefined) (out as Record<string, number>)[field] = value;
  };
  const sum = (x: string, y: string) =>
    kb(x) === undefined && kb(y) === undefined ? undefined : (kb(x) ?? 0) + (kb(y) ?? 0);
  put("total_bytes", kb("MemTotal"));
  put("free_bytes", kb("MemFree"));
  put("available_bytes", kb("MemAvailable"));
  put("anon_bytes", sum("Active(anon)", "Inactive(anon)"));
  put("file_bytes", sum("Active(file)", "Inactive(file)"));
  put("active_anon_bytes", kb("Active(anon)"));
  put("inactive_anon_bytes", kb("Inactive(anon)"));
  put("active_file_bytes", kb("Active(file)"));
  put("inactive_file_bytes", kb("Inactive(file)"));
  put("unevictable_bytes", kb("Unevictable"));
  put("slab_unreclaimable_bytes", kb("SUnreclaim"));
  put("swap_total_bytes", kb("SwapTotal"));
  put("swap_free_bytes", kb("SwapFree"));
  const vm = a.vmstat ?? {};
  put("major_faults", vm.pgmajfault);
  put("minor_faults", vm.pgfault);
  // pswpin/pswpout count pages (mm/page_io.c); virtio-balloon reports them in bytes.
  if (vm.pswpin !== undefined) put("swap_in_bytes", vm.pswpin * PAGE_SIZE);
  if (vm.pswpout !== undefined) put("swap_out_bytes", vm.pswpout * PAGE_SIZE);
  if (a.psi.some) {
    out.psi_some_avg10 = a.psi.some.avg10;
    out.psi_some_avg60 = a.psi.some.avg60;
    out.psi_some_avg300 = a.psi.some.avg300;
  }
  if (a.psi.full) {
    out.psi_full_avg10 = a.psi.full.avg10;
    out.psi_full_avg60 = a.psi.full.avg60;
    out.psi_full_avg300 = a.psi.full.avg300;
  }
  return out;
}
