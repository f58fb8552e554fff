/**
 * mem_map: the array of struct page the kernel keeps for every RAM frame it manages,
 * including the frames it may only balloon into later. This is the price of
 * "ballooning up" in the seed post: a guest that may grow to Y pays for Y's struct
 * pages at boot, out of the X it was given.
 */

import type { Arch } from "../../model/domain.js";
import { PAGE_SIZE } from "../../units/index.js";

/**
 * sizeof(struct page): 64 bytes on x86_64, 32 bytes on i686 (without debug options),
 * per the kernel's include/linux/mm_types.h layout on each architecture.
 */
export const STRUCT_PAGE_BYTES: Record<Arch, number> = { x86_64: 64, i686: 32 };

/** Pages of mem_map needed to describe `frames` page frames. */
export function memMapPages(arch: Arch, frames: number): number {
  return Math.ceil((frames * STRUCT_PAGE_BYTES[arch]) / PAGE_SIZE);
}

/** The most frames whose mem_map fits in `pages` pages. */
export function framesCoveredBy(arch: Arch, pages: number): number {
  if (pages <= 0) return 0;
  return Math.floor((pages * PAGE_SIZE) / STRUCT_PAGE_BYTES[arch]);
}
