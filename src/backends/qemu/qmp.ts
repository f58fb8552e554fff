/**
 * A QMP client: JSON over a unix socket, no dependency needed. Reads the greeting,
 * negotiates capabilities, sends commands with ids and timeouts, delivers asynchronous
 * events, and reconnects when QEMU restarts. A socket that is not QMP, a malformed
 * reply, or QEMU going away mid-command is a clear error, never a hang.
 */
import { EventEmitter } from "node:events";
import { createConnection, type Socket } from "node:net";
import type { z } from "zod";
import { errorReply, eventMessage, greeting, returnReply } from "./schemas.js";

export class QmpError extends Error {
  override name = "QmpError";
  constructor(
    message: string,
    /** QMP's error class (GenericError, CommandNotFound...), or a local code. */
    readonly cls: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  command: string;
}

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
}

export class QmpClient extends EventEmitter {
  private sock: Socket | null = null;
  private buf = "";
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private connecting: Promise<void> | null = null;
  /** Set while we close the socket ourselves (not QEMU going away). */
  private closing = false;
  version = "";

  constructor(
    readonly path: string,
    readonly timeoutMs = 5000,
  ) {
    super();
  }

  get connected(): boolean {
    return this.sock !== null && !this.sock.destroyed;
  }

  /** Connect (or reconnect) and negotiate capabilities. */
  connect(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.connecting) return this.connecting;
    this.connecting = new Promise<void>((resolve, reject) => {
      const sock = createConnection(this.path);
      let greeted = false;
      const fail = (e: Error) => {
        sock.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () =>
          fail(
            new QmpError(
              `${this.path}: no QMP greeting within ${this.timeoutMs} ms: not a QMP socket, or another ` +
                `client holds it (QEMU serves one QMP client at a time: stop the daemon or use it)`,
              "not-qmp",
            ),
          ),
        this.timeoutMs,
      );
      sock.setEncoding("utf8");
      sock.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (!greeted)
          fail(new QmpError(`${this.path}: cannot connect: ${e.code ?? e.message}`, "connect"));
      });
      sock.on("close", () => {
        clearTimeout(timer);
        this.sock = null;
        this.failAll(
          new QmpError(`${this.path}: QEMU closed the connection (did it exit?)`, "gone"),
        );
        if (greeted && !this.closing) this.emit("close");
        this.closing = false;
      });
      sock.on("data", (chunk: string) => {
        this.buf += chunk;
        if (this.buf.length > 16 * 1024 * 1024) {
          fail(
            new QmpError(`${this.path}: more than 16 MiB without a newline: not QMP`, "malformed"),
          );
          return;
        }
        let nl = this.buf.indexOf("\n");
        while (nl >= 0) {
          const line = this.buf.slice(0, nl).trim();
          this.buf = this.buf.slice(nl + 1);
          nl = this.buf.indexOf("\n");
          if (line === "") continue;
          let msg: unknown;
          try {
            msg = JSON.parse(line);
          } catch {
            const e = new QmpError(`${this.path}: not JSON: ${line.slice(0, 80)}`, "malformed");
            if (!greeted) fail(e);
            else this.failAll(e);
            continue;
          }
          if (!greeted) {
            const g = greeting.safeParse(msg);
            if (!g.success) {
              clearTimeout(timer);
              fail(
                new QmpError(`${this.path}: the first message is not a QMP greeting`, "not-qmp"),
              );
              return;
            }
            greeted = true;
            const v = g.data.QMP.version.qemu;
            this.version = `${v.major}.${v.minor}.${v.micro}`;
            this.sock = sock;
            this.send("qmp_capabilities", {})
              .then(() => {
                clearTimeout(timer);
                resolve();
              })
              .catch((e) => {
                clearTimeout(timer);
                fail(e);
              });
            continue;
          }
          this.dispatch(msg);
        }
      });
    }).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private dispatch(msg: unknown): void {
    // A line that is JSON but not an object (null, 5, "x", [..]) is nobody's reply.
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
      this.failAll(
        new QmpError(
          `${this.path}: not a QMP message: ${JSON.stringify(msg).slice(0, 80)}`,
          "malformed",
        ),
      );
      return;
    }
    const ev = eventMessage.safeParse(msg);
    if (ev.success) {
      this.emit("event", { event: ev.data.event, data: ev.data.data ?? {} } satisfies QmpEvent);
      return;
    }
    const id = (msg as { id?: unknown }).id;
    const p = typeof id === "number" ? this.pending.get(id) : undefined;
    if (!p) return; // a reply to nobody: ignore
    this.pending.delete(id as number);
    clearTimeout(p.timer);
    const err = errorReply.safeParse(msg);
    if (err.success) {
      p.reject(new QmpError(`${p.command}: ${err.data.error.desc}`, err.data.error.class));
      return;
    }
    const ok = returnReply.safeParse(msg);
    if (!ok.success) {
      p.reject(new QmpError(`${p.command}: malformed reply`, "malformed"));
      return;
    }
    p.resolve(ok.data.return);
  }

  private failAll(e: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(e);
      this.pending.delete(id);
    }
  }

  private send(command: string, args: Record<string, unknown>): Promise<unknown> {
    const sock = this.sock;
    if (!sock)
      return Promise.reject(new QmpError(`${command}: not connected to ${this.path}`, "gone"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new QmpError(`${command}: no reply from QEMU within ${this.timeoutMs} ms`, "timeout"),
        );
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer, command });
      const msg = Object.keys(args).length
        ? { execute: command, arguments: args, id }
        : { execute: command, id };
      sock.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Run a command (connecting first if needed) and parse its reply with `schema`. */
  async execute<T extends z.ZodType>(
    command: string,
    args: Record<string, unknown>,
    schema: T,
  ): Promise<z.infer<T>> {
    await this.connect();
    const raw = await this.send(command, args);
    const r = schema.safeParse(raw);
    if (!r.success) {
      throw new QmpError(
        `${command}: unexpected reply from QEMU: ${r.error.issues[0]?.message ?? "bad shape"}`,
        "malformed",
      );
    }
    return r.data;
  }

  close(): void {
    if (this.sock) this.closing = true;
    this.sock?.destroy();
    this.sock = null;
  }
}
