/**
 * `ballast daemon`: run the control loop and the API in the foreground, logging each
 * line with its wall-clock time and level (src/daemon/log.ts).
 *
 *   ballast daemon [--backend sim[:FILE]] [--policy NAME] [--interval 1s] [--speed N]
 *                  [--listen 127.0.0.1:PORT|unix:PATH] [--state DIR] [--top]
 *                  [--metrics-listen HOST:PORT] [--retention 30d] [--json]
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SimBackend } from "../backends/sim/backend.js";
import { createApi, formatListen, type ListenAddr, parseListen } from "../daemon/api.js";
import { Daemon, DaemonError, DEFAULT_RETENTION_MS } from "../daemon/daemon.js";
import { createMetricsServer, parseMetricsListen } from "../daemon/dashboard.js";
import { listenApi, socketIdentity } from "../daemon/listen.js";
import { jsonLogLine, type Log, textLogLine } from "../daemon/log.js";
import { StateError } from "../daemon/state_dir.js";
import { Store } from "../daemon/store.js";
import { PolicySpecError, parsePolicy } from "../policy/index.js";
import { parseDuration, type UnitError } from "../units/index.js";
import { dashboardSite } from "../web/dashboard_page.js";
import { makeBackend } from "./backend_spec.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.js";
import { defaultStateDir } from "./state.js";
import { renderTop } from "./top.js";
import { parseVerb, verb } from "./usage.js";

export const DAEMON = verb({
  name: "daemon",
  brief: "run the daemon: policy, API, dashboard at /, metrics at /metrics",
  summary:
    "Run the daemon in the foreground: watch every guest through a backend, let the policy " +
    "move memory between them, serve the API, the dashboard (/) and metrics (/metrics). " +
    "Stops cleanly on SIGTERM or SIGINT.",
  usage: [
    "daemon [--backend SPEC] [--policy NAME] [--interval DURATION] [--speed N]",
    "       [--listen 127.0.0.1:PORT|unix:PATH] [--metrics-listen HOST:PORT] [--state DIR]",
    "       [--retention DURATION] [--top | --json]",
  ],
  options: {
    backend: {
      type: "string",
      default: "sim",
      arg: "SPEC",
      help:
        "the guests: sim (a simulated demo host, examples/daemon-demo.yaml), sim:FILE.yaml, " +
        "qemu:DIR (QMP sockets), qemu:FILE.yaml or libvirt:URI (default sim)",
    },
    policy: {
      type: "string",
      default: "ballast",
      arg: "NAME",
      help:
        "none, proxmox, mom, squeezed or ballast, with options as NAME:KEY=VALUE,... " +
        "(default ballast; a policy stored in --state from an earlier run wins)",
    },
    interval: {
      type: "string",
      arg: "DURATION",
      help: "time between decision rounds, at least 100ms (default: the policy's own)",
    },
    speed: {
      type: "string",
      default: "1",
      arg: "N",
      help: "simulator only: N simulated seconds per second, above 0, at most 1000 (default 1)",
    },
    listen: {
      type: "string",
      default: "127.0.0.1:7788",
      arg: "ADDR",
      help: "the API, dashboard and metrics: 127.0.0.1:PORT, [::1]:PORT or unix:PATH (loopback only)",
    },
    "metrics-listen": {
      type: "string",
      arg: "HOST:PORT",
      help: "also serve GET /metrics alone on any address, for a Prometheus elsewhere",
    },
    state: {
      type: "string",
      arg: "DIR",
      help:
        "where the daemon keeps ballast.db (settings, pins, history), its token and " +
        "daemon.json (default $BALLAST_STATE_DIR, else $XDG_STATE_HOME/ballast or " +
        "~/.local/state/ballast); one daemon per directory",
    },
    retention: {
      type: "string",
      default: "30d",
      arg: "DURATION",
      help:
        "keep history (events and decisions) this long, e.g. 30d, 90d or 720h, at least 1h " +
        "(default 30d); older rows are deleted at start and then every hour",
    },
    top: {
      type: "boolean",
      default: false,
      help: "draw the live table on this terminal, the latest log lines under it",
    },
    json: {
      type: "boolean",
      default: false,
      help:
        "log lines as JSON, one object a line: {time, level, message}. The daemon runs " +
        "until stopped and has no result to print as one document, so --json here shapes " +
        "its log (for journald or a log shipper); not with --top",
    },
  },
  notes: [
    "Log lines go to stdout, each with its wall-clock time (ISO-8601, UTC) and level " +
      "(info, warn for refusals and lost events, error for a failed round), e.g. " +
      "2026-11-23T18:40:00.123Z info  [240.0s] ballast: web: 4 GiB -> 3 GiB: ...; " +
      "the [240.0s] is the backend's time (simulated time with the simulator). Reasons the " +
      "daemon could not start go to stderr: exit 2 for a bad flag or a file the operator " +
      "must fix, 1 otherwise.",
  ],
});

const DAY_MS = 86_400_000;

/** `--retention`: days (`30d`) or any duration (`720h`), from 1 hour to 100 years. */
export function parseRetention(text: string): number {
  const days = /^\s*(\d+(?:\.\d+)?)\s*d\s*$/i.exec(text);
  let ms: number;
  if (days) ms = Math.round(Number(days[1]) * DAY_MS);
  else {
    try {
      ms = parseDuration(text);
    } catch (e) {
      throw new UsageError(
        `--retention: ${(e as UnitError).message.replace(/write e\.g\. /, "write e.g. 30d, ")}`,
      );
    }
  }
  if (ms < 3_600_000 || ms > 36_500 * DAY_MS)
    throw new UsageError(`--retention: from 1h to 36500d (got "${text}")`);
  return ms;
}

/** Why the daemon did not start, and the exit code: 2 for files the operator must fix. */
export class DaemonStartError extends Error {
  override name = "DaemonStartError";
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function startError(e: unknown): never {
  if (e instanceof StateError) {
    const code = e.code === "unsafe" || e.code === "weak-token" ? EXIT_USAGE : EXIT_FAILED;
    throw new DaemonStartError(e.message, code);
  }
  throw e;
}

function formatRetention(ms: number): string {
  return ms % DAY_MS === 0 ? `${ms / DAY_MS}d` : `${Math.round(ms / 3_600_000)}h`;
}

export async function daemonCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseVerb(DAEMON, args);
  if (positionals.length > 0)
    throw new UsageError(
      `daemon takes no arguments (got "${positionals[0]}"); see ballast daemon --help`,
    );
  if (values.json && values.top)
    throw new UsageError(
      "--json and --top: choose one (--top draws a screen; --json logs JSON lines)",
    );
  const retentionMs =
    values.retention === undefined ? DEFAULT_RETENTION_MS : parseRetention(values.retention);
  // A policy spec, NAME[:KEY=VALUE,...] (src/policy/index.ts), e.g. squeezed:free-target=9MiB.
  try {
    parsePolicy(values.policy);
  } catch (e) {
    if (e instanceof PolicySpecError) throw new UsageError(`--policy: ${e.message}`);
    throw e;
  }
  let intervalMs: number | null = null;
  if (values.interval) {
    try {
      intervalMs = parseDuration(values.interval);
    } catch (e) {
      throw new UsageError(`--interval: ${(e as UnitError).message}`);
    }
    if (intervalMs < 100) throw new UsageError("--interval: at least 100ms");
  }
  const speed = Number(values.speed);
  if (!Number.isFinite(speed) || speed <= 0 || speed > 1000)
    throw new UsageError("--speed: a number above 0, at most 1000");
  let addr: ListenAddr;
  try {
    addr = parseListen(values.listen);
  } catch (e) {
    throw new UsageError((e as DaemonError).message);
  }
  let metricsAddr: ListenAddr | null = null;
  try {
    if (values["metrics-listen"]) metricsAddr = parseMetricsListen(values["metrics-listen"]);
  } catch (e) {
    throw new UsageError((e as DaemonError).message);
  }
  const stateDir = resolve(values.state ?? defaultStateDir());
  // The state directory first: its lock says whether this daemon may run at all, and
  // nothing (backend, socket, daemon.json) is touched before it is held.
  let store: Store;
  let token: ReturnType<Store["tokenInfo"]>;
  try {
    store = new Store(stateDir);
  } catch (e) {
    startError(e);
  }
  try {
    token = store.tokenInfo();
  } catch (e) {
    store.close();
    startError(e);
  }
  // Signals are taken from here on: a SIGTERM during the start finishes it cleanly
  // (the default action would kill the process between two writes).
  let requestStop = () => {};
  const stopRequested = new Promise<void>((r) => {
    requestStop = r;
  });
  process.once("SIGINT", () => requestStop());
  process.once("SIGTERM", () => requestStop());
  let backend: ReturnType<typeof makeBackend>;
  try {
    backend = makeBackend(values.backend);
  } catch (e) {
    store.close();
    throw e;
  }
  const showTop = values.top;
  const logLines: string[] = [];
  const stamp = values.json ? jsonLogLine : textLogLine;
  const log: Log = (line, level = "info") => {
    const text = stamp(new Date(), level, line);
    if (showTop) {
      logLines.push(text);
      if (logLines.length > 12) logLines.shift();
    } else out(text);
  };
  let daemon: Daemon;
  try {
    daemon = new Daemon({
      backend,
      store,
      policy: values.policy,
      intervalMs,
      speed,
      log,
      retentionMs,
    });
    await daemon.restore();
    daemon.maintain();
  } catch (e) {
    store.close();
    await backend.close();
    if (e instanceof DaemonError) throw new UsageError(e.message);
    startError(e);
  }
  const server = createApi(daemon, token.value, dashboardSite);
  let bound: ListenAddr;
  try {
    bound = await listenApi(server, addr, { group: token.groupShared, gid: token.gid });
  } catch (e) {
    store.close();
    await backend.close();
    if (e instanceof StateError) startError(e);
    throw new DaemonError(
      500,
      "listen",
      `cannot listen on ${values.listen}: ${(e as Error).message}`,
    );
  }
  const metricsServer = metricsAddr ? createMetricsServer(daemon) : null;
  if (metricsServer && metricsAddr) {
    try {
      await listenApi(metricsServer, metricsAddr, { group: false, gid: 0 });
    } catch (e) {
      server.close();
      store.close();
      await backend.close();
      throw new DaemonError(
        500,
        "listen",
        `cannot listen on ${values["metrics-listen"]}: ${(e as Error).message}`,
      );
    }
  }
  const socketId = bound.kind === "unix" ? socketIdentity(bound.path) : null;
  const where = formatListen(bound);
  const infoFile = join(stateDir, "daemon.json");
  writeFileSync(infoFile, `${JSON.stringify({ listen: where, pid: process.pid })}\n`, {
    mode: 0o644,
  });
  log(
    `ballast daemon: ${backend.kind} backend, policy ${daemon.policyName}, every ${daemon.intervalMs} ms` +
      `${backend instanceof SimBackend ? `, speed ${speed}x` : ""}; API on ${where}` +
      `${metricsServer ? `, metrics also on ${values["metrics-listen"]}` : ""}; state in ${stateDir}; ` +
      `history kept ${formatRetention(retentionMs)}`,
  );
  daemon.start();
  let topTimer: NodeJS.Timeout | null = null;
  if (showTop) {
    topTimer = setInterval(() => {
      void (async () => {
        const screen = renderTop(
          {
            policy: daemon.policyName,
            t_s: daemon.nowMs() / 1000,
            domains: await daemon.domains(),
          },
          await backend.host(),
          logLines,
        );
        process.stdout.write(`\x1b[H\x1b[2J${screen}\n`);
      })().catch(() => undefined);
    }, 1000);
  }
  await stopRequested;
  if (topTimer) clearInterval(topTimer);
  await daemon.stop();
  await new Promise<void>((done) => {
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    server.close(() => done());
    server.closeAllConnections?.();
  });
  // Remove only what is still ours: daemon.json with our pid, the socket we bound.
  try {
    if (JSON.parse(readFileSync(infoFile, "utf8")).pid === process.pid) rmSync(infoFile);
  } catch {
    // already gone
  }
  if (bound.kind === "unix" && socketIdentity(bound.path) === socketId)
    rmSync(bound.path, { force: true });
  await backend.close();
  store.close();
  log("ballast daemon: stopped");
  return EXIT_OK;
}
