/**
 * Binding the API. A unix socket path is taken only if it is free or holds a stale
 * socket nobody answers on: a regular file there is never deleted, and a live socket
 * (another daemon) is never stolen. The socket is created under umask 0177 and then
 * set to 0600, or 0660 with the token file's group when the token is shared with a
 * group (see state_dir.ts), so nobody else can connect in between.
 */
import { chmodSync, chownSync, lstatSync, rmSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { createConnection } from "node:net";
import type { ListenAddr } from "./api.js";
import { StateError } from "./state_dir.js";

/** Does something answer on this unix socket? */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(true));
  });
}

/** Make sure a unix socket path can be taken, removing only a stale socket. */
export async function claimSocketPath(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new StateError("unsafe", `--listen unix:${path}: ${(e as NodeJS.ErrnoException).code}`);
  }
  if (!st.isSocket()) {
    throw new StateError(
      "unsafe",
      `--listen unix:${path}: ${path} exists and is not a socket; it is left alone. ` +
        `Choose another path, or remove it yourself if it is not needed`,
    );
  }
  if (await answers(path)) {
    throw new StateError(
      "locked",
      `--listen unix:${path}: another process is listening on ${path} (another daemon?); ` +
        `stop it or choose another path`,
    );
  }
  rmSync(path, { force: true });
}

export interface SocketAccess {
  /** Share with the token file's group (mode 0660) instead of the owner only (0600). */
  group: boolean;
  gid: number;
}

/** Listen; for a unix socket, with the permissions of `access`. Resolves with the bound address. */
export async function listenApi(
  server: Server,
  addr: ListenAddr,
  access: SocketAccess,
): Promise<ListenAddr> {
  if (addr.kind === "unix") await claimSocketPath(addr.path);
  return new Promise((res, rej) => {
    const onError = (e: Error) => {
      if (old !== null) process.umask(old);
      rej(e);
    };
    server.once("error", onError);
    let old: number | null = null;
    const done = () => {
      server.off("error", onError);
      if (old !== null) process.umask(old);
      if (addr.kind === "unix") {
        try {
          if (access.group) chownSync(addr.path, -1, access.gid);
          chmodSync(addr.path, access.group ? 0o660 : 0o600);
        } catch (e) {
          server.close();
          rej(e);
          return;
        }
        res(addr);
        return;
      }
      const a = server.address();
      res(a && typeof a === "object" ? { kind: "tcp", host: addr.host, port: a.port } : addr);
    };
    if (addr.kind === "unix") {
      old = process.umask(0o177);
      server.listen(addr.path, done);
    } else server.listen(addr.port, addr.host, done);
  });
}

/** The socket's identity, to remove it at exit only if it is still ours. */
export function socketIdentity(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}
