/**
 * The domain builder: lays out a guest's E820, asks the hypervisor for its memory, and
 * boots it. On Xen, as xl/libxl does, all of `memory` is populated at build, and a
 * domain the host cannot supply is not created (xl create fails with "failed to
 * allocate memory"); nothing is taken then. On KVM, QEMU reserves nothing: the host
 * backs what the guest's boot touches, and a guest whose boot the host cannot back is
 * not started either.
 */
import type { Arch, BootError, CrashInfo, DomainState } from "../../model/domain.js";
import type { GuestSettings } from "../../model/settings.js";
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import { type BootLayout, bootGuest, bootKvmGuest, type Placement } from "../guest/boot.js";
import { parseCmdline } from "../guest/cmdline.js";
import {
  DEFAULT_BALLOON_RATE_BYTES_PER_S,
  DEFAULT_VIRTIO_DEFLATE_BYTES_PER_S,
  DEFAULT_VIRTIO_INFLATE_BYTES_PER_S,
} from "../guest/costs.js";
import {
  defaultGuestE820,
  type E820Entry,
  guestE820AroundHole,
  qemuPcE820,
} from "../guest/e820.js";
import type { Hypervisor as HypervisorKind, StatsLie } from "../guest/guest.js";
import type { Emit } from "../guest/frames.js";
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
  /** Balloon rates, bytes per second; null: the driver's default. */
  inflateRateBytesPerS: number | null;
  deflateRateBytesPerS: number | null;
  /** kvm only: virtio-balloon's free page reporting. */
  freePageReporting: boolean;
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
  hypervisor: HypervisorKind;
  isDom0: boolean;
  memoryBytes: number;
  maxmemBytes: number;
  /** The toolstack's target for actual memory, bytes. */
  targetBytes: number;
  state: DomainState;
  bootError: BootError | null;
  /** Set when `state` is crashed. */
  crash: CrashInfo | null;
  /** The host took its memory back (destroyed on crash, or its QEMU killed). */
  memoryReleased?: boolean;
  /** Where its guest reports events (made once by the world). */
  emit?: Emit;
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

/** Default balloon rates of the driver a hypervisor's guests run. */
export function defaultRates(kind: HypervisorKind): { inflate: number; deflate: number } {
  return kind === "kvm"
    ? { inflate: DEFAULT_VIRTIO_INFLATE_BYTES_PER_S, deflate: DEFAULT_VIRTIO_DEFLATE_BYTES_PER_S }
    : { inflate: DEFAULT_BALLOON_RATE_BYTES_PER_S, deflate: DEFAULT_BALLOON_RATE_BYTES_PER_S };
}

export function buildDomain(
  spec: DomainSpec,
  hv: Hypervisor,
  id: number,
  seed: number,
  kind: HypervisorKind = "xen",
): SimDomain {
  const kvm = kind === "kvm";
  const { e820, placement } = kvm
    ? { e820: qemuPcE820(spec.memoryBytes), placement: "hvm" as const }
    : guestE820(spec);
  const dom: SimDomain = {
    id,
    name: spec.name,
    arch: spec.arch,
    hypervisor: kind,
    isDom0: spec.isDom0 ?? false,
    memoryBytes: spec.memoryBytes,
    maxmemBytes: spec.maxmemBytes,
    targetBytes: spec.memoryBytes,
    state: "boot-failed",
    bootError: null,
    crash: null,
    e820,
    layout: null,
    guest: null,
  };
  const memPages = Math.floor(spec.memoryBytes / PAGE_SIZE);
  if (!kvm && memPages > hv.freePages) {
    dom.bootError = aboveHostFree(spec, hv);
    return dom;
  }
  const result = kvm
    ? bootKvmGuest({
        arch: spec.arch,
        memoryBytes: spec.memoryBytes,
        virtioMemBytes: spec.maxmemBytes - spec.memoryBytes,
        e820,
      })
    : bootGuest({
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
  // Xen: the builder populates `memory` pages; the guest hands hole pages back at boot.
  // KVM: the host backs what boot touched.
  const held = kvm
    ? layout.populatedFrames - (layout.freePages - layout.backedFreePages)
    : memPages - layout.releasedPages;
  if (kvm && held > hv.freePages) {
    dom.bootError = aboveHostFree(spec, hv, held);
    return dom;
  }
  const rates = defaultRates(kind);
  hv.claim(held);
  dom.layout = layout;
  dom.state = "running";
  dom.guest = new Guest(
    {
      name: spec.name,
      arch: spec.arch,
      hypervisor: kind,
      swapBytes: spec.swapBytes,
      deflateOnOom: spec.deflateOnOom,
      inflateRateBytesPerS: spec.inflateRateBytesPerS ?? rates.inflate,
      deflateRateBytesPerS: spec.deflateRateBytesPerS ?? rates.deflate,
      freePageReporting: kvm && spec.freePageReporting,
      memoryBytes: spec.memoryBytes,
      workload: spec.workload,
      seed,
      lie: spec.lie ?? null,
    },
    layout,
  );
  dom.targetBytes = dom.guest.shownActual() * PAGE_SIZE;
  return dom;
}

function aboveHostFree(spec: DomainSpec, hv: Hypervisor, pages?: number): BootError {
  const need =
    pages === undefined
      ? `it needs ${formatSize(spec.memoryBytes)}`
      : `its boot touches ${formatSize(pages * PAGE_SIZE)}`;
  return {
    code: "above-host-free",
    message:
      `cannot build ${spec.name}: ${need} but the host has ` +
      `${formatSize(hv.freePages * PAGE_SIZE)} free`,
  };
}
