/**
 * The daemon: watches every guest through a Backend, lets the policy decide targets,
 * applies them, and records every decision with its reason. With the simulator it
 * also drives virtual time: in real time, or `speed` times faster.
 *
 * What it guarantees on top of the loop:
 * - Operator intent lasts: a mem-set pins the guest at its target (the policy sees it
 *   with min = max = the pin, and its decisions for it are dropped) until `set NAME
 *   auto` or the next mem-set; pins are stored and survive a restart.
 * - Admission: a reservation or a domain start the host cannot meet without pushing a
 *   guest below max(floor, min) is refused with the figures, never served by shrinking
 *   guests to nothing.
 * - State first: every change is written to the store before it is applied, so a
 *   crash loses nothing; `restore()` puts back targets, pins and mem-max at start.
 */
import type { Backend, BackendDomain, BackendResult } from "../backends/backend.js";
import { SimBackend, settingsFor } from "../backends/sim/backend.js";
import { EVENT_LOG_CAPACITY } from "../model/event_log.js";
import { findDomain, noSuchDomain } from "../model/domain.js";
import { computeFloor } from "../model/floor.js";
import type { Observation } from "../model/observation.js";
import { type GuestSettings, SettingsError, validateSettings } from "../model/settings.js";
import type { GuestStats } from "../model/stats.js";
import { getPolicy, PolicySpecError, parsePolicy } from "../policy/index.js";
import type { DomainSpec } from "../sim/host/domain_builder.js";
import { formatSize } from "../units/index.js";
import {
  applyTarget,
  Controller,
  type ControllerRound,
  decisionLine,
  driveSim,
  observe,
  type RoundGuard,
  type TargetIntent,
  type TargetJournal,
} from "./loop.js";
import type { Log } from "./log.js";
import { DaemonMetrics } from "./metrics.js";
import type { Store, TargetRow } from "./store.js";

/**
 * A pin the backend refused to put back (a guest that came back without statistics
 * yet, so its floor is unknown) is tried again after this long, not every round.
 */
export const PIN_RETRY_MS = 10_000;

/** A domain start waits at most this long for the policy to free its memory (squeezed-style). */
export const START_WAIT_MS = 60_000;

/** History older than this is deleted (`ballast daemon --retention`): 30 days. */
export const DEFAULT_RETENTION_MS = 30 * 24 * 3_600_000;

/**
 * Old history is deleted this often, not every round: one indexed DELETE an hour keeps
 * the table within an hour of the retention and costs a round nothing.
 */
export const PRUNE_EVERY_MS = 3_600_000;

export interface DaemonOptions {
  backend: Backend;
  store: Store;
  /** Policy name; the stored one wins over this when the daemon restarts. */
  policy: string;
  /** Decision interval, ms; null = the policy's own. */
  intervalMs: number | null;
  /** Simulator only: virtual ms per real ms. */
  speed: number;
  log: Log;
  /** History rows older than this (wall time) are deleted; default DEFAULT_RETENTION_MS. */
  retentionMs?: number;
  /** Wall-clock time, ms since the epoch (tests give a fake one; the store's should match). */
  wallNow?: () => number;
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
  /** The operator's pin (a mem-set the policy leaves alone), or null. */
  pin_bytes: number | null;
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

/**
 * What the host can make free for a new domain without pushing any guest below
 * max(floor, min): free memory now, plus what each balloonable guest holds above that
 * line. A guest whose floor is unknown (no statistics) counts as holding nothing spare.
 * On a host that backs guest memory on first touch (KVM) a guest holds only what it
 * touched: the rest of what it has is free on the host already, and counting it again
 * would promise reservations the host cannot keep.
 */
export function room(obs: Observation): { freeBytes: number; freeableBytes: number } {
  let freeable = 0;
  for (const g of obs.guests) {
    if (!g.balloonable) continue;
    const held =
      obs.host.firstTouch && g.hostRssBytes !== null
        ? Math.min(g.actualBytes, g.hostRssBytes)
        : g.actualBytes;
    const floor = g.stats ? computeFloor(g.stats, g.actualBytes) : null;
    const line = Math.max(floor?.floorBytes ?? held, g.settings.minBytes);
    freeable += Math.max(0, held - line);
  }
  return { freeBytes: obs.host.freeBytes, freeableBytes: freeable };
}

/** The policy a spec names (NAME[:KEY=VALUE,...]); a bad spec is a 400 saying why. */
function policyNamed(spec: string) {
  try {
    return parsePolicy(spec);
  } catch (e) {
    if (e instanceof PolicySpecError) throw new DaemonError(400, "bad-policy", e.message);
    throw e;
  }
}

export class Daemon {
  /** The one controller loop: schedule, policy and its state. */
  private readonly ctrl: Controller;
  private eventCursor = 0;
  private started = false;
  private simTimer: NodeJS.Timeout | null = null;
  private roundTimer: NodeJS.Timeout | null = null;
  private busy = false;
  /** The round (or simulator step) running now, for stop() to wait on. */
  private running: Promise<void> | null = null;
  private wallStart = Date.now();
  /** Backend events the daemon caused and recorded itself (one history row per mem-set). */
  private readonly ownEvents = new Set<number>();
  /** Targets written down and being applied: what settle() needs. */
  private readonly inflight = new Map<
    number,
    { intent: TargetIntent; prev: TargetRow | null; eventsBefore: number }
  >();
  /** Pins the backend refused to put back, and when: retried every PIN_RETRY_MS, not every round. */
  private readonly pinRefused = new Map<string, { pin: number; atMs: number }>();
  /** Starts already refused for want of room (logged once). */
  private readonly refusedStarts = new Set<string>();
  /** Wall time of the last history pruning (-Infinity: not yet). */
  private prunedAtMs = -Infinity;
  readonly retentionMs: number;
  private readonly wallNow: () => number;
  readonly backend: Backend;
  readonly store: Store;
  readonly metrics = new DaemonMetrics();
  readonly roundGuard: RoundGuard;

  constructor(private readonly opts: DaemonOptions) {
    this.backend = opts.backend;
    this.store = opts.store;
    this.retentionMs = opts.retentionMs ?? DEFAULT_RETENTION_MS;
    this.wallNow = opts.wallNow ?? Date.now;
    const stored = opts.store.get("policy");
    const name = stored && getPolicy(stored) ? stored : opts.policy;
    const p = policyNamed(name);
    this.roundGuard = { isPinned: (n) => this.pinOf(n) !== null, journal: this.journal };
    this.ctrl = new Controller({
      backend: opts.backend,
      policy: p,
      intervalMs: opts.intervalMs,
      settings: (d) => this.policySettings(d),
      reservedBytes: () => this.reservedBytes(),
      observe: () => this.observation(),
      guard: this.roundGuard,
    });
    this.ctrl.onReschedule = () => this.arm();
    if (stored !== p.name) opts.store.set("policy", p.name);
    if (this.backend instanceof SimBackend) {
      const sim = this.backend;
      sim.world.admission = (spec, waitedMs) => this.admitStart(sim, spec, waitedMs);
      // A simulated world keeps every event for its report; under the daemon, which
      // copies them into its history as they come, the last EVENT_LOG_CAPACITY do.
      sim.world.eventLog.bound(EVENT_LOG_CAPACITY);
    }
  }

  get policyName(): string {
    return this.ctrl.policy.name;
  }

  get intervalMs(): number {
    return this.ctrl.intervalMs;
  }

  /** Backend time: virtual for the simulator, wall otherwise. */
  nowMs(): number {
    return this.backend instanceof SimBackend ? this.backend.nowMs : Date.now() - this.wallStart;
  }

  /** Reservations, plus (simulator) the memory of domain starts waiting for admission. */
  reservedBytes(): number {
    let n = 0;
    for (const r of this.store.reservations()) n += r.bytes;
    if (this.backend instanceof SimBackend) n += this.backend.world.reservedBytes();
    return n;
  }

  settings(d: BackendDomain): GuestSettings {
    // Stored (operator) settings over the backend's configuration over the defaults.
    return { ...settingsFor(d), ...(this.store.getSettings(d.name) ?? {}) };
  }

  /** The operator's pin for a domain, or null. */
  pinOf(name: string): number | null {
    const t = this.store.getTarget(name);
    return t?.pinned ? t.targetBytes : null;
  }

  /** The settings a policy sees: a pinned guest has min = max = its pin. */
  policySettings(d: BackendDomain): GuestSettings {
    const s = this.settings(d);
    const pin = this.pinOf(d.name);
    return pin === null ? s : { ...s, minBytes: pin, maxBytes: pin };
  }

  /**
   * Run the loop. The simulator's virtual time advances on a 100 ms real-time timer
   * (`speed` times faster), rounds falling due inside it as the controller schedules
   * them; a real backend gets one timer armed for the controller's next due time.
   */
  start(): void {
    this.started = true;
    if (this.backend instanceof SimBackend) {
      const sim = this.backend;
      const realTick = 100;
      this.simTimer = setInterval(() => {
        void this.guard(async () => {
          const step = sim.world.tickMs;
          const virtual = Math.max(step, Math.round((realTick * this.opts.speed) / step) * step);
          await driveSim(this.ctrl, sim, virtual, (r) => {
            if (r) this.record(r);
          });
          this.drainEvents();
          this.maintain();
        });
      }, realTick);
    } else {
      this.arm();
    }
  }

  /**
   * Stop the loop. Resolves once a round in flight has finished, so that a target it is
   * applying is settled in the journal before the caller closes the backend and the
   * store (a SIGTERM in the middle of a round leaves nothing pending).
   */
  async stop(): Promise<void> {
    this.started = false;
    if (this.simTimer) clearInterval(this.simTimer);
    if (this.roundTimer) clearTimeout(this.roundTimer);
    this.simTimer = null;
    this.roundTimer = null;
    await this.running;
  }

  /**
   * Real backends: one timer, for the controller's next due time. Re-armed after every
   * round and whenever the schedule moves (a policy switch); a round in flight re-arms
   * when it ends.
   */
  private arm(): void {
    if (this.roundTimer) clearTimeout(this.roundTimer);
    this.roundTimer = null;
    if (!this.started || this.backend instanceof SimBackend || this.busy) return;
    const delay = Math.max(0, this.ctrl.nextDueMs - this.nowMs());
    this.roundTimer = setTimeout(() => {
      this.roundTimer = null;
      void this.guard(() => this.round()).then(() => this.arm());
    }, delay);
  }

  private guard(f: () => Promise<void>): Promise<void> {
    if (this.busy) return Promise.resolve();
    this.busy = true;
    const run = (async () => {
      try {
        await f();
      } catch (e) {
        this.opts.log(`round failed: ${(e as Error).message}`, "error");
      } finally {
        this.busy = false;
        this.running = null;
      }
    })();
    this.running = run;
    return run;
  }

  /**
   * The observation a policy decides on. Pinned guests are shown with min = max = their
   * pin; a pin that drifted (QEMU restarted, a scenario's own mem-set) is put back first.
   */
  async observation(): Promise<Observation> {
    const obs = await observe(
      this.backend,
      this.nowMs(),
      (d) => this.policySettings(d),
      this.reservedBytes(),
    );
    for (const g of obs.guests) {
      const pin = this.pinOf(g.name);
      if (pin === null || g.targetBytes === pin || !g.balloonable) continue;
      const refused = this.pinRefused.get(g.name);
      if (refused?.pin === pin && obs.nowMs - refused.atMs < PIN_RETRY_MS) continue;
      const t = this.store.getTarget(g.name)!;
      const r = await applyTarget(this.backend, this.journal, {
        name: g.name,
        fromBytes: g.targetBytes,
        targetBytes: pin,
        reason: "operator pin held",
        kind: "event",
        type: "pin-held",
        force: t.force,
        pin: true,
      });
      if (r.ok) {
        g.targetBytes = pin;
        this.pinRefused.delete(g.name);
      } else this.pinRefused.set(g.name, { pin, atMs: obs.nowMs });
    }
    // Guests that are gone take their retry note with them (bounded over months of churn).
    if (this.pinRefused.size > 0) {
      const here = new Set(obs.guests.map((g) => g.name));
      for (const n of this.pinRefused.keys()) if (!here.has(n)) this.pinRefused.delete(n);
    }
    return obs;
  }

  /** One decision round, now. */
  async round(): Promise<void> {
    this.record(await this.ctrl.round(this.nowMs()));
    this.drainEvents();
    this.maintain();
  }

  /**
   * Housekeeping between rounds: at most every PRUNE_EVERY_MS of wall time, delete the
   * history older than the retention. Returns how many rows went (0 when not due).
   */
  maintain(): number {
    const now = this.wallNow();
    if (now - this.prunedAtMs < PRUNE_EVERY_MS) return 0;
    this.prunedAtMs = now;
    const n = this.store.pruneHistory(now - this.retentionMs);
    if (n > 0)
      this.opts.log(
        `history: ${n} row${n === 1 ? "" : "s"} older than ${Math.round(this.retentionMs / 86_400_000)} days deleted`,
      );
    return n;
  }

  /** Log and count what a round decided (the journal has stored each target already). */
  private record(r: ControllerRound): void {
    const t = (r.obs.nowMs / 1000).toFixed(1);
    for (const d of r.applied) {
      this.opts.log(
        `[${t}s] ${r.policy}: ${decisionLine(d)}${d.ok ? "" : ` (refused: ${d.message})`}`,
        d.ok ? "info" : "warn",
      );
    }
    this.metrics.round(r.policy, r.applied, r.durationMs / 1000);
  }

  /** The index of the backend's next event. */
  private eventIndex(): number {
    return this.backend.events(Number.MAX_SAFE_INTEGER).next;
  }

  /**
   * Targets are journaled here (see loop.ts): the history row and the stored target in
   * one transaction before the backend is asked, settled after. A refusal puts the
   * previous stored target back.
   */
  private readonly journal: TargetJournal = {
    begin: (t) => {
      const prev = this.store.getTarget(t.name);
      const id = this.store.tx(() => {
        const hid = this.store.appendOne({
          t_s: this.nowMs() / 1000,
          domain: t.name,
          kind: t.kind,
          type: t.type,
          code: "pending",
          message: `${decisionLine(t)} (being applied)`,
        });
        this.store.putTarget({
          name: t.name,
          targetBytes: t.targetBytes,
          pinned: t.pin,
          force: t.force,
          historyId: hid,
        });
        return hid;
      });
      this.inflight.set(id, { intent: t, prev, eventsBefore: this.eventIndex() });
      return id;
    },
    settle: (id, r) => {
      const f = this.inflight.get(id);
      this.inflight.delete(id);
      if (!f) return;
      const t = f.intent;
      // The backend's own mem-set event for this call says what this row says.
      const { events, next } = this.backend.events(f.eventsBefore);
      const first = next - events.length;
      events.forEach((e, i) => {
        if (e.domain === t.name && (e.type === "mem-set" || e.type === "mem-set-refused"))
          this.ownEvents.add(first + i);
      });
      const { type, code, message } = this.outcome(t, r);
      this.store.tx(() => {
        this.store.settle(id, type, code, message);
        if (!r.ok) {
          if (f.prev) this.store.putTarget(f.prev);
          else this.store.deleteTarget(t.name);
        }
      });
    },
  };

  /** How a settled target reads in the history. */
  private outcome(
    t: TargetIntent,
    r: BackendResult,
  ): { type: string; code: string | null; message: string } {
    if (t.kind === "decision")
      return { type: t.type, code: r.ok ? null : "refused", message: decisionLine(t) };
    if (t.type === "operator-mem-set") {
      return r.ok
        ? {
            type: t.type,
            code: null,
            message: `${r.message}; ${this.pinNote(t.name, t.targetBytes)}`,
          }
        : { type: "operator-mem-set-refused", code: r.code ?? "refused", message: r.message };
    }
    return r.ok
      ? { type: t.type, code: null, message: `${decisionLine(t)}` }
      : {
          type: `${t.type}-refused`,
          code: r.code ?? "refused",
          message: `${decisionLine(t)}: ${r.message}`,
        };
  }

  private pinNote(name: string, bytes: number): string {
    return (
      `pinned at ${formatSize(bytes)}: policy ${this.policyName} leaves ${name} there until ` +
      `"ballast set ${name} auto" or the next mem-set`
    );
  }

  /** Move the backend's new events into the history (less those the daemon recorded itself). */
  drainEvents(): void {
    const { events, next, missed } = this.backend.events(this.eventCursor);
    this.eventCursor = next;
    const first = next - events.length;
    const rows = [];
    if (missed > 0) {
      // The backend's log is a ring: what fell out before it was read is gone; say so.
      const message =
        `${missed} backend event${missed === 1 ? "" : "s"} dropped before the daemon read ` +
        `${missed === 1 ? "it" : "them"} (the backend keeps the last ${EVENT_LOG_CAPACITY})`;
      rows.push({
        t_s: this.nowMs() / 1000,
        domain: "-",
        kind: "event" as const,
        type: "events-missed",
        code: null,
        message,
      });
      this.opts.log(message, "warn");
    }
    for (let i = 0; i < events.length; i++) {
      if (this.ownEvents.delete(first + i)) continue;
      const e = events[i]!;
      rows.push({
        t_s: e.t_s,
        domain: e.domain,
        kind: "event" as const,
        type: e.type,
        code: e.code ?? null,
        message: e.message,
      });
    }
    this.store.append(rows);
    // Marks for events read (or dropped) are done with.
    for (const i of this.ownEvents) if (i < next) this.ownEvents.delete(i);
  }

  async domains(): Promise<DomainView[]> {
    const ds = await this.backend.domains();
    const stats = await Promise.all(
      ds.map((d) => (d.state === "running" ? this.backend.stats(d.name) : Promise.resolve(null))),
    );
    return ds.map((d, i) => domainView(d, stats[i] ?? null, this.settings(d), this.pinOf(d.name)));
  }

  /**
   * At start, after a restart or a crash: put back mem-max values, then every stored
   * target (pins and the policy's last decisions, which QEMU may hold half-way), and
   * settle what was being applied when the last daemon died. Returns what it did.
   */
  async restore(): Promise<string[]> {
    const done: string[] = [];
    const note = (line: string) => {
      done.push(line);
      this.opts.log(`restore: ${line}`, / refused: /.test(line) ? "warn" : "info");
    };
    const byName = new Map((await this.backend.domains()).map((d) => [d.name, d]));
    const running = (n: string) => byName.get(n)?.state === "running";
    const maxLater: Array<{ name: string; maxBytes: number }> = [];
    for (const m of this.store.maxes()) {
      const d = byName.get(m.name);
      if (!d || !running(m.name) || d.maxmemBytes === m.maxBytes) continue;
      const r = await this.backend.setMax(m.name, m.maxBytes);
      if (r.ok) note(`${m.name}: mem-max ${formatSize(m.maxBytes)}`);
      else maxLater.push(m);
    }
    const pending = new Map(this.store.pending().map((h) => [h.id, h]));
    for (const t of this.store.targets()) {
      const d = byName.get(t.name);
      if (!d || !running(t.name)) continue;
      const wasPending = t.historyId !== null && pending.has(t.historyId);
      if (d.targetBytes === t.targetBytes && !wasPending) continue;
      const r = await applyTarget(this.backend, this.journal, {
        name: t.name,
        fromBytes: d.targetBytes,
        targetBytes: t.targetBytes,
        reason: wasPending
          ? "restored: it was being applied when the daemon stopped"
          : t.pinned
            ? "restored: operator pin"
            : "restored: the last decision",
        kind: "event",
        type: "restore",
        force: t.force,
        pin: t.pinned,
      });
      note(`${t.name}: target ${formatSize(t.targetBytes)}${r.ok ? "" : ` refused: ${r.message}`}`);
      if (wasPending) {
        const h = pending.get(t.historyId!)!;
        pending.delete(t.historyId!);
        // Refused now, but the backend took it before the daemon died (killed after the
        // apply): it is applied, pin and all. (A guest met again seconds after a restart
        // may not report statistics yet, so a floor check refuses what it already holds.)
        const held = !r.ok && d.targetBytes === t.targetBytes;
        const outcome = r.ok ? "applied" : held ? "found applied" : "refused";
        this.store.settle(
          h.id,
          h.type,
          r.ok || held ? null : (r.code ?? "refused"),
          `${h.message.replace(/ \(being applied\)$/, "")} (${outcome} when the daemon started again)`,
        );
        // An intent the backend refuses and does not hold is dropped, not kept as a pin
        // nobody saw confirmed.
        if (!r.ok && !held && this.store.getTarget(t.name)?.historyId === t.historyId)
          this.store.deleteTarget(t.name);
      }
    }
    for (const h of pending.values()) {
      this.store.settle(
        h.id,
        h.type,
        "interrupted",
        `${h.message.replace(/ \(being applied\)$/, "")} (the daemon stopped before it was applied; superseded)`,
      );
    }
    for (const m of maxLater) {
      const r = await this.backend.setMax(m.name, m.maxBytes);
      note(`${m.name}: mem-max ${formatSize(m.maxBytes)}${r.ok ? "" : ` refused: ${r.message}`}`);
    }
    this.drainEvents();
    return done;
  }

  /**
   * The domain an operator names, by name or id (findDomain: the name first); 404 naming
   * what was given when there is none. Everything after works on its name: pins,
   * settings and history are stored by name, never by an id that changes on restart.
   */
  async find(ref: string): Promise<BackendDomain> {
    const d = findDomain(await this.backend.domains(), ref);
    if (!d) throw new DaemonError(404, "no-such-domain", noSuchDomain(ref));
    return d;
  }

  /**
   * An operator's mem-set: applied and pinned (see the module comment). A dry run asks
   * the backend what would change and stores nothing.
   */
  async setTarget(
    ref: string,
    bytes: number,
    force: boolean,
    dryRun: boolean,
  ): Promise<BackendResult & { domain: string }> {
    const d = await this.find(ref);
    const name = d.name;
    if (dryRun)
      return {
        ...(await this.backend.setTarget(name, bytes, { force, dryRun: true })),
        domain: name,
      };
    const r = await applyTarget(this.backend, this.journal, {
      name,
      fromBytes: d.targetBytes,
      targetBytes: bytes,
      reason: "operator mem-set",
      kind: "event",
      type: "operator-mem-set",
      force,
      pin: true,
    });
    this.pinRefused.delete(name);
    this.drainEvents();
    if (r.ok) this.opts.log(`${r.message}; ${this.pinNote(name, bytes)}`);
    return r.ok
      ? { ...r, domain: name, message: `${r.message}; ${this.pinNote(name, bytes)}` }
      : { ...r, domain: name };
  }

  /** `ballast set NAME auto`: the policy manages the guest again. */
  async clearPin(ref: string): Promise<{ ok: true; domain: string; message: string }> {
    // A pin outlives its domain's absence (a VM being restarted): a name with a pin is
    // taken as it is; otherwise the name or id is resolved among the running domains.
    const name = this.store.getTarget(ref)?.pinned ? ref : (await this.find(ref)).name;
    const t = this.store.getTarget(name);
    if (!t?.pinned) {
      return {
        ok: true,
        domain: name,
        message: `${name}: not pinned; policy ${this.policyName} manages it`,
      };
    }
    const message = `${name}: pin at ${formatSize(t.targetBytes)} cleared; policy ${this.policyName} manages it again`;
    this.store.tx(() => {
      this.store.putTarget({ ...t, pinned: false });
      this.store.appendOne({
        t_s: this.nowMs() / 1000,
        domain: name,
        kind: "event",
        type: "unpin",
        code: null,
        message,
      });
    });
    this.pinRefused.delete(name);
    this.opts.log(message);
    return { ok: true, domain: name, message };
  }

  /** mem-max: stored first, put back if the backend refuses. */
  async setMax(ref: string, bytes: number): Promise<BackendResult & { domain: string }> {
    const name = (await this.find(ref)).name;
    const prev = this.store.getMax(name);
    this.store.putMax(name, bytes);
    const r = await this.backend.setMax(name, bytes);
    if (!r.ok) this.store.putMax(name, prev);
    this.drainEvents();
    return { ...r, domain: name };
  }

  async setSettings(
    ref: string,
    patch: Partial<GuestSettings>,
  ): Promise<GuestSettings & { domain: string }> {
    const d = await this.find(ref);
    const name = d.name;
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
    return { ...next, domain: name };
  }

  /** Switch policy: stored first, so a failing store leaves the old policy running. */
  setPolicy(name: string): void {
    const p = policyNamed(name);
    this.store.tx(() => {
      this.store.set("policy", p.name);
      this.store.appendOne({
        t_s: this.nowMs() / 1000,
        domain: "-",
        kind: "event",
        type: "policy",
        code: null,
        message: `policy -> ${p.name}`,
      });
    });
    this.ctrl.setPolicy(p, this.nowMs());
    this.opts.log(`policy -> ${p.name}: ${p.summary}`);
  }

  /** The figures admission decides on, for messages. */
  private roomLine(free: number, freeable: number, reserved: number): string {
    return (
      `free now ${formatSize(free)}, ${formatSize(freeable)} more above the guests' floors and ` +
      `minimums, ${formatSize(reserved)} already reserved`
    );
  }

  /**
   * Keep memory free for a new domain, as squeezed's reservations do. Refused (409
   * `no-room`, with the figures) when the host cannot meet it above every guest's
   * max(floor, min).
   */
  async reserve(bytes: number): Promise<{ id: string; bytes: number; free_bytes: number }> {
    const obs = await observe(
      this.backend,
      this.nowMs(),
      (d) => this.policySettings(d),
      this.reservedBytes(),
    );
    const { freeBytes, freeableBytes } = room(obs);
    const reserved = this.reservedBytes();
    const can = Math.max(0, freeBytes + freeableBytes - reserved);
    if (bytes > can) {
      throw new DaemonError(
        409,
        "no-room",
        `cannot reserve ${formatSize(bytes)}: the host can make at most ${formatSize(can)} free ` +
          `without pushing a guest below its floor or min (${this.roomLine(freeBytes, freeableBytes, reserved)})`,
      );
    }
    const id = this.store.addReservation(bytes);
    this.opts.log(`reservation ${id}: ${formatSize(bytes)} kept free for a new domain`);
    return { id, bytes, free_bytes: freeBytes };
  }

  release(id: string): boolean {
    return this.store.deleteReservation(id);
  }

  listReservations(): Array<{ id: string; bytes: number }> {
    return this.store.reservations();
  }

  /**
   * The simulator's domain starts, squeezed-style: a start the host can meet now goes;
   * one it can meet only once the policy frees memory waits (its memory reserved) for
   * up to START_WAIT_MS; one it cannot meet above every guest's max(floor, min) is
   * refused with the figures, and its build then fails on what is free (nothing taken).
   */
  private admitStart(sim: SimBackend, spec: DomainSpec, waitedMs: number): boolean {
    const obs = sim.observe((d) => this.policySettings(d), 0);
    const { freeBytes, freeableBytes } = room(obs);
    // The world counts this start among the waiting ones: the others' share is the rest.
    const others = Math.max(0, this.reservedBytes() - spec.memoryBytes);
    const need = spec.memoryBytes;
    if (need > freeBytes + freeableBytes) {
      if (!this.refusedStarts.has(spec.name)) {
        this.refusedStarts.add(spec.name);
        const message =
          `${spec.name}: start refused: it needs ${formatSize(need)} and the host can make at most ` +
          `${formatSize(freeBytes + freeableBytes)} free without pushing a guest below its floor or min ` +
          `(${this.roomLine(freeBytes, freeableBytes, others)})`;
        this.store.appendOne({
          t_s: sim.nowMs / 1000,
          domain: spec.name,
          kind: "event",
          type: "start-refused",
          code: "no-room",
          message,
        });
        this.opts.log(message, "warn");
      }
      return true;
    }
    if (need <= freeBytes - others) return true;
    return waitedMs >= START_WAIT_MS;
  }
}

export function domainView(
  d: BackendDomain,
  s: GuestStats | null,
  settings: GuestSettings,
  pin: number | null = null,
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
    ...(d.hostRssBytes !== undefined ? { rss_bytes: d.hostRssBytes } : {}),
    ...(d.stalled !== undefined ? { stalled: d.stalled } : {}),
    settings: {
      min_bytes: settings.minBytes,
      max_bytes: settings.maxBytes,
      weight: settings.weight,
      buffer_pct: settings.bufferPct,
    },
    pin_bytes: pin,
  };
}
