/** Progress on stderr: simulated time, speed and time left on a terminal; nothing otherwise. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { formatDuration, startProgress } from "../src/cli/progress.js";
import { repoPath } from "./helpers.js";

function fakeStream(isTTY: boolean, columns = 120) {
  const writes: string[] = [];
  return {
    writes,
    stream: { isTTY, columns, write: (s: string) => (writes.push(s), true) },
  };
}

describe("progress", () => {
  it("on a terminal: simulated time done of the total, speed, time left, redrawn in place", () => {
    const { stream, writes } = fakeStream(true);
    let wall = 0;
    const p = startProgress("sim run x.yaml", 3_600_000, { stream, now: () => wall });
    wall = 1000;
    p.update(600_000); // 10 simulated minutes in 1 wall second: 600x, 5 s left
    assert.equal(writes.length, 1);
    assert.equal(
      writes[0],
      "\r\x1b[Ksim run x.yaml: 10m00s/1h00m simulated (16%), 600x real time, 5.0s left",
    );
    wall = 1100;
    p.update(660_000); // within 200 ms of the last draw: not redrawn
    assert.equal(writes.length, 1);
    wall = 2000;
    p.update(1_200_000, "idle-fleet: mom");
    assert.match(
      writes[1]!,
      /^\r\x1b\[Ksim run x\.yaml idle-fleet: mom: 20m00s\/1h00m simulated \(33%\)/,
    );
    p.done();
    assert.equal(writes.at(-1), "\r\x1b[K");
  });

  it("fits the terminal's width", () => {
    const { stream, writes } = fakeStream(true, 30);
    let wall = 0;
    const p = startProgress("bench policies", null, { stream, now: () => wall });
    wall = 500;
    p.update(1000, "a-long-scenario-name: squeezed", 100_000);
    assert.equal(writes[0]!.replace("\r\x1b[K", "").length, 29);
  });

  it("writes nothing when the stream is not a terminal", () => {
    const { stream, writes } = fakeStream(false);
    const p = startProgress("sim run", 1000, { stream, now: () => 5000 });
    p.update(500);
    p.done();
    assert.deepEqual(writes, []);
  });

  it("`sim run` piped: stderr stays empty", () => {
    const r = spawnSync(repoPath("bin/ballast"), ["sim", "run", repoPath("examples/demo.yaml")], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, "");
  });

  it("prints durations as people read them", () => {
    assert.equal(formatDuration(4.25), "4.3s");
    assert.equal(formatDuration(45), "45s");
    assert.equal(formatDuration(750), "12m30s");
    assert.equal(formatDuration(11_100), "3h05m");
  });
});
