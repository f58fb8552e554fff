/**
 * The libvirt backend's parsing of `virsh domstats` (offline; the real libvirtd is in
 * test/vm/libvirt.test.ts): libvirt renames QEMU's balloon statistics and gives KiB.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDomstats } from "../src/backends/libvirt/discovery.js";
import { balloonStatsOf } from "../src/backends/libvirt/stats.js";
import { KiB } from "../src/units/index.js";

// As libvirt 9.0 prints it for a running guest with a stats period (abridged).
const DOMSTATS = `Domain: 'lv1'
  state.state=1
  balloon.current=524288
  balloon.maximum=1048576
  balloon.swap_in=0
  balloon.swap_out=0
  balloon.major_fault=312
  balloon.minor_fault=98765
  balloon.unused=301234
  balloon.available=478312
  balloon.usable=390000
  balloon.last-update=1763900000
  balloon.disk_caches=60000
  balloon.rss=210000

Domain: 'lv2'
  state.state=5
  balloon.current=262144
`;

describe("libvirt domstats", () => {
  it("maps libvirt's balloon fields to virtio-balloon's statistics, KiB to bytes", () => {
    const [a, b] = parseDomstats(DOMSTATS);
    assert.equal(a!.name, "lv1");
    assert.deepEqual(balloonStatsOf(a!.fields), {
      lastUpdateMs: 1763900000 * 1000,
      totalBytes: 478312 * KiB,
      freeBytes: 301234 * KiB,
      availableBytes: 390000 * KiB,
      cachesBytes: 60000 * KiB,
      swapInBytes: 0,
      swapOutBytes: 0,
      majorFaults: 312,
      minorFaults: 98765,
    });
    // A guest that never answered (no last-update) has no statistics at all.
    assert.equal(balloonStatsOf(b!.fields), null);
  });

  it("leaves out a statistic the guest did not give or that is not a whole number", () => {
    const [a] = parseDomstats(
      "Domain: 'x'\n  balloon.last-update=5\n  balloon.unused=-3\n  balloon.available=12.5\n  balloon.usable=7\n",
    );
    assert.deepEqual(balloonStatsOf(a!.fields), {
      lastUpdateMs: 5000,
      availableBytes: 7 * KiB,
    });
  });
});
