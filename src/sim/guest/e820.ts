/**
 * E820 memory maps: the BIOS/toolstack's list of physical address ranges and what
 * each holds. Addresses are bytes, `end` exclusive. A page frame is RAM when the
 * whole 4 KiB lies inside a RAM entry (as Linux's e820 code trims partial pages).
 */
import { GiB, KiB, MiB, PAGE_SIZE } from "../../units/index.js";

export type E820Type = "ram" | "reserved" | "acpi" | "nvs" | "unusable";

export interface E820Entry {
  start: number;
  end: number;
  type: E820Type;
}

export type E820Map = readonly E820Entry[];

/** A range of page frame numbers [start, end). */
export interface PfnRange {
  start: number;
  end: number;
}

export class E820Error extends Error {
  override name = "E820Error";
}

/** Check a map is sorted, non-empty ranges, non-overlapping. Throws E820Error naming the entry. */
export function validateE820(map: E820Map): void {
  let prevEnd = 0;
  map.forEach((e, i) => {
    if (!Number.isSafeInteger(e.start) || !Number.isSafeInteger(e.end) || e.start < 0) {
      throw new E820Error(`entry ${i}: start and end must be whole byte addresses`);
    }
    if (e.end <= e.start) {
      throw new E820Error(`entry ${i}: end (${hex(e.end)}) must be above start (${hex(e.start)})`);
    }
    if (e.start < prevEnd) {
      throw new E820Error(
        `entry ${i} (${hex(e.start)}-${hex(e.end)}) overlaps or is out of order with the entry before it`,
      );
    }
    prevEnd = e.end;
  });
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Page frames fully inside RAM entries, as ranges in address order. */
export function ramPfnRanges(map: E820Map): PfnRange[] {
  const out: PfnRange[] = [];
  for (const e of map) {
    if (e.type !== "ram") continue;
    const start = Math.ceil(e.start / PAGE_SIZE);
    const end = Math.floor(e.end / PAGE_SIZE);
    if (end > start) out.push({ start, end });
  }
  return out;
}

export function countPfns(ranges: readonly PfnRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.end - r.start;
  return n;
}

/** How many RAM frames lie below `pfnLimit`. */
export function ramPfnsBelow(ranges: readonly PfnRange[], pfnLimit: number): number {
  let n = 0;
  for (const r of ranges) {
    if (r.start >= pfnLimit) break;
    n += Math.min(r.end, pfnLimit) - r.start;
  }
  return n;
}

/** The PFN one past the highest RAM frame (Linux's max_pfn), 0 when there is no RAM. */
export function topPfn(ranges: readonly PfnRange[]): number {
  return ranges.length === 0 ? 0 : ranges[ranges.length - 1]!.end;
}

/**
 * The E820 a PV domU gets from the toolstack when none is given: one RAM range
 * covering maxmem. (libxl hands PV guests a single RAM region; Linux itself then
 * reserves the ISA range 640 KiB-1 MiB without releasing it, which we count in the
 * kernel's own footprint.)
 */
export function defaultGuestE820(maxmemBytes: number): E820Entry[] {
  return [{ start: 0, end: maxmemBytes, type: "ram" }];
}

/**
 * The E820 a KVM guest sees: QEMU's pc (i440FX) machine with SeaBIOS. RAM below 640 KiB
 * (0x9fc00: SeaBIOS keeps the last KiB for its EBDA), the legacy VGA and BIOS area, RAM
 * from 1 MiB up to the top of low memory less the 128 KiB SeaBIOS reserves there, and
 * RAM beyond 3 GiB relocated above 4 GiB when the guest has 3.5 GiB or more (QEMU's
 * pc_init1() with gigabyte_align). A 1 GiB guest thus has 262015 RAM frames, as its
 * /proc/zoneinfo shows (present 3998 + 258016, give or take the zero page).
 */
export function qemuPcE820(memoryBytes: number): E820Entry[] {
  const lowmem = memoryBytes >= 3.5 * GiB ? 3 * GiB : memoryBytes;
  const out: E820Entry[] = [
    { start: 0, end: 0x9fc00, type: "ram" },
    { start: 0x9fc00, end: 0xa0000, type: "reserved" },
    { start: 0xf0000, end: 0x100000, type: "reserved" },
    { start: 0x100000, end: lowmem - 128 * KiB, type: "ram" },
    { start: lowmem - 128 * KiB, end: lowmem, type: "reserved" },
  ];
  if (memoryBytes > lowmem)
    out.push({ start: 4 * GiB, end: 4 * GiB + memoryBytes - lowmem, type: "ram" });
  return out;
}

/**
 * An HVM-style guest map with RAM laid out around a PCI hole: RAM below the hole up
 * to its start, the hole reserved, the rest of maxmem relocated above the hole (as
 * hvmloader moves RAM above 4 GiB to keep the MMIO hole free for passthrough).
 */
export function guestE820AroundHole(
  maxmemBytes: number,
  holeStart: number,
  holeEnd: number,
): E820Entry[] {
  if (maxmemBytes <= holeStart) {
    return [
      { start: 0, end: maxmemBytes, type: "ram" },
      { start: holeStart, end: holeEnd, type: "reserved" },
    ];
  }
  return [
    { start: 0, end: holeStart, type: "ram" },
    { start: holeStart, end: holeEnd, type: "reserved" },
    { start: holeEnd, end: holeEnd + (maxmemBytes - holeStart), type: "ram" },
  ];
}

/**
 * A typical PC's E820 for `memoryBytes` of installed RAM: conventional memory to
 * 636 KiB (0x9f000; many BIOSes put the EBDA there), the EBDA and the VGA/BIOS area
 * reserved, RAM from 1 MiB up to the ACPI
 * tables and NVS just below the 3 GiB PCI hole, the hole (MMIO, APIC, flash)
 * reserved up to 4 GiB, and the rest of RAM remapped above 4 GiB.
 */
export function defaultHostE820(memoryBytes: number): E820Entry[] {
  const lowTop = 3 * GiB;
  const acpi = 128 * KiB;
  const nvs = 64 * KiB;
  const conventional = 636 * KiB;
  const map: E820Entry[] = [
    { start: 0, end: conventional, type: "ram" },
    { start: conventional, end: 640 * KiB, type: "reserved" },
    { start: 0xe0000, end: 1 * MiB, type: "reserved" },
  ];
  // RAM the map can hold below the hole, after the firmware's own areas.
  const lowRamCapacity = lowTop - acpi - nvs - 1 * MiB;
  const wantLow = Math.max(0, memoryBytes - conventional);
  const low = Math.min(wantLow, lowRamCapacity);
  const lowEnd = 1 * MiB + low;
  map.push({ start: 1 * MiB, end: lowEnd, type: "ram" });
  map.push({ start: lowEnd, end: lowEnd + acpi, type: "acpi" });
  map.push({ start: lowEnd + acpi, end: lowEnd + acpi + nvs, type: "nvs" });
  map.push({ start: 0xfec00000, end: 0xfec01000, type: "reserved" });
  map.push({ start: 0xfee00000, end: 0xfee01000, type: "reserved" });
  map.push({ start: 0xff000000, end: 4 * GiB, type: "reserved" });
  const high = wantLow - low;
  if (high > 0) map.push({ start: 4 * GiB, end: 4 * GiB + high, type: "ram" });
  return map;
}

/** Total RAM bytes in whole pages. */
export function ramBytes(map: E820Map): number {
  return countPfns(ramPfnRanges(map)) * PAGE_SIZE;
}

/** Does any RAM frame overlap [start, end)? */
export function ramOverlaps(map: E820Map, start: number, end: number): boolean {
  return map.some((e) => e.type === "ram" && e.start < end && e.end > start);
}
