/**
 * What the web tests share: a simulation report with `samples` (the simulator's own, as
 * `sim run --samples` gives them), and headless Chromium, launched the way this machine
 * allows.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, ConsoleMessage, Page } from "playwright-core";
import { buildReport, type Report } from "../../src/sim/report.js";
import { loadScenario } from "../../src/sim/scenario.js";
import { World } from "../../src/sim/world.js";
import { repoPath } from "../helpers.js";

export const CHROMIUM = process.env.BALLAST_CHROMIUM ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM)
    ? null
    : `${CHROMIUM} not found: install Debian's chromium (CI's .ci/run does) to run the browser tests`;
}

export type ReportWithSamples = Report & { samples: NonNullable<Report["samples"]> };

/** Run an example with the simulator's own time series, one sample every `everyMs`, as `--samples` does. */
export function reportWithSamples(example: string, everyMs = 1000): ReportWithSamples {
  const world = new World({ ...loadScenario(repoPath(`examples/${example}`)), samplesMs: everyMs });
  world.runToEnd();
  const r = buildReport(world);
  if (!r.samples) throw new Error(`${example}: the report has no samples`);
  return { ...r, samples: r.samples };
}

/** The flags this machine needs (a closed network: no background connections). */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Headless Chromium; playwright gives it a fresh --user-data-dir and removes it after. */
export async function launch(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Console errors and uncaught exceptions of a page, collected from now on. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  return errors;
}

/** A daemon on the simulated test host with its API on a free loopback port; time moves only when the test says. */
export async function startDaemon(policy = "none") {
  const { SimBackend } = await import("../../src/backends/sim/backend.js");
  const { createApi } = await import("../../src/daemon/api.js");
  const { Daemon } = await import("../../src/daemon/daemon.js");
  const { Store } = await import("../../src/daemon/store.js");
  const { dashboardSite } = await import("../../src/web/dashboard_page.js");
  const state = tempDir("ballast-web-");
  const store = new Store(state.dir);
  const backend = SimBackend.fromFile(repoPath("test/fixtures/daemon-host.yaml"));
  const daemon = new Daemon({ backend, store, policy, intervalMs: null, speed: 1, log: () => {} });
  const server = createApi(daemon, store.token(), dashboardSite);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  /** Advance simulated time, with the daemon's decision rounds as its timer would run them. */
  const advance = async (ms: number) => {
    for (let done = 0; done < ms; done += 1000) {
      backend.advance(1000);
      await daemon.round();
    }
  };
  const stop = () =>
    new Promise<void>((r) => {
      server.close(() => {
        store.close();
        state.remove();
        r();
      });
      server.closeAllConnections();
    });
  return { daemon, backend, store, server, url, token: store.token(), advance, stop };
}
