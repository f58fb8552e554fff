/**
 * HTML reports, opened in headless Chromium: charts over time from the report's samples
 * (events marked on the time axis), the tables, the final state; one file that fetches
 * nothing; the CLI's `--html OUT` for `sim run` and `bench policies`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { renderSimReportHtml } from "../../src/web/report_html.js";
import { repoPath } from "../helpers.js";
import { chromiumMissing, launch, reportWithSamples, tempDir, watchErrors } from "./fixtures.js";

const BALLAST = repoPath("bin/ballast");
const skip = chromiumMissing();
if (skip) console.log(`# skipping the HTML report tests: ${skip}`);

/** Open a report file; every request other than the file itself is refused and recorded. */
async function open(browser: Browser, file: string) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = watchErrors(page);
  const url = pathToFileURL(file).href;
  const fetched: string[] = [];
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    fetched.push(u);
    return route.abort();
  });
  await page.goto(url);
  await page.waitForSelector("body[data-charts-ready]");
  if (process.env.BALLAST_SCREENSHOTS)
    await page.screenshot({
      path: join(process.env.BALLAST_SCREENSHOTS, `${file.split("/").pop()}.png`),
      fullPage: true,
    });
  return { page, errors, fetched };
}

const texts = (page: Page, sel: string) => page.locator(sel).allTextContents();

describe("HTML reports in Chromium", { skip: skip ?? false }, () => {
  let browser: Browser;
  const tmp = tempDir("ballast-report-");
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    tmp.remove();
  });

  it("draws the samples over time, marks the events, and fetches nothing", async () => {
    const r = reportWithSamples("demo.yaml");
    const file = join(tmp.dir, "demo-samples.html");
    writeFileSync(file, renderSimReportHtml(r, "demo.yaml"));
    const { page, errors, fetched } = await open(browser, file);
    assert.deepEqual(errors, []);
    assert.deepEqual(fetched, []);
    assert.equal(await page.locator("#host-chart canvas").count(), 1);
    const running = r.domains.filter((d) => d.state === "running");
    assert.equal(await page.locator(".guest-chart canvas").count(), running.length);
    // Every event is marked on the host's time axis; each guest's own on its chart.
    assert.equal(
      await page.locator("#host-chart .uplot").getAttribute("data-markers"),
      String(r.events.length),
    );
    const db = r.events.filter((e) => e.domain === "db").length;
    assert.ok(db >= 2);
    assert.equal(
      await page.locator('.guest-chart[data-domain="db"] .uplot').getAttribute("data-markers"),
      String(db),
    );
    // The legend names what is drawn, newest values shown.
    const legend = (await texts(page, '.guest-chart[data-domain="db"] .u-legend')).join(" ");
    for (const l of ["actual", "target", "in use", "PSI some", "PSI full"])
      assert.match(legend, new RegExp(l));
    assert.match(legend, /actual6 GiB/);
    const box = await page.locator("#host-chart canvas").boundingBox();
    assert.ok(box && box.width > 600 && box.height > 100, JSON.stringify(box));
    // Tables: one row per domain and per event, every size with its unit.
    assert.equal(
      await page.locator("section:has(h2:text('Final state')) tbody tr").count(),
      r.domains.length,
    );
    assert.equal(
      await page.locator("section:has(h2:text('Events')) tbody tr").count(),
      r.events.length,
    );
    const actual = await page
      .locator("section:has(h2:text('Final state')) tbody tr td:nth-child(5)")
      .allTextContents();
    for (const a of actual) assert.match(a, /^\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)$/);
    await page.close();
  });

  it("renders a real `sim run --json` without samples: the tables, the final state, a note instead of charts", async () => {
    const run = spawnSync(BALLAST, ["sim", "run", repoPath("examples/balloon-up.yaml"), "--json"], {
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    const r = JSON.parse(run.stdout);
    const file = join(tmp.dir, "balloon-up.html");
    writeFileSync(file, renderSimReportHtml(r, "balloon-up.yaml"));
    const { page, errors, fetched } = await open(browser, file);
    assert.deepEqual(errors, []);
    assert.deepEqual(fetched, []);
    assert.equal(await page.locator("canvas").count(), 0);
    assert.match((await texts(page, "#no-samples")).join(""), /--samples 1s/);
    const running = r.domains.filter((d: { state: string }) => d.state === "running").length;
    assert.equal(await page.locator(".guest .bar").count(), running);
    assert.equal(
      await page.locator("section:has(h2:text('Events')) tbody tr").count(),
      r.events.length,
    );
    assert.match((await texts(page, ".cards")).join(" "), /Host memory\s*\d+ GiB/);
    await page.close();
  });

  it("`sim run FILE --html OUT` writes one self-contained page; a bad OUT is refused before the run", async () => {
    const out = join(tmp.dir, "demo.html");
    const run = spawnSync(BALLAST, ["sim", "run", repoPath("examples/demo.yaml"), "--html", out], {
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, "", "no progress on stderr when it is not a terminal");
    assert.match(run.stdout, /^Name\s+ID/);
    const html = readFileSync(out, "utf8");
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//i);
    const { page, errors, fetched } = await open(browser, out);
    assert.deepEqual(errors, []);
    assert.deepEqual(fetched, []);
    assert.equal(await page.locator("h1").textContent(), repoPath("examples/demo.yaml"));
    await page.close();
    const bad = spawnSync(
      BALLAST,
      ["sim", "run", repoPath("examples/demo.yaml"), "--html", join(tmp.dir, "nope", "x.html")],
      { encoding: "utf8" },
    );
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--html .*x\.html: no directory .*nope/);
    assert.equal(bad.stdout, "");
  });

  it("`bench policies --html OUT`: a bar per policy, scenario and host kind for every figure, and the tables", async () => {
    const dir = join(tmp.dir, "scenarios");
    spawnSync("mkdir", [dir]);
    for (const [name, memory] of [
      ["small", "8GiB"],
      ["tight", "6GiB"],
    ])
      writeFileSync(
        join(dir, `${name}.yaml`),
        `duration: 3m
host: { memory: ${memory} }
domains:
  - { name: a, memory: 2GiB, maxmem: 4GiB, workload: { processes: [{ name: p, anon: 1GiB, hot: 512MiB }] } }
  - { name: b, memory: 2GiB, workload: { processes: [{ name: p, anon: 512MiB, hot: 256MiB }] } }
`,
      );
    const out = join(tmp.dir, "bench.html");
    const run = spawnSync(
      BALLAST,
      [
        "bench",
        "policies",
        "--scenarios",
        dir,
        "--policies",
        "none,ballast",
        "--json",
        "--html",
        out,
      ],
      { encoding: "utf8" },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, "");
    const bench = JSON.parse(run.stdout);
    assert.ok(existsSync(out));
    const { page, errors, fetched } = await open(browser, out);
    assert.deepEqual(errors, []);
    assert.deepEqual(fetched, []);
    const charts = page.locator(".bar-chart");
    assert.ok((await charts.count()) >= 6);
    for (const metric of ["oom_kills", "stall_s", "mean_host_free_bytes", "admitted_vms"]) {
      const bars = page.locator(`.bar-chart[data-metric="${metric}"] rect[data-series]`);
      // 2 policies x 2 scenarios x 2 host kinds (the bench runs both by default).
      assert.equal(await bars.count(), 8, metric);
    }
    // A bar's height is its value: ballast's mean host free on "small" under KVM, against
    // the JSON (each scenario's bars are grouped per host kind).
    const row = bench.rows.find(
      (x: { policy: string; scenario: string; hypervisor: string }) =>
        x.policy === "ballast" && x.scenario === "small" && x.hypervisor === "kvm",
    );
    const title = await page
      .locator(
        '.bar-chart[data-metric="mean_host_free_bytes"] rect[data-series="ballast"][data-category="small (kvm)"] title',
      )
      .textContent();
    const gib = (row.mean_host_free_bytes / 2 ** 30).toFixed(2);
    assert.match(
      title ?? "",
      new RegExp(`ballast on small \\(kvm\\): ${gib.replace(/\.?0+$/, "")}`),
    );
    assert.equal(await page.locator("section:has(h2:text('Totals')) tbody tr").count(), 4);
    assert.equal(await page.locator("section:has(h2:text('Every run')) tbody tr").count(), 8);
    await page.close();
  });
});
