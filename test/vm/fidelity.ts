/**
 * The fidelity kit: one real QEMU guest and the simulator's twin of it, driven through
 * the same sequence, and a table of what each side measured.
 *
 * Real side: bootGuest() (1 GiB, no swap, virtio-balloon, TCG), QMP for the balloon and
 * QEMU's view of it, the guest RAM mapping's RSS from /proc/PID/smaps (QEMU's RSS less its
 * own code and buffers), the control port for /proc inside the guest, and the console
 * (the kernel's OOM kills and panic, with the kernel's own timestamps).
 * Sim side: a `hypervisor: kvm` scenario run in the simulator with a sample every tick.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { QmpClient } from "../../src/backends/qemu/qmp.js";
import { queryBalloon } from "../../src/backends/qemu/schemas.js";
import { buildReport, type Report } from "../../src/sim/report.js";
import { parseScenario } from "../../src/sim/scenario.js";
import { World } from "../../src/sim/world.js";
import { MiB } from "../../src/units/index.js";
import { bootGuest, type GuestOptions, type TestGuest } from "./qemu.js";
import { sleep } from "../wait.js";

/** A kernel log line that matters here, at the guest kernel's own time. */
export interface KernelEvent {
  t: number;
  kind: "oom-kill" | "panic";
  what: string;
}

export class RealVm {
  private constructor(
    readonly g: TestGuest,
    readonly qmp: QmpClient,
    readonly memoryMiB: number,
  ) {}

  static async boot(o: Omit<GuestOptions, "memoryMiB"> & { memoryMiB?: number }) {
    const memoryMiB = o.memoryMiB ?? 1024;
    // A stock guest (no agent) whose init forks every second, as the simulator's does.
    const g = await bootGuest({
      agent: false,
      ...o,
      memoryMiB,
      append: `ballast.init_tick=1${o.append ? ` ${o.append}` : ""}`,
    });
    const qmp = new QmpClient(g.qmp);
    await qmp.connect();
    return new RealVm(g, qmp, memoryMiB);
  }

  get alive(): boolean {
    return this.g.proc.exitCode === null && this.g.proc.signalCode === null;
  }

  async balloon(mib: number): Promise<void> {
    await this.qmp.execute("balloon", { value: mib * MiB }, z.object({}).passthrough());
  }

  /** QMP's actual (RAM size less the balloon), MiB. */
  async actualMiB(): Promise<number> {
    return (await this.qmp.execute("query-balloon", {}, queryBalloon)).actual / MiB;
  }

  /** RSS of QEMU's mapping of guest RAM, MiB (null once QEMU is gone). */
  rssMiB(): number | null {
    let text: string;
    try {
      text = readFileSync(`/proc/${this.g.proc.pid}/smaps`, "utf8");
    } catch {
      return null;
    }
    let size = 0;
    let rssKb: number | null = null;
    for (const line of text.split("\n")) {
      let m = /^Size:\s+(\d+) kB/.exec(line);
      if (m) {
        size = Number(m[1]);
        continue;
      }
      m = /^Rss:\s+(\d+) kB/.exec(line);
      if (m && size === this.memoryMiB * 1024) rssKb = (rssKb ?? 0) + Number(m[1]);
    }
    return rssKb === null ? null : rssKb / 1024;
  }

  /** /proc/meminfo, MiB per field. */
  async meminfo(): Promise<Record<string, number>> {
    const r = await this.g.ctl("meminfo");
    const out: Record<string, number> = {};
    for (const part of r.slice(3).split(";")) {
      const m = /^(\S+): (\d+) kB/.exec(part.trim());
      if (m) out[m[1]!] = Number(m[2]) / 1024;
    }
    return out;
  }

  async read(path: string): Promise<string> {
    const r = await this.g.ctl(`read ${path}`);
    assert.match(r, /^ok /, r);
    return r.slice(3);
  }

  /** The guest kernel's uptime, seconds (the clock of its log). */
  async uptime(): Promise<number> {
    return Number((await this.read("/proc/uptime")).split(" ")[0]);
  }

  /** PSI memory: `some` and `full` stall totals, microseconds. */
  async psiTotals(): Promise<{ some: number; full: number; avg10: number }> {
    const t = await this.read("/proc/pressure/memory");
    const m = /some avg10=([\d.]+) .*total=(\d+);full .*total=(\d+)/.exec(t);
    assert.ok(m, t);
    return { avg10: Number(m[1]), some: Number(m[2]), full: Number(m[3]) };
  }

  /** OOM kills and the panic, from the console (printed whatever the log level). */
  kernelEvents(): KernelEvent[] {
    const out: KernelEvent[] = [];
    for (const line of this.g.log().split(/\r?\n/)) {
      let m = /^\[\s*([\d.]+)\] Out of memory: Killed process \d+ \(([^)]+)\)/.exec(line);
      if (m) out.push({ t: Number(m[1]), kind: "oom-kill", what: m[2]! });
      m = /^\[\s*([\d.]+)\] Kernel panic - not syncing: (.*)$/.exec(line);
      if (m) out.push({ t: Number(m[1]), kind: "panic", what: m[2]!.trim() });
    }
    return out;
  }

  /**
   * Poll QMP's actual every 50 ms from `t0` (Date.now()) until `done` or QEMU is gone;
   * returns the points (seconds after t0, MiB).
   */
  async track(
    done: (actualMiB: number) => boolean,
    t0: number,
    timeoutMs = 90_000,
  ): Promise<{ dt: number; actual: number }[]> {
    const out: { dt: number; actual: number }[] = [];
    while (this.alive && Date.now() - t0 < timeoutMs) {
      let a: number;
      try {
        a = await this.actualMiB();
      } catch {
        break;
      }
      out.push({ dt: (Date.now() - t0) / 1000, actual: a });
      if (done(a)) break;
      await sleep(50);
    }
    return out;
  }

  close(): void {
    this.qmp.close();
    this.g.kill();
  }
}

/**
 * The balloon's speed over the first `mib` of a move (MiB/s): TCG's speed is the host's,
 * and varies with its load, so the simulated twin runs at the rate the real driver had
 * at the start of the same move, before memory ran short.
 */
export function rateOver(points: { dt: number; actual: number }[], mib: number): number {
  const from = points[0]!.actual;
  const p = points.find((x) => Math.abs(from - x.actual) >= mib);
  assert.ok(p, `the balloon never moved ${mib} MiB`);
  return Math.abs(from - p.actual) / p.dt;
}

/**
 * The balloon's speed while it moved (MiB/s): distance over the time between samples in
 * which it moved (waits at the floor left out). TCG's speed is the host's and swings with
 * its load; the simulated twin runs at the rate the real driver had in the same move, so
 * that what is compared is where it stops, how long it waits there, and what happens.
 */
export function movingRate(points: { dt: number; actual: number }[]): number {
  let dist = 0;
  let time = 0;
  for (let i = 1; i < points.length; i++) {
    const d = Math.abs(points[i]!.actual - points[i - 1]!.actual);
    if (d > 0.5) {
      dist += d;
      time += points[i]!.dt - points[i - 1]!.dt;
    }
  }
  assert.ok(time > 0, "the balloon never moved");
  return dist / time;
}

/** Seconds until the points first satisfy `f` (null: never). */
export function timeWhen(
  points: { dt: number; actual: number }[],
  f: (actualMiB: number) => boolean,
): number | null {
  return points.find((x) => f(x.actual))?.dt ?? null;
}

/** Run a simulated scenario (YAML) to its end; samples every tick. */
export function simulate(yaml: string): Report {
  const world = new World(parseScenario(yaml, "fidelity.yaml", process.cwd()));
  world.samplesMs = world.tickMs;
  world.runToEnd();
  return buildReport(world);
}

/** A 1 GiB KVM guest's scenario with the given rates, workload and events. */
export function kvmScenario(o: {
  duration: string;
  inflateMiBps: number;
  deflateMiBps: number;
  deflateOnOom?: boolean;
  freePageReporting?: boolean;
  processes?: string;
  phases?: string;
  events: string[];
}): string {
  const rate = (mibps: number) => `${Math.max(4, Math.round(mibps * 1024))}KiB/s`;
  return [
    `duration: ${o.duration}`,
    "host: { hypervisor: kvm, memory: 8GiB }",
    "domains:",
    "  - name: vm",
    "    memory: 1GiB",
    `    deflate_on_oom: ${o.deflateOnOom ?? false}`,
    `    free_page_reporting: ${o.freePageReporting ?? false}`,
    `    inflate_rate: ${rate(o.inflateMiBps)}`,
    `    deflate_rate: ${rate(o.deflateMiBps)}`,
    "    workload:",
    `      processes: [${o.processes ?? ""}]`,
    `      phases: [${o.phases ?? ""}]`,
    o.events.length ? "events:" : "events: []",
    ...o.events.map((e) => `  - ${e}`),
  ].join("\n");
}

/** The simulated domain's series: seconds -> sample. */
export function series(r: Report, name = "vm") {
  return (r.samples ?? []).map((s) => ({ t: s.t_s, ...s.domains[name]! }));
}

/** First time (s) a series point satisfies `f`, or null. */
export function firstTime<T extends { t: number }>(xs: T[], f: (x: T) => boolean): number | null {
  return xs.find(f)?.t ?? null;
}

export interface Row {
  case: string;
  quantity: string;
  real: number | string;
  sim: number | string;
  ok: boolean;
}

/** Both sides of every comparison, printed as a table at the end. */
export class FidelityTable {
  readonly rows: Row[] = [];

  /**
   * Agreement within `tol` (10%) of the real figure (or `absTol` for figures near 0);
   * records the row and asserts.
   */
  near(c: string, quantity: string, real: number, sim: number, tol = 0.1, absTol = 0): void {
    const ok = Math.abs(sim - real) <= Math.max(tol * Math.abs(real), absTol);
    this.rows.push({ case: c, quantity, real: round(real), sim: round(sim), ok });
    assert.ok(
      ok,
      `${c}: ${quantity}: simulated ${round(sim)} vs real ${round(real)} (more than ${tol * 100}% apart)`,
    );
  }

  same(c: string, quantity: string, real: string, sim: string): void {
    const ok = real === sim;
    this.rows.push({ case: c, quantity, real, sim, ok });
    assert.equal(sim, real, `${c}: ${quantity}: simulated "${sim}" vs real "${real}"`);
  }

  /** A figure recorded for the table without a comparison (e.g. the measured rates). */
  note(c: string, quantity: string, real: number | string, sim: number | string): void {
    this.rows.push({
      case: c,
      quantity,
      real: typeof real === "number" ? round(real) : real,
      sim: typeof sim === "number" ? round(sim) : sim,
      ok: true,
    });
  }

  format(): string {
    const head = ["case", "quantity", "real", "simulated", ""];
    const body = this.rows.map((r) => [
      r.case,
      r.quantity,
      String(r.real),
      String(r.sim),
      r.ok ? "ok" : "FAIL",
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(w[i]!))
        .join("  ")
        .trimEnd();
    return [line(head), ...body.map(line)].join("\n");
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
