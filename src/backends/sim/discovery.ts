/**
 * The simulated host's domains as the Backend lists them: every domain the world has
 * built (running, boot-failed, crashed), with the settings its scenario gives, as the
 * QEMU backend's discovery reads a VM list's min/max.
 */
import type { SimDomain } from "../../sim/host/domain_builder.js";
import { heldPages, type World } from "../../sim/world.js";
import { PAGE_SIZE } from "../../units/index.js";
import type { BackendDomain } from "../backend.js";

export function simDomain(world: World, d: SimDomain): BackendDomain {
  const spec = world.scenario.domains.find((s) => s.name === d.name);
  const out: BackendDomain = {
    name: d.name,
    id: d.id,
    state: d.state,
    memoryBytes: d.memoryBytes,
    maxmemBytes: d.maxmemBytes,
    targetBytes: d.targetBytes,
    // As the toolstack shows it: QEMU's RAM size less the balloon on KVM.
    actualBytes: d.guest && !d.memoryReleased ? d.guest.shownActual() * PAGE_SIZE : 0,
    balloonable: d.state === "running",
    // What the host backs (KVM: touched memory; Xen: actual), as the QEMU backend reports
    // its process's RSS.
    hostRssBytes: heldPages(d) * PAGE_SIZE,
  };
  if (spec?.settings) out.configured = spec.settings;
  return out;
}
