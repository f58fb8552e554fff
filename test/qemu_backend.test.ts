/**
 * The QEMU backend against fake QEMUs, offline and fast, as squeezed's tests drive its
 * algorithm against simulated guests: an idealised guest (its balloon goes where it is
 * told), a stuck one (it wobbles by a MiB, "Out of puff"), lying ones (statistics that
 * stop advancing, "unknown" markers), and a QEMU whose balloon command fails after
 * virtio-mem moved. Plus qemu-ga over its socket. The real-guest suites (test/vm/) check
 * the same against real kernels.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { QemuBackend } from "../src/backends/qemu/backend.js";
import type { VmSpec } from "../src/backends/qemu/discovery.js";
import { MiB } from "../src/units/index.js";
import { sleep } from "./wait.js";

const dir = mkdtempSync(join(tmpdir(), "ballast-fakeqemu-"));
let n = 0;
const UNKNOWN = 2 ** 64 - 1;

interface GuestModel {
  kind: "ideal" | "stuck";
  /** Statistics stop advancing after the first answer (a driver that stopped answering). */
  frozenStats?: boolean;
  /** The guest's statistics, bytes, as QEMU names them. */
  stats?: Record<string, number>;
  virtioMemMiB?: number;
  failBalloon?: boolean;
  /** ms from polling on to the guest's first answer. */
  answerAfterMs?: number;
}

/** A QEMU with one guest, speaking enough QMP for the backend. */
class FakeQemu {
  readonly path = join(dir, `vm${n++}.qmp`);
  server: Server;
  base = 512 * MiB;
  actual = 512 * MiB;
  target = 512 * MiB;
  poll = 0;
  lastUpdate = 0;
  vmem: { size: number; max: number; requested: number } | null;
  private socks: Socket[] = [];
  private timers: NodeJS.Timeout[] = [];

  constructor(readonly g: GuestModel) {
    this.vmem = g.virtioMemMiB ? { size: 0, max: g.virtioMemMiB * MiB, requested: 0 } : null;
    this.server = createServer((s) => this.serve(s));
    // The guest's driver: 64 MiB per 100 ms towards the target, or a 1 MiB wobble.
    this.timers.push(
      setInterval(() => {
        if (this.actual === this.target) return;
        if (g.kind === "ideal") {
          const step =
            Math.sign(this.target - this.actual) *
            Math.min(64 * MiB, Math.abs(this.target - this.actual));
          this.actual += step;
        } else {
          this.actual += this.actual % (2 * MiB) === 0 ? -MiB : MiB;
        }
        this.event("BALLOON_CHANGE", { actual: this.actual });
        if (this.vmem) this.vmem.size = this.vmem.requested;
      }, 100),
    );
  }

  listen(): Promise<this> {
    return new Promise((r) => this.server.listen(this.path, () => r(this)));
  }

  private event(event: string, data: unknown) {
    for (const s of this.socks)
      s.write(`${JSON.stringify({ event, data, timestamp: { seconds: 0, microseconds: 0 } })}\n`);
  }

  private answerStats() {
    if (this.g.frozenStats && this.lastUpdate > 0) return;
    this.lastUpdate = Math.floor(Date.now() / 1000);
  }

  private serve(s: Socket) {
    this.socks.push(s);
    s.write(
      `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "" }, capabilities: [] } })}\n`,
    );
    let buf = "";
    s.on("error", () => {});
    s.on("close", () => (this.socks = this.socks.filter((x) => x !== s)));
    s.on("data", (c) => {
      buf += c;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const cmd = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        const ok = (ret: unknown) => s.write(`${JSON.stringify({ return: ret, id: cmd.id })}\n`);
        const err = (desc: string) =>
          s.write(`${JSON.stringify({ error: { class: "GenericError", desc }, id: cmd.id })}\n`);
        const a = cmd.arguments ?? {};
        switch (cmd.execute) {
          case "qmp_capabilities":
            return ok({});
          case "query-memory-size-summary":
            return ok({ "base-memory": this.base, "plugged-memory": this.vmem?.size ?? 0 });
          case "qom-list":
            return ok(
              a.path === "/machine/peripheral"
                ? [
                    { name: "balloon0", type: "child<virtio-balloon-pci>" },
                    ...(this.vmem ? [{ name: "vm0", type: "child<virtio-mem-pci>" }] : []),
                  ]
                : [],
            );
          case "qom-get":
            if (a.property === "guest-stats-polling-interval") return ok(this.poll);
            return ok({ stats: this.g.stats ?? {}, "last-update": this.lastUpdate });
          case "qom-set":
            if (a.property === "guest-stats-polling-interval") {
              this.poll = a.value;
              this.timers.push(setTimeout(() => this.answerStats(), this.g.answerAfterMs ?? 300));
              this.timers.push(setInterval(() => this.answerStats(), a.value * 1000));
            } else if (a.property === "requested-size" && this.vmem) this.vmem.requested = a.value;
            return ok({});
          case "query-balloon":
            return ok({ actual: this.actual });
          case "balloon":
            if (this.g.failBalloon) return err("No balloon device has been activated");
            this.target = Math.min(a.value, this.base);
            return ok({});
          case "query-memory-devices":
            return ok(
              this.vmem
                ? [
                    {
                      type: "virtio-mem",
                      data: {
                        id: "vm0",
                        size: this.vmem.size,
                        "max-size": this.vmem.max,
                        "requested-size": this.vmem.requested,
                        "block-size": 2 * MiB,
                      },
                    },
                  ]
                : [],
            );
          default:
            return err(`The command ${cmd.execute} has not been found`);
        }
      }
    });
  }

  close() {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.socks) s.destroy();
    this.server.close();
  }
}

/** A stock guest at 512 MiB holding ~150 MiB, as virtio-balloon reports it. */
const STOCK = {
  "stat-total-memory": 480 * MiB,
  "stat-free-memory": 300 * MiB,
  "stat-available-memory": 320 * MiB,
  "stat-disk-caches": 40 * MiB,
  "stat-swap-in": 0,
  "stat-swap-out": 0,
  "stat-major-faults": 12,
  "stat-minor-faults": 3000,
  "stat-htlb-pgalloc": UNKNOWN,
};

const fakes: FakeQemu[] = [];
const servers: Server[] = [];
async function vm(g: GuestModel, extra: Partial<VmSpec> = {}) {
  const f = await new FakeQemu(g).listen();
  fakes.push(f);
  const spec: VmSpec = { name: "vm", qmp: f.path, agent: null, qga: null, ...extra };
  return { f, b: new QemuBackend(dir, [spec]) };
}

describe("QEMU backend against fake QEMUs", () => {
  after(() => {
    for (const f of fakes) f.close();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("idealised guest: first contact switches statistics on and waits for them, then shrinks above the floor and reports the target reached", async () => {
    const { f, b } = await vm({ kind: "ideal", stats: STOCK, answerAfterMs: 700 });
    const r = await b.setTarget("vm", 384 * MiB);
    assert.ok(r.ok, r.message);
    assert.equal(f.poll, 2, "polling switched on");
    const s = await b.stats("vm");
    assert.equal(s!.total_bytes, 480 * MiB);
    assert.equal("hugetlb" in s!, false);
    // Floor: (512 - 480) overhead + (480 - 320) in use + 20 cache kept + the low watermark.
    const below = await b.setTarget("vm", 200 * MiB);
    assert.equal(below.code, "below-floor");
    assert.match(
      below.message,
      /from virtio-balloon's statistics \(in use 160 MiB = MemTotal - MemAvailable, page cache kept 20 MiB = half of 40 MiB, kernel and struct pages 32 MiB/,
    );
    for (let i = 0; i < 40 && (await b.domains())[0]!.actualBytes !== 384 * MiB; i++)
      await sleep(100);
    assert.equal((await b.domains())[0]!.actualBytes, 384 * MiB);
    assert.ok(
      b
        .events(0)
        .events.some((e) => e.type === "balloon-reached-target" && /384 MiB/.test(e.message)),
    );
    await b.close();
  });

  it("first contact while the balloon still moves (a daemon killed just after a shrink): the floor is measured against the balloon the statistics see", async () => {
    // The killed daemon asked for 128 MiB; the guest's first statistics come once the
    // balloon is there (64 MiB per 100 ms: 600 ms), MemTotal shrunk with it.
    const { f, b } = await vm({
      kind: "ideal",
      answerAfterMs: 700,
      stats: {
        ...STOCK,
        "stat-total-memory": 96 * MiB,
        "stat-free-memory": 60 * MiB,
        "stat-available-memory": 70 * MiB,
        "stat-disk-caches": 10 * MiB,
      },
    });
    f.target = 128 * MiB;
    // Against the 512 MiB read before the wait, the overhead would be 416 MiB and the floor
    // far above 128 MiB; against the balloon as it is when the statistics come, 32 MiB.
    const r = await b.setTarget("vm", 128 * MiB);
    assert.ok(r.ok, r.message);
    await b.close();
  });

  it("stuck guest: a balloon that wobbles by a MiB is stalled after 5 s with no progress", async () => {
    const { b } = await vm({ kind: "stuck", stats: STOCK });
    assert.ok((await b.setTarget("vm", 256 * MiB, { force: true })).ok);
    const t0 = Date.now();
    while (Date.now() - t0 < 7000 && !(await b.domains())[0]!.stalled) await sleep(250);
    const d = (await b.domains())[0]!;
    assert.ok(d.stalled, "stalled");
    assert.ok(Date.now() - t0 >= 5000, "not before 5 s");
    const ev = b.events(0).events.find((e) => e.type === "balloon-stalled");
    assert.match(
      ev!.message,
      /vm: balloon stalled at 51\d MiB, .* from target 256 MiB: no progress for 5s/,
    );
    await b.close();
  });

  it("lying guest: statistics whose last-update stops advancing go stale, and a shrink is then refused", async () => {
    const { f, b } = await vm({ kind: "ideal", stats: STOCK, frozenStats: true });
    assert.ok(await b.stats("vm"), "fresh at first");
    // Ten seconds of silence, as if the guest's driver had stopped answering.
    f.lastUpdate -= 11;
    assert.equal(await b.stats("vm"), null, "stale statistics are unknown");
    const r = await b.setTarget("vm", 384 * MiB);
    assert.equal(r.code, "below-floor");
    assert.match(r.message, /no fresh statistics/);
    assert.equal(f.target, 512 * MiB, "nothing changed");
    await b.close();
  });

  it("lying guest: QEMU's unknown marker (2^64-1) is absent, never a number", async () => {
    const { b } = await vm({
      kind: "ideal",
      stats: { ...STOCK, "stat-available-memory": UNKNOWN },
    });
    const s = await b.stats("vm");
    assert.equal(s!.available_bytes, undefined);
    // Without MemAvailable there is no floor: a shrink is refused.
    const r = await b.setTarget("vm", 384 * MiB);
    assert.equal(r.code, "below-floor");
    await b.close();
  });

  it("a mem-set that grows virtio-mem and then fails on the balloon is rolled back", async () => {
    const { f, b } = await vm({
      kind: "ideal",
      stats: STOCK,
      virtioMemMiB: 512,
      failBalloon: true,
    });
    const before = (await b.domains())[0]!;
    assert.equal(before.maxmemBytes, 1024 * MiB);
    const r = await b.setTarget("vm", 768 * MiB);
    assert.equal(r.ok, false);
    assert.equal(r.code, "qmp-error");
    assert.match(
      r.message,
      /QEMU refused: balloon: No balloon device .*; virtio-mem put back to 0 B, nothing changed/,
    );
    assert.equal(f.vmem!.requested, 0);
    const d = (await b.domains())[0]!;
    assert.equal(d.targetBytes, before.targetBytes);
    assert.equal(b.events(0).events.filter((e) => e.type === "mem-set").length, 0);
    await b.close();
  });

  it("names a VM by its name or its id (its place in the list), as xl takes ids", async () => {
    const alpha = await new FakeQemu({ kind: "ideal", stats: STOCK }).listen();
    const beta = await new FakeQemu({ kind: "ideal", stats: STOCK }).listen();
    fakes.push(alpha, beta);
    const b = new QemuBackend(dir, [
      { name: "alpha", qmp: alpha.path, agent: null, qga: null },
      { name: "beta", qmp: beta.path, agent: null, qga: null },
    ]);
    assert.deepEqual(
      (await b.domains()).map((d) => [d.name, d.id]),
      [
        ["alpha", 0],
        ["beta", 1],
      ],
    );
    const r = await b.setTarget("1", 384 * MiB);
    assert.ok(r.ok, r.message);
    assert.match(r.message, /^beta: 512 MiB -> 384 MiB/);
    assert.equal(beta.target, 384 * MiB);
    assert.equal(alpha.target, 512 * MiB);
    assert.ok(await b.stats("1"));
    const none = await b.setMax("5", 1024 * MiB);
    assert.equal(none.code, "no-such-domain");
    assert.equal(none.message, 'no VM named "5" and none with id 5');
    await b.close();
  });

  it("qemu-ga over its socket gives /proc: PSI and the working set", async () => {
    const files: Record<string, string> = {
      "/proc/meminfo":
        "MemTotal:  491520 kB\nMemFree:  300000 kB\nMemAvailable:  320000 kB\nActive(anon):  100000 kB\nInactive(anon):  2000 kB\nActive(file):  10000 kB\nInactive(file):  20000 kB\nUnevictable:  0 kB\nSUnreclaim:  5000 kB\nSwapTotal:  0 kB\nSwapFree:  0 kB\n",
      "/proc/vmstat": "pgfault 5000\npgmajfault 7\npswpin 0\npswpout 0\n",
      "/proc/pressure/memory":
        "some avg10=1.50 avg60=0.20 avg300=0.00 total=1234\nfull avg10=0.50 avg60=0.00 avg300=0.00 total=99\n",
    };
    const qgaPath = join(dir, "vm.qga");
    const open = new Map<number, string>();
    let next = 1000;
    const qga = createServer((s) => {
      let buf = "";
      s.on("data", (c) => {
        // A stale reply a previous client left, which the sync must skip.
        buf += Buffer.from(c.filter((x) => x !== 0xff)).toString("utf8");
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const cmd = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          const a = cmd.arguments ?? {};
          const reply = (ret: unknown) => s.write(`${JSON.stringify({ return: ret })}\n`);
          if (cmd.execute === "guest-sync-delimited") {
            s.write(`${JSON.stringify({ return: 4242 })}\n`);
            s.write(Buffer.from([0xff]));
            reply(a.id);
          } else if (cmd.execute === "guest-file-open") {
            if (!(a.path in files))
              s.write(
                `${JSON.stringify({ error: { class: "GenericError", desc: "No such file" } })}\n`,
              );
            else {
              open.set(next, a.path);
              reply(next++);
            }
          } else if (cmd.execute === "guest-file-read") {
            const text = files[open.get(a.handle)!]!;
            reply({
              count: text.length,
              "buf-b64": Buffer.from(text).toString("base64"),
              eof: true,
            });
          } else if (cmd.execute === "guest-file-close") {
            open.delete(a.handle);
            reply({});
          }
        }
      });
    });
    servers.push(qga);
    await new Promise<void>((r) => qga.listen(qgaPath, r));
    const { b } = await vm({ kind: "ideal", stats: STOCK }, { qga: qgaPath });
    const s = (await b.stats("vm"))!;
    assert.equal(s.psi_some_avg10, 1.5);
    assert.equal(s.psi_full_avg10, 0.5);
    assert.equal(s.active_anon_bytes, 100000 * 1024);
    assert.equal(s.major_faults, 7);
    assert.equal(open.size, 0, "every handle closed");
    // With the active lists known, the floor is the working-set one.
    const r = await b.setTarget("vm", 64 * MiB);
    assert.match(r.message, /below the floor of .* \(working set/);
    await b.close();
  });
});
