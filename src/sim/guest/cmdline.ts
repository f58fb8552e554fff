/**
 * The guest kernel command line, as far as ballooning cares: `balloon.max_initial=SIZE`
 * caps how much RAM beyond the populated part the kernel takes on at boot (and so how
 * many struct pages it allocates for ballooning up). Other words are kept, ignored.
 */
import { parseSize, UnitError } from "../../units/index.js";

export interface Cmdline {
  /** Bytes of RAM beyond the populated part the kernel may take on; null = all of it. */
  maxInitialBytes: number | null;
  words: string[];
}

export class CmdlineError extends Error {
  override name = "CmdlineError";
}

export function parseCmdline(text: string): Cmdline {
  const words = text.split(/\s+/).filter((w) => w !== "");
  let maxInitialBytes: number | null = null;
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) continue;
    const key = w.slice(0, eq);
    const value = w.slice(eq + 1);
    if (key === "balloon.max_initial") {
      try {
        maxInitialBytes = parseSize(value);
      } catch (e) {
        if (e instanceof UnitError) throw new CmdlineError(`balloon.max_initial: ${e.message}`);
        throw e;
      }
    }
  }
  return { maxInitialBytes, words };
}
