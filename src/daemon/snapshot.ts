/**
 * One look at the daemon's host: host memory, reservations and every domain's view
 * (target, actual, floor, pressure, settings), plus what the host really backs for each
 * guest. The dashboard's time series and the Prometheus metrics are both fed from it,
 * so a chart and a scrape taken at the same moment agree.
 */
import type { Daemon, DomainView } from "./daemon.js";
import { domainView } from "./daemon.js";

export interface DomainSnapshot extends DomainView {
  /**
   * What the host backs for the guest: QEMU's VmRSS where the backend knows it (null
   * when it cannot read it); otherwise `actual`, as on Xen, where the hypervisor
   * populates exactly the guest's current reservation.
   */
  host_rss_bytes: number | null;
}

export interface Snapshot {
  /** Backend time (virtual for the simulator), seconds. */
  t_s: number;
  policy: string;
  host: {
    total_bytes: number;
    free_bytes: number;
    /** The hypervisor's own (Xen's reserve), never given to guests. */
    hypervisor_reserve_bytes: number;
    /** Kept free for domains about to start (the daemon's reservations). */
    reserved_bytes: number;
  };
  domains: DomainSnapshot[];
}

export async function takeSnapshot(daemon: Daemon): Promise<Snapshot> {
  const backend = daemon.backend;
  const [host, ds] = await Promise.all([backend.host(), backend.domains()]);
  const stats = await Promise.all(
    ds.map((d) => (d.state === "running" ? backend.stats(d.name) : Promise.resolve(null))),
  );
  return {
    t_s: daemon.nowMs() / 1000,
    policy: daemon.policyName,
    host: {
      total_bytes: host.totalBytes,
      free_bytes: host.freeBytes,
      hypervisor_reserve_bytes: host.reserveBytes,
      reserved_bytes: daemon.reservedBytes(),
    },
    domains: ds.map((d, i) => {
      const v = domainView(d, stats[i] ?? null, daemon.settings(d));
      return { ...v, host_rss_bytes: v.rss_bytes === undefined ? v.actual_bytes : v.rss_bytes };
    }),
  };
}
