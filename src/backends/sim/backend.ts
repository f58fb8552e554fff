/**
 * The simulator as a Backend. The world advances only when told (`advance`), so the
 * daemon can drive it in real time (or `--speed N` faster) and the policy benchmark in
 * virtual time, with the same code in between. The same file roles as the qemu and
 * libvirt backends: discovery (the domains), balloon (targets), memory_devices (the
 * ceiling), stats, stall_watch; the world itself is the transport.
 */
import type { EventsSince } from "../../model/event_log.js";
import type { Observation } from "../../model/observation.js";
import { defaultSettings, type GuestSettings } from "../../model/settings.js";
import type { GuestStats } from "../../model/stats.js";
import { loadScenario } from "../../sim/scenario.js";
import { DOM0_NAME, World } from "../../sim/world.js";
import { PAGE_SIZE } from "../../units/index.js";
import {
  type Backend,
  type BackendDomain,
  type BackendResult,
  type HostInfo,
  type SetTargetOptions,
  toObservation,
} from "../backend.js";
import { setSimTarget } from "./balloon.js";
import { simDomain } from "./discovery.js";
import { setSimMax } from "./memory_devices.js";
import { SimStallWatch } from "./stall_watch.js";
import { simStats } from "./stats.js";

export class SimBackend implements Backend {
  readonly kind = "sim";
  private readonly watch = new SimStallWatch();
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
      firstTouch: this.world.hypervisor === "kvm",
    };
  }

  domainsSync(): BackendDomain[] {
    const running = new Set<string>();
    const out = this.world.domains.map((d) => {
      const b = simDomain(this.world, d);
      if (d.state === "running") {
        running.add(d.name);
        b.stalled = this.watch.sample(d.name, b.targetBytes, b.actualBytes, this.world.nowMs);
      }
      return b;
    });
    this.watch.keepOnly(running);
    return out;
  }

  statsSync(name: string): GuestStats | null {
    return simStats(this.world, name);
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
    return setSimTarget(this.world, name, bytes, opts);
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
    return setSimMax(this.world, name, bytes);
  }
  events(since: number): EventsSince {
    return this.world.eventLog.since(since);
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
