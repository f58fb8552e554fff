/**
 * Time costs that turn page movements into stall time (and so PSI), and the rates at
 * which background work proceeds. These are modelling assumptions, stated once here:
 *
 * - A major fault (swap-in or refault of an evicted file page) waits for one random
 *   4 KiB read; on an SSD that is on the order of 100 us.
 * - Direct reclaim of a clean file page costs a few microseconds of LRU scanning and
 *   unmapping; swapping an anonymous page out costs a 4 KiB write (~20 us, amortised by
 *   the block layer's batching).
 * - kswapd reclaims in the background (no stall) at up to 1 GiB/s of clean pages, and
 *   swap I/O is limited to 256 MiB/s each way.
 * - First-touch allocation (minor faults) runs at up to 2 GiB/s per process; a file
 *   read fills the page cache at its `read_rate` (default 256 MiB/s).
 */
import { GiB, MiB, PAGE_SIZE } from "../../units/index.js";

export const MAJOR_FAULT_US = 100;
export const RECLAIM_CLEAN_US = 2;
export const SWAP_OUT_US = 20;

export const KSWAPD_PAGES_PER_S = GiB / PAGE_SIZE;
export const SWAP_IO_PAGES_PER_S = (256 * MiB) / PAGE_SIZE;
export const ALLOC_PAGES_PER_S = (2 * GiB) / PAGE_SIZE;
export const DEFAULT_READ_RATE_BYTES_PER_S = 256 * MiB;

/**
 * Default balloon rate: 1 GiB/s. Neither Xen's balloon_process() nor virtio-balloon
 * throttles itself (each works in batches: 512 frames per hypercall, 256 PFNs per
 * virtqueue message), so the real rate is set by hypercall/VM-exit cost; 1 GiB/s is a
 * round figure in that range, settable per domain with `balloon_rate`.
 */
export const DEFAULT_BALLOON_RATE_BYTES_PER_S = GiB;
