/**
 * A booted guest: its page frames, its workload's memory and its own small userspace,
 * reclaim, the OOM killer and the panic when it has nothing left to kill, PSI, and its
 * balloon driver (xen_balloon.ts or virtio_balloon.ts), free page reporting and
 * virtio-mem on KVM, advanced one tick at a time.
 *
 * Invariant (tested after every tick): every RAM frame the guest's E820 describes
 * (plus any extra region its kernel added, or its virtio-mem device) is in exactly one
 * state:
 *   kernel + mem_map + hotplug mem_map + slab + free + anon resident + file resident
 *   + balloon + released-hole + truncated + unplugged == ramFrames
 * and actual (the frames it holds) is the first seven of those. On KVM the host backs
 * only what the guest has touched: host RSS = actual - free pages the host does not back.
 */
import type { Arch } from "../../model/domain.js";
import type { GuestStats } from "../../model/stats.js";
import { fromReserves } from "../../model/watermarks.js";
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import {
  fileWant,
  processWant,
  traceFileWant,
  traceProcessWant,
  type Want,
} from "../workload/shape.js";
import type { PhaseSpec, ProcessSpec, WorkloadSpec } from "../workload/spec.js";
import type { BalloonDriver, BalloonGuest } from "./balloon.js";
import type { BootLayout } from "./boot.js";
import {
  ALLOC_PAGES_PER_S,
  KSWAPD_PAGES_PER_S,
  MAJOR_FAULT_US,
  RECLAIM_CLEAN_US,
  SWAP_IO_PAGES_PER_S,
  SWAP_OUT_US,
} from "./costs.js";
import type { Emit, FramePool } from "./frames.js";
import { FreePageReporting, type ReportingGuest } from "./free_page_reporting.js";
import { BOOT_TOUCHED_LOW_BYTES, BOOT_TOUCHED_REUSABLE_BYTES, USERSPACE } from "./kernel.js";
import {
  type AnonPages,
  anonCold,
  anonHot,
  anonResident,
  anonSwapped,
  emptyAnon,
  emptyFile,
  type FilePages,
  fileCold,
  fileHot,
  fileResident,
  move,
  promoteHot,
  take,
} from "./lru.js";
import { Psi } from "./psi.js";
import { type ReclaimMode, reclaim } from "./reclaim.js";
import { memMapPages } from "./mem_map.js";
import { VirtioBalloon } from "./virtio_balloon.js";
import { VirtioMem, type VirtioMemGuest } from "./virtio_mem.js";
import { OOM_DEFLATE_PAGES, XenBalloon } from "./xen_balloon.js";
import type { ZoneReserves } from "./zones.js";

/**
 * How a guest may lie in what it reports: `hog` claims plausibly to be starving (no
 * free memory, everything active, high PSI, a fault storm) whatever it has; `garbage`
 * reports numbers that cannot be true (free above total, PSI above 100, counters going
 * backwards).
 */
export type StatsLie = "hog" | "garbage";

export type Hypervisor = "xen" | "kvm";

export interface GuestConfig {
  name: string;
  arch: Arch;
  /** xen: drivers/xen/balloon.c, all memory backed; kvm: virtio-balloon, backed on touch. */
  hypervisor: Hypervisor;
  swapBytes: number;
  deflateOnOom: boolean;
  inflateRateBytesPerS: number;
  deflateRateBytesPerS: number;
  /** kvm only: free page reporting (virtio-balloon's free-page-reporting=on). */
  freePageReporting?: boolean;
  /** kvm only: QEMU's RAM size (boot memory), bytes. */
  memoryBytes?: number;
  workload: WorkloadSpec;
  seed: number;
  lie?: StatsLie | null;
}

/** The guest kernel's panic, as it printed it. */
export interface Crash {
  tMs: number;
  reason: string;
}

interface Proc {
  name: string;
  /** Workload process, or the guest's own init (PID 1) and shell. */
  role: "workload" | "init" | "shell";
  spec: ProcessSpec | null;
  phases: PhaseSpec[];
  alive: boolean;
  pages: AnonPages;
  /** Stall accumulated in the current tick, microseconds. */
  stallUs: number;
  /** Did it want anything this tick (non-idle for PSI full)? */
  busy: boolean;
}

interface CachedFile {
  name: string;
  size: number;
  hot: number;
  startMs: number;
  readRatePagesPerS: number;
  phases: PhaseSpec[];
  fromTrace: boolean;
  pages: FilePages;
  stallUs: number;
  busy: boolean;
}

const pages = (bytes: number) => Math.floor(bytes / PAGE_SIZE);

/**
 * Share of freed memory left in buddy blocks under 2 MiB. Measured: after a 500 MiB
 * process exits, free page reporting returned 438-498 MiB of it (five runs, mean 470).
 */
const FRAGMENTED_SHARE = 0.06;

/** Free-memory thresholds the guest works with, pages. */
export interface GuestWatermarks {
  /** Free pages user and balloon allocations cannot take (min watermarks + lowmem_reserve). */
  min: number;
  /** kswapd wakes below this. */
  low: number;
  /** kswapd sleeps again above this. */
  high: number;
}

export class Guest implements BalloonGuest, ReportingGuest, VirtioMemGuest {
  readonly name: string;
  readonly arch: Arch;
  readonly hypervisor: Hypervisor;
  readonly ramFrames: number;
  readonly kernel: number;
  readonly memMap: number;
  readonly slab: number;
  readonly truncated: number;
  readonly lowmemFrames: number | null;
  readonly swapTotal: number;
  readonly deflateOnOom: boolean;
  readonly reserves: ZoneReserves;
  readonly wm: GuestWatermarks;
  readonly driver: BalloonDriver;
  readonly fpr: FreePageReporting | null;
  readonly vmem: VirtioMem | null;
  readonly psi = new Psi();
  private readonly seed: number;
  private readonly trace: WorkloadSpec["trace"];
  readonly lie: StatsLie | null;
  /** kvm: QEMU's RAM size less the E820 RAM frames (holes the guest never uses), pages. */
  private readonly ramHolePages: number;
  /** kvm: backed free pages nothing reaches (boot's leftovers in reserves and fragments). */
  private readonly pinnedBacked: number;
  /** kvm: backed free pages in the DMA zone, reached only at the floor. */
  private lowBacked: number;
  /** Backed free pages left in blocks smaller than 2 MiB (not reportable). */
  private fragBacked = 0;

  free: number;
  /** Of `free`, pages the host does not back (never touched, reported, or deflated): kvm only. */
  freeUnbacked = 0;
  balloon: number;
  releasedHole: number;
  /** virtio-mem device pages not plugged. */
  unplugged: number;
  /** struct pages for plugged virtio-mem memory (allocated inside MemTotal). */
  hotplugMemMap = 0;
  readonly procs: Proc[] = [];
  readonly files: CachedFile[] = [];
  /** Set when the kernel panicked: the guest runs no more. */
  crash: Crash | null = null;
  /** kvm: pages the guest tried to touch this tick that the host could not back. */
  hostShortPages = 0;

  majorFaults = 0;
  minorFaults = 0;
  swapInPages = 0;
  swapOutPages = 0;
  oomKills = 0;

  // Per-tick budgets and tallies.
  private kworkerStallUs = 0;
  private nowMs = 0;
  private swapOutBudget = 0;
  private swapInBudget = 0;
  private oomDeflatedThisTick = 0;
  /** OOM deflation episode: pages given back and when it started (-1: none). */
  private oomEpisodePages = 0;
  private oomEpisodeStartMs = -1;
  private tickUs = 0;
  emit: Emit = () => {};

  constructor(cfg: GuestConfig, layout: BootLayout) {
    this.name = cfg.name;
    this.arch = cfg.arch;
    this.hypervisor = cfg.hypervisor;
    this.seed = cfg.seed;
    this.ramFrames = layout.ramFrames;
    this.kernel = layout.kernelPages;
    this.memMap = layout.memMapPages;
    this.slab = layout.slabPages;
    this.truncated = layout.truncatedFrames;
    this.lowmemFrames = layout.lowmemFrames;
    this.free = layout.freePages;
    this.balloon = layout.balloonFrames;
    this.releasedHole = layout.releasedHoleFrames;
    this.unplugged = layout.unpluggedFrames;
    this.freeUnbacked = layout.freePages - layout.backedFreePages;
    const reusable = Math.floor(BOOT_TOUCHED_REUSABLE_BYTES / PAGE_SIZE);
    this.lowBacked = Math.min(
      Math.max(0, layout.backedFreePages - reusable),
      Math.floor(BOOT_TOUCHED_LOW_BYTES / PAGE_SIZE),
    );
    this.pinnedBacked = Math.max(0, layout.backedFreePages - reusable - this.lowBacked);
    this.swapTotal = pages(cfg.swapBytes);
    this.deflateOnOom = cfg.deflateOnOom;
    // Watermarks and lowmem_reserve are set at boot (setup_per_zone_wmarks() is not
    // rerun when a balloon changes managed pages).
    this.reserves = layout.reserves;
    const r = layout.reserves;
    this.wm = fromReserves(r);
    const kvm = cfg.hypervisor === "kvm";
    const memPages = pages(cfg.memoryBytes ?? layout.populatedFrames * PAGE_SIZE);
    this.ramHolePages = kvm ? memPages - layout.populatedFrames : 0;
    const inflate = pages(cfg.inflateRateBytesPerS);
    const deflate = pages(cfg.deflateRateBytesPerS);
    if (kvm) {
      const v = new VirtioBalloon(memPages, inflate, deflate, cfg.deflateOnOom);
      v.setTarget(memPages, 0);
      v.reachedReported = true;
      this.driver = v;
    } else {
      this.driver = new XenBalloon(this.actual(), inflate, deflate, cfg.deflateOnOom);
    }
    this.fpr = kvm && cfg.freePageReporting ? new FreePageReporting() : null;
    // virtio-mem works in 2 MiB blocks (one host discard per block, not per page): it
    // plugs and unplugs at the balloon's deflate rate (an assumption, not measured).
    this.vmem = kvm && this.unplugged > 0 ? new VirtioMem(this.unplugged, deflate, deflate) : null;
    this.trace = cfg.workload.trace;
    this.lie = cfg.lie ?? null;
    const phases = cfg.workload.phases;
    // The guest's own userspace: init and a shell, started at boot.
    for (const role of ["init", "shell"] as const) {
      const a = emptyAnon();
      a.coldActive = USERSPACE.anonPages;
      this.free -= USERSPACE.anonPages;
      this.procs.push({
        name: role === "init" ? "init" : "sh",
        role,
        spec: null,
        phases: [],
        alive: true,
        pages: a,
        stallUs: 0,
        busy: false,
      });
    }
    for (const p of cfg.workload.processes) {
      this.procs.push({
        name: p.name,
        role: "workload",
        spec: p,
        phases: phases.filter((ph) => ph.process === p.name),
        alive: true,
        pages: emptyAnon(),
        stallUs: 0,
        busy: false,
      });
    }
    for (const f of cfg.workload.files) {
      this.files.push({
        name: f.name,
        size: f.size,
        hot: f.hot,
        startMs: f.startMs,
        readRatePagesPerS: pages(f.readRateBytesPerS),
        phases: phases.filter((ph) => ph.file === f.name),
        fromTrace: false,
        pages: emptyFile(0),
        stallUs: 0,
        busy: false,
      });
    }
    if (this.trace) {
      this.procs.push({
        name: this.trace.name,
        role: "workload",
        spec: null,
        phases: [],
        alive: true,
        pages: emptyAnon(),
        stallUs: 0,
        busy: false,
      });
      this.files.push({
        name: `${this.trace.name}-cache`,
        size: 0,
        hot: 0,
        startMs: 0,
        readRatePagesPerS: Number.MAX_SAFE_INTEGER,
        phases: [],
        fromTrace: true,
        pages: emptyFile(0),
        stallUs: 0,
        busy: false,
      });
    }
  }

  // ---- accounting -------------------------------------------------------------------

  anonResident(): number {
    let n = 0;
    for (const p of this.procs) n += anonResident(p.pages);
    return n;
  }

  fileResident(): number {
    let n = 0;
    for (const f of this.files) n += fileResident(f.pages);
    return n;
  }

  swapUsed(): number {
    let n = 0;
    for (const p of this.procs) n += anonSwapped(p.pages);
    return n;
  }

  /** Frames the guest holds: on Xen the domain's actual memory, all backed by the host. */
  actual(): number {
    return (
      this.kernel +
      this.memMap +
      this.hotplugMemMap +
      this.slab +
      this.free +
      this.anonResident() +
      this.fileResident()
    );
  }

  /** Actual memory as the toolstack shows it: on KVM, QEMU's RAM size less the balloon
   * plus plugged virtio-mem memory (QMP's `actual` counts the E820 holes as RAM). */
  shownActual(): number {
    return this.actual() + this.ramHolePages;
  }

  /** The most the toolstack can show as actual: RAM taken on, plus virtio-mem's region. */
  maxShown(): number {
    return (
      this.capacity() + this.ramHolePages + (this.vmem?.regionPages ?? 0) - this.pluggedVirtioMem()
    );
  }

  private pluggedVirtioMem(): number {
    return this.vmem ? this.vmem.regionPages - this.unplugged : 0;
  }

  /**
   * The toolstack's new target for actual memory. Xen: the balloon driver's target_pages.
   * KVM, as the QEMU backend does it: below boot memory the balloon (virtio-mem unplugs
   * all), above it virtio-mem's requested-size (the balloon empties).
   */
  setTarget(pages: number, nowMs: number): void {
    if (this.hypervisor === "xen") {
      this.driver.setTarget(pages, nowMs);
      return;
    }
    const v = this.driver as VirtioBalloon;
    // QEMU sets num_pages only for the balloon's share; a target above RAM leaves the
    // balloon empty and is virtio-mem's.
    const balloonTarget = Math.max(0, v.ramPages - Math.min(pages, v.ramPages));
    if (balloonTarget !== v.targetBalloonPages || this.balloonList() !== balloonTarget)
      v.setTarget(Math.min(pages, v.ramPages), nowMs);
    this.vmem?.setRequested(pages - v.ramPages);
  }

  /** What the host backs: all of actual on Xen; on KVM what the guest touched. */
  hostRss(): number {
    return this.actual() - this.freeUnbacked;
  }

  /**
   * MemTotal: pages under the page allocator (actual less kernel image and boot
   * mem_map); with virtio's deflate-on-oom, ballooned pages stay in it.
   */
  managed(): number {
    const m = this.actual() - this.kernel - this.memMap;
    return this.driver.balloonInMemTotal ? m + this.balloon : m;
  }

  /** Pages on the balloon's list (ballooned out, including released-hole credit). */
  balloonList(): number {
    return this.balloon + this.releasedHole;
  }

  /** The most actual memory the guest can ever hold (its RAM frames it took on). */
  capacity(): number {
    return this.ramFrames - this.truncated - this.unplugged;
  }

  /** Sum of every frame state; equals ramFrames when the invariant holds. */
  accountedFrames(): number {
    return this.actual() + this.balloon + this.releasedHole + this.truncated + this.unplugged;
  }

  lowmemFree(): number | null {
    if (this.lowmemFrames === null) return null;
    return Math.max(
      0,
      Math.min(this.free, this.lowmemFrames - this.kernel - this.memMap - this.slab),
    );
  }

  // ---- the tick -----------------------------------------------------------------------

  step(nowMs: number, dtMs: number, host: FramePool, emit: Emit): void {
    if (this.crash) return;
    this.emit = emit;
    this.nowMs = nowMs;
    const frac = dtMs / 1000;
    this.tickUs = dtMs * 1000;
    this.swapOutBudget = Math.ceil(SWAP_IO_PAGES_PER_S * frac);
    this.swapInBudget = Math.ceil(SWAP_IO_PAGES_PER_S * frac);
    this.oomDeflatedThisTick = 0;
    this.kworkerStallUs = 0;
    this.hostShortPages = 0;
    for (const p of this.procs) {
      p.stallUs = 0;
      p.busy = false;
    }
    for (const f of this.files) {
      f.stallUs = 0;
      f.busy = false;
    }

    this.runUserspace(nowMs, dtMs, host);
    if (this.crash) return;
    this.runWorkload(nowMs, frac, host);
    if (this.crash) return;
    // (init's and the shell's few pages sit still: the workload's are what age.)
    const procs = this.procs;
    for (let i = 2; i < procs.length; i++) if (procs[i]!.alive) promoteHot(procs[i]!.pages, frac);
    for (const f of this.files) promoteHot(f.pages, frac);
    this.kswapd(frac);
    this.driver.step(this, nowMs, dtMs, host);
    this.vmem?.step(this, dtMs, host);
    this.fpr?.step(this, nowMs, host);
    this.recordPressure(dtMs);

    this.reportOomDeflation(nowMs, dtMs);
  }

  /**
   * init and the shell wake now and then and fork: a few pages for the child, given
   * back when it exits. Starved of memory, that fork is what calls the OOM killer.
   */
  private runUserspace(nowMs: number, dtMs: number, host: FramePool): void {
    if (nowMs + dtMs < this.nextForkMs) return;
    // init and the shell are the first two processes; the shell wakes half a period
    // after init.
    for (let i = 0; i < 2; i++) {
      const p = this.procs[i]!;
      const every = i === 0 ? USERSPACE.initEveryMs : USERSPACE.shellEveryMs;
      const phase = i === 0 ? 0 : every / 2;
      if (!p.alive) continue;
      if (Math.floor((nowMs + dtMs - phase) / every) === Math.floor((nowMs - phase) / every))
        continue;
      // A fork takes microseconds: the task counts for PSI only if it stalls.
      const got = this.alloc(USERSPACE.forkPages, p, host);
      if (this.crash) return;
      this.free += got;
      p.busy = p.stallUs > 0;
    }
    // The next time either wakes.
    const next = (every: number, phase: number) =>
      (Math.floor((nowMs + dtMs - phase) / every) + 1) * every + phase;
    this.nextForkMs = Math.min(
      next(USERSPACE.initEveryMs, 0),
      next(USERSPACE.shellEveryMs, USERSPACE.shellEveryMs / 2),
    );
  }
  private nextForkMs = -1;

  /** Quiet time after which an OOM-deflation episode is over. */
  private static readonly OOM_EPISODE_QUIET_MS = 5000;
  private oomLastMs = -1;

  /** One event when an OOM-deflation episode starts, one with the total when it ends. */
  private reportOomDeflation(nowMs: number, dtMs: number): void {
    const n = this.oomDeflatedThisTick;
    if (n > 0) {
      this.oomLastMs = nowMs;
      if (this.oomEpisodeStartMs < 0) {
        this.oomEpisodeStartMs = nowMs;
        this.emit(
          "balloon-deflated-on-oom",
          `${this.name}: out of memory: the OOM notifier is taking pages back from the balloon ` +
            `(${OOM_DEFLATE_PAGES} per notification) instead of killing a process`,
        );
      }
    }
    this.oomEpisodePages += n;
    if (
      n === 0 &&
      this.oomEpisodeStartMs >= 0 &&
      nowMs + dtMs - this.oomLastMs >= Guest.OOM_EPISODE_QUIET_MS
    ) {
      const took = formatSize(this.oomEpisodePages * PAGE_SIZE);
      const span = ((this.oomLastMs + dtMs - this.oomEpisodeStartMs) / 1000).toFixed(1);
      const after = this.driver.chasing(this)
        ? "the driver goes on towards its target"
        : "the balloon holds until a new target is set";
      this.emit(
        "balloon-deflated-on-oom",
        `${this.name}: the OOM notifier took ${took} back from the balloon over ${span}s; ` +
          `no process was killed; ${after}`,
      );
      this.oomEpisodeStartMs = -1;
      this.oomEpisodePages = 0;
    }
  }

  private runWorkload(nowMs: number, frac: number, host: FramePool): void {
    const allocBudget = Math.ceil(ALLOC_PAGES_PER_S * frac);
    for (let i = 2; i < this.procs.length; i++) {
      const p = this.procs[i]!;
      if (!p.alive) continue;
      let want: Want;
      if (p.spec) want = processWant(p.spec, p.phases, this.seed, nowMs, this.name);
      else want = traceProcessWant(this.trace!, nowMs);
      const need = this.reconcileAnon(p, pages(want.anon), pages(want.hot));
      // Hot swapped pages are touched within the second: swap-ins (major faults).
      const swapIns = Math.min(Math.ceil(p.pages.hotSwap * Math.min(1, frac)), this.swapInBudget);
      if (swapIns > 0) {
        p.busy = true;
        const got = this.alloc(swapIns, p, host);
        if (!p.alive) continue;
        move(p.pages, "hotSwap", "hotActive", got);
        this.swapInBudget -= got;
        this.swapInPages += got;
        this.majorFaults += got;
        p.stallUs += got * MAJOR_FAULT_US;
      }
      let hotNeed = Math.min(need.hot, allocBudget);
      let coldNeed = Math.min(need.cold, allocBudget - hotNeed);
      if (hotNeed + coldNeed > 0) {
        p.busy = true;
        const got = this.alloc(hotNeed + coldNeed, p, host);
        if (!p.alive) continue;
        hotNeed = Math.min(hotNeed, got);
        coldNeed = got - hotNeed;
        p.pages.hotActive += hotNeed;
        p.pages.coldInactive += coldNeed;
        this.minorFaults += got;
      }
      if (anonHot(p.pages) > 0) p.busy = true;
    }
    for (const f of this.files) {
      const w = f.fromTrace
        ? traceFileWant(this.trace!, nowMs)
        : fileWant(f.name, f.size, f.hot, f.startMs, f.phases, nowMs);
      this.reconcileFile(f, pages(w.size), pages(w.hot));
      // Hot evicted pages are read again within the second: refaults (major faults).
      const refaults = Math.ceil(f.pages.hotEvicted * Math.min(1, frac));
      if (refaults > 0) {
        f.busy = true;
        const got = this.alloc(refaults, f, host);
        move(f.pages, "hotEvicted", "hotActive", got);
        this.majorFaults += got;
        f.stallUs += got * MAJOR_FAULT_US;
      }
      const reads = Math.min(f.pages.unread, Math.ceil(f.readRatePagesPerS * frac));
      if (reads > 0) {
        f.busy = true;
        const got = this.alloc(reads, f, host);
        // The hot part of a file is the part read first; first reads land on the
        // inactive list.
        const hotRoom = Math.max(0, pages(w.hot) - fileHot(f.pages));
        const h = Math.min(got, hotRoom);
        f.pages.unread -= got;
        f.pages.hotInactive += h;
        f.pages.coldInactive += got - h;
      }
      if (fileHot(f.pages) > 0) f.busy = true;
    }
  }

  /** Bring a process's hot/cold split to the wanted sizes; frees what is no longer wanted. */
  private reconcileAnon(p: Proc, wantAnon: number, wantHot: number): { hot: number; cold: number } {
    const a = p.pages;
    const wantCold = wantAnon - wantHot;
    let hot = anonHot(a);
    // Pages that cool down keep their place (an active page stays active until demoted).
    if (hot > wantHot) {
      let n = hot - wantHot;
      n -= move(a, "hotInactive", "coldInactive", n);
      n -= move(a, "hotSwap", "coldSwap", n);
      move(a, "hotActive", "coldActive", n);
      hot = wantHot;
    } else if (hot < wantHot) {
      // Cold pages that become hot (the working set grows into existing memory).
      let n = Math.min(wantHot - hot, anonCold(a));
      const moved = n;
      n -= move(a, "coldActive", "hotActive", n);
      n -= move(a, "coldInactive", "hotInactive", n);
      move(a, "coldSwap", "hotSwap", n);
      hot += moved;
    }
    let cold = anonCold(a);
    if (cold > wantCold) {
      let n = cold - wantCold;
      n -= take(a, "coldSwap", n);
      const fromInactive = take(a, "coldInactive", n);
      n -= fromInactive;
      const fromActive = take(a, "coldActive", n);
      this.freed(fromInactive + fromActive);
      cold = wantCold;
    }
    return { hot: Math.max(0, wantHot - hot), cold: Math.max(0, wantCold - cold) };
  }

  private reconcileFile(f: CachedFile, wantSize: number, wantHot: number): void {
    const fp = f.pages;
    const have = fileHot(fp) + fileCold(fp) + fp.unread;
    if (have < wantSize) fp.unread += wantSize - have;
    else if (have > wantSize) {
      // Truncation drops unread and evicted pages first, then cached ones.
      let n = have - wantSize;
      n -= take(fp, "unread", n);
      n -= take(fp, "coldEvicted", n);
      n -= take(fp, "hotEvicted", n);
      for (const k of ["coldInactive", "coldActive", "hotInactive", "hotActive"] as const) {
        const t = take(fp, k, n);
        this.freed(t);
        n -= t;
      }
    }
    const hot = fileHot(fp);
    if (hot > wantHot) {
      let n = hot - wantHot;
      n -= move(fp, "hotEvicted", "coldEvicted", n);
      n -= move(fp, "hotInactive", "coldInactive", n);
      move(fp, "hotActive", "coldActive", n);
    } else if (hot < wantHot) {
      let n = wantHot - hot;
      n -= move(fp, "coldActive", "hotActive", n);
      n -= move(fp, "coldInactive", "hotInactive", n);
      move(fp, "coldEvicted", "hotEvicted", n);
    }
  }

  // ---- allocation, reclaim, OOM -------------------------------------------------------

  private reclaimTarget() {
    return {
      anon: this.procs.filter((p) => p.alive).map((p) => p.pages),
      files: this.files.map((f) => f.pages),
      swapFree: this.swapTotal - this.swapUsed(),
      swapOutBudget: this.swapOutBudget,
    };
  }

  private doReclaim(want: number, mode: ReclaimMode): { freed: number; costUs: number } {
    if (want <= 0) return { freed: 0, costUs: 0 };
    const t = this.reclaimTarget();
    const r = reclaim(t, want, mode);
    this.swapOutBudget = t.swapOutBudget;
    this.swapOutPages += r.swappedOut;
    this.free += r.freed;
    if (r.freed > 0) this.freedSinceReport = true;
    return { freed: r.freed, costUs: r.clean * RECLAIM_CLEAN_US + r.swappedOut * SWAP_OUT_US };
  }

  /**
   * Take `k` free pages for the guest's own use (k at most what is free above the floor).
   * On KVM the allocator hands out pages it freed recently first (they are backed), then
   * pages never touched or reported, which the host must now back (`host.claim`: it may
   * fall short, and the rest must wait), and last the backed leftovers of boot. Returns
   * how many it got.
   */
  private takeFree(k: number, host: FramePool): number {
    if (k <= 0) return 0;
    if (this.hypervisor === "xen") {
      this.free -= k;
      return k;
    }
    const pick = this.pickFree(k);
    let touch = pick.unbacked;
    if (touch > 0) {
      const granted = host.claim(touch);
      if (granted < touch) {
        this.hostShortPages += touch - granted;
        touch = granted;
      }
    }
    this.freeUnbacked -= touch;
    const got = pick.backed + touch;
    this.free -= got;
    return got;
  }

  /**
   * Pages a process or file gave back (they were backed). Most coalesce into 2 MiB
   * blocks and more; FRAGMENTED_SHARE of them stay in smaller ones, which free page
   * reporting does not see and the allocator hands out first (it prefers small blocks).
   */
  private freed(n: number): void {
    this.free += n;
    this.fragBacked += Math.round(n * FRAGMENTED_SHARE);
    this.freedSinceReport = true;
  }

  /** Something was freed since free page reporting last looked (its notify hook). */
  freedSinceReport = true;

  /**
   * Which free pages an allocation of `k` gets on KVM (k at most what is free): pages
   * freed recently (backed), then untouched ones from the zones above DMA while those
   * are above their min watermark, then the DMA zone's backed pages, then the rest.
   * Takes the DMA-zone pages it uses off `lowBacked`; returns the split.
   */
  private pickFree(k: number): { backed: number; unbacked: number } {
    const backed = this.free - this.freeUnbacked;
    const reuse = Math.min(k, Math.max(0, backed - this.pinnedBacked - this.lowBacked));
    this.fragBacked -= Math.min(this.fragBacked, reuse);
    let left = k - reuse;
    const above = Math.max(0, this.free - reuse - this.wm.min - this.lowBacked);
    const untouched = Math.min(left, this.freeUnbacked, above);
    left -= untouched;
    const low = Math.min(left, this.lowBacked);
    this.lowBacked -= low;
    left -= low;
    const untouched2 = Math.min(left, this.freeUnbacked - untouched);
    left -= untouched2;
    const pinned = Math.min(left, backed - reuse - low);
    return { backed: reuse + low + pinned, unbacked: untouched + untouched2 };
  }

  /**
   * Allocate `n` pages for a task: free pages down to the floor, then direct reclaim
   * (stalling the task), then the OOM path: deflate-on-oom's notifier, the OOM killer,
   * and with nothing left to kill, the panic. Returns pages obtained (fewer if the task
   * was killed, the host could not back them, or the kernel panicked).
   */
  private alloc(n: number, who: Proc | CachedFile, host: FramePool): number {
    let got = 0;
    for (let guard = 0; guard < 10_000 && got < n; guard++) {
      const avail = Math.max(0, this.free - this.wm.min);
      const want = Math.min(n - got, avail);
      const k = this.takeFree(want, host);
      got += k;
      if (got >= n) break;
      if (k < want) {
        // The host could not back the pages (KVM, host out of memory): the vCPU waits.
        who.stallUs += this.tickUs;
        return got;
      }
      const r = this.doReclaim(n - got + Math.max(0, this.wm.min - this.free), "direct");
      who.stallUs += r.costUs;
      if (r.freed > 0) continue;
      // Reclaim found nothing only because swap I/O is saturated this tick: the task
      // blocks on writeback (a stall, not an OOM) and tries again next tick, as
      // should_reclaim_retry() keeps retrying while reclaim can still make progress.
      if (this.swapThrottled()) {
        who.stallUs += this.tickUs;
        return got;
      }
      // Out of memory (mm/oom_kill.c out_of_memory()): the OOM notifiers first (virtio
      // balloon's deflate-on-oom); pages freed there mean "retry the allocation".
      const give = this.driver.oomNotify(this, host);
      if (give > 0) {
        this.oomDeflatedThisTick += give;
        continue;
      }
      const victim = this.oomVictim();
      if (!victim) {
        this.panic("System is deadlocked on memory");
        return got;
      }
      this.kill(victim);
      if (victim === who) {
        // The task died mid-allocation: what it had gathered goes back to the free list.
        this.free += got;
        return 0;
      }
    }
    return got;
  }

  /**
   * "Out of memory and no killable processes...": out_of_memory() panics (not a memcg or
   * sysrq OOM). The guest stops; what happens to its memory is the host's business.
   */
  private panic(reason: string): void {
    this.crash = { tMs: this.nowMs, reason: `Kernel panic - not syncing: ${reason}` };
    this.emit(
      "guest-panic",
      `${this.name}: Out of memory and no killable processes...; Kernel panic - not syncing: ${reason}`,
    );
  }

  private swapThrottled(): boolean {
    return this.swapOutBudget <= 0 && this.swapUsed() < this.swapTotal && this.anonResident() > 0;
  }

  /**
   * The process with the most memory (rss + swap), as oom_badness() ranks them; never
   * init (oom_unkillable_task(): is_global_init()).
   */
  private oomVictim(): Proc | null {
    let best: Proc | null = null;
    let bestScore = 0;
    for (const p of this.procs) {
      if (!p.alive || p.role === "init") continue;
      const score = anonResident(p.pages) + anonSwapped(p.pages);
      if (score > bestScore) {
        best = p;
        bestScore = score;
      }
    }
    return best;
  }

  private kill(p: Proc): void {
    const rss = anonResident(p.pages);
    const swap = anonSwapped(p.pages);
    this.freed(rss);
    p.pages = emptyAnon();
    p.alive = false;
    this.oomKills++;
    this.emit(
      "oom-kill",
      `${this.name}: Out of memory: Killed process ${p.name} (anon-rss:${formatSize(rss * PAGE_SIZE)}, ` +
        `swap:${formatSize(swap * PAGE_SIZE)})`,
    );
  }

  /** kswapd: below the low watermark, reclaim in the background up to the high one. */
  private kswapd(frac: number): void {
    if (this.free >= this.wm.low) return;
    const want = Math.min(this.wm.high - this.free, Math.ceil(KSWAPD_PAGES_PER_S * frac));
    this.doReclaim(want, "kswapd");
  }

  // ---- what the balloon driver, virtio-mem and free page reporting do to the guest ----

  /** Take pages off the balloon list (balloon pages first, then released-hole credit). */
  deflate(n: number, backed: boolean): void {
    let k = n;
    k -= take(this, "balloon", k);
    take(this, "releasedHole", k);
    this.free += n;
    if (!backed) this.freeUnbacked += n;
  }

  /**
   * Balloon allocation flags allow free pages above the floor, then one pass of cheap
   * reclaim (clean cold cache). Backed pages go back to the host: on Xen every page, on
   * KVM those the guest had touched (QEMU discards them; untouched ones cost nothing).
   */
  inflate(n: number, host: FramePool): number {
    let avail = Math.max(0, this.free - this.wm.min);
    if (avail < n) {
      this.doReclaim(n - avail, "balloon");
      avail = Math.max(0, this.free - this.wm.min);
    }
    const k = Math.min(n, avail);
    if (k <= 0) return 0;
    // The same pages an allocation would get (takeFree()); on Xen all are backed.
    const pick = this.hypervisor === "kvm" ? this.pickFree(k) : { backed: k, unbacked: 0 };
    this.free -= k;
    this.freeUnbacked -= pick.unbacked;
    this.balloon += k;
    host.release(pick.backed);
    return k;
  }

  stallKworker(us: number): void {
    this.kworkerStallUs += us;
  }

  /** virtio-mem plugs `n` pages: free and untouched; struct pages for new memory blocks. */
  plug(n: number, host: FramePool): void {
    const k = Math.min(n, this.unplugged);
    this.unplugged -= k;
    this.free += k;
    this.freeUnbacked += k;
    this.resizeHotplugMemMap(host);
  }

  /** virtio-mem unplugs up to `n` pages: only free pages above the floor can go. */
  unplug(n: number, host: FramePool): number {
    // The plugged blocks hold what the guest allocated since it grew (backed): those
    // pages go back first, and QEMU discards them. Boot's backed leftovers (scattered
    // pages, the DMA zone's) are boot memory, never in a plugged block.
    const inBlocks = Math.max(
      0,
      this.free - this.freeUnbacked - this.pinnedBacked - this.lowBacked,
    );
    const k = Math.min(n, Math.max(0, this.free - this.wm.min), inBlocks + this.freeUnbacked);
    if (k <= 0) return 0;
    const backed = Math.min(k, inBlocks);
    this.free -= k;
    this.freeUnbacked -= k - backed;
    this.unplugged += k;
    host.release(backed);
    this.resizeHotplugMemMap(host);
    return k;
  }

  private resizeHotplugMemMap(host: FramePool): void {
    if (!this.vmem) return;
    const plugged = this.vmem.regionPages - this.unplugged;
    const want = memMapPages(this.arch, VirtioMem.memMapBlocks(plugged) * 32768);
    if (want > this.hotplugMemMap) {
      const got = this.takeFree(Math.min(want - this.hotplugMemMap, this.free), host);
      this.hotplugMemMap += got;
    } else if (want < this.hotplugMemMap) {
      this.free += this.hotplugMemMap - want;
      this.hotplugMemMap = want;
    }
  }

  /** Backed free pages free page reporting can find (not boot's scattered leftovers). */
  reportable(): number {
    // Fragments can only be as many as the backed free pages beyond boot's leftovers.
    const backed = Math.max(0, this.free - this.freeUnbacked - this.pinnedBacked - this.lowBacked);
    this.fragBacked = Math.min(this.fragBacked, backed);
    return backed - this.fragBacked;
  }

  lowWatermark(): number {
    return this.wm.low;
  }

  report(n: number, host: FramePool): void {
    const k = Math.min(n, this.reportable());
    this.freeUnbacked += k;
    host.release(k);
  }

  // ---- pressure and stats -------------------------------------------------------------

  private recordPressure(dtMs: number): void {
    let some = 0;
    let full = Infinity;
    let anyBusy = false;
    for (const p of this.procs) {
      if (!p.alive || !p.busy) continue;
      anyBusy = true;
      if (p.stallUs > some) some = p.stallUs;
      if (p.stallUs < full) full = p.stallUs;
    }
    for (const f of this.files) {
      if (!f.busy) continue;
      anyBusy = true;
      if (f.stallUs > some) some = f.stallUs;
      if (f.stallUs < full) full = f.stallUs;
    }
    // The balloon driver's kworker, stalled in reclaim when it cannot get pages.
    const kw = this.kworkerStallUs;
    if (kw > 0) {
      anyBusy = true;
      if (kw > some) some = kw;
      if (kw < full) full = kw;
    }
    // Stalls of concurrent tasks overlap (they hit reclaim together when memory runs
    // short): `some` is at least the longest stall, `full` at most the shortest.
    this.psi.record(dtMs, some, anyBusy ? full : 0);
  }

  /**
   * MemAvailable as si_mem_available() estimates it: free pages above totalreserve_pages
   * (high watermarks and lowmem_reserve), plus the page cache less the part reclaim would
   * not reach (half of it, at most the low watermarks).
   */
  available(): number {
    const cache = this.fileResident();
    const fromCache = cache - Math.min(Math.floor(cache / 2), this.reserves.low);
    return Math.max(0, this.free - this.reserves.totalReserve + fromCache);
  }

  stats(nowMs: number): GuestStats {
    let activeAnon = 0;
    let inactiveAnon = 0;
    let activeFile = 0;
    let inactiveFile = 0;
    for (const p of this.procs) {
      activeAnon += p.pages.hotActive + p.pages.coldActive;
      inactiveAnon += p.pages.hotInactive + p.pages.coldInactive;
    }
    for (const f of this.files) {
      activeFile += f.pages.hotActive + f.pages.coldActive;
      inactiveFile += f.pages.hotInactive + f.pages.coldInactive;
    }
    const some = this.psi.some();
    const full = this.psi.full();
    const b = (n: number) => n * PAGE_SIZE;
    return {
      timestamp_s: nowMs / 1000,
      total_bytes: b(this.managed()),
      free_bytes: b(this.free),
      available_bytes: b(this.available()),
      file_bytes: b(activeFile + inactiveFile),
      anon_bytes: b(activeAnon + inactiveAnon),
      active_anon_bytes: b(activeAnon),
      inactive_anon_bytes: b(inactiveAnon),
      active_file_bytes: b(activeFile),
      inactive_file_bytes: b(inactiveFile),
      unevictable_bytes: 0,
      slab_unreclaimable_bytes: b(this.slab),
      swap_total_bytes: b(this.swapTotal),
      swap_free_bytes: b(this.swapTotal - this.swapUsed()),
      swap_in_bytes: b(this.swapInPages),
      swap_out_bytes: b(this.swapOutPages),
      major_faults: this.majorFaults,
      minor_faults: this.minorFaults,
      psi_some_avg10: some.avg10,
      psi_some_avg60: some.avg60,
      psi_some_avg300: some.avg300,
      psi_full_avg10: full.avg10,
      psi_full_avg60: full.avg60,
      psi_full_avg300: full.avg300,
    };
  }

  /** What the guest tells the host: its true stats, unless it lies. */
  reportedStats(nowMs: number): GuestStats {
    const s = this.stats(nowMs);
    if (this.lie === "hog") {
      const total = s.total_bytes ?? 0;
      const t = nowMs / 1000;
      return {
        ...s,
        free_bytes: 0,
        available_bytes: 0,
        anon_bytes: total,
        file_bytes: 0,
        active_anon_bytes: total,
        inactive_anon_bytes: 0,
        active_file_bytes: 0,
        inactive_file_bytes: 0,
        major_faults: (s.major_faults ?? 0) + Math.floor(5000 * t),
        swap_in_bytes: (s.swap_in_bytes ?? 0) + Math.floor(8 * 1024 * 1024 * t),
        psi_some_avg10: 60,
        psi_full_avg10: 40,
      };
    }
    if (this.lie === "garbage") {
      const total = s.total_bytes ?? 0;
      return {
        ...s,
        free_bytes: total * 2,
        available_bytes: total * 3,
        psi_some_avg10: 250,
        psi_full_avg10: 300,
        major_faults: Math.max(0, 1e9 - nowMs),
      };
    }
    return s;
  }

  /** Give every frame back (destroy): returns how many the host gets (what it backed). */
  teardown(): number {
    const n = this.hostRss();
    for (const p of this.procs) {
      p.pages = emptyAnon();
      p.alive = false;
    }
    for (const f of this.files) f.pages = emptyFile(0);
    return n;
  }
}
