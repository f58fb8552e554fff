/** The live table `ballast top` and `ballast daemon --top` draw. */
import type { HostInfo } from "../backends/backend.js";
import type { DomainView } from "../daemon/daemon.js";
import { formatSize } from "../units/index.js";
import { mib, table } from "./table.js";

export interface DomainsResponse {
  policy: string;
  t_s: number;
  domains: DomainView[];
}

export function domainsTable(r: DomainsResponse, verbose = false): string {
  const rows = r.domains.map((d) => [
    d.name,
    String(d.id),
    mib(d.actual_bytes),
    mib(d.target_bytes),
    d.floor_bytes === null ? "-" : mib(d.floor_bytes),
    mib(d.settings.min_bytes),
    mib(d.settings.max_bytes),
    String(d.settings.weight),
    d.psi_some_avg10 === null ? "-" : d.psi_some_avg10.toFixed(2),
    d.psi_full_avg10 === null ? "-" : d.psi_full_avg10.toFixed(2),
    d.state,
    d.pin_bytes == null ? "-" : mib(d.pin_bytes),
    ...(verbose ? [d.rss_bytes == null ? "-" : mib(d.rss_bytes), d.stalled ? "stalled" : "-"] : []),
  ]);
  // Every size column says its unit, as xl list's Mem(MiB) does; PSI is a percentage.
  const header = [
    "Name",
    "ID",
    "Mem(MiB)",
    "Target(MiB)",
    "Floor(MiB)",
    "Min(MiB)",
    "Max(MiB)",
    "Weight",
    "PSI some(%)",
    "full(%)",
    "State",
    "Pin(MiB)",
  ];
  // RSS: what the host really holds for the guest (QEMU's VmRSS).
  return table(verbose ? [...header, "RSS(MiB)", "Balloon"] : header, rows);
}

export function renderTop(r: DomainsResponse, host: HostInfo, log: string[]): string {
  const head =
    `ballast top - policy ${r.policy} - t=${r.t_s.toFixed(1)}s - host ${formatSize(host.totalBytes)}, ` +
    `free ${formatSize(host.freeBytes)}, reserve ${formatSize(host.reserveBytes)}`;
  return [
    head,
    "",
    domainsTable(r),
    "",
    "recent decisions:",
    ...(log.length ? log : ["  (none yet)"]),
  ].join("\n");
}
