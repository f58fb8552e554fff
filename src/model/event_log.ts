/**
 * The event log every backend keeps (Backend.events) and the simulated world writes: what
 * happened to the domains, read by index with a cursor of the reader's own.
 *
 * Bounded: a ring of the last `capacity` events, so a daemon that runs for months holds
 * the same number. Indexes keep counting from the first event ever logged, so `since(i)`
 * means the same thing before and after old events are dropped; a reader that fell behind
 * gets what is left and learns how many it missed (`missed`), rather than a silent gap.
 */
import { Ring } from "./ring.js";
import type { EventType, SimEvent } from "./events.js";

/**
 * How many events a backend keeps: 10,000. The daemon copies its backend's log into its
 * history after every round (every 1-15 s, by policy) and every simulated step (100 ms),
 * so the log only has to cover the gap between two reads. The busiest source is QEMU's
 * BALLOON_CHANGE, which QEMU rate-limits to one a second per guest: 100 guests moving at
 * once log at most ~100 events a second, 1,500 in mom's 15 s round, well under 10,000.
 * At a few hundred bytes an event that is 2-4 MB at most, and a direct reader (`ballast
 * list --backend ...`) or a test that reads from 0 still sees minutes of history.
 */
export const EVENT_LOG_CAPACITY = 10_000;

/** What `since(i)` returns: the events from i on, the next index, and how many were lost. */
export interface EventsSince {
  events: SimEvent[];
  /** The index to ask from next time. */
  next: number;
  /** Events between i and the oldest one kept, dropped before the reader asked. */
  missed: number;
}

export class EventLog {
  private ring: Ring<SimEvent>;
  /** Events ever logged: the index the next one gets. */
  private total = 0;

  constructor(
    /** The time an event is stamped with, seconds (virtual for the simulator). */
    private readonly nowS: () => number,
    capacity: number = EVENT_LOG_CAPACITY,
  ) {
    this.ring = new Ring(capacity);
  }

  get capacity(): number {
    return this.ring.capacity;
  }

  /** The index of the next event. */
  get next(): number {
    return this.total;
  }

  /** The index of the oldest event kept. */
  get first(): number {
    return this.total - this.ring.length;
  }

  emit(domain: string, type: EventType, message: string, code?: string): void {
    const e: SimEvent = { t_s: this.nowS(), domain, type, message };
    if (code !== undefined) e.code = code;
    this.push(e);
  }

  push(e: SimEvent): void {
    this.ring.push(e);
    this.total++;
  }

  /** Events from index `index` on (an index past the end gives none: `next` is then where to start). */
  since(index: number): EventsSince {
    const from = Math.max(0, Math.floor(index));
    const first = this.first;
    const missed = Math.max(0, first - from);
    return { events: this.ring.slice(Math.max(from, first) - first), next: this.total, missed };
  }

  /** Every event kept, oldest first. */
  all(): SimEvent[] {
    return this.ring.toArray();
  }

  /**
   * Keep at most `capacity` events from now on (the oldest beyond it dropped now):
   * the simulated world logs every event for its report, and is bounded when a daemon
   * runs it for months.
   */
  bound(capacity: number): void {
    if (capacity >= this.ring.capacity) return;
    const kept = this.ring.toArray().slice(-capacity);
    this.ring = new Ring(capacity);
    for (const e of kept) this.ring.push(e);
  }
}
