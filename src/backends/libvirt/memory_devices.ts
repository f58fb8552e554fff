/**
 * virtio-mem through libvirt: `virsh update-memory-device NAME --alias A --requested-size
 * SIZE --live` sets the device's requested size (libvirt 7.9 and later); libvirt follows
 * QEMU's MEMORY_DEVICE_SIZE_CHANGE into the live XML's <current>, which dumpxml reads
 * back (discovery.ts). mem-max cannot change a running QEMU's maximum; what an operator
 * gives Ballast is kept in the domain's own <metadata> (`virsh metadata --live`, and
 * --config too for a persistent domain), so it outlives Ballast and other tools see it.
 */
import { KiB } from "../../units/index.js";
import { METADATA_KEY, METADATA_URI } from "./discovery.js";
import type { Virsh } from "./virsh.js";

export async function setRequestedSize(
  v: Virsh,
  name: string,
  alias: string,
  bytes: number,
): Promise<void> {
  await v.run(
    "update-memory-device",
    name,
    "--alias",
    alias,
    "--requested-size",
    `${Math.floor(bytes / KiB)}KiB`,
    "--live",
  );
}

export async function setMaxmemCap(
  v: Virsh,
  name: string,
  bytes: number,
  persistent: boolean,
): Promise<void> {
  const args = [
    "metadata",
    name,
    "--uri",
    METADATA_URI,
    "--key",
    METADATA_KEY,
    "--set",
    `<memory maxmem-bytes='${bytes}'/>`,
    "--live",
  ];
  if (persistent) args.push("--config");
  await v.run(...args);
}
