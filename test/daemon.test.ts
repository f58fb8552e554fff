/** The daemon: API semantics (token, refusals, persistence, history) and the CLI against a live one. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SimBackend } from "../src/backends/sim.js";
import { ClientError, call, type Endpoint } from "../src/cli/client.js";
import { createApi, parseListen } from "../src/daemon/api.js";
import { Daemon } from "../src/daemon/daemon.js";
import { Store } from "../src/daemon/store.js";
import { GiB } from "../src/units/index.js";
import { repoPath } from "./helpers.js";

const HOST = repoPath("test/fixtures/daemon-host.yaml");

async function startDaemon(stateDir: string, policy = "none") {
  const store = new Store(stateDir);
  const backend = SimBackend.fromFile(HOST);
  const lines: string[] = [];
  const daemon = new Daemon({
    backend,
    store,
    policy,
    intervalMs: null,
    speed: 1,
    log: (l) => lines.push(l),
  });
  const server = createApi(daemon, store.token());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const ep: Endpoint = { listen: `127.0.0.1:${port}`, token: store.token() };
  const stop = () =>
    new Promise<void>((r) => {
      server.close(() => {
        store.close();
        r();
      });
      server.closeAllConnections();
    });
  return { daemon, backend, store, ep, stop, lines };
}

async function refused(p: Promise<unknown>, status: number, code?: string): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ClientError, String(e));
    assert.equal(e.status, status, e.message);
    if (code) assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

describe("daemon API", () => {
  const dir = mkdtempSync(join(tmpdir(), "ballast-d-"));
  let d: Awaited<ReturnType<typeof startDaemon>>;
  before(async () => {
    d = await startDaemon(dir);
    d.backend.advance(5000);
  });
  after(async () => d.stop());

  it("lists domains with target, actual, floor and pressure, without a token", async () => {
    const r = await call({ ...d.ep, token: null }, "GET", "/v1/domains");
    const web = r.domains.find((x: { name: string }) => x.name === "web");
    assert.equal(web.target_bytes, 4 * GiB);
    assert.ok(web.floor_bytes > 1 * GiB && web.floor_bytes < 4 * GiB, String(web.floor_bytes));
    assert.equal(web.psi_some_avg10, 0);
    assert.equal(web.settings.weight, 200);
    assert.equal(r.policy, "none");
  });

  it("refuses anything that changes state without the token, and changes nothing", async () => {
    await refused(
      call({ ...d.ep, token: null }, "POST", "/v1/domains/web/target", { size: "3GiB" }),
      401,
      "unauthorized",
    );
    await refused(
      call(
        { ...d.ep, token: "wrong-token-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
        "PUT",
        "/v1/policy",
        { name: "mom" },
      ),
      401,
    );
    const r = await call(d.ep, "GET", "/v1/domains");
    assert.equal(r.domains.find((x: { name: string }) => x.name === "web").target_bytes, 4 * GiB);
    assert.equal(r.policy, "none");
  });

  it("refuses an over-shrink below the floor with the floor and working set, and changes nothing", async () => {
    const e = await refused(
      call(d.ep, "POST", "/v1/domains/web/target", { size: "512MiB" }),
      409,
      "below-floor",
    );
    assert.match(
      e.message,
      /web: 4 GiB -> 512 MiB \(-87%\): refused, below the floor of .* \(working set/,
    );
    const r = await call(d.ep, "GET", "/v1/domains");
    assert.equal(r.domains.find((x: { name: string }) => x.name === "web").target_bytes, 4 * GiB);
  });

  it("refuses bad sizes and unknown domains with 400/404", async () => {
    const e = await refused(
      call(d.ep, "POST", "/v1/domains/web/target", { size: "3GB" }),
      400,
      "bad-request",
    );
    assert.match(e.message, /size: .*ambiguous.*3GiB/);
    const e2 = await refused(call(d.ep, "POST", "/v1/domains/web/target", { size: 12345 }), 400);
    assert.match(e2.message, /not a whole number of 4 KiB pages/);
    await refused(
      call(d.ep, "POST", "/v1/domains/nope/target", { size: "1GiB" }),
      404,
      "no-such-domain",
    );
    await refused(call(d.ep, "PUT", "/v1/domains/web/settings", { weight: -3 }), 400);
    await refused(
      call(d.ep, "PUT", "/v1/domains/web/settings", { min: "5GiB", max: "2GiB" }),
      400,
      "bad-settings",
    );
    await refused(call(d.ep, "PUT", "/v1/policy", { name: "greedy" }), 400, "bad-policy");
  });

  it("applies a target (dry runs change nothing) and records it in the history", async () => {
    const dry = await call(d.ep, "POST", "/v1/domains/web/target", { size: "3GiB", dry_run: true });
    assert.match(dry.message, /dry run/);
    let r = await call(d.ep, "GET", "/v1/domains");
    assert.equal(r.domains.find((x: { name: string }) => x.name === "web").target_bytes, 4 * GiB);
    await call(d.ep, "POST", "/v1/domains/web/target", { size: "3GiB" });
    d.backend.advance(3000);
    r = await call(d.ep, "GET", "/v1/domains");
    const web = r.domains.find((x: { name: string }) => x.name === "web");
    assert.equal(web.target_bytes, 3 * GiB);
    assert.equal(web.actual_bytes, 3 * GiB);
    d.daemon.drainEvents();
    const h = await call(d.ep, "GET", "/v1/domains/web/history");
    assert.ok(h.history.some((x: { type: string }) => x.type === "balloon-reached-target"));
    assert.ok(
      h.history.some(
        (x: { type: string; message: string }) =>
          x.type === "operator-mem-set" && /4 GiB -> 3 GiB/.test(x.message),
      ),
    );
  });

  it("logs every policy decision with its reason", async () => {
    await call(d.ep, "PUT", "/v1/policy", { name: "ballast" });
    await d.daemon.round();
    const h = await call(d.ep, "GET", "/v1/events");
    const decisions = h.history.filter((x: { kind: string }) => x.kind === "decision");
    assert.ok(decisions.length > 0);
    for (const x of decisions)
      assert.match(x.message, /^\S+: [\d.]+ [KMG]iB -> [\d.]+ [KMG]iB: .+/);
    assert.ok(
      d.lines.some((l) => /ballast: web: .* -> .*: learning/.test(l)),
      d.lines.join("\n"),
    );
  });

  it("keeps reservations free as squeezed does", async () => {
    const r = await call(d.ep, "POST", "/v1/reservations", { size: "2GiB" });
    assert.equal(r.bytes, 2 * GiB);
    const obs = await d.daemon.observation();
    assert.equal(obs.reservedBytes, 2 * GiB);
    await call(d.ep, "DELETE", `/v1/reservations/${r.id}`);
    assert.equal((await d.daemon.observation()).reservedBytes, 0);
    await refused(call(d.ep, "DELETE", `/v1/reservations/${r.id}`), 404);
  });

  it("keeps settings, policy and history across a restart", async () => {
    await call(d.ep, "PUT", "/v1/domains/db/settings", { min: "1GiB", weight: 50, buffer: 35 });
    await call(d.ep, "PUT", "/v1/policy", { name: "squeezed" });
    const before = (await call(d.ep, "GET", "/v1/events?limit=1000")).history.length;
    await d.stop();
    d = await startDaemon(dir, "none");
    const r = await call(d.ep, "GET", "/v1/domains");
    const db = r.domains.find((x: { name: string }) => x.name === "db");
    assert.deepEqual(db.settings, {
      min_bytes: 1 * GiB,
      max_bytes: 4 * GiB,
      weight: 50,
      buffer_pct: 35,
    });
    assert.equal(r.policy, "squeezed", "the stored policy wins over the command line's");
    const afterRestart = (await call(d.ep, "GET", "/v1/events?limit=1000")).history.length;
    assert.equal(afterRestart, before);
    assert.equal(readFileSync(join(dir, "token"), "utf8").trim(), d.ep.token);
  });
});

describe("listen addresses", () => {
  it("accepts loopback and unix sockets, refuses anything else", () => {
    assert.deepEqual(parseListen("127.0.0.1:7788"), { kind: "tcp", host: "127.0.0.1", port: 7788 });
    assert.deepEqual(parseListen("[::1]:80"), { kind: "tcp", host: "::1", port: 80 });
    assert.deepEqual(parseListen("unix:/run/b.sock"), { kind: "unix", path: "/run/b.sock" });
    assert.throws(() => parseListen("0.0.0.0:7788"), /not loopback/);
    assert.throws(() => parseListen("10.0.0.1:7788"), /not loopback/);
    assert.throws(() => parseListen("7788"), /127\.0\.0\.1:PORT/);
  });
});

describe("the CLI against a live daemon", () => {
  const dir = mkdtempSync(join(tmpdir(), "ballast-cli-"));
  const sock = join(dir, "api.sock");
  let child: ChildProcess;
  const bin = repoPath("bin/ballast");
  const ballast = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args, "--state", dir], { encoding: "utf8" });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  before(async () => {
    child = spawn(
      process.execPath,
      [
        bin,
        "daemon",
        "--backend",
        `sim:${HOST}`,
        "--state",
        dir,
        "--listen",
        `unix:${sock}`,
        "--speed",
        "20",
        "--policy",
        "none",
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    for (let i = 0; i < 100 && !existsSync(join(dir, "daemon.json")); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(join(dir, "daemon.json")), "daemon did not start");
  });
  after(() => {
    child.kill("SIGKILL");
  });

  it("list shows the domains with target, floor and pressure", () => {
    const r = ballast("list");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Name\s+ID\s+Mem\(MiB\)\s+Target\s+Floor/m);
    assert.match(r.out, /^web\s+0\s+4096\s+4096\s+\d+/m);
  });
  it("mem-set says what will change, refuses below the floor with exit 1, and works with --force", () => {
    const no = ballast("mem-set", "web", "256MiB");
    assert.equal(no.code, 1);
    assert.match(no.err, /web: 4 GiB -> 256 MiB \(-94%\): refused, below the floor/);
    const yes = ballast("mem-set", "web", "2GiB", "--force");
    assert.equal(yes.code, 0, yes.err);
    assert.match(yes.out, /^web: 4 GiB -> 2 GiB \(-50%\)/m);
    assert.match(ballast("list", "--json").out, /"target_bytes": 2147483648/);
  });
  it("refuses bad sizes before sending anything (exit 2)", () => {
    const r = ballast("mem-set", "web", "2GB");
    assert.equal(r.code, 2);
    assert.match(r.err, /ambiguous/);
  });
  it("set, policy and top work", () => {
    assert.match(
      ballast("set", "db", "weight=300", "buffer=25").out,
      /db: min .* weight 300, buffer 25%/,
    );
    assert.equal(ballast("set", "db", "colour=blue").code, 2);
    assert.match(ballast("policy", "mom").out, /policy: mom/);
    assert.match(ballast("policy").out, /\* mom/);
    const top = ballast("top", "--once");
    assert.equal(top.code, 0, top.err);
    assert.match(top.out, /ballast top - policy mom/);
    assert.match(top.out, /recent decisions:/);
  });
  it("stops cleanly on SIGTERM and removes its address file", async () => {
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.ok(!existsSync(join(dir, "daemon.json")));
    const r = ballast("list");
    assert.equal(r.code, 1);
    assert.match(r.err, /no daemon found/);
  });
});
