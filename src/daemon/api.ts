/**
 * The daemon's HTTP JSON API, bound to loopback or a unix socket. Reading needs no
 * token; anything that changes state needs `Authorization: Bearer TOKEN`, the token
 * being the one in the state directory. Bodies are validated; a refused request
 * changes nothing.
 *
 *   GET    /v1/host                        host memory
 *   GET    /v1/domains                     target, actual, floor, pressure, settings, pin
 *   GET    /v1/domains/NAME/history        events and decisions for NAME (?limit=1..10000)
 *   GET    /v1/events                      recent history, all domains (?limit=1..10000)
 *   POST   /v1/domains/NAME/target         {size, force?, dry_run?}   (mem-set; pins NAME)
 *   DELETE /v1/domains/NAME/pin            (set NAME auto: the policy manages it again)
 *   POST   /v1/domains/NAME/max            {size}                     (mem-max)
 *   PUT    /v1/domains/NAME/settings       {min?, max?, weight?, buffer?}
 *   GET    /v1/policy    PUT /v1/policy    {name}
 *   GET    /v1/reservations   POST /v1/reservations {size}   DELETE /v1/reservations/ID
 *
 * NAME is a domain's name or its id (the name first, as src/model/domain.ts's findDomain
 * says); replies that act on a domain carry `domain`, the name it resolved to.
 *
 * Nothing a client sends gives 500: a bad path escape, query or body is 400, an
 * unknown path 404, a known path with the wrong method 405 (with Allow), a missing or
 * wrong token 401 (the scheme `Bearer` in any case), a body over 64 KiB 413.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { z } from "zod";
import { findDomain, noSuchDomain } from "../model/domain.js";
import { POLICIES } from "../policy/index.js";
import { PAGE_SIZE, parseSize, type UnitError } from "../units/index.js";
import { type Daemon, DaemonError } from "./daemon.js";
import { Dashboard, type DashboardSite } from "./dashboard.js";
import { HISTORY_LIMIT_MAX, StateError } from "./store.js";

const MAX_BODY = 64 * 1024;

function sizeField(allowZero: boolean) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v) || v < 0 || (!allowZero && v === 0)) {
        ctx.addIssue({
          code: "custom",
          message: `${v} is not a size: give a whole number of bytes ${allowZero ? "0 or more" : "above 0"}, or a string with a unit such as "512MiB"`,
        });
        return z.NEVER;
      }
      if (v % PAGE_SIZE !== 0) {
        ctx.addIssue({
          code: "custom",
          message: `${v} bytes is not a whole number of 4 KiB pages`,
        });
        return z.NEVER;
      }
      return v;
    }
    try {
      return parseSize(v, { wholePages: true, allowZero });
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as UnitError).message });
      return z.NEVER;
    }
  });
}

const schemas = {
  target: z.strictObject({
    size: sizeField(true),
    force: z.boolean().optional(),
    dry_run: z.boolean().optional(),
  }),
  max: z.strictObject({ size: sizeField(false) }),
  settings: z.strictObject({
    min: sizeField(true).optional(),
    max: sizeField(true).optional(),
    weight: z.number().positive().max(10000).optional(),
    buffer: z.number().min(0).max(2000).optional(),
  }),
  policy: z.strictObject({ name: z.string().max(100) }),
  reserve: z.strictObject({ size: sizeField(false) }),
};

function send(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * A backend's answer: 200 when done, 409 with its code when refused; `domain` is the
 * name the path's name or id resolved to.
 */
function sendResult(
  res: ServerResponse,
  r: { ok: boolean; code?: string; message: string; domain?: string },
): void {
  const domain = r.domain === undefined ? {} : { domain: r.domain };
  if (r.ok) send(res, 200, { ok: true, ...domain, message: r.message });
  else send(res, 409, { error: r.code ?? "refused", ...domain, message: r.message });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw new DaemonError(413, "too-large", "request body over 64 KiB");
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new DaemonError(400, "bad-json", "request body is not JSON");
  }
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const msg = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join(".") || "body"}: ${i.message}`)
      .join("; ");
    throw new DaemonError(400, "bad-request", msg);
  }
  return r.data;
}

/** `Authorization: Bearer TOKEN`, the scheme in any case (RFC 9110: schemes are case-insensitive). */
function authorized(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? "";
  const m = /^bearer +(\S+) *$/i.exec(h);
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `?limit=N`: a whole number from 1 to HISTORY_LIMIT_MAX, 200 when absent. */
function limitOf(url: URL): number {
  const v = url.searchParams.get("limit");
  if (v === null) return 200;
  if (!/^\d{1,6}$/.test(v) || Number(v) < 1 || Number(v) > HISTORY_LIMIT_MAX) {
    throw new DaemonError(
      400,
      "bad-request",
      `limit: a whole number from 1 to ${HISTORY_LIMIT_MAX} (got "${v.slice(0, 40)}")`,
    );
  }
  return Number(v);
}

type Handler = (c: {
  daemon: Daemon;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  name: string;
}) => Promise<void>;

/** Every path and the methods it takes; `:x` is one path segment (a domain or an id). */
const ROUTES: Record<string, Record<string, Handler>> = {
  host: {
    GET: async ({ daemon, res }) =>
      send(res, 200, { ...(await daemon.backend.host()), reserved_bytes: daemon.reservedBytes() }),
  },
  domains: {
    GET: async ({ daemon, res }) =>
      send(res, 200, {
        policy: daemon.policyName,
        t_s: daemon.nowMs() / 1000,
        domains: await daemon.domains(),
      }),
  },
  "domains/:x/history": {
    GET: async ({ daemon, res, url, name }) => {
      const limit = limitOf(url);
      // A running domain by name or id; else a name with history (a domain now gone).
      const known = findDomain(await daemon.backend.domains(), name)?.name;
      const domain = known ?? (daemon.store.hasHistory(name) ? name : null);
      if (domain === null)
        throw new DaemonError(
          404,
          "no-such-domain",
          `${noSuchDomain(name)}, and no history for one`,
        );
      return send(res, 200, { domain, history: daemon.store.history(domain, limit) });
    },
  },
  events: {
    GET: async ({ daemon, res, url }) =>
      send(res, 200, { history: daemon.store.history(null, limitOf(url)) }),
  },
  "domains/:x/target": {
    POST: async ({ daemon, req, res, name }) => {
      const b = parse(schemas.target, await readJson(req));
      return sendResult(
        res,
        await daemon.setTarget(name, b.size, b.force ?? false, b.dry_run ?? false),
      );
    },
  },
  "domains/:x/pin": {
    DELETE: async ({ daemon, req, res, name }) => {
      await readJson(req);
      return sendResult(res, await daemon.clearPin(name));
    },
  },
  "domains/:x/max": {
    POST: async ({ daemon, req, res, name }) => {
      const b = parse(schemas.max, await readJson(req));
      return sendResult(res, await daemon.setMax(name, b.size));
    },
  },
  "domains/:x/settings": {
    PUT: async ({ daemon, req, res, name }) => {
      const b = parse(schemas.settings, await readJson(req));
      const patch: Record<string, number> = {};
      if (b.min !== undefined) patch.minBytes = b.min;
      if (b.max !== undefined) patch.maxBytes = b.max;
      if (b.weight !== undefined) patch.weight = b.weight;
      if (b.buffer !== undefined) patch.bufferPct = b.buffer;
      if (Object.keys(patch).length === 0)
        throw new DaemonError(400, "bad-request", "give at least one of min, max, weight, buffer");
      const s = await daemon.setSettings(name, patch);
      return send(res, 200, {
        ok: true,
        domain: s.domain,
        settings: {
          min_bytes: s.minBytes,
          max_bytes: s.maxBytes,
          weight: s.weight,
          buffer_pct: s.bufferPct,
        },
      });
    },
  },
  policy: {
    GET: async ({ daemon, res }) =>
      send(res, 200, {
        policy: daemon.policyName,
        interval_ms: daemon.intervalMs,
        available: Object.values(POLICIES).map((p) => ({ name: p.name, summary: p.summary })),
      }),
    PUT: async ({ daemon, req, res }) => {
      const b = parse(schemas.policy, await readJson(req));
      daemon.setPolicy(b.name);
      return send(res, 200, { ok: true, policy: daemon.policyName });
    },
  },
  reservations: {
    GET: async ({ daemon, res }) =>
      send(res, 200, {
        reservations: daemon.listReservations(),
        reserved_bytes: daemon.reservedBytes(),
      }),
    POST: async ({ daemon, req, res }) => {
      const b = parse(schemas.reserve, await readJson(req));
      return send(res, 201, await daemon.reserve(b.size));
    },
  },
  "reservations/:x": {
    DELETE: async ({ daemon, req, res, name }) => {
      await readJson(req);
      if (!daemon.release(name))
        throw new DaemonError(404, "no-such-reservation", `no reservation ${name}`);
      return send(res, 200, { ok: true });
    },
  },
};

/** A request Node's HTTP parser cannot read still gets a JSON 400 saying why. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = `${JSON.stringify({ error: "bad-http", message: `the request is not HTTP that can be read: ${err.code ?? err.message}` })}\n`;
  socket.end(
    `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

export function createApi(
  daemon: Daemon,
  token: string,
  site: DashboardSite | null = null,
): Server {
  // The dashboard, its assets, /metrics and /v1/series (src/daemon/dashboard.ts) first.
  const web = new Dashboard(daemon, { site });
  const server = createServer((req, res) => {
    web
      .handle(req, res)
      .then((served) => (served ? undefined : handle(daemon, token, req, res)))
      .catch((e: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (e instanceof DaemonError) send(res, e.status, { error: e.code, message: e.message });
        else if (e instanceof StateError)
          send(res, 500, { error: `state-${e.code}`, message: e.message });
        else send(res, 500, { error: "internal", message: (e as Error).message });
      });
  });
  server.on("clientError", onClientError);
  web.attach(server);
  return server;
}

async function handle(
  daemon: Daemon,
  token: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let url: URL;
  let parts: string[];
  try {
    url = new URL(req.url ?? "/", "http://ballast");
    parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new DaemonError(
      400,
      "bad-path",
      `the path ${String(req.url).slice(0, 200)} has a bad %-escape`,
    );
  }
  const method = req.method ?? "GET";
  const [v1, what, name, sub, ...more] = parts;
  const key =
    v1 !== "v1" || more.length > 0
      ? null
      : `${what ?? ""}${name !== undefined ? "/:x" : ""}${sub !== undefined ? `/${sub}` : ""}`;
  const route = key === null ? undefined : ROUTES[key];
  if (!route) throw new DaemonError(404, "not-found", `no such path ${url.pathname.slice(0, 200)}`);
  const handler = route[method] ?? (method === "HEAD" ? route.GET : undefined);
  if (!handler) {
    const allow = Object.keys(route).join(", ");
    res.setHeader("allow", allow);
    throw new DaemonError(
      405,
      "method-not-allowed",
      `${url.pathname.slice(0, 200)} takes ${allow}, not ${method}`,
    );
  }
  if (method !== "GET" && method !== "HEAD" && !authorized(req, token)) {
    throw new DaemonError(
      401,
      "unauthorized",
      "changing state needs the token from the state directory (Authorization: Bearer TOKEN)",
    );
  }
  await handler({ daemon, req, res, url, name: name ?? "" });
}

/** Where to listen: `HOST:PORT` on loopback only, or `unix:PATH`. */
export type ListenAddr =
  { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export function parseListen(text: string): ListenAddr {
  if (text.startsWith("unix:")) {
    const path = text.slice(5);
    if (path === "")
      throw new DaemonError(400, "bad-listen", "unix: needs a path, e.g. unix:/run/ballast.sock");
    return { kind: "unix", path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (!m)
    throw new DaemonError(
      400,
      "bad-listen",
      `--listen: write 127.0.0.1:PORT or unix:PATH (got "${text}")`,
    );
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535)
    throw new DaemonError(400, "bad-listen", `--listen: port ${port} is above 65535`);
  const loopback = host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback) {
    throw new DaemonError(
      400,
      "bad-listen",
      `--listen: ${host} is not loopback; the API binds to 127.0.0.1, ::1 or a unix socket`,
    );
  }
  return { kind: "tcp", host, port };
}

export function formatListen(a: ListenAddr): string {
  return a.kind === "unix"
    ? `unix:${a.path}`
    : `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
