/** `--html OUT` for `sim run` and `bench policies`: checked before the run, written after. */
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type BenchReportLike, type SimReportLike, writeHtmlReport } from "../web/report_html.js";
import { UsageError } from "./errors.js";

/** Refuse an OUT that cannot be written before spending an hour simulating. */
export function checkHtmlOut(file: string): void {
  if (file === "") throw new UsageError("--html: give a file name, e.g. --html report.html");
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`--html ${file}: no directory ${dir}`);
  if (existsSync(file) && statSync(file).isDirectory())
    throw new UsageError(`--html ${file}: is a directory; give a file name`);
}

export function writeHtmlOut(
  file: string,
  what: { sim: SimReportLike } | { bench: BenchReportLike },
  title: string,
): void {
  try {
    writeHtmlReport(file, what, title);
  } catch (e) {
    throw new Error(`--html ${file}: cannot write it: ${(e as Error).message}`);
  }
}
