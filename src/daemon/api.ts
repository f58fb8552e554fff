/**
 * The daemon's HTTP JSON API, bound to loopback or a unix socket. Reading needs no
 * token; anything that changes state needs `Authorization: Bearer TOKEN`, the token
 * being the one in the state directory. Bodies are validated; a refused request
 * changes nothing.
 *
 *   GET    /v1/host                        host memory
 *   GET    /v1/domains                     target, actual, floor, pressure, settings
 *   GET    /v1/domains/NAME/history        events and decisions for NAME
 *   GET    /v1/events                      recent history, all domains
 *   POST   /v1/domains/NAME/target         {size, force?, dry_run?}   (mem-set)
 *   POST   /v1/domains/NAME/max            {size}                     (mem-max)
 *   PUT    /v1/domains/NAME/settings       {min?, max?, weight?, buffer?}
 *   GET    /v1/policy    PUT /v1/policy    {name}
 *   GET    /v1/reservations   POST /v1/reservations {size}   DELETE /v1/reservations/ID
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { z } from "zod";
import { POLICIES } from "../policy/index.js";
import { PAGE_SIZE, parseSize, type UnitError } from "../units/index.js";
import { type Daemon, DaemonError } from "./daemon.js";

const MAX_BODY = 64 * 1024;

const sizeField = z.union([z.string(), z.number().int().nonnegative()]).transform((v, ctx) => {
  if (typeof v === "number") {
    if (v % PAGE_SIZE !== 0) {
      ctx.addIssue({ code: "custom", message: `${v} bytes is not a whole number of 4 KiB pages` });
      return z.NEVER;
    }
    return v;
  }
  try {
    return parseSize(v, { wholePages: true });
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as UnitError).message });
    return z.NEVER;
  }
});

const schemas = {
  target: z.strictObject({
    size: sizeField,
    force: z.boolean().optional(),
    dry_run: z.boolean().optional(),
  }),
  max: z.strictObject({ size: sizeField }),
  settings: z.strictObject({
    min: sizeField.optional(),
    max: sizeField.optional(),
    weight: z.number().positive().max(10000).optional(),
    buffer: z.number().min(0).max(2000).optional(),
  }),
  policy: z.strictObject({ name: z.string() }),
  reserve: z.strictObject({ size: sizeField }),
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** A backend's answer: 200 when done, 409 with its code when refused. */
function sendResult(res: ServerResponse, r: { ok: boolean; code?: string; message: string }): void {
  if (r.ok) send(res, 200, { ok: true, message: r.message });
  else send(res, 409, { error: r.code ?? "refused", message: r.message });
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
    const msg = r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
    throw new DaemonError(400, "bad-request", msg);
  }
  return r.data;
}

function authorized(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? "";
  const m = /^Bearer (\S+)$/.exec(h);
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createApi(daemon: Daemon, token: string): Server {
  return createServer((req, res) => {
    handle(daemon, token, req, res).catch((e: unknown) => {
      if (e instanceof DaemonError) send(res, e.status, { error: e.code, message: e.message });
      else send(res, 500, { error: "internal", message: (e as Error).message });
    });
  });
}

async function handle(
  daemon: Daemon,
  token: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://ballast");
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? "GET";
  if (parts[0] !== "v1") throw new DaemonError(404, "not-found", `no such path ${url.pathname}`);
  if (method !== "GET" && !authorized(req, token)) {
    throw new DaemonError(
      401,
      "unauthorized",
      "changing state needs the token from the state directory",
    );
  }
  const [, what, name, sub] = parts;
  const route = `${method} ${what ?? ""}${name ? "/:x" : ""}${sub ? `/${sub}` : ""}`;
  switch (route) {
    case "GET host":
      return send(res, 200, {
        ...(await daemon.backend.host()),
        reserved_bytes: daemon.reservedBytes(),
      });
    case "GET domains":
      return send(res, 200, {
        policy: daemon.policyName,
        t_s: daemon.nowMs() / 1000,
        domains: await daemon.domains(),
      });
    case "GET domains/:x/history":
      return send(res, 200, {
        domain: name,
        history: daemon.store.history(name!, Number(url.searchParams.get("limit") ?? 200)),
      });
    case "GET events":
      return send(res, 200, {
        history: daemon.store.history(null, Number(url.searchParams.get("limit") ?? 200)),
      });
    case "POST domains/:x/target": {
      const b = parse(schemas.target, await readJson(req));
      const r = await daemon.setTarget(name!, b.size, b.force ?? false, b.dry_run ?? false);
      return sendResult(res, r);
    }
    case "POST domains/:x/max": {
      const b = parse(schemas.max, await readJson(req));
      const r = await daemon.setMax(name!, b.size);
      return sendResult(res, r);
    }
    case "PUT domains/:x/settings": {
      const b = parse(schemas.settings, await readJson(req));
      const patch: Record<string, number> = {};
      if (b.min !== undefined) patch.minBytes = b.min;
      if (b.max !== undefined) patch.maxBytes = b.max;
      if (b.weight !== undefined) patch.weight = b.weight;
      if (b.buffer !== undefined) patch.bufferPct = b.buffer;
      if (Object.keys(patch).length === 0)
        throw new DaemonError(400, "bad-request", "give at least one of min, max, weight, buffer");
      const s = await daemon.setSettings(name!, patch);
      return send(res, 200, {
        ok: true,
        settings: {
          min_bytes: s.minBytes,
          max_bytes: s.maxBytes,
          weight: s.weight,
          buffer_pct: s.bufferPct,
        },
      });
    }
    case "GET policy":
      return send(res, 200, {
        policy: daemon.policyName,
        interval_ms: daemon.intervalMs,
        available: Object.values(POLICIES).map((p) => ({ name: p.name, summary: p.summary })),
      });
    case "PUT policy": {
      const b = parse(schemas.policy, await readJson(req));
      daemon.setPolicy(b.name);
      return send(res, 200, { ok: true, policy: daemon.policyName });
    }
    case "GET reservations":
      return send(res, 200, {
        reservations: daemon.listReservations(),
        reserved_bytes: daemon.reservedBytes(),
      });
    case "POST reservations": {
      const b = parse(schemas.reserve, await readJson(req));
      return send(res, 201, await daemon.reserve(b.size));
    }
    case "DELETE reservations/:x":
      if (!daemon.release(name!))
        throw new DaemonError(404, "no-such-reservation", `no reservation ${name}`);
      return send(res, 200, { ok: true });
    default:
      throw new DaemonError(404, "not-found", `no route ${method} ${url.pathname}`);
  }
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
