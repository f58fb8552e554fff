/**
 * libvirt for the real-guest tests: a private libvirtd started by libvirtd.sh (as root,
 * in its own mount namespace) and transient domains made from the test guest, wired as
 * bootGuest() wires plain QEMU guests: direct kernel boot, a file console, the control
 * port, and where asked the Ballast agent's and qemu-ga's ports, virtio-mem, and a
 * balloon with deflate-on-oom and free page reporting.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoPath } from "../helpers.js";
import { ctlLine, QEMU, unavailable as qemuUnavailable } from "./qemu.js";

/** Why the libvirt tests cannot run here, or null when they can. */
export function libvirtUnavailable(): string | null {
  const q = qemuUnavailable();
  if (q) return q;
  if (process.getuid?.() !== 0) return "not root (libvirtd's QEMU driver is started as root)";
  for (const [bin, pkg] of [
    ["libvirtd", "libvirt-daemon libvirt-daemon-driver-qemu"],
    ["virtlogd", "libvirt-daemon"],
    ["virsh", "libvirt-clients"],
    ["unshare", "util-linux"],
  ] as const) {
    const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
    if (r.error) return `${bin} is not installed (apt-get install ${pkg})`;
  }
  const driver = [
    "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver",
    "/usr/lib/libvirt/connection-driver",
  ]
    .map((d) => join(d, "libvirt_driver_qemu.so"))
    .some((f) => existsSync(f));
  if (!driver)
    return "libvirt's QEMU driver is missing (apt-get install libvirt-daemon-driver-qemu)";
  return null;
}

export interface Libvirtd {
  uri: string;
  /** Stop libvirtd alone and start it again; the guests keep running. */
  restart: () => void;
  stop: () => void;
}

export function startLibvirtd(dir: string): Libvirtd {
  const script = repoPath("test/vm/libvirtd.sh");
  const uri = execFileSync("sh", [script, "start", dir], { encoding: "utf8" }).trim();
  return {
    uri,
    restart: () => {
      execFileSync("sh", [script, "restart", dir], { stdio: ["ignore", "ignore", "pipe"] });
    },
    stop: () => {
      spawnSync("sh", [script, "stop", dir], { stdio: "ignore" });
    },
  };
}

export interface DomainOptions {
  name: string;
  dir: string;
  image: string;
  memoryMiB: number;
  virtioMemMiB?: number;
  agent?: boolean;
  qga?: boolean;
  /** <memballoon><stats period='N'/>; 0 leaves statistics off, as a stock domain has them. */
  statsPeriodS?: number;
}

const unixChannel = (path: string, name: string) =>
  `<channel type='unix'><source mode='bind' path='${path}'/><target type='virtio' name='${name}'/></channel>`;

/** The domain XML Ballast wants (README, "Real hosts"), for the test guest. */
export function domainXml(o: DomainOptions): string {
  const p = (ext: string) => join(o.dir, `${o.name}.${ext}`);
  const vmem = o.virtioMemMiB ?? 0;
  const stats = o.statsPeriodS ? `<stats period='${o.statsPeriodS}'/>` : "";
  return `<domain type='qemu'>
  <name>${o.name}</name>
  ${vmem ? `<maxMemory slots='2' unit='MiB'>${o.memoryMiB + vmem}</maxMemory>` : ""}
  <memory unit='MiB'>${o.memoryMiB}</memory>
  <currentMemory unit='MiB'>${o.memoryMiB}</currentMemory>
  <vcpu>1</vcpu>
  <cpu mode='maximum'><numa><cell id='0' cpus='0' memory='${o.memoryMiB}' unit='MiB'/></numa></cpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${join(o.image, "vmlinuz")}</kernel>
    <initrd>${join(o.image, "initrd.img")}</initrd>
    <cmdline>console=ttyS0 memhp_default_state=online_movable panic=-1 quiet</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/${QEMU}</emulator>
    <serial type='file'><source path='${p("log")}'/><target port='0'/></serial>
    ${unixChannel(p("ctl"), "org.ballast.ctl.0")}
    ${o.agent ? unixChannel(p("agent"), "org.ballast.agent.0") : ""}
    ${o.qga ? unixChannel(p("qga"), "org.qemu.guest_agent.0") : ""}
    <memballoon model='virtio' autodeflate='on' freePageReporting='on'>${stats}</memballoon>
    ${
      vmem
        ? `<memory model='virtio-mem'><target><size unit='MiB'>${vmem}</size><node>0</node><block unit='MiB'>2</block><requested unit='MiB'>0</requested></target></memory>`
        : ""
    }
  </devices>
</domain>
`;
}

export interface LibvirtGuest {
  name: string;
  ctl: (line: string, timeoutMs?: number) => Promise<string>;
  log: () => string;
}

/** Create a transient domain and wait for the guest to come up. */
export async function createDomain(uri: string, o: DomainOptions): Promise<LibvirtGuest> {
  const xml = join(o.dir, `${o.name}.xml`);
  writeFileSync(xml, domainXml(o));
  const r = spawnSync("virsh", ["-q", "-c", uri, "create", xml], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`virsh create ${o.name}: ${r.stderr}`);
  const logPath = join(o.dir, `${o.name}.log`);
  const log = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
  const deadline = Date.now() + 120_000;
  while (!log().includes("ballast-guest: up")) {
    if (Date.now() > deadline)
      throw new Error(`${o.name}: no boot in 120 s; console:\n${log().slice(-2000)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  const ctl = (line: string, timeoutMs = 60_000) =>
    ctlLine(join(o.dir, `${o.name}.ctl`), o.name, line, timeoutMs);
  return { name: o.name, ctl, log };
}
