/**
 * `ballast check`: before a guest is created, would it boot, and what does ballooning
 * up cost? Exit 0 when it boots, 1 when it would not, 2 on bad input.
 *
 *   ballast check --memory 512MiB --maxmem 64GiB [--arch i686] [--cmdline "..."] [--pci-hole 3GiB-4GiB]
 *   ballast check FILE.cfg        (an xl domain config: memory/maxmem in MiB)
 */
import { readFileSync } from "node:fs";
import type { Arch } from "../model/domain.js";
import { bootGuest } from "../sim/guest/boot.js";
import { memMapPages } from "../sim/guest/mem_map.js";
import { CmdlineError, parseCmdline } from "../sim/guest/cmdline.js";
import { defaultGuestE820, guestE820AroundHole } from "../sim/guest/e820.js";
import { parseXlConfig, XlConfigError } from "../sim/host/xlcfg.js";
import { formatSize, PAGE_SIZE, parseSize, UnitError } from "../units/index.js";
import { EXIT_FAILED, EXIT_OK, UsageError } from "./errors.js";
import { parseVerb, verb } from "./usage.js";

export const CHECK = verb({
  name: "check",
  brief: "would this domain boot, and what does ballooning up cost?",
  summary:
    "Before a guest is created: would it boot, and what does ballooning up cost (struct " +
    "pages for maxmem, lowmem on i686)? Exit 0 when it boots, 1 when it would not, 2 on bad input.",
  usage: [
    "check --memory SIZE [--maxmem SIZE] [--arch x86_64|i686] [--cmdline TEXT] [--pci-hole START-END] [--json]",
    "check FILE.cfg [--arch i686] [--cmdline TEXT] [--json]",
  ],
  options: {
    memory: { type: "string", arg: "SIZE", help: "memory at boot (xl's memory=)" },
    maxmem: {
      type: "string",
      arg: "SIZE",
      help: "the most it may balloon up to (xl's maxmem=; default: memory)",
    },
    arch: { type: "string", arg: "ARCH", help: "x86_64 (default) or i686 (32-bit PAE)" },
    cmdline: {
      type: "string",
      arg: "TEXT",
      help: 'the guest kernel command line, e.g. "balloon.max_initial=4GiB"',
    },
    "pci-hole": {
      type: "string",
      arg: "START-END",
      help: "lay RAM out around a PCI hole, e.g. 3GiB-4GiB (an HVM guest)",
    },
    json: {
      type: "boolean",
      default: false,
      help:
        "print {source, arch, memory_bytes, maxmem_bytes, boots, and when it boots " +
        "mem_map_bytes, free_after_boot_bytes, balloon_bytes, lowmem_free_bytes (null on " +
        "x86_64); when it does not, error: {code, message}}",
    },
  },
  notes: ["FILE.cfg is an xl domain configuration: memory and maxmem in MiB, as xl reads them."],
});

const USAGE = `usage: ${CHECK.usage.map((u) => `ballast ${u}`).join("\n       ")}`;

function size(flag: string, v: string | undefined): number {
  if (v === undefined) throw new UsageError(`--${flag} is required\n${USAGE}`);
  try {
    return parseSize(v, { wholePages: true, allowZero: false });
  } catch (e) {
    if (e instanceof UnitError) throw new UsageError(`--${flag}: ${e.message}`);
    throw e;
  }
}

export function checkCommand(args: string[], out: (s: string) => void): number {
  const { values, positionals } = parseVerb(CHECK, args);
  let memory: number;
  let maxmem: number;
  let cmdline = values.cmdline ?? "";
  let hvm = false;
  let source = "command line";
  if (positionals.length === 1) {
    if (values.memory || values.maxmem)
      throw new UsageError(`give a FILE.cfg or --memory/--maxmem, not both\n${USAGE}`);
    const file = positionals[0]!;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    try {
      const cfg = parseXlConfig(text, file);
      memory = cfg.memoryBytes;
      maxmem = cfg.maxmemBytes;
      cmdline = [cfg.cmdline, cmdline].filter((s) => s !== "").join(" ");
      hvm = cfg.hvm;
      source = file;
    } catch (e) {
      if (e instanceof XlConfigError) throw new UsageError(e.message);
      throw e;
    }
  } else if (positionals.length === 0) {
    memory = size("memory", values.memory);
    maxmem = values.maxmem === undefined ? memory : size("maxmem", values.maxmem);
  } else {
    throw new UsageError(USAGE);
  }
  if (maxmem < memory)
    throw new UsageError(`maxmem (${formatSize(maxmem)}) is below memory (${formatSize(memory)})`);
  const arch = (values.arch ?? "x86_64") as Arch;
  if (arch !== "x86_64" && arch !== "i686")
    throw new UsageError(`--arch: x86_64 or i686, not "${values.arch}"`);
  let maxInitial: number | null;
  try {
    maxInitial = parseCmdline(cmdline).maxInitialBytes;
  } catch (e) {
    if (e instanceof CmdlineError) throw new UsageError(`--cmdline: ${e.message}`);
    throw e;
  }
  let e820 = defaultGuestE820(maxmem);
  if (values["pci-hole"]) {
    const m = /^\s*([^-]+?)\s*-\s*([^-]+?)\s*$/.exec(values["pci-hole"]);
    if (!m) throw new UsageError(`--pci-hole: write START-END, e.g. 3GiB-4GiB`);
    e820 = guestE820AroundHole(maxmem, size("pci-hole", m[1]), size("pci-hole", m[2]));
    hvm = true;
  }
  const result = bootGuest({
    arch,
    memoryBytes: memory,
    maxmemBytes: maxmem,
    e820,
    placement: hvm ? "hvm" : "pv",
    maxInitialBytes: maxInitial,
  });
  if (values.json) {
    out(
      JSON.stringify(
        {
          source,
          arch,
          memory_bytes: memory,
          maxmem_bytes: maxmem,
          boots: result.ok,
          ...(result.ok
            ? {
                mem_map_bytes: result.layout.memMapPages * PAGE_SIZE,
                free_after_boot_bytes: result.layout.freePages * PAGE_SIZE,
                balloon_bytes:
                  (result.layout.balloonFrames + result.layout.releasedHoleFrames) * PAGE_SIZE,
                lowmem_free_bytes:
                  result.layout.lowmemFreePages === null
                    ? null
                    : result.layout.lowmemFreePages * PAGE_SIZE,
              }
            : { error: result.error }),
        },
        null,
        2,
      ),
    );
    return result.ok ? EXIT_OK : EXIT_FAILED;
  }
  const what = `${arch} guest, memory ${formatSize(memory)}, maxmem ${formatSize(maxmem)}${cmdline ? `, cmdline "${cmdline}"` : ""}`;
  if (!result.ok) {
    out(`would not boot (${result.error.code}): ${what}\n  ${result.error.message}`);
    return EXIT_FAILED;
  }
  const l = result.layout;
  const b = (p: number) => formatSize(p * PAGE_SIZE);
  const lines = [
    `boots: ${what}`,
    `  struct pages: ${b(l.memMapPages)} for ${b(l.ramFrames - l.truncatedFrames)} of RAM the kernel takes on`,
    `  ballooning up costs ${b(l.memMapPages - memMapPages(arch, l.populatedFrames))} of it (the struct pages for RAM beyond memory)`,
    `  free after boot: ${b(l.freePages)} (kernel ${b(l.kernelPages)}, slab ${b(l.slabPages)})`,
    `  can grow to: ${b(l.ramFrames - l.truncatedFrames)}${l.truncatedFrames > 0 ? ` (balloon.max_initial drops ${b(l.truncatedFrames)})` : ""}`,
  ];
  if (l.lowmemFreePages !== null)
    lines.push(`  lowmem free: ${b(l.lowmemFreePages)} of ${b(l.lowmemFrames!)}`);
  out(lines.join("\n"));
  return EXIT_OK;
}
