/**
 * The policies, by name, and policy specs: a name with options, `NAME[:KEY=VALUE,...]`.
 *
 * Options (all others are refused, with the reason):
 * - `squeezed:free-target=SIZE`: the host free memory squeezed keeps
 *   (target_host_free_mem_kib); 72MiB by default, as xen-api since CA-423173
 *   (January 2026); `squeezed:free-target=9MiB` is the value before it.
 */
import { formatSize, KiB, parseSize, UnitError } from "../units/index.js";
import { ballastPolicy } from "./ballast/index.js";
import { momPolicy } from "./mom.js";
import { nonePolicy } from "./none.js";
import type { Policy } from "./policy.js";
import { proxmoxPolicy } from "./proxmox.js";
import { makeSqueezedPolicy, squeezedPolicy } from "./squeezed.js";

export const POLICIES: Record<string, Policy<unknown>> = {
  none: nonePolicy as Policy<unknown>,
  proxmox: proxmoxPolicy as Policy<unknown>,
  mom: momPolicy as Policy<unknown>,
  squeezed: squeezedPolicy as Policy<unknown>,
  ballast: ballastPolicy as Policy<unknown>,
};

export const POLICY_NAMES = Object.keys(POLICIES);

/** A policy spec that names no policy or has options that policy does not take. */
export class PolicySpecError extends Error {}

type OptionParser = (options: Map<string, string>, spec: string) => Policy<unknown>;

const OPTIONS: Record<string, { keys: string[]; make: OptionParser }> = {
  squeezed: {
    keys: ["free-target"],
    make: (options, spec) => {
      const text = options.get("free-target")!;
      let bytes: number;
      try {
        bytes = parseSize(text);
      } catch (e) {
        throw new PolicySpecError(`policy "${spec}": free-target: ${(e as UnitError).message}`);
      }
      if (bytes % KiB !== 0)
        throw new PolicySpecError(
          `policy "${spec}": free-target: squeezed counts in KiB; ${text} is not a whole number of KiB`,
        );
      return makeSqueezedPolicy({
        freeTargetBytes: bytes,
        name: `squeezed:free-target=${formatSize(bytes, { exact: true })}`,
      }) as Policy<unknown>;
    },
  },
};

/**
 * The policy a spec names: `squeezed`, `squeezed:free-target=9MiB`. Throws
 * PolicySpecError naming what is wrong; the policy's `name` is the spec, normalised.
 */
export function parsePolicy(spec: string): Policy<unknown> {
  const text = spec.trim();
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  const base = POLICIES[name];
  if (!base)
    throw new PolicySpecError(`unknown policy "${name}" (known: ${POLICY_NAMES.join(", ")})`);
  if (colon < 0) return base;
  const opts = OPTIONS[name];
  if (!opts) throw new PolicySpecError(`policy "${name}" takes no options (in "${text}")`);
  const options = new Map<string, string>();
  for (const item of text.slice(colon + 1).split(",")) {
    const eq = item.indexOf("=");
    const key = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (eq < 0 || key === "" || item.slice(eq + 1).trim() === "")
      throw new PolicySpecError(
        `policy "${text}": write options as KEY=VALUE, e.g. ${name}:${opts.keys[0]}=9MiB`,
      );
    if (!opts.keys.includes(key))
      throw new PolicySpecError(
        `policy "${text}": unknown option "${key}" (${name} takes: ${opts.keys.join(", ")})`,
      );
    if (options.has(key)) throw new PolicySpecError(`policy "${text}": "${key}" given twice`);
    options.set(key, item.slice(eq + 1).trim());
  }
  return opts.make(options, text);
}

/** The policy a spec names, or null if it names none (parsePolicy says why). */
export function getPolicy(spec: string): Policy<unknown> | null {
  try {
    return parsePolicy(spec);
  } catch (e) {
    if (e instanceof PolicySpecError) return null;
    throw e;
  }
}
