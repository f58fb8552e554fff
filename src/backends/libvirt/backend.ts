/**
 * Guests under libvirt (`--backend libvirt:URI`; `libvirt:` alone is libvirt's default
 * URI), where libvirtd holds every QMP socket: the backend that ties together discovery
 * (discovery.ts: all domains in one `domstats` call, picked up and dropped as they start
 * and stop), the balloon (balloon.ts), virtio-mem and mem-max (memory_devices.ts),
 * statistics (stats.ts) and the stall watch (stall_watch.ts), over virsh (virsh.ts), with
 * the target rules every real backend shares (shared/targets.ts).
 */
import { type DomainState, findDomain, noSuchDomain } from "../../model/domain.js";
import type { GuestStats } from "../../model/stats.js";
import { formatSize, KiB } from "../../units/index.js";
import type {
  Backend,
  BackendDomain,
  BackendResult,
  HostInfo,
  SetTargetOptions,
} from "../backend.js";
import { AgentReader } from "../shared/agent.js";
import { EventLog, type EventsSince } from "../../model/event_log.js";
import {
  type BalloonStats,
  answeredSince,
  FIRST_STATS_WAIT_MS,
  mergeStats,
  readGuestProc,
  STATS_POLL_S,
} from "../shared/guest_stats.js";
import type { QgaBatch } from "../shared/qga.js";
import { StallWatch } from "../shared/stall_watch.js";
import {
  actualOf,
  hardMaxOf,
  type MemoryLayout,
  maxmemOf,
  setTargetChecked,
} from "../shared/targets.js";
import { enableStatsPeriod, setBalloon } from "./balloon.js";
import {
  DOMAIN_STATES,
  type DomainXml,
  intField,
  parseDomainXml,
  parseDomstats,
} from "./discovery.js";
import { setMaxmemCap, setRequestedSize } from "./memory_devices.js";
import { sampleStall } from "./stall_watch.js";
import { balloonStatsOf, qgaThroughLibvirt } from "./stats.js";
import { Virsh } from "./virsh.js";

/** A domstats read this recent serves every caller (a daemon round reads it once). */
const SCAN_FRESH_MS = 500;

interface Dom {
  name: string;
  xml: DomainXml;
  fields: Record<string, string>;
  layout: MemoryLayout;
  target: number | null;
  agent: AgentReader | null;
  qga: QgaBatch | null;
  /** When this backend switched statistics on (0: they were on already). */
  pollingSinceMs: number;
  /** The XML must be read again (virtio-mem was asked to move). */
  xmlStale: boolean;
}

export interface LibvirtDomain extends BackendDomain {
  stalled: boolean;
  uuid: string;
}

export class LibvirtBackend implements Backend {
  readonly kind = "libvirt";
  readonly virsh: Virsh;
  private doms = new Map<string, Dom>();
  private readonly t0 = Date.now();
  private readonly log = new EventLog(() => (Date.now() - this.t0) / 1000);
  private readonly watch = new StallWatch(this.log);
  private scanning: Promise<void> | null = null;
  private scannedAtMs = 0;

  constructor(
    /** The connection URI; "" for libvirt's default. */
    readonly uri: string,
    virsh?: Virsh,
  ) {
    this.virsh = virsh ?? new Virsh(uri);
  }

  /** Read every active domain (at most once per SCAN_FRESH_MS unless `fresh`). */
  private scan(fresh = false): Promise<void> {
    if (this.scanning) return this.scanning;
    if (!fresh && Date.now() - this.scannedAtMs < SCAN_FRESH_MS) return Promise.resolve();
    this.scanning = this.doScan().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private async doScan(): Promise<void> {
    const text = await this.virsh.run("domstats", "--state", "--balloon", "--list-active");
    const seen = new Set<string>();
    await Promise.all(
      parseDomstats(text).map(async (rec) => {
        seen.add(rec.name);
        let d = this.doms.get(rec.name);
        if (!d) {
          const nd = await this.discover(rec.name, rec.fields).catch(() => null);
          if (!nd) return; // gone again before we could read it
          d = nd;
          this.doms.set(rec.name, d);
          this.log.emit(d.name, "boot", `${d.name}: libvirt domain ${d.xml.id} is running`);
        }
        d.fields = rec.fields;
        await this.follow(d);
      }),
    );
    for (const [name, d] of this.doms) {
      if (seen.has(name)) continue;
      this.doms.delete(name);
      d.agent?.close();
      this.watch.forget(name);
      this.log.emit(name, "guest-gone", `${name}: libvirt domain is no longer running`);
    }
    this.scannedAtMs = Date.now();
  }

  /** First sight of a domain: its XML, and its statistics switched on. */
  private async discover(name: string, fields: Record<string, string>): Promise<Dom> {
    const xml = parseDomainXml(await this.virsh.run("dumpxml", name));
    const d: Dom = {
      name,
      xml,
      fields,
      layout: layoutOf(xml, fields),
      target: null,
      agent: xml.agentPath ? new AgentReader(xml.agentPath) : null,
      qga: xml.hasQga ? qgaThroughLibvirt(this.virsh, name) : null,
      pollingSinceMs: 0,
      xmlStale: false,
    };
    // libvirt says whether statistics are on (<stats period>); a stock domain has them off.
    if (xml.hasBalloon && xml.statsPeriodS === 0) {
      await enableStatsPeriod(this.virsh, name, STATS_POLL_S).catch(() => undefined);
      d.pollingSinceMs = Date.now();
    }
    return d;
  }

  /** Bring a domain's layout up to date with its latest domstats (and XML while virtio-mem moves). */
  private async follow(d: Dom): Promise<void> {
    const vm = d.xml.virtioMem;
    // Someone else (another client, virsh) may have moved virtio-mem: balloon.current
    // above boot memory plus what the XML says is plugged gives that away.
    const current = (intField(d.fields, "balloon.current") ?? 0) * KiB;
    const unexplained = current > d.xml.baseBytes + (vm?.currentBytes ?? 0);
    if (d.xmlStale || unexplained || (vm && vm.currentBytes !== vm.requestedBytes)) {
      const xml = await this.virsh
        .run("dumpxml", d.name)
        .then(parseDomainXml)
        .catch(() => null);
      if (xml) {
        d.xml = { ...xml, capBytes: d.xml.capBytes ?? xml.capBytes };
        d.xmlStale = false;
      }
    }
    const cap = d.layout.capBytes;
    d.layout = layoutOf(d.xml, d.fields);
    d.layout.capBytes = cap ?? d.xml.capBytes;
    sampleStall(this.watch, d.name, d.target, actualOf(d.layout));
  }

  async host(): Promise<HostInfo> {
    // The host libvirt runs on, which need not be this one (qemu+ssh://...).
    const text = await this.virsh.run("nodememstats");
    const kib = (k: string) =>
      Number(new RegExp(`^${k}\\s*:\\s*(\\d+) KiB`, "m").exec(text)?.[1] ?? 0) * KiB;
    return {
      totalBytes: kib("total"),
      freeBytes: kib("free") + kib("buffers") + kib("cached"),
      reserveBytes: 0,
      // Its domains are QEMU's: RAM backed on first touch (unless a domain asks for
      // <allocation mode="immediate"/>, the exception).
      firstTouch: true,
    };
  }

  async domains(): Promise<LibvirtDomain[]> {
    await this.scan();
    return [...this.doms.values()].sort((a, b) => a.xml.id - b.xml.id).map((d) => this.domain(d));
  }

  private domain(d: Dom): LibvirtDomain {
    const s = DOMAIN_STATES[intField(d.fields, "state.state") ?? 0] ?? "nostate";
    const state: DomainState = s === "crashed" ? "crashed" : "running";
    const actual = actualOf(d.layout);
    const rss = intField(d.fields, "balloon.rss");
    const out: LibvirtDomain = {
      name: d.name,
      id: d.xml.id,
      state,
      memoryBytes: d.layout.baseBytes,
      maxmemBytes: maxmemOf(d.layout),
      targetBytes: d.target ?? actual,
      actualBytes: state === "running" ? actual : 0,
      balloonable: (s === "running" || s === "blocked") && d.xml.hasBalloon,
      hostRssBytes: rss === undefined ? null : rss * KiB,
      stalled: this.watch.stalled(d.name),
      uuid: d.xml.uuid,
    };
    if (d.layout.capBytes !== null) out.configured = { maxBytes: d.layout.capBytes };
    return out;
  }

  /** Balloon statistics; right after switching them on, wait for the guest's first answer. */
  private async balloonStats(d: Dom): Promise<BalloonStats | null> {
    let b = balloonStatsOf(d.fields);
    while (
      d.pollingSinceMs &&
      !answeredSince(b, d.pollingSinceMs) &&
      Date.now() - d.pollingSinceMs <= FIRST_STATS_WAIT_MS
    ) {
      await new Promise((r) => setTimeout(r, 300));
      const rec = parseDomstats(await this.virsh.run("domstats", "--balloon", d.name))[0];
      if (rec) b = balloonStatsOf(rec.fields);
    }
    return b;
  }

  /** The domain a name or an id names (src/model/domain.ts's findDomain: the name first). */
  private find(ref: string): Dom | undefined {
    const named = [...this.doms.values()].map((d) => ({ name: d.name, id: d.xml.id, d }));
    return findDomain(named, ref)?.d;
  }

  async stats(ref: string): Promise<GuestStats | null> {
    await this.scan().catch(() => undefined);
    const d = this.find(ref);
    if (!d) return null;
    const [balloon, proc] = await Promise.all([
      this.balloonStats(d).catch(() => null),
      readGuestProc(d.agent, d.qga),
    ]);
    return mergeStats(balloon, proc, Date.now(), this.t0);
  }

  private async reachable(ref: string): Promise<Dom | BackendResult> {
    // A change is planned from the domain as it is now: its XML is read again too.
    const known = this.find(ref);
    if (known) known.xmlStale = true;
    try {
      await this.scan(true);
    } catch (e) {
      return { ok: false, code: "libvirt-error", message: `${ref}: ${(e as Error).message}` };
    }
    const d = this.find(ref);
    if (!d)
      return {
        ok: false,
        code: "no-such-domain",
        message: noSuchDomain(ref, "running libvirt domain"),
      };
    return d;
  }

  async setTarget(ref: string, bytes: number, opts: SetTargetOptions = {}): Promise<BackendResult> {
    const d = await this.reachable(ref);
    if (!("xml" in d)) return d;
    const name = d.name;
    const alias = d.xml.virtioMem?.alias ?? "";
    const r = await setTargetChecked({
      name,
      layout: d.layout,
      targetBytes: d.target,
      bytes,
      opts,
      stats: () => this.stats(name),
      layoutNow: async () => {
        await this.scan(true).catch(() => undefined);
        return this.find(name)?.layout ?? d.layout;
      },
      ops: {
        setVirtioMem: (b) => setRequestedSize(this.virsh, name, alias, b),
        setBalloon: (b) => setBalloon(this.virsh, name, b),
      },
      log: this.log,
      who: "libvirt",
      errorCode: "libvirt-error",
    });
    if (r.ok && !opts.dryRun) {
      d.target = bytes;
      // Follow virtio-mem until it has plugged what was asked (follow() re-reads the XML).
      if (d.xml.virtioMem) d.xmlStale = true;
      this.watch.restart(name);
      sampleStall(this.watch, name, bytes, actualOf(d.layout));
    }
    return r;
  }

  async setMax(ref: string, bytes: number): Promise<BackendResult> {
    const d = await this.reachable(ref);
    if (!("xml" in d)) return d;
    const name = d.name;
    const hard = hardMaxOf(d.layout);
    const target = d.target ?? actualOf(d.layout);
    if (bytes > hard) {
      return {
        ok: false,
        code: "above-maxmem",
        message: `${name}: the domain was started with maxmem ${formatSize(hard)} (<memory>); it cannot grow past it`,
      };
    }
    if (bytes < target) {
      return {
        ok: false,
        code: "below-target",
        message: `${name}: mem-max ${formatSize(bytes)} is below the current target ${formatSize(target)}`,
      };
    }
    try {
      await setMaxmemCap(this.virsh, name, bytes, false);
    } catch (e) {
      return { ok: false, code: "libvirt-error", message: `${name}: ${(e as Error).message}` };
    }
    // A persistent domain keeps it in its configuration too; a transient one has none.
    await setMaxmemCap(this.virsh, name, bytes, true).catch(() => undefined);
    d.layout.capBytes = bytes;
    d.xml = { ...d.xml, capBytes: bytes };
    const message = `${name}: maxmem ${formatSize(bytes)}`;
    this.log.emit(name, "mem-max", message);
    return { ok: true, message };
  }

  events(since: number): EventsSince {
    return this.log.since(since);
  }

  async close(): Promise<void> {
    for (const d of this.doms.values()) d.agent?.close();
  }
}

/** Sizes from the XML (boot memory, virtio-mem) and domstats (balloon.current counts both). */
function layoutOf(xml: DomainXml, fields: Record<string, string>): MemoryLayout {
  const current = (intField(fields, "balloon.current") ?? 0) * KiB;
  const vm = xml.virtioMem;
  const plugged = vm ? vm.currentBytes : 0;
  return {
    baseBytes: xml.baseBytes,
    balloonBytes: Math.max(0, current - plugged),
    vmem: vm
      ? {
          sizeBytes: plugged,
          maxBytes: vm.sizeBytes,
          blockBytes: vm.blockBytes,
          requestedBytes: vm.requestedBytes,
        }
      : null,
    capBytes: xml.capBytes,
  };
}
