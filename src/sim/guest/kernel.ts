/**
 * The guest kernel's own, fixed footprint: what a booted Linux holds before any
 * workload runs, and the 32-bit lowmem boundary.
 */

import type { Arch } from "../../model/domain.js";
import { MiB, PAGE_SIZE } from "../../units/index.js";

/**
 * Kernel image and early reservations (text + rwdata + rodata + bss, page tables,
 * per-cpu areas, the ISA range Linux reserves in a Xen domU). Debian 12's x86_64
 * kernel prints about 32 MiB of code/data/bss in its "Memory: ... available" boot
 * line; its 686-pae kernel about half that.
 */
export const KERNEL_FOOTPRINT_BYTES: Record<Arch, number> = {
  x86_64: 32 * MiB,
  i686: 16 * MiB,
};

/**
 * Unreclaimable slab of an idle small guest (SUnreclaim in /proc/meminfo of a
 * freshly booted Debian guest is in the tens of MiB): dentries, inodes, kernel
 * stacks, the network stack. Unevictable by the balloon or reclaim.
 */
export const KERNEL_SLAB_BYTES: Record<Arch, number> = {
  x86_64: 16 * MiB,
  i686: 8 * MiB,
};

/**
 * i686 lowmem: with the default 3G/1G split the kernel maps at most 896 MiB directly
 * (1 GiB minus 128 MiB of vmalloc space); mem_map and the kernel live there.
 */
export const I686_LOWMEM_BYTES = 896 * MiB;

/** PAE lets an i686 kernel address at most 64 GiB of physical memory. */
export const I686_PAE_LIMIT_BYTES = 64 * 1024 * MiB;

export function kernelPages(arch: Arch): number {
  return KERNEL_FOOTPRINT_BYTES[arch] / PAGE_SIZE;
}

export function slabPages(arch: Arch): number {
  return KERNEL_SLAB_BYTES[arch] / PAGE_SIZE;
}
