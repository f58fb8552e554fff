/** The policies, by name. */
import { ballastPolicy } from "./ballast.js";
import { momPolicy } from "./mom.js";
import { nonePolicy } from "./none.js";
import type { Policy } from "./policy.js";
import { proxmoxPolicy } from "./proxmox.js";
import { squeezedPolicy } from "./squeezed.js";

export const POLICIES: Record<string, Policy<unknown>> = {
  none: nonePolicy as Policy<unknown>,
  proxmox: proxmoxPolicy as Policy<unknown>,
  mom: momPolicy as Policy<unknown>,
  squeezed: squeezedPolicy as Policy<unknown>,
  ballast: ballastPolicy as Policy<unknown>,
};

export const POLICY_NAMES = Object.keys(POLICIES);

export function getPolicy(name: string): Policy<unknown> | null {
  return POLICIES[name] ?? null;
}
