/**
 * A simulated guest's statistics as it reports them: what virtio-balloon's stats queue
 * and the guest's /proc would give (src/sim/guest/guest.ts), lies included for guests a
 * scenario makes lie. Null for a domain with no guest (it never booted).
 */
import { findDomain } from "../../model/domain.js";
import type { GuestStats } from "../../model/stats.js";
import type { World } from "../../sim/world.js";

export function simStats(world: World, ref: string): GuestStats | null {
  const d = findDomain(world.domains, ref);
  return d?.guest ? d.guest.reportedStats(world.nowMs) : null;
}
