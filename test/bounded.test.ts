/**
 * A daemon that runs for months stays bounded: the event logs are rings (one module,
 * src/model/event_log.ts, used by every backend and the simulated world) whose readers
 * learn what they missed, and the history in SQLite has a retention, pruned on a
 * schedule (checked with a fake clock).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LibvirtBackend } from "../src/backends/libvirt/backend.js";
import type { Virsh } from "../src/backends/libvirt/virsh.js";
import { QemuBackend } from "../src/backends/qemu/backend.js";
import { SimBackend } from "../src/backends/sim/backend.js";
import { parseRetention } from "../src/cli/daemon.js";
import { UsageError } from "../src/cli/errors.js";
import {
  Daemon,
  DEFAULT_RETENTION_MS,
  type DaemonOptions,
  PRUNE_EVERY_MS,
} from "../src/daemon/daemon.js";
import type { LogLevel } from "../src/daemon/log.js";
import { Store } from "../src/daemon/store.js";
import { EVENT_LOG_CAPACITY, EventLog } from "../src/model/event_log.js";
import { Ring } from "../src/model/ring.js";
import { repoPath, tempDir } from "./helpers.js";

const HOST = repoPath("test/fixtures/daemon-host.yaml");
const DAY = 86_400_000;

describe("ring buffer", () => {
  it("keeps the last `capacity` items, oldest first, and says which one it pushed out", () => {
    const r = new Ring<number>(3);
    const out: Array<number | undefined> = [];
    for (let i = 1; i <= 7; i++) out.push(r.push(i));
    assert.deepEqual(r.toArray(), [5, 6, 7]);
    assert.deepEqual(out, [undefined, undefined, undefined, 1, 2, 3, 4]);
    assert.deepEqual(r.slice(1), [6, 7]);
    assert.equal(r.at(0), 5);
    assert.equal(r.last(), 7);
  });

  it("grows without bound when its capacity is Infinity, and refuses 0", () => {
    const r = new Ring<number>(Infinity);
    for (let i = 0; i < 50_000; i++) r.push(i);
    assert.equal(r.length, 50_000);
    assert.equal(r.at(0), 0);
    assert.throws(() => new Ring(0), /capacity/);
    assert.throws(() => new Ring(1.5), /capacity/);
  });
});

describe("event log", () => {
  it("keeps the last N events; a reader that fell behind gets what is left and how many it missed", () => {
    const log = new EventLog(() => 1, 5);
    for (let i = 0; i < 12; i++) log.emit("vm", "mem-set", `m${i}`);
    const behind = log.since(0);
    assert.deepEqual(
      behind.events.map((e) => e.message),
      ["m7", "m8", "m9", "m10", "m11"],
    );
    assert.equal(behind.next, 12);
    assert.equal(behind.missed, 7);
    const current = log.since(9);
    assert.deepEqual(
      current.events.map((e) => e.message),
      ["m9", "m10", "m11"],
    );
    assert.equal(current.missed, 0);
    assert.deepEqual(log.since(12), { events: [], next: 12, missed: 0 });
    // The daemon asks from "the end" to learn the next index.
    assert.deepEqual(log.since(Number.MAX_SAFE_INTEGER), { events: [], next: 12, missed: 0 });
    assert.equal(log.first, 7);
  });

  it("bound() drops the oldest beyond the new capacity and keeps the indexes", () => {
    const log = new EventLog(() => 0, Infinity);
    for (let i = 0; i < 30; i++) log.emit("vm", "boot", `b${i}`);
    log.bound(10);
    assert.equal(log.all().length, 10);
    assert.equal(log.since(25).events[0]!.message, "b25");
    assert.equal(log.since(0).missed, 20);
    log.emit("vm", "boot", "b30");
    assert.equal(log.all().length, 10);
    assert.equal(log.next, 31);
  });

  it("is the one log every backend keeps, at EVENT_LOG_CAPACITY", () => {
    const qemu = new QemuBackend("/nonexistent", []);
    const virsh = { run: async () => "" } as unknown as Virsh;
    const libvirt = new LibvirtBackend("", virsh);
    for (const b of [qemu, libvirt]) {
      const log = (b as unknown as { log: unknown }).log;
      assert.ok(log instanceof EventLog, `${b.kind} keeps an EventLog`);
      assert.equal(log.capacity, EVENT_LOG_CAPACITY);
      assert.deepEqual(b.events(0), { events: [], next: 0, missed: 0 });
    }
    const sim = SimBackend.fromFile(HOST);
    assert.equal(sim.world.eventLog.capacity, Infinity, "a report keeps every event");
  });
});

function daemonOn(opts: Partial<DaemonOptions> & { clock?: () => number } = {}) {
  const dir = tempDir("ballast-bounded-");
  const store = new Store(dir, opts.clock ? { now: opts.clock } : {});
  const backend = SimBackend.fromFile(HOST);
  const lines: Array<{ line: string; level: LogLevel }> = [];
  const daemon = new Daemon({
    backend,
    store,
    policy: "none",
    intervalMs: null,
    speed: 1,
    log: (line, level = "info") => lines.push({ line, level }),
    ...(opts.clock ? { wallNow: opts.clock } : {}),
    ...opts,
  });
  return { daemon, backend, store, lines };
}

describe("the daemon's event log under a long run", () => {
  it("bounds the simulated world's log, and records what it missed as a warning and a history row", async () => {
    const { daemon, backend, store, lines } = daemonOn();
    try {
      assert.equal(backend.world.eventLog.capacity, EVENT_LOG_CAPACITY);
      daemon.drainEvents();
      const before = store.historyCount();
      // A burst the daemon does not read in time: more than the log holds.
      for (let i = 0; i < EVENT_LOG_CAPACITY + 250; i++)
        backend.world.emit("web", "balloon-change", `burst ${i}`);
      assert.equal(backend.world.events.length, EVENT_LOG_CAPACITY);
      daemon.drainEvents();
      const rows = store.history(null, 10_000);
      // Rows not about one domain (domain "-"): the note is among them.
      const missed = store.history("-", 100).filter((r) => r.type === "events-missed");
      assert.equal(missed.length, 1);
      assert.match(missed[0]!.message, /^250 backend events dropped before the daemon read them/);
      assert.equal(store.historyCount(), before + 1 + EVENT_LOG_CAPACITY);
      assert.equal(rows.at(-1)!.message, `burst ${EVENT_LOG_CAPACITY + 249}`);
      assert.ok(
        lines.some((l) => l.level === "warn" && /250 backend events dropped/.test(l.line)),
        "logged as a warning",
      );
      // Caught up: nothing more is missed.
      backend.world.emit("web", "balloon-change", "after");
      daemon.drainEvents();
      assert.equal(store.history("-", 100).filter((r) => r.type === "events-missed").length, 1);
    } finally {
      store.close();
    }
  });
});

describe("history retention", () => {
  it("is 30 days unless told, read from --retention as days or a duration", () => {
    const { daemon, store } = daemonOn();
    store.close();
    assert.equal(daemon.retentionMs, 30 * DAY);
    assert.equal(DEFAULT_RETENTION_MS, 30 * DAY);
    assert.equal(parseRetention("30d"), 30 * DAY);
    assert.equal(parseRetention("1.5d"), 36 * 3_600_000);
    assert.equal(parseRetention("720h"), 30 * DAY);
    for (const bad of ["30", "1s", "59m", "forever", "36501d", "-1d"])
      assert.throws(() => parseRetention(bad), UsageError, bad);
    assert.throws(() => parseRetention("30"), /--retention: .*no unit/);
  });

  it("deletes rows older than the retention, never a pending one, at most once an hour (fake clock)", async () => {
    let now = Date.parse("2026-01-01T00:00:00.000Z");
    const clock = () => now;
    const { daemon, store, lines } = daemonOn({ clock, retentionMs: 30 * DAY });
    try {
      const row = (type: string, code: string | null = null) =>
        store.appendOne({ t_s: 0, domain: "web", kind: "event", type, code, message: type });
      const old = row("old");
      const pending = row("old-pending", "pending");
      now += 31 * DAY;
      const recent = row("recent");
      assert.equal(daemon.maintain(), 1);
      assert.equal(store.getHistory(old), null, "older than 30 days: gone");
      assert.ok(
        store.getHistory(pending),
        "pending rows are settled at the next start, not pruned",
      );
      assert.ok(store.getHistory(recent));
      assert.ok(lines.some((l) => /history: 1 row older than 30 days deleted/.test(l.line)));

      // Not every round: a row that is already old survives rounds within the hour...
      now -= 40 * DAY;
      const stale = row("stale");
      now += 40 * DAY + 10 * 60_000;
      await daemon.round();
      await daemon.round();
      assert.ok(store.getHistory(stale), "not pruned again within the hour");
      // ... and goes at the first round an hour after the last pruning.
      now += PRUNE_EVERY_MS - 10 * 60_000;
      await daemon.round();
      assert.equal(store.getHistory(stale), null);
    } finally {
      store.close();
    }
  });

  it("without the pruning, rows pile up: the retention is what removes them", () => {
    let now = Date.parse("2026-01-01T00:00:00.000Z");
    const clock = () => now;
    const { daemon, store } = daemonOn({ clock, retentionMs: 365 * DAY });
    try {
      store.appendOne({ t_s: 0, domain: "-", kind: "event", type: "x", code: null, message: "" });
      now += 31 * DAY;
      assert.equal(daemon.maintain(), 0, "a year's retention keeps a month-old row");
      assert.equal(store.historyCount(), 1);
    } finally {
      store.close();
    }
  });
});
