/**
 * The simulated host: hypervisor, domains and virtual clock, advanced tick by tick.
 * Deterministic: the same scenario gives the same run, whatever the wall clock says.
 */
import type { EventType, SimEvent } from "../model/events.js";
import { formatSize, PAGE_SIZE } from "../units/index.js";
import { DEFAULT_BALLOON_RATE_BYTES_PER_S } from "./guest/costs.js";
import { defaultHostE820, ramBytes } from "./guest/e820.js";
import { buildDomain, type DomainSpec, type SimDomain } from "./host/domain_builder.js";
import { Hypervisor } from "./host/hypervisor.js";
import { type Command, type CommandResult, execute, type ToolstackHost } from "./host/toolstack.js";
import type { Scenario, ScenarioEvent } from "./scenario.js";

export const DOM0_NAME = "Domain-0";

export class World implements ToolstackHost {
  readonly hv: Hypervisor;
  readonly domains: SimDomain[] = [];
  readonly tickMs: number;
  readonly seed: number;
  nowMs = 0;
  readonly events: SimEvent[] = [];
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
      balloonRateBytesPerS: DEFAULT_BALLOON_RATE_BYTES_PER_S,
      workload: d0.workload,
      isDom0: true,
    });
  }

  /** Build and boot a domain now (as `xl create`). */
  create(spec: DomainSpec): SimDomain {
    const dom = buildDomain(spec, this.hv, this.nextId++, this.seed);
    this.domains.push(dom);
    if (dom.state === "running") {
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

  emit(domain: string, type: EventType, message: string, code?: string): void {
    const ev: SimEvent = { t_s: this.nowMs / 1000, domain, type, message };
    if (code !== undefined) ev.code = code;
    this.events.push(ev);
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
    for (const dom of this.domains) {
      if (dom.state !== "running" || !dom.guest) continue;
      dom.guest.step(this.nowMs, this.tickMs, this.hv, (type, message, code) =>
        this.emit(dom.name, type, message, code),
      );
    }
    this.nowMs += this.tickMs;
    this.onTick?.(this);
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
      held += d.guest.actual();
      const acc = d.guest.accountedFrames();
      if (acc !== d.guest.ramFrames) {
        out.push(
          `t=${this.nowMs}ms ${d.name}: frames in states ${acc} != RAM frames ${d.guest.ramFrames}`,
        );
      }
      for (const [k, v] of Object.entries({
        free: d.guest.free,
        balloon: d.guest.balloon,
        hole: d.guest.releasedHole,
      })) {
        if (v < 0 || !Number.isInteger(v)) out.push(`t=${this.nowMs}ms ${d.name}: ${k} = ${v}`);
      }
    }
    const sum = this.hv.freePages + this.hv.reservePages + held;
    if (sum !== this.hv.memoryPages) {
      out.push(
        `t=${this.nowMs}ms host: free ${this.hv.freePages} + reserve ${this.hv.reservePages} + held ${held} != memory ${this.hv.memoryPages}`,
      );
    }
    if (this.hv.freePages < 0) out.push(`t=${this.nowMs}ms host: free ${this.hv.freePages} < 0`);
    return out;
  }
}

function fmt(pages: number): string {
  return formatSize(pages * PAGE_SIZE);
}
