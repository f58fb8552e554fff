/**
 * virtio-balloon through libvirt. `virsh setmem NAME SIZE --live` moves the balloon
 * (virDomainSetMemoryFlags; libvirt passes it to QEMU's `balloon` and refuses more than
 * the boot memory: "cannot set memory higher than max memory", measured on libvirt 9.0).
 * libvirt's balloon.current is the balloon's actual plus what virtio-mem has plugged.
 * `virsh dommemstat NAME --period N --live` switches the guest's statistics on, as
 * <memballoon><stats period='N'/> does at start.
 */
import { KiB } from "../../units/index.js";
import type { Virsh } from "./virsh.js";

export async function setBalloon(v: Virsh, name: string, bytes: number): Promise<void> {
  await v.run("setmem", name, `${Math.floor(bytes / KiB)}KiB`, "--live");
}

export async function enableStatsPeriod(v: Virsh, name: string, seconds: number): Promise<void> {
  await v.run("dommemstat", name, "--period", String(seconds), "--live");
}
