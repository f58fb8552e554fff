/** Shared test helpers: paths in the repo, scenarios from text, runs with invariant checks. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildReport, type DomainReport, type Report } from "../src/sim/report.js";
import { loadScenario, parseScenario } from "../src/sim/scenario.js";
import { World } from "../src/sim/world.js";

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
