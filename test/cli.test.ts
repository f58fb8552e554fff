/** The CLI as a user runs it: bin/ballast in a child process, exit codes and messages. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatBench } from "../src/cli/bench.js";
import { VERBS } from "../src/cli/main.js";
import { domainsTable } from "../src/cli/top.js";
import type { BenchRow } from "../src/daemon/policy_bench.js";
import { GiB, MiB } from "../src/units/index.js";
import { repoPath, tempDir } from "./helpers.js";

function ballast(...args: string[]) {
  const r = spawnSync(process.execPath, [repoPath("bin/ballast"), ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scenarioFile(text: string): string {
  const dir = tempDir("ballast-");
  const f = join(dir, "s.yaml");
  writeFileSync(f, text);
  return f;
}

describe("ballast sim run", () => {
  it("prints an xl list-style table and the events", () => {
    const r = ballast("sim", "run", repoPath("examples/balloon-up.yaml"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Name\s+ID\s+Mem\(MiB\)\s+Target\(MiB\)\s+MaxMem\(MiB\)\s+Balloon\(MiB\)\s+State\s+PSI some\/full\(%\)\s+OOM$/m,
    );
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

  it("names the line of a YAML syntax error (never file:?:)", () => {
    const f = scenarioFile("duration: 10s\nhost:\n  memory: 4GiB\n  e820: [1, 2\ndomains: []\n");
    const r = ballast("sim", "run", f);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /s\.yaml:\d+: YAML: /);
    assert.doesNotMatch(r.stderr, /:\?:/);
    const dup = ballast(
      "sim",
      "run",
      scenarioFile("duration: 10s\nduration: 20s\nhost: {memory: 1GiB}\n"),
    );
    assert.match(dup.stderr, /s\.yaml:2: YAML: Map keys must be unique/);
  });

  it("a binary file given as a scenario gets one line, not megabytes of errors", () => {
    const dir = tempDir();
    const bin = join(dir, "blob.yaml");
    const bytes = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(bin, bytes);
    const r = ballast("sim", "run", bin);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.length < 400, `${r.stderr.length} bytes of errors`);
    assert.match(r.stderr, /blob\.yaml:\d+: not a text file \(a NUL byte at offset \d+\)/);
    const big = join(dir, "big.yaml");
    writeFileSync(big, Buffer.alloc(10 * 1024 * 1024, 0x61));
    const r2 = ballast("sim", "run", big);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /too large for a scenario/);
    // Text that is garbage: at most 20 problems are printed, then a count.
    const lines = Array.from({ length: 500 }, (_, i) => `  k${i}: [${"x".repeat(2000)}`).join("\n");
    const r3 = ballast("sim", "run", scenarioFile(`duration: 10s\nhost:\n${lines}\n`));
    assert.equal(r3.code, 2);
    assert.ok(r3.stderr.length < 20 * 400, `${r3.stderr.length} bytes of errors`);
  });

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
  it("reads a real xl .cfg whose vif and disk lists span lines, with hex and quoted numbers", () => {
    const f = join(tempDir(), "web.cfg");
    writeFileSync(
      f,
      [
        "# /etc/xen/web.cfg",
        'name = "web"',
        'type = "pvh"',
        'memory = "512"',
        "maxmem = 0x1000   # 4 GiB, in hex as strtol reads it",
        "vcpus = 2",
        "vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0',",
        "        'mac=00:16:3e:00:00:02,bridge=xenbr1', ]",
        "disk = [",
        "    'phy:/dev/vg/web,xvda,w',",
        "    'file:/srv/iso/debian.iso,xvdc:cdrom,r'",
        "]",
        'extra = "console=hvc0"; on_crash = "restart"',
        "",
      ].join("\n"),
    );
    const r = ballast("check", f);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /memory 512 MiB, maxmem 4 GiB, cmdline "console=hvc0"/);
  });

  it("refuses an xl memory too large to hold, and names the line of syntax errors", () => {
    const dir = tempDir();
    const huge = join(dir, "huge.cfg");
    writeFileSync(huge, 'name = "x"\nmemory = 99999999999999999999\n');
    const r = ballast("check", huge);
    assert.equal(r.code, 2, r.stdout);
    assert.match(
      r.stderr,
      /huge\.cfg:2: memory = 99999999999999999999 MiB is too large: sizes are below 8192TiB/,
    );
    assert.equal(r.stdout, "");
    const bad = join(dir, "bad.cfg");
    writeFileSync(bad, 'name = "x"\nmemory = 512\ndisk = [ "a",\n  "b"\nvcpus = 2\n');
    const r2 = ballast("check", bad);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /bad\.cfg:5: expected "," or "\]" in the list for disk/);
    const unterminated = join(dir, "q.cfg");
    writeFileSync(unterminated, 'memory = 512\nname = "x\n');
    assert.match(ballast("check", unterminated).stderr, /q\.cfg:2: a "string" is not closed/);
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

/** Verbs that talk to a running daemon: they take --state and --connect. */
const DAEMON_CLIENTS = ["list", "top", "mem-set", "mem-max", "set", "policy", "reserve"];

describe("CLI conventions", () => {
  it("--version and -V print the version in package.json", () => {
    const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8"));
    for (const flag of ["--version", "-V"]) {
      const r = ballast(flag);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `ballast ${pkg.version}\n`);
    }
    const j = ballast("--version", "--json");
    assert.deepEqual(JSON.parse(j.stdout), { name: "ballast", version: pkg.version });
    assert.equal(ballast("--version", "--bogus").code, 2);
  });

  it("ballast --help lists every verb; ballast alone is a usage error with the help on stderr", () => {
    const r = ballast("--help");
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    for (const v of VERBS) assert.match(r.stdout, new RegExp(`^  ${v.name}\\s`, "m"), v.name);
    assert.match(r.stdout, /--state DIR/);
    assert.match(r.stdout, /--connect ADDR/);
    const bare = ballast();
    assert.equal(bare.code, 2);
    assert.equal(bare.stdout, "");
    assert.match(bare.stderr, /^usage: ballast VERB/m);
  });

  it("ballast VERB --help and -h: exit 0, usage on stdout, every option listed", () => {
    assert.ok(VERBS.length >= 11);
    for (const v of VERBS) {
      for (const flag of ["--help", "-h"]) {
        const r = ballast(...v.name.split(" "), flag);
        assert.equal(r.code, 0, `${v.name} ${flag}: ${r.stderr}`);
        assert.equal(r.stderr, "", v.name);
        assert.ok(r.stdout.startsWith(`usage: ballast ${v.name}`), `${v.name}: ${r.stdout}`);
        for (const [name, o] of Object.entries(v.options)) {
          if (o.hidden) continue;
          assert.match(
            r.stdout,
            new RegExp(`^  (-\\w, )?--${name}\\b`, "m"),
            `${v.name} --${name}`,
          );
        }
        assert.match(r.stdout, /-h, --help/);
      }
    }
    for (const name of DAEMON_CLIENTS) {
      const r = ballast(name, "--help");
      assert.match(r.stdout, /^  --state DIR /m, name);
      assert.match(r.stdout, /^  --connect ADDR /m, name);
    }
    assert.match(ballast("daemon", "--help").stdout, /^  --state DIR /m);
    // --help wins over whatever else is on the line, even what would be bad input.
    assert.equal(ballast("mem-set", "web", "512", "--help").code, 0);
    assert.equal(ballast("sim", "--help").code, 0);
    const h = ballast("help", "reserve");
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^usage: ballast reserve SIZE/);
    assert.equal(ballast("help", "frobnicate").code, 2);
  });

  it("every verb takes --json, and says in its help what the document holds", () => {
    for (const v of VERBS) {
      assert.ok("json" in v.options, `${v.name} has --json`);
      assert.match(ballast(...v.name.split(" "), "--help").stdout, /^  --json /m, v.name);
    }
    const c = ballast("check", "--memory", "512MiB", "--maxmem", "4GiB", "--json");
    assert.equal(c.code, 0, c.stderr);
    assert.equal(JSON.parse(c.stdout).boots, true);
  });

  it("an unknown option names the verb's --help", () => {
    const r = ballast("list", "--frobnicate");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown option '--frobnicate'.*ballast list --help/);
  });
});

describe("every size column says its unit", () => {
  it("list and top: MiB in the header of every size column", () => {
    const d = {
      name: "web",
      id: 0,
      state: "running",
      memory_bytes: 4 * GiB,
      maxmem_bytes: 6 * GiB,
      target_bytes: 3 * GiB,
      actual_bytes: 3 * GiB,
      floor_bytes: GiB,
      working_set_bytes: 512 * MiB,
      psi_some_avg10: 1.5,
      psi_full_avg10: 0,
      rss_bytes: 2 * GiB,
      stalled: false,
      settings: { min_bytes: GiB, max_bytes: 6 * GiB, weight: 100, buffer_pct: 20 },
      pin_bytes: 3 * GiB,
    };
    const [head, row] = domainsTable({ policy: "none", t_s: 0, domains: [d] }, true).split("\n");
    assert.deepEqual(head!.split(/\s{2,}/), [
      "Name",
      "ID",
      "Mem(MiB)",
      "Target(MiB)",
      "Floor(MiB)",
      "Min(MiB)",
      "Max(MiB)",
      "Weight",
      "PSI some(%)",
      "full(%)",
      "State",
      "Pin(MiB)",
      "RSS(MiB)",
      "Balloon",
    ]);
    assert.deepEqual(row!.trim().split(/\s+/), [
      "web",
      "0",
      "3072",
      "3072",
      "1024",
      "1024",
      "6144",
      "100",
      "1.50",
      "0.00",
      "running",
      "3072",
      "2048",
      "-",
    ]);
  });

  it("bench policies: mean host free in MiB, like every other table", () => {
    const row: BenchRow = {
      policy: "ballast",
      scenario: "s",
      hypervisor: "xen",
      oom_kills: 0,
      oom_kills_host_had_room: 0,
      stall_s: 0,
      major_faults: 0,
      mean_host_free_bytes: 1536 * MiB,
      admitted_vms: 1,
      boot_failures: 0,
      crashes: 0,
      density_vms: 3,
      reaction_p50_s: null,
      reaction_p99_s: null,
    };
    const text = formatBench({
      schema: "ballast.bench.policies/v1",
      rows: [row],
      totals: [{ ...row, scenario: "all" }],
    });
    const lines = text.split("\n");
    const head = lines.find((l) => l.startsWith("scenario"))!;
    assert.match(head, /\bmean_host_free\(MiB\)/);
    const col = head.split(/\s{2,}/).indexOf("mean_host_free(MiB)");
    const cells = lines[lines.indexOf(head) + 1]!.split(/\s{2,}/);
    assert.equal(cells[col], "1536");
  });
});

describe("tests clean up after themselves", () => {
  it("no test makes a temporary directory it does not remove (they use tempDir)", () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts") && !p.endsWith("helpers.ts")) {
          const text = readFileSync(p, "utf8");
          // test/vm/qemu.test.ts removes its own directory (unless BALLAST_KEEP_VM_DIR).
          if (/mkdtempSync\(/.test(text) && !/rmSync\(dir, \{ recursive: true/.test(text))
            offenders.push(p);
        }
      }
    };
    walk(repoPath("test"));
    assert.deepEqual(offenders, []);
  });

  it("tempDir's directories are gone when the process exits, even after a failure", () => {
    const script = `
      import { tempDir } from ${JSON.stringify(repoPath("dist/test/helpers.js"))};
      import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
      const d = tempDir("ballast-exit-");
      writeFileSync(d + "/f", "x");
      console.log(d);
      throw new Error("a failing test");
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.notEqual(r.status, 0);
    const d = r.stdout.trim();
    assert.match(d, /ballast-exit-/);
    assert.ok(!existsSync(d), `${d} left behind`);
  });
});
