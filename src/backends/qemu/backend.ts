/**
 * Real QEMU/KVM guests through QMP: virtio-balloon below boot memory, virtio-mem above
 * it, so one target covers the whole range, as libvirt and Proxmox drive them.
 *
 * - `balloon` takes bytes (QMP's unit). QEMU clamps values above RAM silently and
 *   rejects 0, so targets are checked here first. `query-balloon` reports only
 *   `actual`, never the target: the target is kept here.
 * - BALLOON_CHANGE arrives at most once a second with intermediate values. A balloon
 *   whose actual stops moving short of its target for 5 s is reported stalled (that is
 *   how a real guest refuses: with deflate-on-oom it wobbles by 1 MiB, "Out of puff").
 * - Above boot memory, virtio-mem's `requested-size` plugs memory (the guest needs
 *   memhp_default_state=online_movable to online it); below, it is unplugged first.
 * - Guest statistics: QEMU's `guest-stats` (polling enabled here) plus the Ballast
 *   agent's PSI and meminfo lines. Values at or above 2^53 (QEMU sends 2^64-1 for
 *   "unknown") are absent; `last-update` 0 means no stats yet.
 * - Host truth: the QEMU process's VmRSS, found from the QMP socket.
 */
import { z } from "zod";
import type { DomainState } from "../../model/domain.js";
import type { SimEvent } from "../../model/events.js";
import { belowFloorMessage, computeFloor, describeChange } from "../../model/floor.js";
import type { GuestStats } from "../../model/stats.js";
import { formatSize, KiB, MiB, PAGE_SIZE } from "../../units/index.js";
import type {
  Backend,
  BackendDomain,
  BackendResult,
  HostInfo,
  SetTargetOptions,
} from "../backend.js";
import { AgentReader } from "./agent.js";
import { discover, type VmSpec } from "./discovery.js";
import { hostMeminfo, pidOfSocket, rssOf } from "./proc.js";
import { QmpClient, QmpError, type QmpEvent } from "./qmp.js";
import {
  balloonChange,
  guestStats,
  memoryDeviceSizeChange,
  memoryDevices,
  memorySizeSummary,
  qomList,
  queryBalloon,
} from "./schemas.js";

/** For commands whose reply carries nothing we need. */
const queryAny = z.unknown();

export const STUCK_AFTER_MS = 5000;
/** How often QEMU asks the guest for balloon statistics, seconds. */
export const STATS_POLL_S = 2;

interface VirtioMem {
  path: string;
  size: number;
  maxSize: number;
  blockSize: number;
}

interface Vm {
  spec: VmSpec;
  id: number;
  qmp: QmpClient;
  agent: AgentReader | null;
  base: number | null;
  balloonPath: string | null;
  vmem: VirtioMem | null;
  balloonActual: number;
  target: number | null;
  maxCap: number | null;
  gone: string | null;
  pid: number | null;
  /** Closest the balloon has come to the current target, bytes. */
  bestDistance: number;
  lastProgressMs: number;
  stallReported: boolean;
  reachedReported: boolean;
  prepared: boolean;
}

export interface QemuDomain extends BackendDomain {
  rssBytes: number | null;
  pid: number | null;
  stalled: boolean;
  qemuVersion: string;
}

export class QemuBackend implements Backend {
  readonly kind = "qemu";
  private vms: Vm[] = [];
  private log: SimEvent[] = [];
  private readonly t0 = Date.now();

  constructor(readonly source: string) {
    this.vms = discover(source).map((spec, i) => this.makeVm(spec, i));
  }

  private makeVm(spec: VmSpec, id: number): Vm {
    const qmp = new QmpClient(spec.qmp);
    const vm: Vm = {
      spec,
      id,
      qmp,
      agent: spec.agent ? new AgentReader(spec.agent) : null,
      base: null,
      balloonPath: null,
      vmem: null,
      balloonActual: 0,
      target: null,
      maxCap: spec.maxBytes ?? null,
      gone: null,
      pid: null,
      bestDistance: Infinity,
      lastProgressMs: Date.now(),
      stallReported: false,
      reachedReported: false,
      prepared: false,
    };
    qmp.on("event", (e: QmpEvent) => this.onEvent(vm, e));
    qmp.on("close", () => {
      if (!vm.gone) vm.gone = "QEMU closed its QMP socket";
      vm.prepared = false;
      this.emit(vm.spec.name, "guest-gone", `${vm.spec.name}: ${vm.gone}`);
    });
    return vm;
  }

  private emit(domain: string, type: SimEvent["type"], message: string, code?: string): void {
    const e: SimEvent = { t_s: (Date.now() - this.t0) / 1000, domain, type, message };
    if (code) e.code = code;
    this.log.push(e);
  }

  private onEvent(vm: Vm, e: QmpEvent): void {
    if (e.event === "BALLOON_CHANGE") {
      const d = balloonChange.safeParse(e.data);
      if (d.success) {
        vm.balloonActual = d.data.actual;
        this.emit(
          vm.spec.name,
          "balloon-change",
          `${vm.spec.name}: balloon actual ${formatSize(this.actual(vm))}`,
        );
      }
    } else if (e.event === "MEMORY_DEVICE_SIZE_CHANGE") {
      const d = memoryDeviceSizeChange.safeParse(e.data);
      if (d.success && vm.vmem) {
        vm.vmem.size = d.data.size;
        this.emit(
          vm.spec.name,
          "memory-device-size-change",
          `${vm.spec.name}: virtio-mem plugged ${formatSize(d.data.size)}`,
        );
      }
    } else if (e.event === "SHUTDOWN") {
      vm.gone = "the guest shut down";
    }
  }

  private actual(vm: Vm): number {
    return vm.balloonActual + (vm.vmem?.size ?? 0);
  }

  private maxmem(vm: Vm): number {
    return (vm.base ?? 0) + (vm.vmem?.maxSize ?? 0);
  }

  /** First contact: sizes, devices, stats polling. */
  private async prepare(vm: Vm): Promise<void> {
    if (vm.prepared) return;
    const summary = await vm.qmp.execute("query-memory-size-summary", {}, memorySizeSummary);
    vm.base = summary["base-memory"];
    for (const root of ["/machine/peripheral", "/machine/peripheral-anon"]) {
      const kids = await vm.qmp.execute("qom-list", { path: root }, qomList).catch(() => []);
      for (const k of kids) {
        if (k.type === "child<virtio-balloon-pci>" && !vm.balloonPath)
          vm.balloonPath = `${root}/${k.name}`;
        if (k.type === "child<virtio-mem-pci>" && !vm.vmem) {
          vm.vmem = { path: `${root}/${k.name}`, size: 0, maxSize: 0, blockSize: 2 * MiB };
        }
      }
    }
    if (vm.balloonPath) {
      await vm.qmp
        .execute(
          "qom-set",
          { path: vm.balloonPath, property: "guest-stats-polling-interval", value: STATS_POLL_S },
          queryAny,
        )
        .catch(() => undefined);
    }
    vm.pid = pidOfSocket(vm.spec.qmp);
    vm.prepared = true;
    vm.gone = null;
  }

  private async refresh(vm: Vm): Promise<void> {
    await this.prepare(vm);
    const b = await vm.qmp.execute("query-balloon", {}, queryBalloon);
    vm.balloonActual = b.actual;
    if (vm.vmem) {
      const devs = await vm.qmp.execute("query-memory-devices", {}, memoryDevices);
      for (const d of devs) {
        if (d.type === "virtio-mem") {
          const data = d.data as { size: number; "max-size": number; "block-size": number };
          vm.vmem.size = data.size;
          vm.vmem.maxSize = data["max-size"];
          vm.vmem.blockSize = data["block-size"];
        }
      }
    }
    vm.agent?.poll();
    this.watchStall(vm);
  }

  /**
   * A balloon that stops getting closer to its target for 5 s is stalled. Progress is a
   * new best distance: a guest that refuses wobbles by a MiB or so ("Out of puff"), and
   * a wobble is not progress.
   */
  private watchStall(vm: Vm): void {
    const now = Date.now();
    if (vm.target === null) return;
    const distance = Math.abs(this.actual(vm) - vm.target);
    if (distance <= MiB) {
      vm.lastProgressMs = now;
      vm.stallReported = false;
      if (!vm.reachedReported) {
        vm.reachedReported = true;
        this.emit(
          vm.spec.name,
          "balloon-reached-target",
          `${vm.spec.name}: balloon reached ${formatSize(vm.target)}`,
        );
      }
      return;
    }
    if (distance < vm.bestDistance - MiB) {
      vm.bestDistance = distance;
      vm.lastProgressMs = now;
    } else if (now - vm.lastProgressMs > STUCK_AFTER_MS && !vm.stallReported) {
      vm.stallReported = true;
      const actual = this.actual(vm);
      this.emit(
        vm.spec.name,
        actual > vm.target ? "balloon-stalled" : "deflate-stalled",
        `${vm.spec.name}: balloon stalled at ${formatSize(actual)}, ${formatSize(distance)} from target ` +
          `${formatSize(vm.target)}: no progress for ${STUCK_AFTER_MS / 1000}s`,
      );
    }
  }

  private find(name: string): Vm | null {
    return this.vms.find((v) => v.spec.name === name) ?? null;
  }

  async host(): Promise<HostInfo> {
    const m = hostMeminfo();
    return { totalBytes: m.totalBytes, freeBytes: m.availableBytes, reserveBytes: 0 };
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
    const actual = this.actual(vm);
    const d: QemuDomain = {
      name: vm.spec.name,
      id: vm.id,
      state,
      memoryBytes: vm.base ?? 0,
      maxmemBytes: Math.min(this.maxmem(vm), vm.maxCap ?? Infinity),
      targetBytes: vm.target ?? actual,
      actualBytes: state === "running" ? actual : 0,
      balloonable: state === "running" && vm.balloonPath !== null,
      rssBytes: vm.pid ? rssOf(vm.pid) : null,
      pid: vm.pid,
      stalled: vm.stallReported,
      qemuVersion: vm.qmp.version,
    };
    const configured: Record<string, number> = {};
    if (vm.spec.minBytes !== undefined) configured.minBytes = vm.spec.minBytes;
    if (vm.spec.maxBytes !== undefined) configured.maxBytes = vm.spec.maxBytes;
    if (Object.keys(configured).length) d.configured = configured;
    return d;
  }

  async stats(name: string): Promise<GuestStats | null> {
    const vm = this.find(name);
    if (!vm || vm.gone) return null;
    try {
      await this.prepare(vm);
    } catch {
      return null;
    }
    // The agent writes once a second: a fresh connection waits for its first line.
    if (vm.agent && !vm.agent.latest) await vm.agent.ready(2500);
    else vm.agent?.poll();
    const out: GuestStats = { timestamp_s: (Date.now() - this.t0) / 1000 };
    let any = false;
    // The agent's lines come second and win: they are fresher and more detailed.
    const put = (field: keyof GuestStats, value: number | undefined) => {
      if (value !== undefined) {
        (out as unknown as Record<string, number>)[field] = value;
        any = true;
      }
    };
    if (vm.balloonPath) {
      const gs = await vm.qmp
        .execute("qom-get", { path: vm.balloonPath, property: "guest-stats" }, guestStats)
        .catch(() => null);
      if (gs && gs["last-update"] > 0) {
        const v = (k: string): number | undefined => {
          const x = gs.stats[k];
          return x !== undefined && Number.isSafeInteger(x) && x >= 0 ? x : undefined;
        };
        put("total_bytes", v("stat-total-memory"));
        put("free_bytes", v("stat-free-memory"));
        put("available_bytes", v("stat-available-memory"));
        put("file_bytes", v("stat-disk-caches"));
        put("swap_in_bytes", v("stat-swap-in"));
        put("swap_out_bytes", v("stat-swap-out"));
        put("major_faults", v("stat-major-faults"));
        put("minor_faults", v("stat-minor-faults"));
      }
    }
    const a = vm.agent?.latest;
    if (a && vm.agent && Date.now() - vm.agent.receivedAtMs < 10_000) {
      const kb = (k: string) =>
        a.meminfo_kb[k] === undefined ? undefined : a.meminfo_kb[k]! * KiB;
      put("total_bytes", kb("MemTotal"));
      put("free_bytes", kb("MemFree"));
      put("available_bytes", kb("MemAvailable"));
      put("anon_bytes", (kb("Active(anon)") ?? 0) + (kb("Inactive(anon)") ?? 0));
      put("file_bytes", (kb("Active(file)") ?? 0) + (kb("Inactive(file)") ?? 0));
      put("active_anon_bytes", kb("Active(anon)"));
      put("inactive_anon_bytes", kb("Inactive(anon)"));
      put("active_file_bytes", kb("Active(file)"));
      put("inactive_file_bytes", kb("Inactive(file)"));
      put("unevictable_bytes", kb("Unevictable"));
      put("slab_unreclaimable_bytes", kb("SUnreclaim"));
      put("swap_total_bytes", kb("SwapTotal"));
      put("swap_free_bytes", kb("SwapFree"));
      if (a.vmstat?.pgmajfault !== undefined) put("major_faults", a.vmstat.pgmajfault);
      if (a.psi.some) {
        out.psi_some_avg10 = a.psi.some.avg10;
        out.psi_some_avg60 = a.psi.some.avg60;
        out.psi_some_avg300 = a.psi.some.avg300;
      }
      if (a.psi.full) {
        out.psi_full_avg10 = a.psi.full.avg10;
        out.psi_full_avg60 = a.psi.full.avg60;
        out.psi_full_avg300 = a.psi.full.avg300;
      }
    }
    return any ? out : null;
  }

  async setTarget(
    name: string,
    bytes: number,
    opts: SetTargetOptions = {},
  ): Promise<BackendResult> {
    const vm = await this.reachable(name);
    if (!("spec" in vm)) return vm;
    const actual = this.actual(vm);
    const from = vm.target ?? actual;
    const change = describeChange(name, from, bytes);
    const refuse = (code: string, message: string): BackendResult => {
      this.emit(name, "mem-set-refused", message, code);
      return { ok: false, code, message };
    };
    if (bytes === 0 || bytes % PAGE_SIZE !== 0) {
      return refuse(
        "bad-size",
        `${change}: refused, QEMU's balloon takes a whole number of pages above 0`,
      );
    }
    const maxmem = Math.min(this.maxmem(vm), vm.maxCap ?? Infinity);
    if (bytes > maxmem) {
      return refuse("above-maxmem", `${change}: refused, above maxmem ${formatSize(maxmem)}`);
    }
    const stats = await this.stats(name);
    const floor = stats ? computeFloor(stats, actual) : null;
    if (!opts.force && bytes < actual) {
      if (!floor) {
        return refuse(
          "below-floor",
          `${change}: refused, the guest reports no statistics yet, so its floor is unknown; --force shrinks anyway`,
        );
      }
      if (bytes < floor.floorBytes) return refuse("below-floor", belowFloorMessage(change, floor));
    }
    if (opts.dryRun) return { ok: true, message: `${change} (dry run: nothing changed)` };
    const base = vm.base ?? actual;
    try {
      if (vm.vmem) {
        const block = vm.vmem.blockSize;
        const want = Math.max(
          0,
          Math.min(vm.vmem.maxSize, Math.floor((bytes - base) / block) * block),
        );
        if (want !== vm.vmem.size || bytes <= base) {
          await vm.qmp.execute(
            "qom-set",
            { path: vm.vmem.path, property: "requested-size", value: want },
            queryAny,
          );
        }
      }
      await vm.qmp.execute("balloon", { value: Math.min(bytes, base) }, queryAny);
    } catch (e) {
      const msg = e instanceof QmpError ? e.message : String(e);
      return refuse("qmp-error", `${change}: QEMU refused: ${msg}`);
    }
    vm.target = bytes;
    vm.lastProgressMs = Date.now();
    vm.bestDistance = Infinity;
    vm.stallReported = false;
    vm.reachedReported = false;
    const message = `${change}${vm.vmem && bytes > base ? ` (virtio-mem plugs ${formatSize(bytes - base)})` : ""}`;
    this.emit(name, "mem-set", message);
    return { ok: true, message };
  }

  /** The VM, freshly read; or why it cannot be reached, as a refusal. */
  private async reachable(name: string): Promise<Vm | BackendResult> {
    const vm = this.find(name);
    if (!vm) return { ok: false, code: "no-such-domain", message: `no VM named "${name}"` };
    try {
      await this.refresh(vm);
    } catch (e) {
      return { ok: false, code: "qmp-error", message: `${name}: ${(e as Error).message}` };
    }
    return vm;
  }

  async setMax(name: string, bytes: number): Promise<BackendResult> {
    const vm = await this.reachable(name);
    if (!("spec" in vm)) return vm;
    const hard = this.maxmem(vm);
    const target = vm.target ?? this.actual(vm);
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
    vm.maxCap = bytes;
    const message = `${name}: maxmem ${formatSize(bytes)}`;
    this.emit(name, "mem-max", message);
    return { ok: true, message };
  }

  events(since: number) {
    return { events: this.log.slice(since), next: this.log.length };
  }

  async close(): Promise<void> {
    for (const vm of this.vms) {
      vm.qmp.close();
      vm.agent?.close();
    }
  }
}
