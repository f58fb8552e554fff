/**
 * The daemon killed with SIGKILL in the middle of a decision round or of an operator's
 * mem-set (sim backend), at the exact points named by its fistpoints, and at random
 * moments: after a restart no setting, pin or decision is lost, nothing is left
 * pending, and every stored target is the one the backend holds.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { Store } from "../src/daemon/store.js";
import { daemonUp, repoPath, type SpawnedDaemon, spawnDaemon, tempDir } from "./helpers.js";

const bin = repoPath("bin/ballast");
const DEMO = repoPath("examples/daemon-demo.yaml");

function daemon(state: string, env: Record<string, string> = {}, extra: string[] = []) {
  return spawnDaemon(
    state,
    ["--backend", `sim:${DEMO}`, "--listen", "127.0.0.1:0", "--speed", "20", ...extra],
    env,
  );
}

function ballast(state: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args, "--state", state], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function listed(state: string): Map<string, { target: number; pin: number | null }> {
  const r = ballast(state, "list", "--json");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as {
    domains: Array<{ name: string; target_bytes: number; pin_bytes: number | null }>;
  };
  return new Map(j.domains.map((d) => [d.name, { target: d.target_bytes, pin: d.pin_bytes }]));
}

async function stop(d: SpawnedDaemon): Promise<void> {
  d.child.kill("SIGTERM");
  const e = await d.exit;
  assert.equal(e.code, 0, d.output());
}

describe("kill -9 of the daemon in the middle of a decision round (sim backend)", () => {
  it("killed after a decision is written down, before it is applied: the restart applies it", async () => {
    const state = tempDir("ballast-k1-");
    // Settings and a pin from before the crash must survive it.
    const pre = new Store(state);
    pre.putSettings("db", { weight: 250 });
    pre.close();
    const d = daemon(state, { BALLAST_FISTPOINT: "kill:after-journal" }, ["--policy", "ballast"]);
    const e = await d.exit;
    assert.equal(e.signal, "SIGKILL", d.output());
    let s = new Store(state);
    const pending = s.pending();
    assert.equal(pending.length, 1, JSON.stringify(pending));
    assert.equal(pending[0]!.kind, "decision");
    const intent = s.getTarget(pending[0]!.domain)!;
    assert.equal(intent.historyId, pending[0]!.id);
    // Hold the policy still after the restart, so that what we see is the restore.
    s.set("policy", "none");
    s.close();

    const again = daemon(state);
    await daemonUp(again);
    const l = listed(state);
    assert.equal(l.get(intent.name)!.target, intent.targetBytes, "the decision was applied");
    await stop(again);
    s = new Store(state);
    assert.deepEqual(s.pending(), [], "nothing left pending");
    const settled = s.getHistory(pending[0]!.id)!;
    assert.equal(settled.code, null);
    assert.match(settled.message, /\(applied when the daemon started again\)$/);
    assert.equal(s.getSettings("db")?.weight, 250, "settings kept");
    s.close();
  });

  it("killed after an operator's mem-set reached the backend, before it was recorded: the pin is kept and applied", async () => {
    const state = tempDir("ballast-k2-");
    const d = daemon(state, { BALLAST_FISTPOINT: "kill:after-apply" }, ["--policy", "none"]);
    await daemonUp(d);
    const r = ballast(state, "mem-set", "db", "5GiB");
    assert.equal(r.code, 1, "the client saw the daemon die");
    assert.match(r.err, /cannot reach the daemon|socket hang up|ECONNRESET/);
    assert.equal((await d.exit).signal, "SIGKILL");
    let s = new Store(state);
    const t = s.getTarget("db")!;
    assert.deepEqual([t.targetBytes, t.pinned], [5 * 1024 ** 3, true]);
    assert.equal(s.pending().length, 1);
    s.close();

    const again = daemon(state);
    await daemonUp(again);
    const l = listed(state).get("db")!;
    assert.deepEqual(l, { target: 5 * 1024 ** 3, pin: 5 * 1024 ** 3 });
    await stop(again);
    s = new Store(state);
    assert.deepEqual(s.pending(), []);
    const row = s.history("db", 10_000).find((h) => h.type === "operator-mem-set")!;
    assert.match(row.message, /applied when the daemon started again/);
    s.close();
  });

  it("killed at random moments under the ballast policy: every restart finds consistent state", async () => {
    const state = tempDir("ballast-k3-");
    let d = daemon(state, {}, ["--policy", "ballast"]);
    await daemonUp(d);
    assert.equal(ballast(state, "mem-set", "legacy", "3GiB").code, 0);
    assert.equal(ballast(state, "set", "web1", "weight=150").code, 0);
    // Fixed delays (ms): deterministic enough, and each lands in a different phase.
    let historyBefore = 0;
    for (const delay of [350, 800, 1300]) {
      await new Promise((r) => setTimeout(r, delay));
      d.child.kill("SIGKILL");
      await d.exit;
      const s = new Store(state);
      assert.ok(s.history(null, 10_000).length >= historyBefore, "no history lost");
      historyBefore = s.history(null, 10_000).length;
      s.close();
      d = daemon(state);
      await daemonUp(d);
      const l = JSON.parse(ballast(state, "list", "--json").out) as {
        domains: Array<{ name: string; target_bytes: number; pin_bytes: number | null }>;
        policy: string;
      };
      const legacy = l.domains.find((x) => x.name === "legacy")!;
      assert.deepEqual([legacy.target_bytes, legacy.pin_bytes], [3 * 1024 ** 3, 3 * 1024 ** 3]);
      const web1 = l.domains.find((x) => x.name === "web1") as unknown as {
        settings: { weight: number };
      };
      assert.equal(web1.settings.weight, 150, "settings kept");
      assert.equal(l.policy, "ballast");
    }
    await stop(d);
    const s = new Store(state);
    assert.deepEqual(s.pending(), [], "nothing left pending after a restart");
    assert.ok(s.history(null, 10_000).length >= historyBefore);
    s.close();
  });
});
