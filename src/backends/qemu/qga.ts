/**
 * qemu-ga over the guest's org.qemu.guest_agent.0 chardev socket (QEMU's own
 * `-chardev socket,...,server=on`): one connection per batch. qemu-ga has no greeting
 * and answers one JSON line per command; a previous client may have left a reply in
 * flight, so every batch starts with guest-sync-delimited (qga/commands.c): a 0xFF byte
 * from us, and qemu-ga's reply to our id after its own 0xFF, discards whatever came
 * before. A guest that does not answer in time is an error, never a hang.
 */
import { createConnection } from "node:net";
import { type QgaBatch, type QgaCommand, QgaError } from "../shared/qga.js";

export class QgaSocket {
  private nextId = Math.floor(Math.random() * 1e9);
  constructor(
    readonly path: string,
    readonly timeoutMs = 3000,
  ) {}

  readonly batch: QgaBatch = (cmds) => this.run(cmds);

  private run(cmds: QgaCommand[]): Promise<unknown[]> {
    const syncId = this.nextId++;
    return new Promise((resolve, reject) => {
      const sock = createConnection(this.path);
      const results: unknown[] = [];
      let synced = false;
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new QgaError(`${this.path}: qemu-ga did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      let settled = false;
      const done = (e?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        if (e) reject(e);
        else resolve(results);
      };
      const send = () => {
        const c = cmds[results.length];
        if (!c) return done();
        sock.write(`${JSON.stringify(c)}\n`);
      };
      sock.on("error", (e: NodeJS.ErrnoException) =>
        done(new QgaError(`${this.path}: cannot reach qemu-ga: ${e.code ?? e.message}`)),
      );
      sock.on("close", () => done(new QgaError(`${this.path}: qemu-ga closed the connection`)));
      sock.on("connect", () => {
        sock.write(
          Buffer.concat([
            Buffer.from([0xff]),
            Buffer.from(
              `${JSON.stringify({ execute: "guest-sync-delimited", arguments: { id: syncId } })}\n`,
            ),
          ]),
        );
      });
      sock.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length > 64 * 1024 * 1024)
          return done(new QgaError(`${this.path}: reply too long`));
        if (!synced) {
          const ff = buf.lastIndexOf(0xff);
          if (ff < 0) return;
          buf = buf.subarray(ff + 1);
        }
        let nl = buf.indexOf(0x0a);
        while (nl >= 0) {
          const line = buf.subarray(0, nl).toString("utf8").trim();
          buf = buf.subarray(nl + 1);
          nl = buf.indexOf(0x0a);
          if (!line) continue;
          let msg: { return?: unknown; error?: { desc?: string } };
          try {
            msg = JSON.parse(line);
          } catch {
            return done(new QgaError(`${this.path}: not JSON from qemu-ga: ${line.slice(0, 80)}`));
          }
          if (!synced) {
            if (msg.return === syncId) {
              synced = true;
              send();
            }
            continue;
          }
          results.push(
            "error" in msg
              ? new QgaError(`qemu-ga: ${String(msg.error?.desc ?? "error")}`)
              : msg.return,
          );
          send();
        }
      });
    });
  }
}
