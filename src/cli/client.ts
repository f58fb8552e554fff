/** A small HTTP client for the daemon's API, over TCP loopback or a unix socket. */
import { request } from "node:http";
import { parseListen } from "../daemon/api.js";
import { readDaemonInfo, readToken } from "./state.js";

export class ClientError extends Error {
  override name = "ClientError";
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export interface Endpoint {
  listen: string;
  token: string | null;
}

export function endpoint(stateDir: string, connect?: string): Endpoint {
  const listen = connect ?? readDaemonInfo(stateDir)?.listen;
  if (!listen) {
    throw new ClientError(
      `no daemon found: ${stateDir}/daemon.json is missing; start one with "ballast daemon" or give --connect`,
    );
  }
  return { listen, token: readToken(stateDir) };
}

/** A reply from our own daemon; shapes are documented in src/daemon/api.ts. */
// Replies are read field by field by each verb, hence the loose type.
export type Reply = Record<string, any>;

export function call(
  ep: Endpoint,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<Reply> {
  const addr = parseListen(ep.listen);
  const data = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: "application/json" };
  if (data !== undefined) headers["content-type"] = "application/json";
  if (ep.token && method !== "GET") headers.authorization = `Bearer ${ep.token}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        headers,
        timeout: timeoutMs,
        ...(addr.kind === "unix"
          ? { socketPath: addr.path }
          : { host: addr.host, port: addr.port }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Reply;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(
              new ClientError(
                `daemon sent something that is not JSON (HTTP ${res.statusCode})`,
                res.statusCode ?? null,
              ),
            );
          }
          if ((res.statusCode ?? 500) >= 400) {
            return reject(
              new ClientError(
                json.message ?? `HTTP ${res.statusCode}`,
                res.statusCode ?? null,
                json.error ?? null,
              ),
            );
          }
          resolve(json);
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`no answer from the daemon at ${ep.listen} in ${timeoutMs / 1000}s`)),
    );
    req.on("error", (e: NodeJS.ErrnoException) => {
      const why =
        e.code === "ECONNREFUSED" || e.code === "ENOENT" ? "daemon not running" : e.message;
      reject(new ClientError(`cannot reach the daemon at ${ep.listen}: ${why}`));
    });
    if (data !== undefined) req.write(data);
    req.end();
  });
}
