/**
 * The ceiling of a simulated guest's memory, through the toolstack's `mem-max`: xl's
 * maxmem on a Xen host, the cap on virtio-mem's plugged size on a KVM host (its device
 * size stays what the scenario built).
 */
import type { World } from "../../sim/world.js";
import type { BackendResult } from "../backend.js";
import { result } from "./balloon.js";

export function setSimMax(world: World, name: string, bytes: number): BackendResult {
  return result(world.runCommand({ verb: "mem-max", domain: name, bytes }));
}
