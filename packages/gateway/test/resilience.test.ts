/**
 * The gateway under failure: restarted itself while traffic flows, an
 * upstream that dies and comes back, garbage from a browser and from an
 * upstream, and a graceful shutdown with connected browsers. Real peers
 * (spwire sockets, nngcat, node:net fakes for the garbage), no timing
 * assertions: bounded waits, then counts, bytes, close codes and metrics.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket as NetSocket } from "node:net";
import { Pub, Rep, Req, Sub, silentLogger, type Message } from "@spwire/node";
import { freePort, startPeer, until, waitForPort, type Peer } from "../../../test-support/peers.js";
import { httpUrl, metric, rawClient, startGateway } from "../../../test-support/gateway.js";
import type { Gateway } from "@spwire/gateway";

/** Like until(), for a condition that has to await (a metric). */
async function untilAsync(cond: () => Promise<boolean>, what: string, tries = 400, every = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Client sockets redial fast and never back off far, so a restart is picked up within a fraction of a second. */
const CLIENT = { logger: silentLogger, reconnectMinTime: 50, reconnectMaxTime: 300 };

/** Read every message a socket gets until it closes; `onMsg` sees each. */
function drain(sock: Sub, onMsg: (m: Message) => void): Promise<void> {
  return (async () => {
    for (;;) {
      let m: Message;
      try {
        m = await sock.recv();
      } catch {
        // ECLOSED: the test closed the socket.
        return;
      }
      onMsg(m);
    }
  })();
}

/** A spwire Rep that answers every request with its own body. */
function echo(rep: Rep): Promise<void> {
  return (async () => {
    for (;;) {
      let m: Message;
      try {
        m = await rep.recv();
      } catch {
        return;
      }
      rep.reply(m, m.body).catch(() => undefined);
    }
  })();
}

function nngcat(peers: Peer[], args: string[]): Peer {
  const p = startPeer("nngcat", args);
  peers.push(p);
  return p;
}

test("the gateway restarted on the same port under traffic: clients redial by themselves, every request gets its own echo", async () => {
  const pub = new Pub({ logger: silentLogger });
  const rep = new Rep({ logger: silentLogger });
  const sub = new Sub(CLIENT);
  const req = new Req({ ...CLIENT, resendTime: 200 });
  let gw: Gateway | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let stop = false;
  try {
    const pubUrl = (await pub.listen("tcp://127.0.0.1:0")).url;
    const repUrl = (await rep.listen("tcp://127.0.0.1:0")).url;
    void echo(rep);
    let n = 0;
    ticker = setInterval(() => void pub.send(`n ${n++}`), 3);
    const port = await freePort();
    const input = {
      listen: `ws://127.0.0.1:${port}`,
      routes: [
        { path: "/feed", protocol: "sub" as const, upstream: pubUrl },
        { path: "/rpc", protocol: "req" as const, upstream: repUrl },
      ],
    };
    gw = await startGateway(input);
    const url = gw.url;

    const events = { sub: { add: 0, remove: 0 }, req: { add: 0, remove: 0 } };
    sub.on("pipeadd", () => events.sub.add++);
    sub.on("piperemove", () => events.sub.remove++);
    req.on("pipeadd", () => events.req.add++);
    req.on("piperemove", () => events.req.remove++);
    sub.subscribe("n ");
    let got = 0;
    void drain(sub, () => got++);
    await sub.dial(`${url}/feed`, { gateway: true });
    await req.dial(`${url}/rpc`);

    // Requests one after another for the whole test; each must come back with its own body.
    const sent: string[] = [];
    const failures: unknown[] = [];
    let answered = 0;
    const loop = (async () => {
      for (let i = 0; !stop; i++) {
        const body = `req-${i}`;
        sent.push(body);
        try {
          const reply = await req.request(body);
          if (reply.text() !== body) failures.push(new Error(`request ${body} got ${reply.text()}`));
          else answered++;
        } catch (err) {
          failures.push(err);
        }
      }
    })();

    await until(() => got >= 20 && answered >= 20, "traffic through the first gateway");
    await gw.close();
    gw = undefined;
    await until(() => events.sub.remove === 1 && events.req.remove === 1, "both clients see their pipe go");
    const gotAtRestart = got;
    const answeredAtRestart = answered;
    // Requests made while no gateway runs wait in the Req and are sent again after it redials.
    const duringOutage = Array.from({ length: 5 }, (_, i) => req.request(`outage ${i}`, { timeout: 10_000 }));
    await sleep(100);

    gw = await startGateway(input);
    assert.equal(gw.url, url);
    await until(() => events.sub.add === 2 && events.req.add === 2, "both clients redial the new gateway");
    await until(() => got >= gotAtRestart + 20 && answered >= answeredAtRestart + 20, "traffic through the second gateway");
    stop = true;
    await loop;
    assert.deepEqual(
      (await Promise.all(duringOutage)).map((m) => m.text()),
      Array.from({ length: 5 }, (_, i) => `outage ${i}`),
    );

    assert.deepEqual(failures, []);
    assert.equal(answered, sent.length, "every request was answered");
    assert.deepEqual(events, { sub: { add: 2, remove: 1 }, req: { add: 2, remove: 1 } });
    assert.equal(sub.stats.pipesOpened, 2);
    assert.equal(req.stats.pipesOpened, 2);
  } finally {
    stop = true;
    clearInterval(ticker);
    await gw?.close();
    await Promise.all([sub.close(), req.close(), pub.close(), rep.close()]);
  }
});

test("an upstream nngcat pub killed and restarted on the same port: the gateway redials, the browser's pipe stays up", async () => {
  const peers: Peer[] = [];
  const sub = new Sub(CLIENT);
  let gw: Gateway | undefined;
  try {
    const port = await freePort();
    const upstream = `tcp://127.0.0.1:${port}`;
    const pubArgs = ["--pub0", "--listen", upstream, "--data", "cpu 1", "--interval", "1"];
    nngcat(peers, pubArgs);
    await waitForPort(port);
    gw = await startGateway({ routes: [{ path: "/feed", protocol: "sub", upstream }] });
    const g = gw;
    const upstreamPipes = (): Promise<number> => metric(g, "upstream_pipes", { route: "/feed" });
    await untilAsync(async () => (await upstreamPipes()) === 1, "the gateway dials nngcat");
    assert.equal(await metric(g, "upstream_up", { route: "/feed" }), 1);

    sub.subscribe("cpu");
    let got = 0;
    void drain(sub, (m) => {
      assert.equal(m.text(), "cpu 1");
      got++;
    });
    await sub.dial(`${g.url}/feed`, { gateway: true });
    // nngcat publishes once a second (its --interval takes whole seconds).
    await until(() => got >= 1, "a message from the first nngcat", 200, 25);

    peers[0]!.child.kill("SIGKILL");
    await peers[0]!.exited;
    await untilAsync(async () => (await upstreamPipes()) === 0, "the gateway sees the upstream pipe go");
    assert.equal(await metric(g, "upstream_up", { route: "/feed" }), 0);
    assert.equal((await fetch(`${httpUrl(g)}/readyz`)).status, 503);
    const gotWhileDown = got;

    nngcat(peers, pubArgs);
    await untilAsync(async () => (await upstreamPipes()) === 1, "the gateway redials the restarted nngcat");
    assert.equal(await metric(g, "upstream_up", { route: "/feed" }), 1);
    await until(() => got >= gotWhileDown + 1, "a message from the restarted nngcat", 200, 25);
    assert.equal((await fetch(`${httpUrl(g)}/readyz`)).status, 200);
    // The browser never noticed: one pipe, never closed.
    assert.equal(sub.stats.pipesOpened, 1);
    assert.equal(sub.stats.pipesClosed, 0);
    assert.equal(await metric(g, "connections_opened_total", { route: "/feed" }), 1);
  } finally {
    await sub.close();
    await gw?.close();
    for (const p of peers) p.kill();
  }
});

test("an upstream nngcat rep killed and restarted: requests made during the outage are answered after it", async () => {
  const peers: Peer[] = [];
  const req = new Req({ ...CLIENT, resendTime: 200 });
  let gw: Gateway | undefined;
  try {
    const port = await freePort();
    const upstream = `tcp://127.0.0.1:${port}`;
    const repArgs = ["--rep0", "--listen", upstream, "--data", "pong"];
    nngcat(peers, repArgs);
    await waitForPort(port);
    gw = await startGateway({ routes: [{ path: "/rpc", protocol: "req", upstream }] });
    const g = gw;
    const upstreamPipes = (): Promise<number> => metric(g, "upstream_pipes", { route: "/rpc" });
    await untilAsync(async () => (await upstreamPipes()) === 1, "the gateway dials nngcat");
    await req.dial(`${g.url}/rpc`);
    assert.equal((await req.request("ping", { timeout: 5000 })).text(), "pong");

    peers[0]!.child.kill("SIGKILL");
    await peers[0]!.exited;
    await untilAsync(async () => (await upstreamPipes()) === 0, "the gateway sees the upstream pipe go");
    assert.equal(await metric(g, "upstream_up", { route: "/rpc" }), 0);

    // Sent while nothing answers; resent by the Req every 200 ms until something does.
    let settled = 0;
    const outage = Array.from({ length: 5 }, (_, i) =>
      req.request(`during ${i}`, { timeout: 10_000 }).finally(() => {
        settled++;
      }),
    );
    await sleep(300);
    assert.equal(settled, 0, "nothing can answer while nngcat is down");

    nngcat(peers, repArgs);
    await untilAsync(async () => (await upstreamPipes()) === 1, "the gateway redials the restarted nngcat");
    const replies = await Promise.all(outage);
    assert.deepEqual(
      replies.map((m) => m.text()),
      ["pong", "pong", "pong", "pong", "pong"],
    );
    assert.equal((await req.request("after", { timeout: 5000 })).text(), "pong");
    assert.equal(req.stats.pipesOpened, 1);
    assert.equal(req.stats.pipesClosed, 0);
  } finally {
    await req.close();
    await gw?.close();
    for (const p of peers) p.kill();
  }
});

test("garbage from browsers on a req route: a text frame is closed 1003, a request without an id closes that pipe; other browsers are still answered", async () => {
  const rep = new Rep({ logger: silentLogger });
  const req = new Req({ ...CLIENT, resendTime: 200 });
  let gw: Gateway | undefined;
  const raws: ReturnType<typeof rawClient>[] = [];
  try {
    const upstream = (await rep.listen("tcp://127.0.0.1:0")).url;
    void echo(rep);
    gw = await startGateway({ routes: [{ path: "/rpc", protocol: "req", upstream }] });
    const g = gw;
    await untilAsync(async () => (await metric(g, "upstream_pipes", { route: "/rpc" })) === 1, "the gateway dials the Rep");
    await req.dial(`${g.url}/rpc`);
    assert.equal((await req.request("before", { timeout: 5000 })).text(), "before");

    const text = rawClient(`${g.url}/rpc`, "rep.sp.nanomsg.org");
    raws.push(text);
    await text.opened;
    text.ws.send("hello, as text");
    assert.deepEqual(await text.closed, { code: 1003, reason: "SP messages are binary" });

    // Two bytes: no 32-bit word with the top bit set, so no request id; the raw REP closes the pipe (EPROTO).
    const noId = rawClient(`${g.url}/rpc`, "rep.sp.nanomsg.org");
    raws.push(noId);
    await noId.opened;
    noId.ws.send(Buffer.from([0x01, 0x02]));
    const closed = await noId.closed;
    assert.equal(closed.code, 1000);
    assert.deepEqual(noId.frames, []);

    // A well-formed raw request on a third connection, and the spwire Req, are still answered.
    const good = rawClient(`${g.url}/rpc`, "rep.sp.nanomsg.org");
    raws.push(good);
    await good.opened;
    good.ws.send(Buffer.from([0x80, 0x00, 0x00, 0x07, ...Buffer.from("raw ok")]));
    await until(() => good.frames.length === 1, "the raw request's reply");
    assert.deepEqual(good.frames[0], Buffer.from([0x80, 0x00, 0x00, 0x07, ...Buffer.from("raw ok")]));
    for (let i = 0; i < 5; i++) assert.equal((await req.request(`after ${i}`, { timeout: 5000 })).text(), `after ${i}`);
    assert.equal(req.stats.pipesOpened, 1);

    await untilAsync(async () => (await metric(g, "pipe_errors_total", { route: "/rpc", side: "client" })) === 2, "both bad pipes counted");
    assert.equal(await metric(g, "pipe_errors_total", { route: "/rpc", side: "client", code: "EPROTO" }), 2);
    assert.equal(await metric(g, "pipe_errors_total", { route: "/rpc", side: "upstream" }), 0);
    // The gateway closed both for their bytes: counted as errors, not as browsers that left.
    await untilAsync(async () => (await metric(g, "connections_closed_total", { route: "/rpc" })) === 2, "both closes counted");
    assert.equal(await metric(g, "connections_closed_total", { route: "/rpc", reason: "error:EPROTO" }), 2);
  } finally {
    for (const r of raws) r.ws.terminate();
    await req.close();
    await gw?.close();
    await rep.close();
  }
});

/** SP tcp handshake (sp-wire.md 3.1) for protocol id `id`. */
function handshake(id: number): Buffer {
  return Buffer.from([0x00, 0x53, 0x50, 0x00, id >> 8, id & 0xff, 0x00, 0x00]);
}

/** One SP tcp frame: 64-bit big-endian length, then the payload. */
function frame(payload: Buffer): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(payload.length));
  return Buffer.concat([len, payload]);
}

test("garbage from an upstream (bad handshake, then a 2^62-byte frame): the gateway drops that pipe, redials, and serves every route throughout", async () => {
  const peers: Peer[] = [];
  const sockets = new Set<NetSocket>();
  const sub = new Sub(CLIENT);
  const req = new Req({ ...CLIENT, resendTime: 200 });
  let gw: Gateway | undefined;
  let fake: Server | undefined;
  try {
    // A fake PUB for the /feed route. Its connections, in the order the gateway dials:
    // 1-2 answer with bad magic; 3-4 with a good PUB handshake (0x20) and then a frame
    // declaring 2^62 bytes; 5 and later behave and publish "ok <n>".
    let accepted = 0;
    const good: NetSocket[] = [];
    fake = createServer((s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
      const n = ++accepted;
      if (n <= 2) {
        s.write(Buffer.from("GET / HTTP/1.1\r\n"));
      } else if (n <= 4) {
        const huge = Buffer.alloc(8);
        huge.writeBigUInt64BE(2n ** 62n);
        s.write(Buffer.concat([handshake(0x20), huge, Buffer.from("and some bytes")]));
      } else {
        s.write(handshake(0x20));
        good.push(s);
      }
    });
    await new Promise<void>((resolve) => fake!.listen(0, "127.0.0.1", resolve));
    const fakePort = (fake.address() as { port: number }).port;

    const repPort = await freePort();
    nngcat(peers, ["--rep0", "--listen", `tcp://127.0.0.1:${repPort}`, "--data", "pong"]);
    await waitForPort(repPort);

    gw = await startGateway({
      routes: [
        { path: "/feed", protocol: "sub", upstream: `tcp://127.0.0.1:${fakePort}` },
        { path: "/rpc", protocol: "req", upstream: `tcp://127.0.0.1:${repPort}` },
      ],
    });
    const g = gw;
    // The browsers connect while the fake is still sending garbage.
    sub.subscribe("ok");
    const texts: string[] = [];
    void drain(sub, (m) => texts.push(m.text()));
    await sub.dial(`${g.url}/feed`, { gateway: true });
    await req.dial(`${g.url}/rpc`);

    // The rpc route answers the whole time the feed route's upstream misbehaves.
    let answered = 0;
    while (good.length === 0) {
      assert.equal((await req.request(`q${answered}`, { timeout: 5000 })).text(), "pong");
      answered++;
      if (answered > 2000) assert.fail(`the gateway never got past the garbage (${accepted} connections)`);
    }
    assert.ok(answered > 0);
    assert.ok(accepted >= 5);
    // Each 2^62 frame ended an upstream pipe with an error; a bad handshake never became a pipe.
    assert.equal(await metric(g, "pipe_errors_total", { route: "/feed", side: "upstream", code: "EMSGSIZE" }), 2);
    assert.equal(await metric(g, "pipe_errors_total", { route: "/feed", side: "upstream" }), 2);
    // The two bad handshakes never became pipes: they are failed dials, counted by code.
    assert.equal(await metric(g, "upstream_dial_failures_total", { route: "/feed", code: "EPROTO" }), 2);
    assert.equal(await metric(g, "pipe_errors_total", { route: "/rpc", side: "upstream" }), 0);

    // The well-behaved fifth connection is a working upstream: its messages reach the browser.
    await untilAsync(async () => (await metric(g, "upstream_pipes", { route: "/feed" })) === 1, "the good upstream pipe");
    good[0]!.write(Buffer.concat([frame(Buffer.from("ok 1")), frame(Buffer.from("ok 2"))]));
    await until(() => texts.length === 2, "the good upstream's messages");
    assert.deepEqual(texts, ["ok 1", "ok 2"]);

    // Neither browser was disturbed.
    assert.equal(sub.stats.pipesOpened, 1);
    assert.equal(sub.stats.pipesClosed, 0);
    assert.equal(req.stats.pipesOpened, 1);
    assert.equal(await metric(g, "pipe_errors_total", { side: "client" }), 0);
  } finally {
    await Promise.all([sub.close(), req.close()]);
    await gw?.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => (fake === undefined ? resolve() : fake.close(() => resolve())));
    for (const p of peers) p.kill();
  }
});

test("graceful close: queued messages reach the browser before its 1001, every browser gets 1001, and the port is free afterwards", async () => {
  const pub = new Pub({ logger: silentLogger });
  const raws: ReturnType<typeof rawClient>[] = [];
  let gw: Gateway | undefined;
  try {
    const upstream = (await pub.listen("tcp://127.0.0.1:0")).url;
    const port = await freePort();
    gw = await startGateway({
      listen: `ws://127.0.0.1:${port}`,
      // Room for the reader to catch up on a loaded machine; close() returns as soon as it has.
      shutdownTimeout: 20_000,
      // A small socket buffer so messages wait in the gateway's queue; a queue big enough to drop none.
      routes: [{ path: "/feed", protocol: "sub", upstream, queue: { messages: 1000, bytes: "16MiB", socketBytes: 1024, policy: "drop-new" } }],
    });
    const g = gw;
    await until(() => pub.pipes.length === 1, "the gateway dials the Pub");
    const reader = rawClient(`${g.url}/feed`, "pub.sp.nanomsg.org");
    const other = rawClient(`${g.url}/feed`, "pub.sp.nanomsg.org");
    raws.push(reader, other);
    await Promise.all([reader.opened, other.opened]);
    await until(() => g.routes.get("/feed")!.sockets!.front.pipes.length === 2, "both browsers on the front socket");

    // The reader stops reading, so what is published piles up in the kernel (a few MB on
    // loopback), then in the gateway's queue: publish until 20 messages wait there.
    reader.ws.pause();
    const body = (i: number): Buffer => Buffer.concat([Buffer.from(`m ${String(i).padStart(5, "0")} `), Buffer.alloc(8 * 1024 - 8, 0x2e)]);
    let N = 0;
    while ((await metric(g, "queue_messages", { route: "/feed" })) < 20) {
      assert.ok(N < 5000, "the reader's queue never filled");
      // Batches of 16, paced by the Pub's pipe, so the upstream side drops nothing.
      for (const end = N + 16; N < end; N++) {
        while (!pub.pipes[0]!.idle) await sleep(1);
        await pub.send(body(N));
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(pub.stats.drops, 0);
    // Everything has reached the gateway: written to the reader's socket, or waiting in its queue.
    await until(() => other.frames.length === N, "the other browser gets every message");
    await untilAsync(
      async () =>
        (await metric(g, "messages_total", { route: "/feed", direction: "down" })) + (await metric(g, "queue_messages", { route: "/feed" })) === 2 * N,
      "every message in the gateway",
    );
    assert.ok((await metric(g, "queue_messages", { route: "/feed" })) >= 20, "messages wait in the gateway's queue when it is closed");

    const closing = g.close();
    gw = undefined;
    reader.ws.resume();
    await closing;
    assert.deepEqual(await reader.closed, { code: 1001, reason: "gateway shutting down" });
    assert.deepEqual(await other.closed, { code: 1001, reason: "gateway shutting down" });
    // All of them, in order, before the close frame.
    assert.equal(reader.frames.length, N);
    for (let i = 0; i < N; i++) assert.ok(reader.frames[i]!.equals(body(i)), `message ${i}`);
    assert.equal(await metric(g, "drops_total", { route: "/feed" }), 0);
    assert.equal(await metric(g, "connections_closed_total", { route: "/feed", reason: "shutdown" }), 2);

    // The port is free again.
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(port, "127.0.0.1", resolve);
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    // A browser arriving after the close finds nothing listening.
    const late = rawClient(`ws://127.0.0.1:${port}/feed`, "pub.sp.nanomsg.org");
    raws.push(late);
    await assert.rejects(late.opened, /ECONNREFUSED/);
  } finally {
    for (const r of raws) r.ws.terminate();
    await gw?.close();
    await pub.close();
  }
});
