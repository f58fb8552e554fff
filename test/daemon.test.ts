/** The daemon: API semantics (token, refusals, persistence, history) and the CLI against a live one. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SimBackend } from "../src/backends/sim/backend.js";
import { ClientError, call, type Endpoint } from "../src/cli/client.js";
import { createApi, parseListen } from "../src/daemon/api.js";
import { Daemon, room } from "../src/daemon/daemon.js";
import { StateError, Store } from "../src/daemon/store.js";
import { GiB, MiB } from "../src/units/index.js";
import { daemonUp, repoPath, type SpawnedDaemon, spawnDaemon, tempDir } from "./helpers.js";
import { guest, obs } from "./policy_helpers.js";

const HOST = repoPath("test/fixtures/daemon-host.yaml");
const DEMO = repoPath("examples/daemon-demo.yaml");

async function startDaemon(stateDir: string, policy = "none", scenario = HOST) {
  const store = new Store(stateDir);
  const backend = SimBackend.fromFile(scenario);
  const lines: string[] = [];
  const daemon = new Daemon({
    backend,
    store,
    policy,
    intervalMs: null,
    speed: 1,
    log: (l) => lines.push(l),
  });
  await daemon.restore();
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
  return { daemon, backend, store, ep, stop, lines, port };
}

/** A raw HTTP request, for what the CLI's client never sends. */
function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; json: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: Record<string, any> = {};
        try {
          json = text ? JSON.parse(text) : {};
        } catch {
          json = { unparsed: text };
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Advance the simulated world and run the policy, as the daemon's loop does. */
async function rounds(d: Awaited<ReturnType<typeof startDaemon>>, n: number, stepMs = 1000) {
  for (let i = 0; i < n; i++) {
    d.backend.advance(stepMs);
    await d.daemon.round();
  }
}

const domainOf = (r: Record<string, any>, name: string) =>
  r.domains.find((x: { name: string }) => x.name === name);

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
  const dir = tempDir("ballast-d-");
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
    // web is pinned by the mem-set above: give it back to the policy first.
    const un = await call(d.ep, "DELETE", "/v1/domains/web/pin");
    assert.match(un.message, /web: pin at 3 GiB cleared; policy none manages it again/);
    await call(d.ep, "PUT", "/v1/policy", { name: "ballast" });
    await d.daemon.round();
    const h = await call(d.ep, "GET", "/v1/events");
    const decisions = h.history.filter((x: { kind: string }) => x.kind === "decision");
    assert.ok(decisions.length > 0);
    for (const x of decisions)
      assert.match(x.message, /^\S+: [\d.]+ [KMG]iB -> [\d.]+ [KMG]iB: .+/);
    assert.ok(
      d.lines.some((l) => /ballast: web: .* -> .*: .*learning/.test(l)),
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
    const afterRestart = (await call(d.ep, "GET", "/v1/events?limit=1000")).history;
    assert.ok(afterRestart.length >= before, "nothing is lost");
    assert.equal(readFileSync(join(dir, "token"), "utf8").trim(), d.ep.token);
  });
});

describe("operator intent lasts: a mem-set pins the guest", () => {
  it("holds a mem-set under the default policy, shows the pin, keeps it across a restart, and `auto` gives it back", async () => {
    const dir = tempDir("ballast-pin-");
    let d = await startDaemon(dir, "ballast", DEMO);
    await rounds(d, 3);
    const r = await call(d.ep, "POST", "/v1/domains/web2/target", { size: "3GiB", force: true });
    assert.match(
      r.message,
      /web2: .* -> 3 GiB .*; pinned at 3 GiB: policy ballast leaves web2 there/,
    );
    await rounds(d, 20);
    let list = await call(d.ep, "GET", "/v1/domains");
    assert.equal(domainOf(list, "web2").target_bytes, 3 * GiB, "the policy did not undo it");
    assert.equal(domainOf(list, "web2").pin_bytes, 3 * GiB);
    assert.equal(domainOf(list, "web1").pin_bytes, null);
    // The policy saw web2 at min = max = 3 GiB and none of its decisions touched it.
    const obs = await d.daemon.observation();
    const w = obs.guests.find((g) => g.name === "web2")!;
    assert.deepEqual([w.settings.minBytes, w.settings.maxBytes], [3 * GiB, 3 * GiB]);
    const after = (await call(d.ep, "GET", "/v1/domains/web2/history?limit=10000")).history;
    const pinAt = after.findIndex((h: { type: string }) => h.type === "operator-mem-set");
    assert.ok(pinAt >= 0);
    assert.deepEqual(
      after.slice(pinAt).filter((h: { kind: string }) => h.kind === "decision"),
      [],
      "no decision for a pinned guest",
    );
    await d.stop();

    d = await startDaemon(dir, "ballast", DEMO);
    list = await call(d.ep, "GET", "/v1/domains");
    assert.equal(domainOf(list, "web2").target_bytes, 3 * GiB, "restored at start");
    assert.equal(domainOf(list, "web2").pin_bytes, 3 * GiB, "the pin survived the restart");
    await rounds(d, 5);
    assert.equal(domainOf(await call(d.ep, "GET", "/v1/domains"), "web2").target_bytes, 3 * GiB);

    const un = await call(d.ep, "DELETE", "/v1/domains/web2/pin");
    assert.match(un.message, /pin at 3 GiB cleared; policy ballast manages it again/);
    await rounds(d, 3);
    list = await call(d.ep, "GET", "/v1/domains");
    assert.equal(domainOf(list, "web2").pin_bytes, null);
    assert.notEqual(domainOf(list, "web2").target_bytes, 3 * GiB, "the policy moves it again");
    await d.stop();
  });

  it("records one history row per mem-set, and none for a dry run", async () => {
    const d = await startDaemon(tempDir("ballast-rows-"));
    const count = async () => (await call(d.ep, "GET", "/v1/domains/db/history")).history.length;
    const n0 = await count();
    const dry = await call(d.ep, "POST", "/v1/domains/db/target", { size: "3GiB", dry_run: true });
    assert.match(dry.message, /dry run: nothing changed/);
    d.daemon.drainEvents();
    assert.equal(await count(), n0, "a dry run is not history");
    await call(d.ep, "POST", "/v1/domains/db/target", { size: "3GiB" });
    d.daemon.drainEvents();
    const h = (await call(d.ep, "GET", "/v1/domains/db/history")).history;
    assert.equal(h.length, n0 + 1, JSON.stringify(h.slice(n0)));
    assert.equal(h.at(-1).type, "operator-mem-set");
    assert.match(h.at(-1).message, /db: 4 GiB -> 3 GiB \(-25%\); pinned at 3 GiB/);
    await d.stop();
  });
});

describe("admission: what the host cannot meet above every guest's floor and min is refused", () => {
  it("refuses a 1 TiB reservation on a 32 GiB host with the figures, and no guest is pushed to 0", async () => {
    const d = await startDaemon(tempDir("ballast-adm-"), "ballast", DEMO);
    await rounds(d, 2);
    const e = await refused(
      call(d.ep, "POST", "/v1/reservations", { size: "1TiB" }),
      409,
      "no-room",
    );
    assert.match(
      e.message,
      /cannot reserve 1 TiB: the host can make at most [\d.]+ GiB free without pushing a guest below its floor or min \(free now .*, .* more above the guests' floors and minimums, 0 B already reserved\)/,
    );
    assert.deepEqual((await call(d.ep, "GET", "/v1/reservations")).reservations, []);
    await rounds(d, 30);
    for (const g of (await call(d.ep, "GET", "/v1/domains")).domains)
      assert.ok(g.target_bytes >= g.settings.min_bytes, `${g.name}: ${g.target_bytes}`);
    // What fits is kept, and persists.
    const ok = await call(d.ep, "POST", "/v1/reservations", { size: "2GiB" });
    assert.equal(ok.bytes, 2 * GiB);
    assert.deepEqual(d.store.reservations(), [{ id: ok.id, bytes: 2 * GiB }]);
    // A second one that only fits by eating the first is refused too.
    const can = Number(/at most ([\d.]+) GiB/.exec(e.message)![1]) * GiB;
    await refused(
      call(d.ep, "POST", "/v1/reservations", { size: `${Math.ceil((can - GiB) / GiB)}GiB` }),
      409,
      "no-room",
    );
    await d.stop();
  });

  it("refuses a reservation of 0 B with a message that says sizes are above 0", async () => {
    const d = await startDaemon(tempDir("ballast-adm0-"));
    const e = await refused(call(d.ep, "POST", "/v1/reservations", { size: "0B" }), 400);
    assert.match(e.message, /zero; give a size above 0/);
    const e2 = await refused(call(d.ep, "POST", "/v1/reservations", { size: "-0B" }), 400);
    assert.match(e2.message, /minus sign; sizes are above 0/);
    await d.stop();
  });

  it("refuses a domain start the host cannot meet, with the figures, and leaves the guests alone", async () => {
    const dir = tempDir("ballast-start-");
    const file = join(dir, "s.yaml");
    writeFileSync(
      file,
      `duration: 1h
host: { memory: 8GiB, reserve: 256MiB }
domains:
  - name: busy
    memory: 6GiB
    settings: { min: 5GiB }
    workload: { processes: [{ name: app, anon: 4GiB, hot: 4GiB }] }
  - { name: late, memory: 4GiB, start: 5s }
`,
    );
    const d = await startDaemon(join(dir, "state"), "ballast", file);
    await rounds(d, 10);
    d.daemon.drainEvents();
    const h = (await call(d.ep, "GET", "/v1/domains/late/history")).history;
    const refusal = h.find((x: { type: string }) => x.type === "start-refused");
    assert.ok(refusal, JSON.stringify(h));
    assert.equal(refusal.code, "no-room");
    assert.match(
      refusal.message,
      /late: start refused: it needs 4 GiB and the host can make at most [\d.]+ (GiB|MiB) free without pushing a guest below its floor or min \(free now/,
    );
    const busy = domainOf(await call(d.ep, "GET", "/v1/domains"), "busy");
    assert.ok(busy.target_bytes >= 5 * GiB, String(busy.target_bytes));
    await d.stop();
  });

  it("starts a domain that fits at once", async () => {
    const dir = tempDir("ballast-start2-");
    const file = join(dir, "s.yaml");
    writeFileSync(
      file,
      "duration: 1h\nhost: { memory: 8GiB }\ndomains:\n  - { name: a, memory: 2GiB }\n  - { name: b, memory: 2GiB, start: 2s }\n",
    );
    const d = await startDaemon(join(dir, "state"), "none", file);
    await rounds(d, 3);
    assert.equal(domainOf(await call(d.ep, "GET", "/v1/domains"), "b").state, "running");
    await d.stop();
  });
});

describe("the API answers bad requests with 4xx, never 500", () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  before(async () => {
    d = await startDaemon(tempDir("ballast-api-"));
  });
  after(async () => d.stop());

  const cases: Array<[string, string, number, RegExp]> = [
    ["GET", "/v1/domains/%zz/history", 400, /bad %-escape/],
    ["GET", "/v1/events?limit=abc", 400, /limit: a whole number from 1 to 10000/],
    ["GET", "/v1/events?limit=-1", 400, /limit/],
    ["GET", "/v1/events?limit=0", 400, /limit/],
    ["GET", "/v1/events?limit=1e9", 400, /limit/],
    ["GET", "/v1/domains/nope/history", 404, /no domain named "nope"/],
    ["GET", "/v1/nothing", 404, /no such path/],
    ["GET", "/v1/domains/web/target/extra", 404, /no such path/],
    ["DELETE", "/v1/host", 405, /takes GET, not DELETE/],
    ["PUT", "/v1/host", 405, /takes GET/],
    ["GET", "/v1/domains/web/target", 405, /takes POST/],
  ];
  for (const [method, path, status, re] of cases) {
    it(`${method} ${path} -> ${status}`, async () => {
      const r = await raw(d.port, method, path);
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.match(r.json.message, re);
      if (status === 405) assert.ok(r.headers.allow, "405 says what is allowed");
    });
  }

  it("honours ?limit and caps nothing silently", async () => {
    const r = await raw(d.port, "GET", "/v1/events?limit=1");
    assert.equal(r.status, 200);
    assert.equal(r.json.history.length, 1);
  });

  it("takes the Bearer scheme in any case", async () => {
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      const r = await raw(
        d.port,
        "PUT",
        "/v1/policy",
        { authorization: `${scheme} ${d.ep.token}`, "content-type": "application/json" },
        '{"name":"none"}',
      );
      assert.equal(r.status, 200, `${scheme}: ${JSON.stringify(r.json)}`);
    }
    const wrong = await raw(
      d.port,
      "PUT",
      "/v1/policy",
      { authorization: `Basic ${d.ep.token}` },
      "{}",
    );
    assert.equal(wrong.status, 401);
  });

  it("does not switch the policy when the switch cannot be stored", async () => {
    const real = d.store.tx.bind(d.store);
    d.store.tx = () => {
      throw new StateError("damaged", `the state database ${d.store.file} is damaged (test)`);
    };
    try {
      const r = await raw(
        d.port,
        "PUT",
        "/v1/policy",
        { authorization: `Bearer ${d.ep.token}` },
        '{"name":"mom"}',
      );
      assert.equal(r.status, 500);
      assert.equal(r.json.error, "state-damaged");
      assert.match(r.json.message, /ballast\.db is damaged/);
    } finally {
      d.store.tx = real;
    }
    assert.equal((await call(d.ep, "GET", "/v1/policy")).policy, "none");
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

/** A daemon log line: ISO-8601 UTC wall time with milliseconds, a level, the message. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (info |warn |error) \S/;

describe("the CLI against a live daemon", () => {
  const dir = tempDir("ballast-cli-");
  const sock = join(dir, "api.sock");
  let daemon: SpawnedDaemon;
  const bin = repoPath("bin/ballast");
  const ballast = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args, "--state", dir], { encoding: "utf8" });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  before(async () => {
    daemon = spawnDaemon(dir, [
      "--backend",
      `sim:${HOST}`,
      "--listen",
      `unix:${sock}`,
      "--speed",
      "20",
      "--policy",
      "none",
    ]);
    await daemonUp(daemon, 5_000);
  });
  after(() => {
    daemon.child.kill("SIGKILL");
  });

  it("list shows the domains with target, floor and pressure", () => {
    const r = ballast("list");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Name\s+ID\s+Mem\(MiB\)\s+Target\(MiB\)\s+Floor\(MiB\)/m);
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
  it("refuses --backend on verbs that work through the daemon, changing nothing", () => {
    const before = ballast("list", "--json").out;
    for (const args of [
      ["set", "db", "weight=7", "--backend", "sim"],
      ["policy", "squeezed", "--backend", "sim"],
      ["reserve", "1GiB", "--backend", "sim"],
    ]) {
      const r = ballast(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}${r.err}`);
      assert.match(r.err, /works through the daemon and has no --backend/);
    }
    assert.equal(
      ballast("list", "--json").out.replace(/"t_s": [\d.]+/, ""),
      before.replace(/"t_s": [\d.]+/, ""),
    );
    assert.match(ballast("policy").out, /\* mom/);
  });
  it("mem-set pins, list shows the pin, `set NAME auto` clears it", () => {
    const r = ballast("mem-set", "db", "3GiB");
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^done; pinned at 3 GiB: policy mom leaves db there until "ballast set db auto"/m,
    );
    assert.match(ballast("list").out, /^db\s.*running\s+3072$/m);
    const a = ballast("set", "db", "auto");
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /db: pin at 3 GiB cleared/);
    assert.match(ballast("list").out, /^db\s.*running\s+-$/m);
  });
  it("--json on every verb: one document on stdout, with the keys its help names", () => {
    const parse = (...args: string[]) => {
      const r = ballast(...args, "--json");
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.err}`);
      return JSON.parse(r.out);
    };
    const dry = parse("mem-set", "1", "3GiB", "--dry-run");
    assert.deepEqual(Object.keys(dry).sort(), [
      "domain",
      "dry_run",
      "force",
      "message",
      "pinned",
      "target_bytes",
    ]);
    assert.equal(dry.domain, "db", "id 1 is db");
    assert.equal(dry.dry_run, true);
    assert.equal(dry.pinned, false);
    assert.match(dry.message, /dry run: nothing changed/);
    const set = parse("mem-set", "db", "3GiB");
    assert.equal(set.pinned, true);
    assert.equal(set.target_bytes, 3 * GiB);
    assert.match(set.message, /pinned at 3 GiB/);
    assert.deepEqual(parse("set", "1", "auto"), {
      domain: "db",
      pinned: false,
      message: "db: pin at 3 GiB cleared; policy mom manages it again",
    });
    const max = parse("mem-max", "web", "6GiB");
    assert.equal(max.domain, "web");
    assert.equal(max.maxmem_bytes, 6 * GiB);
    const st = parse("set", "web", "weight=250");
    assert.equal(st.domain, "web");
    assert.equal(st.settings.weight, 250);
    assert.deepEqual(Object.keys(st.settings).sort(), [
      "buffer_pct",
      "max_bytes",
      "min_bytes",
      "weight",
    ]);
    const pol = parse("policy");
    assert.equal(pol.policy, "mom");
    assert.ok(pol.available.some((p: { name: string }) => p.name === "squeezed"));
    assert.equal(parse("policy", "none").policy, "none");
    const res = parse("reserve", "256MiB");
    assert.match(res.id, /^r\d+$/);
    assert.equal(res.bytes, 256 * MiB);
    assert.deepEqual(parse("reserve", "--release", res.id), { released: res.id });
    const top = parse("top");
    assert.deepEqual(Object.keys(top).sort(), ["domains", "events", "host", "policy", "t_s"]);
    assert.deepEqual(Object.keys(top.host).sort(), [
      "free_bytes",
      "hypervisor_reserve_bytes",
      "reserved_bytes",
      "total_bytes",
    ]);
    assert.equal(top.host.total_bytes, 16 * GiB);
    assert.ok(top.events.length > 0 && top.events.length <= 10);
    assert.ok(top.domains.some((d: { name: string }) => d.name === "web"));
    // A refusal is still an error: its text on stderr, exit 1, and nothing on stdout.
    const no = ballast("mem-set", "web", "256MiB", "--json");
    assert.equal(no.code, 1);
    assert.equal(no.out, "");
    assert.match(no.err, /refused, below the floor/);
    const gone = ballast("mem-set", "9", "1GiB", "--json");
    assert.equal(gone.code, 1);
    assert.equal(gone.out, "");
    assert.match(gone.err, /no domain named "9" and none with id 9/);
  });
  it("--connect finds the daemon without daemon.json", () => {
    const other = tempDir("ballast-cli-connect-");
    const r = spawnSync(
      process.execPath,
      [bin, "list", "--json", "--state", other, "--connect", `unix:${sock}`],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(JSON.parse(r.stdout).domains.length > 0);
  });
  it("`ballast policy | head -0` exits quietly, without an EPIPE stack", () => {
    const r = spawnSync(
      "/bin/sh",
      ["-c", `"${process.execPath}" "${bin}" policy --state "${dir}" | true`],
      { encoding: "utf8" },
    );
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|at /, r.stderr);
  });
  it("stops cleanly on SIGTERM and removes its address file", async () => {
    daemon.child.kill("SIGTERM");
    assert.equal((await daemon.exit).code, 0);
    assert.ok(!existsSync(join(dir, "daemon.json")));
    // Every log line has its wall-clock time and a level, the first and the last included.
    const daemonOut = daemon.stdout();
    const lines = daemonOut.trimEnd().split("\n");
    assert.ok(lines.length >= 3, daemonOut);
    for (const l of lines) assert.match(l, LOG_LINE);
    assert.match(lines[0]!, / info  ballast daemon: sim backend, .*history kept 30d$/);
    assert.match(lines.at(-1)!, / info  ballast daemon: stopped$/);
    assert.ok(lines.some((l) => / info  policy -> mom/.test(l)));
    const r = ballast("list");
    assert.equal(r.code, 1);
    assert.match(r.err, /no daemon found/);
  });
});

describe("ballast daemon's log and flags", () => {
  const bin = repoPath("bin/ballast");
  it("--json logs one JSON object a line: {time, level, message}", async () => {
    const dir = tempDir();
    const d = spawnDaemon(dir, [
      "--backend",
      `sim:${HOST}`,
      "--listen",
      "127.0.0.1:0",
      "--policy",
      "ballast",
      "--speed",
      "50",
      "--json",
    ]);
    await daemonUp(d);
    await new Promise((r) => setTimeout(r, 1500));
    d.child.kill("SIGTERM");
    assert.equal((await d.exit).code, 0);
    const out = d.stdout();
    const lines = out.trimEnd().split("\n");
    assert.ok(lines.length >= 2, out);
    for (const l of lines) {
      const o = JSON.parse(l);
      assert.deepEqual(Object.keys(o), ["time", "level", "message"]);
      assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Math.abs(Date.parse(o.time) - Date.now()) < 120_000, "wall-clock time");
      assert.ok(["info", "warn", "error"].includes(o.level));
    }
    assert.match(JSON.parse(lines.at(-1)!).message, /^ballast daemon: stopped$/);
  });
  it("refuses --json with --top, a bad --retention, and arguments (exit 2, nothing started)", () => {
    for (const args of [
      ["--json", "--top"],
      ["--retention", "5m"],
      ["--retention", "30"],
      ["now"],
    ]) {
      const dir = tempDir();
      const r = spawnSync(
        process.execPath,
        [bin, "daemon", "--backend", `sim:${HOST}`, "--state", dir, ...args],
        { encoding: "utf8", timeout: 30_000 },
      );
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.ok(!existsSync(join(dir, "daemon.json")));
    }
  });
});

describe("ballast daemon --policy takes a policy spec", () => {
  const bin = repoPath("bin/ballast");
  it("refuses an option the policy does not have (exit 2, nothing started)", () => {
    const dir = tempDir();
    const r = spawnSync(
      process.execPath,
      [bin, "daemon", "--backend", `sim:${HOST}`, "--state", dir, "--policy", "squeezed:bogus=1"],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--policy: .*bogus/);
    assert.ok(!existsSync(join(dir, "daemon.json")));
  });
  it("runs squeezed:free-target=9MiB, and the API names it", async () => {
    const dir = tempDir();
    const sock = join(dir, "api.sock");
    const d = spawnDaemon(dir, [
      "--backend",
      `sim:${HOST}`,
      "--listen",
      `unix:${sock}`,
      "--policy",
      "squeezed:free-target=9MiB",
    ]);
    try {
      await daemonUp(d);
      const p = await call({ listen: `unix:${sock}`, token: null }, "GET", "/v1/policy");
      assert.equal(p.policy, "squeezed:free-target=9MiB");
    } finally {
      d.child.kill("SIGKILL");
    }
  });
});

describe("what the host can make free for a reservation", () => {
  // A 4 GiB guest using about 1 GiB, with a 512 MiB min.
  const g = () =>
    guest("g", {
      actualBytes: 4 * GiB,
      maxmemBytes: 4 * GiB,
      stats: { active_anon_bytes: 900 * MiB, anon_bytes: 900 * MiB, inactive_file_bytes: 0 },
      settings: { minBytes: 512 * MiB, maxBytes: 4 * GiB, weight: 100, bufferPct: 20 },
    });
  it("on Xen: what each guest has above max(floor, min)", () => {
    const r = room(obs([g()], { total: 16 * GiB, free: 12 * GiB }));
    assert.ok(r.freeableBytes > 2.5 * GiB, `${r.freeableBytes / MiB} MiB`);
  });
  it("on a first-touch host: only what it touched above that line (the rest is free already)", () => {
    const touched = g();
    touched.hostRssBytes = 1.25 * GiB;
    const o = obs([touched], { total: 16 * GiB, free: 14.75 * GiB });
    o.host.firstTouch = true;
    const r = room(o);
    assert.ok(r.freeableBytes < 0.5 * GiB, `${r.freeableBytes / MiB} MiB`);
    assert.equal(r.freeBytes, 14.75 * GiB);
  });
});
