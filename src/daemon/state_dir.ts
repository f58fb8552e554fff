/**
 * The state directory's safety rules, checked when the daemon starts: whoever can write
 * the directory can replace the token or the database, and whoever can read the token
 * can change every guest's memory. So:
 *
 * - the directory belongs to the daemon's user and nobody else may write to it;
 * - the token file is a regular file of the daemon's user, mode 0600 (or 0640, to
 *   share it with the file's group: the operators' group; a unix socket then gets mode
 *   0660 and that group too), never readable by others;
 * - the token is at least 32 characters with at least 10 different ones, no spaces:
 *   an empty or guessable token is refused, with the way to fix it.
 *
 * Each refusal says what is wrong and the command that fixes it.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  type Stats,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export class StateError extends Error {
  override name = "StateError";
  constructor(
    /** `unsafe` (permissions, owner), `weak-token`, `locked`, `damaged`, `empty`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const MIN_TOKEN_CHARS = 32;
const MIN_TOKEN_DISTINCT = 10;

const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, "0")}`;
const uid = () => (typeof process.getuid === "function" ? process.getuid() : null);

/** Create the state directory (mode 0700) or check an existing one. */
export function ensureStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StateError(
      "unsafe",
      `cannot create the state directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new StateError("unsafe", `${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (!st.isDirectory()) throw new StateError("unsafe", `${dir} is not a directory`);
  const me = uid();
  if (me !== null && st.uid !== me) {
    throw new StateError(
      "unsafe",
      `the state directory ${dir} belongs to uid ${st.uid}, not to this user (uid ${me}): ` +
        `run the daemon as its owner, or give it its own --state`,
    );
  }
  if (st.mode & 0o022) {
    throw new StateError(
      "unsafe",
      `the state directory ${dir} is writable by ${st.mode & 0o002 ? "everyone" : "its group"} ` +
        `(mode ${octal(st.mode)}): they could replace the token or the database; ` +
        `fix it with: chmod go-w ${dir}`,
    );
  }
}

/** Check a token's strength; returns why it is weak, or null. */
export function tokenWeakness(token: string): string | null {
  if (token === "") return "it is empty";
  if (/[^\x21-\x7e]/.test(token))
    return "it holds spaces or characters that are not printable ASCII";
  if (token.length < MIN_TOKEN_CHARS)
    return `it has ${token.length} characters (at least ${MIN_TOKEN_CHARS} are needed)`;
  const distinct = new Set(token).size;
  if (distinct < MIN_TOKEN_DISTINCT)
    return `it has only ${distinct} different characters (at least ${MIN_TOKEN_DISTINCT} are needed)`;
  return null;
}

export interface Token {
  value: string;
  /** True when the file is shared with its group (mode 0640): see the module comment. */
  groupShared: boolean;
  gid: number;
}

/** The API token: created (0600) on first start, checked on every later one. */
export function loadToken(dir: string): Token {
  const file = join(dir, "token");
  const remake = `remove it and start the daemon again, which writes a new one: rm ${file}`;
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT")
      throw new StateError("unsafe", `${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    return createToken(file);
  }
  if (!st.isFile()) {
    throw new StateError(
      "unsafe",
      `${file} is not a regular file (${st.isSymbolicLink() ? "a symbolic link" : "something else"}): ${remake}`,
    );
  }
  const me = uid();
  if (me !== null && st.uid !== me) {
    throw new StateError(
      "unsafe",
      `${file} belongs to uid ${st.uid}, not to this user (uid ${me}): ${remake}`,
    );
  }
  if (st.mode & 0o137) {
    const who = st.mode & 0o007 ? "everyone" : "its group";
    throw new StateError(
      "unsafe",
      `${file} is mode ${octal(st.mode)}: ${who} could read or change it, and the token lets ` +
        `its holder change every guest's memory; fix it with: chmod 600 ${file} ` +
        `(or chmod 640 to share it with the file's group)`,
    );
  }
  const value = readFileSync(file, "utf8").trim();
  const weak = tokenWeakness(value);
  if (weak) {
    throw new StateError("weak-token", `the token in ${file} is refused: ${weak}; ${remake}`);
  }
  return { value, groupShared: (st.mode & 0o040) !== 0, gid: st.gid };
}

function createToken(file: string): Token {
  const value = randomBytes(24).toString("hex");
  let fd: number;
  try {
    // O_EXCL: never write through a file (or link) someone put there meanwhile.
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    throw new StateError(
      "unsafe",
      `cannot create ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  try {
    writeSync(fd, `${value}\n`);
    return { value, groupShared: false, gid: fstatSync(fd).gid };
  } finally {
    closeSync(fd);
  }
}
