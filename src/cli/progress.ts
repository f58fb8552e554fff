/**
 * Progress of long simulated work on stderr: how much simulated time is done, how fast
 * (simulated seconds per wall second) and how long is left. Only when stderr is a
 * terminal: piped or redirected, nothing is written, so logs and `--json` pipelines
 * stay clean. One line, redrawn in place at most every 200 ms, erased when done.
 */

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

export interface Progress {
  /**
   * `doneMs` of simulated time is done; `detail` says on what (a scenario, a policy);
   * `totalMs`, where the total was not known when the progress started.
   */
  update(doneMs: number, detail?: string, totalMs?: number): void;
  /** Erase the line. */
  done(): void;
}

const SILENT: Progress = { update() {}, done() {} };

/** "45s", "12m30s", "3h05m": simulated or wall durations in the progress line. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(r).padStart(2, "0")}s`;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Wall clock, ms (tests give their own). */
  now?: () => number;
  /** Least wall time between redraws, ms. */
  everyMs?: number;
}

/**
 * A progress line for `label` over `totalMs` of simulated time (null: given later, to
 * `update`), or a silent one when the stream is not a terminal.
 */
export function startProgress(
  label: string,
  totalMs: number | null,
  opts: ProgressOptions = {},
): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY) return SILENT;
  let total = totalMs ?? 0;
  const now = opts.now ?? (() => performance.now());
  const everyMs = opts.everyMs ?? 200;
  const started = now();
  let lastDraw = -Infinity;
  let drawn = false;
  return {
    update(doneMs, detail, totalMs) {
      if (totalMs !== undefined) total = totalMs;
      const t = now();
      if (!(total > 0)) return;
      if (t - lastDraw < everyMs) return;
      lastDraw = t;
      const wallS = (t - started) / 1000;
      const done = Math.min(doneMs, total);
      const speed = wallS > 0 ? done / 1000 / wallS : 0;
      const parts = [
        `${label}${detail ? ` ${detail}` : ""}:`,
        `${formatDuration(done / 1000)}/${formatDuration(total / 1000)} simulated`,
        `(${Math.floor((100 * done) / total)}%),`,
        speed > 0 ? `${Math.round(speed).toLocaleString("en")}x real time,` : "",
        speed > 0 ? `${formatDuration((total - done) / 1000 / speed)} left` : "",
      ];
      let line = parts.filter(Boolean).join(" ");
      const width = (stream.columns || 80) - 1;
      if (line.length > width) line = line.slice(0, Math.max(0, width));
      stream.write(`\r\x1b[K${line}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
