/**
 * A booted guest: its page frames, its workload's memory, reclaim, the OOM killer,
 * PSI, and its balloon driver, advanced one tick at a time.
 *
 * Invariant (tested after every tick): every RAM frame the guest's E820 describes
 * (plus any extra region its kernel added) is in exactly one state:
 *   kernel + mem_map + slab + free + anon resident + file resident
 *   + balloon + released-hole + truncated == ramFrames
 * and actual (frames the host backs) is the first six of those.
 */
import type { Arch } from "../../model/domain.js";
import type { GuestStats } from "../../model/stats.js";
import { type Watermarks, watermarks } from "../../model/watermarks.js";
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import {
  fileWant,
  processWant,
  traceFileWant,
  traceProcessWant,
  type Want,
} from "../workload/shape.js";
import type { PhaseSpec, ProcessSpec, WorkloadSpec } from "../workload/spec.js";
import { BalloonDriver, OOM_DEFLATE_PAGES } from "./balloon.js";
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

/**
 * How a guest may lie in what it reports: `hog` claims plausibly to be starving (no
 * free memory, everything active, high PSI, a fault storm) whatever it has; `garbage`
 * reports numbers that cannot be true (free above total, PSI above 100, counters going
 * backwards).
 */
export type StatsLie = "hog" | "garbage";

export interface GuestConfig {
  name: string;
  arch: Arch;
  swapBytes: number;
  deflateOnOom: boolean;
  balloonRateBytesPerS: number;
  workload: WorkloadSpec;
  seed: number;
  lie?: StatsLie | null;
}

interface Proc {
  name: string;
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

export class Guest {
  readonly name: string;
  readonly arch: Arch;
  readonly ramFrames: number;
  readonly kernel: number;
  readonly memMap: number;
  readonly slab: number;
  readonly truncated: number;
  readonly lowmemFrames: number | null;
  readonly swapTotal: number;
  readonly deflateOnOom: boolean;
  readonly wm: Watermarks;
  readonly driver: BalloonDriver;
  readonly psi = new Psi();
  private readonly seed: number;
  private readonly trace: WorkloadSpec["trace"];
  readonly lie: StatsLie | null;

  free: number;
  balloon: number;
  releasedHole: number;
  readonly procs: Proc[] = [];
  readonly files: CachedFile[] = [];

  majorFaults = 0;
  minorFaults = 0;
  swapInPages = 0;
  swapOutPages = 0;
  oomKills = 0;

  // Per-tick budgets and tallies.
  private swapOutBudget = 0;
  private swapInBudget = 0;
  private oomDeflatedThisTick = 0;
  /** OOM deflation episode: pages given back and when it started (-1: none). */
  private oomEpisodePages = 0;
  private oomEpisodeStartMs = -1;
  private tickUs = 0;
  private emit: Emit = () => {};

  constructor(cfg: GuestConfig, layout: BootLayout) {
    this.name = cfg.name;
    this.arch = cfg.arch;
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
    this.swapTotal = pages(cfg.swapBytes);
    this.deflateOnOom = cfg.deflateOnOom;
    // Watermarks are set at boot from the managed pages (setup_per_zone_wmarks() is not
    // rerun when a balloon changes managed pages).
    this.wm = watermarks(this.managed());
    this.driver = new BalloonDriver(this.actual(), pages(cfg.balloonRateBytesPerS));
    this.trace = cfg.workload.trace;
    this.lie = cfg.lie ?? null;
    const phases = cfg.workload.phases;
    for (const p of cfg.workload.processes) {
      this.procs.push({
        name: p.name,
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

  /** Frames the host backs: the domain's actual memory. */
  actual(): number {
    return (
      this.kernel + this.memMap + this.slab + this.free + this.anonResident() + this.fileResident()
    );
  }

  /** MemTotal: pages under the page allocator (actual less kernel image and mem_map). */
  managed(): number {
    return this.actual() - this.kernel - this.memMap;
  }

  /** Pages on the balloon's list (ballooned out, including released-hole credit). */
  balloonList(): number {
    return this.balloon + this.releasedHole;
  }

  /** The most actual memory the guest can ever hold (its RAM frames it took on). */
  capacity(): number {
    return this.ramFrames - this.truncated;
  }

  /** Sum of every frame state; equals ramFrames when the invariant holds. */
  accountedFrames(): number {
    return this.actual() + this.balloon + this.releasedHole + this.truncated;
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
    this.emit = emit;
    const frac = dtMs / 1000;
    this.tickUs = dtMs * 1000;
    this.swapOutBudget = Math.ceil(SWAP_IO_PAGES_PER_S * frac);
    this.swapInBudget = Math.ceil(SWAP_IO_PAGES_PER_S * frac);
    this.oomDeflatedThisTick = 0;
    for (const p of this.procs) {
      p.stallUs = 0;
      p.busy = false;
    }
    for (const f of this.files) {
      f.stallUs = 0;
      f.busy = false;
    }

    this.runWorkload(nowMs, frac, host);
    for (const p of this.procs) if (p.alive) promoteHot(p.pages, frac);
    for (const f of this.files) promoteHot(f.pages, frac);
    this.kswapd(frac);
    this.runBalloon(nowMs, dtMs, host);
    this.recordPressure(dtMs);

    this.reportOomDeflation(nowMs, dtMs);
  }

  /** One event when an OOM-deflation episode starts, one with the total when it ends. */
  private reportOomDeflation(nowMs: number, dtMs: number): void {
    const n = this.oomDeflatedThisTick;
    if (n > 0 && this.oomEpisodeStartMs < 0) {
      this.oomEpisodeStartMs = nowMs;
      this.emit(
        "balloon-deflated-on-oom",
        `${this.name}: out of memory: the OOM notifier is taking pages back from the balloon ` +
          `(${OOM_DEFLATE_PAGES} per notification) instead of killing a process`,
      );
    }
    this.oomEpisodePages += n;
    if (n === 0 && this.oomEpisodeStartMs >= 0) {
      const took = formatSize(this.oomEpisodePages * PAGE_SIZE);
      const span = ((nowMs + dtMs - this.oomEpisodeStartMs) / 1000).toFixed(1);
      this.emit(
        "balloon-deflated-on-oom",
        `${this.name}: the OOM notifier took ${took} back from the balloon over ${span}s; ` +
          `no process was killed; the balloon holds until a new target is set`,
      );
      this.oomEpisodeStartMs = -1;
      this.oomEpisodePages = 0;
    }
  }

  private runWorkload(nowMs: number, frac: number, host: FramePool): void {
    const allocBudget = Math.ceil(ALLOC_PAGES_PER_S * frac);
    for (const p of this.procs) {
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
      this.free += fromInactive + fromActive;
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
        this.free += t;
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
    return { freed: r.freed, costUs: r.clean * RECLAIM_CLEAN_US + r.swappedOut * SWAP_OUT_US };
  }

  /**
   * Allocate `n` pages for a workload task: free pages down to the min watermark, then
   * direct reclaim (stalling the task), then the OOM path. Returns pages obtained
   * (fewer if the task itself was OOM-killed).
   */
  private alloc(n: number, who: Proc | CachedFile, host: FramePool): number {
    let got = 0;
    for (let guard = 0; guard < 10_000 && got < n; guard++) {
      const avail = Math.max(0, this.free - this.wm.min);
      const k = Math.min(n - got, avail);
      this.free -= k;
      got += k;
      if (got >= n) break;
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
      // Out of memory. virtio-balloon's OOM notifier runs before the killer.
      if (this.deflateOnOom && this.balloonList() > 0) {
        const give = host.claim(Math.min(OOM_DEFLATE_PAGES, this.balloonList()));
        if (give > 0) {
          this.deflateFromList(give);
          this.free += give;
          this.oomDeflatedThisTick += give;
          this.driver.heldByOom = true;
          continue;
        }
      }
      const victim = this.oomVictim();
      if (!victim) break;
      this.kill(victim);
      if (victim === who) {
        // The task died mid-allocation: what it had gathered goes back to the free list.
        this.free += got;
        return 0;
      }
    }
    return got;
  }

  private swapThrottled(): boolean {
    return this.swapOutBudget <= 0 && this.swapUsed() < this.swapTotal && this.anonResident() > 0;
  }

  /** The process with the most memory (rss + swap), as oom_badness() ranks them. */
  private oomVictim(): Proc | null {
    let best: Proc | null = null;
    let bestScore = 0;
    for (const p of this.procs) {
      if (!p.alive) continue;
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
    this.free += rss;
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

  // ---- balloon ------------------------------------------------------------------------

  private deflateFromList(n: number): void {
    let k = n;
    k -= take(this, "balloon", k);
    take(this, "releasedHole", k);
  }

  /** Pages the balloon can take without harm: free above min, then clean cold cache. */
  private balloonGrab(n: number): number {
    let avail = Math.max(0, this.free - this.wm.min);
    if (avail < n) {
      this.doReclaim(n - avail, "balloon");
      avail = Math.max(0, this.free - this.wm.min);
    }
    const k = Math.min(n, avail);
    this.free -= k;
    return k;
  }

  private runBalloon(nowMs: number, dtMs: number, host: FramePool): void {
    const d = this.driver;
    if (d.heldByOom || nowMs < d.sleepUntilMs) return;
    const cur = this.actual();
    const goal = Math.min(d.targetPages, this.capacity());
    if (cur === goal) {
      if (!d.reachedReported) {
        d.reachedReported = true;
        d.stalled = null;
        const capped =
          goal < d.targetPages
            ? ` (target ${formatSize(d.targetPages * PAGE_SIZE)} is beyond the RAM it took on at boot)`
            : "";
        this.emit(
          "balloon-reached-target",
          `${this.name}: balloon reached ${formatSize(cur * PAGE_SIZE)}${capped}`,
        );
      }
      return;
    }
    const budget = d.budget(dtMs);
    if (cur > goal) {
      const n = Math.min(cur - goal, budget);
      const got = this.balloonGrab(n);
      this.balloon += got;
      host.release(got);
      if (got < n) this.stall("inflate", nowMs, goal);
      else d.progressed();
    } else {
      const n = Math.min(goal - cur, budget, this.balloonList());
      const got = host.claim(n);
      this.deflateFromList(got);
      this.free += got;
      if (got < n) this.stall("deflate", nowMs, goal);
      else d.progressed();
    }
  }

  private stall(kind: "inflate" | "deflate", nowMs: number, goal: number): void {
    const d = this.driver;
    const delay = d.backOff(nowMs);
    if (d.stalled === kind) return;
    d.stalled = kind;
    const cur = this.actual();
    const gap = formatSize(Math.abs(cur - goal) * PAGE_SIZE);
    if (kind === "inflate") {
      this.emit(
        "balloon-stalled",
        `${this.name}: balloon stalled at ${formatSize(cur * PAGE_SIZE)}, ${gap} above target ` +
          `${formatSize(goal * PAGE_SIZE)}: nothing left it can take without swapping hot pages ` +
          `or OOM; retrying in ${delay}s`,
      );
    } else {
      this.emit(
        "deflate-stalled",
        `${this.name}: balloon cannot deflate: the host has no free memory; at ` +
          `${formatSize(cur * PAGE_SIZE)}, ${gap} below target ${formatSize(goal * PAGE_SIZE)}; retrying in ${delay}s`,
      );
    }
  }

  // ---- pressure and stats -------------------------------------------------------------

  private recordPressure(dtMs: number): void {
    let some = 0;
    let full = Infinity;
    let anyBusy = false;
    const consider = (stallUs: number, busy: boolean) => {
      if (!busy) return;
      anyBusy = true;
      some = Math.max(some, stallUs);
      full = Math.min(full, stallUs);
    };
    for (const p of this.procs) if (p.alive) consider(p.stallUs, p.busy);
    for (const f of this.files) consider(f.stallUs, f.busy);
    // Stalls of concurrent tasks overlap (they hit reclaim together when memory runs
    // short): `some` is at least the longest stall, `full` at most the shortest.
    this.psi.record(dtMs, some, anyBusy ? full : 0);
  }

  /**
   * MemAvailable as si_mem_available() estimates it: free pages above the reserve
   * (high watermark), plus the page cache less the part reclaim would not reach.
   */
  available(): number {
    const cache = this.fileResident();
    const fromCache = cache - Math.min(Math.floor(cache / 2), this.wm.low);
    return Math.max(0, this.free - this.wm.high + fromCache);
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

  /** Give every frame back (destroy): returns how many the host gets. */
  teardown(): number {
    const n = this.actual();
    for (const p of this.procs) {
      p.pages = emptyAnon();
      p.alive = false;
    }
    for (const f of this.files) f.pages = emptyFile(0);
    return n;
  }
}
