/**
 * Hostile clients against one running gateway, while a well-behaved client
 * keeps receiving: a spwire Sub through the gateway, fed by a spwire Pub
 * upstream that ticks every 10 ms. After each attack the good client's count
 * must have kept rising, and the attack must have been refused or closed with
 * its documented answer, counted in the metrics and (where the gateway logs
 * it) written to the JSON log.
 *
 * The attacks: random bytes on the TCP port; malformed HTTP (bad request
 * lines, huge headers, a bad Sec-WebSocket-Key or version, an Upgrade that is
 * not websocket, no Upgrade at all); slowloris upgrades dribbled byte by byte
 * (cut by limits.upgradeTimeout); text frames (1003); frame headers that
 * claim more than maxMessageSize (1009 at once, before any payload is sent or
 * buffered); floods of tiny frames (the route's rate limit drops and counts);
 * and clients that never read (the slow-consumer policy drops and counts).
 *
 * Memory bound (the gateway runs in this process, so process.memoryUsage()
 * is the gateway's plus this test's small share). With the route's config
 * below, a connection that never reads holds in the gateway at most
 * queue.bytes (128 KiB) in its queue, plus socketBytes (32 KiB) in its
 * WebSocket before the queue engages, plus one message over that mark
 * (maxMessageSize, 64 KiB): 224 KiB. The bodies are shared by every
 * connection they fan out to, so for C connections the bound is
 * C x 224 KiB (here C = 4: 896 KiB), plus the upstream raw SUB's receive
 * queue, which holds at most one read's worth of messages. Kernel socket
 * buffers are not the process's memory. The test measures heapUsed and
 * arrayBuffers (where Buffers live) after a full GC before the attacks and
 * while the stalled clients hold full queues, and asserts the growth stays
 * under that bound plus 15 MiB for this process's own bookkeeping; the
 * stream published past full queues is over 20 MiB, which an unbounded
 * queue would hold.
 */
import { test, before, after, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket as NetSocket } from "node:net";
import { Writable } from "node:stream";
import v8 from "node:v8";
import vm from "node:vm";
import { pino } from "pino";
import { Pub, Pull, Sub, silentLogger } from "@spwire/node";
import type { Gateway } from "@spwire/gateway";
import { metric, rawClient, startGateway, type RawClient } from "../../../test-support/gateway.js";
import { until } from "../../../test-support/peers.js";
import { prng } from "../../../test-support/prng.js";

const SUB_PROTOCOL = "pub.sp.nanomsg.org"; // a browser SUB offers the gateway's side: PUB
const PUSH_PROTOCOL = "pull.sp.nanomsg.org"; // a browser PUSH offers PULL
const KiB = 1024;
const QUEUE = { messages: 32, bytes: 128 * KiB, socketBytes: 32 * KiB, policy: "drop-old" as const };
const MAX_MESSAGE = 64 * KiB;
const RATE = { messages: 20, burst: 20 };
const UPGRADE_TIMEOUT = 1500;
const PER_IP = 8;
const CLOSE_TIMEOUT = 400;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// A full GC on demand (tests run under tsx without --expose-gc).
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function memory(): Mem {
  gc();
  gc();
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}

const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
const show = (m: Mem): string => `rss ${mib(m.rss)}, heapUsed ${mib(m.heapUsed)}, external ${mib(m.external)}, arrayBuffers ${mib(m.arrayBuffers)}`;

// ---------------------------------------------------------------------------
// The scene: one gateway, its upstream, the good client, the captured log.

let pub: Pub;
/** The /jobs route's upstream, counting what browsers push. */
let pull: Pull;
let pulled = 0;
let ticker: ReturnType<typeof setInterval>;
let gw: Gateway;
let port: number;
let good: Sub;
let goodCount = 0;
let goodErrors = 0;
const logLines: Array<Record<string, unknown>> = [];
let baseline: Mem;

before(async () => {
  pub = new Pub({ logger: silentLogger });
  const upstream = (await pub.listen("tcp://127.0.0.1:0")).url;
  let n = 0;
  ticker = setInterval(() => void pub.send(`tick ${n++}`), 10);
  pull = new Pull({ logger: silentLogger });
  const jobs = (await pull.listen("tcp://127.0.0.1:0")).url;
  void (async () => {
    for (;;) {
      try {
        await pull.recv();
      } catch {
        return; // closed by after()
      }
      pulled++;
    }
  })();
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l !== "") logLines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  gw = await startGateway(
    {
      limits: { upgradeTimeout: UPGRADE_TIMEOUT, maxConnectionsPerIp: PER_IP, closeTimeout: CLOSE_TIMEOUT },
      routes: [
        { path: "/feed", protocol: "sub", upstream, maxMessageSize: MAX_MESSAGE, queue: QUEUE },
        { path: "/jobs", protocol: "push", upstream: jobs, rateLimit: RATE },
      ],
    },
    { logger: pino({ level: "debug" }, sink) },
  );
  port = Number(new URL(gw.url).port);
  await until(() => gw.routes.get("/feed")!.up && gw.routes.get("/jobs")!.up, "the gateway dials both upstreams");

  good = new Sub({ logger: silentLogger, reconnectMinTime: 50, reconnectMaxTime: 300 });
  good.on("piperemove", () => goodErrors++);
  good.on("dialerror", () => goodErrors++);
  good.subscribe("tick ");
  void (async () => {
    for (;;) {
      try {
        await good.recv();
      } catch {
        return; // closed by after()
      }
      goodCount++;
    }
  })();
  await good.dial(`${gw.url}/feed`, { gateway: true });
  await until(() => goodCount >= 10, "the good client receives");
  baseline = memory();
});

after(async () => {
  await good?.close();
  await gw?.close();
  clearInterval(ticker);
  await Promise.all([pub?.close(), pull?.close()]);
});

/** The good client received at least `more` ticks since `from`, and never lost its pipe. */
async function goodKeepsReceiving(from: number, more = 10): Promise<void> {
  await until(() => goodCount >= from + more, `the good client keeps receiving (had ${from})`);
  assert.equal(goodErrors, 0, "the good client never lost its pipe");
  assert.equal(good.pipes.length, 1);
}

/** Wait (bounded) until a metric reaches `want`, then assert it is exactly that. */
async function metricReaches(name: string, labels: Record<string, string>, want: number): Promise<void> {
  let v = 0;
  for (let i = 0; i < 400 && (v = await metric(gw, name, labels)) < want; i++) await sleep(25);
  assert.equal(v, want, `${name} ${JSON.stringify(labels)}`);
}

function logged(fields: Record<string, unknown>, from = 0): Array<Record<string, unknown>> {
  return logLines.slice(from).filter((x) => Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? v.test(String(x[k])) : x[k] === v)));
}

async function logLine(fields: Record<string, unknown>, from = 0, count = 1): Promise<Array<Record<string, unknown>>> {
  await until(() => logged(fields, from).length >= count, `${count} log line(s) with ${String(Object.entries(fields))}`);
  return logged(fields, from);
}

/** Destroys every raw socket a test opened. */
function sockets(t: TestContext): (s: NetSocket) => NetSocket {
  const all: NetSocket[] = [];
  t.after(() => {
    for (const s of all) s.destroy();
  });
  return (s) => {
    all.push(s);
    return s;
  };
}

/** A raw TCP connection to the gateway that records what comes back and whether the gateway ended it. */
interface Raw {
  s: NetSocket;
  received: () => Buffer;
  closed: Promise<void>;
  isClosed: () => boolean;
}

async function openRaw(track: (s: NetSocket) => NetSocket): Promise<Raw> {
  const s = track(connect(port, "127.0.0.1"));
  await new Promise<void>((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  const chunks: Buffer[] = [];
  let done = false;
  s.on("data", (b: Buffer) => chunks.push(b));
  // ECONNRESET is one way the gateway ends it; the test asserts on what was received.
  s.on("error", () => undefined);
  const closed = new Promise<void>((resolve) =>
    s.once("close", () => {
      done = true;
      resolve();
    }),
  );
  return { s, received: () => Buffer.concat(chunks), closed, isClosed: () => done };
}

/** The HTTP status line of what the gateway answered ("" if nothing). */
function statusLine(b: Buffer): string {
  const t = b.toString("latin1");
  return t.slice(0, Math.max(0, t.indexOf("\r\n")));
}

const wsKey = (): string => Buffer.from(Array.from({ length: 16 }, (_, i) => (i * 37 + 11) & 0xff)).toString("base64");

function upgradeRequest(path = "/feed", over: Record<string, string | undefined> = {}): string {
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": wsKey(),
    "Sec-WebSocket-Protocol": SUB_PROTOCOL,
    ...over,
  };
  let req = `GET ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) req += `${k}: ${v}\r\n`;
  return `${req}\r\n`;
}

/** A WebSocket upgraded by hand on a raw socket; `frames()` is what came after the 101 response. */
async function handUpgraded(track: (s: NetSocket) => NetSocket, path = "/feed?nosub", protocol = SUB_PROTOCOL): Promise<Raw & { after: () => Buffer }> {
  const r = await openRaw(track);
  r.s.write(upgradeRequest(path, { "Sec-WebSocket-Protocol": protocol }));
  await until(() => r.received().includes("\r\n\r\n") || r.isClosed(), "the upgrade response");
  const all = r.received();
  const end = all.indexOf("\r\n\r\n") + 4;
  assert.equal(statusLine(all), "HTTP/1.1 101 Switching Protocols");
  return { ...r, after: () => r.received().subarray(end) };
}

/** A client frame (clients must mask): FIN set, `opcode`, the payload masked with a fixed key. */
function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const mask = [0x12, 0x34, 0x56, 0x78];
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, Buffer.from(mask), body]);
}

/** Just the header of a masked binary frame that claims `length` payload bytes (64-bit length form). */
function claimHeader(length: bigint): Buffer {
  const h = Buffer.alloc(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(length, 2);
  h.set([1, 2, 3, 4], 10);
  return h;
}

/** A server Close frame as the gateway writes it (unmasked): 0x88, length, code, reason. */
function closeFrame(code: number, reason: string): Buffer {
  const r = Buffer.from(reason);
  return Buffer.concat([Buffer.from([0x88, 2 + r.length, code >> 8, code & 0xff]), r]);
}

function closeCodeBytes(code: number): Buffer {
  return Buffer.from([code >> 8, code & 0xff]);
}

// ---------------------------------------------------------------------------

test("random bytes on the TCP port: each connection gets HTTP 400 or the upgrade deadline, counted; the good client keeps receiving", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const count0 = (await metric(gw, "refusals_total", { route: "", reason: "bad-http" })) + (await metric(gw, "refusals_total", { route: "", reason: "upgrade-timeout" }));
  const log0 = logLines.length;
  const next = prng(7);
  const N = 20;
  const raws = await Promise.all(Array.from({ length: N }, () => openRaw(track)));
  for (const r of raws) {
    const len = 16 + Math.floor(next() * 4080);
    r.s.write(Buffer.from(Array.from({ length: len }, () => Math.floor(next() * 256))));
  }
  // The gateway ends every one of them (it never waits on garbage past the upgrade deadline).
  await Promise.all(raws.map((r) => r.closed));
  for (const r of raws) {
    const line = statusLine(r.received());
    assert.ok(line === "HTTP/1.1 400 Bad Request" || line === "", `answered ${JSON.stringify(line)}`);
  }
  const badHttp = await metric(gw, "refusals_total", { route: "", reason: "bad-http" });
  const timeouts = await metric(gw, "refusals_total", { route: "", reason: "upgrade-timeout" });
  assert.equal(badHttp + timeouts - count0, N, "every connection counted once, as bad-http or upgrade-timeout");
  assert.ok(logged({ msg: "bad HTTP from a client", code: /^HPE_/ }, log0).length >= 1, "logged (at debug) with the parser's code");
  await goodKeepsReceiving(from);
});

test("malformed HTTP: bad request lines and huge headers get 400 (bad-http), a bad WebSocket handshake on a route gets 400 (bad-http on that route)", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const log0 = logLines.length;
  const bare0 = await metric(gw, "refusals_total", { route: "", reason: "bad-http" });
  const route0 = await metric(gw, "refusals_total", { route: "/feed", reason: "bad-http" });

  // Refused by node's HTTP parser before any upgrade handling.
  const parserErrors = [
    "GARBAGE\r\n\r\n",
    "GET /feed HTTP/7.3\r\n\r\n",
    `GET /feed HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(40 * KiB)}\r\n\r\n`, // over node's 16 KiB header limit
    `GET /feed HTTP/1.1\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`, // many headers, same limit
    "GET /feed HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
  ];
  for (const req of parserErrors) {
    const r = await openRaw(track);
    r.s.write(req);
    await r.closed;
    assert.equal(statusLine(r.received()), "HTTP/1.1 400 Bad Request", JSON.stringify(req.slice(0, 40)));
  }
  assert.equal((await metric(gw, "refusals_total", { route: "", reason: "bad-http" })) - bare0, parserErrors.length);
  assert.ok(logged({ msg: "bad HTTP from a client", code: "HPE_HEADER_OVERFLOW" }, log0).length >= 2);
  assert.ok(logged({ msg: "bad HTTP from a client", code: "HPE_INVALID_METHOD" }, log0).length >= 1);

  // Parsed as an upgrade for /feed, rejected by the WebSocket handshake checks. More of them than
  // maxConnectionsPerIp: a rejected handshake must not keep its slot (it once did, locking the IP out).
  const KEY = /Missing or invalid Sec-WebSocket-Key header$/;
  const handshakes: Array<[Record<string, string | undefined>, RegExp]> = [
    [{ "Sec-WebSocket-Key": "short" }, KEY],
    [{ "Sec-WebSocket-Key": undefined }, KEY],
    [{ "Sec-WebSocket-Version": "12" }, /Sec-WebSocket-Version header$/],
    [{ Upgrade: "h2c" }, /Invalid Upgrade header$/],
  ];
  const rounds = Math.ceil((PER_IP + 2) / handshakes.length);
  for (let i = 0; i < rounds; i++) {
    for (const [over] of handshakes) {
      const r = await openRaw(track);
      r.s.write(upgradeRequest("/feed", over));
      await r.closed;
      assert.equal(statusLine(r.received()), "HTTP/1.1 400 Bad Request", JSON.stringify(over));
    }
  }
  const rejected = rounds * handshakes.length;
  assert.ok(rejected > PER_IP);
  assert.equal((await metric(gw, "refusals_total", { route: "/feed", reason: "bad-http" })) - route0, rejected);
  for (const [, msg] of handshakes) {
    const lines = logged({ route: "/feed", reason: "bad-http", msg }, log0);
    assert.equal(lines.length, rounds * handshakes.filter(([, m]) => m === msg).length, `log lines for ${String(msg)}`);
    assert.equal(lines[0]!.level, 40);
    assert.match(String(lines[0]!.msg), /^refused: bad WebSocket handshake: /);
  }
  // The IP still gets in: every slot came back.
  const fresh = rawClient(`${gw.url}/feed?nosub`, SUB_PROTOCOL);
  t.after(() => fresh.ws.terminate());
  await fresh.opened;
  assert.equal(await metric(gw, "refusals_total", { route: "/feed", reason: "max-connections-ip" }), 0);
  fresh.ws.close();
  await fresh.closed;

  // No Upgrade header at all is not an upgrade: a plain GET for a path that is no HTTP endpoint.
  const refusals0 = await metric(gw, "refusals_total");
  const plain = await openRaw(track);
  plain.s.write(upgradeRequest("/feed", { Upgrade: undefined, Connection: "close" }));
  await plain.closed;
  assert.equal(statusLine(plain.received()), "HTTP/1.1 404 Not Found");
  assert.equal(await metric(gw, "refusals_total"), refusals0, "a plain HTTP request is not a refusal");
  await goodKeepsReceiving(from);
});

test("slowloris: upgrades dribbled a byte at a time are cut at limits.upgradeTimeout and counted as upgrade-timeout", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const log0 = logLines.length;
  const t0 = await metric(gw, "refusals_total", { route: "", reason: "upgrade-timeout" });
  const N = 10;
  const request = Buffer.from(upgradeRequest());
  const raws = await Promise.all(Array.from({ length: N }, () => openRaw(track)));
  const sent = raws.map(() => 0);
  // One byte every 50 ms: the whole request would take over 10 s, far past the deadline.
  const dribble = setInterval(() => {
    raws.forEach((r, i) => {
      if (r.isClosed() || sent[i]! >= request.length) return;
      r.s.write(request.subarray(sent[i]!, sent[i]! + 1));
      sent[i]!++;
    });
  }, 50);
  t.after(() => clearInterval(dribble));
  await Promise.all(raws.map((r) => r.closed));
  clearInterval(dribble);
  for (let i = 0; i < N; i++) {
    assert.ok(sent[i]! < request.length, "cut before the request was complete");
    assert.equal(raws[i]!.received().length, 0, "nothing is answered to a half request");
  }
  assert.equal((await metric(gw, "refusals_total", { route: "", reason: "upgrade-timeout" })) - t0, N);
  const lines = await logLine({ reason: "upgrade-timeout", msg: `no WebSocket upgrade within ${UPGRADE_TIMEOUT} ms: connection dropped` }, log0, N);
  assert.equal(lines.length, N);
  assert.equal(lines[0]!.remote, "127.0.0.1");
  await goodKeepsReceiving(from);
});

test("text frames: the connection is closed with 1003 at once, counted as error:EPROTO", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const log0 = logLines.length;
  const closed0 = await metric(gw, "connections_closed_total", { route: "/feed", reason: "error:EPROTO" });
  const errs0 = await metric(gw, "pipe_errors_total", { route: "/feed", side: "client", code: "EPROTO" });

  const c = await handUpgraded(track);
  c.s.write(clientFrame(0x1, Buffer.from("hello, as text")));
  const expect = closeFrame(1003, "SP messages are binary");
  await until(() => c.after().length >= expect.length, "the Close frame");
  assert.deepEqual(c.after(), expect);
  c.s.write(clientFrame(0x8, closeCodeBytes(1003)));
  await c.closed;

  await metricReaches("connections_closed_total", { route: "/feed", reason: "error:EPROTO" }, closed0 + 1);
  assert.equal((await metric(gw, "pipe_errors_total", { route: "/feed", side: "client", code: "EPROTO" })) - errs0, 1);
  const [pipeLine] = await logLine({ route: "/feed", code: "EPROTO", msg: /peer sent a text frame/ }, log0);
  assert.equal(pipeLine!.level, 40);
  await logLine({ msg: "browser disconnected", route: "/feed", reason: "error:EPROTO", code: 1003 }, log0);
  await goodKeepsReceiving(from);
});

test("a client that never finishes the close handshake: its TCP connection is dropped at limits.closeTimeout, not ws's 30 s, and its slot is freed", { timeout: 20_000 }, async (t) => {
  const track = sockets(t);
  const log0 = logLines.length;
  const closed0 = await metric(gw, "connections_closed_total", { route: "/feed", reason: "error:EPROTO" });
  const open0 = await metric(gw, "connections", { route: "/feed" });

  const c = await handUpgraded(track);
  await metricReaches("connections", { route: "/feed" }, open0 + 1);
  c.s.write(clientFrame(0x1, Buffer.from("text, to be closed")));
  const expect = closeFrame(1003, "SP messages are binary");
  await until(() => c.after().length >= expect.length, "the Close frame");
  assert.deepEqual(c.after(), expect);
  // No Close in answer, and the TCP connection kept open: the gateway drops it itself.
  await c.closed;
  const [line] = await logLine({ msg: "browser did not finish the close handshake: connection dropped", route: "/feed" }, log0);
  assert.equal(line!.closeTimeout, CLOSE_TIMEOUT);
  await metricReaches("connections_closed_total", { route: "/feed", reason: "error:EPROTO" }, closed0 + 1);
  assert.equal(await metric(gw, "connections", { route: "/feed" }), open0);
  // Its per-IP slot is free again: PER_IP more connections are accepted.
  const more = await Promise.all(Array.from({ length: PER_IP - open0 }, () => handUpgraded(track)));
  assert.equal(more.length, PER_IP - open0);
  await metricReaches("connections", { route: "/feed" }, PER_IP);
  for (const m of more) m.s.destroy();
  for (let i = 0; i < 400 && (await metric(gw, "connections", { route: "/feed" })) !== open0; i++) await sleep(25);
  assert.equal(await metric(gw, "connections", { route: "/feed" }), open0);
});

test("oversized frames: a header claiming more than maxMessageSize (64 KiB + 1, 1 GiB, 2^62) is answered 1009 with nothing of its payload sent", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const log0 = logLines.length;
  const closed0 = await metric(gw, "connections_closed_total", { route: "/feed", reason: "error:EMSGSIZE" });
  const errs0 = await metric(gw, "pipe_errors_total", { route: "/feed", side: "client", code: "EMSGSIZE" });
  const mem0 = memory();
  const claims = [BigInt(MAX_MESSAGE + 1), 1n << 30n, 1n << 62n];
  for (const claim of claims) {
    const c = await handUpgraded(track);
    // Only the 14-byte header: the gateway must not wait for (or make room for) the payload.
    c.s.write(claimHeader(claim));
    const expect = Buffer.from([0x88, 0x02, ...closeCodeBytes(1009)]);
    await until(() => c.after().length >= expect.length, `the Close frame for a ${claim}-byte claim`);
    assert.deepEqual(c.after(), expect);
    c.s.write(clientFrame(0x8, closeCodeBytes(1009)));
    await c.closed;
  }
  const mem1 = memory();
  t.diagnostic(`oversized claims: arrayBuffers ${mib(mem0.arrayBuffers)} -> ${mib(mem1.arrayBuffers)}, heapUsed ${mib(mem0.heapUsed)} -> ${mib(mem1.heapUsed)}`);
  assert.ok(mem1.arrayBuffers - mem0.arrayBuffers < MAX_MESSAGE * 16, "no payload-sized buffer was kept");

  await metricReaches("connections_closed_total", { route: "/feed", reason: "error:EMSGSIZE" }, closed0 + claims.length);
  assert.equal((await metric(gw, "pipe_errors_total", { route: "/feed", side: "client", code: "EMSGSIZE" })) - errs0, claims.length);
  const lines = await logLine({ msg: "browser disconnected", route: "/feed", reason: "error:EMSGSIZE" }, log0, claims.length);
  assert.equal(lines.length, claims.length);
  await goodKeepsReceiving(from);
});

test("a frame trickled a byte per read: cut after 64 reads with 1008, counted as error:EPROTO, before the ws package holds ~200 bytes per read of it", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const log0 = logLines.length;
  const closed0 = await metric(gw, "connections_closed_total", { route: "/feed", reason: "error:EPROTO" });
  const errs0 = await metric(gw, "pipe_errors_total", { route: "/feed", side: "client", code: "EPROTO" });
  const c = await handUpgraded(track);
  // A 16-bit-length binary frame header claiming 4,000 bytes (well under maxMessageSize), then its payload a byte at a time.
  c.s.write(Buffer.from([0x82, 0x80 | 126, 4000 >> 8, 4000 & 0xff, 1, 2, 3, 4]));
  let sent = 0;
  while (!c.isClosed() && sent < 4000) {
    c.s.write(Buffer.from([sent & 0xff]));
    sent++;
    // One write per turn of the event loop, so that (on loopback) each is its own read at the gateway.
    await new Promise((r) => setTimeout(r, 1));
  }
  await c.closed;
  t.diagnostic(`trickled ${sent} payload bytes before the gateway closed the connection`);
  assert.ok(sent < 1000, `closed after ${sent} one-byte reads, not at the end of the frame`);
  await metricReaches("connections_closed_total", { route: "/feed", reason: "error:EPROTO" }, closed0 + 1);
  assert.equal((await metric(gw, "pipe_errors_total", { route: "/feed", side: "client", code: "EPROTO" })) - errs0, 1);
  await logLine({ route: "/feed", code: "EPROTO", msg: /without completing a message \(a trickled frame\)/ }, log0);
  await logLine({ msg: "browser disconnected", route: "/feed", reason: "error:EPROTO" }, log0);
  await goodKeepsReceiving(from);
});

test("a flood of tiny frames on a push route: beyond the rate limit's burst each is dropped and counted, rate-limit + carried == sent, exactly", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const pulled0 = pulled;
  const up0 = await metric(gw, "messages_total", { route: "/jobs", direction: "up" });
  const drop0 = await metric(gw, "drops_total", { route: "/jobs", reason: "rate-limit" });
  const c = await handUpgraded(track, "/jobs", PUSH_PROTOCOL);
  const N = 5000;
  // 5,000 one-byte binary frames in one write (35,000 bytes on the wire).
  c.s.write(Buffer.concat(Array.from({ length: N }, (_, i) => clientFrame(0x2, Buffer.from([i & 0xff])))));
  let up = 0;
  let dropped = 0;
  for (let i = 0; i < 400 && up + dropped < N; i++) {
    up = (await metric(gw, "messages_total", { route: "/jobs", direction: "up" })) - up0;
    dropped = (await metric(gw, "drops_total", { route: "/jobs", reason: "rate-limit" })) - drop0;
    if (up + dropped < N) await sleep(25);
  }
  assert.equal(up + dropped, N, `${up} carried + ${dropped} dropped`);
  assert.ok(up >= RATE.burst, `the burst is carried (${up})`);
  assert.ok(dropped > N / 2, `most of the flood is dropped (${dropped})`);
  // What was carried reached the upstream Pull, and nothing more.
  await until(() => pulled - pulled0 >= up, "the carried messages reach the upstream");
  await sleep(50);
  assert.equal(pulled - pulled0, up);
  // Rate limiting drops; it does not disconnect: the flooder is still open.
  assert.equal(c.isClosed(), false);
  assert.equal(c.after().length, 0, "nothing comes back on a push route");
  await goodKeepsReceiving(from);
});

test("a SUB that sends at all (a flood on a sub route): its pipe is closed after the first message, counted as error:EPROTO", async (t) => {
  const track = sockets(t);
  const from = goodCount;
  const log0 = logLines.length;
  const closed0 = await metric(gw, "connections_closed_total", { route: "/feed", reason: "error:EPROTO" });
  const up0 = await metric(gw, "messages_total", { route: "/feed", direction: "up" });
  const c = await handUpgraded(track);
  c.s.write(Buffer.concat(Array.from({ length: 1000 }, () => clientFrame(0x2, Buffer.from("x")))));
  // The gateway's Close frame (1000: core closed the pipe); ws waits for the client's answer (up to 30 s) before it counts the close.
  const expect = Buffer.from([0x88, 0x02, ...closeCodeBytes(1000)]);
  await until(() => c.after().length >= expect.length, "the Close frame");
  assert.deepEqual(c.after(), expect);
  c.s.write(clientFrame(0x8, closeCodeBytes(1000)));
  await metricReaches("connections_closed_total", { route: "/feed", reason: "error:EPROTO" }, closed0 + 1);
  const [pipeLine] = await logLine({ route: "/feed", code: "EPROTO", msg: /a SUB peer sent a message to this PUB/ }, log0);
  assert.equal(pipeLine!.level, 40);
  const [line] = await logLine({ msg: "browser disconnected", route: "/feed", reason: "error:EPROTO" }, log0);
  assert.equal(line!.code, 1000);
  assert.equal((await metric(gw, "messages_total", { route: "/feed", direction: "up" })) - up0, 1, "only the first message was read");
  await c.closed;
  await goodKeepsReceiving(from);
});

test("clients that never read: queues stay within queue.messages/queue.bytes, drop-old drops are counted, memory stays bounded", async (t) => {
  const from = goodCount;
  const STALLED = 3;
  const SIZE = 8 * KiB;
  // Enough past the point where the queues are full that an unbounded queue would hold over 20 MiB more.
  const AFTER = 3000;
  const route = gw.routes.get("/feed")!;
  const stalled: RawClient[] = [];
  t.after(() => {
    for (const s of stalled) s.ws.terminate();
  });
  for (let i = 0; i < STALLED; i++) stalled.push(rawClient(`${gw.url}/feed?sub=bulk`, SUB_PROTOCOL));
  await Promise.all(stalled.map((s) => s.opened));
  await until(() => route.clients.size === 1 + STALLED, "the stalled clients are on the route");
  const ports = new Set(stalled.map((s) => `:${(s.ws as unknown as { _socket: { localPort: number } })._socket.localPort}`));
  const pipes = [...route.clients].filter((c) => [...ports].some((p) => c.remoteAddress.endsWith(p)));
  assert.equal(pipes.length, STALLED);
  // They stop reading: their TCP sockets are paused, the kernel buffers fill, then the gateway's.
  for (const s of stalled) s.ws.pause();

  const drop0 = await metric(gw, "drops_total", { route: "/feed", reason: "drop-old" });
  const body = (seq: number): Buffer => {
    const head = Buffer.from(`bulk ${String(seq).padStart(7, "0")} `);
    return Buffer.concat([head, Buffer.alloc(SIZE - head.length, 0x2e)]);
  };
  let n = 0;
  let stopAt = Infinity;
  let mostMessages = 0;
  let mostBytes = 0;
  while (n < stopAt) {
    // Batches of 16, paced by the Pub's pipe so the upstream side drops nothing.
    for (const end = Math.min(n + 16, stopAt); n < end; n++) {
      while (!pub.pipes[0]!.idle) await sleep(1);
      await pub.send(body(n));
    }
    await new Promise((r) => setImmediate(r));
    for (const p of pipes) {
      mostMessages = Math.max(mostMessages, p.queuedMessages);
      mostBytes = Math.max(mostBytes, p.queuedBytes);
      assert.ok(p.queuedMessages <= QUEUE.messages && p.queuedBytes <= QUEUE.bytes, `queue ${p.queuedMessages} msgs / ${p.queuedBytes} B`);
    }
    const gaugeBytes = await metric(gw, "queue_bytes", { route: "/feed" });
    assert.ok(gaugeBytes <= STALLED * QUEUE.bytes, `queue_bytes ${gaugeBytes}`);
    if (stopAt === Infinity && pipes.every((p) => p.queuedBytes + SIZE > QUEUE.bytes)) stopAt = n + AFTER;
    assert.ok(n < 20_000, "the stalled clients' queues never filled");
  }
  assert.equal(pub.stats.drops, 0, "the upstream Pub dropped nothing");
  // Every stalled queue is full (by bytes: 16 messages of 8 KiB), and drops were counted.
  assert.equal(mostBytes, QUEUE.bytes);
  assert.equal(mostMessages, QUEUE.bytes / SIZE);
  const dropped = (await metric(gw, "drops_total", { route: "/feed", reason: "drop-old" })) - drop0;
  assert.ok(dropped >= STALLED * (AFTER - QUEUE.messages), `${dropped} drop-old`);

  // Memory while the stalled clients hold full queues, after a full GC.
  const stalledMem = memory();
  const bound = (1 + STALLED) * (QUEUE.bytes + QUEUE.socketBytes + MAX_MESSAGE);
  const growth = stalledMem.heapUsed + stalledMem.arrayBuffers - (baseline.heapUsed + baseline.arrayBuffers);
  t.diagnostic(`published ${n} x ${SIZE} B = ${mib(n * SIZE)} to ${STALLED} stalled clients; config bound ${mib(bound)}`);
  t.diagnostic(`memory before the attacks: ${show(baseline)}`);
  t.diagnostic(`memory with full queues:   ${show(stalledMem)}`);
  t.diagnostic(`heapUsed + arrayBuffers growth: ${mib(growth)}`);
  // The bound plus 15 MiB for this process's own bookkeeping (log lines, metrics, the test's clients).
  assert.ok(growth < bound + 15 * 1024 * 1024, `heapUsed + arrayBuffers grew by ${mib(growth)}, the bound is ${mib(bound)}`);
  await goodKeepsReceiving(from);

  // Reading again, each gets what the kernel held and its queue: with the drops, exactly what was published.
  for (const s of stalled) s.ws.resume();
  const received = (): number => stalled.reduce((a, s) => a + s.frames.length, 0);
  await until(() => received() + dropped >= STALLED * n, "the stalled clients catch up", 800);
  await sleep(50);
  assert.equal(received() + dropped, STALLED * n, "received + drop-old == published, for every stalled client");
  for (const s of stalled) {
    assert.ok(s.frames.every((f) => f.subarray(0, 5).toString() === "bulk "), "only what it subscribed to");
    assert.equal(s.frames.at(-1)!.subarray(0, 12).toString(), `bulk ${String(n - 1).padStart(7, "0")}`, "drop-old keeps the newest");
  }
  for (const s of stalled) {
    s.ws.close();
    s.frames.length = 0; // this test's copies, not the gateway's memory
  }
  await Promise.all(stalled.map((s) => s.closed));
  await until(() => route.clients.size === 1, "the stalled clients are gone");
  assert.equal(await metric(gw, "queue_bytes", { route: "/feed" }), 0);
  const afterMem = memory();
  t.diagnostic(`memory after they left:    ${show(afterMem)}`);
  await goodKeepsReceiving(goodCount);
});
