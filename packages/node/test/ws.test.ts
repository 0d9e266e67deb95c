/**
 * The WebSocket transport: core's dialer (wsTransport over the `ws` package's
 * WebSocket) and the Node listener (nodeWsTransport), driven at the transport
 * level, against raw HTTP, raw `ws` peers, and the real nngcat (nng 1.5.2).
 *
 * Everything is on 127.0.0.1: nng checks the Host header against its listen
 * host, so both sides use the same literal.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server as NetServer, type Socket as NetSocket } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket, WebSocketServer } from "ws";
import {
  protocols,
  wsTransport,
  SPError,
  type ProtocolInfo,
  type TransportListener,
  type TransportOptions,
  type TransportPipe,
} from "@spwire/core";
import { nodeWsTransport } from "../src/transport/ws.js";
import { freePort, waitForPort, startPeer, until, type Peer } from "../../../test-support/peers.js";

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const node = nodeWsTransport();
const bytes = (...xs: (number[] | string)[]): Uint8Array =>
  Uint8Array.from(xs.flatMap((x) => (typeof x === "string" ? [...Buffer.from(x)] : x)));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function topts(protocol: ProtocolInfo, extra: Partial<TransportOptions> = {}): TransportOptions {
  return { protocol, recvMaxSize: 0, handshakeTimeout: 5_000, ...extra };
}

/** A transport pipe with everything it reported. */
interface Rec {
  pipe: TransportPipe;
  msgs: Uint8Array[];
  drains: number;
  closed: boolean;
  error: SPError | undefined;
  closedCalls: number;
}

function record(pipe: TransportPipe, start = true): Rec {
  const r: Rec = { pipe, msgs: [], drains: 0, closed: false, error: undefined, closedCalls: 0 };
  if (start) begin(r);
  cleanups.push(() => pipe.close());
  return r;
}

function begin(r: Rec): void {
  r.pipe.start({
    message: (m) => r.msgs.push(Uint8Array.from(m)),
    drain: () => r.drains++,
    closed: (err) => {
      r.closedCalls++;
      r.closed = true;
      r.error = err;
    },
  });
}

interface OurListener {
  l: TransportListener;
  port: number;
  accepted: Rec[];
  refusals: { err: SPError; remote: string }[];
}

async function ourListener(url: string, o: TransportOptions): Promise<OurListener> {
  const accepted: Rec[] = [];
  const refusals: { err: SPError; remote: string }[] = [];
  const l = await node.listen!(
    new URL(url),
    o,
    (p) => accepted.push(record(p)),
    (err, remote) => refusals.push({ err, remote }),
  );
  cleanups.push(() => l.close());
  return { l, port: Number(new URL(l.url).port), accepted, refusals };
}

/** Send raw bytes on a fresh TCP connection; resolve with what came back (at a 101 head, or when the server closes). */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, "127.0.0.1");
    let got = "";
    c.on("data", (d) => {
      got += d.toString("latin1");
      if (got.startsWith("HTTP/1.1 101") && got.includes("\r\n\r\n")) {
        c.destroy();
        resolve(got);
      }
    });
    c.on("close", () => resolve(got));
    c.on("error", reject);
    c.write(text);
  });
}

function upgrade(port: number, path: string, protocol?: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
    (protocol !== undefined ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
    "\r\n"
  );
}

const statusOf = (resp: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(resp)?.[1] ?? -1);

/** A `ws` client that has opened, with its close code once it closes. */
async function client(url: string, protocol: string): Promise<{ ws: WebSocket; code: () => number | undefined; msgs: Buffer[] }> {
  const ws = new WebSocket(url, protocol, { perMessageDeflate: false });
  let code: number | undefined;
  const msgs: Buffer[] = [];
  ws.on("close", (c) => (code = c));
  ws.on("message", (d: Buffer) => msgs.push(d));
  cleanups.push(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { ws, code: () => code, msgs };
}

/** A plain `ws` server on 127.0.0.1 that agrees to whatever single token is offered. */
async function rawWsServer(onConn: (ws: WebSocket, req: import("node:http").IncomingMessage) => void): Promise<number> {
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: false,
    handleProtocols: (s: Set<string>) => [...s][0] ?? false,
  });
  wss.on("connection", onConn);
  await new Promise<void>((r) => wss.once("listening", () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  );
  return (wss.address() as { port: number }).port;
}

/** A TCP server that accepts and never says anything. */
async function silentServer(): Promise<number> {
  const socks: NetSocket[] = [];
  const s: NetServer = createServer((c) => socks.push(c));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => {
    for (const c of socks) c.destroy();
    return new Promise<void>((r) => s.close(() => r()));
  });
  return (s.address() as { port: number }).port;
}

const peers: Peer[] = [];
cleanups.push(() => {
  for (const p of peers) p.kill();
});
function nngcat(args: string[]): Peer {
  const p = startPeer("nngcat", args);
  peers.push(p);
  return p;
}

const REP = "rep.sp.nanomsg.org";

// ---------------------------------------------------------------- listener: HTTP-level refusals

test("listener refuses an upgrade without Sec-WebSocket-Protocol with HTTP 400 and reports EPROTO", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const resp = await rawHttp(L.port, upgrade(L.port, "/sp"));
  assert.equal(statusOf(resp), 400);
  await until(() => L.refusals.length === 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "EPROTO");
  assert.match(L.refusals[0]!.remote, /^ws:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(L.accepted.length, 0);
});

test("listener refuses the wrong Sec-WebSocket-Protocol with HTTP 400 and reports EPEER", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  // A REP listener is offered its own peer's name, as a mis-built REP dialer would.
  const resp = await rawHttp(L.port, upgrade(L.port, "/sp", "req.sp.nanomsg.org"));
  assert.equal(statusOf(resp), 400);
  assert.match(resp, /Content-Type: text\/plain/);
  await until(() => L.refusals.length === 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "EPEER");
  assert.equal(L.accepted.length, 0);
});

test("listener accepts its token case-insensitively and echoes the client's spelling", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const resp = await rawHttp(L.port, upgrade(L.port, "/sp", "REP.SP.NANOMSG.ORG"));
  assert.equal(statusOf(resp), 101);
  assert.match(resp, /\r\nSec-WebSocket-Protocol: REP\.SP\.NANOMSG\.ORG\r\n/);
  assert.doesNotMatch(resp, /Sec-WebSocket-Extensions/);
});

test("listener accepts its token inside a comma list (as mangos does) and answers with that token alone", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const resp = await rawHttp(L.port, upgrade(L.port, "/sp", "foo, rep.sp.nanomsg.org"));
  assert.equal(statusOf(resp), 101);
  assert.match(resp, /\r\nSec-WebSocket-Protocol: rep\.sp\.nanomsg\.org\r\n/);
});

test("listener refuses a wrong path with HTTP 404 and reports ECONNREFUSED", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp/rep", topts(protocols.rep));
  for (const path of ["/sp", "/sp/rep/x", "/other"]) {
    assert.equal(statusOf(await rawHttp(L.port, upgrade(L.port, path, REP))), 404, path);
  }
  await until(() => L.refusals.length === 3, "three refusals");
  assert.deepEqual(
    L.refusals.map((r) => r.err.code),
    ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"],
  );
  assert.equal(L.accepted.length, 0);
});

test("listener tolerates one trailing slash and a query on its path", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp/rep", topts(protocols.rep));
  assert.equal(statusOf(await rawHttp(L.port, upgrade(L.port, "/sp/rep/", REP))), 101);
  assert.equal(statusOf(await rawHttp(L.port, upgrade(L.port, "/sp/rep?x=1", REP))), 101);
  assert.equal(L.refusals.length, 0);
});

test("listener URL without a path serves / only", async () => {
  const L = await ourListener("ws://127.0.0.1:0", topts(protocols.rep));
  assert.equal(new URL(L.l.url).pathname, "/");
  assert.equal(statusOf(await rawHttp(L.port, upgrade(L.port, "/", REP))), 101);
  assert.equal(statusOf(await rawHttp(L.port, upgrade(L.port, "/x", REP))), 404);
});

test("listener on port 0 reports the real port and keeps the path", async () => {
  const L = await ourListener("ws://127.0.0.1:0/a/b", topts(protocols.rep));
  const u = new URL(L.l.url);
  assert.ok(L.port > 0);
  assert.equal(u.hostname, "127.0.0.1");
  assert.equal(u.pathname, "/a/b");
});

test("listener refuses an upgrade that ws finds malformed (no Sec-WebSocket-Key) with 400 and reports EPROTO", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const req = upgrade(L.port, "/sp", REP).replace(/Sec-WebSocket-Key: [^\r]*\r\n/, "");
  assert.equal(statusOf(await rawHttp(L.port, req)), 400);
  await until(() => L.refusals.length === 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "EPROTO");
});

test("listener answers a plain HTTP GET with 400, reports EPROTO, and accepts upgrades afterwards", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const resp = await rawHttp(L.port, `GET /sp HTTP/1.1\r\nHost: 127.0.0.1:${L.port}\r\n\r\n`);
  assert.equal(statusOf(resp), 400);
  await until(() => L.refusals.length === 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "EPROTO");
  await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
});

test("malformed HTTP gets 400, is reported EPROTO, and crashes nothing", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const resp = await rawHttp(L.port, "\x00\x53\x50\x00\x00\x30\x00\x00garbage\r\n\r\n");
  assert.equal(statusOf(resp), 400);
  await until(() => L.refusals.length === 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "EPROTO");
  await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted after the garbage");
});

// ---------------------------------------------------------------- listener: upgrade deadline

test("a silent TCP client is dropped by the upgrade deadline and reported ETIMEDOUT", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep, { handshakeTimeout: 200 }));
  const c = connect(L.port, "127.0.0.1");
  const closed = new Promise<void>((r) => c.once("close", () => r()));
  c.on("error", () => c.destroy());
  await closed;
  await until(() => L.refusals.length === 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "ETIMEDOUT");
});

test("a half-sent upgrade request is dropped by the upgrade deadline and reported ETIMEDOUT", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep, { handshakeTimeout: 200 }));
  const c = connect(L.port, "127.0.0.1");
  c.on("error", () => c.destroy());
  const closed = new Promise<void>((r) => c.once("close", () => r()));
  c.write(`GET /sp HTTP/1.1\r\nHost: 127.0.0.1:${L.port}\r\nUpgrade: webs`);
  await closed;
  await until(() => L.refusals.length === 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "ETIMEDOUT");
});

test("an upgraded pipe is not touched by the upgrade deadline", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep, { handshakeTimeout: 100 }));
  const c = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
  await sleep(300);
  c.ws.send(bytes([0x80, 0, 0, 1], "late"));
  await until(() => L.accepted[0]!.msgs.length === 1, "message after the deadline");
  assert.equal(L.accepted[0]!.closed, false);
  assert.equal(L.refusals.length, 0);
});

// ---------------------------------------------------------------- pipes: bad bytes close only that pipe

test("a text frame closes that pipe with EPROTO, the peer sees 1003, and another pipe keeps working", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const a = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "first pipe");
  const b = await client(L.l.url, REP);
  await until(() => L.accepted.length === 2, "second pipe");
  a.ws.send("80000001 hello as text");
  await until(() => L.accepted[0]!.closed && a.code() !== undefined, "first pipe closed");
  assert.equal(L.accepted[0]!.error?.code, "EPROTO");
  assert.equal(L.accepted[0]!.msgs.length, 0);
  assert.equal(a.code(), 1003);

  b.ws.send(bytes([0x80, 0, 0, 2], "still here"));
  await until(() => L.accepted[1]!.msgs.length === 1, "second pipe still receives");
  assert.equal(hex(L.accepted[1]!.msgs[0]!), hex(bytes([0x80, 0, 0, 2], "still here")));
  assert.equal(L.accepted[1]!.closed, false);
  assert.equal(L.accepted[0]!.closedCalls, 1);
});

test("an accepted pipe refuses a message over recvMaxSize with EMSGSIZE and the peer sees 1009", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep, { recvMaxSize: 16 }));
  const a = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
  a.ws.send(new Uint8Array(16).fill(1)); // exactly the limit: delivered
  a.ws.send(new Uint8Array(17).fill(2));
  await until(() => L.accepted[0]!.closed && a.code() !== undefined, "pipe closed");
  assert.equal(L.accepted[0]!.error?.code, "EMSGSIZE");
  assert.equal(L.accepted[0]!.msgs.length, 1);
  assert.equal(L.accepted[0]!.msgs[0]!.length, 16);
  assert.equal(a.code(), 1009);
});

test("a dialed pipe refuses a message over recvMaxSize itself (as in browsers) with EMSGSIZE and the peer sees 1009", async () => {
  let peerCode: number | undefined;
  const port = await rawWsServer((ws) => {
    ws.on("close", (c) => (peerCode = c));
    ws.send(new Uint8Array(17));
  });
  // The plain ws WebSocket, as a browser would be: no maxPayload, so WsPipe's own check runs.
  const t = wsTransport({ WebSocket });
  const r = record(await t.dial(new URL(`ws://127.0.0.1:${port}/x`), topts(protocols.req, { recvMaxSize: 16 })));
  await until(() => r.closed && peerCode !== undefined, "pipe closed");
  assert.equal(r.error?.code, "EMSGSIZE");
  assert.equal(r.msgs.length, 0);
  assert.equal(peerCode, 1009);
});

// ---------------------------------------------------------------- pipes: close reporting

test("local close of an accepted pipe reports no error and the peer sees 1000", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const a = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
  L.accepted[0]!.pipe.close();
  L.accepted[0]!.pipe.close(); // any number of times
  await until(() => L.accepted[0]!.closed && a.code() !== undefined, "closed on both sides");
  assert.equal(L.accepted[0]!.error, undefined);
  assert.equal(L.accepted[0]!.closedCalls, 1);
  assert.equal(a.code(), 1000);
});

test("an accepted pipe's own frames (sent past ws.send) arrive whole at every length boundary, in order with ws's pongs and its Close", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const a = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
  const pongs: Buffer[] = [];
  a.ws.on("pong", (d: Buffer) => pongs.push(d));
  // 7-bit, 16-bit and 64-bit lengths and their edges; 16 KiB is where header and payload stop being one Buffer.
  const sizes = [0, 1, 125, 126, 127, 16_384, 16_385, 65_535, 65_536, 65_537, 1 << 20];
  const sent = sizes.map((n, i) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 7) & 0xff));
  for (const [i, m] of sent.entries()) {
    L.accepted[0]!.pipe.write([m]);
    // The server answers a ping between our frames: its pong must come out between them, whole.
    a.ws.ping(Buffer.from([i]));
  }
  // The same parts array to the pipe twice (what a PUB does for each of its pipes) is sent twice.
  const twice = [bytes("again")];
  L.accepted[0]!.pipe.write(twice);
  L.accepted[0]!.pipe.write(twice);
  await until(() => a.msgs.length === sizes.length + 2 && pongs.length === sizes.length, "every message and pong");
  L.accepted[0]!.pipe.close();
  await until(() => a.code() !== undefined, "the Close frame after the data");
  assert.deepEqual(
    a.msgs.map((m) => m.length),
    [...sizes, 5, 5],
  );
  for (const [i, m] of sent.entries()) assert.equal(Buffer.compare(a.msgs[i]!, Buffer.from(m)), 0, `message ${i} (${sizes[i]} bytes)`);
  assert.deepEqual(pongs.map((p) => p[0]), sizes.map((_, i) => i));
  assert.equal(a.code(), 1000);
});

test("peer Close 1000 reports ECONNSHUT with the code in the message", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const a = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
  a.ws.close(1000, "bye");
  await until(() => L.accepted[0]!.closed, "pipe closed");
  assert.equal(L.accepted[0]!.error?.code, "ECONNSHUT");
  assert.match(L.accepted[0]!.error!.message, /1000/);
  assert.match(L.accepted[0]!.error!.message, /bye/);
});

test("peer dropping TCP without a Close frame reports ECONNRESET", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const a = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
  a.ws.terminate();
  await until(() => L.accepted[0]!.closed, "pipe closed");
  assert.equal(L.accepted[0]!.error?.code, "ECONNRESET");
  assert.match(L.accepted[0]!.error!.message, /1006/);
});

test("peer Close 1002 reports EPROTO", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const a = await client(L.l.url, REP);
  await until(() => L.accepted.length === 1, "pipe accepted");
  a.ws.close(1002);
  await until(() => L.accepted[0]!.closed, "pipe closed");
  assert.equal(L.accepted[0]!.error?.code, "EPROTO");
});

// ---------------------------------------------------------------- pipes: messages and flow

test("messages that arrive before start() are held and delivered in order, then the close", async () => {
  const port = await rawWsServer((ws) => {
    ws.send(bytes("one"));
    ws.send(bytes("two"));
    ws.send(bytes("three"));
    ws.close(1000);
  });
  let seen = 0;
  const t = wsTransport({
    factory: (url, protocol) => {
      const ws = new WebSocket(url, protocol);
      ws.on("message", () => seen++);
      return ws;
    },
  });
  const r = record(await t.dial(new URL(`ws://127.0.0.1:${port}/`), topts(protocols.req)), false);
  await until(() => seen === 3, "three messages reached the WebSocket");
  await sleep(50);
  assert.equal(r.msgs.length, 0);
  begin(r);
  await until(() => r.closed, "close reported after the held messages");
  assert.deepEqual(
    r.msgs.map((m) => Buffer.from(m).toString()),
    ["one", "two", "three"],
  );
  assert.equal(r.error?.code, "ECONNSHUT");
});

test("write of several parts sends one binary message of their concatenation", async () => {
  const got: { data: Buffer; binary: boolean }[] = [];
  const port = await rawWsServer((ws) => ws.on("message", (data: Buffer, binary) => got.push({ data, binary })));
  const r = record(await node.dial(new URL(`ws://127.0.0.1:${port}/`), topts(protocols.req)));
  assert.equal(r.pipe.write([bytes([0x80, 0, 0, 7]), bytes("he"), bytes("llo")]), true);
  assert.equal(r.pipe.write([bytes("single")]), true);
  assert.equal(r.pipe.write([]), true);
  await until(() => got.length === 3, "three messages");
  assert.equal(got[0]!.data.toString("hex"), hex(bytes([0x80, 0, 0, 7], "hello")));
  assert.equal(got[1]!.data.toString(), "single");
  assert.equal(got[2]!.data.length, 0);
  assert.ok(got.every((g) => g.binary));
});

test("a dialer's large messages (masked in reused buffers) arrive whole and in order, and the caller's bytes are never changed", async () => {
  const got: Buffer[] = [];
  const pongs: Buffer[] = [];
  let server: WebSocket | undefined;
  // A `ws` server refuses an unmasked client frame (Close 1002), so every message arriving also checks the masking.
  const port = await rawWsServer((ws) => {
    server = ws;
    ws.on("message", (data: Buffer) => got.push(data));
    ws.on("pong", (d: Buffer) => pongs.push(d));
  });
  const r = record(await node.dial(new URL(`ws://127.0.0.1:${port}/`), topts(protocols.push)));
  await until(() => server !== undefined, "server side open");
  // Either side of the pooled range (16 KiB .. 1 MiB), and its edges.
  const sizes = [16_383, 16_384, 16_385, 65_535, 65_536, 100_000, 1 << 20, (1 << 20) + 1];
  const expected: Buffer[] = [];
  for (const [i, n] of sizes.entries()) {
    const m = Buffer.from(Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 7) & 0xff));
    const copy = Buffer.from(m);
    r.pipe.write([m]);
    assert.equal(Buffer.compare(m, copy), 0, `the caller's ${n} bytes are unchanged by the write`);
    expected.push(copy);
    // Changed right after the write: the message sent is what it held at write time.
    m.fill(0xee);
    // The client answers this ping through ws's own sender: its pong must come out between our frames, whole.
    server!.ping(Buffer.from([i]));
    await until(() => pongs.length === i + 1, `pong ${i}`);
  }
  // Many 64 KiB messages, waiting now and then so that written buffers go back to the pool and are used again.
  for (let k = 0; k < 40; k++) {
    const m = Buffer.alloc(65_536, k);
    m.writeUInt32BE(k, 0);
    r.pipe.write([m]);
    expected.push(Buffer.from(m));
    if (k % 4 === 3) await until(() => got.length === expected.length, `message ${expected.length}`);
  }
  await until(() => got.length === expected.length, "every message");
  assert.deepEqual(
    got.map((g) => g.length),
    expected.map((e) => e.length),
  );
  for (const [i, e] of expected.entries()) assert.equal(Buffer.compare(got[i]!, e), 0, `message ${i} (${e.length} bytes)`);
  assert.deepEqual(
    pongs.map((p) => p[0]),
    sizes.map((_, i) => i),
  );
  assert.equal(r.closed, false);
});

test("write returns false over highWaterMark and drain follows once the peer reads again", async () => {
  let server: WebSocket | undefined;
  let received = 0;
  const port = await rawWsServer((ws) => {
    server = ws;
    ws.pause();
    ws.on("message", () => received++);
  });
  const t = nodeWsTransport({ highWaterMark: 64 * 1024 });
  const r = record(await t.dial(new URL(`ws://127.0.0.1:${port}/`), topts(protocols.push)));
  await until(() => server !== undefined, "server side open");
  const chunk = new Uint8Array(1024 * 1024);
  let sent = 0;
  let ok = true;
  while (ok && sent < 256) {
    ok = r.pipe.write([chunk]);
    sent++;
  }
  assert.equal(ok, false, "the peer never reads, so the buffer must fill");
  assert.equal(r.drains, 0);
  server!.resume();
  await until(() => r.drains === 1, "drain called");
  await until(() => received === sent, "every message arrived");
});

// ---------------------------------------------------------------- dialer

test("dial offers exactly one token, the peer's name, and no extensions", async () => {
  const seen: { proto?: string; ext?: string; origin?: string }[] = [];
  const port = await rawWsServer((_ws, req) =>
    seen.push({
      proto: req.headers["sec-websocket-protocol"],
      ext: req.headers["sec-websocket-extensions"],
      origin: req.headers.origin,
    }),
  );
  record(await node.dial(new URL(`ws://127.0.0.1:${port}/a/b`), topts(protocols.req)));
  record(await node.dial(new URL(`ws://127.0.0.1:${port}/a/b`), topts(protocols.sub)));
  await until(() => seen.length === 2, "two upgrades seen");
  assert.deepEqual(seen, [
    { proto: "rep.sp.nanomsg.org", ext: undefined, origin: undefined },
    { proto: "pub.sp.nanomsg.org", ext: undefined, origin: undefined },
  ]);
});

test("dial rejects EPROTO when the open WebSocket negotiated no subprotocol (a browser accepts such a 101)", async () => {
  const port = await rawWsServer(() => undefined);
  // A real ws client that, like a browser, does not itself insist on the subprotocol: it offers none.
  const t = wsTransport({ factory: (url) => new WebSocket(url) });
  await assert.rejects(t.dial(new URL(`ws://127.0.0.1:${port}/`), topts(protocols.req)), (err: SPError) => {
    assert.equal(err.code, "EPROTO");
    assert.match(err.message, /rep\.sp\.nanomsg\.org/);
    return true;
  });
});

test("dial through ws to a server whose 101 lacks the subprotocol is refused before open", async () => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => false });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  const port = (wss.address() as { port: number }).port;
  await assert.rejects(node.dial(new URL(`ws://127.0.0.1:${port}/`), topts(protocols.req)), (err: SPError) => {
    assert.equal(err.code, "ECONNREFUSED");
    assert.match(err.message, /subprotocol/);
    return true;
  });
});

test("dial to a port nobody listens on rejects ECONNREFUSED", async () => {
  const port = await freePort();
  await assert.rejects(node.dial(new URL(`ws://127.0.0.1:${port}/sp`), topts(protocols.req)), { code: "ECONNREFUSED" });
});

test("dial to a wrong path on our listener rejects ECONNREFUSED naming the 404", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  await assert.rejects(node.dial(new URL(`ws://127.0.0.1:${L.port}/nope`), topts(protocols.req)), (err: SPError) => {
    assert.equal(err.code, "ECONNREFUSED");
    assert.match(err.message, /404/);
    return true;
  });
});

test("dial with the wrong protocol for our listener is refused with the 400 in the message", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.pub));
  await assert.rejects(node.dial(new URL(L.l.url), topts(protocols.req)), (err: SPError) => {
    assert.equal(err.code, "ECONNREFUSED");
    assert.match(err.message, /400/);
    return true;
  });
  await until(() => L.refusals.length === 1, "listener reported it");
  assert.equal(L.refusals[0]!.err.code, "EPEER");
});

test("dial to a server that never answers rejects ETIMEDOUT at handshakeTimeout", async () => {
  const port = await silentServer();
  await assert.rejects(node.dial(new URL(`ws://127.0.0.1:${port}/sp`), topts(protocols.req, { handshakeTimeout: 200 })), {
    code: "ETIMEDOUT",
  });
});

test("dial aborted by its signal rejects with the signal's reason unchanged", async () => {
  const port = await silentServer();
  const ac = new AbortController();
  const reason = new Error("user went away");
  const p = node.dial(new URL(`ws://127.0.0.1:${port}/sp`), topts(protocols.req, { signal: ac.signal }));
  setTimeout(() => ac.abort(reason), 50);
  await assert.rejects(p, (err) => err === reason);
  const pre = new AbortController();
  pre.abort(reason);
  await assert.rejects(node.dial(new URL(`ws://127.0.0.1:${port}/sp`), topts(protocols.req, { signal: pre.signal })), (err) => err === reason);
});

test("core wsTransport without any WebSocket implementation rejects ENOTSUP", { skip: typeof globalThis.WebSocket === "function" }, async () => {
  await assert.rejects(wsTransport().dial(new URL("ws://127.0.0.1:1/"), topts(protocols.req)), { code: "ENOTSUP" });
});

// ---------------------------------------------------------------- shared ports

test("listeners on one host:port with different paths share it; the same path twice is EADDRINUSE; the port frees after both close", async () => {
  const A = await ourListener("ws://127.0.0.1:0/a", topts(protocols.rep));
  const B = await ourListener(`ws://127.0.0.1:${A.port}/b`, topts(protocols.pub));
  assert.equal(B.port, A.port);
  await assert.rejects(ourListener(`ws://127.0.0.1:${A.port}/a`, topts(protocols.rep)), { code: "EADDRINUSE" });

  await client(`ws://127.0.0.1:${A.port}/a`, REP);
  await client(`ws://127.0.0.1:${A.port}/b`, "pub.sp.nanomsg.org");
  await until(() => A.accepted.length === 1 && B.accepted.length === 1, "one pipe each");
  // Each path checks its own protocol.
  assert.equal(statusOf(await rawHttp(A.port, upgrade(A.port, "/b", REP))), 400);
  await until(() => B.refusals.length === 1, "B refused");
  assert.equal(A.refusals.length, 0);

  await A.l.close();
  assert.equal(statusOf(await rawHttp(A.port, upgrade(A.port, "/a", REP))), 404);
  await B.l.close();
  const C = await ourListener(`ws://127.0.0.1:${A.port}/c`, topts(protocols.rep));
  assert.equal(C.port, A.port);
});

test("listen on a port held by another server rejects EADDRINUSE", async () => {
  const port = await silentServer();
  await assert.rejects(ourListener(`ws://127.0.0.1:${port}/sp`, topts(protocols.rep)), { code: "EADDRINUSE" });
});

test("listen on wss:// without cert and key is refused EINVAL", async () => {
  await assert.rejects(ourListener("wss://127.0.0.1:0/sp", topts(protocols.rep)), { code: "EINVAL" });
});

// ---------------------------------------------------------------- interop with nngcat (nng 1.5.2)

test("nngcat: core wsTransport with ws's WebSocket dials nngcat --rep0 and gets the reply bytes", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `ws://127.0.0.1:${port}/sp`, "--data", "pong"]);
  await waitForPort(port);
  const t = wsTransport({ WebSocket });
  const r = record(await t.dial(new URL(`ws://127.0.0.1:${port}/sp`), topts(protocols.req)));
  r.pipe.write([bytes([0x80, 0, 0, 1]), bytes("hello")]);
  await until(() => r.msgs.length === 1, "reply");
  assert.equal(hex(r.msgs[0]!), "800000017" + "06f6e67");
});

test("nngcat: local close of a dialed pipe reports no error although nng 1.5.2 never answers Close", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `ws://127.0.0.1:${port}/sp`, "--data", "pong"]);
  await waitForPort(port);
  let code: number | undefined;
  const t = wsTransport({
    factory: (url, protocol) => {
      const ws = new WebSocket(url, protocol);
      ws.on("close", (c) => (code = c));
      return ws;
    },
  });
  const r = record(await t.dial(new URL(`ws://127.0.0.1:${port}/sp`), topts(protocols.req)));
  r.pipe.close();
  await until(() => r.closed && code !== undefined, "closed, and the WebSocket saw the end");
  assert.equal(r.error, undefined);
  assert.equal(code, 1006, "nng 1.5.2 drops TCP instead of answering Close");
});

test("nngcat: a 200 000-byte reply that nng cuts into 64 KiB frames arrives as one message", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spwire-ws-"));
  const file = join(dir, "big.bin");
  const body = Buffer.alloc(200_000);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;
  writeFileSync(file, body);
  const port = await freePort();
  nngcat(["--rep0", "--listen", `ws://127.0.0.1:${port}/sp`, "--file", file]);
  await waitForPort(port);
  const r = record(await node.dial(new URL(`ws://127.0.0.1:${port}/sp`), topts(protocols.req)));
  r.pipe.write([bytes([0x80, 0, 0, 9], "big?")]);
  await until(() => r.msgs.length === 1, "reply");
  assert.equal(r.msgs[0]!.length, 200_004);
  assert.equal(hex(r.msgs[0]!.subarray(0, 4)), "80000009");
  assert.ok(Buffer.from(r.msgs[0]!.subarray(4)).equals(body));
});

test("nngcat: --req0 dials our rep listener; we see a high-bit id + hello, reply, and nngcat prints pong", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.rep));
  const peer = nngcat(["--req0", "--dial", L.l.url, "--data", "hello", "--ascii"]);
  await until(() => L.accepted.length >= 1 && L.accepted.some((a) => a.msgs.length > 0), "request received");
  const a = L.accepted.find((x) => x.msgs.length > 0)!;
  const req = a.msgs[0]!;
  assert.equal(req.length, 9);
  assert.ok((req[0]! & 0x80) !== 0, `request id must have the high bit: ${hex(req)}`);
  assert.equal(Buffer.from(req.subarray(4)).toString(), "hello");
  a.pipe.write([req.subarray(0, 4), bytes("pong")]);
  // nngcat sends one request, prints the reply (--ascii: no trailing newline in 1.5.2) and exits.
  assert.equal(await peer.exited, 0);
  await until(() => peer.stdout().length >= 4, "nngcat output flushed");
  assert.equal(peer.stdout().toString(), "pong");
  assert.equal(L.refusals.length, 0);
});

test("nngcat: --sub0 dials our pub listener and receives the exact bytes", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.pub));
  const peer = nngcat(["--sub0", "--dial", L.l.url, "--subscribe", "news", "--raw"]);
  await until(() => L.accepted.length === 1, "nngcat connected");
  const msg = bytes("news", [0x00, 0x01, 0xfe, 0xff, 0x80]);
  // nngcat subscribes right after connecting; publish until its output shows the message.
  for (let i = 0; i < 200 && peer.stdout().length < msg.length; i++) {
    L.accepted[0]!.pipe.write([msg]);
    await sleep(25);
  }
  const out = peer.stdout();
  assert.ok(out.length >= msg.length && out.length % msg.length === 0, `got ${out.toString("hex")}`);
  assert.equal(out.subarray(0, msg.length).toString("hex"), hex(msg));
});

test("nngcat: --req0 dialing our pub listener is refused with 400 and reported EPEER", async () => {
  const L = await ourListener("ws://127.0.0.1:0/sp", topts(protocols.pub));
  nngcat(["--req0", "--dial", L.l.url, "--data", "hello"]);
  await until(() => L.refusals.length >= 1, "refusal reported");
  assert.equal(L.refusals[0]!.err.code, "EPEER");
  assert.match(L.refusals[0]!.err.message, /rep\.sp\.nanomsg\.org/);
  assert.equal(L.accepted.length, 0);
});
