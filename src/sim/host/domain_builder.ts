/**
 * The domain builder: lays out a guest's E820, asks the hypervisor for its `memory`,
 * and boots it. As xl/libxl does, a domain whose memory the host cannot supply is not
 * created (xl create fails with "failed to allocate memory"); nothing is taken then.
 */
import type { Arch, BootError, DomainState } from "../../model/domain.js";
import type { GuestSettings } from "../../model/settings.js";
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import { type BootLayout, bootGuest, type Placement } from "../guest/boot.js";
import { parseCmdline } from "../guest/cmdline.js";
import { defaultGuestE820, type E820Entry, guestE820AroundHole } from "../guest/e820.js";
import type { StatsLie } from "../guest/guest.js";
import { Guest } from "../guest/guest.js";
import type { WorkloadSpec } from "../workload/spec.js";
import type { Hypervisor } from "./hypervisor.js";

/** A domain as the scenario declares it, sizes resolved to bytes. */
export interface DomainSpec {
  name: string;
  memoryBytes: number;
  maxmemBytes: number;
  arch: Arch;
  cmdline: string;
  e820: E820Entry[] | null;
  pciHole: { start: number; end: number } | null;
  swapBytes: number;
  deflateOnOom: boolean;
  balloonRateBytesPerS: number;
  workload: WorkloadSpec;
  /** dom0: populated like a PV guest over the host's E820. */
  isDom0?: boolean;
  /** Daemon settings the scenario gives (min, max, weight, buffer). */
  settings?: Partial<GuestSettings>;
  /** Virtual time at which the domain is created (0: at the start). */
  startMs?: number;
  /** A guest that lies in its statistics (for testing policies against liars). */
  lie?: StatsLie | null;
}

export interface SimDomain {
  id: number;
  name: string;
  arch: Arch;
  isDom0: boolean;
  memoryBytes: number;
  maxmemBytes: number;
  /** The toolstack's target for actual memory, bytes. */
  targetBytes: number;
  state: DomainState;
  bootError: BootError | null;
  e820: E820Entry[];
  layout: BootLayout | null;
  guest: Guest | null;
}

export function guestE820(spec: DomainSpec): { e820: E820Entry[]; placement: Placement } {
  if (spec.e820) return { e820: spec.e820, placement: "pv" };
  if (spec.pciHole) {
    return {
      e820: guestE820AroundHole(spec.maxmemBytes, spec.pciHole.start, spec.pciHole.end),
      placement: "hvm",
    };
  }
  return { e820: defaultGuestE820(spec.maxmemBytes), placement: "pv" };
}

export function buildDomain(spec: DomainSpec, hv: Hypervisor, id: number, seed: number): SimDomain {
  const { e820, placement } = guestE820(spec);
  const dom: SimDomain = {
    id,
    name: spec.name,
    arch: spec.arch,
    isDom0: spec.isDom0 ?? false,
    memoryBytes: spec.memoryBytes,
    maxmemBytes: spec.maxmemBytes,
    targetBytes: spec.memoryBytes,
    state: "boot-failed",
    bootError: null,
    e820,
    layout: null,
    guest: null,
  };
  const memPages = Math.floor(spec.memoryBytes / PAGE_SIZE);
  if (memPages > hv.freePages) {
    dom.bootError = {
      code: "above-host-free",
      message:
        `cannot build ${spec.name}: it needs ${formatSize(spec.memoryBytes)} but the host has ` +
        `${formatSize(hv.freePages * PAGE_SIZE)} free`,
    };
    return dom;
  }
  const result = bootGuest({
    arch: spec.arch,
    memoryBytes: spec.memoryBytes,
    maxmemBytes: spec.maxmemBytes,
    e820,
    placement,
    maxInitialBytes: parseCmdline(spec.cmdline).maxInitialBytes,
  });
  if (!result.ok) {
    dom.bootError = result.error;
    return dom;
  }
  const layout = result.layout;
  // The builder populates `memory` pages; the guest hands hole pages back at boot.
  hv.claim(memPages);
  hv.release(layout.releasedPages);
  dom.layout = layout;
  dom.state = "running";
  dom.guest = new Guest(
    {
      name: spec.name,
      arch: spec.arch,
      swapBytes: spec.swapBytes,
      deflateOnOom: spec.deflateOnOom,
      balloonRateBytesPerS: spec.balloonRateBytesPerS,
      workload: spec.workload,
      seed,
      lie: spec.lie ?? null,
    },
    layout,
  );
  dom.targetBytes = dom.guest.actual() * PAGE_SIZE;
  return dom;
}
