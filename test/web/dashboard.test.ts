/**
 * The dashboard in headless Chromium against a live daemon on the simulated test host:
 * it loads with no console errors and fetches nothing from outside; it shows the guests;
 * its charts move as the simulated host changes; an action with the token works and one
 * without is refused, changing nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { GiB } from "../../src/units/index.js";
import { chromiumMissing, launch, startDaemon, watchErrors } from "./fixtures.js";

const skip = chromiumMissing();
if (skip) console.log(`# skipping the dashboard tests: ${skip}`);

async function shot(page: Page, name: string): Promise<void> {
  if (process.env.BALLAST_SCREENSHOTS)
    await page.screenshot({ path: join(process.env.BALLAST_SCREENSHOTS, name), fullPage: true });
}

/** Page functions run in the browser; this file is compiled without the DOM lib. */
declare const document: any;

describe("dashboard in Chromium", { skip: skip ?? false }, () => {
  let browser: Browser;
  let d: Awaited<ReturnType<typeof startDaemon>>;
  let page: Page;
  let errors: string[];
  const outside: string[] = [];

  before(async () => {
    d = await startDaemon("none");
    await d.advance(10_000);
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    errors = watchErrors(page);
    page.on("request", (r) => {
      if (!r.url().startsWith(d.url) && !r.url().startsWith("data:")) outside.push(r.url());
    });
    await page.goto(`${d.url}/`);
    await page.waitForSelector("body[data-ready]");
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  it("loads with no console errors and nothing fetched from anywhere but the daemon", async () => {
    assert.deepEqual(errors, []);
    assert.deepEqual(outside, []);
    const scripts = await page
      .locator("script[src]")
      .evaluateAll((s) => s.map((x) => x.getAttribute("src")));
    assert.deepEqual(scripts, [
      "/assets/uPlot.iife.min.js",
      "/assets/charts.js",
      "/assets/dashboard.js",
    ]);
  });

  it("shows every guest: a row with sizes and units, a chart of its memory and pressure", async () => {
    const rows = page.locator("#guests tbody tr");
    assert.deepEqual(await rows.evaluateAll((r) => r.map((x) => x.getAttribute("data-domain"))), [
      "web",
      "db",
    ]);
    const web = await page.locator('#guests tr[data-domain="web"] td').allTextContents();
    assert.equal(web[0], "web");
    assert.equal(web[4], "4 GiB"); // target
    assert.match(web[5]!, /^\d+(\.\d+)? (MiB|GiB)$/); // floor
    assert.equal(await page.locator('#guest-charts .guest[data-domain="web"] canvas').count(), 1);
    assert.equal(await page.locator("#host-chart canvas").count(), 1);
    const legend = await page
      .locator('#guest-charts .guest[data-domain="web"] .u-legend')
      .textContent();
    for (const l of [
      "actual",
      "target",
      "floor",
      "working set",
      "host RSS",
      "PSI some",
      "PSI full",
    ])
      assert.match(legend ?? "", new RegExp(l));
    await shot(page, "dashboard.png");
  });

  it("moves its charts as the simulated host changes", async () => {
    const chart = page.locator('#guest-charts .guest[data-domain="web"] .guest-chart');
    const before = await chart.screenshot();
    const hostBefore = await page.locator("#host-chart").screenshot();
    const r = await d.daemon.setTarget("web", 2 * GiB, false, false);
    assert.ok(r.ok, r.message);
    await d.advance(30_000);
    await page.waitForFunction(() => Number(document.body.dataset.t) >= 40);
    await page.waitForFunction(() =>
      /actual\s*2(\.00)? GiB/.test(
        document.querySelector('#guest-charts .guest[data-domain="web"] .u-legend')?.textContent ??
          "",
      ),
    );
    const after = await chart.screenshot();
    assert.notDeepEqual(after, before, "the web guest's chart did not change");
    assert.notDeepEqual(await page.locator("#host-chart").screenshot(), hostBefore);
    assert.equal(
      await page.locator('#guests tr[data-domain="web"] td:nth-child(5)').textContent(),
      "2 GiB",
    );
    // The operator's change is in the log and marked on the chart.
    assert.match((await page.locator("#log").textContent()) ?? "", /operator-mem-set/);
    assert.ok(Number(await chart.locator(".uplot").getAttribute("data-markers")) >= 1);
    assert.deepEqual(errors, []);
    await shot(page, "dashboard-moved.png");
  });

  it("filters the guests' rows and charts by name", async () => {
    await page.fill("#guest-filter", "we");
    assert.ok(await page.locator('#guests tr[data-domain="web"]').isVisible());
    assert.ok(await page.locator('#guests tr[data-domain="db"]').isHidden());
    assert.ok(await page.locator('#guest-charts .guest[data-domain="db"]').isHidden());
    await page.fill("#guest-filter", "");
    assert.ok(await page.locator('#guest-charts .guest[data-domain="db"]').isVisible());
  });

  it("refuses an action without the token, and changes nothing", async () => {
    await page.fill("#token", "");
    await page.dispatchEvent("#token", "change");
    await page.selectOption("#policy-select", "squeezed");
    await page.click("#f-policy button");
    await page.waitForSelector("#status.error");
    assert.match((await page.textContent("#status")) ?? "", /refused \(HTTP 401 unauthorized\)/);
    assert.equal(d.daemon.policyName, "none");
    // The browser reports the refused request itself; nothing else went wrong.
    assert.ok(
      errors.every((e) => /401/.test(e)),
      errors.join("\n"),
    );
    errors.length = 0;
  });

  it("does what the CLI does with the token: policy, mem-set, settings, reservations", async () => {
    await page.fill("#token", d.token);
    await page.dispatchEvent("#token", "change");
    await page.selectOption("#policy-select", "squeezed");
    await page.click("#f-policy button");
    await page.waitForSelector("#status.ok");
    assert.equal(d.daemon.policyName, "squeezed");
    await page.waitForFunction(() =>
      /policy squeezed/.test(document.getElementById("hdr-policy")!.textContent!),
    );

    await page.selectOption("#f-memset select", "db");
    await page.fill('#f-memset input[name="size"]', "3GiB");
    await page.click("#f-memset button");
    await page.waitForFunction(() =>
      /db: 4 GiB -> 3 GiB/.test(document.getElementById("status")!.textContent!),
    );
    assert.equal((await d.backend.domains()).find((x) => x.name === "db")!.targetBytes, 3 * GiB);

    await page.selectOption("#f-memset select", "db");
    await page.fill('#f-memset input[name="size"]', "64MiB");
    await page.click("#f-memset button");
    await page.waitForFunction(() =>
      /below-floor/.test(document.getElementById("status")!.textContent!),
    );
    assert.equal((await d.backend.domains()).find((x) => x.name === "db")!.targetBytes, 3 * GiB);
    errors.length = 0; // the 409 is reported by the browser as a failed resource

    await page.selectOption("#f-settings select", "web");
    await page.fill('#f-settings input[name="weight"]', "350");
    await page.click("#f-settings button");
    await page.waitForSelector("#status.ok");
    assert.equal(d.daemon.settings((await d.backend.domains())[0]!).weight, 350);

    await page.fill('#f-reserve input[name="size"]', "1GiB");
    await page.click("#f-reserve button");
    await page.waitForSelector("#reservations tbody tr");
    assert.deepEqual(d.daemon.listReservations(), [{ id: "r1", bytes: GiB }]);
    await page.click("#reservations tbody tr button");
    await page.waitForFunction(
      () => document.querySelectorAll("#reservations tbody tr").length === 0,
    );
    assert.deepEqual(d.daemon.listReservations(), []);
    await shot(page, "dashboard-actions.png");
  });

  it("takes the token from the address (#token=...) and keeps it out of it", async () => {
    const p = await browser.newPage();
    await p.goto(`${d.url}/#token=${d.token}`);
    await p.waitForSelector("body[data-ready]");
    assert.equal(await p.inputValue("#token"), d.token);
    assert.equal(new URL(p.url()).hash, "");
    await p.close();
  });
});
