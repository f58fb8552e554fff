/** A backend's event history: what happened to its domains, read by index (Backend.events). */
import type { EventType, SimEvent } from "../../model/events.js";

export class EventLog {
  private log: SimEvent[] = [];
  constructor(private readonly t0Ms: number) {}

  emit(domain: string, type: EventType, message: string, code?: string): void {
    const e: SimEvent = { t_s: (Date.now() - this.t0Ms) / 1000, domain, type, message };
    if (code) e.code = code;
    this.log.push(e);
  }

  since(index: number): { events: SimEvent[]; next: number } {
    return { events: this.log.slice(index), next: this.log.length };
  }
}
