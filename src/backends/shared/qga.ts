/**
 * qemu-guest-agent, the agent most guests already have: read /proc/meminfo,
 * /proc/vmstat and /proc/pressure/memory through its file commands (guest-file-open,
 * guest-file-read, guest-file-close; qga/commands-posix.c), so a guest gets PSI and a
 * working-set floor without installing anything of ours.
 *
 * The transport is the backend's: QEMU's chardev socket (qemu/qga.ts) or libvirt's
 * `virsh qemu-agent-command` (libvirt/virsh.ts). Commands go in batches (every open,
 * then every read and close), so a transport that pays per call pays twice a sample.
 * Replies are untrusted: a reply that does not parse is a missing file, never a number.
 */
import { z } from "zod";
import { PROC_FILES, type ProcSample, parseMeminfo, parsePressure, parseVmstat } from "./procfs.js";

export interface QgaCommand {
  execute: string;
  arguments?: Record<string, unknown>;
}

/** Runs commands in order; each result is the reply's `return`, or an Error. */
export type QgaBatch = (cmds: QgaCommand[]) => Promise<Array<unknown>>;

/** guest-file-read's largest count is 48 MiB (QGA_READ_COUNT_MAX); /proc files are small. */
const READ_COUNT = 1024 * 1024;

const handle = z.number().int().nonnegative();
const readReply = z.object({
  count: z.number().int().nonnegative(),
  "buf-b64": z.string(),
  eof: z.boolean(),
});

export class QgaError extends Error {
  override name = "QgaError";
}

/** Each file's text, or null where it could not be read (missing, refused, garbled). */
export async function readGuestFiles(
  run: QgaBatch,
  paths: readonly string[],
): Promise<Array<string | null>> {
  const opened = await run(
    paths.map((path) => ({ execute: "guest-file-open", arguments: { path, mode: "r" } })),
  );
  const handles = opened.map((r) => {
    const h = handle.safeParse(r);
    return h.success ? h.data : null;
  });
  const cmds: QgaCommand[] = [];
  for (const h of handles) {
    if (h === null) continue;
    cmds.push({ execute: "guest-file-read", arguments: { handle: h, count: READ_COUNT } });
    cmds.push({ execute: "guest-file-close", arguments: { handle: h } });
  }
  const replies = cmds.length ? await run(cmds) : [];
  let k = 0;
  return handles.map((h) => {
    if (h === null) return null;
    const r = readReply.safeParse(replies[k]);
    k += 2;
    return r.success ? Buffer.from(r.data["buf-b64"], "base64").toString("utf8") : null;
  });
}

/** A /proc sample through qemu-ga, or null when it gave no /proc/meminfo. */
export async function readProcThroughQga(run: QgaBatch): Promise<ProcSample | null> {
  const [meminfo, vmstat, pressure] = await readGuestFiles(run, [
    PROC_FILES.meminfo,
    PROC_FILES.vmstat,
    PROC_FILES.pressure,
  ]);
  if (!meminfo) return null;
  const m = parseMeminfo(meminfo);
  if (m.MemTotal === undefined) return null;
  const out: ProcSample = { meminfo_kb: m, psi: pressure ? parsePressure(pressure) : {} };
  if (vmstat) out.vmstat = parseVmstat(vmstat);
  return out;
}
