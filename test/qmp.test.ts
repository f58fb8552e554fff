/** The QMP client against a fake QMP server: every way a socket can misbehave. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { z } from "zod";
import { AgentReader } from "../src/backends/shared/agent.js";
import { discover } from "../src/backends/qemu/discovery.js";
import { QmpClient, QmpError } from "../src/backends/qemu/qmp.js";
import { queryBalloon } from "../src/backends/qemu/schemas.js";
import { tempDir } from "./helpers.js";

const dir = tempDir("ballast-qmp-");
let n = 0;
const GREETING = `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "" }, capabilities: [] } })}\n`;

type Handler = (
  cmd: { execute: string; arguments?: Record<string, unknown>; id?: number },
  sock: Socket,
) => void;

function fakeQmp(
  handler: Handler,
  greeting = GREETING,
): Promise<{ path: string; server: Server; clients: Socket[] }> {
  const path = join(dir, `q${n++}.sock`);
  const clients: Socket[] = [];
  const server = createServer((sock) => {
    clients.push(sock);
    sock.write(greeting);
    let buf = "";
    sock.on("data", (c) => {
      buf += c;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        const cmd = JSON.parse(line);
        if (cmd.execute === "qmp_capabilities")
          sock.write(`${JSON.stringify({ return: {}, id: cmd.id })}\n`);
        else handler(cmd, sock);
      }
    });
    sock.on("error", () => {});
  });
  return new Promise((r) => server.listen(path, () => r({ path, server, clients })));
}

const reply = (sock: Socket, id: number | undefined, ret: unknown) =>
  sock.write(`${JSON.stringify({ return: ret, id })}\n`);

async function rejects(p: Promise<unknown>, cls: string, re: RegExp) {
  await assert.rejects(
    p,
    (e: unknown) => e instanceof QmpError && e.cls === cls && re.test(e.message),
  );
}

describe("QMP client", () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  it("negotiates capabilities and runs commands with ids", async () => {
    const f = await fakeQmp((cmd, s) => reply(s, cmd.id, { actual: 536870912 }));
    servers.push(f.server);
    const q = new QmpClient(f.path);
    assert.deepEqual(await q.execute("query-balloon", {}, queryBalloon), { actual: 536870912 });
    assert.equal(q.version, "7.2.0");
    q.close();
  });

  it("delivers asynchronous events", async () => {
    const f = await fakeQmp((cmd, s) => {
      s.write(
        `${JSON.stringify({ event: "BALLOON_CHANGE", data: { actual: 1234 * 4096 }, timestamp: { seconds: 1, microseconds: 0 } })}\n`,
      );
      reply(s, cmd.id, {});
    });
    servers.push(f.server);
    const q = new QmpClient(f.path);
    const got = new Promise((r) => q.once("event", r));
    await q.execute("balloon", { value: 1 }, z.unknown());
    assert.deepEqual(await got, { event: "BALLOON_CHANGE", data: { actual: 1234 * 4096 } });
    q.close();
  });

  it("turns QMP errors into errors with their class", async () => {
    const f = await fakeQmp((cmd, s) =>
      s.write(
        `${JSON.stringify({ error: { class: "GenericError", desc: "Parameter 'value' expects a size" }, id: cmd.id })}\n`,
      ),
    );
    servers.push(f.server);
    const q = new QmpClient(f.path);
    await rejects(
      q.execute("balloon", { value: 0 }, z.unknown()),
      "GenericError",
      /balloon: Parameter 'value'/,
    );
    q.close();
  });

  it("refuses malformed and hostile replies instead of returning wrong numbers", async () => {
    const replies = [{ actual: -5 }, { actual: "lots" }, { actual: 2 ** 64 }, { nothing: true }];
    let i = 0;
    const f = await fakeQmp((cmd, s) => reply(s, cmd.id, replies[i++]));
    servers.push(f.server);
    const q = new QmpClient(f.path);
    for (let k = 0; k < replies.length; k++)
      await rejects(q.execute("query-balloon", {}, queryBalloon), "malformed", /unexpected reply/);
    q.close();
  });

  it(
    "survives replies that are JSON but not objects (null, numbers, strings, arrays)",
    { timeout: 10_000 },
    async () => {
      const lines = ["null", "5", '"return"', "[1,2]", "true"];
      let i = 0;
      const f = await fakeQmp((_cmd, s) => s.write(`${lines[i++]}\n`));
      servers.push(f.server);
      const q = new QmpClient(f.path, 500);
      for (let k = 0; k < lines.length; k++)
        await rejects(
          q.execute("query-balloon", {}, queryBalloon),
          "malformed",
          /not a QMP message/,
        );
      q.close();
    },
  );

  it("says clearly when a socket is not QMP", async () => {
    const f = await fakeQmp(() => {}, "220 smtp.example ESMTP\n");
    servers.push(f.server);
    await rejects(new QmpClient(f.path).connect(), "malformed", /not JSON/);
    const g = await fakeQmp(() => {}, '{"hello": "world"}\n');
    servers.push(g.server);
    await rejects(new QmpClient(g.path).connect(), "not-qmp", /not a QMP greeting/);
    const h = await fakeQmp(() => {}, "");
    servers.push(h.server);
    await rejects(
      new QmpClient(h.path, 300).connect(),
      "not-qmp",
      /no QMP greeting within 300 ms.*one QMP client at a time/,
    );
    await rejects(
      new QmpClient(join(dir, "missing.sock")).connect(),
      "connect",
      /cannot connect: ENOENT/,
    );
  });

  it("times out a command QEMU does not answer", async () => {
    const f = await fakeQmp(() => {});
    servers.push(f.server);
    const q = new QmpClient(f.path, 300);
    await rejects(
      q.execute("query-balloon", {}, queryBalloon),
      "timeout",
      /no reply from QEMU within 300 ms/,
    );
    q.close();
  });

  it("fails a pending command at once when QEMU goes away, and reconnects when it is back", async () => {
    const path = join(dir, "restart.sock");
    let srv = createServer((sock) => {
      sock.write(GREETING);
      sock.on("data", (c) => {
        const cmd = JSON.parse(String(c).trim().split("\n").pop()!);
        if (cmd.execute === "qmp_capabilities") reply(sock, cmd.id, {});
        else sock.destroy(); // dies mid-command
      });
    });
    await new Promise<void>((r) => srv.listen(path, r));
    const q = new QmpClient(path, 5000);
    const t0 = Date.now();
    await rejects(
      q.execute("balloon", { value: 4096 }, z.unknown()),
      "gone",
      /closed the connection/,
    );
    assert.ok(Date.now() - t0 < 1000, "no hang");
    await new Promise<void>((r) => srv.close(() => r()));
    srv = createServer((sock) => {
      sock.write(GREETING);
      sock.on("data", (c) => {
        for (const line of String(c).trim().split("\n")) {
          const cmd = JSON.parse(line);
          reply(sock, cmd.id, cmd.execute === "qmp_capabilities" ? {} : { actual: 4096 });
        }
      });
    });
    await new Promise<void>((r) => srv.listen(path, r));
    assert.deepEqual(await q.execute("query-balloon", {}, queryBalloon), { actual: 4096 });
    q.close();
    srv.close();
  });
});

describe("guest agent reader", () => {
  it("takes fresh, valid lines and drops the backlog and garbage", async () => {
    const path = join(dir, "agent.sock");
    const line = (up: number, avg10: number) =>
      `${JSON.stringify({ v: 1, uptime: up, psi: { some: { avg10, avg60: 0, avg300: 0, total: 1 } }, meminfo_kb: { MemTotal: 1000 } })}\n`;
    const srv = createServer((sock) => {
      sock.write(line(1, 1)); // backlog: written before we connected
      setTimeout(() => sock.write("not json\n"), 400);
      setTimeout(
        () =>
          sock.write(
            `${JSON.stringify({ v: 1, uptime: 3, psi: { some: { avg10: 900 } }, meminfo_kb: {} })}\n`,
          ),
        450,
      );
      setTimeout(() => sock.write(line(4, 2.5)), 500);
    });
    await new Promise<void>((r) => srv.listen(path, r));
    const a = new AgentReader(path);
    assert.ok(await a.ready(3000));
    assert.equal(a.latest!.uptime, 4);
    assert.equal(a.latest!.psi.some!.avg10, 2.5);
    assert.equal(a.rejected, 2);
    a.close();
    assert.equal(a.latest, null);
    srv.close();
  });
});

describe("VM discovery", () => {
  it("finds NAME.qmp sockets in a directory, with NAME.agent beside them", () => {
    const d = tempDir("ballast-disc-");
    writeFileSync(join(d, "web.qmp"), "");
    writeFileSync(join(d, "web.agent"), "");
    writeFileSync(join(d, "db.qmp"), "");
    writeFileSync(join(d, "notes.txt"), "");
    assert.deepEqual(
      discover(d).map((v) => [v.name, v.agent !== null]),
      [
        ["db", false],
        ["web", true],
      ],
    );
  });
  it("reads a VM list file and refuses bad ones naming the field", () => {
    const d = tempDir("ballast-disc-");
    const f = join(d, "vms.yaml");
    writeFileSync(
      f,
      "vms:\n  - { name: web, qmp: web.qmp, agent: web.agent, min: 512MiB, max: 2GiB }\n",
    );
    const [vm] = discover(f);
    assert.equal(vm!.qmp, join(d, "web.qmp"));
    assert.equal(vm!.minBytes, 512 * 1024 * 1024);
    writeFileSync(f, "vms:\n  - { name: web, qmp: web.qmp, max: 2GB }\n");
    assert.throws(() => discover(f), /vms\.0\.max: .*ambiguous/);
    assert.throws(() => discover(join(d, "nope")), /no such file/);
  });
});
