/**
 * Reads the Ballast guest agent's JSON lines from the chardev socket behind the guest's
 * org.ballast.agent.0 port, keeping the latest valid sample. Lines that do not parse
 * are counted and dropped: a guest is untrusted.
 *
 * While no host client is connected, virtio-serial tells the guest its host side is
 * closed and the agent's write blocks; so the first line a new connection gets was
 * written whenever the previous client left. Lines arriving within the first moment of a
 * connection are that backlog and are not taken as current.
 */
import { createConnection, type Socket } from "node:net";
import { type AgentLine, agentLine } from "../qemu/schemas.js";

export class AgentReader {
  private sock: Socket | null = null;
  private buf = "";
  private retryAt = 0;
  latest: AgentLine | null = null;
  private connectedAt = 0;
  /** Backlog window: lines this soon after connecting are stale. */
  static readonly BACKLOG_MS = 300;
  receivedAtMs = 0;
  rejected = 0;

  constructor(readonly path: string) {}

  /** Make sure we are connected (retrying at most once a second); never throws. */
  poll(): void {
    if (this.sock && !this.sock.destroyed) return;
    const now = Date.now();
    if (now < this.retryAt) return;
    this.retryAt = now + 1000;
    const s = createConnection(this.path);
    s.on("connect", () => {
      this.connectedAt = Date.now();
    });
    s.setEncoding("utf8");
    s.on("error", () => s.destroy());
    s.on("close", () => {
      if (this.sock === s) this.sock = null;
    });
    s.on("data", (chunk: string) => {
      this.buf += chunk;
      if (this.buf.length > 1024 * 1024) this.buf = "";
      let nl = this.buf.indexOf("\n");
      while (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        nl = this.buf.indexOf("\n");
        this.accept(line);
      }
    });
    this.sock = s;
  }

  /** Wait up to `ms` for a first sample (a one-shot CLI call needs one). */
  async ready(ms: number): Promise<boolean> {
    // A line written before we connected does not count; the agent writes every second.
    this.poll();
    const end = Date.now() + ms;
    while (!this.latest && Date.now() < end) {
      this.poll();
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.latest !== null;
  }

  private accept(line: string): void {
    try {
      const r = agentLine.safeParse(JSON.parse(line));
      if (r.success && Date.now() - this.connectedAt < AgentReader.BACKLOG_MS) return;
      if (r.success) {
        this.latest = r.data;
        this.receivedAtMs = Date.now();
        return;
      }
    } catch {
      // fall through
    }
    this.rejected++;
  }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
    // What we had is stale once we stop listening; reconnect at once next time.
    this.latest = null;
    this.retryAt = 0;
  }
}
