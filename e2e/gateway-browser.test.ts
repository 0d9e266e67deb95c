/**
 * The gateway with real browsers: Chromium pages load the built ESM of
 * @spwire/core from /core/index.js and talk to a real @spwire/gateway on
 * 127.0.0.1 with the browser's own WebSocket; the upstreams are nng's nngcat
 * and spwire's Node sockets on tcp.
 *
 * One Chromium serves the whole file. Each page is a browser context of its
 * own (its own cookies and connections), as separate tabs of separate users
 * would be. What a page saw is read back from the page itself: the bodies its
 * Sub delivered and the Sub's counters (`stats.msgsIn` counts every message
 * that crossed its WebSocket, before the Sub's own filter).
 */
import assert from "node:assert/strict";
import { after, before, describe, test, type TestContext } from "node:test";
import { Pub } from "@spwire/node";
import type { Gateway } from "@spwire/gateway";
import { metric, startGateway } from "../test-support/gateway.js";
import { freePort, startPeer, until, waitForPort } from "../test-support/peers.js";
import {
  ensureCoreBuilt,
  launchChromium,
  openCorePage,
  serveStatic,
  type CoreModule,
  type CorePage,
  type StaticServer,
} from "./support/browser.js";
import type { Browser } from "playwright-core";

// ---------------------------------------------------------------------------
// In the page. These functions run inside Chromium: they see only their
// arguments and the page's globals, never this file's variables.

type PageSub = InstanceType<CoreModule["Sub"]>;

/** What a page keeps per feed, on globalThis.feeds. */
interface FeedRecord {
  sub: PageSub;
  bodies: string[];
  /** SPError codes (or "clean") of the pipes the Sub lost. */
  removed: string[];
  error: string;
}

interface PageGlobals {
  feeds?: Record<string, FeedRecord>;
  /** Set by the test; still there later means the page was never reloaded. */
  marker?: string;
}

/** A feed as the test reads it back. */
interface FeedView {
  bodies: string[];
  removed: string[];
  error: string;
  /** Messages that crossed the Sub's WebSocket(s), before its own filter. */
  msgsIn: number;
  /** Messages the Sub's own filter dropped (0 when the gateway filtered everything). */
  filtered: number;
  pipesOpened: number;
  dialer: string;
}

/** In the page: a Sub subscribed to `subs`, dialed to `url` with `{ gateway: true }`, recording every body it delivers. */
const openFeed = async (core: CoreModule, a: { name: string; url: string; subs: string[] }): Promise<string> => {
  const g = globalThis as unknown as PageGlobals;
  g.feeds ??= {};
  const sub = new core.Sub({ recvBuffer: 1024 });
  const rec: FeedRecord = { sub, bodies: [], removed: [], error: "" };
  g.feeds[a.name] = rec;
  sub.on("piperemove", (e) => rec.removed.push(e.error?.code ?? "clean"));
  for (const s of a.subs) sub.subscribe(s);
  const d = sub.dial(a.url, { gateway: true });
  await d;
  void (async () => {
    for await (const m of sub) rec.bodies.push(m.text());
  })().catch((err: unknown) => {
    rec.error = String(err);
  });
  return d.currentUrl;
};

/** In the page: a feed's state now. */
const readFeed = (_core: CoreModule, name: string): FeedView => {
  const f = (globalThis as unknown as PageGlobals).feeds![name]!;
  const st = f.sub.stats;
  const dialer = f.sub.dialers[0]?.state ?? "none";
  return { bodies: [...f.bodies], removed: [...f.removed], error: f.error, msgsIn: st.msgsIn, filtered: st.filtered, pipesOpened: st.pipesOpened, dialer };
};

/**
 * In the page: a plain WebSocket (no spwire) offering `protocol`; resolves
 * with how it closed. `closeAfterOpen` closes it from the page once open;
 * otherwise the page waits for the server to close it, and if the server
 * has not within 5 s, closes it itself with 3000 "not closed by the server"
 * (so an accepted connection fails the assertion instead of hanging).
 */
const plainSocket = (
  _core: CoreModule,
  a: { url: string; protocol: string; closeAfterOpen: boolean },
): Promise<{ opened: boolean; code: number; reason: string }> =>
  new Promise((resolve) => {
    const ws = new WebSocket(a.url, a.protocol);
    let opened = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    ws.addEventListener("open", () => {
      opened = true;
      if (a.closeAfterOpen) ws.close(1000, "done");
      else timer = setTimeout(() => ws.close(3000, "not closed by the server"), 5000);
    });
    ws.addEventListener("close", (e) => {
      clearTimeout(timer);
      resolve({ opened, code: e.code, reason: e.reason });
    });
  });

// ---------------------------------------------------------------------------
// In Node.

/** Closes everything a test opened, last first, whether the test passed or not. */
function cleanup(t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => fns.push(fn);
}

/** Poll an async read until `ok` holds (a bounded wait, not a timing assertion); the last value goes into the error. */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, tries = 400, every = 25): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`gave up waiting for: ${what}; last: ${JSON.stringify(last)}`);
}

/** A spwire Pub on a free loopback tcp port: the upstream a route dials. Its queue per pipe is large, so a burst is never trimmed. */
async function upstreamPub(add: (fn: () => unknown) => void): Promise<{ pub: Pub; url: string }> {
  const pub = new Pub({ sendBuffer: 1024 });
  add(() => pub.close());
  const l = await pub.listen("tcp://127.0.0.1:0");
  return { pub, url: l.url };
}

/** The route's shared front socket has `n` browser pipes: all of them are in its fan-out. */
async function browsersAttached(gw: Gateway, path: string, n: number): Promise<void> {
  const r = gw.routes.get(path)!;
  await until(() => r.clients.size === n && r.sockets!.front.pipes.length === n, `${n} browsers on ${path}`);
}

function startsWithAny(body: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => body.startsWith(p));
}

describe("the gateway with Chromium pages", () => {
  let browser: Browser;
  let server: StaticServer;
  before(async () => {
    ensureCoreBuilt();
    server = await serveStatic();
    browser = await launchChromium();
  }, { timeout: 60_000 });
  after(async () => {
    await browser?.close();
    await server?.close();
  }, { timeout: 30_000 });

  async function page(add: (fn: () => unknown) => void): Promise<CorePage> {
    const p = await openCorePage(browser, server);
    add(() => p.close());
    return p;
  }

  test("fan-out to four pages: each gets exactly its own topics, from nngcat and from a deterministic spwire Pub", { timeout: 45_000 }, async (t) => {
    const add = cleanup(t);
    const nngPort = await freePort();
    // nngcat 1.5.2's --interval takes whole seconds ("Integer argument expected." for 0.05): one message a second.
    const nngcat = startPeer("nngcat", ["--pub0", "--listen", `tcp://127.0.0.1:${nngPort}`, "--data", "cpu.h1 42", "--interval", "1"]);
    add(() => nngcat.kill());
    await waitForPort(nngPort).catch((err: Error) => {
      throw new Error(`${err.message}; nngcat stderr: ${nngcat.stderr()}`, { cause: err });
    });
    const { pub, url: seqUpstream } = await upstreamPub(add);
    const gw = await startGateway({
      routes: [
        { path: "/nng", protocol: "sub", upstream: `tcp://127.0.0.1:${nngPort}` },
        { path: "/seq", protocol: "sub", upstream: seqUpstream },
      ],
    });
    add(() => gw.close());
    await until(() => gw.routes.get("/nng")!.up && gw.routes.get("/seq")!.up && pub.pipes.length === 1, "both upstreams connected");

    // Every page also takes "end." on /seq: the last message, so a page that has it has had everything before it.
    const cases = [
      { name: "cpu", seq: ["cpu.", "end."], nng: ["cpu."] },
      { name: "mem", seq: ["mem.", "end."], nng: ["mem."] },
      { name: "alerts+cpu.h2", seq: ["alerts.", "cpu.h2", "end."], nng: ["cpu.h2", "alerts."] },
      { name: "everything", seq: [""], nng: [""] },
    ];
    const pages = await Promise.all(cases.map(() => page(add)));
    const urls = await Promise.all(
      cases.map(async (c, i) => [
        await pages[i]!.run(openFeed, { name: "seq", url: `${gw.url}/seq`, subs: c.seq }),
        await pages[i]!.run(openFeed, { name: "nng", url: `${gw.url}/nng`, subs: c.nng }),
      ]),
    );
    // What each page's Sub told the gateway in its URL.
    assert.deepEqual(
      urls.map(([s, n]) => [new URL(s!).search, new URL(n!).search]),
      [
        ["?sub=cpu.&sub=end.", "?sub=cpu."],
        ["?sub=mem.&sub=end.", "?sub=mem."],
        ["?sub=alerts.&sub=cpu.h2&sub=end.", "?sub=cpu.h2&sub=alerts."],
        ["?sub=", "?sub="],
      ],
    );
    await browsersAttached(gw, "/seq", cases.length);
    await browsersAttached(gw, "/nng", cases.length);

    // The deterministic sequence: topics in a fixed rotation, with near misses of every prefix ("cpu", "memo.", "alerts").
    const topics = ["cpu.h1", "mem.h1", "cpu.h2", "alerts.disk", "mem.swap", "cpu", "memo.x", "alerts", "cpu.h2x"];
    const seq: string[] = [];
    for (let i = 0; i < 90; i++) seq.push(`${topics[i % topics.length]} ${i}`);
    seq.push("end.");
    const readAll = (name: string): Promise<FeedView[]> => Promise.all(pages.map((p) => p.run(readFeed, name)));
    // The two pages nngcat's payload is for, and how many each had once all four pages were attached.
    const nngTakers = [pages[0]!, pages[3]!];
    const nngBefore = await Promise.all(nngTakers.map(async (p) => (await p.run(readFeed, "nng")).bodies.length));
    for (const m of seq) await pub.send(m);

    const seqViews = await eventually(() => readAll("seq"), (vs) => vs.every((v) => v.bodies.includes("end.")), "every page has end. on /seq");
    // Two nngcat messages fanned out while all four pages were attached.
    await eventually(
      () => Promise.all(nngTakers.map((p) => p.run(readFeed, "nng"))),
      (vs) => vs.every((v, i) => v.bodies.length >= nngBefore[i]! + 2),
      "two more nngcat messages at the cpu. page and the everything page",
      600,
    );
    const nngViews = await readAll("nng");

    assert.equal(pub.stats.drops, 0, "the upstream Pub dropped nothing");
    cases.forEach((c, i) => {
      const v = seqViews[i]!;
      assert.equal(v.error, "", `${c.name}: its receive loop`);
      assert.deepEqual(v.bodies, seq.filter((m) => startsWithAny(m, c.seq)), `${c.name}: /seq delivered, in order`);
      // The gateway filtered: nothing else crossed this page's WebSocket.
      assert.equal(v.msgsIn, v.bodies.length, `${c.name}: /seq messages on its WebSocket`);
      assert.equal(v.filtered, 0, `${c.name}: its own filter had nothing to drop on /seq`);
    });
    const [cpu, mem, other, all] = nngViews;
    for (const [name, v] of [["cpu", cpu!], ["everything", all!]] as const) {
      assert.ok(v.bodies.length >= 2, `${name}: nngcat messages on /nng`);
      assert.deepEqual(new Set(v.bodies), new Set(["cpu.h1 42"]), `${name}: only nngcat's payload`);
      assert.equal(v.msgsIn, v.bodies.length, `${name}: /nng messages on its WebSocket`);
    }
    for (const [name, v] of [["mem", mem!], ["alerts+cpu.h2", other!]] as const) {
      assert.deepEqual(v.bodies, [], `${name}: nothing on /nng`);
      assert.equal(v.msgsIn, 0, `${name}: not one message crossed its WebSocket on /nng`);
    }
    // Per /seq message, each page whose subscriptions miss it is one filtered message (the empty prefix filters nothing).
    const missed = cases.reduce((n, c) => n + seq.filter((m) => !startsWithAny(m, c.seq)).length, 0);
    assert.equal(await metric(gw, "filtered_total", { route: "/seq" }), missed);
    // On /nng, every nngcat message is filtered for the mem. page and the alerts.+cpu.h2 page.
    assert.ok((await metric(gw, "filtered_total", { route: "/nng" })) >= 2 * 2);
    assert.equal(await metric(gw, "messages_total", { route: "/seq", direction: "down" }), cases.length * seq.length - missed);
  });

  test("rights from a page: a token in the URL that may read public. delivers no private. message to a Sub subscribed to everything", { timeout: 30_000 }, async (t) => {
    const add = cleanup(t);
    const { pub, url: upstream } = await upstreamPub(add);
    const gw = await startGateway({
      routes: [{ path: "/news", protocol: "sub", upstream }],
      auth: { tokens: [{ token: "tok-public-reader", subject: "public-reader", read: ["public."] }] },
    });
    add(() => gw.close());
    await until(() => gw.routes.get("/news")!.up && pub.pipes.length === 1, "the upstream connected");

    const reader = await page(add);
    // A second page with the same token asks for private. only: the gateway must send it nothing.
    const snooper = await page(add);
    const url = `${gw.url}/news?token=tok-public-reader`;
    const readerUrl = await reader.run(openFeed, { name: "news", url, subs: [""] });
    await snooper.run(openFeed, { name: "news", url, subs: ["private."] });
    assert.equal(new URL(readerUrl).search, "?token=tok-public-reader&sub=");
    await browsersAttached(gw, "/news", 2);

    // Near misses of the read right too: "publicity" and "Public." do not start with "public.".
    const topics = ["public.a", "private.a", "public.b", "private.public.", "publicity", "Public.x", "private.b"];
    const seq: string[] = [];
    for (let i = 0; i < 70; i++) seq.push(`${topics[i % topics.length]} ${i}`);
    seq.push("public.end");
    for (const m of seq) await pub.send(m);

    const v = await eventually(() => reader.run(readFeed, "news"), (x) => x.bodies.includes("public.end"), "public.end at the reader");
    const s = await snooper.run(readFeed, "news");
    const publicOnes = seq.filter((m) => m.startsWith("public."));
    assert.equal(v.error, "");
    assert.equal(v.bodies.filter((b) => b.startsWith("private.")).length, 0, "private. messages in the page");
    assert.equal(v.bodies.length, publicOnes.length, "public. messages in the page");
    assert.deepEqual(v.bodies, publicOnes);
    assert.equal(v.msgsIn, publicOnes.length, "nothing else crossed the reader's WebSocket");
    // Fan-out writes each message to every browser at once, so the snooper's share of public.end has been decided too.
    assert.deepEqual(s.bodies, []);
    assert.equal(s.msgsIn, 0, "not one message crossed the snooper's WebSocket");
    assert.equal(await metric(gw, "filtered_total", { route: "/news" }), seq.length - publicOnes.length + seq.length);
  });

  test("refusals a page can see: 4401 without a token, 4405 from an origin not on the route's list, each counted", { timeout: 30_000 }, async (t) => {
    const add = cleanup(t);
    const { url: upstream } = await upstreamPub(add);
    const gw = await startGateway({
      routes: [
        { path: "/locked", protocol: "sub", upstream },
        // Same page, other origin on the list: refused. The page's real origin on the list: accepted.
        { path: "/foreign", protocol: "sub", upstream, auth: false, origins: ["http://app.example"] },
        { path: "/home", protocol: "sub", upstream, auth: false, origins: [server.origin] },
      ],
      auth: { tokens: [{ token: "tok-any" }] },
    });
    add(() => gw.close());
    const p = await page(add);
    const protocol = "pub.sp.nanomsg.org";

    const noToken = await p.run(plainSocket, { url: `${gw.url}/locked`, protocol, closeAfterOpen: false });
    const withToken = await p.run(plainSocket, { url: `${gw.url}/locked?token=tok-any`, protocol, closeAfterOpen: true });
    const foreign = await p.run(plainSocket, { url: `${gw.url}/foreign`, protocol, closeAfterOpen: false });
    const home = await p.run(plainSocket, { url: `${gw.url}/home`, protocol, closeAfterOpen: true });

    assert.deepEqual(noToken, { opened: true, code: 4401, reason: "token-missing" });
    assert.deepEqual(foreign, { opened: true, code: 4405, reason: "origin" });
    // The controls: the same page gets in with a token, and from its own origin; it closes them itself.
    assert.deepEqual(withToken, { opened: true, code: 1000, reason: "done" });
    assert.deepEqual(home, { opened: true, code: 1000, reason: "done" });
    assert.equal(await metric(gw, "refusals_total", { route: "/locked", reason: "token-missing" }), 1);
    assert.equal(await metric(gw, "refusals_total", { route: "/foreign", reason: "origin" }), 1);
    assert.equal(await metric(gw, "refusals_total"), 2, "no other refusal");
    assert.equal(await metric(gw, "connections_opened_total", { route: "/locked" }), 1);
    assert.equal(await metric(gw, "connections_opened_total", { route: "/home" }), 1);
  });

  test("a page's Req gets \"pong\" from nngcat --rep0 through the gateway, for several requests at once from two pages", { timeout: 30_000 }, async (t) => {
    const add = cleanup(t);
    const port = await freePort();
    const nngcat = startPeer("nngcat", ["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "pong", "--quoted"]);
    add(() => nngcat.kill());
    await waitForPort(port).catch((err: Error) => {
      throw new Error(`${err.message}; nngcat stderr: ${nngcat.stderr()}`, { cause: err });
    });
    const gw = await startGateway({ routes: [{ path: "/rpc", protocol: "req", upstream: `tcp://127.0.0.1:${port}` }] });
    add(() => gw.close());
    await until(() => gw.routes.get("/rpc")!.up, "the upstream connected");
    const pages = await Promise.all([page(add), page(add)]);

    const ask = (core: CoreModule, a: { url: string; bodies: string[] }): Promise<string[]> => {
      const req = new core.Req();
      req.dial(a.url);
      return Promise.all(a.bodies.map((b) => req.request(b, { timeout: 10_000 }).then((m) => m.text()))).finally(() => req.close());
    };
    const bodies = pages.map((_, i) => [0, 1, 2, 3, 4].map((j) => `ping ${i}.${j}`));
    const replies = await Promise.all(pages.map((p, i) => p.run(ask, { url: `${gw.url}/rpc`, bodies: bodies[i]! })));

    assert.deepEqual(replies, [Array(5).fill("pong"), Array(5).fill("pong")]);
    const all = bodies.flat();
    await until(() => nngcat.stdout().toString().split("\n").length > all.length, "nngcat printed every request");
    const printed = nngcat.stdout().toString().trimEnd().split("\n").sort();
    assert.deepEqual(printed, all.map((b) => `"${b}"`).sort(), `nngcat stderr: ${nngcat.stderr()}`);
    assert.equal(await metric(gw, "messages_total", { route: "/rpc", direction: "up" }), all.length);
    assert.equal(await metric(gw, "messages_total", { route: "/rpc", direction: "down" }), all.length);
  });

  test("a page's Sub redials a restarted gateway by itself and messages resume, without a reload", { timeout: 45_000 }, async (t) => {
    const add = cleanup(t);
    const { pub, url: upstream } = await upstreamPub(add);
    let n = 0;
    const ticker = setInterval(() => void pub.send(`tick ${n++}`), 20);
    add(() => clearInterval(ticker));
    const port = await freePort();
    const input = { listen: `ws://127.0.0.1:${port}`, routes: [{ path: "/ticks", protocol: "sub" as const, upstream }] };
    const gw1 = await startGateway(input);
    add(() => gw1.close());
    const p = await page(add);
    await p.run(openFeed, { name: "ticks", url: `ws://127.0.0.1:${port}/ticks`, subs: ["tick "] });
    await p.page.evaluate(() => {
      (globalThis as unknown as PageGlobals).marker = "loaded once";
    });
    const seq = (b: string): number => Number(b.slice("tick ".length));
    const before = await eventually(() => p.run(readFeed, "ticks"), (v) => v.bodies.length >= 3, "ticks through the first gateway");
    assert.equal(before.pipesOpened, 1);

    await gw1.close();
    const down = await eventually(() => p.run(readFeed, "ticks"), (v) => v.removed.length === 1, "the page's Sub lost its pipe");
    const gw2 = await startGateway(input);
    add(() => gw2.close());
    // Ticks published from here on can only have come through the second gateway.
    const restartedAt = n;
    const v = await eventually(
      () => p.run(readFeed, "ticks"),
      (x) => x.bodies.some((b) => seq(b) > restartedAt),
      "ticks published after the restart reach the page",
      600,
    );

    assert.equal(v.error, "");
    assert.equal(v.pipesOpened, 2, "one redial, by the Sub's own dialer");
    assert.equal(v.dialer, "connected");
    assert.equal(v.removed.length, 1);
    assert.ok(v.bodies.length > down.bodies.length);
    const seqs = v.bodies.map(seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "ticks in order");
    assert.equal(new Set(seqs).size, seqs.length, "no tick twice");
    assert.equal(await metric(gw2, "connections_opened_total", { route: "/ticks" }), 1);
    assert.equal(gw2.routes.get("/ticks")!.clients.size, 1);
    // The same page, never reloaded: the marker set before the restart is still there.
    assert.equal(await p.page.evaluate(() => (globalThis as unknown as PageGlobals).marker), "loaded once");
  });
});
