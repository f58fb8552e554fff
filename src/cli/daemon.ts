/**
 * `ballast daemon`: run the control loop and the API in the foreground.
 *
 *   ballast daemon [--backend sim[:FILE]] [--policy NAME] [--interval 1s] [--speed N]
 *                  [--listen 127.0.0.1:PORT|unix:PATH] [--state DIR] [--top]
 */
import { rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { SimBackend } from "../backends/sim.js";
import { createApi, formatListen, type ListenAddr, parseListen } from "../daemon/api.js";
import { Daemon, DaemonError } from "../daemon/daemon.js";
import { Store } from "../daemon/store.js";
import { POLICY_NAMES } from "../policy/index.js";
import { parseDuration, type UnitError } from "../units/index.js";
import { makeBackend } from "./backend_spec.js";
import { EXIT_OK, UsageError } from "./errors.js";
import { defaultStateDir } from "./state.js";
import { renderTop } from "./top.js";

function listen(server: Server, addr: ListenAddr): Promise<ListenAddr> {
  return new Promise((res, rej) => {
    server.once("error", rej);
    const done = () => {
      server.off("error", rej);
      const a = server.address();
      res(
        addr.kind === "tcp" && a && typeof a === "object"
          ? { kind: "tcp", host: addr.host, port: a.port }
          : addr,
      );
    };
    if (addr.kind === "unix") {
      rmSync(addr.path, { force: true });
      server.listen(addr.path, done);
    } else server.listen(addr.port, addr.host, done);
  });
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
      state: { type: "string" },
      top: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!POLICY_NAMES.includes(values.policy)) {
    throw new UsageError(
      `--policy: unknown "${values.policy}" (known: ${POLICY_NAMES.join(", ")})`,
    );
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
  const stateDir = resolve(values.state ?? defaultStateDir());
  const backend = makeBackend(values.backend);
  const store = new Store(stateDir);
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
  } catch (e) {
    if (e instanceof DaemonError) throw new UsageError(e.message);
    throw e;
  }
  const token = store.token();
  const server = createApi(daemon, token);
  let bound: ListenAddr;
  try {
    bound = await listen(server, addr);
  } catch (e) {
    store.close();
    throw new DaemonError(
      500,
      "listen",
      `cannot listen on ${values.listen}: ${(e as Error).message}`,
    );
  }
  const where = formatListen(bound);
  writeFileSync(
    join(stateDir, "daemon.json"),
    `${JSON.stringify({ listen: where, pid: process.pid })}\n`,
  );
  out(
    `ballast daemon: ${backend.kind} backend, policy ${daemon.policyName}, every ${daemon.intervalMs} ms` +
      `${backend instanceof SimBackend ? `, speed ${speed}x` : ""}; API on ${where}; state in ${stateDir}`,
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
      })();
    }, 1000);
  }
  await new Promise<void>((done) => {
    const stop = () => {
      if (topTimer) clearInterval(topTimer);
      daemon.stop();
      server.close(() => done());
      server.closeAllConnections?.();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  rmSync(join(stateDir, "daemon.json"), { force: true });
  if (bound.kind === "unix") rmSync(bound.path, { force: true });
  store.close();
  out("ballast daemon: stopped");
  return EXIT_OK;
}
