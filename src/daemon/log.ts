/**
 * The daemon's log lines: a message and its level. The daemon says what happened; the
 * command that runs it (src/cli/daemon.ts) stamps each line with the wall-clock time and
 * prints it, as text or as one JSON object a line (for journald or a log shipper).
 */

/** info: what was done; warn: refused or lost, the daemon carries on; error: a round failed. */
export type LogLevel = "info" | "warn" | "error";

/** Where the daemon writes a line; the level is info when not given. */
export type Log = (line: string, level?: LogLevel) => void;

/** `2026-11-23T18:40:00.123Z info  [240.0s] ballast: web: ...`: ISO-8601 UTC with ms, the level padded. */
export function textLogLine(at: Date, level: LogLevel, line: string): string {
  return `${at.toISOString()} ${level.padEnd(5)} ${line}`;
}

/** `{"time":"2026-11-23T18:40:00.123Z","level":"info","message":"..."}`: one object a line. */
export function jsonLogLine(at: Date, level: LogLevel, line: string): string {
  return JSON.stringify({ time: at.toISOString(), level, message: line });
}
