/**
 * How Ballast speaks to libvirt: its own client, `virsh` (Debian's libvirt-clients), one
 * process per call, `-c URI` for the connection and `-q` for bare output. virsh is
 * libvirt's reference client, versioned with the daemon, and has every call needed here
 * (domstats, setmem, update-memory-device, dommemstat --period, metadata,
 * qemu-agent-command); the one Node binding on npm is a native addon that needs
 * libvirt's headers and a compiler at install time and is little used.
 *
 * `batch` runs several commands in one virsh process (virsh's own `;` separator), each
 * preceded by an `echo` marker, to pay one process start and one connection for many
 * qemu-ga commands. Only for commands that print something on success: an empty section
 * is a failed command, and virsh's `error:` lines on stderr are handed out to the failed
 * ones in order.
 */
import { execFile } from "node:child_process";

export class VirshError extends Error {
  override name = "VirshError";
}

export interface BatchResult {
  ok: boolean;
  out: string;
  error?: string;
}

export class Virsh {
  constructor(
    /** The connection URI; "" = libvirt's default (LIBVIRT_DEFAULT_URI, then its own choice). */
    readonly uri: string,
    readonly timeoutMs = 30_000,
    readonly binary = "virsh",
  ) {}

  private args(rest: string[]): string[] {
    return this.uri ? ["-q", "-c", this.uri, ...rest] : ["-q", ...rest];
  }

  /** One command; its stdout, or a VirshError with virsh's own message. */
  run(...cmd: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        this.binary,
        this.args(cmd),
        { timeout: this.timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
        (err, stdout, stderr) => {
          if (err) {
            const e = err as NodeJS.ErrnoException & { killed?: boolean };
            const why =
              e.code === "ENOENT"
                ? `${this.binary} is not installed (apt-get install libvirt-clients)`
                : e.killed
                  ? `no answer from libvirt within ${this.timeoutMs} ms`
                  : errorText(stderr) || e.message;
            reject(new VirshError(`virsh ${cmd[0]}: ${why}`));
            return;
          }
          resolve(stdout);
        },
      );
    });
  }

  /** Several commands in one virsh process; one result per command, in order. */
  async batch(cmds: string[][]): Promise<BatchResult[]> {
    if (cmds.length === 0) return [];
    const tag = `@@ballast${process.pid}x${Date.now()}@@`;
    const line = cmds
      .map((c, i) => `echo ${tag}${i}: ; ${c.map(quote).join(" ")}`)
      .concat(`echo ${tag}end:`)
      .join(" ; ");
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>(
      (resolve, reject) =>
        execFile(
          this.binary,
          this.args([line]),
          { timeout: this.timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
          (err, stdout, stderr) => {
            const e = err as (NodeJS.ErrnoException & { killed?: boolean }) | null;
            if (e && (e.code === "ENOENT" || e.killed || !stdout.includes(`${tag}end:`)))
              reject(new VirshError(`virsh: ${errorText(stderr) || e.message}`));
            else resolve({ stdout, stderr });
          },
        ),
    );
    const errors = stderr
      .split(/^error: /m)
      .slice(1)
      .map((s) => s.trim().split("\n")[0]!);
    const out: BatchResult[] = [];
    for (let i = 0; i < cmds.length; i++) {
      const mark = `${tag}${i}:`;
      const start = stdout.indexOf(mark);
      const next = stdout.indexOf(`${tag}${i + 1 < cmds.length ? i + 1 : "end"}:`, start);
      const text = start < 0 || next < 0 ? "" : stdout.slice(start + mark.length, next);
      if (text.trim()) out.push({ ok: true, out: text.trim() });
      else out.push({ ok: false, out: "", error: errors.shift() ?? "failed" });
    }
    return out;
  }
}

/** virsh's messages, without its "error: " prefixes and blank lines. */
function errorText(stderr: string): string {
  return stderr
    .split("\n")
    .map((l) => l.replace(/^error: /, "").trim())
    .filter(Boolean)
    .join("; ");
}

/** One argument for virsh's own command-line parser (single quotes; none inside). */
function quote(arg: string): string {
  if (arg.includes("'")) throw new VirshError(`virsh batch: cannot quote ${JSON.stringify(arg)}`);
  return `'${arg}'`;
}
