/**
 * Xen's `dom0_mem=` option: `[min:SIZE,][max:SIZE,][SIZE]` in any order, as Xen's
 * parse_dom0_mem() reads it. The amount is what dom0 boots with (clamped to min/max);
 * `max:` caps how far dom0 may balloon up.
 */
import { parseSize, UnitError } from "../../units/index.js";

export interface Dom0Mem {
  amountBytes: number;
  minBytes: number | null;
  maxBytes: number | null;
}

export class Dom0MemError extends Error {
  override name = "Dom0MemError";
}

export function parseDom0Mem(text: string): Dom0Mem {
  let amount: number | null = null;
  let min: number | null = null;
  let max: number | null = null;
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (part === "") throw new Dom0MemError(`dom0_mem "${text}": empty item`);
    try {
      if (part.startsWith("min:")) min = parseSize(part.slice(4), { wholePages: true });
      else if (part.startsWith("max:")) max = parseSize(part.slice(4), { wholePages: true });
      else if (amount === null) amount = parseSize(part, { wholePages: true, allowZero: false });
      else throw new Dom0MemError(`dom0_mem "${text}": two amounts ("${part}")`);
    } catch (e) {
      if (e instanceof UnitError) throw new Dom0MemError(`dom0_mem "${text}": ${e.message}`);
      throw e;
    }
  }
  if (amount === null) {
    if (max === null) throw new Dom0MemError(`dom0_mem "${text}": no amount, e.g. "4GiB,max:8GiB"`);
    amount = max;
  }
  if (min !== null && max !== null && min > max) {
    throw new Dom0MemError(`dom0_mem "${text}": min is above max`);
  }
  if (min !== null) amount = Math.max(amount, min);
  if (max !== null) amount = Math.min(amount, max);
  return { amountBytes: amount, minBytes: min, maxBytes: max };
}
