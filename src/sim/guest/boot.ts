/**
 * Guest boot, as the "Ballooning up" post describes it for Xen's pvops kernels:
 *
 * - The domain builder populates the first `memory` pages of guest-physical address
 *   space contiguously (PV), whatever the E820 says; with a PCI hole the E820 lays RAM
 *   around the hole and the first `memory` RAM frames are populated (HVM).
 * - E820 RAM beyond the populated part is added to the kernel's map but reserved, and
 *   the balloon driver puts it on its list of ballooned-out pages: the guest can grow
 *   into it with mem-set (Linux: xen_memory_setup() + balloon_add_region()).
 * - Populated pages that fall in E820 holes are released to the hypervisor at boot and
 *   their credit goes on the balloon too; they are not ballooned back automatically
 *   (the driver's first target is current_pages = nr_pages - xen_released_pages).
 *   When the E820 has no unpopulated RAM left for that credit, the kernel adds an
 *   extra RAM region above the top of the map (xen_add_extra_mem()).
 * - struct pages are allocated for every RAM frame the kernel takes on, out of the
 *   populated memory (and on i686 out of lowmem): a guest that may grow many times its
 *   size can fail to boot. `balloon.max_initial` caps how much it takes on.
 *
 * Pure: a configuration in, a page layout or a boot error out.
 */
import type { Arch, BootError } from "../../model/domain.js";
import { formatSize, KiB, MiB, PAGE_SIZE } from "../../units/index.js";
import {
  countPfns,
  type E820Entry,
  type E820Map,
  type PfnRange,
  ramPfnRanges,
  ramPfnsBelow,
  topPfn,
} from "./e820.js";
import {
  BOOT_TOUCHED_FREE_BYTES,
  I686_LOWMEM_BYTES,
  I686_PAE_LIMIT_BYTES,
  kernelPages as kernelFootprintPages,
  slabPages as kernelSlabPages,
} from "./kernel.js";
import { framesCoveredBy, memMapPages, STRUCT_PAGE_BYTES } from "./mem_map.js";
import { guestReserves, type ZoneReserves } from "./zones.js";

export type Placement = "pv" | "hvm";

export interface BootConfig {
  arch: Arch;
  memoryBytes: number;
  maxmemBytes: number;
  /** The E820 the toolstack hands the guest. */
  e820: E820Map;
  placement: Placement;
  /** balloon.max_initial from the command line, bytes; null when absent. */
  maxInitialBytes: number | null;
}

/** Where every frame of the guest's RAM is right after boot, in pages. */
export interface BootLayout {
  /** RAM frames in the toolstack's E820 plus any extra region the kernel added. */
  ramFrames: number;
  /** RAM frames backed by host memory (the domain's actual). */
  populatedFrames: number;
  /** Pages the builder populated in E820 holes and the guest released at boot. */
  releasedPages: number;
  /** Frames the kernel took on beyond the populated part and put on the balloon list. */
  balloonFrames: number;
  /** Of the balloon list, frames standing for the released hole pages. */
  releasedHoleFrames: number;
  /** E820 RAM frames the kernel did not take on (beyond balloon.max_initial). */
  truncatedFrames: number;
  /** Extra RAM frames the kernel added above the map for released credit. */
  extraRegionFrames: number;
  kernelPages: number;
  memMapPages: number;
  slabPages: number;
  /** Populated frames free after boot. */
  freePages: number;
  /** i686 only: populated frames below 896 MiB, and how many of them are free. */
  lowmemFrames: number | null;
  lowmemFreePages: number | null;
  /** The E820 as the booted kernel sees it (extra RAM reserved, dropped RAM unusable). */
  kernelE820: E820Entry[];
  /** min_free_kbytes, watermarks and lowmem_reserve, set at boot (zones.ts). */
  reserves: ZoneReserves;
  /** KVM: frames of the virtio-mem device, none plugged at boot (0 on Xen). */
  unpluggedFrames: number;
  /** Of the free pages, those the host backs (on Xen all of them; on KVM what boot touched). */
  backedFreePages: number;
}

export type BootResult = { ok: true; layout: BootLayout } | { ok: false; error: BootError };

function mib(bytes: number): string {
  return formatSize(Math.floor(bytes / MiB) * MiB, { exact: true });
}

/** The first `n` frames of `ranges`, as ranges. */
function firstFrames(ranges: readonly PfnRange[], n: number): PfnRange[] {
  const out: PfnRange[] = [];
  let left = n;
  for (const r of ranges) {
    if (left <= 0) break;
    const k = Math.min(left, r.end - r.start);
    out.push({ start: r.start, end: r.start + k });
    left -= k;
  }
  return out;
}

function reservesFor(arch: Arch, populated: readonly PfnRange[], managed: number): ZoneReserves {
  return guestReserves(arch, populated, Math.max(0, managed));
}

export function bootGuest(cfg: BootConfig): BootResult {
  const ranges = ramPfnRanges(cfg.e820);
  const totalRam = countPfns(ranges);
  const memPages = Math.floor(cfg.memoryBytes / PAGE_SIZE);
  const top = topPfn(ranges);

  if (cfg.arch === "i686") {
    const topBytes = Math.max(top * PAGE_SIZE, cfg.maxmemBytes);
    if (topBytes > I686_PAE_LIMIT_BYTES) {
      return {
        ok: false,
        error: {
          code: "above-arch-limit",
          message:
            `i686 (PAE) addresses at most 64 GiB, but this guest's memory reaches ` +
            `${formatSize(topBytes)}; use maxmem of at most 64GiB or an x86_64 guest`,
        },
      };
    }
  }

  // What the builder populated, and where.
  let populatedRam: number;
  let released: number;
  if (cfg.placement === "pv") {
    populatedRam = ramPfnsBelow(ranges, memPages);
    released = memPages - populatedRam;
  } else {
    populatedRam = Math.min(memPages, totalRam);
    released = 0;
  }
  const unpopulatedRam = totalRam - populatedRam;
  const extraRegion = Math.max(0, released - unpopulatedRam);
  const beyond = unpopulatedRam + extraRegion;
  const maxInitialPages =
    cfg.maxInitialBytes === null ? Infinity : Math.floor(cfg.maxInitialBytes / PAGE_SIZE);
  const taken = Math.min(beyond, maxInitialPages);
  const truncated = beyond - taken;
  // The extra region sits on top, so truncation removes it first.
  const keptExtra = Math.max(0, extraRegion - truncated);
  const truncatedE820 = truncated - (extraRegion - keptExtra);
  const releasedHole = Math.min(released, taken);
  const balloon = taken - releasedHole;

  const kernelFrames = populatedRam + taken;
  const memMap = memMapPages(cfg.arch, kernelFrames);
  const kern = kernelFootprintPages(cfg.arch);
  const slab = kernelSlabPages(cfg.arch);
  const fixedNeed = kern + slab;

  // The memory that must hold kernel, slab, struct pages and the minimum free reserve:
  // all populated RAM on x86_64, lowmem on i686.
  let lowmemFrames: number | null = null;
  let holder = populatedRam;
  let holderName = "populated memory";
  if (cfg.arch === "i686") {
    const lowLimit = I686_LOWMEM_BYTES / PAGE_SIZE;
    lowmemFrames =
      cfg.placement === "pv"
        ? ramPfnsBelow(ranges, Math.min(memPages, lowLimit))
        : Math.min(memPages, ramPfnsBelow(ranges, lowLimit));
    holder = lowmemFrames;
    holderName = "lowmem";
  }
  const populatedPfns = firstFrames(ranges, populatedRam);
  const minFree = Math.ceil(
    (reservesFor(cfg.arch, populatedPfns, holder - fixedNeed).minFreeKbytes * KiB) / PAGE_SIZE,
  );
  const room = holder - fixedNeed - minFree;
  if (memMap > room) {
    // On i686 mem_map must live in lowmem, so lowmem is always the binding limit.
    const code = cfg.arch === "i686" ? "struct-pages-exceed-lowmem" : "struct-pages-exceed-memory";
    const fitFrames = framesCoveredBy(cfg.arch, room);
    const advice: string[] = [];
    if (fitFrames > populatedRam) {
      advice.push(`maxmem=${mib(fitFrames * PAGE_SIZE)}`);
      advice.push(`balloon.max_initial=${mib((fitFrames - populatedRam) * PAGE_SIZE)}`);
    }
    const fix =
      advice.length > 0
        ? `; ${advice.join(" or ")} would boot`
        : `; even with nothing to balloon into it cannot boot: give it more memory`;
    return {
      ok: false,
      error: {
        code,
        message:
          `struct pages for ${kernelFrames} frames (${formatSize(kernelFrames * PAGE_SIZE)} ` +
          `of RAM, ${STRUCT_PAGE_BYTES[cfg.arch]} B each) need ${formatSize(memMap * PAGE_SIZE)}, ` +
          `but ${holderName} is ${formatSize(holder * PAGE_SIZE)} of which the kernel ` +
          `(${formatSize(kern * PAGE_SIZE)}), slab (${formatSize(slab * PAGE_SIZE)}) and ` +
          `min_free_kbytes (${formatSize(minFree * PAGE_SIZE)}) leave ` +
          `${formatSize(Math.max(0, room) * PAGE_SIZE)}${fix}`,
      },
    };
  }

  const free = populatedRam - kern - memMap - slab;
  const reserves = reservesFor(cfg.arch, populatedPfns, populatedRam - kern - memMap);
  const lowmemFree = lowmemFrames === null ? null : lowmemFrames - kern - memMap - slab;

  return {
    ok: true,
    layout: {
      ramFrames: totalRam + extraRegion,
      populatedFrames: populatedRam,
      releasedPages: released,
      balloonFrames: balloon,
      releasedHoleFrames: releasedHole,
      truncatedFrames: truncated,
      extraRegionFrames: extraRegion,
      kernelPages: kern,
      memMapPages: memMap,
      slabPages: slab,
      freePages: free,
      lowmemFrames,
      lowmemFreePages: lowmemFree,
      kernelE820: kernelView(
        cfg,
        ranges,
        populatedRam,
        taken - keptExtra,
        truncatedE820,
        keptExtra,
      ),
      reserves,
      unpluggedFrames: 0,
      backedFreePages: free,
    },
  };
}

export interface KvmBootConfig {
  arch: Arch;
  memoryBytes: number;
  /** Bytes of virtio-mem device memory above boot memory (maxmem - memory). */
  virtioMemBytes: number;
  /** The E820 QEMU's firmware hands the guest (qemuPcE820). */
  e820: E820Map;
}

/**
 * A KVM guest's boot: the kernel takes on exactly the E820's RAM, all of it backed on
 * first touch; struct pages cover only that RAM (virtio-mem memory gets its struct pages
 * when it is plugged, from memory the guest then has). Nothing is ballooned at boot.
 * What boot touches (kernel, mem_map, slab and BOOT_TOUCHED_FREE_BYTES of free pages) is
 * what the host backs right after boot.
 */
export function bootKvmGuest(cfg: KvmBootConfig): BootResult {
  const ranges = ramPfnRanges(cfg.e820);
  const ram = countPfns(ranges);
  const memMap = memMapPages(cfg.arch, ram);
  const kern = kernelFootprintPages(cfg.arch);
  const slab = kernelSlabPages(cfg.arch);
  const reserves = reservesFor(cfg.arch, ranges, ram - kern - memMap);
  const minFree = Math.ceil((reserves.minFreeKbytes * KiB) / PAGE_SIZE);
  const free = ram - kern - memMap - slab;
  if (free < minFree) {
    return {
      ok: false,
      error: {
        code: "struct-pages-exceed-memory",
        message:
          `${formatSize(cfg.memoryBytes)} cannot hold the kernel (${formatSize(kern * PAGE_SIZE)}), ` +
          `struct pages (${formatSize(memMap * PAGE_SIZE)}), slab (${formatSize(slab * PAGE_SIZE)}) ` +
          `and min_free_kbytes (${formatSize(minFree * PAGE_SIZE)}); give it more memory`,
      },
    };
  }
  const unplugged = Math.floor(cfg.virtioMemBytes / PAGE_SIZE);
  return {
    ok: true,
    layout: {
      ramFrames: ram + unplugged,
      populatedFrames: ram,
      releasedPages: 0,
      balloonFrames: 0,
      releasedHoleFrames: 0,
      truncatedFrames: 0,
      extraRegionFrames: 0,
      kernelPages: kern,
      memMapPages: memMap,
      slabPages: slab,
      freePages: free,
      lowmemFrames: null,
      lowmemFreePages: null,
      kernelE820: cfg.e820.map((e) => ({ ...e })),
      reserves,
      unpluggedFrames: unplugged,
      backedFreePages: Math.min(free, Math.floor(BOOT_TOUCHED_FREE_BYTES / PAGE_SIZE)),
    },
  };
}

/**
 * The booted kernel's E820: populated RAM stays RAM, RAM it took on for the balloon is
 * marked reserved (as the post says), RAM beyond balloon.max_initial is unusable, and
 * an extra region for released credit is appended, reserved.
 */
function kernelView(
  cfg: BootConfig,
  ranges: readonly PfnRange[],
  populatedRam: number,
  takenInMap: number,
  truncatedInMap: number,
  extra: number,
): E820Entry[] {
  const out: E820Entry[] = [];
  const push = (start: number, end: number, type: E820Entry["type"]) => {
    const last = out[out.length - 1];
    if (last && last.type === type && last.end === start) last.end = end;
    else out.push({ start, end, type });
  };
  let popLeft = populatedRam;
  let takenLeft = takenInMap;
  let truncLeft = truncatedInMap;
  // Populated frames: PV populates from PFN 0 in order; HVM the first RAM frames. Both
  // mean the lowest RAM frames are populated, so one walk covers both.
  for (const e of cfg.e820) {
    if (e.type !== "ram") {
      push(e.start, e.end, e.type);
      continue;
    }
    const r = { start: Math.ceil(e.start / PAGE_SIZE), end: Math.floor(e.end / PAGE_SIZE) };
    let pfn = r.start;
    const take = (n: number, type: E820Entry["type"]) => {
      if (n <= 0) return;
      push(pfn * PAGE_SIZE, (pfn + n) * PAGE_SIZE, type);
      pfn += n;
    };
    const a = Math.min(popLeft, r.end - pfn);
    take(a, "ram");
    popLeft -= a;
    const b = Math.min(takenLeft, r.end - pfn);
    take(b, "reserved");
    takenLeft -= b;
    const c = Math.min(truncLeft, r.end - pfn);
    take(c, "unusable");
    truncLeft -= c;
  }
  if (extra > 0) {
    const base = Math.max(topPfn(ranges), ...cfg.e820.map((e) => Math.ceil(e.end / PAGE_SIZE)));
    push(base * PAGE_SIZE, (base + extra) * PAGE_SIZE, "reserved");
  }
  return out;
}
