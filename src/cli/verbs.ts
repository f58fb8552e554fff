/**
 * The operator's verbs against a running daemon: list, mem-set, mem-max, set, policy,
 * top, reserve. Sizes are read here, before anything is sent: a bad size is exit 2 and
 * reaches nobody. A domain is named by its name or its id (as in xl; a name wins, see
 * findDomain in src/model/domain.ts); the daemon and the backends resolve it.
 *
 * `--json` prints one JSON document on stdout (its keys in each verb's help); errors
 * still go to stderr as text, with the exit codes of DESIGN.md, and stdout stays empty.
 */
import type { Backend, HostInfo } from "../backends/backend.js";
import { settingsFor } from "../backends/sim/backend.js";
import { domainView } from "../daemon/daemon.js";
import { findDomain } from "../model/domain.js";
import { formatSize, parseSize, type UnitError } from "../units/index.js";
import { makeBackend } from "./backend_spec.js";
import { ClientError, call, endpoint, type Reply } from "./client.js";
import { EXIT_FAILED, EXIT_OK, UsageError } from "./errors.js";
import { defaultStateDir } from "./state.js";
import { type DomainsResponse, domainsTable, renderTop } from "./top.js";
import { DAEMON_CLIENT, DIRECT_BACKEND, NO_BACKEND, parseVerb, verb } from "./usage.js";

type Out = (s: string) => void;

const json = (help: string) => ({ type: "boolean", default: false, help }) as const;

const DOMAIN_NOTE =
  "DOMAIN is a name or an id (the ID column of `ballast list`), as in xl: a domain whose " +
  "name is the text given wins, so a domain named 3 is reached as 3; otherwise a number " +
  "names the domain with that id, and one that matches no domain is refused naming it.";

export const LIST = verb({
  name: "list",
  brief: "what the daemon sees: target, actual, floor, settings, pressure, pin",
  summary:
    "What the daemon sees, per domain: actual memory, target, floor, settings, pressure and pin.",
  usage: ["list [--json] [--verbose] [--state DIR] [--connect ADDR] [--backend SPEC]"],
  options: {
    json: json(
      "print {policy, t_s, domains: [{name, id, state, memory_bytes, maxmem_bytes, target_bytes, " +
        "actual_bytes, floor_bytes, working_set_bytes, psi_some_avg10, psi_full_avg10, " +
        "rss_bytes?, stalled?, settings: {min_bytes, max_bytes, weight, buffer_pct}, pin_bytes}]}",
    ),
    verbose: {
      type: "boolean",
      short: "v",
      default: false,
      help: "add the host RSS each guest really holds and whether its balloon is stalled",
    },
    ...DAEMON_CLIENT,
    backend: DIRECT_BACKEND,
  },
  notes: ["Sizes in the table are MiB; PSI is a percentage, as in /proc/pressure/memory."],
});

export const MEM_SET = verb({
  name: "mem-set",
  brief: "set a domain's target and pin it (the policy leaves it there)",
  summary:
    "Set DOMAIN's balloon target and pin it there: the policy leaves it until " +
    "`ballast set DOMAIN auto` or the next mem-set. Says what will change first; a target " +
    "below the guest's floor is refused (exit 1) unless --force.",
  usage: [
    "mem-set DOMAIN SIZE [--force] [--dry-run] [--json] [--state DIR] [--connect ADDR] [--backend SPEC]",
  ],
  options: {
    force: { type: "boolean", default: false, help: "allow a target below the guest's floor" },
    "dry-run": { type: "boolean", default: false, help: "say what would change; change nothing" },
    json: json("print {domain, target_bytes, force, dry_run, pinned, message}"),
    ...DAEMON_CLIENT,
    backend: DIRECT_BACKEND,
  },
  notes: [DOMAIN_NOTE, "SIZE takes a binary unit: 512MiB, 1.5GiB, 4G."],
});

export const MEM_MAX = verb({
  name: "mem-max",
  brief: "set the most memory a domain may be given",
  summary: "Set the most memory DOMAIN may be given (xl's maxmem; QEMU: up to its maxmem).",
  usage: ["mem-max DOMAIN SIZE [--json] [--state DIR] [--connect ADDR] [--backend SPEC]"],
  options: {
    json: json("print {domain, maxmem_bytes, message}"),
    ...DAEMON_CLIENT,
    backend: DIRECT_BACKEND,
  },
  notes: [DOMAIN_NOTE],
});

export const SET = verb({
  name: "set",
  brief: "change a domain's min, max, weight, buffer; or auto: unpin it",
  summary:
    "Change DOMAIN's settings (min, max, weight, buffer), or give it back to the policy " +
    "(auto: clears a mem-set pin).",
  usage: [
    "set DOMAIN min=SIZE max=SIZE weight=N buffer=PCT [--json] [--state DIR] [--connect ADDR]",
    "set DOMAIN auto [--json] [--state DIR] [--connect ADDR]",
  ],
  options: {
    json: json(
      "print {domain, settings: {min_bytes, max_bytes, weight, buffer_pct}}; with auto, " +
        "{domain, pinned: false, message}",
    ),
    ...DAEMON_CLIENT,
    backend: NO_BACKEND,
  },
  notes: [DOMAIN_NOTE],
});

export const POLICY = verb({
  name: "policy",
  brief: "show or switch the policy (none, proxmox, mom, squeezed, ballast)",
  summary: "Show the daemon's policy and the ones it has, or switch to NAME (live).",
  usage: ["policy [NAME] [--json] [--state DIR] [--connect ADDR]"],
  options: {
    json: json(
      "print {policy, interval_ms, available: [{name, summary}]} (after the switch, with NAME)",
    ),
    ...DAEMON_CLIENT,
    backend: NO_BACKEND,
  },
  notes: [
    "NAME is none, proxmox, mom, squeezed or ballast, with options as NAME:KEY=VALUE,... " +
      "(e.g. squeezed:free-target=9MiB).",
  ],
});

export const RESERVE = verb({
  name: "reserve",
  brief: "keep memory free for a new domain (as squeezed does), or release it",
  summary:
    "Keep SIZE free for a domain about to start, as squeezed does; refused (exit 1) when " +
    "the host cannot make it free above every guest's floor and min.",
  usage: [
    "reserve SIZE [--json] [--state DIR] [--connect ADDR]",
    "reserve --release ID [--json] [--state DIR] [--connect ADDR]",
  ],
  options: {
    release: { type: "string", arg: "ID", help: "give back reservation ID (e.g. r1)" },
    json: json("print {id, bytes, free_bytes}; with --release, {released}"),
    ...DAEMON_CLIENT,
    backend: NO_BACKEND,
  },
});

export const TOP = verb({
  name: "top",
  brief: "the live table: host, domains, recent decisions",
  summary: "The live table: the host, every domain, and the daemon's recent decisions.",
  usage: ["top [--once] [--interval SECONDS] [--json] [--state DIR] [--connect ADDR]"],
  options: {
    once: { type: "boolean", default: false, help: "draw once and exit" },
    interval: {
      type: "string",
      default: "1",
      arg: "SECONDS",
      help: "seconds between redraws (at least 0.2; default 1)",
    },
    json: json(
      "print one snapshot and exit: {policy, t_s, host: {total_bytes, free_bytes, " +
        "hypervisor_reserve_bytes, reserved_bytes}, domains: [as list --json], " +
        "events: [{id, t_s, wall, domain, kind, type, code, message}] (the last 10)}",
    ),
    ...DAEMON_CLIENT,
    backend: NO_BACKEND,
  },
});

/** Run `f` against a backend named on the command line, closing it after. */
async function direct<T>(spec: string, f: (b: Backend) => Promise<T>): Promise<T> {
  const b = makeBackend(spec);
  try {
    return await f(b);
  } finally {
    await b.close();
  }
}

/** `--backend` on a verb that works through the daemon: refused before anything is sent. */
function noBackend(name: string, values: { backend?: string }): void {
  if (values.backend !== undefined) {
    throw new UsageError(
      `${name} works through the daemon and has no --backend (only list, mem-set, mem-max ` +
        `talk to a backend directly); nothing was changed`,
    );
  }
}

function size(what: string, text: string | undefined, allowZero = true): number {
  if (text === undefined) throw new UsageError(`missing ${what}`);
  try {
    return parseSize(text, { wholePages: true, allowZero });
  } catch (e) {
    throw new UsageError(`${what}: ${(e as UnitError).message}`);
  }
}

function ep(values: { state?: string; connect?: string }) {
  return endpoint(values.state ?? defaultStateDir(), values.connect);
}

function usage(spec: { usage: string[] }, why?: string): UsageError {
  const forms = spec.usage.map((u) => `ballast ${u}`).join("\n       ");
  return new UsageError(`${why ? `${why}\n` : ""}usage: ${forms}`);
}

const printJson = (out: Out, x: unknown) => out(JSON.stringify(x, null, 2));

/** The path of a domain's resource in the API (a name or an id, resolved by the daemon). */
const domainPath = (ref: string, what: string) => `/v1/domains/${encodeURIComponent(ref)}/${what}`;

/** Run a verb; daemon refusals and unreachable daemons are exit 1 with the reason. */
async function guarded(f: () => Promise<number>, err: Out): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof ClientError) {
      if (e.status === 400) throw new UsageError(e.message);
      if (e.status === 401) {
        err(
          `ballast: the daemon refused the token (${e.message}); run as the daemon's user, ` +
            `or give the daemon's --state so that its token is read`,
        );
        return EXIT_FAILED;
      }
      err(`ballast: ${e.message}${e.code ? ` (${e.code})` : ""}`);
      return EXIT_FAILED;
    }
    throw e;
  }
}

export async function listCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerb(LIST, args);
  if (positionals.length) throw usage(LIST, `list takes no DOMAIN (got "${positionals[0]}")`);
  return guarded(async () => {
    let r: DomainsResponse;
    if (values.backend) {
      r = await direct(values.backend, async (b) => {
        const ds = await b.domains();
        const views = await Promise.all(
          ds.map(async (d) =>
            domainView(d, d.state === "running" ? await b.stats(d.name) : null, settingsFor(d)),
          ),
        );
        return { policy: "none", t_s: 0, domains: views };
      });
    } else {
      r = (await call(ep(values), "GET", "/v1/domains")) as DomainsResponse;
    }
    if (values.json) printJson(out, r);
    else out(domainsTable(r, values.verbose));
    return EXIT_OK;
  }, err);
}

export async function memSetCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerb(MEM_SET, args);
  if (positionals.length !== 2) throw usage(MEM_SET);
  const [ref, text] = positionals as [string, string];
  const bytes = size("SIZE", text);
  const dryRun = values["dry-run"];
  const result = (domain: string, pinned: boolean, message: string) => ({
    domain,
    target_bytes: bytes,
    force: values.force,
    dry_run: dryRun,
    pinned,
    message,
  });
  if (values.backend) {
    return direct(values.backend, async (b) => {
      const domain = findDomain(await b.domains(), ref)?.name ?? ref;
      const r = await b.setTarget(domain, bytes, { force: values.force, dryRun });
      if (!r.ok) {
        err(r.message);
        return EXIT_FAILED;
      }
      if (values.json) printJson(out, result(domain, false, r.message));
      else out(r.message);
      return EXIT_OK;
    });
  }
  return guarded(async () => {
    const e = ep(values);
    // Say what will change before changing it.
    let dry: Reply;
    try {
      dry = await call(e, "POST", domainPath(ref, "target"), {
        size: bytes,
        force: values.force,
        dry_run: true,
      });
    } catch (x) {
      if (x instanceof ClientError && x.status === 409) {
        err(`${x.message}`);
        return EXIT_FAILED;
      }
      throw x;
    }
    // Older daemons do not name the domain in their reply: the name typed is then all we have.
    const domain: string = dry.domain ?? ref;
    const preview: string = dry.message.replace(/ \(dry run: nothing changed\)$/, "");
    if (dryRun) {
      if (values.json) printJson(out, result(domain, false, dry.message));
      else out(`${preview}\ndry run: nothing changed`);
      return EXIT_OK;
    }
    if (!values.json) out(preview);
    const r = await call(e, "POST", domainPath(domain, "target"), {
      size: bytes,
      force: values.force,
    });
    if (values.json) printJson(out, result(domain, true, r.message));
    else {
      const pinned = /; (pinned .*)$/.exec(r.message)?.[1];
      out(`done${pinned ? `; ${pinned}` : ""}`);
    }
    return EXIT_OK;
  }, err);
}

export async function memMaxCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerb(MEM_MAX, args);
  if (positionals.length !== 2) throw usage(MEM_MAX);
  const ref = positionals[0]!;
  const bytes = size("SIZE", positionals[1], false);
  const print = (domain: string, message: string) => {
    if (values.json) printJson(out, { domain, maxmem_bytes: bytes, message });
    else out(message);
  };
  if (values.backend) {
    return direct(values.backend, async (b) => {
      const domain = findDomain(await b.domains(), ref)?.name ?? ref;
      const r = await b.setMax(domain, bytes);
      if (!r.ok) {
        err(r.message);
        return EXIT_FAILED;
      }
      print(domain, r.message);
      return EXIT_OK;
    });
  }
  return guarded(async () => {
    const r = await call(ep(values), "POST", domainPath(ref, "max"), { size: bytes });
    print(r.domain ?? ref, r.message);
    return EXIT_OK;
  }, err);
}

export async function setCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerb(SET, args);
  noBackend("set", values);
  const [ref, ...pairs] = positionals;
  if (!ref || pairs.length === 0) throw usage(SET);
  if (pairs.includes("auto")) {
    if (pairs.length !== 1) throw usage(SET, `"auto" stands alone`);
    return guarded(async () => {
      const r = await call(ep(values), "DELETE", domainPath(ref, "pin"));
      if (values.json)
        printJson(out, { domain: r.domain ?? ref, pinned: false, message: r.message });
      else out(r.message);
      return EXIT_OK;
    }, err);
  }
  const body: Record<string, number> = {};
  for (const p of pairs) {
    const m = /^(min|max|weight|buffer)=(.+)$/.exec(p);
    if (!m) throw new UsageError(`"${p}": write min=SIZE, max=SIZE, weight=N or buffer=PCT`);
    const [, k, v] = m as unknown as [string, string, string];
    if (k === "min" || k === "max") body[k] = size(k, v);
    else {
      const n = Number(v.replace(/%$/, ""));
      if (!Number.isFinite(n)) throw new UsageError(`${k}: "${v}" is not a number`);
      body[k] = n;
    }
  }
  return guarded(async () => {
    const r = await call(ep(values), "PUT", domainPath(ref, "settings"), body);
    const s = r.settings;
    const domain: string = r.domain ?? ref;
    if (values.json) printJson(out, { domain, settings: s });
    else
      out(
        `${domain}: min ${formatSize(s.min_bytes)}, max ${formatSize(s.max_bytes)}, weight ${s.weight}, buffer ${s.buffer_pct}%`,
      );
    return EXIT_OK;
  }, err);
}

export async function policyCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerb(POLICY, args);
  noBackend("policy", values);
  if (positionals.length > 1) throw usage(POLICY);
  return guarded(async () => {
    const e = ep(values);
    if (positionals.length === 1) {
      const r = await call(e, "PUT", "/v1/policy", { name: positionals[0] });
      if (!values.json) {
        out(`policy: ${r.policy}`);
        return EXIT_OK;
      }
    }
    const r = await call(e, "GET", "/v1/policy");
    if (values.json) {
      printJson(out, { policy: r.policy, interval_ms: r.interval_ms, available: r.available });
      return EXIT_OK;
    }
    out(`policy: ${r.policy} (every ${r.interval_ms} ms)`);
    for (const p of r.available)
      out(`  ${p.name === r.policy ? "*" : " "} ${p.name.padEnd(9)} ${p.summary}`);
    return EXIT_OK;
  }, err);
}

export async function reserveCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerb(RESERVE, args);
  noBackend("reserve", values);
  if (values.release === undefined && positionals.length !== 1) throw usage(RESERVE);
  if (values.release !== undefined && positionals.length !== 0)
    throw usage(RESERVE, "give SIZE or --release ID, not both");
  const bytes = values.release === undefined ? size("SIZE", positionals[0], false) : 0;
  return guarded(async () => {
    const e = ep(values);
    if (values.release !== undefined) {
      await call(e, "DELETE", `/v1/reservations/${encodeURIComponent(values.release)}`);
      if (values.json) printJson(out, { released: values.release });
      else out(`released ${values.release}`);
      return EXIT_OK;
    }
    const r = await call(e, "POST", "/v1/reservations", { size: bytes });
    if (values.json) printJson(out, { id: r.id, bytes: r.bytes, free_bytes: r.free_bytes });
    else
      out(
        `reservation ${r.id}: ${formatSize(r.bytes)} kept free for a new domain (host free now ${formatSize(r.free_bytes)})`,
      );
    return EXIT_OK;
  }, err);
}

export async function topCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerb(TOP, args);
  noBackend("top", values);
  if (positionals.length) throw usage(TOP);
  const every = Number(values.interval) * 1000;
  if (!Number.isFinite(every) || every < 200)
    throw new UsageError("--interval: seconds, at least 0.2");
  return guarded(async () => {
    const e = ep(values);
    for (;;) {
      const [d, h, ev] = await Promise.all([
        call(e, "GET", "/v1/domains"),
        call(e, "GET", "/v1/host"),
        call(e, "GET", "/v1/events?limit=10"),
      ]);
      const host = h as HostInfo & { reserved_bytes: number };
      if (values.json) {
        printJson(out, {
          policy: d.policy,
          t_s: d.t_s,
          host: {
            total_bytes: host.totalBytes,
            free_bytes: host.freeBytes,
            hypervisor_reserve_bytes: host.reserveBytes,
            reserved_bytes: host.reserved_bytes,
          },
          domains: d.domains,
          events: ev.history,
        });
        return EXIT_OK;
      }
      const log = (
        ev.history as Array<{ t_s: number; kind: string; type: string; message: string }>
      ).map((x) => `[${x.t_s.toFixed(1)}s] ${x.type}: ${x.message}`);
      const screen = renderTop(d as DomainsResponse, host, log);
      if (values.once) {
        out(screen);
        return EXIT_OK;
      }
      process.stdout.write(`\x1b[H\x1b[2J${screen}\n`);
      await new Promise((r) => setTimeout(r, every));
    }
  }, err);
}
