/**
 * Real QEMU/KVM guests through QMP, one socket per VM: the backend that ties together
 * discovery (discovery.ts), the balloon (balloon.ts), virtio-mem (memory_devices.ts),
 * statistics (stats.ts) and the stall watch (stall_watch.ts), with the target rules
 * every real backend shares (shared/targets.ts).
 *
 * - First contact reads the VM's sizes and devices and switches the balloon's statistics
 *   polling on; a floor then waits for the guest's first answer instead of refusing.
 * - Statistics carry the time the guest answered (QEMU's last-update), not the time we
 *   read them: a guest that stops answering goes stale (shared/guest_stats.ts).
 * - Host truth: the QEMU process's VmRSS, found from the QMP socket.
 */
import { type DomainState, findDomain, noSuchDomain } from "../../model/domain.js";
import type { GuestStats } from "../../model/stats.js";
import { formatSize } from "../../units/index.js";
import type {
  Backend,
  BackendDomain,
  BackendResult,
  HostInfo,
  SetTargetOptions,
} from "../backend.js";
import { AgentReader } from "../shared/agent.js";
import { EventLog, type EventsSince } from "../../model/event_log.js";
import {
  type BalloonStats,
  answeredSince,
  FIRST_STATS_WAIT_MS,
  mergeStats,
  readGuestProc,
  STATS_POLL_S,
} from "../shared/guest_stats.js";
import { StallWatch } from "../shared/stall_watch.js";
import {
  actualOf,
  hardMaxOf,
  type MemoryLayout,
  maxmemOf,
  setTargetChecked,
} from "../shared/targets.js";
import {
  balloonActual,
  balloonChangeActual,
  enableStatsPolling,
  setBalloon,
  statsPollingInterval,
} from "./balloon.js";
import { discover, findDevices, type VmSpec } from "./discovery.js";
import { readVirtioMem, setRequestedSize, sizeChange } from "./memory_devices.js";
import { hostMeminfo, pidOfSocket, rssOf } from "./proc.js";
import { QgaSocket } from "./qga.js";
import { QmpClient, type QmpEvent } from "./qmp.js";
import { memorySizeSummary } from "./schemas.js";
import { sampleStall } from "./stall_watch.js";
import { readBalloonStats } from "./stats.js";

export { STUCK_AFTER_MS } from "../../model/stall.js";
export { STATS_POLL_S };

interface Vm {
  spec: VmSpec;
  id: number;
  qmp: QmpClient;
  agent: AgentReader | null;
  qga: QgaSocket | null;
  layout: MemoryLayout;
  balloonPath: string | null;
  vmemPath: string | null;
  target: number | null;
  gone: string | null;
  pid: number | null;
  prepared: boolean;
  /** When this backend switched statistics polling on (0: it was on already, or never). */
  pollingSinceMs: number;
}

export interface QemuDomain extends BackendDomain {
  pid: number | null;
  stalled: boolean;
  qemuVersion: string;
}

export class QemuBackend implements Backend {
  readonly kind = "qemu";
  private vms: Vm[] = [];
  private readonly t0 = Date.now();
  private readonly log = new EventLog(() => (Date.now() - this.t0) / 1000);
  private readonly watch = new StallWatch(this.log);

  constructor(
    readonly source: string,
    /** Discovered VMs, or given directly (tests). */
    specs: VmSpec[] = discover(source),
  ) {
    this.vms = specs.map((spec, i) => this.makeVm(spec, i));
  }

  private makeVm(spec: VmSpec, id: number): Vm {
    const qmp = new QmpClient(spec.qmp);
    const vm: Vm = {
      spec,
      id,
      qmp,
      agent: spec.agent ? new AgentReader(spec.agent) : null,
      qga: spec.qga ? new QgaSocket(spec.qga) : null,
      layout: { baseBytes: 0, balloonBytes: 0, vmem: null, capBytes: spec.maxBytes ?? null },
      balloonPath: null,
      vmemPath: null,
      target: null,
      gone: null,
      pid: null,
      prepared: false,
      pollingSinceMs: 0,
    };
    qmp.on("event", (e: QmpEvent) => this.onEvent(vm, e));
    qmp.on("close", () => {
      if (!vm.gone) vm.gone = "QEMU closed its QMP socket";
      vm.prepared = false;
      // A QEMU that comes back is a new VM at its boot size: the old target is not its.
      vm.target = null;
      this.log.emit(vm.spec.name, "guest-gone", `${vm.spec.name}: ${vm.gone}`);
    });
    return vm;
  }

  private onEvent(vm: Vm, e: QmpEvent): void {
    const name = vm.spec.name;
    if (e.event === "BALLOON_CHANGE") {
      const actual = balloonChangeActual(e.data);
      if (actual === null) return;
      vm.layout.balloonBytes = actual;
      this.log.emit(
        name,
        "balloon-change",
        `${name}: balloon actual ${formatSize(actualOf(vm.layout))}`,
      );
      sampleStall(this.watch, name, vm.target, vm.layout);
    } else if (e.event === "MEMORY_DEVICE_SIZE_CHANGE") {
      const size = sizeChange(e.data);
      if (size === null || !vm.layout.vmem) return;
      vm.layout.vmem.sizeBytes = size;
      this.log.emit(
        name,
        "memory-device-size-change",
        `${name}: virtio-mem plugged ${formatSize(size)}`,
      );
    } else if (e.event === "SHUTDOWN") {
      vm.gone = "the guest shut down";
    }
  }

  /** First contact: sizes, devices, statistics polling. */
  private async prepare(vm: Vm): Promise<void> {
    if (vm.prepared) return;
    const summary = await vm.qmp.execute("query-memory-size-summary", {}, memorySizeSummary);
    vm.layout.baseBytes = summary["base-memory"];
    const devs = await findDevices(vm.qmp);
    vm.balloonPath = devs.balloon;
    vm.vmemPath = devs.virtioMem;
    if (vm.balloonPath && (await statsPollingInterval(vm.qmp, vm.balloonPath)) === 0) {
      await enableStatsPolling(vm.qmp, vm.balloonPath, STATS_POLL_S).catch(() => undefined);
      vm.pollingSinceMs = Date.now();
    }
    vm.pid = pidOfSocket(vm.spec.qmp);
    vm.prepared = true;
    vm.gone = null;
  }

  private async refresh(vm: Vm): Promise<void> {
    await this.prepare(vm);
    vm.layout.balloonBytes = await balloonActual(vm.qmp);
    if (vm.vmemPath) vm.layout.vmem = await readVirtioMem(vm.qmp);
    vm.agent?.poll();
    sampleStall(this.watch, vm.spec.name, vm.target, vm.layout);
  }

  /** The VM a name or an id names (src/model/domain.ts's findDomain: the name first). */
  private find(ref: string): Vm | null {
    const named = this.vms.map((vm) => ({ name: vm.spec.name, id: vm.id, vm }));
    return findDomain(named, ref)?.vm ?? null;
  }

  async host(): Promise<HostInfo> {
    const m = hostMeminfo();
    // QEMU's RAM is an anonymous mapping, backed as the guest touches it (no -mem-prealloc
    // from us: we attach to VMs started elsewhere, and preallocation is the exception).
    return {
      totalBytes: m.totalBytes,
      freeBytes: m.availableBytes,
      reserveBytes: 0,
      firstTouch: true,
    };
  }

  async domains(): Promise<QemuDomain[]> {
    return Promise.all(this.vms.map((vm) => this.domain(vm)));
  }

  private async domain(vm: Vm): Promise<QemuDomain> {
    let state: DomainState = "running";
    try {
      await this.refresh(vm);
    } catch (e) {
      state = "crashed";
      if (!vm.gone) vm.gone = (e as Error).message;
    }
    const actual = actualOf(vm.layout);
    const d: QemuDomain = {
      name: vm.spec.name,
      id: vm.id,
      state,
      memoryBytes: vm.layout.baseBytes,
      maxmemBytes: maxmemOf(vm.layout),
      targetBytes: vm.target ?? actual,
      actualBytes: state === "running" ? actual : 0,
      balloonable: state === "running" && vm.balloonPath !== null,
      hostRssBytes: vm.pid ? rssOf(vm.pid) : null,
      pid: vm.pid,
      stalled: this.watch.stalled(vm.spec.name),
      qemuVersion: vm.qmp.version,
    };
    const configured: Record<string, number> = {};
    if (vm.spec.minBytes !== undefined) configured.minBytes = vm.spec.minBytes;
    if (vm.spec.maxBytes !== undefined) configured.maxBytes = vm.spec.maxBytes;
    if (Object.keys(configured).length) d.configured = configured;
    return d;
  }

  /**
   * Balloon statistics; right after this backend switched polling on, wait (up to
   * FIRST_STATS_WAIT_MS from then) for the guest's first fresh answer.
   */
  private async balloonStats(vm: Vm): Promise<BalloonStats | null> {
    if (!vm.balloonPath) return null;
    for (;;) {
      const b = await readBalloonStats(vm.qmp, vm.balloonPath);
      if (!vm.pollingSinceMs || answeredSince(b, vm.pollingSinceMs)) return b;
      if (Date.now() - vm.pollingSinceMs > FIRST_STATS_WAIT_MS) return b;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stats(ref: string): Promise<GuestStats | null> {
    const vm = this.find(ref);
    if (!vm || vm.gone) return null;
    try {
      await this.prepare(vm);
    } catch {
      return null;
    }
    const [balloon, proc] = await Promise.all([
      this.balloonStats(vm).catch(() => null),
      readGuestProc(vm.agent, vm.qga?.batch ?? null),
    ]);
    return mergeStats(balloon, proc, Date.now(), this.t0);
  }

  async setTarget(ref: string, bytes: number, opts: SetTargetOptions = {}): Promise<BackendResult> {
    const vm = await this.reachable(ref);
    if (!("spec" in vm)) return vm;
    const name = vm.spec.name;
    const r = await setTargetChecked({
      name,
      layout: vm.layout,
      targetBytes: vm.target,
      bytes,
      opts,
      stats: () => this.stats(name),
      layoutNow: async () => {
        await this.refresh(vm);
        return vm.layout;
      },
      ops: {
        setVirtioMem: (b) => setRequestedSize(vm.qmp, vm.vmemPath!, b),
        setBalloon: (b) => setBalloon(vm.qmp, b),
      },
      log: this.log,
      who: "QEMU",
      errorCode: "qmp-error",
    });
    if (r.ok && !opts.dryRun) {
      vm.target = bytes;
      if (vm.layout.vmem) vm.layout.vmem = await readVirtioMem(vm.qmp).catch(() => vm.layout.vmem);
      this.watch.restart(name);
      sampleStall(this.watch, name, vm.target, vm.layout);
    }
    return r;
  }

  /** The VM, freshly read; or why it cannot be reached, as a refusal. */
  private async reachable(ref: string): Promise<Vm | BackendResult> {
    const vm = this.find(ref);
    if (!vm) return { ok: false, code: "no-such-domain", message: noSuchDomain(ref, "VM") };
    try {
      await this.refresh(vm);
    } catch (e) {
      return { ok: false, code: "qmp-error", message: `${vm.spec.name}: ${(e as Error).message}` };
    }
    return vm;
  }

  async setMax(ref: string, bytes: number): Promise<BackendResult> {
    const vm = await this.reachable(ref);
    if (!("spec" in vm)) return vm;
    const name = vm.spec.name;
    const hard = hardMaxOf(vm.layout);
    const target = vm.target ?? actualOf(vm.layout);
    if (bytes > hard) {
      return {
        ok: false,
        code: "above-maxmem",
        message: `${name}: QEMU was started with maxmem ${formatSize(hard)}; it cannot grow past it`,
      };
    }
    if (bytes < target) {
      return {
        ok: false,
        code: "below-target",
        message: `${name}: mem-max ${formatSize(bytes)} is below the current target ${formatSize(target)}`,
      };
    }
    vm.layout.capBytes = bytes;
    const message = `${name}: maxmem ${formatSize(bytes)}`;
    this.log.emit(name, "mem-max", message);
    return { ok: true, message };
  }

  events(since: number): EventsSince {
    return this.log.since(since);
  }

  async close(): Promise<void> {
    for (const vm of this.vms) {
      vm.qmp.close();
      vm.agent?.close();
    }
  }
}
