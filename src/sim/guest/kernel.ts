/**
 * The guest kernel's own footprint and its small userspace: what a booted Linux holds
 * before any workload runs, and the 32-bit lowmem boundary.
 *
 * x86_64 figures are measured on the real test guest (test/vm/: Debian 12's
 * linux-image-cloud-amd64, Linux 6.1, 1 GiB, QEMU) and re-checked by the fidelity suite
 * (test/vm/fidelity.test.ts). i686 figures are not measured: Debian's 686-pae kernel is
 * about half the size, and an idle 32-bit guest's slab about a quarter.
 */

import type { Arch } from "../../model/domain.js";
import { KiB, MiB, PAGE_SIZE } from "../../units/index.js";

/**
 * Memory outside MemTotal besides mem_map: kernel text, data and bss, early page
 * tables and memblock reservations. Measured: a 1 GiB guest with 262015 E820 RAM frames
 * and 4094 pages of mem_map reads MemTotal 995612 kB, so 9018 pages (36072 KiB) are the
 * kernel's. (Its boot line: "14343K kernel code, 2327K rwdata, 8348K rodata, 5436K bss".)
 */
export const KERNEL_FOOTPRINT_BYTES: Record<Arch, number> = {
  x86_64: 36072 * KiB,
  i686: 16 * MiB,
};

/**
 * What the kernel allocates at boot inside MemTotal and keeps: slab, the initramfs
 * contents in rootfs, vmalloc'ed module text, kernel stacks. Measured: MemTotal -
 * MemFree of the idle guest is 47.0 MiB, of which 10 MiB sit on the per-CPU free lists
 * (counted as used, handed out first: under pressure MemTotal - MemFree falls to
 * 36.8 MiB) and 0.25 MiB is userspace's anonymous memory. Unreclaimable here: the guest
 * has no swap and its files live in RAM.
 */
export const KERNEL_SLAB_BYTES: Record<Arch, number> = {
  x86_64: 36.5 * MiB,
  i686: 8 * MiB,
};

/**
 * The guest's own userspace, there whatever the workload: `init` (PID 1, which the
 * OOM killer never chooses: oom_unkillable_task() / is_global_init()) and a shell,
 * each holding a little anonymous memory (the test guest's control shell: anon-rss
 * 104 kB, pgtables 28 kB, in its OOM report) and forking now and then, as an init and
 * a shell loop do (the test guest's init wakes every second with ballast.init_tick=1,
 * its control shell every 100 ms when idle). Each fork needs a few pages for the
 * child's page tables, kernel stack and copied-on-write pages.
 */
export const USERSPACE = {
  /** Anonymous memory of each process, pages. */
  anonPages: (128 * KiB) / PAGE_SIZE,
  /** Pages a fork allocates (and gives back when the child exits). */
  forkPages: 16,
  /** How often each wakes and forks, ms. */
  initEveryMs: 1000,
  shellEveryMs: 500,
} as const;

/** Userspace's anonymous memory (init + shell), bytes: part of every guest's anon. */
export const USERSPACE_ANON_BYTES = 2 * USERSPACE.anonPages * PAGE_SIZE;

/**
 * Pages a KVM guest has touched by the end of boot and given back to its free lists:
 * the compressed kernel and initramfs images, early allocations freed at the end of
 * init, and the per-CPU free lists. The host backs them (QEMU's RSS) although the guest
 * counts them free. Measured: the guest's RAM mapping in QEMU holds 140 MiB after boot,
 * of which the kernel, mem_map, slab and userspace above account for 88 MiB.
 */
export const BOOT_TOUCHED_FREE_BYTES = 52 * MiB;

/**
 * Of those, the part the allocator hands out again first and that free page reporting
 * finds in whole 2 MiB blocks: 24 MiB (a balloon inflated right after boot lowers QEMU's
 * RSS by 24 MiB; free page reporting returns 24 MiB within 5 s of boot).
 */
export const BOOT_TOUCHED_REUSABLE_BYTES = 24 * MiB;

/**
 * Of those, pages in the DMA zone (below 16 MiB, where the compressed kernel was
 * unpacked): handed out only once the zones above are down to their min watermark, so
 * only a balloon pushed to the floor takes them (its QEMU RSS then lies 12 MiB lower).
 * The rest (16 MiB: the DMA zone's lowmem_reserve and fragments) stays backed for good:
 * a guest starved to the floor still has 16 MiB of its free pages in QEMU's RSS.
 */
export const BOOT_TOUCHED_LOW_BYTES = 12 * MiB;

/**
 * i686 lowmem: with the default 3G/1G split the kernel maps at most 896 MiB directly
 * (1 GiB minus 128 MiB of vmalloc space); mem_map and the kernel live there.
 */
export const I686_LOWMEM_BYTES = 896 * MiB;

/** PAE lets an i686 kernel address at most 64 GiB of physical memory. */
export const I686_PAE_LIMIT_BYTES = 64 * 1024 * MiB;

export function kernelPages(arch: Arch): number {
  return Math.ceil(KERNEL_FOOTPRINT_BYTES[arch] / PAGE_SIZE);
}

export function slabPages(arch: Arch): number {
  return Math.ceil(KERNEL_SLAB_BYTES[arch] / PAGE_SIZE);
}
