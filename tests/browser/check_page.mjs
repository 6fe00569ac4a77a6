// Opens one portflow page (a report file or a `portflow ui` URL) in
// Debian's headless Chromium and prints what it shows as JSON, for the C++
// tests to assert (tests/e2e/report_browser_test.cc): the console's errors,
// each instance row and DAG node with its state, the timeline's bars in
// document order, the cost total; and saves a screenshot.
//
//   node check_page.mjs URL SCREENSHOT.png [--follow INSTANCE FROM TO RELEASE_FILE]
//   node check_page.mjs URL SCREENSHOT.png [--follow-log FIRST RELEASE_FILE THEN]
//
// --follow: waits for INSTANCE's row to say FROM, creates RELEASE_FILE
// (which the test's step waits for), then waits for TO without reloading
// the page, and says whether the page was reloaded. --follow-log: the same
// on a log page, for the text FIRST, then THEN.
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";

const [url, screenshot, flag, instance, from, to, release] = process.argv.slice(2);
const executablePath = process.env.PORTFLOW_CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const out = { consoleErrors: [], reloaded: false };
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
  page.on("requestfailed", (r) => out.consoleErrors.push("request failed: " + r.url()));
  await page.goto(url, { waitUntil: "load" });
  // From the navigation's start to its load event's end: the page drawn.
  out.loadMs = await page.evaluate(
      () => performance.getEntriesByType("navigation")[0]?.loadEventEnd ?? -1);
  if (flag === "--follow") {
    await page.evaluate(() => { window.portflowSamePage = true; });
    const row = `tr.instance[data-instance="${instance}"]`;
    await page.waitForSelector(`${row}[data-state="${from}"]`, { timeout: 60000 });
    out.seenBefore = await page.getAttribute(row, "data-state");
    writeFileSync(release, "go\n");
    await page.waitForSelector(`${row}[data-state="${to}"]`, { timeout: 60000 });
    out.reloaded = !(await page.evaluate(() => window.portflowSamePage === true));
  } else if (flag === "--follow-log") {
    const [first, releaseFile, then] = [instance, from, to];
    await page.evaluate(() => { window.portflowSamePage = true; });
    const has = (text) => page.waitForFunction(
        (t) => document.getElementById("log-lines")?.textContent.includes(t), text,
        { timeout: 60000 });
    await has(first);
    writeFileSync(releaseFile, "go\n");
    await has(then);
    out.reloaded = !(await page.evaluate(() => window.portflowSamePage === true));
  }
  Object.assign(out, await page.evaluate(() => {
    const all = (sel) => Array.from(document.querySelectorAll(sel));
    const cost = document.getElementById("cost-total");
    return {
      title: document.title,
      runState: document.querySelector("header .badge")?.dataset.state ?? "",
      rows: all("tr.instance").map((r) => ({ name: r.dataset.instance, state: r.dataset.state })),
      nodes: all("#dag [data-instance]").map((n) => ({ name: n.dataset.instance, state: n.dataset.state })),
      bars: all("#timeline g.bar").map((b) => ({
        instance: b.dataset.instance, attempt: Number(b.dataset.attempt),
        lane: b.dataset.lane, state: b.dataset.state, start: Number(b.dataset.start),
        width: b.getBoundingClientRect().width,
      })),
      lanes: all("#timeline g.lane").map((l) => l.dataset.lane),
      costTotal: cost ? Number(cost.dataset.usd) : null,
      decisions: all("#decisions li").length,
      runs: all("tr.run").map((r) => ({ id: r.dataset.run, state: r.dataset.state })),
      logLines: all("#log-lines").map((p) => p.textContent),
      data: JSON.parse(document.getElementById("portflow-run")?.textContent ?? "null"),
    };
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  out.error = String(e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
