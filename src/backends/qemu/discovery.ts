/**
 * Which VMs a QEMU backend controls: `qemu:DIR` finds one VM per QMP socket in DIR
 * (`NAME.qmp`; the guest agent at `NAME.agent` if present), `qemu:FILE.yaml` lists them:
 *
 *   vms:
 *     - { name: web, qmp: /run/vm/web.qmp, agent: /run/vm/web.agent, min: 512MiB, max: 2GiB }
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { parseSize } from "../../units/index.js";

export interface VmSpec {
  name: string;
  qmp: string;
  agent: string | null;
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
        return { name, qmp: join(path, f), agent: existsSync(agent) ? agent : null };
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
    };
    if (v.min !== undefined) out.minBytes = v.min;
    if (v.max !== undefined) out.maxBytes = v.max;
    return out;
  });
}
