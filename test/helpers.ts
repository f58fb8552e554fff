/**
 * Shared test helpers: paths in the repo, scenarios from text, runs with invariant checks,
 * daemons started as a user starts them.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildReport, type DomainReport, type Report } from "../src/sim/report.js";
import { loadScenario, parseScenario } from "../src/sim/scenario.js";
import { World } from "../src/sim/world.js";
import { sleep } from "./wait.js";

const made: string[] = [];
process.on("exit", () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/**
 * A fresh directory under the system's temporary directory, removed when the test
 * process exits (passed or failed): `npm test` leaves nothing behind.
 */
export function tempDir(prefix = "ballast-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A path from the repository root (tests run from dist/test/...). */
export function repoPath(rel: string): string {
  return fileURLToPath(new URL(`../../${rel}`, import.meta.url));
}

/** Run a world to its end, asserting both conservation invariants after every tick. */
export function runChecked(world: World): Report {
  world.onTick = (w) => {
    const v = w.invariantViolations();
    if (v.length > 0) assert.fail(v.join("\n"));
  };
  world.runToEnd();
  return buildReport(world);
}

export function runYaml(yaml: string): { world: World; report: Report } {
  const world = new World(parseScenario(yaml, "test.yaml", repoPath("test/scenarios")));
  return { world, report: runChecked(world) };
}

export function runExample(name: string): { world: World; report: Report } {
  const world = new World(loadScenario(repoPath(`examples/${name}`)));
  return { world, report: runChecked(world) };
}

export function dom(r: Report, name: string): DomainReport {
  const d = r.domains.find((x) => x.name === name);
  assert.ok(d, `no domain ${name} in report`);
  return d;
}

export function eventsOf(r: Report, type: string, domain?: string) {
  return r.events.filter((e) => e.type === type && (domain === undefined || e.domain === domain));
}

/** A `bin/ballast daemon` a test started. */
export interface SpawnedDaemon {
  child: ChildProcess;
  /** Its state directory (`--state`). */
  state: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it wrote to stdout so far (its log). */
  stdout: () => string;
  /** Its stdout and then its stderr: for failure messages. */
  output: () => string;
}

const daemons: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of daemons) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/**
 * `bin/ballast daemon --state STATE ARGS...`, its output collected. A daemon still running
 * when the test process exits is killed.
 */
export function spawnDaemon(
  state: string,
  args: string[],
  env: Record<string, string> = {},
): SpawnedDaemon {
  const child = spawn(
    process.execPath,
    [repoPath("bin/ballast"), "daemon", "--state", state, ...args],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
  );
  daemons.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (err += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => r({ code, signal })),
  );
  return { child, state, exit, stdout: () => out, output: () => out + err };
}

/**
 * Until the daemon has published itself in STATE/daemon.json (it listens); fails if it
 * ended first. A daemon.json left by an earlier daemon (one killed with SIGKILL leaves it)
 * names another pid and does not count.
 */
export async function daemonUp(d: SpawnedDaemon, timeoutMs = 10_000): Promise<void> {
  const ready = join(d.state, "daemon.json");
  const published = () => {
    try {
      return (JSON.parse(readFileSync(ready, "utf8")) as { pid?: number }).pid === d.child.pid;
    } catch {
      return false; // not there yet, or being written
    }
  };
  const end = Date.now() + timeoutMs;
  while (!published() && d.child.exitCode === null && d.child.signalCode === null) {
    if (Date.now() > end) break;
    await sleep(50);
  }
  assert.ok(published(), `the daemon did not start:\n${d.output()}`);
}
