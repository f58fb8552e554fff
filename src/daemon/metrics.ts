/**
 * The daemon's Prometheus metrics (DESIGN.md, "Metrics"), in a registry of its own per
 * daemon (so tests can run several in one process). Fed from what the daemon already
 * has: a snapshot of the host and its domains before each scrape, the backend's event
 * log (refusals and OOM kills, followed with a cursor of our own), and each decision
 * round (decisions taken, how long the round took).
 *
 * A guest that is gone has its series removed, not left at their last value: a daemon
 * that sees guests come and go for months keeps a bounded set of series, and a
 * dashboard does not show a dead guest's memory as still held.
 */
import { Counter, Gauge, Histogram, type PrometheusContentType, Registry } from "prom-client";
import type { SimEvent } from "../model/events.js";
import type { Snapshot } from "./snapshot.js";

/** A decision as the loop reports it: the target it set, from what, and whether it held. */
export interface RoundDecision {
  fromBytes: number;
  targetBytes: number;
  ok: boolean;
}

/** grow / shrink / hold: which way a decision moved its guest's target. */
export function decisionAction(d: RoundDecision): "grow" | "shrink" | "hold" {
  return d.targetBytes > d.fromBytes ? "grow" : d.targetBytes < d.fromBytes ? "shrink" : "hold";
}

export class DaemonMetrics {
  readonly registry = new Registry<PrometheusContentType>();
  private readonly known = new Set<string>();

  private readonly hostMemory = this.gauge("ballast_host_memory_bytes", "Host memory, bytes");
  private readonly hostFree = this.gauge(
    "ballast_host_free_bytes",
    "Host memory free (not given to any domain), bytes",
  );
  private readonly hostReserved = this.gauge(
    "ballast_host_reserved_bytes",
    "Host memory kept free for domains about to start (the daemon's reservations), bytes",
  );
  private readonly hostHypervisorReserve = this.gauge(
    "ballast_host_hypervisor_reserve_bytes",
    "Host memory the hypervisor keeps for itself, bytes",
  );
  private readonly domainActual = this.domainGauge(
    "ballast_domain_actual_bytes",
    "Memory the guest holds now (boot memory minus the balloon), bytes",
  );
  private readonly domainTarget = this.domainGauge(
    "ballast_domain_target_bytes",
    "Balloon target, bytes",
  );
  private readonly domainFloor = this.domainGauge(
    "ballast_domain_floor_bytes",
    "Lowest target that does not force the guest to swap or kill (its working set plus the low watermark), bytes; absent while the guest reports no statistics",
  );
  private readonly domainMaxmem = this.domainGauge(
    "ballast_domain_maxmem_bytes",
    "Most memory the guest may be given, bytes",
  );
  private readonly domainRss = this.domainGauge(
    "ballast_domain_host_rss_bytes",
    "Host memory really backing the guest (QEMU's VmRSS; on Xen, its actual), bytes",
  );
  private readonly domainPsiSome = this.domainGauge(
    "ballast_domain_pressure_some_ratio",
    "Share of the last 10 s in which some task in the guest stalled on memory (PSI some avg10 / 100)",
  );
  private readonly domainPsiFull = this.domainGauge(
    "ballast_domain_pressure_full_ratio",
    "Share of the last 10 s in which all non-idle tasks in the guest stalled on memory (PSI full avg10 / 100)",
  );
  private readonly domainRunning = this.domainGauge(
    "ballast_domain_running",
    "1 while the domain runs, 0 when it failed to boot or crashed",
  );
  private readonly domainOom = new Counter({
    name: "ballast_domain_oom_kills_total",
    help: "Processes killed by the guest's OOM killer, seen since the daemon started",
    labelNames: ["domain"],
    registers: [this.registry],
  });
  private readonly decisions = new Counter({
    name: "ballast_decisions_total",
    help: "Targets set by the policy, by which way they moved the guest",
    labelNames: ["policy", "action"],
    registers: [this.registry],
  });
  private readonly refusals = new Counter({
    name: "ballast_refusals_total",
    help: "Target or maxmem changes refused (by the policy's round or an operator), by code",
    labelNames: ["code"],
    registers: [this.registry],
  });
  private readonly loopDuration = new Histogram({
    name: "ballast_loop_duration_seconds",
    help: "Wall time of one decision round: observe, decide, apply",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor() {
    // The daemon's own memory and CPU, under the names every Prometheus client library
    // uses, so "does it stay bounded for months" is one query. (prom-client's default
    // set is not used: it exports gauges named *_total, which promtool rejects.)
    const registers = [this.registry];
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size of the daemon, bytes",
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: "nodejs_heap_used_bytes",
      help: "V8 heap in use, bytes",
      registers,
      collect() {
        this.set(process.memoryUsage().heapUsed);
      },
    });
    new Counter({
      name: "process_cpu_seconds_total",
      help: "User and system CPU time of the daemon, seconds",
      registers,
      collect() {
        const u = process.cpuUsage();
        this.reset();
        this.inc((u.user + u.system) / 1e6);
      },
    });
    new Gauge({
      name: "process_start_time_seconds",
      help: "When the daemon started, seconds since the Unix epoch",
      registers,
    }).set(Math.round(Date.now() / 1000 - process.uptime()));
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private domainGauge(name: string, help: string): Gauge<"domain"> {
    return new Gauge({ name, help, labelNames: ["domain"], registers: [this.registry] });
  }

  private perDomain(): Array<Gauge<"domain"> | Counter<"domain">> {
    return [
      this.domainActual,
      this.domainTarget,
      this.domainFloor,
      this.domainMaxmem,
      this.domainRss,
      this.domainPsiSome,
      this.domainPsiFull,
      this.domainRunning,
      this.domainOom,
    ];
  }

  /** Set the host and per-domain gauges; drop every series of a domain no longer listed. */
  update(s: Snapshot): void {
    this.hostMemory.set(s.host.total_bytes);
    this.hostFree.set(s.host.free_bytes);
    this.hostReserved.set(s.host.reserved_bytes);
    this.hostHypervisorReserve.set(s.host.hypervisor_reserve_bytes);
    const now = new Set<string>();
    for (const d of s.domains) {
      const domain = d.name;
      now.add(domain);
      this.known.add(domain);
      this.domainActual.set({ domain }, d.actual_bytes);
      this.domainTarget.set({ domain }, d.target_bytes);
      this.domainMaxmem.set({ domain }, d.maxmem_bytes);
      this.domainRunning.set({ domain }, d.state === "running" ? 1 : 0);
      this.optional(this.domainFloor, domain, d.floor_bytes);
      this.optional(this.domainRss, domain, d.host_rss_bytes);
      this.optional(this.domainPsiSome, domain, d.psi_some_avg10, 100);
      this.optional(this.domainPsiFull, domain, d.psi_full_avg10, 100);
      this.domainOom.inc({ domain }, 0);
    }
    for (const domain of [...this.known]) {
      if (now.has(domain)) continue;
      for (const m of this.perDomain()) m.remove({ domain });
      this.known.delete(domain);
    }
  }

  /** A value the domain may not report (yet): absent rather than a made-up zero. */
  private optional(g: Gauge<"domain">, domain: string, v: number | null, scale = 1): void {
    if (v === null || !Number.isFinite(v)) g.remove({ domain });
    else g.set({ domain }, v / scale);
  }

  private eventCursor = 0;

  /**
   * Count the backend's events since the last call (its log is read with a cursor of
   * our own, so however many servers scrape, each event is counted once).
   */
  followEvents(backend: { events(since: number): { events: SimEvent[]; next: number } }): void {
    const { events, next } = backend.events(this.eventCursor);
    this.eventCursor = next;
    this.events(events);
  }

  /** New backend events: refusals by code, OOM kills by domain. */
  events(events: readonly SimEvent[]): void {
    for (const e of events) {
      if (e.type.endsWith("-refused")) this.refusals.inc({ code: e.code ?? "refused" });
      else if (e.type === "oom-kill" && this.known.has(e.domain))
        this.domainOom.inc({ domain: e.domain });
    }
  }

  /** One decision round done: what the policy decided, and how long the round took. */
  round(policy: string, decisions: readonly RoundDecision[], seconds: number): void {
    for (const d of decisions) this.decisions.inc({ policy, action: decisionAction(d) });
    this.loopDuration.observe(seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
