/**
 * The files the dashboard serves and the HTML report inlines: uPlot from its npm
 * package (never a CDN), and our browser scripts as compiled by
 * src/web/client/tsconfig.json into dist/src/web/client/.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export type ClientScript = "charts" | "report" | "dashboard";

const require = createRequire(import.meta.url);
const cache = new Map<string, string>();

function read(path: string, what: string): string {
  let text = cache.get(path);
  if (text === undefined) {
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(
        `${what} is missing (${path}): run \`npm run build\` (or \`npm ci\`, which builds); ${(e as Error).message}`,
      );
    }
    cache.set(path, text);
  }
  return text;
}

export function uplotScript(): string {
  return read(require.resolve("uplot/dist/uPlot.iife.min.js"), "uPlot (npm package uplot)");
}

export function uplotCss(): string {
  return read(require.resolve("uplot/dist/uPlot.min.css"), "uPlot's stylesheet");
}

export function clientScript(name: ClientScript): string {
  return read(
    fileURLToPath(new URL(`./client/${name}.js`, import.meta.url)),
    `the browser script ${name}.js`,
  );
}
