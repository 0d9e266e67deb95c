/**
 * The live dashboard (examples/dashboard) in real Chromium, served by the
 * gateway that `npm start` runs, fed by the sample feed and by Debian's
 * `nngcat --pub0`; and its topic picker, which changes what the gateway sends.
 *
 * What the page shows is read from the page: `window.__dashboard` (message
 * counts by topic family, link state, topics chosen), the data-testid
 * elements, the badge's data-state as it changed (a MutationObserver set up
 * before the page's script), and the pixels of the charts' canvases. What the
 * gateway sent is read from its /metrics. Screenshots of each state go to
 * test-results/screenshots/.
 *
 * The restart of the gateway is in dashboard-restart.test.ts, the rpc page in
 * dashboard-rpc.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { Sub } from "@spwire/node";
import { startGateway } from "../test-support/gateway.js";
import { freePort, startPeer, until, waitForPort } from "../test-support/peers.js";
import { dashboardDist, npmStart, openExamplePage, scrape, type ExamplePage, type NpmStart, cleanup, dashboardBrowser } from "./support/dashboard.js";

/** The sample feed's hosts (examples/feed/feed.ts). */
const HOSTS = ["web-1", "web-2", "db-1"];
const FAMILIES = ["cpu", "mem", "net", "alerts"];

/** The series names in a chart's legend (uPlot's first row is the x axis, "Time"). */
async function legend(page: Page, chart: string): Promise<string[]> {
  return page.locator(`[data-testid="${chart}"] .u-legend .u-series .u-label`).allTextContents();
}

/**
 * Pixels of the chart's canvas drawn in one of the first `n` series colours
 * (examples/dashboard/src/main.ts, COLORS): the lines of data, not the axes
 * or the grid, which are grey.
 */
async function seriesPixels(page: Page, chart: string, n: number): Promise<number> {
  return page.evaluate(
    ([testid, n]) => {
      const colors = ["#2563eb", "#dc2626", "#059669", "#d97706"].slice(0, n).map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
      const canvas = document.querySelector<HTMLCanvasElement>(`[data-testid="${testid}"] canvas`);
      if (canvas === null || canvas.width === 0) return 0;
      const px = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let hits = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3]! < 200) continue;
        if (colors.some(([r, g, b]) => Math.abs(px[i]! - r!) < 24 && Math.abs(px[i + 1]! - g!) < 24 && Math.abs(px[i + 2]! - b!) < 24)) hits++;
      }
      return hits;
    },
    [chart, n] as const,
  );
}

/** A Node Sub straight on the feed (no gateway), counting what the feed published by topic family: messages and body bytes. */
async function feedCounter(url: string, add: (fn: () => unknown) => void): Promise<() => { messages: number; bytes: Record<string, number>; total: number }> {
  const sub = new Sub({ recvBuffer: 4096 });
  add(() => sub.close());
  sub.subscribe("");
  await sub.dial(url);
  let messages = 0;
  const bytes: Record<string, number> = {};
  void (async () => {
    for await (const m of sub) {
      messages++;
      const body = m.text();
      const family = body.slice(0, body.indexOf("."));
      bytes[family] = (bytes[family] ?? 0) + m.body.length;
    }
  })().catch(() => undefined);
  return () => ({ messages, bytes: { ...bytes }, total: Object.values(bytes).reduce((a, b) => a + b, 0) });
}

describe("the live dashboard in Chromium", () => {
  const browser = dashboardBrowser();

  async function open(url: string, add: (fn: () => unknown) => void): Promise<ExamplePage> {
    const d = await openExamplePage(browser(), url);
    add(() => d.close());
    return d;
  }

  describe("served by npm start, fed by the sample feed", () => {
    let run: NpmStart | undefined;
    before(async () => {
      const port = await freePort();
      run = await npmStart(["--port", String(port), "--feed", "tcp://127.0.0.1:0", "--rpc", "tcp://127.0.0.1:0", "--no-build"]);
    }, { timeout: 90_000 });
    after(async () => {
      // Ctrl-C, as a user stops it; e2e/start.test.ts checks how that ends.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ended = await Promise.race([run?.stop(), new Promise((r) => (timer = setTimeout(r, 15_000)))]);
      clearTimeout(timer);
      if (ended === undefined) run?.kill();
    }, { timeout: 30_000 });

    test("shows the feed's messages: counts by topic, rate, delay, a connected badge, and charts with a line per host", { timeout: 45_000 }, async (t) => {
      const add = cleanup(t);
      const d = await open(run!.base, add);
      const v = await d.until(
        () => d.dashboard(),
        (x) => x.state === "connected" && ["cpu", "mem", "net"].every((f) => (x.byTopic[f] ?? 0) >= 30) && x.rate > 0 && x.delayMs >= 0,
        "30 messages of each of cpu, mem and net, a rate and a delay",
      );
      // Every host's line drawn on the cpu and memory charts.
      await d.until(() => legend(d.page, "chart-cpu"), (names) => HOSTS.every((h) => names.includes(h)), "a cpu series per host");
      await d.until(() => legend(d.page, "chart-mem"), (names) => HOSTS.every((h) => names.includes(h)), "a mem series per host");
      await d.until(() => legend(d.page, "chart-net"), (names) => HOSTS.every((h) => names.includes(h)), "a net series per host");
      for (const chart of ["chart-cpu", "chart-mem", "chart-net"]) {
        await d.until(() => seriesPixels(d.page, chart, HOSTS.length), (n) => n >= 100, `${chart}: lines drawn in the series' colours`);
      }
      await d.screenshot("dashboard-sample-feed");

      assert.deepEqual(v.topics, FAMILIES, "every topic chosen");
      assert.deepEqual(Object.keys(v.byTopic).filter((k) => !FAMILIES.includes(k)), [], "no message outside the feed's families");
      assert.equal(Object.values(v.byTopic).reduce((a, b) => a + b, 0), v.received, "every message counted under its family");
      // What the page shows, as a person reads it.
      assert.equal(await d.text("badge"), "connected");
      assert.equal(await d.page.getByTestId("badge").getAttribute("data-state"), "connected");
      assert.equal(await d.text("url"), `${run!.base.replace(/^http/, "ws")}feed`);
      const shown = Number(await d.text("count"));
      const now = await d.dashboard();
      assert.ok(shown >= v.received && shown <= now.received, `count shown (${shown}) between ${v.received} and ${now.received}`);
      assert.ok(Number(await d.text("rate")) > 0, "a message rate shown");
      assert.match(await d.text("delay"), /^\d+\.\d$/, "an end-to-end delay shown, in ms");
      assert.equal(await d.text("attempts"), "0");
      assert.deepEqual(await d.badges(), ["connecting", "connected"]);
    });

    test("the topic picker: unchecking mem and net stops them at the gateway, which then sends that connection fewer bytes per message published", { timeout: 60_000 }, async (t) => {
      const add = cleanup(t);
      const published = await feedCounter(run!.feedUrl, add);
      const d = await open(run!.base, add);
      const route = { route: "/feed" };
      const m = (): Promise<{ bytes: number; filtered: number; open: number; opened: number }> =>
        scrape(run!.base, {
          bytes: ["bytes_total", { ...route, direction: "down" }],
          filtered: ["filtered_total", route],
          open: ["connections", route],
          opened: ["connections_opened_total", route],
        });
      await d.until(() => d.dashboard(), (x) => x.state === "connected" && x.received >= 20, "the page receiving");
      // This page is the route's only connection: the route's bytes are this connection's bytes.
      await d.until(m, (x) => x.open === 1, "one connection on /feed");

      /** The gateway's and the feed's counts across `n` more published messages. */
      const window = async (n: number, more: (v: { cpu: number }) => boolean = () => true) => {
        const [m0, c0, p0] = [await m(), published(), await d.dashboard()];
        await until(() => published().messages >= c0.messages + n, `${n} more messages from the feed`, 2400);
        const p1 = await d.until(() => d.dashboard(), (x) => more({ cpu: (x.byTopic.cpu ?? 0) - (p0.byTopic.cpu ?? 0) }), "cpu messages at the page");
        const [m1, c1] = [await m(), published()];
        const fam = (f: string): number => (c1.bytes[f] ?? 0) - (c0.bytes[f] ?? 0);
        return { sent: m1.bytes - m0.bytes, filtered: m1.filtered - m0.filtered, open: m1.open, feed: c1.total - c0.total, fam, p0, p1, opened: m1.opened };
      };

      // All four topics: the gateway sends this connection everything the feed publishes.
      const all = await window(360);
      assert.equal(all.filtered, 0, "nothing filtered while every topic is chosen");
      assert.equal(all.open, 1);

      // Uncheck mem and net, as a person clicks them (both in one task, so the Sub redials once with both gone).
      await d.page.evaluate(() => {
        for (const t of ["mem", "net"]) document.querySelector<HTMLInputElement>(`[data-testid="topic-${t}"]`)!.click();
      });
      assert.equal(await d.page.getByTestId("topic-mem").isChecked(), false);
      assert.equal(await d.page.getByTestId("topic-net").isChecked(), false);
      // The Sub redials with the new ?sub= list: a new connection replaces the old one, and the gateway filters for it.
      await d.until(m, (x) => x.opened > all.opened && x.open === 1 && x.filtered > 0, "the redialed connection, filtered by the gateway");
      await d.until(() => d.dashboard(), (x) => x.state === "connected", "the page connected again");

      const some = await window(360, (x) => x.cpu >= 30);
      for (const f of ["mem", "net"]) assert.equal(some.p1.byTopic[f], some.p0.byTopic[f], `no ${f} message reached the page`);
      assert.ok(some.p1.byTopic.cpu! >= some.p0.byTopic.cpu! + 30, "cpu messages keep arriving");
      assert.deepEqual(some.p1.topics, ["cpu", "alerts"]);
      assert.equal(some.open, 1);
      assert.ok(some.filtered > 0, "the gateway filtered mem and net for this connection");

      // Bytes sent down per byte the feed published: about all of it before, about cpu's + alerts' share after (~1/3).
      const before = all.sent / all.feed;
      const afterwards = some.sent / some.feed;
      const share = (some.fam("cpu") + some.fam("alerts")) / some.feed;
      t.diagnostic(
        `all topics: ${all.sent} B sent for ${all.feed} B published (${before.toFixed(2)}); ` +
          `cpu+alerts: ${some.sent} B sent for ${some.feed} B published (${afterwards.toFixed(2)}; their share ${share.toFixed(2)}); ` +
          `filtered ${some.filtered}`,
      );
      assert.ok(before > 0.75, `with every topic the connection got most of the feed's bytes (${before.toFixed(2)})`);
      assert.ok(afterwards < 0.5, `with cpu and alerts only it got less than half (${afterwards.toFixed(2)})`);
      assert.ok(afterwards < before * 0.6, `fewer bytes per byte published than before (${afterwards.toFixed(2)} vs ${before.toFixed(2)})`);
      await d.screenshot("dashboard-cpu-and-alerts-only");
    });
  });

  test("shows nngcat --pub0's messages (a plain number under cpu.nngcat) through the gateway", { timeout: 45_000 }, async (t) => {
    const add = cleanup(t);
    const port = await freePort();
    // nngcat repeats one payload, once a second (--interval takes whole seconds). The dashboard reads
    // `<topic> <number>` as a value stamped with its arrival time.
    const nngcat = startPeer("nngcat", ["--pub0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "cpu.nngcat 42", "--interval", "1"]);
    add(() => nngcat.kill());
    await waitForPort(port).catch((err: Error) => {
      throw new Error(`${err.message}; nngcat stderr: ${nngcat.stderr()}`, { cause: err });
    });
    // The gateway as npm start configures it, with nngcat as its --upstream.
    const gw = await startGateway({
      static: dashboardDist,
      routes: [{ path: "/feed", protocol: "sub", upstream: `tcp://127.0.0.1:${port}`, queue: { policy: "latest" }, topicDelimiter: " " }],
    });
    add(() => gw.close());
    await until(() => gw.routes.get("/feed")!.up, "the gateway dialed nngcat");

    const d = await open(`${gw.url.replace(/^ws/, "http")}/`, add);
    const v = await d.until(() => d.dashboard(), (x) => x.state === "connected" && x.received >= 3, "three messages from nngcat", 1200);
    await d.until(() => legend(d.page, "chart-cpu"), (names) => names.includes("nngcat"), "a cpu series named nngcat");
    await d.until(() => seriesPixels(d.page, "chart-cpu", 1), (n) => n >= 20, "nngcat's line drawn");
    await d.screenshot("dashboard-nngcat");

    assert.deepEqual(v.byTopic, { cpu: v.received, mem: 0, net: 0, alerts: 0 }, "every message counted as cpu");
    assert.equal(await d.page.locator('[data-testid="chart-mem"] canvas').count(), 0, "no memory chart drawn: nothing came for it");
    // nngcat's payload has no send time, so no delay can be measured.
    assert.equal(await d.text("delay"), "–");
    assert.equal(await d.text("badge"), "connected");
    assert.ok(Number(await d.text("count")) >= 3);
  });
});
