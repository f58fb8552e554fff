/**
 * `ballast bench policies`: every policy on every scenario, same seed, same simulator,
 * in virtual time. Per policy and scenario:
 * - oom_kills: processes killed by guests' OOM killers;
 * - stall_s: PSI "full" stall time summed over guests, seconds;
 * - major_faults: refaults and swap-ins summed over guests;
 * - mean_host_free_bytes: host free memory, sampled every simulated second;
 * - admitted_vms: at the start of every simulated minute after the first, how many
 *   extra 1 GiB guests a squeezed-style reservation could start from free memory right
 *   then (floor(host free / 1 GiB)); the minimum over the run, i.e. what an operator
 *   could count on at any time;
 * - boot_failures: domains the scenario starts that the host could not build.
 *
 * Domains that start later go through a squeezed-style reservation, as XenServer's
 * VM.start does: the start waits (its memory offered to the policy as reserved) until
 * the host has the memory free, for at most 60 s, then the build is tried.
 */
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { SimBackend, settingsFor } from "../backends/sim.js";
import type { Policy } from "../policy/policy.js";
import { loadScenario, type Scenario } from "../sim/scenario.js";
import { World } from "../sim/world.js";
import { GiB, PAGE_SIZE } from "../units/index.js";

export const ADMISSION_WAIT_MS = 60_000;

export interface BenchRow {
  policy: string;
  scenario: string;
  oom_kills: number;
  stall_s: number;
  major_faults: number;
  mean_host_free_bytes: number;
  admitted_vms: number;
  boot_failures: number;
}

export function runPolicyOnScenario(
  policy: Policy<unknown>,
  scenario: Scenario,
  name: string,
): BenchRow {
  const world = new World(scenario);
  world.admission = (spec, waitedMs) =>
    world.hv.freePages * PAGE_SIZE >= spec.memoryBytes || waitedMs >= ADMISSION_WAIT_MS;
  const backend = new SimBackend(world);
  let state = policy.initialState();
  let nextDecision = 0;
  let freeSum = 0;
  let freeSamples = 0;
  let minAdmit = Infinity;
  while (world.nowMs < scenario.durationMs) {
    if (world.nowMs >= nextDecision) {
      const obs = backend.observe(settingsFor, world.reservedBytes());
      const r = policy.decide(obs, state);
      state = r.state;
      for (const d of r.decisions) backend.setTargetSync(d.name, d.targetBytes, { force: true });
      nextDecision += policy.intervalMs;
    }
    world.step();
    if (world.nowMs % 1000 === 0) {
      freeSum += world.hv.freePages * PAGE_SIZE;
      freeSamples++;
    }
    if (world.nowMs % 60_000 === 0 && world.nowMs > 60_000) {
      minAdmit = Math.min(minAdmit, Math.floor((world.hv.freePages * PAGE_SIZE) / GiB));
    }
  }
  let oom = 0;
  let stallUs = 0;
  let faults = 0;
  for (const d of world.domains) {
    if (!d.guest) continue;
    oom += d.guest.oomKills;
    stallUs += d.guest.psi.fullTotalUs;
    faults += d.guest.majorFaults;
  }
  return {
    policy: policy.name,
    scenario: name,
    oom_kills: oom,
    stall_s: Math.round(stallUs / 1e4) / 100,
    major_faults: faults,
    mean_host_free_bytes: freeSamples
      ? Math.round(freeSum / freeSamples)
      : world.hv.freePages * PAGE_SIZE,
    admitted_vms:
      minAdmit === Infinity ? Math.floor((world.hv.freePages * PAGE_SIZE) / GiB) : minAdmit,
    boot_failures: world.domains.filter((d) => d.state === "boot-failed").length,
  };
}

export function scenarioFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => join(dir, f));
}

export interface BenchReport {
  schema: "ballast.bench.policies/v1";
  rows: BenchRow[];
  totals: Array<Omit<BenchRow, "scenario"> & { scenario: "all" }>;
}

export function benchPolicies(policies: Policy<unknown>[], files: string[]): BenchReport {
  const scenarios = files.map((f) => ({
    name: basename(f).replace(/\.ya?ml$/, ""),
    scenario: loadScenario(f),
  }));
  const rows: BenchRow[] = [];
  for (const s of scenarios)
    for (const p of policies) rows.push(runPolicyOnScenario(p, s.scenario, s.name));
  const totals = policies.map((p) => {
    const mine = rows.filter((r) => r.policy === p.name);
    const sum = (k: keyof BenchRow) => mine.reduce((n, r) => n + (r[k] as number), 0);
    return {
      policy: p.name,
      scenario: "all" as const,
      oom_kills: sum("oom_kills"),
      stall_s: Math.round(sum("stall_s") * 100) / 100,
      major_faults: sum("major_faults"),
      mean_host_free_bytes: sum("mean_host_free_bytes"),
      admitted_vms: sum("admitted_vms"),
      boot_failures: sum("boot_failures"),
    };
  });
  return { schema: "ballast.bench.policies/v1", rows, totals };
}
