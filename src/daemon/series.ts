/**
 * A short history of the host for the dashboard, so a page opened now has something to
 * draw: a ring buffer of samples, each in the shape of the report's `samples`
 * (DESIGN.md), plus the floor and the working set the daemon knows. Bounded by count,
 * never by time: a daemon that runs for months holds the same number of samples.
 */
import { Ring } from "../model/ring.js";
import type { Snapshot } from "./snapshot.js";

export interface SeriesDomain {
  state: string;
  actual_bytes: number;
  target_bytes: number;
  host_rss_bytes: number | null;
  floor_bytes: number | null;
  working_set_bytes: number | null;
  psi_some_avg10: number | null;
  psi_full_avg10: number | null;
}

export interface SeriesSample {
  /** Backend time, seconds (virtual for the simulator). */
  t_s: number;
  host: { total_bytes: number; free_bytes: number; reserved_bytes: number };
  domains: Record<string, SeriesDomain>;
}

export function toSample(s: Snapshot): SeriesSample {
  const domains: Record<string, SeriesDomain> = {};
  for (const d of s.domains) {
    domains[d.name] = {
      state: d.state,
      actual_bytes: d.actual_bytes,
      target_bytes: d.target_bytes,
      host_rss_bytes: d.host_rss_bytes,
      floor_bytes: d.floor_bytes,
      working_set_bytes: d.working_set_bytes,
      psi_some_avg10: d.psi_some_avg10,
      psi_full_avg10: d.psi_full_avg10,
    };
  }
  return {
    t_s: s.t_s,
    host: {
      total_bytes: s.host.total_bytes,
      free_bytes: s.host.free_bytes,
      reserved_bytes: s.host.reserved_bytes,
    },
    domains,
  };
}

export class Series {
  private readonly ring: Ring<SeriesSample>;

  constructor(capacity = 600) {
    this.ring = new Ring(capacity);
  }

  add(s: Snapshot): void {
    // The simulator's clock stands still while nothing advances it (an operator's
    // mem-set still changes the target): a sample at the same time replaces the last.
    if (this.ring.last()?.t_s === s.t_s) this.ring.replaceLast(toSample(s));
    else this.ring.push(toSample(s));
  }

  /** Samples after `sinceS` (all when null), oldest first. */
  since(sinceS: number | null): SeriesSample[] {
    const all = this.ring.toArray();
    return sinceS === null ? all : all.filter((x) => x.t_s > sinceS);
  }

  get length(): number {
    return this.ring.length;
  }

  get capacity(): number {
    return this.ring.capacity;
  }
}
