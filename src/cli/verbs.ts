/**
 * The operator's verbs against a running daemon: list, mem-set, mem-max, set, policy,
 * top, reserve. Sizes are read here, before anything is sent: a bad size is exit 2 and
 * reaches nobody.
 */
import { parseArgs } from "node:util";
import type { Backend, HostInfo } from "../backends/backend.js";
import { settingsFor } from "../backends/sim/backend.js";
import { domainView } from "../daemon/daemon.js";
import { formatSize, parseSize, type UnitError } from "../units/index.js";
import { makeBackend } from "./backend_spec.js";
import { ClientError, call, endpoint } from "./client.js";
import { EXIT_FAILED, EXIT_OK, UsageError } from "./errors.js";
import { defaultStateDir } from "./state.js";
import { type DomainsResponse, domainsTable, renderTop } from "./top.js";

const common = {
  state: { type: "string" as const },
  connect: { type: "string" as const },
  /** Talk to a backend directly instead of the daemon (sim:FILE, qemu:DIR, qemu:FILE.yaml). */
  backend: { type: "string" as const },
};

/** Run `f` against a backend named on the command line, closing it after. */
async function direct<T>(spec: string, f: (b: Backend) => Promise<T>): Promise<T> {
  const b = makeBackend(spec);
  try {
    return await f(b);
  } finally {
    await b.close();
  }
}

/** Verbs that can talk to a backend directly (`--backend`); the others need the daemon. */
const DIRECT_VERBS = ["list", "mem-set", "mem-max"];

/** Every verb's flags: the common ones and its own; positionals allowed. */
function verbArgs<
  T extends Record<
    string,
    { type: "string" | "boolean"; short?: string; default?: string | boolean }
  >,
>(verb: string, args: string[], extra?: T) {
  const r = parseArgs({
    args,
    options: { ...common, ...(extra ?? ({} as T)) },
    allowPositionals: true,
    strict: true,
  });
  if ((r.values as { backend?: string }).backend !== undefined && !DIRECT_VERBS.includes(verb)) {
    throw new UsageError(
      `${verb} works through the daemon and has no --backend (only ${DIRECT_VERBS.join(", ")} ` +
        `talk to a backend directly); nothing was changed`,
    );
  }
  return r;
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

/** Run a verb; daemon refusals and unreachable daemons are exit 1 with the reason. */
async function guarded(f: () => Promise<number>, err: (s: string) => void): Promise<number> {
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

export async function listCommand(
  args: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { values, positionals } = verbArgs("list", args, {
    json: { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
  });
  if (positionals.length)
    throw new UsageError("usage: ballast list [--json] [--verbose] [--backend SPEC]");
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
    out(values.json ? JSON.stringify(r, null, 2) : domainsTable(r, values.verbose));
    return EXIT_OK;
  }, err);
}

export async function memSetCommand(
  args: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { values, positionals } = verbArgs("mem-set", args, {
    force: { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
  });
  if (positionals.length !== 2)
    throw new UsageError("usage: ballast mem-set DOMAIN SIZE [--force] [--dry-run]");
  const [name, text] = positionals as [string, string];
  const bytes = size("SIZE", text);
  if (values.backend) {
    return direct(values.backend, async (b) => {
      const r = await b.setTarget(name, bytes, { force: values.force, dryRun: values["dry-run"] });
      (r.ok ? out : err)(r.message);
      return r.ok ? EXIT_OK : EXIT_FAILED;
    });
  }
  return guarded(async () => {
    const e = ep(values);
    // Say what will change before changing it.
    let preview: string;
    try {
      const dry = await call(e, "POST", `/v1/domains/${encodeURIComponent(name)}/target`, {
        size: bytes,
        force: values.force,
        dry_run: true,
      });
      preview = dry.message;
    } catch (x) {
      if (x instanceof ClientError && x.status === 409) {
        err(`${x.message}`);
        return EXIT_FAILED;
      }
      throw x;
    }
    out(preview.replace(/ \(dry run: nothing changed\)$/, ""));
    if (values["dry-run"]) {
      out("dry run: nothing changed");
      return EXIT_OK;
    }
    const r = await call(e, "POST", `/v1/domains/${encodeURIComponent(name)}/target`, {
      size: bytes,
      force: values.force,
    });
    const pinned = /; (pinned .*)$/.exec(r.message)?.[1];
    out(`done${pinned ? `; ${pinned}` : ""}`);
    return EXIT_OK;
  }, err);
}

export async function memMaxCommand(
  args: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { values, positionals } = verbArgs("mem-max", args);
  if (positionals.length !== 2) throw new UsageError("usage: ballast mem-max DOMAIN SIZE");
  const bytes = size("SIZE", positionals[1], false);
  if (values.backend) {
    return direct(values.backend, async (b) => {
      const r = await b.setMax(positionals[0]!, bytes);
      (r.ok ? out : err)(r.message);
      return r.ok ? EXIT_OK : EXIT_FAILED;
    });
  }
  return guarded(async () => {
    const r = await call(
      ep(values),
      "POST",
      `/v1/domains/${encodeURIComponent(positionals[0]!)}/max`,
      { size: bytes },
    );
    out(r.message);
    return EXIT_OK;
  }, err);
}

export async function setCommand(
  args: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { values, positionals } = verbArgs("set", args);
  const [name, ...pairs] = positionals;
  const usage =
    "usage: ballast set DOMAIN min=SIZE max=SIZE weight=N buffer=PCT | ballast set DOMAIN auto";
  if (!name || pairs.length === 0) throw new UsageError(usage);
  if (pairs.includes("auto")) {
    if (pairs.length !== 1) throw new UsageError(`"auto" stands alone\n${usage}`);
    return guarded(async () => {
      const r = await call(ep(values), "DELETE", `/v1/domains/${encodeURIComponent(name)}/pin`);
      out(r.message);
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
    const r = await call(
      ep(values),
      "PUT",
      `/v1/domains/${encodeURIComponent(name)}/settings`,
      body,
    );
    const s = r.settings;
    out(
      `${name}: min ${formatSize(s.min_bytes)}, max ${formatSize(s.max_bytes)}, weight ${s.weight}, buffer ${s.buffer_pct}%`,
    );
    return EXIT_OK;
  }, err);
}

export async function policyCommand(
  args: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { values, positionals } = verbArgs("policy", args);
  if (positionals.length > 1) throw new UsageError("usage: ballast policy [NAME]");
  return guarded(async () => {
    const e = ep(values);
    if (positionals.length === 1) {
      const r = await call(e, "PUT", "/v1/policy", { name: positionals[0] });
      out(`policy: ${r.policy}`);
      return EXIT_OK;
    }
    const r = await call(e, "GET", "/v1/policy");
    out(`policy: ${r.policy} (every ${r.interval_ms} ms)`);
    for (const p of r.available)
      out(`  ${p.name === r.policy ? "*" : " "} ${p.name.padEnd(9)} ${p.summary}`);
    return EXIT_OK;
  }, err);
}

export async function reserveCommand(
  args: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { values, positionals } = verbArgs("reserve", args, { release: { type: "string" } });
  if (values.release === undefined && positionals.length !== 1)
    throw new UsageError("usage: ballast reserve SIZE | ballast reserve --release ID");
  const bytes = values.release === undefined ? size("SIZE", positionals[0], false) : 0;
  return guarded(async () => {
    const e = ep(values);
    if (values.release) {
      await call(e, "DELETE", `/v1/reservations/${encodeURIComponent(values.release)}`);
      out(`released ${values.release}`);
      return EXIT_OK;
    }
    const r = await call(e, "POST", "/v1/reservations", { size: bytes });
    out(
      `reservation ${r.id}: ${formatSize(r.bytes)} kept free for a new domain (host free now ${formatSize(r.free_bytes)})`,
    );
    return EXIT_OK;
  }, err);
}

export async function topCommand(
  args: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { values, positionals } = verbArgs("top", args, {
    once: { type: "boolean", default: false },
    interval: { type: "string", default: "1" },
  });
  if (positionals.length) throw new UsageError("usage: ballast top [--once] [--interval SECONDS]");
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
      const log = (
        ev.history as Array<{ t_s: number; kind: string; type: string; message: string }>
      ).map((x) => `[${x.t_s.toFixed(1)}s] ${x.type}: ${x.message}`);
      const screen = renderTop(d as DomainsResponse, h as HostInfo, log);
      if (values.once) {
        out(screen);
        return EXIT_OK;
      }
      process.stdout.write(`\x1b[H\x1b[2J${screen}\n`);
      await new Promise((r) => setTimeout(r, every));
    }
  }, err);
}
