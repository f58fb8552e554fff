/**
 * `ballast daemon`: run the control loop and the API in the foreground.
 *
 *   ballast daemon [--backend sim[:FILE]] [--policy NAME] [--interval 1s] [--speed N]
 *                  [--listen 127.0.0.1:PORT|unix:PATH] [--state DIR] [--top]
 *                  [--metrics-listen HOST:PORT]
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { SimBackend } from "../backends/sim/backend.js";
import { createApi, formatListen, type ListenAddr, parseListen } from "../daemon/api.js";
import { Daemon, DaemonError } from "../daemon/daemon.js";
import { createMetricsServer, parseMetricsListen } from "../daemon/dashboard.js";
import { listenApi, socketIdentity } from "../daemon/listen.js";
import { StateError } from "../daemon/state_dir.js";
import { Store } from "../daemon/store.js";
import { PolicySpecError, parsePolicy } from "../policy/index.js";
import { parseDuration, type UnitError } from "../units/index.js";
import { dashboardSite } from "../web/dashboard_page.js";
import { makeBackend } from "./backend_spec.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.js";
import { defaultStateDir } from "./state.js";
import { renderTop } from "./top.js";

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

export async function daemonCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      backend: { type: "string", default: "sim" },
      policy: { type: "string", default: "ballast" },
      interval: { type: "string" },
      speed: { type: "string", default: "1" },
      listen: { type: "string", default: "127.0.0.1:7788" },
      "metrics-listen": { type: "string" },
      state: { type: "string" },
      top: { type: "boolean", default: false },
    },
    strict: true,
  });
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
  const log = (line: string) => {
    if (showTop) {
      logLines.push(line);
      if (logLines.length > 12) logLines.shift();
    } else out(line);
  };
  let daemon: Daemon;
  try {
    daemon = new Daemon({ backend, store, policy: values.policy, intervalMs, speed, log });
    await daemon.restore();
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
  out(
    `ballast daemon: ${backend.kind} backend, policy ${daemon.policyName}, every ${daemon.intervalMs} ms` +
      `${backend instanceof SimBackend ? `, speed ${speed}x` : ""}; API on ${where}` +
      `${metricsServer ? `, metrics also on ${values["metrics-listen"]}` : ""}; state in ${stateDir}`,
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
  daemon.stop();
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
  out("ballast daemon: stopped");
  return EXIT_OK;
}
