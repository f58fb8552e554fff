/**
 * Real guests under libvirt: a private libvirtd (test/vm/libvirtd.sh, as root, TCG) runs
 * two transient domains made from the test guest, driven through `--backend libvirt:URI`
 * and the daemon. Skipped, with the reason printed, where libvirt or QEMU is not
 * installed or the tests are not root; CI installs them and runs as root.
 *
 *   lvstock: a stock guest: no Ballast agent, no qemu-ga, statistics off at start;
 *            512 MiB + 512 MiB virtio-mem (maxmem 1 GiB)
 *   lvqga:   qemu-ga only; 512 MiB
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LibvirtBackend } from "../../src/backends/libvirt/backend.js";
import { Virsh } from "../../src/backends/libvirt/virsh.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { Store } from "../../src/daemon/store.js";
import { MiB } from "../../src/units/index.js";
import { repoPath, spawnDaemon } from "../helpers.js";
import {
  createDomain,
  type Libvirtd,
  type LibvirtGuest,
  libvirtUnavailable,
  startLibvirtd,
} from "./libvirt.js";
import { buildGuest, guestFeatures, roundsUntilDecided } from "./qemu.js";
import { sleep, until } from "../wait.js";

const skip = libvirtUnavailable();
if (skip) console.log(`# libvirt tests skipped: ${skip}`);

describe("real guests under libvirt", { skip: skip ?? false, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "ballast-lv-"));
  let libvirtd: Libvirtd | null = null;
  let backend: LibvirtBackend;
  let stock: LibvirtGuest;
  let spec = "";
  const figures: Record<string, number> = {};

  const ballast = (...args: string[]) => {
    const r = spawnSync(process.execPath, [repoPath("bin/ballast"), ...args], {
      encoding: "utf8",
      timeout: 120_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const dom = async (name: string) => (await backend.domains()).find((d) => d.name === name)!;
  const current = (name: string) => {
    const out = spawnSync("virsh", ["-q", "-c", libvirtd!.uri, "domstats", "--balloon", name], {
      encoding: "utf8",
    }).stdout;
    return Number(/balloon\.current=(\d+)/.exec(out)?.[1] ?? 0) * 1024;
  };

  before(async () => {
    const image = buildGuest();
    libvirtd = startLibvirtd(join(dir, "libvirtd"));
    spec = `libvirt:${libvirtd.uri}`;
    // The backend is there before the domains: they are picked up as they start.
    backend = new LibvirtBackend(libvirtd.uri);
    assert.deepEqual(await backend.domains(), []);
    const qga = guestFeatures(image).includes("qemu-ga");
    let qgaUp: LibvirtGuest;
    [stock, qgaUp] = await Promise.all([
      createDomain(libvirtd.uri, {
        name: "lvstock",
        dir,
        image,
        memoryMiB: 512,
        virtioMemMiB: 512,
      }),
      createDomain(libvirtd.uri, {
        name: "lvqga",
        dir,
        image,
        memoryMiB: 512,
        qga,
        statsPeriodS: 2,
      }),
    ]);
    assert.ok(qga, "the test guest has qemu-ga (test/vm/build-guest.sh)");
    assert.match(qgaUp.log(), /started: qemu-ga/);
  });
  after(async () => {
    await backend?.close();
    libvirtd?.stop();
    if (!process.env.BALLAST_KEEP_VM_DIR) rmSync(dir, { recursive: true, force: true });
    else console.log(`# kept ${dir}`);
    if (Object.keys(figures).length) console.log(`# libvirt figures: ${JSON.stringify(figures)}`);
  });

  it("picks up domains that started, and lists them through ballast list --backend libvirt:URI", async () => {
    const ds = await backend.domains();
    assert.deepEqual(ds.map((d) => d.name).sort(), ["lvqga", "lvstock"]);
    const boots = backend.events(0).events.filter((e) => e.type === "boot");
    assert.equal(boots.length, 2);
    const s = ds.find((d) => d.name === "lvstock")!;
    assert.equal(s.memoryBytes, 512 * MiB);
    assert.equal(s.maxmemBytes, 1024 * MiB);
    assert.equal(s.actualBytes, 512 * MiB);
    assert.ok(s.id >= 1 && s.balloonable);
    const r = ballast("list", "--backend", spec, "--verbose");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^lvstock\s+\d+\s+512\s+512\s+\d+/m);
    assert.match(r.out, /^lvqga\s+\d+\s+512\s+512\s+\d+/m);
  });

  it("measures libvirt round trips: one domstats for all domains, one setmem", async () => {
    const v = new Virsh(libvirtd!.uri);
    const n = 5;
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await v.run("domstats", "--state", "--balloon", "--list-active");
    figures.virsh_domstats_all_ms = Number(
      (Number(process.hrtime.bigint() - t0) / 1e6 / n).toFixed(1),
    );
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await v.run("setmem", "lvqga", "524288KiB", "--live");
    figures.virsh_setmem_ms = Number((Number(process.hrtime.bigint() - t0) / 1e6 / n).toFixed(1));
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await backend.stats("lvqga");
    figures.stats_with_qga_ms = Number((Number(process.hrtime.bigint() - t0) / 1e6 / n).toFixed(1));
    assert.ok(figures.virsh_domstats_all_ms > 0);
  });

  it("a stock guest: shrunk above its floor from virtio-balloon's statistics, refused below it with the figures and above maxmem, grown back", async () => {
    // Statistics were off: the first contact switched them on and waits for the first.
    const s = await backend.stats("lvstock");
    assert.ok(s, "statistics after the first contact");
    assert.equal(s.active_anon_bytes, undefined, "a stock guest says nothing of its active lists");
    assert.ok(s.available_bytes! > 0 && s.total_bytes! > s.available_bytes!);
    // Make it hold 200 MiB in tmpfs, so that its floor is well above 128 MiB.
    assert.equal(await stock.ctl("alloc 200"), "ok alloc 200");
    await sleep(4500);
    const below = ballast("mem-set", "lvstock", "128MiB", "--backend", spec);
    assert.equal(below.code, 1, below.out);
    assert.match(
      below.err,
      /lvstock: 512 MiB -> 128 MiB \(-75%\): refused, below the floor of .* from virtio-balloon's statistics \(in use .* = MemTotal - MemAvailable, page cache kept .* = half of/,
    );
    const above = ballast("mem-set", "lvstock", "2GiB", "--backend", spec);
    assert.equal(above.code, 1);
    assert.match(above.err, /above maxmem 1 GiB/);
    assert.equal(current("lvstock"), 512 * MiB, "a refused mem-set changed nothing");
    const t0 = Date.now();
    const ok = ballast("mem-set", "lvstock", "448MiB", "--backend", spec);
    assert.equal(ok.code, 0, ok.err);
    await until("the balloon at 448 MiB", async () => current("lvstock") === 448 * MiB);
    figures.stock_shrink_64mib_to_target_ms = Date.now() - t0;
    // Grow back, and past boot memory through virtio-mem.
    const t1 = Date.now();
    const grow = ballast("mem-set", "lvstock", "768MiB", "--backend", spec);
    assert.equal(grow.code, 0, grow.err);
    assert.match(grow.out, /virtio-mem plugs 256 MiB/);
    await until("768 MiB", async () => current("lvstock") === 768 * MiB, 120_000);
    figures.stock_grow_320mib_to_target_ms = Date.now() - t1;
    const d = await until("the backend to follow virtio-mem", async () => {
      const x = await dom("lvstock");
      return x.actualBytes === 768 * MiB ? x : null;
    });
    assert.equal(d.memoryBytes, 512 * MiB);
    assert.equal(await stock.ctl("free"), "ok free");
  });

  it("sets targets through the backend: mem-max kept in the domain's metadata, back to boot memory", async () => {
    const r = await backend.setMax("lvstock", 896 * MiB);
    assert.ok(r.ok, r.message);
    const xml = spawnSync("virsh", ["-q", "-c", libvirtd!.uri, "dumpxml", "lvstock"], {
      encoding: "utf8",
    }).stdout;
    assert.match(xml, /maxmem-bytes="939524096"/);
    const over = await backend.setTarget("lvstock", 960 * MiB);
    assert.equal(over.code, "above-maxmem");
    let last = "";
    const back = await backend.setTarget("lvstock", 512 * MiB);
    assert.ok(back.ok, back.message);
    await until(
      "512 MiB",
      async () => {
        const x = await dom("lvstock");
        last = `backend actual ${x.actualBytes / MiB} MiB, libvirt balloon.current ${current("lvstock") / MiB} MiB`;
        return x.actualBytes === 512 * MiB;
      },
      120_000,
    ).catch((e: Error) =>
      assert.fail(`${e.message} (${last}); console: ${stock.log().slice(-600)}`),
    );
    const reached = backend
      .events(0)
      .events.filter((e) => e.domain === "lvstock" && e.type === "balloon-reached-target");
    assert.ok(reached.length >= 1);
  });

  it("a guest with qemu-ga shows PSI and a working-set floor, read through libvirt", async () => {
    const s = await until("qemu-ga statistics", async () => {
      const x = await backend.stats("lvqga");
      return x?.psi_some_avg10 !== undefined ? x : null;
    });
    assert.ok(s.psi_some_avg10! >= 0 && s.psi_some_avg10! <= 100);
    assert.equal(typeof s.psi_full_avg10, "number");
    assert.ok(s.active_anon_bytes !== undefined && s.active_file_bytes !== undefined);
  });

  it("the daemon runs its policy over libvirt guests, and list --json shows their floors", async () => {
    const store = new Store(join(dir, "state"));
    const daemon = new Daemon({
      backend,
      store,
      policy: "ballast",
      intervalMs: 1000,
      speed: 1,
      log: () => {},
    });
    const views = await daemon.domains();
    for (const v of views)
      assert.ok(
        v.floor_bytes! > 16 * MiB && v.floor_bytes! < 512 * MiB,
        `${v.name} ${v.floor_bytes}`,
      );
    assert.equal(typeof views.find((v) => v.name === "lvqga")!.psi_some_avg10, "number");
    // lvstock runs below its max (896 MiB, set above) on a host with room, so ballast has
    // something to decide once it trusts the guests' statistics (a stock guest's come
    // every 2 s).
    assert.ok(
      await roundsUntilDecided(daemon, store),
      `ballast decided for libvirt guests within 30 rounds; last view: ${JSON.stringify(
        (await daemon.domains()).map((v) => [v.name, v.actual_bytes, v.target_bytes]),
      )}`,
    );
    store.close();
    const r = ballast("list", "--backend", spec, "--json");
    assert.equal(r.code, 0, r.err);
    const listed = JSON.parse(r.out) as {
      domains: Array<{ name: string; floor_bytes: number | null }>;
    };
    for (const d of listed.domains) assert.ok(d.floor_bytes! > 0, `${d.name} has a floor`);
  });

  it("libvirtd restarted under the daemon: the daemon keeps running, and no setting, pin or target is lost or half-applied", async () => {
    const state = join(dir, "restart-state");
    const sock = join(dir, "restart.sock");
    const daemon = spawnDaemon(state, [
      "--backend",
      spec,
      "--listen",
      `unix:${sock}`,
      "--policy",
      "ballast",
      "--interval",
      "1s",
    ]);
    const viaDaemon = (...args: string[]) => ballast(...args, "--state", state);
    const view = () => {
      const r = viaDaemon("list", "--json");
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
            settings: { weight: number };
          }>;
        }
      ).domains.find((d) => d.name === "lvstock");
    };
    try {
      await until("the daemon to see lvstock with a floor", async () => view()?.floor_bytes);
      const pin = viaDaemon("mem-set", "lvstock", "448MiB");
      assert.equal(pin.code, 0, pin.err);
      assert.equal(viaDaemon("set", "lvstock", "weight=300").code, 0);
      await until("lvstock at 448 MiB", async () => current("lvstock") === 448 * MiB);

      const t0 = Date.now();
      libvirtd!.restart();
      figures.libvirtd_restart_ms = Date.now() - t0;
      // Right after the restart, and again once the daemon has gone round a few times:
      // the daemon is still there, and the guest is where the pin says.
      await sleep(3000);
      assert.equal(daemon.child.exitCode, null, `the daemon is still running:\n${daemon.output()}`);
      const v = await until("the daemon to see lvstock again", async () => {
        const x = view();
        return x?.state === "running" ? x : null;
      });
      assert.deepEqual(
        [v.pin_bytes, v.target_bytes, v.settings.weight],
        [448 * MiB, 448 * MiB, 300],
        "pin, target and settings kept",
      );
      assert.equal(current("lvstock"), 448 * MiB, "the balloon is where the pin says");

      // A change made across the restart goes through once libvirtd answers again.
      const moved = viaDaemon("mem-set", "lvstock", "416MiB");
      assert.equal(moved.code, 0, moved.err);
      await until("lvstock at 416 MiB", async () => current("lvstock") === 416 * MiB);
    } finally {
      daemon.child.kill("SIGTERM");
      await daemon.exit;
    }
    const s = new Store(state);
    assert.deepEqual(s.pending(), [], "nothing left half-applied");
    assert.equal(s.getTarget("lvstock")?.targetBytes, 416 * MiB);
    s.close();
    // Back to boot memory, unpinned, for the tests after this one.
    const back = await backend.setTarget("lvstock", 512 * MiB);
    assert.ok(back.ok, back.message);
    await until("lvstock back at 512 MiB", async () => current("lvstock") === 512 * MiB);
  });

  it("drops a domain that stops while it runs", async () => {
    const since = backend.events(0).next;
    spawnSync("virsh", ["-q", "-c", libvirtd!.uri, "destroy", "lvqga"]);
    const ds = await until("lvqga gone", async () => {
      const x = await backend.domains();
      return x.some((d) => d.name === "lvqga") ? null : x;
    });
    assert.deepEqual(
      ds.map((d) => d.name),
      ["lvstock"],
    );
    assert.ok(
      backend.events(since).events.some((e) => e.domain === "lvqga" && e.type === "guest-gone"),
    );
    const r = await backend.setTarget("lvqga", 256 * MiB);
    assert.equal(r.code, "no-such-domain");
  });
});
