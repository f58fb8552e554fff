/**
 * Domains by id wherever a name is taken, as in xl (`xl mem-set 3 512m`): the rule
 * (the name first, then the id), the simulator's toolstack and scenario events, the
 * libvirt backend (QEMU's: test/qemu_backend.test.ts), and the daemon's API (which
 * stores pins by name).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LibvirtBackend } from "../src/backends/libvirt/backend.js";
import type { Virsh } from "../src/backends/libvirt/virsh.js";
import { SimBackend } from "../src/backends/sim/backend.js";
import { call, ClientError, type Endpoint } from "../src/cli/client.js";
import { createApi } from "../src/daemon/api.js";
import { Daemon } from "../src/daemon/daemon.js";
import { Store } from "../src/daemon/store.js";
import { findDomain, noSuchDomain } from "../src/model/domain.js";
import { parseScenario, ScenarioError } from "../src/sim/scenario.js";
import { World } from "../src/sim/world.js";
import { GiB } from "../src/units/index.js";
import { repoPath, tempDir } from "./helpers.js";

describe("the rule: a name first, then an id", () => {
  const ds = [
    { name: "web", id: 0 },
    { name: "1", id: 4 },
    { name: "db", id: 1 },
  ];
  it("finds by name, by id, and a domain named with digits by its name", () => {
    assert.equal(findDomain(ds, "web")?.id, 0);
    assert.equal(findDomain(ds, "0")?.name, "web");
    assert.equal(findDomain(ds, "4")?.name, "1", "id 4");
    assert.equal(findDomain(ds, "1")?.name, "1", "the domain named 1 wins over id 1 (db)");
    assert.equal(findDomain(ds, "01")?.name, "db", "leading zeros read as xl's strtoul reads them");
    assert.equal(findDomain(ds, "7"), undefined);
    assert.equal(findDomain(ds, "-1"), undefined);
    assert.equal(findDomain(ds, "1e0"), undefined);
  });
  it("says what matched nothing, naming it", () => {
    assert.equal(noSuchDomain("7"), 'no domain named "7" and none with id 7');
    assert.equal(noSuchDomain("nope"), 'no domain named "nope"');
  });
});

const SCENARIO = (events = "") => `duration: 10s
host: { memory: 16GiB }
domains:
  - { name: web, memory: 4GiB, workload: { processes: [{ name: a, anon: 512MiB, hot: 256MiB }] } }
  - { name: "0", memory: 2GiB }
  - { name: db, memory: 4GiB, workload: { processes: [{ name: b, anon: 512MiB, hot: 256MiB }] } }
${events}`;

describe("the simulator", () => {
  it("takes ids in scenario events, and refuses one past the domains with the ids there are", () => {
    const w = new World(
      parseScenario(SCENARIO('events:\n  - { at: 1s, run: "mem-set 2 3GiB" }'), "s.yaml", "."),
    );
    w.runToEnd();
    const db = w.domains.find((d) => d.name === "db")!;
    assert.equal(db.id, 2);
    assert.equal(db.targetBytes, 3 * GiB);
    assert.ok(w.events.some((e) => e.type === "mem-set" && e.domain === "db"));
    assert.throws(
      () =>
        parseScenario(SCENARIO('events:\n  - { at: 1s, run: "mem-set 3 1GiB" }'), "s.yaml", "."),
      (e: unknown) =>
        e instanceof ScenarioError &&
        /no domain named "3" and none with id 3 in this scenario \(ids 0-2\)/.test(e.message),
    );
  });

  it("the sim backend: by id, a digit name first, and an unknown id refused naming it", async () => {
    const b = new SimBackend(new World(parseScenario(SCENARIO(), "s.yaml", ".")));
    b.advance(2000);
    const byId = await b.setTarget("2", 3 * GiB);
    assert.ok(byId.ok, byId.message);
    assert.match(byId.message, /^db: 4 GiB -> 3 GiB/);
    // "0" is the domain named 0 (id 1), not web (id 0).
    const named = await b.setMax("0", 3 * GiB);
    assert.ok(named.ok, named.message);
    assert.equal(b.domainsSync().find((d) => d.name === "0")!.maxmemBytes, 3 * GiB);
    assert.equal(b.domainsSync().find((d) => d.name === "web")!.maxmemBytes, 4 * GiB);
    assert.ok(b.statsSync("2"), "stats by id");
    const none = await b.setTarget("9", GiB);
    assert.equal(none.code, "no-such-domain");
    assert.equal(none.message, 'no domain named "9" and none with id 9');
  });
});

describe("the libvirt backend", () => {
  const fake = {
    async run(...cmd: string[]): Promise<string> {
      if (cmd[0] === "domstats")
        return "Domain: 'alpha'\n  state.state=1\n  balloon.current=524288\n  balloon.maximum=524288\n";
      if (cmd[0] === "dumpxml")
        return "<domain type='kvm' id='7'><name>alpha</name><uuid>u-1</uuid><memory unit='KiB'>524288</memory><devices><memballoon model='none'/></devices></domain>";
      throw new Error(`unexpected virsh ${cmd.join(" ")}`);
    },
  } as unknown as Virsh;

  it("names a domain by its name or its libvirt id; an unknown id is refused naming it", async () => {
    const b = new LibvirtBackend("", fake);
    const ds = await b.domains();
    assert.deepEqual(
      ds.map((d) => [d.name, d.id]),
      [["alpha", 7]],
    );
    const r = await b.setMax("7", 4 * GiB);
    assert.equal(r.code, "above-maxmem");
    assert.match(r.message, /^alpha: the domain was started with maxmem 512 MiB/);
    const none = await b.setMax("8", GiB);
    assert.equal(none.code, "no-such-domain");
    assert.equal(none.message, 'no running libvirt domain named "8" and none with id 8');
  });
});

describe("the daemon's API", () => {
  it("resolves an id in the path, answers with the name, and pins by name", async () => {
    const store = new Store(tempDir("ballast-ids-d-"));
    const backend = SimBackend.fromFile(repoPath("test/fixtures/daemon-host.yaml"));
    const daemon = new Daemon({
      backend,
      store,
      policy: "none",
      intervalMs: null,
      speed: 1,
      log: () => {},
    });
    const server = createApi(daemon, store.token());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const ep: Endpoint = { listen: `127.0.0.1:${port}`, token: store.token() };
    try {
      backend.advance(5000);
      const r = await call(ep, "POST", "/v1/domains/1/target", { size: "3GiB" });
      assert.equal(r.domain, "db");
      assert.match(r.message, /^db: 4 GiB -> 3 GiB/);
      assert.equal(daemon.pinOf("db"), 3 * GiB);
      assert.equal(daemon.pinOf("1"), null, "stored by name, not by the id typed");
      const s = await call(ep, "PUT", "/v1/domains/0/settings", { weight: 300 });
      assert.equal(s.domain, "web");
      assert.equal(s.settings.weight, 300);
      const h = await call(ep, "GET", "/v1/domains/1/history");
      assert.equal(h.domain, "db");
      assert.ok(h.history.some((x: { type: string }) => x.type === "operator-mem-set"));
      const un = await call(ep, "DELETE", "/v1/domains/1/pin");
      assert.equal(un.domain, "db");
      assert.equal(daemon.pinOf("db"), null);
      await assert.rejects(
        call(ep, "POST", "/v1/domains/9/target", { size: "1GiB" }),
        (e: unknown) =>
          e instanceof ClientError &&
          e.status === 404 &&
          e.message === 'no domain named "9" and none with id 9',
      );
    } finally {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      store.close();
    }
  });
});
