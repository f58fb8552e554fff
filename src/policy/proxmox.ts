/**
 * `proxmox`: Proxmox VE's auto-ballooning, as pve-manager implements it.
 *
 * Version followed: pve-manager at 14a22df3 (2026-08-21); PVE/AutoBalloon.pm last
 * changed in 42db4a6c (2025-11-18, comments only). Sources: PVE/Service/pvestatd.pm
 * (auto_ballooning) and PVE/AutoBalloon.pm (compute_alg1). Every 10 s (pvestatd's
 * $updatetime):
 * - goal = int(host total * ballooning-target (80%) / 100 - host used): bytes to hand
 *   out (>0) or claw back (<0); nothing happens within +-10 MiB;
 * - each VM's desired size is balloon_min + int(alloc / shares_total * shares) (shares
 *   default 1000), bounded by [balloon_min, maxmem], recomputed among the VMs not yet
 *   bounded until the goal is spent or no progress;
 * - a VM moves by at most maxchange = 100 MiB per round;
 * - growing serves VMs "with memory pressure" first (free memory <= 25% of
 *   balloon_min, or below balloon_min), shrinking serves VMs "with enough free memory"
 *   first;
 * - pvestatd sends int(result) bytes to QEMU's `balloon`, skipping a VM already there.
 * It reads no pressure signal besides free memory and does not know the guest's floor.
 * Proven by pve-manager's own test/balloontest.pl: its 19 cases, in every VM order,
 * are test/anchors/proxmox.test.ts.
 *
 * Mapping: balloon = actual, balloon_min = settings.min (0: not ballooned, as an unset
 * `balloon` in the VM config), maxmem = settings.max, shares = settings.weight (only
 * the ratio matters), freemem = the guest's reported free memory, host used = total -
 * free (PVE::ProcFSTools::read_meminfo: MemTotal - (MemFree + Buffers + Cached)).
 *
 * Still different, and why:
 * - VMs with `lock: migrate` are skipped by pvestatd; Ballast has no migration lock.
 * - pvestatd re-sends a target equal to the old one when the balloon has not got there
 *   yet (it compares with the current balloon only); Ballast skips a target equal to
 *   the current target too, since re-sending it changes nothing and would only fill the
 *   decision log.
 * - `ballooning-target` (node config) is fixed at its default, 80%.
 */
import type { Decision, GuestObservation } from "../model/observation.js";
import { formatSize, MiB } from "../units/index.js";
import type { Policy } from "./policy.js";

export const PROXMOX_TARGET_PCT = 80;
export const PROXMOX_MAXCHANGE = 100 * MiB;
const DEADBAND = 10 * MiB;

export interface AutoBalloonVm {
  name: string;
  balloon: number;
  min: number;
  max: number;
  shares: number;
  freemem: number;
}

/** compute_alg1's inner change loop: spread `bytes` over `ids`; returns what is left. */
function change(
  res: Map<string, number>,
  vms: AutoBalloonVm[],
  bytes: number,
  maxchange: number,
): number {
  let rest = bytes;
  let repeat = true;
  let progress = 1;
  const done = new Set<string>();
  while (rest !== 0 && repeat && progress > 0) {
    repeat = false;
    progress = 0;
    let sharesTotal = 0;
    let allocOld = 0;
    for (const d of vms) {
      if (done.has(d.name)) continue;
      const balloon = res.get(d.name) ?? d.balloon;
      allocOld += balloon - d.min;
      sharesTotal += d.shares;
    }
    let changes = 0;
    const allocNew = allocOld + rest;
    for (const d of vms) {
      if (done.has(d.name)) continue;
      // Perl int() truncates toward zero.
      let desired = d.min + Math.trunc((allocNew / sharesTotal) * d.shares);
      if (desired > d.max) {
        desired = d.max;
        repeat = true;
      } else if (desired < d.min) {
        desired = d.min;
        repeat = true;
      }
      let balloon: number;
      if (bytes > 0 && desired - d.balloon > 0) {
        balloon = Math.min(d.balloon + maxchange, desired);
      } else if (desired - d.balloon < 0) {
        balloon = Math.max(d.balloon - maxchange, desired);
      } else {
        done.add(d.name);
        continue;
      }
      const diff = balloon - d.balloon;
      if (diff !== 0) {
        const old = res.get(d.name) ?? d.balloon;
        res.set(d.name, balloon);
        const c = balloon - old;
        if (c !== 0) {
          changes += c;
          progress += Math.abs(diff);
          repeat = true;
        }
      }
    }
    rest -= changes;
  }
  return rest;
}

export function computeAlg1(
  vms: AutoBalloonVm[],
  goal: number,
  maxchange: number,
): Map<string, number> {
  const res = new Map<string, number>();
  const all = vms.filter((d) => d.balloon > 0 && d.min > 0 && d.shares > 0);
  const pressured = all.filter((d) => !(d.freemem > d.min * 0.25 && d.balloon >= d.min));
  const comfortable = all.filter((d) => d.freemem > d.min * 0.25 && d.balloon >= d.min);
  if (goal > DEADBAND) {
    const rest = change(res, pressured, goal, maxchange);
    if (rest >= goal) change(res, all, rest, maxchange);
  } else if (goal < -DEADBAND) {
    const rest = change(res, comfortable, goal, maxchange);
    if (rest <= goal) change(res, all, rest, maxchange);
  }
  return res;
}

export const proxmoxPolicy: Policy<null> = {
  name: "proxmox",
  summary:
    "Proxmox VE pvestatd auto-ballooning: keep the host at 80% used, shares split memory, 100 MiB per VM per 10 s",
  intervalMs: 10_000,
  initialState: () => null,
  decide(obs, state) {
    const used = obs.host.totalBytes - obs.host.freeBytes;
    // Perl int() truncates toward zero.
    const goal = Math.trunc((obs.host.totalBytes * PROXMOX_TARGET_PCT) / 100 - used);
    const vms: AutoBalloonVm[] = obs.guests
      .filter((g: GuestObservation) => g.balloonable)
      .map((g) => ({
        name: g.name,
        balloon: g.actualBytes,
        min: g.settings.minBytes,
        max: g.settings.maxBytes,
        shares: g.settings.weight,
        freemem: g.stats?.free_bytes ?? 0,
      }));
    const res = computeAlg1(vms, goal, PROXMOX_MAXCHANGE);
    const decisions: Decision[] = [];
    const byName = new Map(obs.guests.map((g) => [g.name, g]));
    for (const vm of vms) {
      const t = res.get(vm.name);
      if (t === undefined) continue;
      // pvestatd: `my $target = int($res->{$vmid}); next if $target == $current;`
      const target = Math.trunc(t);
      const g = byName.get(vm.name)!;
      if (target === g.actualBytes || target === g.targetBytes) continue;
      decisions.push({
        name: vm.name,
        targetBytes: target,
        reason: `host goal ${goal >= 0 ? "+" : ""}${formatSize(goal)} (keep host at ${PROXMOX_TARGET_PCT}% used), shares ${vm.shares}, free ${formatSize(vm.freemem)}`,
      });
    }
    return { decisions, state };
  },
};
