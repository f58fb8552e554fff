/**
 * `proxmox`: Proxmox VE's auto-ballooning, as pve-manager implements it.
 *
 * Source: PVE/Service/pvestatd.pm (auto_balloning) and PVE/AutoBalloon.pm
 * (compute_alg1). Every 10 s (pvestatd's update interval):
 * - goal = host total * ballooning-target (80%) - host used: bytes to hand out (>0) or
 *   claw back (<0); nothing happens within +-10 MiB;
 * - each VM's desired size is balloon_min + (alloc / shares_total) * shares (shares
 *   default 1000), bounded by [balloon_min, maxmem], recomputed among the VMs not yet
 *   bounded until the goal is spent or no progress;
 * - a VM moves by at most maxchange = 100 MiB per round;
 * - growing serves VMs "with memory pressure" first (free memory <= 25% of
 *   balloon_min), shrinking serves VMs "with enough free memory" first.
 * It reads no pressure signal besides free memory and does not know the guest's floor.
 *
 * Mapping: balloon = actual, balloon_min = settings.min, maxmem = settings.max,
 * shares = settings.weight, freemem = the guest's reported free memory.
 */
import type { Decision, GuestObservation } from "../model/observation.js";
import { formatSize, MiB } from "../units/index.js";
import { mibFloor, type Policy } from "./policy.js";

export const PROXMOX_TARGET_PCT = 80;
export const PROXMOX_MAXCHANGE = 100 * MiB;
const DEADBAND = 10 * MiB;

interface Vm {
  name: string;
  balloon: number;
  min: number;
  max: number;
  shares: number;
  freemem: number;
}

/** compute_alg1's inner change loop: spread `bytes` over `ids`; returns what is left. */
function change(res: Map<string, number>, vms: Vm[], bytes: number, maxchange: number): number {
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

export function computeAlg1(vms: Vm[], goal: number, maxchange: number): Map<string, number> {
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
    const goal = Math.floor((obs.host.totalBytes * PROXMOX_TARGET_PCT) / 100 - used);
    const vms: Vm[] = obs.guests
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
      const target = mibFloor(t);
      const g = byName.get(vm.name)!;
      if (target === g.targetBytes) continue;
      decisions.push({
        name: vm.name,
        targetBytes: target,
        reason: `host goal ${goal >= 0 ? "+" : ""}${formatSize(goal)} (keep host at ${PROXMOX_TARGET_PCT}% used), shares ${vm.shares}, free ${formatSize(vm.freemem)}`,
      });
    }
    return { decisions, state };
  },
};
