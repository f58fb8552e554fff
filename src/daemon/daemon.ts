/**
 * The daemon: watches every guest through a Backend, lets the policy decide targets,
 * applies them, and records every decision with its reason. With the simulator it
 * also drives virtual time: in real time, or `speed` times faster.
 */
import type { Backend, BackendDomain } from "../backends/backend.js";
import { SimBackend, settingsFor } from "../backends/sim.js";
import { computeFloor } from "../model/floor.js";
import type { Observation } from "../model/observation.js";
import { type GuestSettings, SettingsError, validateSettings } from "../model/settings.js";
import type { GuestStats } from "../model/stats.js";
import { getPolicy, POLICY_NAMES } from "../policy/index.js";
import type { Policy } from "../policy/policy.js";
import { formatSize } from "../units/index.js";
import { decisionLine, observe, runRound } from "./loop.js";
import type { Store } from "./store.js";

export interface DaemonOptions {
  backend: Backend;
  store: Store;
  /** Policy name; the stored one wins over this when the daemon restarts. */
  policy: string;
  /** Decision interval, ms; null = the policy's own. */
  intervalMs: number | null;
  /** Simulator only: virtual ms per real ms. */
  speed: number;
  log: (line: string) => void;
}

export interface DomainView {
  name: string;
  id: number;
  state: string;
  memory_bytes: number;
  maxmem_bytes: number;
  target_bytes: number;
  actual_bytes: number;
  floor_bytes: number | null;
  working_set_bytes: number | null;
  psi_some_avg10: number | null;
  psi_full_avg10: number | null;
  /** Real guests: what the host really holds for it (QEMU's VmRSS), and a stalled balloon. */
  rss_bytes?: number | null;
  stalled?: boolean;
  settings: { min_bytes: number; max_bytes: number; weight: number; buffer_pct: number };
}

export class DaemonError extends Error {
  override name = "DaemonError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function policyNamed(name: string) {
  const p = getPolicy(name);
  if (!p) {
    throw new DaemonError(
      400,
      "bad-policy",
      `unknown policy "${name}" (known: ${POLICY_NAMES.join(", ")})`,
    );
  }
  return p;
}

export class Daemon {
  private policy: Policy<unknown>;
  private policyState: unknown;
  private nextDecisionMs = 0;
  private eventCursor = 0;
  private timers: NodeJS.Timeout[] = [];
  private busy = false;
  private readonly reservations = new Map<string, number>();
  private nextReservation = 1;
  private wallStart = Date.now();
  readonly backend: Backend;
  readonly store: Store;

  constructor(private readonly opts: DaemonOptions) {
    this.backend = opts.backend;
    this.store = opts.store;
    const stored = opts.store.get("policy");
    const name = stored && getPolicy(stored) ? stored : opts.policy;
    const p = policyNamed(name);
    this.policy = p;
    this.policyState = p.initialState();
    opts.store.set("policy", p.name);
  }

  get policyName(): string {
    return this.policy.name;
  }

  get intervalMs(): number {
    return this.opts.intervalMs ?? this.policy.intervalMs;
  }

  /** Backend time: virtual for the simulator, wall otherwise. */
  nowMs(): number {
    return this.backend instanceof SimBackend ? this.backend.nowMs : Date.now() - this.wallStart;
  }

  reservedBytes(): number {
    let n = 0;
    for (const v of this.reservations.values()) n += v;
    return n;
  }

  settings(d: BackendDomain): GuestSettings {
    // Stored (operator) settings over the backend's configuration over the defaults.
    return { ...settingsFor(d), ...(this.store.getSettings(d.name) ?? {}) };
  }

  start(): void {
    if (this.backend instanceof SimBackend) {
      const sim = this.backend;
      const realTick = 100;
      this.timers.push(
        setInterval(() => {
          void this.guard(async () => {
            const step = sim.world.tickMs;
            const virtual = Math.max(step, Math.round((realTick * this.opts.speed) / step) * step);
            for (let done = 0; done < virtual; done += step) {
              sim.advance(step);
              if (sim.nowMs >= this.nextDecisionMs) await this.round();
            }
            this.drainEvents();
          });
        }, realTick),
      );
    } else {
      this.timers.push(setInterval(() => void this.guard(() => this.round()), this.intervalMs));
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async guard(f: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await f();
    } catch (e) {
      this.opts.log(`error: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  async observation(): Promise<Observation> {
    return observe(this.backend, this.nowMs(), (d) => this.settings(d), this.reservedBytes());
  }

  /** One decision round. */
  async round(): Promise<void> {
    const obs = await this.observation();
    const r = await runRound(this.backend, this.policy, this.policyState, obs);
    this.policyState = r.state;
    this.nextDecisionMs = obs.nowMs + this.intervalMs;
    const rows = r.applied.map((d) => {
      const line = decisionLine(d);
      this.opts.log(
        `[${(obs.nowMs / 1000).toFixed(1)}s] ${this.policy.name}: ${line}${d.ok ? "" : ` (refused: ${d.message})`}`,
      );
      return {
        t_s: obs.nowMs / 1000,
        domain: d.name,
        kind: "decision" as const,
        type: this.policy.name,
        code: d.ok ? null : "refused",
        message: line,
      };
    });
    this.store.append(rows);
    this.drainEvents();
  }

  /** Move the backend's new events into the history. */
  drainEvents(): void {
    const { events, next } = this.backend.events(this.eventCursor);
    this.eventCursor = next;
    this.store.append(
      events.map((e) => ({
        t_s: e.t_s,
        domain: e.domain,
        kind: "event" as const,
        type: e.type,
        code: e.code ?? null,
        message: e.message,
      })),
    );
  }

  async domains(): Promise<DomainView[]> {
    const ds = await this.backend.domains();
    const stats = await Promise.all(
      ds.map((d) => (d.state === "running" ? this.backend.stats(d.name) : Promise.resolve(null))),
    );
    return ds.map((d, i) => domainView(d, stats[i] ?? null, this.settings(d)));
  }

  private async find(name: string): Promise<BackendDomain> {
    const d = (await this.backend.domains()).find((x) => x.name === name);
    if (!d) throw new DaemonError(404, "no-such-domain", `no domain named "${name}"`);
    return d;
  }

  async setTarget(name: string, bytes: number, force: boolean, dryRun: boolean) {
    await this.find(name);
    const r = await this.backend.setTarget(name, bytes, { force, dryRun });
    const pinned =
      this.policy.name !== "none" && r.ok && !dryRun
        ? ` (policy ${this.policy.name} may move it; pin it with set min=max)`
        : "";
    this.store.append([
      {
        t_s: this.nowMs() / 1000,
        domain: name,
        kind: "event",
        type: r.ok ? "operator-mem-set" : "operator-mem-set-refused",
        code: r.code ?? null,
        message: r.message,
      },
    ]);
    this.drainEvents();
    return { ...r, message: `${r.message}${pinned}` };
  }

  async setMax(name: string, bytes: number) {
    await this.find(name);
    const r = await this.backend.setMax(name, bytes);
    this.drainEvents();
    return r;
  }

  async setSettings(name: string, patch: Partial<GuestSettings>): Promise<GuestSettings> {
    const d = await this.find(name);
    const next = { ...this.settings(d), ...patch };
    try {
      validateSettings(next, d.maxmemBytes);
    } catch (e) {
      if (e instanceof SettingsError)
        throw new DaemonError(400, "bad-settings", `${name}: ${e.message}`);
      throw e;
    }
    this.store.putSettings(name, patch);
    const msg = `${name}: settings min ${formatSize(next.minBytes)}, max ${formatSize(next.maxBytes)}, weight ${next.weight}, buffer ${next.bufferPct}%`;
    this.store.append([
      {
        t_s: this.nowMs() / 1000,
        domain: name,
        kind: "event",
        type: "settings",
        code: null,
        message: msg,
      },
    ]);
    this.opts.log(msg);
    return next;
  }

  setPolicy(name: string): void {
    const p = policyNamed(name);
    this.policy = p;
    this.policyState = p.initialState();
    this.nextDecisionMs = this.nowMs();
    this.store.set("policy", p.name);
    this.store.append([
      {
        t_s: this.nowMs() / 1000,
        domain: "-",
        kind: "event",
        type: "policy",
        code: null,
        message: `policy -> ${p.name}`,
      },
    ]);
    this.opts.log(`policy -> ${p.name}: ${p.summary}`);
  }

  async reserve(bytes: number): Promise<{ id: string; bytes: number; free_bytes: number }> {
    const host = await this.backend.host();
    const id = `r${this.nextReservation++}`;
    this.reservations.set(id, bytes);
    this.opts.log(`reservation ${id}: ${formatSize(bytes)} kept free for a new domain`);
    return { id, bytes, free_bytes: host.freeBytes };
  }

  release(id: string): boolean {
    return this.reservations.delete(id);
  }

  listReservations(): Array<{ id: string; bytes: number }> {
    return [...this.reservations].map(([id, bytes]) => ({ id, bytes }));
  }
}

export function domainView(
  d: BackendDomain,
  s: GuestStats | null,
  settings: GuestSettings,
): DomainView {
  const floor = s ? computeFloor(s, d.actualBytes) : null;
  return {
    name: d.name,
    id: d.id,
    state: d.state,
    memory_bytes: d.memoryBytes,
    maxmem_bytes: d.maxmemBytes,
    target_bytes: d.targetBytes,
    actual_bytes: d.actualBytes,
    floor_bytes: floor?.floorBytes ?? null,
    working_set_bytes: floor?.workingSetBytes ?? null,
    psi_some_avg10: s?.psi_some_avg10 ?? null,
    psi_full_avg10: s?.psi_full_avg10 ?? null,
    ...("rssBytes" in d ? { rss_bytes: (d as { rssBytes: number | null }).rssBytes } : {}),
    ...("stalled" in d ? { stalled: (d as { stalled: boolean }).stalled } : {}),
    settings: {
      min_bytes: settings.minBytes,
      max_bytes: settings.maxBytes,
      weight: settings.weight,
      buffer_pct: settings.bufferPct,
    },
  };
}
