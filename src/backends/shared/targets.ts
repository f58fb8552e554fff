/**
 * One target for a real guest's memory, as libvirt and Proxmox drive QEMU: virtio-balloon
 * below boot memory, virtio-mem above it. Shared by the QEMU and libvirt backends, which
 * differ only in how they speak to QEMU.
 *
 * - Checked first, changing nothing when refused: a whole number of pages above 0 (QEMU's
 *   `balloon` rejects 0 and clamps values above RAM silently), at most maxmem, and not
 *   below the guest's floor (src/model/floor.ts) unless forced. A floor needs fresh
 *   statistics: without them a shrink is refused, with the reason.
 * - Applied virtio-mem first, then the balloon. If the balloon step fails after virtio-mem
 *   moved, virtio-mem's requested size is put back: nothing is half-applied.
 */
import { belowFloorMessage, computeFloor, describeChange } from "../../model/floor.js";
import type { GuestStats } from "../../model/stats.js";
import { formatSize, PAGE_SIZE } from "../../units/index.js";
import type { BackendResult, SetTargetOptions } from "../backend.js";
import type { EventLog } from "../../model/event_log.js";

export interface VirtioMemLayout {
  /** Plugged now (QEMU's `size`). */
  sizeBytes: number;
  maxBytes: number;
  blockBytes: number;
  /** What was last asked for (`requested-size`). */
  requestedBytes: number;
}

/** A guest's memory as a backend reads it. */
export interface MemoryLayout {
  /** Boot memory: the balloon's ceiling. */
  baseBytes: number;
  /** The balloon's actual (what the guest has of its boot memory). */
  balloonBytes: number;
  vmem: VirtioMemLayout | null;
  /** An operator's mem-max below the hard maximum, if any. */
  capBytes: number | null;
}

export const actualOf = (m: MemoryLayout) => m.balloonBytes + (m.vmem?.sizeBytes ?? 0);
/** What QEMU was started with: boot memory plus every virtio-mem device's maximum. */
export const hardMaxOf = (m: MemoryLayout) => m.baseBytes + (m.vmem?.maxBytes ?? 0);
export const maxmemOf = (m: MemoryLayout) => Math.min(hardMaxOf(m), m.capBytes ?? Infinity);

export interface Plan {
  balloonBytes: number;
  /** virtio-mem's new requested size; null: leave it. */
  vmemRequestedBytes: number | null;
}

/** The balloon takes what is below boot memory, virtio-mem (in whole blocks) what is above. */
export function planTarget(m: MemoryLayout, bytes: number): Plan {
  const balloonBytes = Math.min(bytes, m.baseBytes);
  if (!m.vmem) return { balloonBytes, vmemRequestedBytes: null };
  const block = m.vmem.blockBytes;
  const want = Math.max(
    0,
    Math.min(m.vmem.maxBytes, Math.floor((bytes - m.baseBytes) / block) * block),
  );
  return { balloonBytes, vmemRequestedBytes: want === m.vmem.requestedBytes ? null : want };
}

/** The two moves a backend knows how to make. */
export interface TargetOps {
  setVirtioMem(requestedBytes: number): Promise<void>;
  setBalloon(bytes: number): Promise<void>;
}

export interface TargetRequest {
  name: string;
  layout: MemoryLayout;
  /** The target set last (null: none yet, the actual counts). */
  targetBytes: number | null;
  bytes: number;
  opts: SetTargetOptions;
  /** The guest's statistics, fresh or null (a first contact may wait for them). */
  stats: () => Promise<GuestStats | null>;
  /** The layout read again, as it is now (after `stats`, which may have waited). */
  layoutNow: () => Promise<MemoryLayout>;
  ops: TargetOps;
  log: EventLog;
  /** The hypervisor's name in messages ("QEMU", "libvirt"). */
  who: string;
  /** The refusal code when it fails ("qmp-error", "libvirt-error"). */
  errorCode: string;
}

/** Check, then apply with rollback; the result says what changed or why nothing did. */
export async function setTargetChecked(r: TargetRequest): Promise<BackendResult> {
  const { name, layout: m, bytes, log } = r;
  const actual = actualOf(m);
  const change = describeChange(name, r.targetBytes ?? actual, bytes);
  const refuse = (code: string, message: string): BackendResult => {
    log.emit(name, "mem-set-refused", message, code);
    return { ok: false, code, message };
  };
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % PAGE_SIZE !== 0) {
    return refuse(
      "bad-size",
      `${change}: refused, the balloon takes a whole number of pages above 0`,
    );
  }
  const maxmem = maxmemOf(m);
  if (bytes > maxmem) {
    return refuse("above-maxmem", `${change}: refused, above maxmem ${formatSize(maxmem)}`);
  }
  if (!r.opts.force && bytes < actual) {
    const stats = await r.stats();
    // The floor's overhead is actual - MemTotal, so both must be of one moment. A first
    // contact waits seconds for the guest's first statistics, and meanwhile a change made
    // before (a daemon killed just after applying one) moves the balloon and virtio-mem,
    // and MemTotal with them: the layout read before the wait would put the whole move
    // into the overhead (a restart once saw a floor of 459 MiB for a guest using 40).
    const floor = stats ? computeFloor(stats, actualOf(await r.layoutNow())) : null;
    if (!floor) {
      return refuse(
        "below-floor",
        `${change}: refused, the guest reports no fresh statistics (its virtio-balloon driver ` +
          `has not answered QEMU's polling), so its floor is unknown; --force shrinks anyway`,
      );
    }
    if (bytes < floor.floorBytes) return refuse("below-floor", belowFloorMessage(change, floor));
  }
  if (r.opts.dryRun) return { ok: true, message: `${change} (dry run: nothing changed)` };
  const plan = planTarget(m, bytes);
  const moved: string[] = [];
  try {
    if (plan.vmemRequestedBytes !== null) {
      await r.ops.setVirtioMem(plan.vmemRequestedBytes);
      moved.push("virtio-mem");
    }
    await r.ops.setBalloon(plan.balloonBytes);
  } catch (e) {
    let message = `${change}: ${r.who} refused: ${(e as Error).message}`;
    if (moved.length && m.vmem) {
      try {
        await r.ops.setVirtioMem(m.vmem.requestedBytes);
        message += `; virtio-mem put back to ${formatSize(m.vmem.requestedBytes)}, nothing changed`;
      } catch (e2) {
        message += `; putting virtio-mem back to ${formatSize(m.vmem.requestedBytes)} failed too: ${(e2 as Error).message}`;
      }
    }
    return refuse(r.errorCode, message);
  }
  const plugs =
    m.vmem && bytes > m.baseBytes ? ` (virtio-mem plugs ${formatSize(bytes - m.baseBytes)})` : "";
  const message = `${change}${plugs}`;
  log.emit(name, "mem-set", message);
  return { ok: true, message };
}
