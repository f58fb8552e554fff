/** The CLI as a user runs it: bin/ballast in a child process, exit codes and messages. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoPath } from "./helpers.js";

function ballast(...args: string[]) {
  const r = spawnSync(process.execPath, [repoPath("bin/ballast"), ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scenarioFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "ballast-"));
  const f = join(dir, "s.yaml");
  writeFileSync(f, text);
  return f;
}

describe("ballast sim run", () => {
  it("prints an xl list-style table and the events", () => {
    const r = ballast("sim", "run", repoPath("examples/balloon-up.yaml"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Name\s+ID\s+Mem\(MiB\)/m);
    assert.match(r.stdout, /^web\s+0\s+3072\s+3072\s+4096/m);
    assert.match(r.stdout, /balloon-reached-target/);
  });

  it("--json prints the ballast.sim.report/v1 report, byte-identical across runs", () => {
    const a = ballast("sim", "run", repoPath("examples/dom0.yaml"), "--json");
    const b = ballast("sim", "run", repoPath("examples/dom0.yaml"), "--json");
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    const rep = JSON.parse(a.stdout);
    assert.equal(rep.schema, "ballast.sim.report/v1");
    for (const k of ["duration_s", "host", "domains", "events"]) assert.ok(k in rep, k);
    const d = rep.domains[0];
    for (const k of [
      "name",
      "arch",
      "state",
      "boot_error",
      "memory_bytes",
      "maxmem_bytes",
      "target_bytes",
      "actual_bytes",
      "balloon_bytes",
      "mem_map_bytes",
      "lowmem_free_bytes",
      "e820",
      "stats",
    ]) {
      assert.ok(k in d, k);
    }
    for (const k of [
      "oom_kills",
      "major_faults",
      "swap_in_bytes",
      "swap_out_bytes",
      "available_bytes",
      "free_bytes",
      "anon_bytes",
      "file_bytes",
      "psi_some_avg10",
      "psi_full_avg10",
    ]) {
      assert.ok(k in d.stats, k);
    }
    assert.ok(Number.isInteger(d.actual_bytes));
  });

  const bad: Array<[string, string, RegExp]> = [
    [
      "a bare number",
      "duration: 10s\nhost:\n  memory: 4096\n",
      /:3: host\.memory: bare number 4096: which unit/,
    ],
    [
      "decimal units",
      "duration: 10s\nhost:\n  memory: 4GB\n",
      /:3: host\.memory: .*ambiguous.*4GiB/,
    ],
    [
      "maxmem below memory",
      "duration: 10s\nhost: { memory: 4GiB }\ndomains:\n  - name: a\n    memory: 2GiB\n    maxmem: 1GiB\n",
      /:6: domains\[0\]\.maxmem: is below memory/,
    ],
    [
      "a bad size in an event",
      'duration: 10s\nhost: { memory: 4GiB }\ndomains:\n  - { name: a, memory: 1GiB }\nevents:\n  - { at: 1s, run: "mem-set a 2GB" }\n',
      /:6: events\[0\]\.run: .*ambiguous/,
    ],
    [
      "an event naming no domain",
      'duration: 10s\nhost: { memory: 4GiB }\ndomains:\n  - { name: a, memory: 1GiB }\nevents:\n  - { at: 1s, run: "mem-set b 2GiB" }\n',
      /events\[0\]\.run: no domain named "b"/,
    ],
    ["an unknown field", "duration: 10s\nhost: { memory: 4GiB, memroy: 1GiB }\n", /host: .*memroy/],
    ["YAML syntax", "duration: 10s\nhost: [\n", /YAML/],
    ["a missing file", "", /cannot read/],
  ];
  for (const [what, text, re] of bad) {
    it(`refuses ${what} with exit 2, naming the place, and runs nothing`, () => {
      const file = text === "" ? "/nonexistent/s.yaml" : scenarioFile(text);
      const r = ballast("sim", "run", file, "--json");
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, re);
    });
  }

  it("usage errors exit 2", () => {
    assert.equal(ballast("sim").code, 2);
    assert.equal(ballast("sim", "run").code, 2);
    assert.equal(ballast("frobnicate").code, 2);
    assert.equal(ballast("sim", "run", "x.yaml", "--bogus").code, 2);
  });

  it("every example runs", () => {
    for (const f of [
      "balloon-up",
      "struct-pages-boot",
      "i686-lowmem",
      "dom0",
      "e820-holes",
      "pci-hole",
      "host-full",
      "mem-max",
    ]) {
      const r = ballast("sim", "run", repoPath(`examples/${f}.yaml`));
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    }
  });
});

describe("ballast check", () => {
  it("exit 1 for memory=512MiB maxmem=64GiB, with the figures and a fix", () => {
    const r = ballast("check", "--memory", "512MiB", "--maxmem", "64GiB");
    assert.equal(r.code, 1);
    assert.match(r.stdout, /would not boot \(struct-pages-exceed-memory\)/);
    assert.match(r.stdout, /need 1 GiB/);
    assert.match(r.stdout, /balloon\.max_initial=\d+MiB would boot/);
  });
  it("exit 0 with balloon.max_initial=4GiB, saying what ballooning up costs", () => {
    const r = ballast(
      "check",
      "--memory",
      "512MiB",
      "--maxmem",
      "64GiB",
      "--cmdline",
      "balloon.max_initial=4GiB",
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^boots/);
    assert.match(r.stdout, /struct pages: 72 MiB/);
    assert.match(r.stdout, /ballooning up costs 64 MiB/);
  });
  it("i686 reports lowmem", () => {
    const r = ballast("check", "--memory", "2GiB", "--maxmem", "32GiB", "--arch", "i686", "--json");
    assert.equal(r.code, 0);
    const j = JSON.parse(r.stdout);
    assert.equal(j.mem_map_bytes, 256 * 1024 * 1024);
    assert.equal(j.lowmem_free_bytes, (896 - 16 - 8 - 256) * 1024 * 1024);
  });
  it("reads xl .cfg files with memory in MiB", () => {
    const big = ballast("check", repoPath("test/fixtures/big.cfg"));
    assert.equal(big.code, 1);
    assert.match(big.stdout, /memory 512 MiB, maxmem 64 GiB/);
    const capped = ballast("check", repoPath("test/fixtures/capped.cfg"));
    assert.equal(capped.code, 0, capped.stdout);
  });
  it("bad input exits 2 and says what was wrong", () => {
    const r1 = ballast("check", "--memory", "512", "--maxmem", "64GiB");
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /--memory: .*no unit/);
    const r2 = ballast("check", repoPath("test/fixtures/bad-units.cfg"));
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /memory must be a whole number of MiB/);
    assert.equal(ballast("check", "--memory", "1GiB", "--maxmem", "512MiB").code, 2);
    assert.equal(ballast("check", "--memory", "1GiB", "--arch", "sparc").code, 2);
  });
});
