/**
 * Scenario files (YAML), the contract in DESIGN.md: read, validated whole, and resolved
 * into bytes and milliseconds before anything runs. Every problem is reported with
 * the file, line and field; a file with any problem runs nothing.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isMap, LineCounter, parseDocument, visit } from "yaml";
import { z } from "zod";
import type { Arch } from "../model/domain.js";
import type { GuestSettings } from "../model/settings.js";
import { MiB, PAGE_SIZE, parseDuration, parseRate, parseSize, UnitError } from "../units/index.js";
import { CmdlineError, parseCmdline } from "./guest/cmdline.js";
import { DEFAULT_READ_RATE_BYTES_PER_S } from "./guest/costs.js";
import { type E820Entry, E820Error, ramBytes, ramOverlaps, validateE820 } from "./guest/e820.js";
import { Dom0MemError, parseDom0Mem } from "./host/dom0.js";
import type { DomainSpec } from "./host/domain_builder.js";
import { type Command, CommandError, parseCommand } from "./host/toolstack.js";
import type { PhaseSpec, WorkloadSpec } from "./workload/spec.js";
import { parseTraceCsv, TraceError } from "./workload/trace.js";

export interface ScenarioEvent {
  atMs: number;
  run: string;
  command: Command;
}

export type HypervisorKind = "xen" | "kvm";

export interface Scenario {
  seed: number;
  durationMs: number;
  tickMs: number;
  /** Report a time series every this many ms (`samples:`); null: none. */
  samplesMs: number | null;
  host: {
    /** xen: domains populated at build, drivers/xen/balloon.c; kvm: RAM backed on first
     * touch, virtio_balloon, free page reporting, virtio-mem. */
    hypervisor: HypervisorKind;
    memoryBytes: number;
    reserveBytes: number;
    e820: E820Entry[] | null;
    dom0: {
      mem: ReturnType<typeof parseDom0Mem>;
      cmdline: string;
      workload: WorkloadSpec;
      swapBytes: number;
    } | null;
  };
  domains: DomainSpec[];
  events: ScenarioEvent[];
}

/** At most this many problems are printed; a file of garbage has thousands. */
export const MAX_PROBLEMS_SHOWN = 20;
/** A problem line is cut here: YAML quotes the offending text, which may be huge. */
const MAX_PROBLEM_CHARS = 300;
/** Larger than any scenario a person writes; refused before it is parsed. */
export const MAX_SCENARIO_BYTES = 4 * 1024 * 1024;

function shown(problems: string[]): string {
  const cut = (p: string) =>
    p.length > MAX_PROBLEM_CHARS ? `${p.slice(0, MAX_PROBLEM_CHARS)}... (cut)` : p;
  const lines = problems.slice(0, MAX_PROBLEMS_SHOWN).map(cut);
  if (problems.length > MAX_PROBLEMS_SHOWN)
    lines.push(`... and ${problems.length - MAX_PROBLEMS_SHOWN} more problems`);
  return lines.join("\n");
}

export class ScenarioError extends Error {
  override name = "ScenarioError";
  constructor(readonly problems: string[]) {
    super(shown(problems));
  }
}

// ---- field schemas --------------------------------------------------------------------

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "number") {
    if (v === 0) return 0;
    ctx.addIssue({
      code: "custom",
      message: `bare number ${v}: which unit? write e.g. ${v}MiB or ${v}GiB`,
    });
    return z.NEVER;
  }
  try {
    return parseSize(v, { wholePages: true });
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "number") {
    if (v === 0) return 0;
    ctx.addIssue({ code: "custom", message: `bare number ${v}: write ${v}s or ${v}ms` });
    return z.NEVER;
  }
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const rate = z.string().transform((v, ctx) => {
  try {
    return parseRate(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "names are letters, digits, '_', '.', '-' (no spaces)");

const e820Entry = z.strictObject({
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  type: z.enum(["ram", "reserved", "acpi", "nvs", "unusable"]),
});

const processSchema = z.strictObject({
  name,
  anon: size,
  hot: size.optional(),
  start: duration.optional(),
  leak: rate.optional(),
  periodic: z.strictObject({ period: duration, anon: size, hot: size.optional() }).optional(),
  spikes: z
    .strictObject({
      every: duration,
      length: duration,
      anon: size,
      hot: size.optional(),
      jitter: duration.optional(),
    })
    .optional(),
});

const fileSchema = z.strictObject({
  name,
  size,
  hot: size.optional(),
  start: duration.optional(),
  read_rate: rate.optional(),
});

const phaseSchema = z.strictObject({
  at: duration,
  over: duration.optional(),
  process: z.string().optional(),
  file: z.string().optional(),
  anon: size.optional(),
  hot: size.optional(),
  size: size.optional(),
});

const fraction = z.number().min(0).max(1);

const workloadSchema = z.strictObject({
  processes: z.array(processSchema).optional(),
  files: z.array(fileSchema).optional(),
  phases: z.array(phaseSchema).optional(),
  trace: z
    .strictObject({
      file: z.string(),
      name: name.optional(),
      hot: fraction.optional(),
      file_hot: fraction.optional(),
    })
    .optional(),
});

const domainSchema = z.strictObject({
  name,
  memory: size,
  maxmem: size.optional(),
  arch: z.enum(["x86_64", "i686"]).optional(),
  cmdline: z.string().optional(),
  e820: z.array(e820Entry).optional(),
  pci_hole: z.string().optional(),
  swap: size.optional(),
  deflate_on_oom: z.boolean().optional(),
  balloon_rate: rate.optional(),
  inflate_rate: rate.optional(),
  deflate_rate: rate.optional(),
  free_page_reporting: z.boolean().optional(),
  workload: workloadSchema.optional(),
  settings: z
    .strictObject({
      min: size.optional(),
      max: size.optional(),
      weight: z.number().positive().max(10000).optional(),
      buffer: z.number().min(0).max(2000).optional(),
    })
    .optional(),
  lie: z.enum(["hog", "garbage"]).optional(),
  start: duration.optional(),
});

const scenarioSchema = z.strictObject({
  seed: z.number().int().nonnegative().optional(),
  duration,
  tick: duration.optional(),
  samples: duration.optional(),
  host: z.strictObject({
    hypervisor: z.enum(["xen", "kvm"]).optional(),
    memory: size,
    reserve: size.optional(),
    e820: z.array(e820Entry).optional(),
    dom0: z
      .strictObject({
        dom0_mem: z.string(),
        cmdline: z.string().optional(),
        swap: size.optional(),
        workload: workloadSchema.optional(),
      })
      .optional(),
  }),
  domains: z.array(domainSchema).default([]),
  events: z.array(z.strictObject({ at: duration, run: z.string() })).default([]),
});

type RawWorkload = z.infer<typeof workloadSchema>;

// ---- loading --------------------------------------------------------------------------

/** Where in the YAML a field path points, as "file:line". */
function locator(text: string, source: string) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  return {
    doc,
    /** "file:line" for a character offset (YAML's errors carry offsets, not lines). */
    lineOf(offset: number): string {
      return `${source}:${lineCounter.linePos(offset).line}`;
    },
    at(path: readonly (string | number)[]): string {
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as
          { range?: [number, number, number] } | undefined;
        if (node && typeof node === "object" && node.range) {
          return `${source}:${lineCounter.linePos(node.range[0]).line}`;
        }
      }
      return source;
    },
  };
}

function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
    .join("");
}

/** Parse and validate scenario text. `source` names it in messages; `baseDir` resolves trace files. */
export function parseScenario(text: string, source: string, baseDir: string): Scenario {
  const loc = locator(text, source);
  if (loc.doc.errors.length > 0) {
    throw new ScenarioError(
      loc.doc.errors.map((e) => `${loc.lineOf(e.pos[0])}: YAML: ${e.message.split("\n")[0]}`),
    );
  }
  let data: unknown;
  try {
    // An alias to no anchor, or aliases that multiply (a "billion laughs" file), throw here.
    data = loc.doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    let where = source;
    visit(loc.doc, {
      Alias(_, node) {
        if (node.range && where === source) where = loc.lineOf(node.range[0]);
      },
    });
    throw new ScenarioError([`${where}: YAML: ${(e as Error).message}`]);
  }
  if (!isMap(loc.doc.contents) && !(data && typeof data === "object")) {
    throw new ScenarioError([
      `${source}: a scenario is a YAML mapping (seed, duration, host, domains, events)`,
    ]);
  }
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) {
    throw new ScenarioError(
      parsed.error.issues.map((i) => {
        const path = i.path as (string | number)[];
        const field = fieldName(path);
        return `${loc.at(path)}: ${field || "(top)"}: ${i.message}`;
      }),
    );
  }
  const raw = parsed.data;
  const problems: string[] = [];
  const problem = (path: (string | number)[], message: string) =>
    problems.push(`${loc.at(path)}: ${fieldName(path)}: ${message}`);

  const tickMs = raw.tick ?? 100;
  if (tickMs <= 0) problem(["tick"], "must be above 0");
  if (raw.duration <= 0) problem(["duration"], "must be above 0");
  if (tickMs > 0 && raw.duration % tickMs !== 0)
    problem(["duration"], `must be a whole number of ticks (${tickMs} ms)`);

  const samplesMs = raw.samples ?? null;
  if (samplesMs !== null) {
    if (samplesMs <= 0) problem(["samples"], "must be above 0");
    else if (tickMs > 0 && samplesMs % tickMs !== 0)
      problem(["samples"], `must be a whole number of ticks (${tickMs} ms)`);
  }

  const hypervisor: HypervisorKind = raw.host.hypervisor ?? "xen";
  const kvm = hypervisor === "kvm";
  const reserve = raw.host.reserve ?? 0;
  if (reserve > raw.host.memory) problem(["host", "reserve"], "is larger than host memory");
  if (kvm && raw.host.dom0)
    problem(
      ["host", "dom0"],
      "a KVM host has no dom0 (the host's own memory is host.reserve); use hypervisor: xen",
    );
  if (kvm && raw.host.e820)
    problem(["host", "e820"], "is for a Xen host's dom0; a KVM host has no dom0");

  let hostE820: E820Entry[] | null = null;
  if (raw.host.e820) {
    try {
      validateE820(raw.host.e820);
      hostE820 = raw.host.e820;
      const ram = ramBytes(hostE820);
      if (ram !== raw.host.memory) {
        problem(
          ["host", "e820"],
          `its RAM adds up to ${ram} bytes but host.memory is ${raw.host.memory}; make them agree`,
        );
      }
    } catch (e) {
      if (e instanceof E820Error) problem(["host", "e820"], e.message);
      else throw e;
    }
  }

  const resolveWorkload = (w: RawWorkload | undefined, path: (string | number)[]): WorkloadSpec => {
    const out: WorkloadSpec = { processes: [], files: [], phases: [], trace: null };
    if (!w) return out;
    const names = new Set<string>();
    (w.processes ?? []).forEach((p, i) => {
      if (names.has(p.name))
        problem([...path, "processes", i, "name"], `duplicate name "${p.name}"`);
      names.add(p.name);
      const hot = p.hot ?? 0;
      if (hot > p.anon) problem([...path, "processes", i, "hot"], "is larger than anon");
      if (p.periodic && p.periodic.period <= 0)
        problem([...path, "processes", i, "periodic", "period"], "must be above 0");
      if (p.spikes && p.spikes.every <= 0)
        problem([...path, "processes", i, "spikes", "every"], "must be above 0");
      out.processes.push({
        name: p.name,
        anon: p.anon,
        hot,
        startMs: p.start ?? 0,
        leakBytesPerS: p.leak ?? 0,
        periodic: p.periodic
          ? { periodMs: p.periodic.period, anon: p.periodic.anon, hot: p.periodic.hot ?? 0 }
          : null,
        spikes: p.spikes
          ? {
              everyMs: p.spikes.every,
              lengthMs: p.spikes.length,
              anon: p.spikes.anon,
              hot: p.spikes.hot ?? 0,
              jitterMs: p.spikes.jitter ?? 0,
            }
          : null,
      });
    });
    const fileNames = new Set<string>();
    (w.files ?? []).forEach((f, i) => {
      if (fileNames.has(f.name))
        problem([...path, "files", i, "name"], `duplicate name "${f.name}"`);
      fileNames.add(f.name);
      const hot = f.hot ?? 0;
      if (hot > f.size) problem([...path, "files", i, "hot"], "is larger than size");
      out.files.push({
        name: f.name,
        size: f.size,
        hot,
        startMs: f.start ?? 0,
        readRateBytesPerS: f.read_rate ?? DEFAULT_READ_RATE_BYTES_PER_S,
      });
    });
    if (w.trace) {
      const tname = w.trace.name ?? "trace";
      if (names.has(tname))
        problem([...path, "trace", "name"], `"${tname}" is also a process name`);
      names.add(tname);
      fileNames.add(`${tname}-cache`);
      const file = resolve(baseDir, w.trace.file);
      try {
        const points = parseTraceCsv(readFileSync(file, "utf8"), w.trace.file);
        out.trace = {
          name: tname,
          points,
          hotFraction: w.trace.hot ?? 0.5,
          fileHotFraction: w.trace.file_hot ?? 0,
        };
      } catch (e) {
        if (e instanceof TraceError) problem([...path, "trace", "file"], e.message);
        else
          problem(
            [...path, "trace", "file"],
            `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
          );
      }
    }
    const phases: PhaseSpec[] = [];
    (w.phases ?? []).forEach((ph, i) => {
      const p = [...path, "phases", i];
      if ((ph.process === undefined) === (ph.file === undefined)) {
        problem(p, "names exactly one of process or file");
        return;
      }
      if (ph.process !== undefined && !names.has(ph.process))
        problem([...p, "process"], `no process named "${ph.process}"`);
      if (ph.file !== undefined && !fileNames.has(ph.file))
        problem([...p, "file"], `no file named "${ph.file}"`);
      if (ph.process !== undefined && ph.size !== undefined)
        problem([...p, "size"], "is for files; processes take anon and hot");
      if (ph.file !== undefined && ph.anon !== undefined)
        problem([...p, "anon"], "is for processes; files take size and hot");
      const spec: PhaseSpec = { atMs: ph.at, overMs: ph.over ?? 0 };
      if (ph.process !== undefined) spec.process = ph.process;
      if (ph.file !== undefined) spec.file = ph.file;
      if (ph.anon !== undefined) spec.anon = ph.anon;
      if (ph.hot !== undefined) spec.hot = ph.hot;
      if (ph.size !== undefined) spec.size = ph.size;
      phases.push(spec);
    });
    // Stable order by time; phases at the same time keep file order.
    out.phases = phases
      .map((p, i) => [p, i] as const)
      .sort((a, b) => a[0].atMs - b[0].atMs || a[1] - b[1])
      .map(([p]) => p);
    return out;
  };

  const resolveSettings = (
    raw: z.infer<typeof domainSchema>["settings"],
    maxmem: number,
    path: (string | number)[],
  ): Partial<GuestSettings> | undefined => {
    if (!raw) return undefined;
    const out: Partial<GuestSettings> = {};
    if (raw.min !== undefined) out.minBytes = raw.min;
    if (raw.max !== undefined) out.maxBytes = raw.max;
    if (raw.weight !== undefined) out.weight = raw.weight;
    if (raw.buffer !== undefined) out.bufferPct = raw.buffer;
    if (raw.max !== undefined && raw.max > maxmem)
      problem([...path, "max"], "is above the domain's maxmem");
    if (raw.min !== undefined && raw.min > (raw.max ?? maxmem))
      problem([...path, "min"], "is above max");
    return out;
  };

  let dom0: Scenario["host"]["dom0"] = null;
  if (raw.host.dom0) {
    try {
      const mem = parseDom0Mem(raw.host.dom0.dom0_mem);
      if (mem.amountBytes > raw.host.memory - reserve) {
        problem(["host", "dom0", "dom0_mem"], "is more than the host's memory less its reserve");
      }
      const cmdline = raw.host.dom0.cmdline ?? "";
      parseCmdline(cmdline);
      dom0 = {
        mem,
        cmdline,
        workload: resolveWorkload(raw.host.dom0.workload, ["host", "dom0", "workload"]),
        swapBytes: raw.host.dom0.swap ?? 0,
      };
    } catch (e) {
      if (e instanceof Dom0MemError) problem(["host", "dom0", "dom0_mem"], e.message);
      else if (e instanceof CmdlineError) problem(["host", "dom0", "cmdline"], e.message);
      else throw e;
    }
  }

  const seen = new Set<string>(dom0 ? ["Domain-0"] : []);
  const domains: DomainSpec[] = [];
  raw.domains.forEach((d, i) => {
    const p = (...rest: (string | number)[]) => ["domains", i, ...rest];
    if (seen.has(d.name)) problem(p("name"), `duplicate domain name "${d.name}"`);
    seen.add(d.name);
    const maxmem = d.maxmem ?? d.memory;
    if (d.memory === 0) problem(p("memory"), "must be above 0");
    if (maxmem < d.memory) problem(p("maxmem"), `is below memory (${d.memory / MiB} MiB)`);
    let cmdline = d.cmdline ?? "";
    try {
      parseCmdline(cmdline);
    } catch (e) {
      if (e instanceof CmdlineError) problem(p("cmdline"), e.message);
      else throw e;
      cmdline = "";
    }
    let e820: E820Entry[] | null = null;
    if (d.e820) {
      try {
        validateE820(d.e820);
        e820 = d.e820;
      } catch (e) {
        if (e instanceof E820Error) problem(p("e820"), e.message);
        else throw e;
      }
    }
    let pciHole: { start: number; end: number } | null = null;
    if (d.pci_hole !== undefined) {
      if (d.e820) problem(p("pci_hole"), "give either e820 or pci_hole, not both");
      const m = /^\s*([^-]+?)\s*-\s*([^-]+?)\s*$/.exec(d.pci_hole);
      if (!m) problem(p("pci_hole"), `write START-END, e.g. 3GiB-4GiB (got "${d.pci_hole}")`);
      else {
        try {
          const start = parseSize(m[1]!, { wholePages: true });
          const end = parseSize(m[2]!, { wholePages: true });
          if (end <= start) problem(p("pci_hole"), "end must be above start");
          else if (start === 0)
            problem(p("pci_hole"), "cannot start at 0: the guest needs low RAM");
          else pciHole = { start, end };
        } catch (e) {
          if (e instanceof UnitError) problem(p("pci_hole"), e.message);
          else throw e;
        }
      }
    }
    if (kvm) {
      if (d.e820)
        problem(p("e820"), "a KVM guest's E820 is QEMU's (pc machine); give it on a Xen host");
      if (d.pci_hole !== undefined)
        problem(p("pci_hole"), "a KVM guest's RAM is laid out by QEMU; give it on a Xen host");
      if (parseCmdlineSafe(cmdline)?.maxInitialBytes != null)
        problem(
          p("cmdline"),
          "balloon.max_initial is Xen's balloon (a KVM guest grows through virtio-mem)",
        );
    } else if (d.free_page_reporting) {
      problem(p("free_page_reporting"), "is virtio-balloon's (kvm hosts only)");
    }
    if (e820 && ramBytes(e820) === 0) problem(p("e820"), "has no RAM");
    if (e820 && pciHole && ramOverlaps(e820, pciHole.start, pciHole.end)) {
      problem(p("e820"), "has RAM inside pci_hole");
    }
    domains.push({
      name: d.name,
      memoryBytes: d.memory,
      maxmemBytes: maxmem,
      arch: (d.arch ?? "x86_64") as Arch,
      cmdline,
      e820,
      pciHole,
      swapBytes: d.swap ?? 0,
      deflateOnOom: d.deflate_on_oom ?? false,
      inflateRateBytesPerS: d.inflate_rate ?? d.balloon_rate ?? null,
      deflateRateBytesPerS: d.deflate_rate ?? d.balloon_rate ?? null,
      freePageReporting: d.free_page_reporting ?? false,
      workload: resolveWorkload(d.workload, p("workload")),
      settings: resolveSettings(d.settings, maxmem, p("settings")),
      lie: d.lie ?? null,
      startMs: d.start ?? 0,
    });
    if ((d.start ?? 0) > raw.duration) problem(p("start"), "is after the end of the scenario");
  });
  raw.domains.forEach((d, i) => {
    for (const k of ["balloon_rate", "inflate_rate", "deflate_rate"] as const) {
      const v = d[k];
      if (v !== undefined && v < PAGE_SIZE) problem(["domains", i, k], "must be at least 4KiB/s");
    }
  });

  const events: ScenarioEvent[] = [];
  raw.events.forEach((ev, i) => {
    try {
      const command = parseCommand(ev.run);
      // A domain by name, or by id as xl takes it: ids go 0, 1, ... in creation order
      // (Domain-0 first), so a number below the count of domains is one; the toolstack
      // resolves it when the event runs.
      const ref = "domain" in command ? command.domain : null;
      if (ref !== null && !seen.has(ref) && !(/^\d{1,15}$/.test(ref) && Number(ref) < seen.size)) {
        problem(
          ["events", i, "run"],
          /^\d{1,15}$/.test(ref)
            ? `no domain named "${ref}" and none with id ${Number(ref)} in this scenario (ids 0-${seen.size - 1})`
            : `no domain named "${ref}" in this scenario`,
        );
      }
      if (ev.at > raw.duration) problem(["events", i, "at"], "is after the end of the scenario");
      events.push({ atMs: ev.at, run: ev.run, command });
    } catch (e) {
      if (e instanceof CommandError) problem(["events", i, "run"], e.message);
      else throw e;
    }
  });
  if (problems.length > 0) throw new ScenarioError(problems);
  events.sort((a, b) => a.atMs - b.atMs);

  return {
    seed: raw.seed ?? 1,
    durationMs: raw.duration,
    tickMs,
    samplesMs,
    host: { hypervisor, memoryBytes: raw.host.memory, reserveBytes: reserve, e820: hostE820, dom0 },
    domains,
    events,
  };
}

function parseCmdlineSafe(text: string) {
  try {
    return parseCmdline(text);
  } catch {
    return null;
  }
}

/**
 * The same scenario on the other kind of host (the policy bench runs each on both).
 * To kvm: dom0's memory becomes the host's reserve (a KVM host's own OS), its events
 * are dropped; guests lose Xen-only layout (explicit E820, PCI hole, balloon.max_initial)
 * and grow above boot memory through virtio-mem instead. To xen: free page reporting
 * goes (Xen has none). Rates set explicitly are kept; defaults are each driver's own.
 * Pure: returns a new scenario.
 */
export function withHypervisor(scenario: Scenario, kind: HypervisorKind): Scenario {
  const host = { ...scenario.host, hypervisor: kind };
  let events = scenario.events;
  if (kind === "kvm" && scenario.host.dom0) {
    host.reserveBytes += scenario.host.dom0.mem.amountBytes;
    host.dom0 = null;
    events = events.filter((e) => !("domain" in e.command) || e.command.domain !== "Domain-0");
  }
  if (kind === "kvm") host.e820 = null;
  const domains = scenario.domains.map((d): DomainSpec => {
    if (kind === "xen") return { ...d, freePageReporting: false };
    const words = d.cmdline
      .split(/\s+/)
      .filter((w) => w !== "" && !w.startsWith("balloon.max_initial="));
    return { ...d, e820: null, pciHole: null, cmdline: words.join(" ") };
  });
  return { ...scenario, host, domains, events };
}

/**
 * A scenario file's text, or why it is not one: unreadable, too large, or not text (a
 * NUL byte or bytes that are not UTF-8), so that a binary file given by mistake gets one
 * line, not a page of YAML errors per stray byte.
 */
export function readScenarioText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ScenarioError([
      `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    ]);
  }
  if (bytes.length > MAX_SCENARIO_BYTES) {
    throw new ScenarioError([
      `${file}: ${bytes.length} bytes is too large for a scenario (at most ${MAX_SCENARIO_BYTES}); is it the right file?`,
    ]);
  }
  const nul = bytes.indexOf(0);
  const lineAt = (offset: number) =>
    bytes.subarray(0, offset).toString("latin1").split("\n").length;
  if (nul >= 0) {
    throw new ScenarioError([
      `${file}:${lineAt(nul)}: not a text file (a NUL byte at offset ${nul}); a scenario is YAML text`,
    ]);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ScenarioError([`${file}: not UTF-8 text; a scenario is YAML text in UTF-8`]);
  }
}

export function loadScenario(file: string): Scenario {
  return parseScenario(readScenarioText(file), file, dirname(resolve(file)));
}
