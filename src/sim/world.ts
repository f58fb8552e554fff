/**
 * The simulated host: hypervisor, domains and virtual clock, advanced tick by tick.
 * Deterministic: the same scenario gives the same run, whatever the wall clock says.
 */
import { EventLog } from "../model/event_log.js";
import type { EventType, SimEvent } from "../model/events.js";
import { formatSize, PAGE_SIZE } from "../units/index.js";
import { defaultHostE820, ramBytes } from "./guest/e820.js";
import { buildDomain, type DomainSpec, type SimDomain } from "./host/domain_builder.js";
import { Hypervisor } from "./host/hypervisor.js";
import { type Command, type CommandResult, execute, type ToolstackHost } from "./host/toolstack.js";
import type { HypervisorKind, Scenario, ScenarioEvent } from "./scenario.js";

export const DOM0_NAME = "Domain-0";

/** One point of the time series a report carries when asked (`samples:`). */
export interface Sample {
  t_s: number;
  host: { free_bytes: number };
  domains: Record<
    string,
    {
      state: string;
      actual_bytes: number;
      target_bytes: number;
      host_rss_bytes: number;
      mem_total_bytes: number;
      free_bytes: number;
      available_bytes: number;
      psi_some_avg10: number;
      psi_full_avg10: number;
      oom_kills: number;
      // Additions: PSI's stall totals (the `total=` fields), microseconds.
      psi_some_total_us: number;
      psi_full_total_us: number;
    }
  >;
}

/** Pages the host gives a domain: its backed memory, or none once its memory went back. */
export function heldPages(d: SimDomain): number {
  if (!d.guest || d.memoryReleased) return 0;
  return d.guest.hostRss();
}

export class World implements ToolstackHost {
  readonly hv: Hypervisor;
  /** The kind of host: xen (the default) or kvm. */
  readonly hypervisor: HypervisorKind;
  /** The time series, when asked for (every `samplesMs`). */
  readonly samples: Sample[] = [];
  samplesMs: number | null;
  readonly domains: SimDomain[] = [];
  readonly tickMs: number;
  readonly seed: number;
  nowMs = 0;
  /** Every event, for the report; a daemon running the world bounds it (src/model/event_log.ts). */
  readonly eventLog = new EventLog(() => this.nowMs / 1000, Infinity);
  private nextId = 0;
  private pending: ScenarioEvent[];
  private toCreate: DomainSpec[];
  /**
   * Squeezed-style admission for domains that start later: when set, a start waits
   * (its memory counted in `reservedBytes()`) until this says go; the build then
   * succeeds or fails on what is free. Null: build at once.
   */
  admission: ((spec: DomainSpec, waitedMs: number) => boolean) | null = null;
  private waitingSince = new Map<string, number>();
  /** Called after every tick (tests check invariants here). */
  onTick: ((w: World) => void) | null = null;

  constructor(readonly scenario: Scenario) {
    this.tickMs = scenario.tickMs;
    this.seed = scenario.seed;
    this.hypervisor = scenario.host.hypervisor;
    this.samplesMs = scenario.samplesMs;
    const memPages = Math.floor(scenario.host.memoryBytes / PAGE_SIZE);
    this.hv = new Hypervisor(memPages, Math.floor(scenario.host.reserveBytes / PAGE_SIZE));
    this.pending = [...scenario.events];
    if (scenario.host.dom0) this.buildDom0(scenario);
    this.toCreate = scenario.domains
      .filter((s) => (s.startMs ?? 0) > 0)
      .sort((a, b) => (a.startMs ?? 0) - (b.startMs ?? 0));
    for (const spec of scenario.domains) if ((spec.startMs ?? 0) === 0) this.create(spec);
  }

  private buildDom0(s: Scenario): void {
    const d0 = s.host.dom0!;
    const e820 = s.host.e820 ?? defaultHostE820(s.host.memoryBytes);
    const hostRam = ramBytes(e820);
    this.create({
      name: DOM0_NAME,
      memoryBytes: d0.mem.amountBytes,
      // Without max:, dom0 may grow into all host memory (whatever is free then).
      maxmemBytes: d0.mem.maxBytes ?? hostRam,
      arch: "x86_64",
      cmdline: d0.cmdline,
      e820,
      pciHole: null,
      swapBytes: d0.swapBytes,
      deflateOnOom: false,
      inflateRateBytesPerS: null,
      deflateRateBytesPerS: null,
      freePageReporting: false,
      workload: d0.workload,
      isDom0: true,
    });
  }

  /** Build and boot a domain now (as `xl create`). */
  create(spec: DomainSpec): SimDomain {
    const dom = buildDomain(spec, this.hv, this.nextId++, this.seed, this.hypervisor);
    this.domains.push(dom);
    if (dom.state === "running" && this.hypervisor === "kvm") {
      const l = dom.layout!;
      const g = dom.guest!;
      const parts = [
        `${spec.name}: booted with ${fmt(g.shownActual())} (maxmem ${fmt(spec.maxmemBytes / PAGE_SIZE)})`,
        `MemTotal ${fmt(g.managed())}, struct pages ${fmt(l.memMapPages)}`,
        `the host backs the ${fmt(g.hostRss())} boot touched`,
      ];
      if (l.unpluggedFrames > 0)
        parts.push(`virtio-mem can plug ${fmt(l.unpluggedFrames)} above boot memory`);
      this.emit(spec.name, "boot", parts.join("; "));
    } else if (dom.state === "running") {
      const l = dom.layout!;
      const parts = [
        `${spec.name}: booted with ${fmt(dom.guest!.actual())} (memory ${fmt(spec.memoryBytes / PAGE_SIZE)}, maxmem ${fmt(spec.maxmemBytes / PAGE_SIZE)})`,
        `struct pages ${fmt(l.memMapPages)} for ${fmt(l.ramFrames - l.truncatedFrames)} of RAM`,
      ];
      if (l.balloonFrames > 0)
        parts.push(`${fmt(l.balloonFrames)} of RAM beyond it reserved and on the balloon`);
      if (l.releasedPages > 0) {
        parts.push(`${fmt(l.releasedPages)} populated in E820 holes released to the balloon`);
      }
      if (l.truncatedFrames > 0)
        parts.push(`${fmt(l.truncatedFrames)} of RAM dropped (balloon.max_initial)`);
      this.emit(spec.name, "boot", parts.join("; "));
    } else {
      this.emit(
        spec.name,
        "boot-failed",
        `${spec.name}: ${dom.bootError!.message}`,
        dom.bootError!.code,
      );
    }
    return dom;
  }

  /** The events kept, oldest first (all of them unless a daemon bounded the log). */
  get events(): SimEvent[] {
    return this.eventLog.all();
  }

  emit(domain: string, type: EventType, message: string, code?: string): void {
    this.eventLog.emit(domain, type, message, code);
  }

  remove(dom: SimDomain): void {
    const i = this.domains.indexOf(dom);
    if (i >= 0) this.domains.splice(i, 1);
  }

  /** Memory promised to starts that are waiting for admission. */
  reservedBytes(): number {
    let n = 0;
    for (const spec of this.toCreate) if (this.waitingSince.has(spec.name)) n += spec.memoryBytes;
    return n;
  }

  /** Starts waiting for admission now: name and how long each has waited (ms). */
  waitingStarts(): Array<{ name: string; waitedMs: number }> {
    const out: Array<{ name: string; waitedMs: number }> = [];
    for (const [name, since] of this.waitingSince) out.push({ name, waitedMs: this.nowMs - since });
    return out;
  }

  /** Run a parsed command now (the daemon and the policy benchmark use this). */
  runCommand(cmd: Command): CommandResult {
    return execute(this, cmd);
  }

  /** Run every scenario event due at the current time. */
  private runDue(): void {
    for (let i = 0; i < this.toCreate.length;) {
      const spec = this.toCreate[i]!;
      if ((spec.startMs ?? 0) > this.nowMs) break;
      const since = this.waitingSince.get(spec.name) ?? this.nowMs;
      this.waitingSince.set(spec.name, since);
      if (this.admission && !this.admission(spec, this.nowMs - since)) {
        i++;
        continue;
      }
      this.toCreate.splice(i, 1);
      this.waitingSince.delete(spec.name);
      this.create(spec);
    }
    while (this.pending.length > 0 && this.pending[0]!.atMs <= this.nowMs) {
      const ev = this.pending.shift()!;
      execute(this, ev.command);
    }
  }

  /** Advance one tick. */
  step(): void {
    this.runDue();
    if (this.samplesMs !== null && this.nowMs === 0) this.sample();
    let short = false;
    for (const dom of this.domains) {
      if (dom.state !== "running" || !dom.guest) continue;
      const g = dom.guest;
      dom.emit ??= (type, message, code) => this.emit(dom.name, type, message, code);
      g.step(this.nowMs, this.tickMs, this.hv, dom.emit);
      if (g.crash) this.crashed(dom, g.crash.reason);
      else if (g.hostShortPages > 0) short = true;
    }
    if (short) this.hostOom();
    this.nowMs += this.tickMs;
    if (this.samplesMs !== null && this.nowMs % this.samplesMs === 0) this.sample();
    this.onTick?.(this);
  }

  /**
   * A guest's kernel panicked. Xen: the toolstack destroys a crashed domain (xl's default
   * on_crash="destroy"; Linux signals the crash with SCHEDOP_shutdown) and its memory goes
   * back to the host. KVM: with no pvpanic device and Linux's default panic=0, the guest
   * hangs and QEMU keeps its memory.
   */
  private crashed(dom: SimDomain, reason: string): void {
    dom.state = "crashed";
    dom.crash = { t_s: this.nowMs / 1000, reason };
    if (dom.hypervisor === "xen") this.releaseMemory(dom);
  }

  private releaseMemory(dom: SimDomain): void {
    if (dom.memoryReleased || !dom.guest) return;
    this.hv.release(dom.guest.teardown());
    dom.memoryReleased = true;
  }

  /**
   * KVM: the guests touched more than the host could back. With no swap the host's OOM
   * killer ends the process with the most memory (oom_badness()): the biggest QEMU.
   */
  private hostOom(): void {
    let victim: SimDomain | null = null;
    for (const d of this.domains) {
      if (d.state !== "running" || !d.guest) continue;
      if (!victim || d.guest.hostRss() > victim.guest!.hostRss()) victim = d;
    }
    if (!victim) return;
    const rss = victim.guest!.hostRss();
    victim.state = "crashed";
    victim.crash = {
      t_s: this.nowMs / 1000,
      reason: "killed by the host's OOM killer: the host could not back its guests' memory",
    };
    this.releaseMemory(victim);
    this.emit(
      victim.name,
      "host-oom-kill",
      `host out of memory: Killed process qemu (${victim.name}), anon-rss:${fmt(rss)}`,
    );
  }

  private sample(): void {
    const domains: Sample["domains"] = {};
    for (const d of this.domains) {
      const g = d.guest;
      const s = g && !d.memoryReleased ? g.stats(this.nowMs) : null;
      domains[d.name] = {
        state: d.state,
        actual_bytes: g && !d.memoryReleased ? g.shownActual() * PAGE_SIZE : 0,
        target_bytes: d.targetBytes,
        host_rss_bytes: heldPages(d) * PAGE_SIZE,
        mem_total_bytes: s?.total_bytes ?? 0,
        free_bytes: s?.free_bytes ?? 0,
        available_bytes: s?.available_bytes ?? 0,
        psi_some_avg10: s?.psi_some_avg10 ?? 0,
        psi_full_avg10: s?.psi_full_avg10 ?? 0,
        oom_kills: g?.oomKills ?? 0,
        psi_some_total_us: g?.psi.someTotalUs ?? 0,
        psi_full_total_us: g?.psi.fullTotalUs ?? 0,
      };
    }
    this.samples.push({
      t_s: this.nowMs / 1000,
      host: { free_bytes: this.hv.freePages * PAGE_SIZE },
      domains,
    });
  }

  /** Run to the end of the scenario (or `untilMs`). */
  runToEnd(untilMs = this.scenario.durationMs): void {
    while (this.nowMs < untilMs) this.step();
    // Commands due exactly at the end still run, as the last thing.
    this.runDue();
  }

  /** Conservation check; returns the violations (empty when all hold). */
  invariantViolations(): string[] {
    const out: string[] = [];
    let held = 0;
    for (const d of this.domains) {
      if (!d.guest) continue;
      held += heldPages(d);
      if (d.memoryReleased) continue;
      const acc = d.guest.accountedFrames();
      if (acc !== d.guest.ramFrames) {
        out.push(
          `t=${this.nowMs}ms ${d.name}: frames in states ${acc} != RAM frames ${d.guest.ramFrames}`,
        );
      }
      if (d.guest.freeUnbacked > d.guest.free)
        out.push(
          `t=${this.nowMs}ms ${d.name}: unbacked free ${d.guest.freeUnbacked} > free ${d.guest.free}`,
        );
      for (const [k, v] of Object.entries({
        free: d.guest.free,
        unbacked: d.guest.freeUnbacked,
        balloon: d.guest.balloon,
        hole: d.guest.releasedHole,
      })) {
        if (v < 0 || !Number.isInteger(v)) out.push(`t=${this.nowMs}ms ${d.name}: ${k} = ${v}`);
      }
    }
    const sum = this.hv.freePages + this.hv.reservePages + held;
    if (sum !== this.hv.memoryPages) {
      const what = this.hypervisor === "kvm" ? "host_rss" : "actual";
      out.push(
        `t=${this.nowMs}ms host: free ${this.hv.freePages} + reserve ${this.hv.reservePages} + ${what} ${held} != memory ${this.hv.memoryPages}`,
      );
    }
    if (this.hv.freePages < 0) out.push(`t=${this.nowMs}ms host: free ${this.hv.freePages} < 0`);
    return out;
  }
}

function fmt(pages: number): string {
  return formatSize(pages * PAGE_SIZE);
}
