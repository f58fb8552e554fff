/**
 * `--backend` specs: `sim`, `sim:FILE.yaml`, `qemu:DIR`, `qemu:FILE.yaml`, `libvirt:URI`
 * (`libvirt:qemu:///system`; `libvirt:` alone is libvirt's default URI).
 */
import { fileURLToPath } from "node:url";
import type { Backend } from "../backends/backend.js";
import { LibvirtBackend } from "../backends/libvirt/backend.js";
import { QemuBackend } from "../backends/qemu/backend.js";
import { DiscoveryError } from "../backends/qemu/discovery.js";
import { SimBackend } from "../backends/sim/backend.js";
import { ScenarioError } from "../sim/scenario.js";
import { UsageError } from "./errors.js";

export const DEMO_SCENARIO = fileURLToPath(
  new URL("../../../examples/daemon-demo.yaml", import.meta.url),
);

export function makeBackend(spec: string): Backend {
  try {
    if (spec === "sim") return SimBackend.fromFile(DEMO_SCENARIO);
    if (spec.startsWith("sim:")) return SimBackend.fromFile(spec.slice(4));
    if (spec.startsWith("qemu:")) return new QemuBackend(spec.slice(5));
    if (spec.startsWith("libvirt:")) return new LibvirtBackend(spec.slice(8));
  } catch (e) {
    if (e instanceof ScenarioError || e instanceof DiscoveryError) throw new UsageError(e.message);
    throw e;
  }
  throw new UsageError(
    `--backend: "${spec}" is not known; use sim, sim:FILE.yaml, qemu:DIR, qemu:FILE.yaml or libvirt:URI`,
  );
}
