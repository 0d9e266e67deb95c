/**
 * The plain-<script> build: a static HTML page that loads dist/spwire.iife.js
 * (no modules, no bundler) and uses the global `spwire` in real Chromium to
 * talk to Debian's nngcat listening on ws directly, with no gateway between:
 * a Sub receives nngcat's publication, a Req gets nngcat's reply.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { freePort, startPeer, waitForPort } from "../test-support/peers.js";
import { launchChromium, repoRoot, serveStatic, type StaticServer } from "./support/browser.js";

const dist = join(repoRoot, "dist");

/** `npm install` builds dist/ (prepare); when one file is run by hand on a tree without it, build it here. */
function ensureBrowserBuild(): void {
  if (existsSync(join(dist, "spwire.iife.js"))) return;
  const r = spawnSync("npm", ["run", "build"], { cwd: repoRoot, encoding: "utf8" });
  if (r.status !== 0 || !existsSync(join(dist, "spwire.iife.js"))) {
    throw new Error(`npm run build did not produce dist/spwire.iife.js:\n${r.stdout}${r.stderr}`);
  }
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>spwire from a script tag</title>
<link rel="icon" href="data:,">
<script src="/dist/spwire.iife.js"></script>
<script>
  // Nothing but the global the IIFE defines.
  window.loaded = typeof spwire === "object" && typeof spwire.Sub === "function" && typeof spwire.Req === "function";
</script>
`;

describe("dist/spwire.iife.js in a plain HTML page, against nngcat over ws", () => {
  let browser: Browser;
  let server: StaticServer;
  let page: Page;
  let pageDir: string;

  before(async () => {
    ensureBrowserBuild();
    pageDir = mkdtempSync(join(tmpdir(), "spwire-iife-"));
    writeFileSync(join(pageDir, "index.html"), PAGE);
    server = await serveStatic({ "/dist/": dist, "/page/": pageDir });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`${server.origin}/page/index.html`);
    assert.equal(await page.evaluate(() => (window as unknown as { loaded: boolean }).loaded), true, `page loaded the IIFE (${server.requests.join(", ")})`);
  }, { timeout: 120_000 });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (pageDir !== undefined) rmSync(pageDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  test("spwire.Sub gets nngcat --pub0's message and nothing it did not subscribe to", async (t) => {
    const port = await freePort();
    const nngcat = startPeer("nngcat", ["--pub0", "--listen", `ws://127.0.0.1:${port}/feed`, "--data", "cpu.h1 42", "--interval", "1"]);
    t.after(() => nngcat.kill());
    await waitForPort(port);
    const got = await page.evaluate(async (url) => {
      const g = globalThis as unknown as { spwire: typeof import("@spwire/core/browser") };
      const cpu = new g.spwire.Sub();
      const mem = new g.spwire.Sub();
      cpu.subscribe("cpu.");
      mem.subscribe("mem.");
      cpu.dial(url);
      mem.dial(url);
      try {
        const a = await cpu.recv({ timeout: 15_000 });
        const b = await cpu.recv({ timeout: 15_000 });
        // By now nngcat has published at least twice to both pages; the mem. one kept nothing.
        const memGot = await mem.recv({ timeout: 1 }).then((m) => m.text(), (e: { code?: string }) => e.code);
        return { texts: [a.text(), b.text()], memGot, memPipes: mem.pipes.length };
      } finally {
        await cpu.close();
        await mem.close();
      }
    }, `ws://127.0.0.1:${port}/feed`);
    assert.deepEqual(got.texts, ["cpu.h1 42", "cpu.h1 42"]);
    // nng filters at the subscriber: the mem. socket was connected all along and delivered nothing.
    assert.equal(got.memPipes, 1);
    assert.equal(got.memGot, "ETIMEDOUT");
  });

  test("spwire.Req gets nngcat --rep0's reply, several requests in flight at once", async (t) => {
    const port = await freePort();
    const nngcat = startPeer("nngcat", ["--rep0", "--listen", `ws://127.0.0.1:${port}/rpc`, "--data", "pong", "--quoted"]);
    t.after(() => nngcat.kill());
    await waitForPort(port);
    const replies = await page.evaluate(async (url) => {
      const g = globalThis as unknown as { spwire: typeof import("@spwire/core/browser") };
      const req = new g.spwire.Req();
      req.dial(url);
      try {
        const rs = await Promise.all(["a", "b", "c"].map((x) => req.request(`ping-${x}`, { timeout: 15_000 })));
        return rs.map((r) => r.text());
      } finally {
        await req.close();
      }
    }, `ws://127.0.0.1:${port}/rpc`);
    assert.deepEqual(replies, ["pong", "pong", "pong"]);
    const printed = nngcat.stdout().toString();
    for (const x of ["a", "b", "c"]) assert.ok(printed.includes(`"ping-${x}"`), `nngcat printed ping-${x}: ${printed}`);
  });
});
