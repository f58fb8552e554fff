/**
 * The simulator as a Backend (src/backends/sim/): the domains it lists, with the host's
 * RSS and the stall state every backend shows, and targets and the ceiling through the
 * toolstack.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SimBackend } from "../src/backends/sim/backend.js";
import { parseScenario } from "../src/sim/scenario.js";
import { World } from "../src/sim/world.js";
import { GiB, MiB } from "../src/units/index.js";

const backend = (hypervisor: "xen" | "kvm") =>
  new SimBackend(
    new World(
      parseScenario(
        `duration: 60s
host: { memory: 8GiB, hypervisor: ${hypervisor} }
domains:
  - name: app
    memory: 2GiB
    maxmem: 3GiB
    swap: 2GiB
    workload: { processes: [{ name: java, anon: 1GiB, hot: 768MiB }] }
`,
        "sim-backend.yaml",
        ".",
      ),
    ),
  );

describe("the sim backend", () => {
  it("lists domains with the host's RSS: all of actual on Xen, what was touched on KVM", () => {
    const xen = backend("xen");
    const kvm = backend("kvm");
    xen.advance(3000);
    kvm.advance(3000);
    const [x] = xen.domainsSync();
    const [k] = kvm.domainsSync();
    assert.equal(x!.hostRssBytes, x!.actualBytes);
    assert.ok(k!.hostRssBytes! > GiB && k!.hostRssBytes! < 1.5 * GiB, String(k!.hostRssBytes));
    assert.equal(k!.actualBytes, 2 * GiB);
  });

  it("says a balloon forced below what the guest can give is stalled after 5 s, and not once it is given room", () => {
    // With swap, the balloon takes what kswapd can swap of the cold memory, then stops
    // short of the hot 768 MiB (no kill): no new closest approach for 5 s is a stall.
    const b = backend("xen");
    b.advance(3000);
    assert.ok(b.setTargetSync("app", 512 * MiB, { force: true }).ok);
    b.advance(2000);
    assert.equal(b.domainsSync()[0]!.stalled, false, "still moving");
    // Xen's driver backs off 1, 2, 4, 8 ... s and kswapd frees a little cold memory now
    // and then, so it creeps: stalled in the stretches with no new closest approach.
    const seen: boolean[] = [];
    for (let i = 0; i < 15; i++) {
      b.advance(1000);
      seen.push(b.domainsSync()[0]!.stalled!);
    }
    assert.ok(seen.includes(true), JSON.stringify(seen));
    assert.deepEqual(seen.slice(0, 5), [false, false, false, false, false], "not before 5 s");
    assert.ok(b.setTargetSync("app", 2 * GiB).ok);
    b.advance(2000);
    assert.equal(b.domainsSync()[0]!.stalled, false);
  });

  it("sets the ceiling through mem-max, and refuses a target above it", async () => {
    const b = backend("kvm");
    assert.ok((await b.setMax("app", 2560 * MiB)).ok);
    const r = await b.setTarget("app", 3 * GiB);
    assert.equal(r.ok, false);
    assert.equal(r.code, "above-maxmem");
  });
});
