/**
 * `ballast bench policies`: every policy on every scenario, same seed, same simulator,
 * in virtual time, through the same controller loop the daemon runs. Per policy and
 * scenario:
 * - hypervisor: the scenario host's kind (`xen` unless it says `kvm`);
 * - oom_kills: processes killed by guests' OOM killers;
 * - oom_kills_host_had_room: those kills at a moment the host had more memory free than
 *   the victim lacked (its workload's anonymous demand, kernel, struct pages, slab and
 *   min watermark, less what it held): kills a policy could have avoided;
 * - stall_s: PSI "full" stall time summed over guests, seconds;
 * - major_faults: refaults and swap-ins summed over guests;
 * - mean_host_free_bytes: host free memory, sampled every simulated second;
 * - admitted_vms: at the start of every simulated minute after the first, how many
 *   extra 1 GiB guests a squeezed-style reservation could start from free memory right
 *   then (floor(host free / 1 GiB)); the minimum over the run;
 * - boot_failures: domains the scenario starts that the host could not build;
 * - reaction_p50_s, reaction_p99_s: for every episode in which a guest is short (its PSI
 *   some avg10 above 0, or its free memory under its low watermark), the time from the
 *   episode's first tick to the tick its target rises. An episode the policy never
 *   answers counts with its length (it ended on its own, or the run did); episodes of a
 *   guest already at its max are left out (nothing to give). Null when there were none;
 * - density_vms: the most extra guests of the standard profile (`STANDARD_GUEST`: 2 GiB,
 *   1 GiB anonymous of which 512 MiB hot) that can be started at evenly spaced times
 *   through reservations the policy serves, such that the run ends with no OOM kill, no
 *   guest's PSI full above 1% of the run, and every start served within 60 s (a start
 *   still waiting when the scenario ends is waited for: the run goes on until it is
 *   served or has waited 60 s). Found by
 *   galloping (1, 2, 4, ...) then bisecting over the count; a run stops at its first
 *   failure.
 *
 * Domains that start later go through a squeezed-style reservation, as XenServer's
 * VM.start does: the start waits (its memory offered to the policy as reserved) until
 * the host has the memory free, for at most 60 s, then the build is tried.
 */
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { SimBackend, settingsFor } from "../backends/sim/backend.js";
import type { Policy } from "../policy/policy.js";
import { loadScenario, parseScenario, type Scenario } from "../sim/scenario.js";
import type { DomainSpec } from "../sim/host/domain_builder.js";
import { processWant } from "../sim/workload/shape.js";
import { World } from "../sim/world.js";
import { GiB, PAGE_SIZE } from "../units/index.js";
import { Controller, driveSim } from "./loop.js";

export const ADMISSION_WAIT_MS = 60_000;
/** A density run fails when any guest's PSI full total exceeds this share of the run. */
export const DENSITY_MAX_FULL_STALL = 0.01;

/** The guest `density_vms` counts, as a scenario's domain (start time filled in). */
export const STANDARD_GUEST = {
  memory: "2GiB",
  workload: { processes: [{ name: "app", anon: "1GiB", hot: "512MiB" }] },
};

export type Hypervisor = "xen" | "kvm";

export interface BenchRow {
  policy: string;
  scenario: string;
  hypervisor: Hypervisor;
  oom_kills: number;
  oom_kills_host_had_room: number;
  stall_s: number;
  major_faults: number;
  mean_host_free_bytes: number;
  admitted_vms: number;
  boot_failures: number;
  /** Guests that crashed: a kernel panic (OOM with nothing left to kill) or, on KVM, a
   * QEMU killed by the host's OOM killer because guests touched more than it had. */
  crashes: number;
  density_vms: number;
  reaction_p50_s: number | null;
  reaction_p99_s: number | null;
}

export type BenchTotal = Omit<BenchRow, "scenario"> & { scenario: "all" };

export interface BenchReport {
  schema: "ballast.bench.policies/v1";
  rows: BenchRow[];
  totals: BenchTotal[];
}

/** The scenario host's kind. */
export function hypervisorOf(s: Scenario): Hypervisor {
  return (s.host as { hypervisor?: Hypervisor }).hypervisor ?? "xen";
}

/** `scenario` with `count` standard guests starting at evenly spaced times. */
export function withStandardGuests(scenario: Scenario, count: number): Scenario {
  if (count <= 0) return scenario;
  const tick = scenario.tickMs;
  const domains = Array.from({ length: count }, (_, i) => {
    const at = Math.round((scenario.durationMs * (i + 1)) / (count + 1) / tick) * tick;
    return { name: `std${String(i + 1).padStart(3, "0")}`, ...STANDARD_GUEST, start: `${at}ms` };
  });
  const host = { memory: `${scenario.host.memoryBytes}B` } as Record<string, unknown>;
  const hv = hypervisorOf(scenario);
  if (hv !== "xen") host.hypervisor = hv;
  // Parsed as a scenario of its own, so the standard guest gets every default a
  // scenario's domain gets on this kind of host.
  const parsed = parseScenario(
    JSON.stringify({ duration: `${scenario.durationMs}ms`, tick: `${tick}ms`, host, domains }),
    "standard-guests",
    ".",
  );
  const taken = new Set(scenario.domains.map((d) => d.name));
  const extra = parsed.domains.map((d) => ({
    ...d,
    name: taken.has(d.name) ? `${d.name}-x` : d.name,
  }));
  return { ...scenario, domains: [...scenario.domains, ...extra] };
}

/** What one simulated run measured. */
export interface RunMeasure {
  oomKills: number;
  oomKillsWithRoom: number;
  stallUs: number;
  majorFaults: number;
  freeSum: number;
  freeSamples: number;
  minAdmit: number;
  bootFailures: number;
  crashes: number;
  /** Reaction times, seconds. */
  reactions: number[];
  /** Why the run fails the density criteria (null: it passes). */
  failure: string | null;
}

/** A run of ticks in which a guest is short; answered once its target rises. */
interface Episode {
  startMs: number;
  answered: boolean;
}

/**
 * What a guest lacked when its OOM killer ran: the anonymous memory its workload wanted
 * (the processes alive at the start of the tick), plus kernel, struct pages, slab and the
 * min watermark, less the memory it held.
 */
function lackedBytes(world: World, spec: DomainSpec, dom: World["domains"][0], dead: Set<string>) {
  const g = dom.guest!;
  let wantPages = g.kernel + g.memMap + g.slab + g.wm.min;
  for (const p of spec.workload.processes) {
    const proc = g.procs.find((x) => x.name === p.name);
    if (!proc || (!proc.alive && dead.has(p.name))) continue;
    const phases = spec.workload.phases.filter((ph) => ph.process === p.name);
    wantPages += Math.floor(
      processWant(p, phases, world.seed, world.nowMs, spec.name).anon / PAGE_SIZE,
    );
  }
  return Math.max(0, wantPages - g.actual()) * PAGE_SIZE;
}

/**
 * Run `policy` on `scenario` to the end (or to the first density failure, with
 * `stopOnFailure`), through the controller loop, measuring as it goes.
 */
export async function measureRun(
  policy: Policy<unknown>,
  scenario: Scenario,
  opts: { stopOnFailure?: boolean; onTick?: (nowMs: number) => void } = {},
): Promise<RunMeasure> {
  const world = new World(scenario);
  const m: RunMeasure = {
    oomKills: 0,
    oomKillsWithRoom: 0,
    stallUs: 0,
    majorFaults: 0,
    freeSum: 0,
    freeSamples: 0,
    minAdmit: Infinity,
    bootFailures: 0,
    crashes: 0,
    reactions: [],
    failure: null,
  };
  const fail = (why: string) => {
    m.failure ??= why;
  };
  world.admission = (spec, waitedMs) => {
    if (world.hv.freePages * PAGE_SIZE >= spec.memoryBytes) return true;
    if (waitedMs < ADMISSION_WAIT_MS) return false;
    fail(`${spec.name}: start not served within ${ADMISSION_WAIT_MS / 1000} s`);
    return true;
  };
  const backend = new SimBackend(world);
  const ctrl = new Controller({
    backend,
    policy,
    settings: settingsFor,
    reservedBytes: () => world.reservedBytes(),
  });
  const specs = new Map(scenario.domains.map((d) => [d.name, d]));
  const kills = new Map<string, number>();
  const dead = new Map<string, Set<string>>();
  const episodes = new Map<string, Episode | null>();
  const targets = new Map<string, number>();
  const crashed = new Set<string>();
  const maxStallUs = DENSITY_MAX_FULL_STALL * scenario.durationMs * 1000;
  const afterTick = () => {
    const now = world.nowMs;
    opts.onTick?.(now);
    const freeBytes = world.hv.freePages * PAGE_SIZE;
    if (now % 1000 === 0) {
      m.freeSum += freeBytes;
      m.freeSamples++;
    }
    if (now % 60_000 === 0 && now > 60_000)
      m.minAdmit = Math.min(m.minAdmit, Math.floor(freeBytes / GiB));
    for (const d of world.domains) {
      const g = d.guest;
      if (!g) continue;
      if (d.state === "crashed" && !crashed.has(d.name)) {
        crashed.add(d.name);
        m.crashes++;
        fail(`${d.name}: crashed (${d.crash?.reason ?? "unknown"})`);
      }
      // Kills in the tick a guest crashed count too (the last ones before its panic).
      if (d.state !== "running" && d.state !== "crashed") continue;
      const killed = g.oomKills - (kills.get(d.name) ?? 0);
      if (killed > 0) {
        kills.set(d.name, g.oomKills);
        const spec = specs.get(d.name);
        const gone = dead.get(d.name) ?? new Set<string>();
        if (spec && freeBytes > lackedBytes(world, spec, d, gone)) m.oomKillsWithRoom += killed;
        for (const p of g.procs) if (!p.alive) gone.add(p.name);
        dead.set(d.name, gone);
        fail(`${d.name}: OOM kill`);
      }
      if (d.state !== "running") continue;
      if (g.psi.fullTotalUs > maxStallUs) fail(`${d.name}: PSI full above 1% of the run`);
      // Reaction: from the first tick of a run of short ticks to the first tick in it
      // at which the target has risen.
      const short = g.free < g.wm.low || g.psi.some().avg10 > 0;
      const prevTarget = targets.get(d.name) ?? d.targetBytes;
      targets.set(d.name, d.targetBytes);
      const rose = d.targetBytes > prevTarget;
      const ep = episodes.get(d.name);
      if (short) {
        if (ep === undefined) {
          const spec = specs.get(d.name);
          const maxB = Math.min(spec?.settings?.maxBytes ?? d.maxmemBytes, d.maxmemBytes);
          // A guest already at its max has nothing to be given: no episode.
          episodes.set(d.name, prevTarget >= maxB ? null : { startMs: now, answered: false });
        }
        const e = episodes.get(d.name);
        if (e && !e.answered && rose) {
          // The rise seen now was set by the round one tick ago.
          m.reactions.push(Math.max(0, now - world.tickMs - e.startMs) / 1000);
          e.answered = true;
        }
      } else if (ep !== undefined) {
        if (ep && !ep.answered) m.reactions.push((now - ep.startMs) / 1000);
        episodes.delete(d.name);
      }
    }
    return !(opts.stopOnFailure && m.failure !== null);
  };
  let going = await driveSim(ctrl, backend, scenario.durationMs, afterTick);
  // Starts still waiting when the scenario ends: the run goes on (its guests' workloads
  // as the scenario has them) until each is served or has waited 60 s, so every start
  // is judged by the same rule, not by how close to the end it came.
  while (going && world.waitingStarts().length > 0)
    going = await driveSim(ctrl, backend, world.tickMs, afterTick);
  for (const ep of episodes.values())
    if (ep && !ep.answered) m.reactions.push((world.nowMs - ep.startMs) / 1000);
  for (const d of world.domains) {
    if (!d.guest) continue;
    m.oomKills += d.guest.oomKills;
    m.stallUs += d.guest.psi.fullTotalUs;
    m.majorFaults += d.guest.majorFaults;
  }
  m.bootFailures = world.domains.filter((d) => d.state === "boot-failed").length;
  if (m.freeSamples === 0) {
    m.freeSum = world.hv.freePages * PAGE_SIZE;
    m.freeSamples = 1;
  }
  if (m.minAdmit === Infinity) m.minAdmit = Math.floor((world.hv.freePages * PAGE_SIZE) / GiB);
  return m;
}

/**
 * The most standard guests `policy` can take on `scenario` (see density_vms above):
 * gallop 1, 2, 4, ... to the first failing count, then bisect. `base` is the run with
 * none added; a scenario the policy already fails takes none.
 */
export async function densityOf(
  policy: Policy<unknown>,
  scenario: Scenario,
  base: RunMeasure,
): Promise<number> {
  if (base.failure !== null) return 0;
  const passes = async (k: number) =>
    (await measureRun(policy, withStandardGuests(scenario, k), { stopOnFailure: true })).failure ===
    null;
  // No more than fit in host memory at a quarter of their size each.
  const cap = Math.floor(scenario.host.memoryBytes / (GiB / 2));
  let ok = 0;
  let bad = 1;
  while (bad <= cap && (await passes(bad))) {
    ok = bad;
    bad *= 2;
  }
  if (bad > cap) return ok;
  while (bad - ok > 1) {
    const mid = (ok + bad) >> 1;
    if (await passes(mid)) ok = mid;
    else bad = mid;
  }
  return ok;
}

function percentile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const v = s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return Math.round(v * 100) / 100;
}

/** One row: the base run's figures and the density search. */
export async function runPolicyOnScenario(
  policy: Policy<unknown>,
  scenario: Scenario,
  name: string,
  opts: { density?: boolean; onTick?: (nowMs: number) => void } = {},
): Promise<BenchRow & { reactions: number[]; freeSum: number; freeSamples: number }> {
  const m = await measureRun(policy, scenario, opts.onTick ? { onTick: opts.onTick } : {});
  const density = opts.density === false ? 0 : await densityOf(policy, scenario, m);
  return {
    policy: policy.name,
    scenario: name,
    hypervisor: hypervisorOf(scenario),
    oom_kills: m.oomKills,
    oom_kills_host_had_room: m.oomKillsWithRoom,
    stall_s: Math.round(m.stallUs / 1e4) / 100,
    major_faults: m.majorFaults,
    mean_host_free_bytes: Math.round(m.freeSum / m.freeSamples),
    admitted_vms: m.minAdmit,
    boot_failures: m.bootFailures,
    crashes: m.crashes,
    density_vms: density,
    reaction_p50_s: percentile(m.reactions, 0.5),
    reaction_p99_s: percentile(m.reactions, 0.99),
    reactions: m.reactions,
    freeSum: m.freeSum,
    freeSamples: m.freeSamples,
  };
}

export function scenarioFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Every policy on every scenario. Totals per policy and host kind: counts are summed
 * (kills, faults, VMs over the fleet of hosts); the mean host free memory is the mean
 * over every sampled host-second, not a sum of different hosts' means; reaction
 * percentiles are over all episodes.
 */
/** Progress of a bench: simulated ms done of `totalMs` (the base runs), and on what. */
export type BenchProgress = (doneMs: number, totalMs: number, detail: string) => void;

export async function benchPolicies(
  policies: Policy<unknown>[],
  files: string[],
  opts: {
    density?: boolean;
    transform?: (s: Scenario) => Scenario[];
    /** Simulated time of the base runs done so far, of `totalMs`, and on what. */
    onProgress?: BenchProgress;
  } = {},
): Promise<BenchReport> {
  const scenarios = files.flatMap((f) => {
    const name = basename(f).replace(/\.ya?ml$/, "");
    const s = loadScenario(f);
    return (opts.transform ? opts.transform(s) : [s]).map((scenario) => ({ name, scenario }));
  });
  const full: Awaited<ReturnType<typeof runPolicyOnScenario>>[] = [];
  const totalMs = scenarios.reduce((n, s) => n + s.scenario.durationMs, 0) * policies.length;
  let doneMs = 0;
  for (const s of scenarios)
    for (const p of policies) {
      const onProgress = opts.onProgress;
      const onTick =
        onProgress && ((t: number) => onProgress(doneMs + t, totalMs, `${s.name}: ${p.name}`));
      full.push(
        await runPolicyOnScenario(p, s.scenario, s.name, {
          ...(opts.density === undefined ? {} : { density: opts.density }),
          ...(onTick ? { onTick } : {}),
        }),
      );
      doneMs += s.scenario.durationMs;
    }
  const rows: BenchRow[] = full.map(
    ({ reactions: _r, freeSum: _f, freeSamples: _n, ...row }) => row,
  );
  const totals: BenchTotal[] = [];
  const kinds = [...new Set(full.map((r) => r.hypervisor))];
  for (const hv of kinds)
    for (const p of policies) {
      const mine = full.filter((r) => r.policy === p.name && r.hypervisor === hv);
      const sum = (k: keyof BenchRow) => mine.reduce((n, r) => n + (r[k] as number), 0);
      const reactions = mine.flatMap((r) => r.reactions);
      const samples = mine.reduce((n, r) => n + r.freeSamples, 0);
      totals.push({
        policy: p.name,
        scenario: "all",
        hypervisor: hv,
        oom_kills: sum("oom_kills"),
        oom_kills_host_had_room: sum("oom_kills_host_had_room"),
        stall_s: Math.round(sum("stall_s") * 100) / 100,
        major_faults: sum("major_faults"),
        mean_host_free_bytes: samples
          ? Math.round(mine.reduce((n, r) => n + r.freeSum, 0) / samples)
          : 0,
        admitted_vms: sum("admitted_vms"),
        boot_failures: sum("boot_failures"),
        crashes: sum("crashes"),
        density_vms: sum("density_vms"),
        reaction_p50_s: percentile(reactions, 0.5),
        reaction_p99_s: percentile(reactions, 0.99),
      });
    }
  return { schema: "ballast.bench.policies/v1", rows, totals };
}
