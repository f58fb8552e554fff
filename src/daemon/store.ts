/**
 * The daemon's persistent state, in SQLite in the state directory: per-guest settings,
 * the current policy, and the history of events and decisions. A restart keeps all of
 * it. The API token lives beside the database in a file only the owner can read.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { GuestSettings } from "../model/settings.js";

export interface HistoryRow {
  id: number;
  t_s: number;
  wall: string;
  domain: string;
  kind: "event" | "decision";
  type: string;
  code: string | null;
  message: string;
}

export class Store {
  private db: Database.Database;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.db = new Database(join(dir, "ballast.db"));
    this.db.pragma("journal_mode = WAL");
    this.db.exec(`
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
    `);
  }

  /** The API token, created on first use (mode 0600). */
  token(): string {
    const file = join(this.dir, "token");
    if (existsSync(file)) return readFileSync(file, "utf8").trim();
    const t = randomBytes(24).toString("hex");
    writeFileSync(file, `${t}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return t;
  }

  getSettings(name: string): Partial<GuestSettings> | null {
    const row = this.db.prepare("SELECT * FROM settings WHERE name = ?").get(name) as
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
    this.db
      .prepare(
        `INSERT INTO settings (name, min_bytes, max_bytes, weight, buffer_pct) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET min_bytes = excluded.min_bytes, max_bytes = excluded.max_bytes,
           weight = excluded.weight, buffer_pct = excluded.buffer_pct`,
      )
      .run(name, m.minBytes ?? null, m.maxBytes ?? null, m.weight ?? null, m.bufferPct ?? null);
  }

  get(key: string): string | null {
    const row = this.db.prepare("SELECT value FROM kv WHERE key = ?").get(key) as
      { value: string } | undefined;
    return row?.value ?? null;
  }

  set(key: string, value: string): void {
    this.db
      .prepare(
        "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(key, value);
  }

  append(rows: Array<Omit<HistoryRow, "id" | "wall">>): void {
    if (rows.length === 0) return;
    const ins = this.db.prepare(
      "INSERT INTO history (t_s, wall, domain, kind, type, code, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const wall = new Date().toISOString();
    this.db.transaction(() => {
      for (const r of rows) ins.run(r.t_s, wall, r.domain, r.kind, r.type, r.code, r.message);
    })();
  }

  history(domain: string | null, limit = 200): HistoryRow[] {
    const rows = domain
      ? this.db
          .prepare("SELECT * FROM history WHERE domain = ? ORDER BY id DESC LIMIT ?")
          .all(domain, limit)
      : this.db.prepare("SELECT * FROM history ORDER BY id DESC LIMIT ?").all(limit);
    return (rows as HistoryRow[]).reverse();
  }

  close(): void {
    this.db.close();
  }
}
