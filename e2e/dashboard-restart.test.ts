/**
 * The live dashboard in real Chromium across a gateway that dies: the
 * spwire-gateway program (its own process, serving the built dashboard and
 * the /feed route as `npm start` configures them, fed by the sample feed) is
 * killed with SIGKILL and started again on the same port. The page's badge
 * goes to reconnecting, counts its failed attempts, comes back to connected,
 * and messages resume, all without a reload.
 *
 * The badge's data-state is recorded in the page by a MutationObserver set up
 * before the page's own script runs, so every state it showed is asserted,
 * in order.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { startFeed } from "../examples/feed/feed.js";
import { startGatewayProc, writeConfig, type GatewayProc } from "../test-support/gateway-proc.js";
import { freePort } from "../test-support/peers.js";
import { dashboardDist, openExamplePage, cleanup, dashboardBrowser } from "./support/dashboard.js";

describe("the live dashboard across a gateway restart", () => {
  const browser = dashboardBrowser();

  test("SIGKILL the gateway and start it again on the same port: reconnecting, then connected, and the count keeps rising, without a reload", { timeout: 90_000 }, async (t) => {
    const add = cleanup(t);
    const feed = await startFeed({ listen: ["tcp://127.0.0.1:0"], rate: 20 });
    add(() => feed.close());
    const dir = mkdtempSync(join(tmpdir(), "spwire-dashboard-restart-"));
    add(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    // The gateway as examples/start.ts configures it.
    const config = writeConfig(dir, {
      listen: `ws://127.0.0.1:${port}`,
      static: dashboardDist,
      shutdownTimeout: 1000,
      routes: [{ path: "/feed", protocol: "sub", upstream: feed.listeners[0]!.url, queue: { policy: "latest" }, topicDelimiter: " " }],
    });
    const procs: GatewayProc[] = [];
    add(() => procs.forEach((p) => p.kill()));
    const startOne = async (): Promise<GatewayProc> => {
      const p = await startGatewayProc(config);
      procs.push(p);
      return p;
    };

    const gw1 = await startOne();
    const d = await openExamplePage(browser(), `${gw1.http}/`);
    add(() => d.close());
    await d.until(() => d.dashboard(), (x) => x.state === "connected" && x.received >= 30, "30 messages through the first gateway");
    await d.page.evaluate(() => {
      (globalThis as unknown as { marker?: string }).marker = "loaded once";
    });

    gw1.kill("SIGKILL");
    assert.equal(await gw1.exited, "SIGKILL");
    // Down: the badge says so, and the dialer's failed attempts are counted on the page.
    await d.until(() => d.dashboard(), (x) => x.state === "reconnecting", "the page to see the gateway gone");
    await d.until(() => d.text("attempts"), (a) => Number(a) >= 2, "two failed attempts shown");
    const down = await d.dashboard();
    assert.equal(await d.text("badge"), "reconnecting");
    assert.equal(await d.page.getByTestId("badge").getAttribute("data-state"), "reconnecting");
    await d.screenshot("dashboard-gateway-down");

    const gw2 = await startOne();
    assert.equal(gw2.url, gw1.url, "the same port");
    const v = await d.until(
      () => d.dashboard(),
      (x) => x.state === "connected" && x.received >= down.received + 30,
      "30 more messages through the restarted gateway",
      1200,
    );
    await d.screenshot("dashboard-gateway-back");

    assert.deepEqual(await d.badges(), ["connecting", "connected", "reconnecting", "connected"], "the badge's states, in order");
    assert.equal(await d.text("badge"), "connected");
    assert.equal(await d.text("attempts"), "0", "the attempt count starts over once connected");
    assert.ok(v.received > down.received);
    assert.deepEqual(v.topics, ["cpu", "mem", "net", "alerts"]);
    // The restarted gateway had exactly one browser connection: this page's redial.
    assert.equal(await gw2.metric("connections_opened_total", { route: "/feed" }), 1);
    assert.ok((await gw2.metric("messages_total", { route: "/feed", direction: "down" })) >= 30);
    // The same page, never reloaded.
    assert.equal(await d.page.evaluate(() => (globalThis as unknown as { marker?: string }).marker), "loaded once");
    assert.equal(await d.page.evaluate(() => performance.getEntriesByType("navigation").length), 1);
  });
});
