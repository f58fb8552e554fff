/**
 * Boot real Linux test guests for the tests: the kernel and initramfs that
 * test/vm/build-guest.sh builds from Debian packages, under TCG (`-accel tcg -cpu max`)
 * unless BALLAST_TEST_ACCEL=kvm asks for KVM on a host where it works. (On some hosts
 * /dev/kvm exists but cannot run a stock guest kernel, and QEMU does not notice.)
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { Store } from "../../src/daemon/store.js";
import { repoPath } from "../helpers.js";
import { sleep } from "../wait.js";

export const QEMU = "qemu-system-x86_64";

/** Why real-guest tests cannot run here, or null when they can. */
export function unavailable(): string | null {
  const v = spawnSync(QEMU, ["--version"], { encoding: "utf8" });
  if (v.error || v.status !== 0)
    return `${QEMU} is not installed (apt-get install qemu-system-x86)`;
  return null;
}

/** Build (or reuse) the test guest; returns its directory. */
export function buildGuest(): string {
  const out = execFileSync("sh", [repoPath("test/vm/build-guest.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return out.trim().split("\n").pop()!;
}

/** Optional parts build-guest.sh put in the image ("qemu-ga"). */
export function guestFeatures(image: string): string[] {
  const f = join(image, "features");
  return existsSync(f) ? readFileSync(f, "utf8").trim().split(/\s+/).filter(Boolean) : [];
}

export interface GuestOptions {
  name: string;
  dir: string;
  image: string;
  memoryMiB: number;
  /** virtio-mem device size; the VM's maxmem is memory + this. */
  virtioMemMiB?: number;
  freePageReporting?: boolean;
  /** virtio-balloon's deflate-on-oom feature (VIRTIO_BALLOON_F_DEFLATE_ON_OOM). */
  deflateOnOom?: boolean;
  /** The Ballast agent's port (org.ballast.agent.0); default true. Off: a stock guest. */
  agent?: boolean;
  /** qemu-ga's port (org.qemu.guest_agent.0), at NAME.qga; default false. */
  qga?: boolean;
  /** Appended to the guest kernel's command line. */
  append?: string;
}

export interface TestGuest {
  name: string;
  proc: ChildProcess;
  qmp: string;
  /** The chardev sockets of the Ballast agent and qemu-ga (null when not wired). */
  agent: string | null;
  qga: string | null;
  ctl: (line: string, timeoutMs?: number) => Promise<string>;
  log: () => string;
  kill: (signal?: NodeJS.Signals) => void;
}

function accel(): string[] {
  return process.env.BALLAST_TEST_ACCEL === "kvm"
    ? ["-accel", "kvm", "-cpu", "host"]
    : ["-accel", "tcg", "-cpu", "max"];
}

/**
 * One line to the test guest's control shell (test/vm/ctl.sh on a virtio-serial port,
 * a unix socket on the host) and its one-line answer.
 */
export function ctlLine(
  path: string,
  name: string,
  line: string,
  timeoutMs = 60_000,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = createConnection(path);
    let buf = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${name}: no reply to "${line}" in ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding("utf8");
    s.on("connect", () => s.write(`${line}\n`));
    s.on("data", (c: string) => {
      buf += c;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export async function bootGuest(o: GuestOptions): Promise<TestGuest> {
  const p = (ext: string) => join(o.dir, `${o.name}.${ext}`);
  const mem = o.virtioMemMiB
    ? `${o.memoryMiB}M,slots=2,maxmem=${o.memoryMiB + o.virtioMemMiB}M`
    : `${o.memoryMiB}M`;
  const args = [
    ...accel(),
    "-smp",
    "1",
    "-m",
    mem,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-kernel",
    join(o.image, "vmlinuz"),
    "-initrd",
    join(o.image, "initrd.img"),
    "-append",
    `console=ttyS0 memhp_default_state=online_movable panic=-1 quiet${o.append ? ` ${o.append}` : ""}`,
    "-serial",
    `file:${p("log")}`,
    "-qmp",
    `unix:${p("qmp")},server=on,wait=off`,
    "-device",
    `virtio-balloon-pci,id=balloon0,free-page-reporting=${o.freePageReporting ? "on" : "off"},deflate-on-oom=${o.deflateOnOom ? "on" : "off"}`,
    "-device",
    "virtio-serial-pci,id=vser0",
    "-chardev",
    `socket,id=ctl,path=${p("ctl")},server=on,wait=off`,
    "-device",
    "virtserialport,chardev=ctl,name=org.ballast.ctl.0",
  ];
  const agent = o.agent === false ? null : p("agent");
  if (agent) {
    args.push(
      "-chardev",
      `socket,id=agent,path=${agent},server=on,wait=off`,
      "-device",
      "virtserialport,chardev=agent,name=org.ballast.agent.0",
    );
  }
  const qga = o.qga ? p("qga") : null;
  if (qga) {
    args.push(
      "-chardev",
      `socket,id=qga,path=${qga},server=on,wait=off`,
      "-device",
      "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
    );
  }
  if (o.virtioMemMiB) {
    args.push(
      "-object",
      `memory-backend-ram,id=vmem0,size=${o.virtioMemMiB}M`,
      "-device",
      "virtio-mem-pci,id=vm0,memdev=vmem0,block-size=2M,requested-size=0",
    );
  }
  const proc = spawn(QEMU, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (c) => {
    stderr += c;
  });
  const log = () => (existsSync(p("log")) ? readFileSync(p("log"), "utf8") : "");
  const deadline = Date.now() + 120_000;
  while (!log().includes("ballast-guest: up")) {
    if (proc.exitCode !== null)
      throw new Error(`${o.name}: QEMU exited (${proc.exitCode}): ${stderr}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${o.name}: no boot in 120 s; console:\n${log().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const ctl = (line: string, timeoutMs = 60_000) => ctlLine(p("ctl"), o.name, line, timeoutMs);
  return {
    name: o.name,
    proc,
    qmp: p("qmp"),
    agent,
    qga,
    ctl,
    log,
    kill: (sig = "SIGKILL") => proc.kill(sig),
  };
}

/**
 * Daemon rounds at its 1 s interval, as its own timer runs them, until the policy
 * decides something (at most `rounds`): ballast acts only on statistics that advance
 * between rounds, so back-to-back rounds may rightly decide nothing. True if it decided.
 */
export async function roundsUntilDecided(
  daemon: Daemon,
  store: Store,
  rounds = 30,
): Promise<boolean> {
  const decided = () => store.history(null).some((h) => h.kind === "decision");
  for (let k = 0; k < rounds && !decided(); k++) {
    await daemon.round();
    if (!decided()) await sleep(1000);
  }
  return decided();
}
