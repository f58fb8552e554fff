/**
 * Benchmark: a 64-guest host (4 GiB guests, mixed workloads) for one simulated hour at
 * 100 ms ticks, on a Xen host (the default) or a KVM host (the same scenario through
 * withHypervisor(), with free page reporting on every other guest). Prints JSON: wall
 * time, simulated seconds per wall second, peak RSS (`both`: an array of the two).
 *
 *   node dist/bench/sim-host.js [--guests 64] [--hours 1] [--hypervisor xen|kvm|both]
 */
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { type HypervisorKind, parseScenario, withHypervisor } from "../src/sim/scenario.js";
import { heldPages, World } from "../src/sim/world.js";
import { PAGE_SIZE } from "../src/units/index.js";

const { values } = parseArgs({
  options: {
    guests: { type: "string", default: "64" },
    hours: { type: "string", default: "1" },
    hypervisor: { type: "string", default: "xen" },
  },
});
const guests = Number(values.guests);
const hours = Number(values.hours);
const kinds: HypervisorKind[] =
  values.hypervisor === "both"
    ? ["xen", "kvm"]
    : values.hypervisor === "xen" || values.hypervisor === "kvm"
      ? [values.hypervisor]
      : (() => {
          console.error(`--hypervisor: xen, kvm or both (got "${values.hypervisor}")`);
          process.exit(2);
        })();

const shapes = [
  {
    processes: [{ name: "app", anon: "1GiB", hot: "512MiB" }],
    files: [{ name: "data", size: "1536MiB", hot: "256MiB" }],
  },
  {
    processes: [
      {
        name: "web",
        anon: "512MiB",
        hot: "256MiB",
        periodic: { period: "20m", anon: "1GiB", hot: "512MiB" },
      },
    ],
  },
  {
    processes: [
      {
        name: "etl",
        anon: "256MiB",
        hot: "128MiB",
        spikes: { every: "5m", length: "1m", anon: "1536MiB", hot: "1GiB", jitter: "1m" },
      },
    ],
  },
  { processes: [{ name: "leaky", anon: "256MiB", hot: "128MiB", leak: "512KiB/s" }] },
  {
    processes: [{ name: "db", anon: "2GiB", hot: "1536MiB" }],
    files: [{ name: "tables", size: "2GiB", hot: "512MiB" }],
  },
];

const domains = Array.from({ length: guests }, (_, i) => ({
  name: `vm${i}`,
  memory: "4GiB",
  maxmem: "6GiB",
  swap: i % 2 === 0 ? "1GiB" : 0,
  deflate_on_oom: i % 3 === 0,
  workload: shapes[i % shapes.length],
}));
// Every 5 simulated minutes, an operator moves some guests up or down.
const events = [];
for (let t = 300; t < hours * 3600; t += 300) {
  for (let k = 0; k < 4; k++) {
    const i = (t / 300 + k * 17) % guests;
    const size = ["2GiB", "4GiB", "5GiB", "3GiB"][(t / 300 + k) % 4];
    events.push({ at: `${t}s`, run: `mem-set vm${i} ${size} --force` });
  }
}
const scenario = {
  seed: 1,
  duration: `${hours}h`,
  tick: "100ms",
  host: { memory: `${guests * 5}GiB`, reserve: "1GiB" },
  domains,
  events,
};

function run(kind: HypervisorKind) {
  const xen = parseScenario(stringify(scenario), "bench", process.cwd());
  const resolved = kind === "xen" ? xen : withHypervisor(xen, "kvm");
  if (kind === "kvm")
    resolved.domains = resolved.domains.map((d, i) => ({ ...d, freePageReporting: i % 2 === 1 }));
  const world = new World(resolved);
  const ticks = (hours * 3600 * 1000) / world.tickMs;
  const start = process.hrtime.bigint();
  world.runToEnd();
  const wallS = Number(process.hrtime.bigint() - start) / 1e9;
  const sum = (
    f: (s: ReturnType<NonNullable<(typeof world.domains)[0]["guest"]>["stats"]>) => number,
  ) => world.domains.reduce((n, d) => n + (d.guest ? f(d.guest.stats(world.nowMs)) : 0), 0);
  const oomKills = world.domains.reduce((n, d) => n + (d.guest?.oomKills ?? 0), 0);
  return {
    bench: "sim-host",
    hypervisor: kind,
    guests,
    guest_memory: "4GiB",
    simulated_s: hours * 3600,
    tick_ms: world.tickMs,
    ticks,
    wall_s: Number(wallS.toFixed(3)),
    sim_s_per_wall_s: Number(((hours * 3600) / wallS).toFixed(1)),
    guest_ticks_per_s: Math.round((ticks * guests) / wallS),
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    events: world.events.length,
    oom_kills: oomKills,
    crashed: world.domains.filter((d) => d.state === "crashed").length,
    // Evidence the workloads ran: memory in use and paging at the end of the hour.
    total_anon_bytes: sum((s) => s.anon_bytes ?? 0),
    total_file_bytes: sum((s) => s.file_bytes ?? 0),
    total_major_faults: sum((s) => s.major_faults ?? 0),
    total_swap_out_bytes: sum((s) => s.swap_out_bytes ?? 0),
    total_host_rss_bytes: world.domains.reduce((n, d) => n + heldPages(d), 0) * PAGE_SIZE,
    balloon_events: world.events.filter((e) => e.type.startsWith("balloon")).length,
  };
}

const results = kinds.map(run);
console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
