/**
 * The daemon's persistent state, in SQLite in the state directory: per-guest settings,
 * the current policy, the targets the daemon set (operator pins among them), mem-max
 * values, reservations, and the history of events and decisions. A restart keeps all
 * of it.
 *
 * - One daemon per state directory: the database is opened in SQLite's EXCLUSIVE
 *   locking mode and its lock taken at once, so a second daemon on the same directory
 *   is refused; the kernel drops the lock when the holder dies, even by kill -9.
 * - Nothing runs on half-read state: a database that is not one, is damaged
 *   (`PRAGMA quick_check`) or was truncated to 0 bytes stops the daemon at start with
 *   the file named and what to do. A new database is built aside and linked into
 *   place, so a 0-byte `ballast.db` is never one of ours.
 * - Targets are written down before they are applied (see loop.ts's applyTarget), in
 *   one transaction with their history row; a crash leaves a `pending` row that the
 *   next start applies and settles.
 * - History is kept for a retention period (the daemon's `--retention`, 30 days by
 *   default): `pruneHistory` deletes older rows, never a `pending` one. SQLite reuses the
 *   freed pages, so the file stops growing once it holds one period.
 */
import { existsSync, linkSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { GuestSettings } from "../model/settings.js";
import { ensureStateDir, loadToken, StateError, type Token } from "./state_dir.js";

export { StateError } from "./state_dir.js";

export interface HistoryRow {
  id: number;
  t_s: number;
  wall: string;
  domain: string;
  kind: "event" | "decision";
  type: string;
  /** A refusal's code; `pending` while a target is written down but not yet applied. */
  code: string | null;
  message: string;
}

export type NewHistoryRow = Omit<HistoryRow, "id" | "wall">;

/** The last target the daemon set for a domain. */
export interface TargetRow {
  name: string;
  targetBytes: number;
  /** An operator's mem-set: the policy leaves the guest at it until `set NAME auto`. */
  pinned: boolean;
  /** Applied with --force (below the floor). */
  force: boolean;
  /** The history row that set it. */
  historyId: number | null;
}

export const HISTORY_LIMIT_MAX = 10_000;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    min_bytes INTEGER, max_bytes INTEGER, weight REAL, buffer_pct REAL
  );
  CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t_s REAL NOT NULL, wall TEXT NOT NULL, domain TEXT NOT NULL,
    kind TEXT NOT NULL, type TEXT NOT NULL, code TEXT, message TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS history_domain ON history(domain, id);
  CREATE INDEX IF NOT EXISTS history_wall ON history(wall);
  CREATE TABLE IF NOT EXISTS targets (
    name TEXT PRIMARY KEY, target_bytes INTEGER NOT NULL,
    pinned INTEGER NOT NULL, force INTEGER NOT NULL, history_id INTEGER
  );
  CREATE TABLE IF NOT EXISTS maxmem (name TEXT PRIMARY KEY, max_bytes INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, bytes INTEGER NOT NULL, wall TEXT NOT NULL
  );
`;

function sqliteCode(e: unknown): string | null {
  const c = (e as { code?: unknown }).code;
  return typeof c === "string" && c.startsWith("SQLITE_") ? c : null;
}

export interface StoreOptions {
  /** Wall-clock time for the rows' `wall` column, ms since the epoch (tests give a fake one). */
  now?: () => number;
}

export class Store {
  private db: Database.Database;
  readonly file: string;
  private closed = false;
  private readonly now: () => number;

  constructor(
    readonly dir: string,
    opts: StoreOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    ensureStateDir(dir);
    this.file = join(dir, "ballast.db");
    if (!existsSync(this.file)) this.create();
    else if (statSync(this.file).size === 0) {
      throw new StateError(
        "empty",
        `the state database ${this.file} is empty (0 bytes): it was truncated, and the settings, ` +
          `pins and history in it are gone. Restore it from a backup, or remove it to start ` +
          `with empty state: rm ${this.file}`,
      );
    }
    let db: Database.Database | null = null;
    try {
      db = new Database(this.file, { fileMustExist: true, timeout: 0 });
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma("journal_mode = WAL");
      db.exec("BEGIN EXCLUSIVE; COMMIT");
      const check = db.pragma("quick_check(5)", { simple: false }) as Array<{
        quick_check: string;
      }>;
      const problems = check.map((r) => r.quick_check).filter((m) => m !== "ok");
      if (problems.length > 0) {
        throw new StateError("damaged", this.damaged(problems.join("; ")));
      }
      db.exec(SCHEMA);
    } catch (e) {
      db?.close();
      if (e instanceof StateError) throw e;
      const code = sqliteCode(e);
      if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED")
        throw new StateError("locked", this.locked());
      if (code) throw new StateError("damaged", this.damaged((e as Error).message));
      throw e;
    }
    this.db = db;
  }

  /** A new database is built under another name and linked into place: never half made. */
  private create(): void {
    const tmp = `${this.file}.new-${process.pid}`;
    rmSync(tmp, { force: true });
    const db = new Database(tmp);
    try {
      db.exec(SCHEMA);
    } finally {
      db.close();
    }
    try {
      linkSync(tmp, this.file);
    } catch (e) {
      // Another process created it first: use theirs (the lock decides who runs).
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  private locked(): string {
    let who = "another process";
    try {
      const info = JSON.parse(readFileSync(join(this.dir, "daemon.json"), "utf8")) as {
        pid?: number;
        listen?: string;
      };
      if (info.pid) who = `another ballast daemon (pid ${info.pid}, API on ${info.listen})`;
    } catch {
      // no daemon.json: the holder has not published itself (yet)
    }
    return (
      `${who} is using the state directory ${this.dir} (${this.file} is locked): ` +
      `one daemon per state directory; stop it, or give this one its own --state`
    );
  }

  private damaged(why: string, atStart = true): string {
    const what = why
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("***"))
      .join("; ");
    return (
      `the state database ${this.file} is damaged (${what}); ` +
      `${atStart ? "nothing was started" : "the change was not made; stop the daemon"}. ` +
      `Restore it from a backup, or move it aside to start with empty state ` +
      `(mv ${this.file} ${this.file}.damaged); settings, pins and history in it are then lost`
    );
  }

  /** Run SQL; a database that fails under us is reported as damaged, naming the file. */
  private run<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      const code = sqliteCode(e);
      if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED")
        throw new StateError("locked", this.locked());
      if (code) throw new StateError("damaged", this.damaged((e as Error).message, false));
      throw e;
    }
  }

  /** Several writes that stand or fall together. */
  tx<T>(f: () => T): T {
    return this.run(() => this.db.transaction(f)());
  }

  /** The API token (see state_dir.ts for the rules it must meet). */
  tokenInfo(): Token {
    return loadToken(this.dir);
  }

  token(): string {
    return this.tokenInfo().value;
  }

  getSettings(name: string): Partial<GuestSettings> | null {
    const row = this.run(() =>
      this.db.prepare("SELECT * FROM settings WHERE name = ?").get(name),
    ) as
      | {
          min_bytes: number | null;
          max_bytes: number | null;
          weight: number | null;
          buffer_pct: number | null;
        }
      | undefined;
    if (!row) return null;
    const out: Partial<GuestSettings> = {};
    if (row.min_bytes !== null) out.minBytes = row.min_bytes;
    if (row.max_bytes !== null) out.maxBytes = row.max_bytes;
    if (row.weight !== null) out.weight = row.weight;
    if (row.buffer_pct !== null) out.bufferPct = row.buffer_pct;
    return out;
  }

  putSettings(name: string, s: Partial<GuestSettings>): void {
    const cur = this.getSettings(name) ?? {};
    const m = { ...cur, ...s };
    this.run(() =>
      this.db
        .prepare(
          `INSERT INTO settings (name, min_bytes, max_bytes, weight, buffer_pct) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET min_bytes = excluded.min_bytes, max_bytes = excluded.max_bytes,
           weight = excluded.weight, buffer_pct = excluded.buffer_pct`,
        )
        .run(name, m.minBytes ?? null, m.maxBytes ?? null, m.weight ?? null, m.bufferPct ?? null),
    );
  }

  get(key: string): string | null {
    const row = this.run(() => this.db.prepare("SELECT value FROM kv WHERE key = ?").get(key)) as
      { value: string } | undefined;
    return row?.value ?? null;
  }

  set(key: string, value: string): void {
    this.run(() =>
      this.db
        .prepare(
          "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .run(key, value),
    );
  }

  // ---- targets and pins ----------------------------------------------------------------

  private static target(r: {
    name: string;
    target_bytes: number;
    pinned: number;
    force: number;
    history_id: number | null;
  }): TargetRow {
    return {
      name: r.name,
      targetBytes: r.target_bytes,
      pinned: r.pinned === 1,
      force: r.force === 1,
      historyId: r.history_id,
    };
  }

  getTarget(name: string): TargetRow | null {
    const r = this.run(() => this.db.prepare("SELECT * FROM targets WHERE name = ?").get(name));
    return r ? Store.target(r as Parameters<typeof Store.target>[0]) : null;
  }

  targets(): TargetRow[] {
    const rows = this.run(() => this.db.prepare("SELECT * FROM targets ORDER BY name").all());
    return (rows as Array<Parameters<typeof Store.target>[0]>).map(Store.target);
  }

  putTarget(t: TargetRow): void {
    this.run(() =>
      this.db
        .prepare(
          `INSERT INTO targets (name, target_bytes, pinned, force, history_id) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET target_bytes = excluded.target_bytes,
             pinned = excluded.pinned, force = excluded.force, history_id = excluded.history_id`,
        )
        .run(t.name, t.targetBytes, t.pinned ? 1 : 0, t.force ? 1 : 0, t.historyId),
    );
  }

  deleteTarget(name: string): void {
    this.run(() => this.db.prepare("DELETE FROM targets WHERE name = ?").run(name));
  }

  // ---- mem-max -------------------------------------------------------------------------

  getMax(name: string): number | null {
    const r = this.run(() =>
      this.db.prepare("SELECT max_bytes FROM maxmem WHERE name = ?").get(name),
    ) as { max_bytes: number } | undefined;
    return r?.max_bytes ?? null;
  }

  maxes(): Array<{ name: string; maxBytes: number }> {
    const rows = this.run(() =>
      this.db.prepare("SELECT * FROM maxmem ORDER BY name").all(),
    ) as Array<{
      name: string;
      max_bytes: number;
    }>;
    return rows.map((r) => ({ name: r.name, maxBytes: r.max_bytes }));
  }

  putMax(name: string, bytes: number | null): void {
    this.run(() =>
      bytes === null
        ? this.db.prepare("DELETE FROM maxmem WHERE name = ?").run(name)
        : this.db
            .prepare(
              "INSERT INTO maxmem (name, max_bytes) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET max_bytes = excluded.max_bytes",
            )
            .run(name, bytes),
    );
  }

  // ---- reservations --------------------------------------------------------------------

  addReservation(bytes: number): string {
    return this.tx(() => {
      const n = Number(this.get("next_reservation") ?? "1");
      this.set("next_reservation", String(n + 1));
      const id = `r${n}`;
      this.db
        .prepare("INSERT INTO reservations (id, bytes, wall) VALUES (?, ?, ?)")
        .run(id, bytes, new Date(this.now()).toISOString());
      return id;
    });
  }

  deleteReservation(id: string): boolean {
    return this.run(
      () => this.db.prepare("DELETE FROM reservations WHERE id = ?").run(id).changes > 0,
    );
  }

  reservations(): Array<{ id: string; bytes: number }> {
    return this.run(
      () =>
        this.db.prepare("SELECT id, bytes FROM reservations ORDER BY rowid").all() as Array<{
          id: string;
          bytes: number;
        }>,
    );
  }

  // ---- history -------------------------------------------------------------------------

  append(rows: NewHistoryRow[]): void {
    if (rows.length === 0) return;
    this.tx(() => {
      for (const r of rows) this.appendOne(r);
    });
  }

  /** One row; returns its id (for settle()). */
  appendOne(r: NewHistoryRow): number {
    return this.run(
      () =>
        this.db
          .prepare(
            "INSERT INTO history (t_s, wall, domain, kind, type, code, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
          )
          .run(
            r.t_s,
            new Date(this.now()).toISOString(),
            r.domain,
            r.kind,
            r.type,
            r.code,
            r.message,
          ).lastInsertRowid as number,
    );
  }

  /** Settle a row written before its outcome was known (a pending target). */
  settle(id: number, type: string, code: string | null, message: string): void {
    this.run(() =>
      this.db
        .prepare("UPDATE history SET type = ?, code = ?, message = ? WHERE id = ?")
        .run(type, code, message, id),
    );
  }

  getHistory(id: number): HistoryRow | null {
    return (
      (this.run(() => this.db.prepare("SELECT * FROM history WHERE id = ?").get(id)) as
        HistoryRow | undefined) ?? null
    );
  }

  pending(): HistoryRow[] {
    return this.run(
      () =>
        this.db
          .prepare("SELECT * FROM history WHERE code = 'pending' ORDER BY id")
          .all() as HistoryRow[],
    );
  }

  hasHistory(domain: string): boolean {
    return (
      this.run(() =>
        this.db.prepare("SELECT 1 FROM history WHERE domain = ? LIMIT 1").get(domain),
      ) !== undefined
    );
  }

  history(domain: string | null, limit = 200): HistoryRow[] {
    const n = Math.max(1, Math.min(HISTORY_LIMIT_MAX, Math.floor(limit)));
    const rows = this.run(() =>
      domain
        ? this.db
            .prepare("SELECT * FROM history WHERE domain = ? ORDER BY id DESC LIMIT ?")
            .all(domain, n)
        : this.db.prepare("SELECT * FROM history ORDER BY id DESC LIMIT ?").all(n),
    );
    return (rows as HistoryRow[]).reverse();
  }

  /**
   * Delete history rows written before `beforeMs` (wall time), except rows still
   * `pending` (the next start settles them). Returns how many went. `wall` is ISO-8601
   * UTC with milliseconds, so text order is time order.
   */
  pruneHistory(beforeMs: number): number {
    const before = new Date(beforeMs).toISOString();
    return this.run(
      () =>
        this.db.prepare("DELETE FROM history WHERE wall < ? AND code IS NOT 'pending'").run(before)
          .changes,
    );
  }

  historyCount(): number {
    return (
      this.run(() => this.db.prepare("SELECT count(*) AS n FROM history").get()) as { n: number }
    ).n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
