/**
 * Which domains a libvirt backend controls: every active domain on the connection, read
 * in one call (`virsh domstats --state --balloon --list-active`: state and balloon
 * figures for all of them), so domains that start while Ballast runs appear and domains
 * that stop disappear at the next read. A domain seen for the first time (or again with
 * a new id) has its live XML read once (`virsh dumpxml`) for what domstats does not
 * say: its id, boot memory, virtio-mem device, balloon, agent channels and the mem-max
 * an operator gave Ballast (kept in the domain's own <metadata>).
 *
 * libvirt's XML is machine-written (virDomainDefFormat), attributes single-quoted and
 * sizes in KiB: the few elements needed are read with patterns, not a general XML parser.
 */
import { KiB } from "../../units/index.js";

/** Ballast's namespace in a domain's <metadata> (virsh metadata --uri). */
export const METADATA_URI = "https://ballast.invalid/xmlns/memory/1";
export const METADATA_KEY = "ballast";

/** virDomainState (include/libvirt/libvirt-domain.h). */
export const DOMAIN_STATES = [
  "nostate",
  "running",
  "blocked",
  "paused",
  "shutdown",
  "shutoff",
  "crashed",
  "pmsuspended",
] as const;

/** One domain's `domstats` record: its name and key=value lines. */
export interface DomStats {
  name: string;
  fields: Record<string, string>;
}

/** Parse `virsh domstats` output: `Domain: 'NAME'` then indented `key=value` lines. */
export function parseDomstats(text: string): DomStats[] {
  const out: DomStats[] = [];
  let cur: DomStats | null = null;
  for (const raw of text.split("\n")) {
    const head = /^Domain: '(.*)'\s*$/.exec(raw);
    if (head) {
      cur = { name: head[1]!, fields: {} };
      out.push(cur);
      continue;
    }
    const kv = /^\s+([A-Za-z0-9_.-]+)=(.*)$/.exec(raw);
    if (kv && cur) cur.fields[kv[1]!] = kv[2]!.trim();
  }
  return out;
}

/** A non-negative integer field, or undefined. */
export function intField(f: Record<string, string>, key: string): number | undefined {
  const v = f[key];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface DomainXml {
  id: number;
  uuid: string;
  /** <memory>: boot memory plus every memory device's size. */
  memoryBytes: number;
  /** Boot memory: <memory> less memory devices (what the balloon covers). */
  baseBytes: number;
  hasBalloon: boolean;
  /** <memballoon><stats period='N'/>, seconds (0: off). */
  statsPeriodS: number;
  virtioMem: {
    alias: string;
    sizeBytes: number;
    blockBytes: number;
    requestedBytes: number;
    currentBytes: number;
  } | null;
  /** Path of the Ballast agent's unix channel (org.ballast.agent.0), host side. */
  agentPath: string | null;
  /** Has an org.qemu.guest_agent.0 channel (libvirt holds it). */
  hasQga: boolean;
  /** mem-max given to Ballast, from our <metadata>. */
  capBytes: number | null;
}

const UNITS: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: KiB,
  kib: KiB,
  m: KiB * KiB,
  mib: KiB * KiB,
  g: KiB * KiB * KiB,
  gib: KiB * KiB * KiB,
};

/** `<NAME unit='KiB'>N</NAME>` in `xml`, bytes; libvirt's default unit is KiB. */
function sizeOf(xml: string, tag: string): number | undefined {
  const m = new RegExp(`<${tag}(?:\\s+unit=['"](\\w+)['"])?[^>]*>(\\d+)</${tag}>`).exec(xml);
  if (!m) return undefined;
  const unit = UNITS[(m[1] ?? "KiB").toLowerCase()];
  return unit === undefined ? undefined : Number(m[2]) * unit;
}

export class DomainXmlError extends Error {
  override name = "DomainXmlError";
}

export function parseDomainXml(xml: string): DomainXml {
  const root = /<domain\b[^>]*>/.exec(xml)?.[0] ?? "";
  const id = Number(/\bid=['"](\d+)['"]/.exec(root)?.[1] ?? -1);
  const uuid = /<uuid>([^<]+)<\/uuid>/.exec(xml)?.[1] ?? "";
  const memoryBytes = sizeOf(xml, "memory");
  if (memoryBytes === undefined) throw new DomainXmlError("domain XML without <memory>");
  let devices = 0;
  let virtioMem: DomainXml["virtioMem"] = null;
  for (const m of xml.matchAll(/<memory model=['"]([\w-]+)['"][^>]*>([\s\S]*?)<\/memory>/g)) {
    const body = m[2]!;
    const size = sizeOf(body, "size") ?? 0;
    devices += size;
    if (m[1] === "virtio-mem" && !virtioMem) {
      virtioMem = {
        alias: /<alias name=['"]([^'"]+)['"]/.exec(body)?.[1] ?? "",
        sizeBytes: size,
        blockBytes: sizeOf(body, "block") ?? 2 * KiB * KiB,
        requestedBytes: sizeOf(body, "requested") ?? 0,
        currentBytes: sizeOf(body, "current") ?? 0,
      };
    }
  }
  const balloon = /<memballoon model=['"](\w+)['"][^>]*?(?:\/>|>([\s\S]*?)<\/memballoon>)/.exec(
    xml,
  );
  const hasBalloon = !!balloon && balloon[1] !== "none";
  const period = Number(/<stats period=['"](\d+)['"]/.exec(balloon?.[2] ?? "")?.[1] ?? 0);
  let agentPath: string | null = null;
  let hasQga = false;
  for (const m of xml.matchAll(/<channel type=['"](\w+)['"]>([\s\S]*?)<\/channel>/g)) {
    const target = /<target type=['"]virtio['"] name=['"]([^'"]+)['"]/.exec(m[2]!)?.[1];
    if (target === "org.qemu.guest_agent.0") hasQga = true;
    if (target === "org.ballast.agent.0" && m[1] === "unix")
      agentPath = /<source mode=['"]bind['"] path=['"]([^'"]+)['"]/.exec(m[2]!)?.[1] ?? null;
  }
  const meta = new RegExp(
    `<\\w+:memory xmlns:\\w+=['"]${METADATA_URI.replace(/[./]/g, "\\$&")}['"][^>]*maxmem-bytes=['"](\\d+)['"]`,
  ).exec(xml);
  return {
    id,
    uuid,
    memoryBytes,
    baseBytes: memoryBytes - devices,
    hasBalloon,
    statsPeriodS: period,
    virtioMem,
    agentPath,
    hasQga,
    capBytes: meta ? Number(meta[1]) : null,
  };
}
