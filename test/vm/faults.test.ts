/**
 * Faults with a real guest under the daemon (QEMU backend, TCG): the daemon killed
 * with SIGKILL in the middle of an operation, and QEMU killed with SIGKILL in the middle
 * of a balloon inflation. After the restart no pin or target is lost and none is left
 * half-applied: QEMU's balloon ends where the daemon's state says.
 *
 *   gamma: 512 MiB boot memory + 512 MiB virtio-mem (maxmem 1 GiB), the Ballast agent
 *
 * (libvirtd restarted under the daemon: test/vm/libvirt.test.ts.)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { call } from "../../src/cli/client.js";
import { Store } from "../../src/daemon/store.js";
import { formatSize, MiB } from "../../src/units/index.js";
import { daemonUp, repoPath, type SpawnedDaemon, spawnDaemon, tempDir } from "../helpers.js";
import { bootGuest, buildGuest, type TestGuest, unavailable } from "./qemu.js";
import { sleep, until as waitUntil } from "../wait.js";

const skip = unavailable();
if (skip) console.log(`# real-guest fault tests skipped: ${skip}`);

const bin = repoPath("bin/ballast");

/** Faults take a daemon restart and a guest's answer: a longer wait than other tests'. */
const until = <T>(what: string, f: Parameters<typeof waitUntil<T>>[1], timeoutMs = 90_000) =>
  waitUntil(what, f, timeoutMs);

describe("real guest faults under the daemon", { skip: skip ?? false, timeout: 600_000 }, () => {
  const vms = tempDir("ballast-vmf-");
  const state = tempDir("ballast-vmf-state-");
  const sock = join(state, "api.sock");
  let image = "";
  let gamma: TestGuest;
  let daemon: SpawnedDaemon;
  const boot = () =>
    bootGuest({ name: "gamma", dir: vms, image, memoryMiB: 512, virtioMemMiB: 512 });

  const start = async (env: Record<string, string> = {}) => {
    daemon = spawnDaemon(
      state,
      [
        "--backend",
        `qemu:${vms}`,
        "--listen",
        `unix:${sock}`,
        "--policy",
        "none",
        "--interval",
        "1s",
      ],
      env,
    );
    await daemonUp(daemon, 60_000);
  };
  const stop = async () => {
    daemon.child.kill("SIGTERM");
    await daemon.exit;
  };
  const ballast = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args, "--state", state], {
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const history = async () => {
    try {
      const addr = JSON.parse(readFileSync(join(state, "daemon.json"), "utf8")).listen as string;
      const r = await call(
        { listen: addr, token: null },
        "GET",
        "/v1/domains/gamma/history?limit=10000",
      );
      return r.history as Array<{ id: number; type: string; kind: string; message: string }>;
    } catch {
      return [];
    }
  };
  const view = () => {
    const r = ballast("list", "--json");
    if (r.code !== 0) return null;
    return (
      JSON.parse(r.out) as {
        domains: Array<{
          name: string;
          state: string;
          target_bytes: number;
          actual_bytes: number;
          pin_bytes: number | null;
          floor_bytes: number | null;
        }>;
      }
    ).domains.find((d) => d.name === "gamma")!;
  };

  before(async () => {
    image = buildGuest();
    gamma = await boot();
  });
  afterEach(async () => {
    // A failed test must not leave its daemon holding the state directory.
    if (daemon && daemon.child.exitCode === null && daemon.child.signalCode === null) await stop();
  });
  after(async () => {
    daemon?.child.kill("SIGKILL");
    gamma?.kill();
  });

  it("daemon killed in the middle of a ballast decision round, after QEMU took the target: the restart settles it", async () => {
    await start({ BALLAST_FISTPOINT: "kill:after-apply" });
    assert.equal(ballast("policy", "ballast").code, 0);
    assert.equal((await daemon.exit).signal, "SIGKILL", daemon.output());
    let s = new Store(state);
    const [row] = s.pending();
    assert.ok(row && row.kind === "decision" && row.domain === "gamma", JSON.stringify(row));
    const decided = s.getTarget("gamma")!.targetBytes;
    s.close();
    await start();
    // The restart puts the decided target back on QEMU before anything else runs, and the
    // policy observes the guest at it: the daemon lists it there, and a decision that
    // follows (the policy may be content and make none) starts from it.
    await until("the restore", async () => (await history()).some((x) => x.type === "restore"));
    await until("gamma listed at the decided target", () => view()?.target_bytes === decided);
    await sleep(3000); // a few of the policy's rounds
    assert.equal(ballast("policy", "none").code, 0);
    await stop();
    s = new Store(state);
    assert.deepEqual(s.pending(), []);
    const rows = s.history("gamma", 10_000).filter((h) => h.id > row.id);
    const restore = rows.find((h) => h.type === "restore")!;
    assert.match(
      restore.message,
      new RegExp(`-> ${formatSize(decided).replace(".", "\\.")}: restored`),
    );
    const next = rows.find((h) => h.kind === "decision");
    if (next) {
      assert.ok(next.id > restore.id);
      assert.match(
        next.message,
        new RegExp(`^gamma: ${formatSize(decided).replace(".", "\\.")} -> `),
      );
    }
    const settled = s.getHistory(row.id)!;
    assert.equal(settled.code, null);
    assert.match(settled.message, /^gamma: .* -> .*: .*\(applied when the daemon started again\)$/);
    s.close();
  });

  it("daemon killed after writing a grow through virtio-mem down, before applying it: the restart applies it", async () => {
    await start({ BALLAST_FISTPOINT: "kill:after-journal" });
    await until("statistics from the agent", () => view()?.floor_bytes);
    const r = ballast("mem-set", "gamma", "768MiB");
    assert.equal(r.code, 1, "the client saw the daemon die");
    assert.equal((await daemon.exit).signal, "SIGKILL", daemon.output());
    const s = new Store(state);
    assert.equal(s.getTarget("gamma")?.targetBytes, 768 * MiB);
    assert.equal(s.pending().length, 1);
    s.close();

    await start();
    const v = await until("gamma at 768 MiB (virtio-mem plugged)", () => {
      const x = view();
      return x && x.actual_bytes === 768 * MiB ? x : null;
    });
    assert.deepEqual([v.target_bytes, v.pin_bytes], [768 * MiB, 768 * MiB]);
    await stop();
    const after = new Store(state);
    assert.deepEqual(after.pending(), []);
    after.close();
  });

  it("daemon killed after QEMU took a shrink, before recording it: the restart keeps the pin and the balloon ends there", async () => {
    await start({ BALLAST_FISTPOINT: "kill:after-apply" });
    await until("statistics from the agent", () => view()?.floor_bytes);
    const r = ballast("mem-set", "gamma", "384MiB");
    assert.equal(r.code, 1);
    assert.equal((await daemon.exit).signal, "SIGKILL", daemon.output());
    await start();
    const v = await until("gamma at 384 MiB", () => {
      const x = view();
      return x && Math.abs(x.actual_bytes - 384 * MiB) <= MiB ? x : null;
    });
    assert.deepEqual([v.target_bytes, v.pin_bytes], [384 * MiB, 384 * MiB]);
    const h = ballast("list", "--json");
    assert.equal(h.code, 0);
  });

  it("QEMU killed in the middle of an inflation: the daemon keeps running, and puts the pin back on the new QEMU", async () => {
    await start();
    await until("statistics from the agent", () => view()?.floor_bytes);
    // Back to 512 MiB, then start a long inflation and kill QEMU while it runs.
    assert.equal(ballast("mem-set", "gamma", "512MiB").code, 0);
    await until("gamma at 512 MiB", () => view()?.actual_bytes === 512 * MiB);
    const r = ballast("mem-set", "gamma", "320MiB");
    assert.equal(r.code, 0, r.err);
    gamma.kill("SIGKILL");
    const dead = await until("gamma seen crashed", () => {
      const x = view();
      return x && x.state === "crashed" ? x : null;
    });
    assert.equal(dead.pin_bytes, 320 * MiB, "the pin is kept while the guest is gone");
    assert.equal(daemon.child.exitCode, null, "the daemon is still running");

    gamma = await boot();
    const back = await until(
      "the pin put back on the new QEMU",
      () => {
        const x = view();
        return x && x.state === "running" && Math.abs(x.actual_bytes - 320 * MiB) <= MiB ? x : null;
      },
      180_000,
    );
    assert.deepEqual([back.target_bytes, back.pin_bytes], [320 * MiB, 320 * MiB]);
    await stop();
    const s = new Store(state);
    const held = s.history("gamma", 10_000).filter((h) => h.type === "pin-held");
    assert.ok(held.length >= 1, "the pin was put back by the daemon");
    assert.deepEqual(s.pending(), []);
    s.close();
  });
});
