/**
 * Which VMs a QEMU backend controls: `qemu:DIR` finds one VM per QMP socket in DIR
 * (`NAME.qmp`; the Ballast agent at `NAME.agent` and qemu-ga at `NAME.qga` if present),
 * `qemu:FILE.yaml` lists them:
 *
 *   vms:
 *     - { name: web, qmp: /run/vm/web.qmp, agent: /run/vm/web.agent, qga: /run/vm/web.qga,
 *         min: 512MiB, max: 2GiB }
 *
 * And, once connected, which of a VM's devices Ballast drives: its virtio-balloon and
 * virtio-mem devices, found by type under /machine/peripheral (devices with an id) and
 * /machine/peripheral-anon (without).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { parseSize } from "../../units/index.js";
import type { QmpClient } from "./qmp.js";
import { qomList } from "./schemas.js";

export interface VmSpec {
  name: string;
  qmp: string;
  agent: string | null;
  /** qemu-ga's socket (org.qemu.guest_agent.0), or null. */
  qga: string | null;
  minBytes?: number;
  maxBytes?: number;
}

export class DiscoveryError extends Error {
  override name = "DiscoveryError";
}

const sizeStr = z.string().transform((v, ctx) => {
  try {
    return parseSize(v, { wholePages: true });
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const fileSchema = z.strictObject({
  vms: z.array(
    z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/),
      qmp: z.string(),
      agent: z.string().optional(),
      qga: z.string().optional(),
      min: sizeStr.optional(),
      max: sizeStr.optional(),
    }),
  ),
});

export function discover(spec: string): VmSpec[] {
  const path = resolve(spec);
  if (!existsSync(path)) throw new DiscoveryError(`qemu:${spec}: no such file or directory`);
  if (statSync(path).isDirectory()) {
    const vms = readdirSync(path)
      .filter((f) => f.endsWith(".qmp"))
      .sort()
      .map((f) => {
        const name = f.slice(0, -4);
        const agent = join(path, `${name}.agent`);
        const qga = join(path, `${name}.qga`);
        return {
          name,
          qmp: join(path, f),
          agent: existsSync(agent) ? agent : null,
          qga: existsSync(qga) ? qga : null,
        };
      });
    return vms;
  }
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new DiscoveryError(`${spec}: ${(e as Error).message}`);
  }
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    throw new DiscoveryError(
      r.error.issues.map((i) => `${spec}: ${i.path.join(".")}: ${i.message}`).join("\n"),
    );
  }
  const base = dirname(path);
  return r.data.vms.map((v) => {
    const out: VmSpec = {
      name: v.name,
      qmp: resolve(base, v.qmp),
      agent: v.agent ? resolve(base, v.agent) : null,
      qga: v.qga ? resolve(base, v.qga) : null,
    };
    if (v.min !== undefined) out.minBytes = v.min;
    if (v.max !== undefined) out.maxBytes = v.max;
    return out;
  });
}

/** QOM paths of the devices Ballast drives in one VM (null where it has none). */
export interface VmDevices {
  balloon: string | null;
  virtioMem: string | null;
}

export async function findDevices(qmp: QmpClient): Promise<VmDevices> {
  const out: VmDevices = { balloon: null, virtioMem: null };
  for (const root of ["/machine/peripheral", "/machine/peripheral-anon"]) {
    const kids = await qmp.execute("qom-list", { path: root }, qomList).catch(() => []);
    for (const k of kids) {
      if (k.type === "child<virtio-balloon-pci>" && !out.balloon) out.balloon = `${root}/${k.name}`;
      if (k.type === "child<virtio-mem-pci>" && !out.virtioMem) out.virtioMem = `${root}/${k.name}`;
    }
  }
  return out;
}
