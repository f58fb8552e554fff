/**
 * Random input, with fast-check: the size parser, the scenario loader, the xl .cfg
 * reader, the CLI's arguments, every API body and query, and QMP replies. Random input
 * never crashes and never gives 500: it gets exit 2 (a UsageError-type refusal) or a
 * 4xx with a message, and a refused request changes nothing. Seeds are fixed and runs
 * bounded, so the properties are repeatable and together take a few seconds.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { QmpClient, QmpError } from "../src/backends/qemu/qmp.js";
import { guestStats, memoryDevices, queryBalloon } from "../src/backends/qemu/schemas.js";
import { SimBackend } from "../src/backends/sim/backend.js";
import { main } from "../src/cli/main.js";
import { createApi } from "../src/daemon/api.js";
import { Daemon } from "../src/daemon/daemon.js";
import { Store } from "../src/daemon/store.js";
import { parseScenario, ScenarioError } from "../src/sim/scenario.js";
import { parseXlConfig, XlConfigError } from "../src/sim/host/xlcfg.js";
import { formatSize, parseSize, UnitError } from "../src/units/index.js";
import { repoPath, tempDir } from "./helpers.js";

const SEED = 12;
const opts = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true });

/** Text that looks like what people type, mixed with anything at all. */
const sizeText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc
    .tuple(
      fc.oneof(
        fc.integer({ min: -5, max: 1e7 }).map(String),
        fc.double({ noNaN: false }).map(String),
        fc.constantFrom("0", "1.5", ".5", "1.", "1e3", "1e400", "-0", "+2", "00012", "0x10"),
      ),
      fc.constantFrom("", " ", "  ", "\t"),
      fc.constantFrom(
        "B",
        "K",
        "KiB",
        "kib",
        "M",
        "MiB",
        "G",
        "GiB",
        "T",
        "TiB",
        "PiB",
        "MB",
        "gb",
        "x",
        "",
      ),
    )
    .map(([n, sp, u]) => `${n}${sp}${u}`),
);

describe("fuzz: sizes", () => {
  it("parseSize returns a safe whole number of bytes or a UnitError, nothing else", () => {
    fc.assert(
      fc.property(sizeText, fc.boolean(), fc.boolean(), (t, wholePages, allowZero) => {
        try {
          const b = parseSize(t, { wholePages, allowZero });
          assert.ok(Number.isSafeInteger(b) && b >= 0, `${t} -> ${b}`);
          if (!allowZero) assert.ok(b > 0);
          if (wholePages) assert.equal(b % 4096, 0);
          // What formatSize(exact) prints, parseSize reads back.
          assert.equal(parseSize(formatSize(b, { exact: true })), b);
        } catch (e) {
          if (!(e instanceof UnitError)) throw e;
          assert.ok(e.message.length > 0 && e.message.length < 400);
          if (/too large/.test(e.message))
            assert.doesNotMatch(e.message, /PiB/, "the limit is named in a unit that is accepted");
          if (allowZero === false) assert.doesNotMatch(e.message, /0 or more/);
        }
      }),
      opts(3000),
    );
  });
});

describe("fuzz: scenario loader", () => {
  const value = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: "small" },
      fc.string({ maxLength: 12 }),
      sizeText,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("v"), { maxLength: 3 }),
      fc.dictionary(
        fc.constantFrom(
          "name",
          "memory",
          "maxmem",
          "duration",
          "tick",
          "host",
          "domains",
          "events",
          "at",
          "run",
          "workload",
          "processes",
          "anon",
          "hot",
          "e820",
          "start",
          "end",
          "type",
          "settings",
          "min",
          "seed",
          "zz",
        ),
        tie("v"),
        { maxKeys: 4 },
      ),
    ),
  })).v;

  const check = (text: string) => {
    try {
      parseScenario(text, "f.yaml", repoPath("test/scenarios"));
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      assert.doesNotMatch(e.message, /:\?:/, "every problem has its line");
      assert.ok(e.message.length < 25 * 320, `${e.message.length} characters`);
      for (const line of e.message.split("\n"))
        assert.match(line, /^(f\.yaml(:\d+)?: |\.\.\. and \d+ more problems)/, line);
    }
  };

  it("random text: a Scenario or a ScenarioError naming file and line", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), check), opts(600));
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(
            "duration: 10s",
            "host:",
            "  memory: 4GiB",
            "domains:",
            "  - name: a",
            "    memory: 1GiB",
            "events: [",
            "- {",
            "]",
            "\t",
            ":",
            "&a",
            "*a",
            "!!str",
            "'",
            '"',
            "---",
            "#",
          ),
          { maxLength: 12 },
        ),
        (lines) => check(lines.join("\n")),
      ),
      opts(600),
    );
  });

  it("random documents of the right shape with wrong values", () => {
    fc.assert(
      fc.property(
        fc.record({
          duration: value,
          host: fc.oneof(value, fc.record({ memory: value, reserve: value })),
          domains: fc.oneof(
            value,
            fc.array(fc.record({ name: value, memory: value, maxmem: value }), { maxLength: 3 }),
          ),
          events: value,
        }),
        (doc) => check(stringify(doc)),
      ),
      opts(400),
    );
  });
});

describe("fuzz: xl .cfg reader", () => {
  const cfgText = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          "memory",
          "maxmem",
          "name",
          "type",
          "vif",
          "disk",
          "extra",
          "=",
          "[",
          "]",
          ",",
          ";",
          "\n",
          " ",
          "#c\n",
          '"',
          "'",
          "0x",
          "0",
          "512",
          "99999999999999999999",
          "-1",
          "'a'",
          '"b"',
          "\\",
        ),
        fc.string({ maxLength: 6 }),
      ),
      { maxLength: 40 },
    )
    .map((a) => a.join(""));

  it("gives a config with safe byte counts, or an XlConfigError naming the file", () => {
    fc.assert(
      fc.property(cfgText, (t) => {
        try {
          const c = parseXlConfig(t, "d.cfg");
          assert.ok(Number.isSafeInteger(c.memoryBytes) && c.memoryBytes > 0);
          assert.ok(Number.isSafeInteger(c.maxmemBytes) && c.maxmemBytes >= c.memoryBytes);
        } catch (e) {
          if (!(e instanceof XlConfigError)) throw e;
          assert.match(e.message, /^d\.cfg(:\d+)?: /);
        }
      }),
      opts(3000),
    );
  });
});

describe("fuzz: the CLI's arguments", () => {
  it("random arguments exit 0, 1 or 2 with a message, never a stack trace", async () => {
    const state = tempDir("ballast-fz-");
    const saved = process.env.BALLAST_STATE_DIR;
    process.env.BALLAST_STATE_DIR = state;
    const token = fc.oneof(
      fc.constantFrom(
        "--memory",
        "--maxmem",
        "--arch",
        "--cmdline",
        "--pci-hole",
        "--json",
        "--force",
        "--dry-run",
        "--backend",
        "--state",
        "--release",
        "--bogus",
        "-h",
        "auto",
        "min=1GiB",
        "weight=x",
        "buffer=-1",
        "web",
        "512MiB",
        "1e400G",
        "i686",
        "3GiB-1GiB",
        "run",
        "/nonexistent.yaml",
        "",
        "--",
        "-",
      ),
      fc.string({ maxLength: 8 }),
    );
    const argv = fc.tuple(
      fc.constantFrom(
        "check",
        "sim",
        "list",
        "mem-set",
        "mem-max",
        "set",
        "policy",
        "reserve",
        "help",
        "frobnicate",
      ),
      fc.array(token, { maxLength: 6 }),
    );
    const outW = process.stdout.write;
    const errW = process.stderr.write;
    let captured = "";
    try {
      await fc.assert(
        fc.asyncProperty(argv, async ([cmd, rest]) => {
          captured = "";
          process.stdout.write = ((s: string) => ((captured += s), true)) as typeof outW;
          process.stderr.write = ((s: string) => ((captured += s), true)) as typeof errW;
          let code: number;
          try {
            code = await main([cmd, ...rest]);
          } finally {
            process.stdout.write = outW;
            process.stderr.write = errW;
          }
          assert.ok([0, 1, 2].includes(code), `exit ${code}`);
          assert.doesNotMatch(captured, /\n\s+at .*\(/, `a stack for ${[cmd, ...rest].join(" ")}`);
        }),
        opts(300),
      );
    } finally {
      if (saved === undefined) delete process.env.BALLAST_STATE_DIR;
      else process.env.BALLAST_STATE_DIR = saved;
    }
  });
});

describe("fuzz: the daemon's API", () => {
  let store: Store;
  let daemon: Daemon;
  let server: ReturnType<typeof createApi>;
  let port = 0;
  let token = "";
  before(async () => {
    store = new Store(tempDir("ballast-fapi-"));
    daemon = new Daemon({
      backend: SimBackend.fromFile(repoPath("test/fixtures/daemon-host.yaml")),
      store,
      policy: "none",
      intervalMs: null,
      speed: 1,
      log: () => {},
    });
    token = store.token();
    server = createApi(daemon, token);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
    store.close();
  });

  const send = (
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | null,
  ) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      });
      req.on("error", reject);
      if (body !== null) req.write(body);
      req.end();
    });

  /** What a refused request must leave as it was. */
  const snapshot = async () =>
    JSON.stringify({
      targets: (await daemon.domains()).map((d) => [
        d.name,
        d.target_bytes,
        d.maxmem_bytes,
        d.pin_bytes,
        d.settings,
      ]),
      policy: daemon.policyName,
      reservations: daemon.listReservations(),
      stored: store.targets(),
    });

  const segment = fc.oneof(
    fc.constantFrom(
      "v1",
      "host",
      "domains",
      "events",
      "policy",
      "reservations",
      "web",
      "db",
      "nope",
      "target",
      "max",
      "settings",
      "history",
      "pin",
      "r1",
      "%zz",
      "%2F",
      "%00",
      "..",
      "",
      "metrics",
    ),
    fc.string({ maxLength: 6 }).map(encodeURIComponent),
  );
  const path = fc
    .tuple(
      fc.boolean(),
      fc.array(segment, { maxLength: 5 }),
      fc.oneof(
        fc.constant(""),
        fc.constantFrom(
          "?limit=abc",
          "?limit=-1",
          "?limit=5",
          "?limit=0",
          "?limit=99999999",
          "?limit=1e3",
          "?x=%zz",
        ),
        fc.string({ maxLength: 10 }).map((s) => `?limit=${encodeURIComponent(s)}`),
      ),
    )
    .map(([v1, segs, q]) => `/${v1 ? "v1/" : ""}${segs.join("/")}${q}`);
  const sizeValue = fc.oneof(sizeText, fc.integer(), fc.double(), fc.constant(null), fc.boolean());
  const body = fc.oneof(
    fc.constant(null),
    fc.string({ maxLength: 30 }),
    fc.json({ maxDepth: 2 }),
    fc
      .record(
        {
          size: sizeValue,
          force: fc.oneof(fc.boolean(), fc.string({ maxLength: 3 })),
          dry_run: fc.oneof(fc.boolean(), fc.integer()),
          min: sizeValue,
          max: sizeValue,
          weight: fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 3 })),
          buffer: fc.oneof(fc.double(), fc.integer()),
          name: fc.oneof(
            fc.constantFrom("none", "mom", "ballast", "squeezed", "proxmox", "greedy"),
            fc.string({ maxLength: 5 }),
          ),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
  );
  const auth = fc.oneof(
    fc.constant(null),
    fc.constantFrom("bearer", "Bearer", "BEARER", "Basic", "Bearer  ").map((s) => `${s} TOKEN`),
    fc.string({ maxLength: 20 }),
  );

  it("never 500; every 4xx is JSON with error and message; a refused request changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
        path,
        body,
        auth,
        async (method, p, b, a) => {
          const headers: Record<string, string> = {};
          if (a !== null) headers.authorization = a.replace("TOKEN", token);
          if (b !== null) {
            headers["content-type"] = "application/json";
            headers["content-length"] = String(Buffer.byteLength(b));
          }
          const before = await snapshot();
          const historyBefore = store.history(null, 10_000).length;
          const r = await send(method, p, headers, b);
          assert.notEqual(r.status, 500, `${method} ${p} ${b}: ${r.text}`);
          assert.ok(r.status < 500, `${method} ${p}: ${r.status} ${r.text}`);
          if (r.status >= 400 && method !== "HEAD") {
            const j = JSON.parse(r.text) as { error?: unknown; message?: unknown };
            assert.equal(typeof j.error, "string");
            assert.ok(typeof j.message === "string" && j.message.length > 0);
          }
          if (r.status >= 400 && r.status !== 409) {
            assert.equal(await snapshot(), before, `${method} ${p} ${b} changed state`);
            assert.equal(store.history(null, 10_000).length, historyBefore);
          }
          if (r.status === 409) assert.equal(await snapshot(), before);
        },
      ),
      opts(400),
    );
  });
});

describe("fuzz: QMP replies", () => {
  const dir = tempDir("ballast-fqmp-");
  const GREETING = `${JSON.stringify({ QMP: { version: { qemu: { major: 8, minor: 0, micro: 0 }, package: "" }, capabilities: [] } })}\n`;
  let next: (id: number) => string = () => "";
  let greeting = GREETING;
  let server: Server;
  const sockets = new Set<Socket>();
  const path = join(dir, "q.sock");
  before(async () => {
    server = createServer((sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
      sock.on("error", () => {});
      sock.write(greeting);
      let buf = "";
      sock.on("data", (c) => {
        buf += c;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const cmd = JSON.parse(line) as { execute: string; id: number };
          if (cmd.execute === "qmp_capabilities")
            sock.write(`${JSON.stringify({ return: {}, id: cmd.id })}\n`);
          else sock.write(next(cmd.id));
        }
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
  });
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  const anyJson = fc.jsonValue({ maxDepth: 3 });
  const reply = fc.oneof(
    anyJson.map((v) => () => `${JSON.stringify(v)}\n`),
    anyJson.map((v) => (id: number) => `${JSON.stringify({ return: v, id })}\n`),
    fc
      .record(
        {
          actual: fc.oneof(
            fc.integer(),
            fc.double(),
            fc.string(),
            fc.constant(2 ** 64),
            fc.constant(-1),
          ),
        },
        { requiredKeys: [] },
      )
      .map((v) => (id: number) => `${JSON.stringify({ return: v, id })}\n`),
    fc
      .record(
        {
          class: fc.oneof(fc.string(), fc.integer()),
          desc: fc.oneof(fc.string(), fc.constant(null)),
        },
        { requiredKeys: [] },
      )
      .map((e) => (id: number) => `${JSON.stringify({ error: e, id })}\n`),
    fc.string({ maxLength: 40 }).map((s) => () => `${s}\n`),
    fc
      .record({ event: fc.string(), data: anyJson }, { requiredKeys: ["event"] })
      .map(
        (e) => (id: number) =>
          `${JSON.stringify(e)}\n${JSON.stringify({ return: { actual: 4096 }, id })}\n`,
      ),
    fc.constant(() => ""),
  );
  const schema = fc.constantFrom(queryBalloon, guestStats, memoryDevices);

  it("every reply gives a value that fits its schema or a QmpError, never a crash or a hang", async () => {
    await fc.assert(
      fc.asyncProperty(reply, schema, async (r, s) => {
        next = r;
        const q = new QmpClient(path, 150);
        try {
          const v = await q.execute("query-x", {}, s);
          assert.ok(s.safeParse(v).success);
        } catch (e) {
          assert.ok(e instanceof QmpError, String(e));
          assert.ok(e.message.length < 400);
        } finally {
          q.close();
        }
      }),
      opts(150),
    );
  });

  it("random greetings: connected or a QmpError", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          anyJson.map((v) => `${JSON.stringify(v)}\n`),
          fc.string({ maxLength: 30 }),
        ),
        async (g) => {
          greeting = g;
          next = (id) => `${JSON.stringify({ return: { actual: 4096 }, id })}\n`;
          const q = new QmpClient(path, 150);
          try {
            await q.connect();
          } catch (e) {
            assert.ok(e instanceof QmpError, String(e));
          } finally {
            q.close();
            greeting = GREETING;
          }
        },
      ),
      opts(60),
    );
  });
});
