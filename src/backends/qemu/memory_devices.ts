/**
 * virtio-mem over QMP: memory above boot memory, plugged and unplugged in blocks when
 * `requested-size` is set (qom-set). The guest onlines plugged blocks itself (it needs
 * memhp_default_state=online_movable, or a udev rule, for them to be usable) and QEMU
 * reports progress in MEMORY_DEVICE_SIZE_CHANGE events; query-memory-devices gives size,
 * max-size, requested-size and block-size.
 */
import { z } from "zod";
import type { VirtioMemLayout } from "../shared/targets.js";
import type { QmpClient } from "./qmp.js";
import { memoryDeviceSizeChange, memoryDevices } from "./schemas.js";

const anyReply = z.unknown();
const virtioMemData = z.object({
  size: z.number(),
  "max-size": z.number(),
  "requested-size": z.number(),
  "block-size": z.number(),
});

/** The first virtio-mem device's sizes, or null when the VM has none. */
export async function readVirtioMem(qmp: QmpClient): Promise<VirtioMemLayout | null> {
  const devs = await qmp.execute("query-memory-devices", {}, memoryDevices);
  for (const d of devs) {
    if (d.type !== "virtio-mem") continue;
    const v = virtioMemData.safeParse(d.data);
    if (!v.success) continue;
    return {
      sizeBytes: v.data.size,
      maxBytes: v.data["max-size"],
      blockBytes: v.data["block-size"],
      requestedBytes: v.data["requested-size"],
    };
  }
  return null;
}

export async function setRequestedSize(qmp: QmpClient, path: string, bytes: number): Promise<void> {
  await qmp.execute("qom-set", { path, property: "requested-size", value: bytes }, anyReply);
}

/** MEMORY_DEVICE_SIZE_CHANGE's new size, or null when it does not parse. */
export function sizeChange(data: unknown): number | null {
  const d = memoryDeviceSizeChange.safeParse(data);
  return d.success ? d.data.size : null;
}
