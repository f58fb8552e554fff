/**
 * The simulator as a Backend. The world advances only when told (`advance`), so the
 * daemon can drive it in real time (or `--speed N` faster) and the policy benchmark in
 * virtual time, with the same code in between.
 */
import type { Observation } from "../model/observation.js";
import { defaultSettings, type GuestSettings } from "../model/settings.js";
import type { GuestStats } from "../model/stats.js";
import { loadScenario } from "../sim/scenario.js";
import { DOM0_NAME, World } from "../sim/world.js";
import { PAGE_SIZE } from "../units/index.js";
import {
  type Backend,
  type BackendDomain,
  type BackendResult,
  type HostInfo,
  type SetTargetOptions,
  toObservation,
} from "./backend.js";

export class SimBackend implements Backend {
  readonly kind = "sim";
  constructor(readonly world: World) {}

  static fromFile(file: string): SimBackend {
    return new SimBackend(new World(loadScenario(file)));
  }

  /** Advance virtual time by `ms` (whole ticks). */
  advance(ms: number): void {
    const until = this.world.nowMs + ms;
    while (this.world.nowMs + this.world.tickMs <= until) this.world.step();
  }

  get nowMs(): number {
    return this.world.nowMs;
  }

  hostSync(): HostInfo {
    const hv = this.world.hv;
    return {
      totalBytes: hv.memoryPages * PAGE_SIZE,
      freeBytes: hv.freePages * PAGE_SIZE,
      reserveBytes: hv.reservePages * PAGE_SIZE,
    };
  }

  domainsSync(): BackendDomain[] {
    return this.world.domains.map((d) => {
      const spec = this.world.scenario.domains.find((s) => s.name === d.name);
      const out: BackendDomain = {
        name: d.name,
        id: d.id,
        state: d.state,
        memoryBytes: d.memoryBytes,
        maxmemBytes: d.maxmemBytes,
        targetBytes: d.targetBytes,
        actualBytes: d.guest ? d.guest.actual() * PAGE_SIZE : 0,
        balloonable: d.state === "running",
      };
      if (spec?.settings) out.configured = spec.settings;
      return out;
    });
  }

  statsSync(name: string): GuestStats | null {
    const d = this.world.domains.find((x) => x.name === name);
    return d?.guest ? d.guest.reportedStats(this.world.nowMs) : null;
  }

  /** The observation a policy gets, from the world as it is now. */
  observe(settings: (d: BackendDomain) => GuestSettings, reservedBytes: number): Observation {
    const running = this.domainsSync().filter((d) => d.state === "running");
    const stats = running.map((d) => this.statsSync(d.name));
    return toObservation(
      this.world.nowMs,
      this.hostSync(),
      running,
      stats,
      settings,
      reservedBytes,
    );
  }

  setTargetSync(name: string, bytes: number, opts: SetTargetOptions = {}): BackendResult {
    const r = this.world.runCommand({
      verb: "mem-set",
      domain: name,
      bytes,
      force: !!opts.force,
      dryRun: !!opts.dryRun,
    });
    return r.code === undefined
      ? { ok: r.ok, message: r.message }
      : { ok: r.ok, code: r.code, message: r.message };
  }

  async host(): Promise<HostInfo> {
    return this.hostSync();
  }
  async domains(): Promise<BackendDomain[]> {
    return this.domainsSync();
  }
  async stats(name: string): Promise<GuestStats | null> {
    return this.statsSync(name);
  }
  async setTarget(
    name: string,
    bytes: number,
    opts: SetTargetOptions = {},
  ): Promise<BackendResult> {
    return this.setTargetSync(name, bytes, opts);
  }
  async setMax(name: string, bytes: number): Promise<BackendResult> {
    const r = this.world.runCommand({ verb: "mem-max", domain: name, bytes });
    return r.code === undefined
      ? { ok: r.ok, message: r.message }
      : { ok: r.ok, code: r.code, message: r.message };
  }
  events(since: number) {
    const all = this.world.events;
    return { events: all.slice(since), next: all.length };
  }
  async close(): Promise<void> {}
}

/** Settings for a domain: the backend's configured values over the defaults. */
export function settingsFor(d: BackendDomain): GuestSettings {
  const base = defaultSettings(d.memoryBytes, d.maxmemBytes);
  const s = { ...base, ...(d.configured ?? {}) };
  if (d.name === DOM0_NAME && !d.configured?.minBytes)
    s.minBytes = Math.min(d.memoryBytes, s.maxBytes);
  return s;
}
