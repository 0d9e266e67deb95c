#!/usr/bin/env node
/**
 * Remake docs/dashboard.png, the README's picture of the live dashboard: runs
 * `npm start` (scripts/start.mjs, on free ports; it builds the dashboard if
 * stale), opens the dashboard in Debian's Chromium at 1200x800, lets the
 * charts fill for a while and a few alerts come in, and saves the page.
 *
 *   node scripts/screenshot.mjs [--out docs/dashboard.png] [--seconds 40] [--alerts 2]
 *
 * --seconds is how long the feed runs before the picture (the charts show
 * the last 60 s); the picture then waits, a bounded while, for at least
 * --alerts alerts in the list. The e2e tests save their own screenshots under
 * test-results/screenshots/ on every run; this one is committed.
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: o } = parseArgs({
  options: {
    out: { type: "string", default: join(root, "docs", "dashboard.png") },
    seconds: { type: "string", default: "40" },
    alerts: { type: "string", default: "2" },
  },
});
const seconds = Number(o.seconds);
const wantAlerts = Number(o.alerts);
if (!(seconds >= 0) || !(wantAlerts >= 0)) {
  console.error("screenshot: --seconds and --alerts must be numbers >= 0");
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const start = spawn(process.execPath, ["scripts/start.mjs", "--port", "0", "--feed", "tcp://127.0.0.1:0", "--rpc", "tcp://127.0.0.1:0"], {
  cwd: root,
  stdio: ["ignore", "pipe", "pipe"],
});
let out = "";
start.stdout.on("data", (b) => (out += b));
start.stderr.on("data", (b) => (out += b));
const exited = new Promise((resolve) => start.once("close", (code, signal) => resolve(code ?? signal)));

let browser;
let failed = false;
try {
  for (let i = 0; !/Ctrl-C stops everything/.test(out); i++) {
    if (start.exitCode !== null || i > 1200) throw new Error(`npm start did not come up:\n${out}`);
    await sleep(50);
  }
  const url = /dashboard\s+(http:\/\/\S+)/.exec(out)[1];
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    headless: true,
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.waitForFunction(() => window.__dashboard?.state === "connected" && window.__dashboard.received > 0, undefined, { timeout: 30_000 });
  console.log(`screenshot: ${url} is receiving; letting the charts fill for ${seconds} s...`);
  await sleep(seconds * 1000);
  const alerts = () => page.locator('[data-testid="alert"]').count();
  for (let i = 0; i < 60 && (await alerts()) < wantAlerts; i++) await sleep(1000);
  // Past the move of the mouse or a half-painted frame: take the picture on a fresh animation frame.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  mkdirSync(dirname(o.out), { recursive: true });
  await page.screenshot({ path: o.out });
  const d = await page.evaluate(() => window.__dashboard);
  console.log(`screenshot: wrote ${relative(process.cwd(), o.out)} (${d.received} messages, ${await alerts()} alerts shown)`);
} catch (err) {
  failed = true;
  console.error(`screenshot: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await browser?.close();
  if (start.exitCode === null && start.signalCode === null) start.kill("SIGINT");
  await exited;
}
process.exit(failed ? 1 : 0);
