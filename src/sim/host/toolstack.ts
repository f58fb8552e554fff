/**
 * The toolstack's verbs, with xl's names and syntax: `list`, `mem-set DOMAIN SIZE
 * [--force]`, `mem-max DOMAIN SIZE`, `destroy DOMAIN`. Scenario events and the CLI use
 * the same parser. A refused command changes nothing and says why, with a code.
 *
 * Growing a domain the host cannot supply is not refused: as with xl mem-set, the
 * target is written and the balloon driver waits for frames (deflate-stalled), retrying
 * with backoff. Building a domain the host cannot supply is refused (domain_builder).
 */
import { findDomain, noSuchDomain } from "../../model/domain.js";
import type { EventType, RefusalCode } from "../../model/events.js";
import { belowFloorMessage, computeFloor, describeChange } from "../../model/floor.js";
import { formatSize, PAGE_SIZE, parseSize, UnitError } from "../../units/index.js";
import type { SimDomain } from "./domain_builder.js";
import type { Hypervisor } from "./hypervisor.js";

export type Command =
  | { verb: "list" }
  | { verb: "mem-set"; domain: string; bytes: number; force: boolean; dryRun: boolean }
  | { verb: "mem-max"; domain: string; bytes: number }
  | { verb: "destroy"; domain: string };

export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
  }
}

const USAGE =
  "commands: list | mem-set DOMAIN SIZE [--force] | mem-max DOMAIN SIZE | destroy DOMAIN";

/** Parse one command line. Throws CommandError (bad-command or bad-size). */
export function parseCommand(text: string): Command {
  const words = text
    .trim()
    .split(/\s+/)
    .filter((w) => w !== "");
  const flags = words.filter((w) => w.startsWith("--"));
  const args = words.filter((w) => !w.startsWith("--"));
  const verb = args[0];
  const allowFlags = (allowed: string[]) => {
    for (const f of flags) {
      if (!allowed.includes(f))
        throw new CommandError("bad-command", `${verb}: unknown option ${f}`);
    }
  };
  const size = (s: string | undefined) => {
    if (s === undefined) throw new CommandError("bad-command", `${verb}: missing SIZE (${USAGE})`);
    try {
      return parseSize(s, { wholePages: true });
    } catch (e) {
      if (e instanceof UnitError) throw new CommandError("bad-size", e.message);
      throw e;
    }
  };
  switch (verb) {
    case "list":
      allowFlags([]);
      if (args.length !== 1) throw new CommandError("bad-command", `list takes no arguments`);
      return { verb: "list" };
    case "mem-set":
      allowFlags(["--force", "--dry-run"]);
      if (args.length !== 3)
        throw new CommandError("bad-command", `usage: mem-set DOMAIN SIZE [--force]`);
      return {
        verb: "mem-set",
        domain: args[1]!,
        bytes: size(args[2]),
        force: flags.includes("--force"),
        dryRun: flags.includes("--dry-run"),
      };
    case "mem-max":
      allowFlags([]);
      if (args.length !== 3) throw new CommandError("bad-command", `usage: mem-max DOMAIN SIZE`);
      return { verb: "mem-max", domain: args[1]!, bytes: size(args[2]) };
    case "destroy":
      allowFlags([]);
      if (args.length !== 2) throw new CommandError("bad-command", `usage: destroy DOMAIN`);
      return { verb: "destroy", domain: args[1]! };
    default:
      throw new CommandError(
        "bad-command",
        verb === undefined ? `empty command (${USAGE})` : `unknown command "${verb}" (${USAGE})`,
      );
  }
}

export interface ToolstackHost {
  domains: SimDomain[];
  hv: Hypervisor;
  nowMs: number;
  emit(domain: string, type: EventType, message: string, code?: string): void;
  /** Remove a destroyed domain. */
  remove(dom: SimDomain): void;
}

export interface CommandResult {
  ok: boolean;
  code?: RefusalCode;
  message: string;
}

function refuse(
  host: ToolstackHost,
  domain: string,
  type: EventType,
  code: RefusalCode,
  message: string,
): CommandResult {
  host.emit(domain, type, message, code);
  return { ok: false, code, message };
}

/** The domain a command names (its name, or its id as xl takes it), running; or why not. */
function findRunning(host: ToolstackHost, ref: string): SimDomain | string {
  const dom = findDomain(host.domains, ref);
  if (!dom) return noSuchDomain(ref);
  if (dom.state !== "running" || !dom.guest) {
    return `${dom.name} is not running (${dom.bootError ? `boot failed: ${dom.bootError.code}` : dom.state})`;
  }
  return dom;
}

/** Run a parsed command against the host. Emits one event; returns what happened. */
export function execute(host: ToolstackHost, cmd: Command): CommandResult {
  switch (cmd.verb) {
    case "list": {
      const lines = host.domains
        .filter((d) => d.state === "running")
        .map(
          (d) =>
            `${d.name} ${formatSize(d.guest!.shownActual() * PAGE_SIZE)}/${formatSize(d.targetBytes)}`,
        );
      const message = `free ${formatSize(host.hv.freePages * PAGE_SIZE)}; ${lines.join(", ")}`;
      host.emit("-", "list", message);
      return { ok: true, message };
    }
    case "mem-set":
      return memSet(host, cmd);
    case "mem-max": {
      const dom = findRunning(host, cmd.domain);
      if (typeof dom === "string")
        return refuse(host, cmd.domain, "mem-max-refused", "no-such-domain", dom);
      if (cmd.bytes < dom.targetBytes) {
        return refuse(
          host,
          dom.name,
          "mem-max-refused",
          "below-target",
          `${dom.name}: mem-max ${formatSize(cmd.bytes)} is below the current target ` +
            `${formatSize(dom.targetBytes)}; lower the target with mem-set first`,
        );
      }
      const message = `${dom.name}: maxmem ${formatSize(dom.maxmemBytes)} -> ${formatSize(cmd.bytes)}`;
      dom.maxmemBytes = cmd.bytes;
      host.emit(dom.name, "mem-max", message);
      return { ok: true, message };
    }
    case "destroy": {
      const dom = findDomain(host.domains, cmd.domain);
      if (!dom) {
        return refuse(
          host,
          cmd.domain,
          "destroy-refused",
          "no-such-domain",
          noSuchDomain(cmd.domain),
        );
      }
      const freed = dom.guest && !dom.memoryReleased ? dom.guest.teardown() : 0;
      host.hv.release(freed);
      host.remove(dom);
      const message = `${dom.name} destroyed; ${formatSize(freed * PAGE_SIZE)} back to the host`;
      host.emit(dom.name, "destroy", message);
      return { ok: true, message };
    }
  }
}

function memSet(host: ToolstackHost, cmd: Extract<Command, { verb: "mem-set" }>): CommandResult {
  const dom = findRunning(host, cmd.domain);
  if (typeof dom === "string")
    return refuse(host, cmd.domain, "mem-set-refused", "no-such-domain", dom);
  const guest = dom.guest!;
  const from = dom.targetBytes;
  const change = describeChange(dom.name, from, cmd.bytes);
  if (cmd.bytes > dom.maxmemBytes) {
    return refuse(
      host,
      dom.name,
      "mem-set-refused",
      "above-maxmem",
      `${change}: refused, above maxmem ${formatSize(dom.maxmemBytes)} (raise it with mem-max first)`,
    );
  }
  const floor = computeFloor(guest.stats(host.nowMs), guest.shownActual() * PAGE_SIZE);
  if (floor && cmd.bytes < floor.floorBytes && !cmd.force) {
    return refuse(
      host,
      dom.name,
      "mem-set-refused",
      "below-floor",
      belowFloorMessage(change, floor),
    );
  }
  const capacity = guest.maxShown() * PAGE_SIZE;
  const notes: string[] = [];
  if (cmd.bytes > capacity) {
    notes.push(`the guest took on only ${formatSize(capacity)} of RAM at boot and stops there`);
  }
  if (floor && cmd.bytes < floor.floorBytes)
    notes.push(`forced below the floor of ${formatSize(floor.floorBytes)}`);
  const message = `${change}${notes.length ? `; ${notes.join("; ")}` : ""}`;
  if (cmd.dryRun) return { ok: true, message: `${message} (dry run: nothing changed)` };
  dom.targetBytes = cmd.bytes;
  guest.setTarget(Math.floor(cmd.bytes / PAGE_SIZE), host.nowMs);
  host.emit(dom.name, "mem-set", message);
  return { ok: true, message };
}
