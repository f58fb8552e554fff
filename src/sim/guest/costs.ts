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
 * Xen's default balloon rate, both ways: 1 GiB/s. balloon_process() does not throttle
 * itself (it works in batches of 512 frames per hypercall), so the real rate is set by
 * hypercall cost; 1 GiB/s is a round figure in that range, settable per domain with
 * `balloon_rate` (both ways) or `inflate_rate` / `deflate_rate`.
 */
export const DEFAULT_BALLOON_RATE_BYTES_PER_S = GiB;

/**
 * virtio-balloon's default rates, measured on the real test guest (Linux 6.1, 1 GiB,
 * QEMU 7.2 under TCG on this project's shared 2-core machine): moving 1 GiB -> 256 MiB ->
 * 1 GiB, it inflated at 52-83 MiB/s in six runs (147 MiB/s once, on a quiet machine;
 * 22-45 MiB/s while other guests ran) and deflated at 0.94-1.29 GiB/s; 60 MiB/s and
 * 1 GiB/s are the typical figures (test/vm/fidelity.test.ts measures them again on every
 * run and prints them). Inflating is slow because
 * every page costs a guest allocation (zeroed: Debian's kernel sets init_on_alloc) and a
 * discard on the host (QEMU's ram_block_discard_range() per 4 KiB page); deflating only
 * frees pages. Under KVM both are faster, the ratio alike. Settable per domain.
 */
export const DEFAULT_VIRTIO_INFLATE_BYTES_PER_S = 60 * MiB;
export const DEFAULT_VIRTIO_DEFLATE_BYTES_PER_S = GiB;
