/**
 * Benchmark: the daemon's own memory over a long run. Starts `ballast daemon` on a
 * simulated host of N guests (4 GiB each, mixed workloads that keep moving) at
 * `--speed S`, scrapes its /metrics every `--every` seconds (as Prometheus would, which
 * also exercises the metrics and the dashboard's sampler), and prints JSON: the daemon's
 * RSS and V8 heap over wall time, simulated time reached, and the scrape's size and time.
 *
 *   node dist/bench/daemon-memory.js [--guests 100] [--speed 60] [--minutes 60] [--every 60]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stringify } from "yaml";

const { values } = parseArgs({
  options: {
    guests: { type: "string", default: "100" },
    speed: { type: "string", default: "60" },
    minutes: { type: "string", default: "60" },
    every: { type: "string", default: "60" },
    policy: { type: "string", default: "ballast" },
  },
});
const guests = Number(values.guests);
const wallS = Number(values.minutes) * 60;
const everyS = Number(values.every);

// Workloads that move for as long as the run lasts (no leaks: a leak would end in OOM
// kills over simulated days, which is another benchmark).
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
    files: [{ name: "static", size: "512MiB", hot: "128MiB" }],
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
  {
    processes: [{ name: "db", anon: "2GiB", hot: "1536MiB" }],
    files: [{ name: "tables", size: "2GiB", hot: "512MiB" }],
  },
];
const scenario = {
  seed: 1,
  duration: "10000h",
  host: { memory: `${guests * 5}GiB`, reserve: "1GiB" },
  domains: Array.from({ length: guests }, (_, i) => ({
    name: `vm${i}`,
    memory: "4GiB",
    maxmem: "6GiB",
    swap: i % 2 === 0 ? "1GiB" : 0,
    workload: shapes[i % shapes.length],
  })),
};

const dir = mkdtempSync(join(tmpdir(), "ballast-daemon-memory-"));
const file = join(dir, "host.yaml");
writeFileSync(file, stringify(scenario));
const bin = fileURLToPath(new URL("../../bin/ballast", import.meta.url));
const daemon: ChildProcess = spawn(
  process.execPath,
  [
    bin,
    "daemon",
    "--backend",
    `sim:${file}`,
    "--speed",
    values.speed,
    "--policy",
    values.policy,
    "--listen",
    "127.0.0.1:0",
    "--state",
    join(dir, "state"),
  ],
  { stdio: ["ignore", "ignore", "inherit"] },
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function listenAddr(): Promise<string> {
  for (let i = 0; i < 100; i++) {
    try {
      return JSON.parse(readFileSync(join(dir, "state", "daemon.json"), "utf8")).listen;
    } catch {
      await sleep(100);
    }
  }
  throw new Error("the daemon did not start");
}

const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);

const samples: Array<Record<string, number>> = [];
try {
  const base = `http://${await listenAddr()}`;
  const started = Date.now();
  for (;;) {
    const t0 = performance.now();
    const text = await (await fetch(`${base}/metrics`)).text();
    const scrapeMs = performance.now() - t0;
    const doms = (await (await fetch(`${base}/v1/domains`)).json()) as { t_s: number };
    samples.push({
      wall_s: Math.round((Date.now() - started) / 1000),
      simulated_s: Math.round(doms.t_s),
      rss_bytes: metric(text, "process_resident_memory_bytes"),
      heap_used_bytes: metric(text, "nodejs_heap_used_bytes"),
      scrape_ms: Number(scrapeMs.toFixed(1)),
      scrape_bytes: text.length,
    });
    if (Date.now() - started >= wallS * 1000) break;
    await sleep(Math.min(everyS * 1000, Math.max(0, started + wallS * 1000 - Date.now())));
  }
} finally {
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
const last = samples.at(-1)!;
console.log(
  JSON.stringify(
    {
      bench: "daemon-memory",
      guests,
      speed: Number(values.speed),
      policy: values.policy,
      wall_s: last.wall_s,
      simulated_s: last.simulated_s,
      rss_bytes: last.rss_bytes,
      peak_rss_bytes: Math.max(...samples.map((s) => s.rss_bytes!)),
      samples,
    },
    null,
    2,
  ),
);
