/**
 * The state directory as a careless or unlucky operator leaves it: two daemons on one
 * --state, a damaged or truncated database, a token left world-readable or empty, a
 * socket path that is a regular file. Each is refused at start with the file named and
 * the fix, and changes nothing.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { StateError, Store } from "../src/daemon/store.js";
import { daemonUp, repoPath, spawnDaemon, tempDir } from "./helpers.js";

const bin = repoPath("bin/ballast");
const HOST = repoPath("test/fixtures/daemon-host.yaml");

function daemonArgs(state: string, listen = "127.0.0.1:0"): string[] {
  return [bin, "daemon", "--backend", `sim:${HOST}`, "--state", state, "--listen", listen];
}

/** Run `ballast daemon` expecting it to refuse to start. */
function refusedStart(state: string, listen?: string) {
  const r = spawnSync(process.execPath, daemonArgs(state, listen), {
    encoding: "utf8",
    timeout: 20_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill("SIGKILL");
});

/** Start a daemon and wait until it has published daemon.json. */
async function liveDaemon(state: string, listen = "127.0.0.1:0"): Promise<ChildProcess> {
  const d = spawnDaemon(state, [
    "--backend",
    `sim:${HOST}`,
    "--listen",
    listen,
    "--policy",
    "none",
  ]);
  await daemonUp(d);
  return d.child;
}

function ballast(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A state directory with a database that holds some history, daemon stopped. */
function usedState(): string {
  const dir = tempDir("ballast-st-");
  const s = new Store(dir);
  s.token();
  s.set("policy", "mom");
  s.append(
    Array.from({ length: 3000 }, (_, i) => ({
      t_s: i,
      domain: `d${i % 7}`,
      kind: "event" as const,
      type: "test",
      code: null,
      message: `row ${i} ${"x".repeat(100)}`,
    })),
  );
  s.close();
  return dir;
}

describe("one daemon per state directory", () => {
  it("a second daemon on the same --state is refused, naming the first; the first keeps its files", async () => {
    const state = tempDir("ballast-lock-");
    const first = await liveDaemon(state);
    const info = readFileSync(join(state, "daemon.json"), "utf8");
    const r = refusedStart(state);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(
      r.err,
      new RegExp(
        `another ballast daemon \\(pid ${first.pid}, API on 127\\.0\\.0\\.1:\\d+\\) is using the state directory`,
      ),
    );
    assert.equal(readFileSync(join(state, "daemon.json"), "utf8"), info, "daemon.json untouched");
    const list = ballast("list", "--state", state);
    assert.equal(list.code, 0, list.err);
    const exited = new Promise((res) => first.once("exit", res));
    first.kill("SIGTERM");
    await exited;
    assert.ok(!existsSync(join(state, "daemon.json")));
  });

  it("a daemon killed with SIGKILL leaves no lock behind", async () => {
    const state = tempDir("ballast-lock9-");
    const first = await liveDaemon(state);
    const exited = new Promise((res) => first.once("exit", res));
    first.kill("SIGKILL");
    await exited;
    const again = await liveDaemon(state);
    again.kill("SIGTERM");
  });

  it("the lock holds within one process too (Store)", () => {
    const dir = tempDir("ballast-lock2-");
    const a = new Store(dir);
    assert.throws(
      () => new Store(dir),
      (e: unknown) => e instanceof StateError && e.code === "locked",
    );
    a.close();
    new Store(dir).close();
  });
});

describe("a damaged state database stops the daemon at start, naming the file", () => {
  it("garbage pages: refused with the file and what to do; nothing runs", () => {
    const state = usedState();
    const db = join(state, "ballast.db");
    const bytes = readFileSync(db);
    assert.ok(bytes.length > 8 * 4096, `database of ${bytes.length} bytes`);
    for (let i = 2 * 4096; i < 6 * 4096; i++) bytes[i] = (i * 7) & 255;
    writeFileSync(db, bytes);
    const r = refusedStart(state);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, new RegExp(`the state database ${db} is damaged`));
    assert.match(r.err, /Restore it from a backup, or move it aside/);
    assert.doesNotMatch(r.err, /SqliteError|    at /);
    assert.ok(!existsSync(join(state, "daemon.json")), "nothing was started");
  });

  it("random bytes: refused with the file named, no stack", () => {
    const state = tempDir("ballast-rand-");
    writeFileSync(
      join(state, "ballast.db"),
      Buffer.from(Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 251)),
    );
    const r = refusedStart(state);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /ballast\.db is damaged \(file is not a database\)/);
    assert.doesNotMatch(r.err, /SqliteError|    at /);
  });

  it("truncated to 0 bytes: refused, not silently empty", () => {
    const state = usedState();
    truncateSync(join(state, "ballast.db"), 0);
    const r = refusedStart(state);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /ballast\.db is empty \(0 bytes\): it was truncated/);
    assert.match(r.err, /rm .*ballast\.db/);
    assert.equal(statSync(join(state, "ballast.db")).size, 0, "left as found");
  });

  it("a healthy database survives the checks with its contents", () => {
    const state = usedState();
    const s = new Store(state);
    assert.equal(s.get("policy"), "mom");
    assert.equal(s.history(null, 10_000).length, 3000);
    s.close();
  });
});

describe("token and permissions", () => {
  it("a token file left 0644 is refused with the chmod that fixes it", () => {
    const state = tempDir("ballast-tok-");
    writeFileSync(join(state, "token"), `${"a1b2c3d4e5f6g7h8i9j0".repeat(2)}\n`);
    chmodSync(join(state, "token"), 0o644);
    const r = refusedStart(state);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /token is mode 0644: everyone could read or change it/);
    assert.match(r.err, /chmod 600 .*token/);
  });

  it("a state directory left 0777 is refused", () => {
    const state = tempDir("ballast-dir-");
    chmodSync(state, 0o777);
    const r = refusedStart(state);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /is writable by everyone \(mode 0777\).*chmod go-w/);
    assert.ok(!existsSync(join(state, "ballast.db")), "nothing was made in it");
  });

  it("an empty token file is refused at start, not with 401 on every write", () => {
    const state = tempDir("ballast-empty-");
    writeFileSync(join(state, "token"), "", { mode: 0o600 });
    const r = refusedStart(state);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(
      r.err,
      /the token in .*token is refused: it is empty; remove it and start the daemon again/,
    );
  });

  it("a weak token is refused", () => {
    const state = tempDir("ballast-weak-");
    writeFileSync(join(state, "token"), "password\n", { mode: 0o600 });
    assert.match(refusedStart(state).err, /it has 8 characters \(at least 32 are needed\)/);
    writeFileSync(join(state, "token"), `${"ab".repeat(20)}\n`, { mode: 0o600 });
    assert.match(refusedStart(state).err, /only 2 different characters/);
  });

  it("a group-shared token (0640) is accepted, and the socket is then 0660", async () => {
    const state = tempDir("ballast-grp-");
    writeFileSync(join(state, "token"), "0123456789abcdefABCDEF0123456789xyz\n", { mode: 0o640 });
    chmodSync(join(state, "token"), 0o640);
    const sock = join(state, "api.sock");
    const c = await liveDaemon(state, `unix:${sock}`);
    assert.equal(statSync(sock).mode & 0o777, 0o660);
    c.kill("SIGTERM");
  });
});

describe("unix sockets", () => {
  it("a regular file at the socket path is left alone and the start refused", () => {
    const state = tempDir("ballast-sock-");
    const path = join(state, "precious");
    writeFileSync(path, "precious data\n");
    const r = refusedStart(state, `unix:${path}`);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /precious exists and is not a socket; it is left alone/);
    assert.equal(readFileSync(path, "utf8"), "precious data\n");
    assert.ok(!existsSync(join(state, "daemon.json")));
  });

  it("the socket is created 0600", async () => {
    const state = tempDir("ballast-sock6-");
    const sock = join(state, "api.sock");
    const c = await liveDaemon(state, `unix:${sock}`);
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const r = ballast("list", "--state", state);
    assert.equal(r.code, 0, r.err);
    c.kill("SIGTERM");
  });

  it("a live socket of another process is not stolen; a stale one is replaced", async () => {
    const state = tempDir("ballast-sockl-");
    const sock = join(state, "other.sock");
    // Another process listening there; killed with SIGKILL it leaves the socket file behind.
    const other = spawn(
      process.execPath,
      [
        "-e",
        "require('net').createServer().listen(process.argv[1], () => console.log('up'))",
        sock,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(other);
    await new Promise((r) => other.stdout!.once("data", r));
    const r = refusedStart(state, `unix:${sock}`);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /another process is listening on .*other\.sock/);
    const gone = new Promise((res) => other.once("exit", res));
    other.kill("SIGKILL");
    await gone;
    assert.ok(statSync(sock).isSocket(), "a stale socket is left");
    const c = await liveDaemon(state, `unix:${sock}`);
    assert.equal(ballast("list", "--state", state).code, 0);
    c.kill("SIGTERM");
  });
});
