/**
 * Targets for simulated guests, through the toolstack's `mem-set` (src/sim/host/
 * toolstack.ts): its checks (maxmem, the floor, the host), then the guest's balloon
 * driver, and on a KVM host virtio-mem above boot memory, as the QEMU backend does.
 */
import type { CommandResult } from "../../sim/host/toolstack.js";
import type { World } from "../../sim/world.js";
import type { BackendResult, SetTargetOptions } from "../backend.js";

export function setSimTarget(
  world: World,
  name: string,
  bytes: number,
  opts: SetTargetOptions = {},
): BackendResult {
  return result(
    world.runCommand({
      verb: "mem-set",
      domain: name,
      bytes,
      force: !!opts.force,
      dryRun: !!opts.dryRun,
    }),
  );
}

/** The toolstack's answer as a backend's. */
export function result(r: CommandResult): BackendResult {
  return r.code === undefined
    ? { ok: r.ok, message: r.message }
    : { ok: r.ok, code: r.code, message: r.message };
}
