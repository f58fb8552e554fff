/**
 * What the daemon serves besides its /v1 JSON API: the dashboard at `/` with its assets
 * (uPlot from its npm package and our browser scripts, never a CDN), `GET /metrics`
 * (Prometheus text format), and `GET /v1/series`, the short history the dashboard draws
 * a freshly opened page from. None of these changes state, so none needs the token; the
 * dashboard's actions go through the token-protected /v1 endpoints.
 *
 * A sampler takes a snapshot of the host once a second (wall time) into a ring buffer
 * and feeds the metrics; a scrape takes a fresh one, so /metrics is never a second old.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type Daemon, DaemonError } from "./daemon.js";
import { Series } from "./series.js";
import { type Snapshot, takeSnapshot } from "./snapshot.js";

export interface DashboardOptions {
  /** The page at `/` and its assets; without them only /metrics and /v1/series are served. */
  site?: DashboardSite | null;
  /** Wall ms between samples of the series. */
  sampleMs?: number;
  /** Samples kept (600 at 1 s: the last ten minutes of wall time). */
  capacity?: number;
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot positions its legend and cursor with element.style, which CSP treats as inline.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * The dashboard's page and assets, from the web layer (src/web/dashboard_page.ts). The
 * daemon does not import the web layer (DESIGN.md's layers): whoever starts it (the
 * CLI) hands them in.
 */
export interface DashboardSite {
  page: string;
  assets: Readonly<Record<string, { type: string; body: () => string }>>;
}

const DATA_PATHS = ["/metrics", "/v1/series"];

function reply(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    ...(type.startsWith("text/html") ? { "content-security-policy": CSP } : {}),
  });
  res.end(body);
}

function replyJson(res: ServerResponse, status: number, body: unknown): void {
  reply(res, status, "application/json", `${JSON.stringify(body)}\n`);
}

/** Set the daemon's metrics from a snapshot taken now, and count its backend's new events. */
export async function refreshMetrics(daemon: Daemon): Promise<Snapshot> {
  const s = await takeSnapshot(daemon);
  daemon.metrics.update(s);
  daemon.metrics.followEvents(daemon.backend);
  return s;
}

/** `GET /metrics` (a fresh snapshot first), or a 503 when the backend cannot answer. */
async function serveMetrics(
  daemon: Daemon,
  res: ServerResponse,
  refresh: () => Promise<unknown>,
): Promise<void> {
  try {
    await refresh();
  } catch (e) {
    replyJson(res, 503, {
      error: "backend-unavailable",
      message: `cannot read the host: ${(e as Error).message}`,
    });
    return;
  }
  reply(res, 200, daemon.metrics.contentType, await daemon.metrics.text());
}

/**
 * A listener that serves `GET /metrics` only, for `--metrics-listen`: Prometheus on
 * another machine scrapes it, while the API (which can change state) stays on loopback.
 */
export function createMetricsServer(daemon: Daemon): Server {
  return createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://ballast").pathname;
    if (path !== "/metrics")
      return replyJson(res, 404, {
        error: "not-found",
        message: `this listener serves GET /metrics only (got ${path})`,
      });
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      return replyJson(res, 405, {
        error: "method-not-allowed",
        message: "/metrics answers GET only",
      });
    }
    void serveMetrics(daemon, res, () => refreshMetrics(daemon));
  });
}

/**
 * `--metrics-listen HOST:PORT`: any address (the listener serves read-only metrics), for
 * a Prometheus elsewhere; `[::]:9788` or `0.0.0.0:9788` for every interface.
 */
export function parseMetricsListen(text: string): { kind: "tcp"; host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new DaemonError(
      400,
      "bad-listen",
      `--metrics-listen: write HOST:PORT, e.g. 0.0.0.0:9788 or [::]:9788 (got "${text}")`,
    );
  return { kind: "tcp", host: m[1] ?? m[2]!, port };
}

export class Dashboard {
  readonly series: Series;
  private readonly sampleMs: number;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<Snapshot> | null = null;
  private readonly site: DashboardSite | null;
  private readonly paths: Set<string>;

  constructor(
    private readonly daemon: Daemon,
    opts: DashboardOptions = {},
  ) {
    this.site = opts.site ?? null;
    this.paths = new Set([
      ...DATA_PATHS,
      ...(this.site ? ["/", "/index.html", ...Object.keys(this.site.assets)] : []),
    ]);
    this.sampleMs = opts.sampleMs ?? 1000;
    this.series = new Series(opts.capacity ?? 600);
  }

  /** Sample while the server listens; stop when it closes. */
  attach(server: Server): void {
    server.on("listening", () => this.start());
    server.on("close", () => this.stop());
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.refresh(true).catch(() => {
        // A backend that cannot answer now (a QEMU guest going away) is sampled next time;
        // the API's own requests report the error to whoever asked.
      });
    };
    tick();
    this.timer = setInterval(tick, this.sampleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * A snapshot now: the metrics' gauges set from it and the backend's new events counted;
   * with `keep`, also a sample of the series. Concurrent callers share one snapshot.
   */
  async refresh(keep: boolean): Promise<Snapshot> {
    this.inFlight ??= refreshMetrics(this.daemon).finally(() => {
      this.inFlight = null;
    });
    const s = await this.inFlight;
    if (keep) this.series.add(s);
    return s;
  }

  /** Serve the request if it is one of ours; false hands it on to the /v1 API. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://ballast");
    } catch {
      return false; // not ours: the API's router answers a path it cannot read with 400
    }
    if (!this.paths.has(url.pathname)) return false;
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      replyJson(res, 405, {
        error: "method-not-allowed",
        message: `${url.pathname} answers GET only`,
      });
      return true;
    }
    if (this.site && (url.pathname === "/" || url.pathname === "/index.html")) {
      reply(res, 200, "text/html; charset=utf-8", this.site.page);
      return true;
    }
    const asset = this.site?.assets[url.pathname];
    if (asset) {
      reply(res, 200, `${asset.type}; charset=utf-8`, asset.body());
      return true;
    }
    if (url.pathname === "/metrics") {
      await serveMetrics(this.daemon, res, () => this.refresh(false));
      return true;
    }
    // /v1/series
    const sinceText = url.searchParams.get("since");
    const since = sinceText === null ? null : Number(sinceText);
    if (since !== null && (sinceText === "" || !Number.isFinite(since))) {
      replyJson(res, 400, {
        error: "bad-request",
        message: `since: a time in seconds, e.g. since=120.5 (got "${sinceText}")`,
      });
      return true;
    }
    replyJson(res, 200, {
      backend: this.daemon.backend.kind,
      sample_interval_ms: this.sampleMs,
      capacity: this.series.capacity,
      samples: this.series.since(since),
    });
    return true;
  }
}
