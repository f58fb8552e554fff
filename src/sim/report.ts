/**
 * The run report, schema `ballast.sim.report/v1` (DESIGN.md). Fields may be added,
 * none renamed. Byte figures are integers; E820 addresses are bytes, end exclusive.
 */
import type { CrashInfo } from "../model/domain.js";
import type { SimEvent } from "../model/events.js";
import { PAGE_SIZE } from "../units/index.js";
import type { E820Entry } from "./guest/e820.js";
import { heldPages, type Sample, type World } from "./world.js";

export const REPORT_SCHEMA = "ballast.sim.report/v1";

export interface DomainReport {
  name: string;
  id: number;
  arch: string;
  state: "running" | "boot-failed" | "crashed";
  boot_error: { code: string; message: string } | null;
  memory_bytes: number;
  maxmem_bytes: number;
  target_bytes: number;
  actual_bytes: number;
  balloon_bytes: number;
  mem_map_bytes: number;
  lowmem_free_bytes: number | null;
  e820: E820Entry[];
  /** What the host really backs: on xen equal to actual_bytes; on kvm what the guest touched. */
  host_rss_bytes: number;
  /** Set when state is crashed: when, and what the guest printed (or why the host killed it). */
  crash: CrashInfo | null;
  stats: {
    oom_kills: number;
    major_faults: number;
    swap_in_bytes: number;
    swap_out_bytes: number;
    available_bytes: number;
    free_bytes: number;
    anon_bytes: number;
    file_bytes: number;
    psi_some_avg10: number;
    psi_full_avg10: number;
    // Additions beyond v1's required fields:
    psi_some_avg60: number;
    psi_full_avg60: number;
    swap_used_bytes: number;
    /** MemTotal as the guest reports it. */
    mem_total_bytes: number;
  };
  // Additions:
  /** Of balloon_bytes, the credit for pages released from E820 holes at boot. */
  released_hole_bytes: number;
  /** i686: lowmem populated at boot. */
  lowmem_bytes: number | null;
  /** The E820 as the booted kernel sees it (RAM it may balloon into marked reserved). */
  kernel_e820: E820Entry[];
  /** The balloon driver: drivers/xen/balloon.c or virtio_balloon. */
  balloon_driver: "xen" | "virtio" | null;
  /** min_free_kbytes as the guest kernel set it at boot (null: no guest). */
  min_free_kbytes: number | null;
}

export interface Report {
  schema: typeof REPORT_SCHEMA;
  duration_s: number;
  seed: number;
  host: {
    memory_bytes: number;
    free_bytes: number;
    reserve_bytes: number;
    hypervisor: "xen" | "kvm";
  };
  domains: DomainReport[];
  events: SimEvent[];
  /** Present when asked for (`samples:` or --samples). */
  samples?: Sample[];
}

export function buildReport(w: World): Report {
  const b = (pages: number) => pages * PAGE_SIZE;
  const domains: DomainReport[] = w.domains.map((d) => {
    // A domain whose memory went back to the host (destroyed on crash) holds nothing.
    const g = d.memoryReleased ? null : d.guest;
    const s = g?.stats(w.nowMs);
    return {
      name: d.name,
      id: d.id,
      arch: d.arch,
      state: d.state,
      boot_error: d.bootError ? { code: d.bootError.code, message: d.bootError.message } : null,
      memory_bytes: d.memoryBytes,
      maxmem_bytes: d.maxmemBytes,
      target_bytes: d.targetBytes,
      actual_bytes: g ? b(g.shownActual()) : 0,
      balloon_bytes: g ? b(g.balloonList()) : 0,
      mem_map_bytes: d.layout ? b(d.layout.memMapPages) : 0,
      lowmem_free_bytes: g && g.lowmemFrames !== null ? b(g.lowmemFree()!) : null,
      e820: d.e820.map((e) => ({ start: e.start, end: e.end, type: e.type })),
      host_rss_bytes: b(heldPages(d)),
      crash: d.crash,
      stats: {
        oom_kills: d.guest?.oomKills ?? 0,
        major_faults: g?.majorFaults ?? 0,
        swap_in_bytes: s?.swap_in_bytes ?? 0,
        swap_out_bytes: s?.swap_out_bytes ?? 0,
        available_bytes: s?.available_bytes ?? 0,
        free_bytes: s?.free_bytes ?? 0,
        anon_bytes: s?.anon_bytes ?? 0,
        file_bytes: s?.file_bytes ?? 0,
        psi_some_avg10: s?.psi_some_avg10 ?? 0,
        psi_full_avg10: s?.psi_full_avg10 ?? 0,
        psi_some_avg60: s?.psi_some_avg60 ?? 0,
        psi_full_avg60: s?.psi_full_avg60 ?? 0,
        swap_used_bytes: g ? b(g.swapUsed()) : 0,
        mem_total_bytes: s?.total_bytes ?? 0,
      },
      released_hole_bytes: g ? b(g.releasedHole) : 0,
      lowmem_bytes: d.layout?.lowmemFrames != null ? b(d.layout.lowmemFrames) : null,
      kernel_e820: d.layout ? d.layout.kernelE820 : [],
      balloon_driver: d.guest ? d.guest.driver.kind : null,
      min_free_kbytes: d.layout ? d.layout.reserves.minFreeKbytes : null,
    };
  });
  return {
    schema: REPORT_SCHEMA,
    duration_s: w.nowMs / 1000,
    seed: w.seed,
    host: {
      memory_bytes: b(w.hv.memoryPages),
      free_bytes: b(w.hv.freePages),
      reserve_bytes: b(w.hv.reservePages),
      hypervisor: w.hypervisor,
    },
    domains,
    events: w.events,
    ...(w.samplesMs !== null ? { samples: w.samples } : {}),
  };
}
