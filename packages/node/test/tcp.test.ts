/**
 * tcp:// transport (sp-wire.md 3): handshake bytes and checks, deadlines,
 * framing on a real loopback socket, size limits, pipe lifecycle, and
 * interop with Debian's nngcat (nng 1.5.2). Raw `net` peers stand in where
 * we need to send bytes no SP implementation would send.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import {
  SPError,
  protocols,
  type ProtocolInfo,
  type TransportListener,
  type TransportOptions,
  type TransportPipe,
} from "@spwire/core";
import { tcpTransport } from "../src/transport/tcp.js";
import { encodeFramePrefix, encodeHandshake } from "../src/transport/framing.js";
import { freePort, startPeer, until, waitForPort, type Peer } from "../../../test-support/peers.js";
import { codeOf, hex, startPipe, text } from "../../../test-support/pipes.js";

const tcp = tcpTransport();
const req = protocols.req!;
const rep = protocols.rep!;

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sp = (id: number): Buffer => Buffer.from(encodeHandshake(id));

function options(protocol: ProtocolInfo, extra: Partial<TransportOptions> = {}): TransportOptions {
  return { protocol, recvMaxSize: 1024, handshakeTimeout: 2000, ...extra };
}

/** A raw TCP endpoint that records everything it reads. */
interface Raw {
  socket: Socket;
  data(): Buffer;
  /** Resolves when the connection is fully closed; `hadError` is false for a clean FIN. */
  closed: Promise<boolean>;
  /** Resolves when the peer sent FIN (or the connection died). */
  ended: Promise<void>;
}

function wrap(socket: Socket): Raw {
  const chunks: Buffer[] = [];
  socket.on("data", (b: Buffer) => chunks.push(b));
  socket.on("error", (err) => chunks.push(Buffer.from(`\n<error ${String((err as NodeJS.ErrnoException).code)}>`)));
  cleanups.push(() => socket.destroy());
  return {
    socket,
    data: () => Buffer.concat(chunks),
    closed: new Promise((r) => socket.once("close", r)),
    ended: new Promise((r) => {
      socket.once("end", () => r());
      socket.once("close", () => r());
    }),
  };
}

async function rawConnect(port: number): Promise<Raw> {
  const s = connect(port, "127.0.0.1");
  const raw = wrap(s);
  await new Promise<void>((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  return raw;
}

/** A raw TCP server on 127.0.0.1:0; `next()` gives accepted connections in order. */
async function rawServer(): Promise<{ port: number; url: string; next(): Promise<Raw>; server: Server }> {
  const waiting: ((r: Raw) => void)[] = [];
  const ready: Raw[] = [];
  const server = createServer((s) => {
    const raw = wrap(s);
    const w = waiting.shift();
    if (w) w(raw);
    else ready.push(raw);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    server,
    next: () => (ready.length > 0 ? Promise.resolve(ready.shift()!) : new Promise((r) => waiting.push(r))),
  };
}

/** What a started pipe reported. */


/** Listen with `protocol`; accepted pipes and refusals are collected. */
async function listenOn(
  protocol: ProtocolInfo,
  extra: Partial<TransportOptions> = {},
  url = "tcp://127.0.0.1:0",
): Promise<{ l: TransportListener; port: number; pipes: TransportPipe[]; refused: { err: SPError; remote: string }[] }> {
  const pipes: TransportPipe[] = [];
  const refused: { err: SPError; remote: string }[] = [];
  const l = await tcp.listen!(new URL(url), options(protocol, extra), (p) => pipes.push(p), (err, remote) => refused.push({ err, remote }));
  cleanups.push(() => l.close());
  return { l, port: Number(new URL(l.url).port), pipes, refused };
}

/** Dial `url`; return the pipe or the error, never throw. */
async function tryDial(url: string, opts: TransportOptions): Promise<TransportPipe | unknown> {
  try {
    const p = await tcp.dial(new URL(url), opts);
    cleanups.push(() => p.close());
    return p;
  } catch (err) {
    return err;
  }
}

async function dialOk(url: string, opts: TransportOptions): Promise<TransportPipe> {
  const p = await tcp.dial(new URL(url), opts);
  cleanups.push(() => p.close());
  return p;
}


/** A raw server that answers our handshake with `reply`, and the dial's outcome. */
async function dialAgainst(reply: Buffer, opts: TransportOptions = options(req)): Promise<{ result: unknown; raw: Raw }> {
  const srv = await rawServer();
  const dialing = tryDial(srv.url, opts);
  const raw = await srv.next();
  raw.socket.write(reply);
  return { result: await dialing, raw };
}

/** Connect a raw client to a listener, send `hello`, and return it. */
async function rawHello(port: number, hello: Buffer): Promise<Raw> {
  const raw = await rawConnect(port);
  raw.socket.write(hello);
  return raw;
}

// --- handshake ---

test("dial sends our 8-byte SP header at once, before the peer sends anything", async () => {
  const srv = await rawServer();
  const dialing = tryDial(srv.url, options(req));
  const raw = await srv.next();
  await until(() => raw.data().length >= 8, "our SP header");
  assert.equal(hex(raw.data()), "0053500000300000");
  raw.socket.write(sp(0x31));
  assert.ok(!((await dialing) instanceof Error));
});

test("listener sends its 8-byte SP header at once on accept", async () => {
  const { port } = await listenOn(rep);
  const raw = await rawConnect(port);
  await until(() => raw.data().length >= 8, "the listener's SP header");
  assert.equal(hex(raw.data()), "0053500000310000");
});

test("dial resolves with tcp:// addresses once the peer's header is right", async () => {
  const { result } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  assert.match(pipe.remoteAddress, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.match(pipe.localAddress, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  pipe.close();
});

test("dial rejects wrong magic with EPROTO", async () => {
  const { result, raw } = await dialAgainst(Buffer.from("GET / HTTP/1.1\r\n"));
  assert.equal(codeOf(result), "EPROTO");
  await raw.closed;
});

test("dial rejects SP version byte 1 with EPROTO", async () => {
  const { result } = await dialAgainst(Buffer.from("0053500100310000", "hex"));
  assert.equal(codeOf(result), "EPROTO");
});

test("dial rejects reserved bytes 00 01 with EPROTO", async () => {
  const { result } = await dialAgainst(Buffer.from("0053500000310001", "hex"));
  assert.equal(codeOf(result), "EPROTO");
});

test("dial rejects a wrong peer protocol id with EPEER naming both ids", async () => {
  const { result } = await dialAgainst(sp(0x20));
  assert.equal(codeOf(result), "EPEER");
  assert.match((result as Error).message, /0x20 \(pub\)/);
  assert.match((result as Error).message, /0x31 \(rep\)/);
});

test("dial rejects a silent peer with ETIMEDOUT", async () => {
  const srv = await rawServer();
  const result = await tryDial(srv.url, options(req, { handshakeTimeout: 200 }));
  assert.equal(codeOf(result), "ETIMEDOUT");
  const raw = await srv.next();
  await raw.closed;
  assert.equal(hex(raw.data()), "0053500000300000");
});

test("dial rejects a peer that hangs up during the handshake with ECONNSHUT", async () => {
  const srv = await rawServer();
  const dialing = tryDial(srv.url, options(req));
  const raw = await srv.next();
  raw.socket.end(Buffer.from("005350", "hex"));
  assert.equal(codeOf(await dialing), "ECONNSHUT");
});

test("dial to a port nobody listens on rejects with ECONNREFUSED", async () => {
  const port = await freePort();
  assert.equal(codeOf(await tryDial(`tcp://127.0.0.1:${port}`, options(req))), "ECONNREFUSED");
});

test("dial rejects with the abort signal's reason, unchanged", async () => {
  const srv = await rawServer();
  const ac = new AbortController();
  const reason = new Error("stop dialing");
  const dialing = tryDial(srv.url, options(req, { signal: ac.signal }));
  const raw = await srv.next();
  ac.abort(reason);
  assert.equal(await dialing, reason);
  await raw.closed;
});

test("dial with an already aborted signal rejects with its reason", async () => {
  const ac = new AbortController();
  ac.abort("gone");
  assert.equal(await tryDial("tcp://127.0.0.1:9", options(req, { signal: ac.signal })), "gone");
});

test("dial rejects URLs without a port, with a path, port 0 or a wildcard host with EINVAL", async () => {
  for (const u of ["tcp://127.0.0.1", "tcp://127.0.0.1:5555/path", "tcp://127.0.0.1:0", "tcp://*:5555", "tcp://u:p@127.0.0.1:5555"]) {
    assert.equal(codeOf(await tryDial(u, options(req))), "EINVAL", u);
  }
});

test("tcp4 refuses an IPv6 literal with EINVAL", async () => {
  assert.equal(codeOf(await tryDial("tcp4://[::1]:5555", options(req))), "EINVAL");
});

test("listener calls refused with EPROTO for wrong magic and closes that connection", async () => {
  const { port, refused, pipes } = await listenOn(rep);
  const raw = await rawHello(port, Buffer.from("GET / HTTP/1.1\r\n"));
  await until(() => refused.length === 1, "refused");
  assert.equal(refused[0]!.err.code, "EPROTO");
  await raw.closed;
  assert.match(refused[0]!.remote, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(pipes.length, 0);
});

test("listener calls refused with EPROTO for version byte 1", async () => {
  const { port, refused } = await listenOn(rep);
  const raw = await rawHello(port, Buffer.from("0053500100300000", "hex"));
  await until(() => refused.length === 1, "refused");
  assert.equal(refused[0]!.err.code, "EPROTO");
  await raw.closed;
});

test("listener calls refused with EPROTO for reserved bytes 00 01", async () => {
  const { port, refused } = await listenOn(rep);
  const raw = await rawHello(port, Buffer.from("0053500000300001", "hex"));
  await until(() => refused.length === 1, "refused");
  assert.equal(refused[0]!.err.code, "EPROTO");
  await raw.closed;
});

test("listener calls refused with EPEER for a wrong peer protocol id", async () => {
  const { port, refused, pipes } = await listenOn(rep);
  const raw = await rawHello(port, sp(0x31));
  await until(() => refused.length === 1, "refused");
  assert.equal(refused[0]!.err.code, "EPEER");
  await raw.closed;
  assert.equal(pipes.length, 0);
});

test("listener calls refused with ETIMEDOUT for a silent peer", async () => {
  const { port, refused } = await listenOn(rep, { handshakeTimeout: 200 });
  const raw = await rawConnect(port);
  await until(() => refused.length === 1, "refused");
  assert.equal(refused[0]!.err.code, "ETIMEDOUT");
  await raw.closed;
});

test("listener with port 0 reports the real port in its url", async () => {
  const { l, port } = await listenOn(rep);
  assert.match(l.url, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(port, 0);
  await waitForPort(port);
});

test("listening on a port in use rejects with EADDRINUSE", async () => {
  const { port } = await listenOn(rep);
  await assert.rejects(
    tcp.listen!(new URL(`tcp://127.0.0.1:${port}`), options(rep), () => undefined, () => undefined),
    (e: unknown) => e instanceof SPError && e.code === "EADDRINUSE",
  );
});

test("listen rejects a URL without a port with EINVAL", async () => {
  await assert.rejects(
    tcp.listen!(new URL("tcp://127.0.0.1"), options(rep), () => undefined, () => undefined),
    (e: unknown) => e instanceof SPError && e.code === "EINVAL",
  );
});

test("a closed listener frees its port for another listener", async () => {
  const { l, port } = await listenOn(rep);
  await l.close();
  const again = await listenOn(rep, {}, `tcp://127.0.0.1:${port}`);
  assert.equal(again.port, port);
});

// --- messages ---

test("dial and listen pipes exchange a message both ways", async () => {
  const { port, pipes } = await listenOn(rep);
  const d = await dialOk(`tcp://127.0.0.1:${port}`, options(req));
  await until(() => pipes.length === 1, "accepted pipe");
  const ds = startPipe(d, cleanups);
  const ls = startPipe(pipes[0]!, cleanups);
  d.write([Uint8Array.of(0x80, 0, 0, 0x2a), text("hello")]);
  await until(() => ls.messages.length === 1, "request");
  assert.equal(ls.messages[0], "8000002a68656c6c6f");
  pipes[0]!.write([Uint8Array.of(0x80, 0, 0, 0x2a), text("pong")]);
  await until(() => ds.messages.length === 1, "reply");
  assert.equal(ds.messages[0], "8000002a706f6e67");
});

test("write() frames a message as u64 BE length + parts, exactly", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  startPipe(pipe, cleanups);
  assert.equal(pipe.write([Uint8Array.of(0x80, 0, 0, 0x2a), text("hello")]), true);
  await until(() => raw.data().length >= 8 + 17, "request");
  assert.equal(hex(raw.data().subarray(8)), "00000000000000098000002a68656c6c6f");
});

test("write() of an empty message sends only a zero length", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  startPipe(pipe, cleanups);
  pipe.write([]);
  pipe.write([new Uint8Array(0), new Uint8Array(0)]);
  await until(() => raw.data().length >= 8 + 16, "two empty messages");
  assert.equal(hex(raw.data().subarray(8)), "0".repeat(32));
});

test("several writes in one tick arrive as consecutive frames in order", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  startPipe(pipe, cleanups);
  for (let i = 0; i < 5; i++) pipe.write([Uint8Array.of(i)]);
  await until(() => raw.data().length >= 8 + 5 * 9, "five frames");
  const want = [0, 1, 2, 3, 4].map((i) => `0000000000000001${i.toString(16).padStart(2, "0")}`).join("");
  assert.equal(hex(raw.data().subarray(8)), want);
});

test("coalesced messages in one segment arrive as separate messages", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const seen = startPipe(result as TransportPipe, cleanups);
  raw.socket.write(
    Buffer.concat([
      Buffer.from(encodeFramePrefix(3)),
      Buffer.from("one"),
      Buffer.from(encodeFramePrefix(0)),
      Buffer.from(encodeFramePrefix(3)),
      Buffer.from("two"),
    ]),
  );
  await until(() => seen.messages.length === 3, "three messages");
  assert.deepEqual(seen.messages, [hex(text("one")), "", hex(text("two"))]);
});

test("the peer's first message may share a segment with its handshake", async () => {
  const { result } = await dialAgainst(Buffer.concat([sp(0x31), Buffer.from(encodeFramePrefix(2)), Buffer.from("hi")]));
  const seen = startPipe(result as TransportPipe, cleanups);
  await until(() => seen.messages.length === 1, "message");
  assert.equal(seen.messages[0], hex(text("hi")));
});

test("a message split over several writes arrives whole", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const seen = startPipe(result as TransportPipe, cleanups);
  const stream = Buffer.concat([Buffer.from(encodeFramePrefix(9)), Buffer.from("8000002a", "hex"), Buffer.from("hello")]);
  for (const [a, b] of [[0, 3], [3, 11], [11, 15], [15, stream.length]] as const) {
    raw.socket.write(stream.subarray(a, b));
    await new Promise((r) => setImmediate(r));
  }
  await until(() => seen.messages.length === 1, "message");
  assert.equal(seen.messages[0], "8000002a68656c6c6f");
});

test("messages that arrive before start() are held and delivered, then the end", async () => {
  const { result, raw } = await dialAgainst(Buffer.concat([sp(0x31), Buffer.from(encodeFramePrefix(1)), Buffer.from("a")]));
  const pipe = result as TransportPipe;
  raw.socket.end(Buffer.concat([Buffer.from(encodeFramePrefix(1)), Buffer.from("b")]));
  await new Promise((r) => setTimeout(r, 50));
  const seen = startPipe(pipe, cleanups);
  await until(() => seen.closed !== undefined, "closed");
  assert.deepEqual(seen.messages, [hex(text("a")), hex(text("b"))]);
  assert.equal(seen.closed!.err?.code, "ECONNSHUT");
});

test("pause() holds messages and resume() delivers them in order", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  const seen = startPipe(pipe, cleanups);
  pipe.pause!();
  raw.socket.write(Buffer.concat([Buffer.from(encodeFramePrefix(1)), Buffer.from("x"), Buffer.from(encodeFramePrefix(1)), Buffer.from("y")]));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(seen.messages, []);
  pipe.resume!();
  await until(() => seen.messages.length === 2, "messages after resume");
  assert.deepEqual(seen.messages, [hex(text("x")), hex(text("y"))]);
});

test("write() returns false over the high water mark and drain() follows once the peer reads", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  const seen = startPipe(pipe, cleanups);
  raw.socket.pause();
  assert.equal(pipe.write([new Uint8Array(8 << 20)]), false);
  raw.socket.resume();
  await until(() => seen.drains === 1, "drain");
  await until(() => raw.data().length === 8 + 8 + (8 << 20), "all bytes");
});

// --- size limits ---

test("a declared length over recvMaxSize closes that pipe with EMSGSIZE; the listener keeps serving", async () => {
  const { port, pipes } = await listenOn(rep, { recvMaxSize: 100 });
  const bad = await rawHello(port, Buffer.concat([sp(0x30), Buffer.from(encodeFramePrefix(101))]));
  await until(() => pipes.length === 1, "first pipe");
  const seen1 = startPipe(pipes[0]!, cleanups);
  await until(() => seen1.closed !== undefined, "first pipe closed");
  assert.equal(seen1.closed!.err?.code, "EMSGSIZE");
  await bad.closed;

  const good = await rawHello(port, Buffer.concat([sp(0x30), Buffer.from(encodeFramePrefix(100)), Buffer.alloc(100, 7)]));
  await until(() => pipes.length === 2, "second pipe");
  const seen2 = startPipe(pipes[1]!, cleanups);
  await until(() => seen2.messages.length === 1, "message of exactly recvMaxSize");
  assert.equal(seen2.messages[0], "07".repeat(100));
  pipes[1]!.write([text("ok")]);
  await until(() => good.data().length >= 8 + 10, "reply");
  assert.equal(hex(good.data().subarray(8)), "0000000000000002" + hex(text("ok")));
});

test("a declared length of 2^62 closes the pipe with EMSGSIZE even with no limit", async () => {
  const { port, pipes } = await listenOn(rep, { recvMaxSize: 0 });
  const raw = await rawHello(port, Buffer.concat([sp(0x30), Buffer.from("4000000000000000", "hex")]));
  await until(() => pipes.length === 1, "pipe");
  const seen = startPipe(pipes[0]!, cleanups);
  await until(() => seen.closed !== undefined, "closed");
  assert.equal(seen.closed!.err?.code, "EMSGSIZE");
  await raw.closed;
});

test("a message before an oversized frame is still delivered", async () => {
  const { result, raw } = await dialAgainst(sp(0x31), options(req, { recvMaxSize: 4 }));
  const seen = startPipe(result as TransportPipe, cleanups);
  raw.socket.write(Buffer.concat([Buffer.from(encodeFramePrefix(2)), Buffer.from("ok"), Buffer.from(encodeFramePrefix(5))]));
  await until(() => seen.closed !== undefined, "closed");
  assert.deepEqual(seen.messages, [hex(text("ok"))]);
  assert.equal(seen.closed!.err?.code, "EMSGSIZE");
});

// --- closing ---

test("close() reports closed() with no error, once, and the peer sees EOF", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  const seen = startPipe(pipe, cleanups);
  pipe.close();
  pipe.close();
  await until(() => seen.closed !== undefined, "closed");
  assert.equal(seen.closed!.err, undefined);
  await raw.ended;
});

test("close() lets a reply written just before it reach the peer", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  startPipe(pipe, cleanups);
  pipe.write([text("last")]);
  pipe.close();
  await raw.closed;
  assert.equal(hex(raw.data().subarray(8)), "0000000000000004" + hex(text("last")));
});

test("close(err) reports closed(err)", async () => {
  const { result } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  const seen = startPipe(pipe, cleanups);
  const err = new SPError("EPROTO", "bad header");
  pipe.close(err);
  await until(() => seen.closed !== undefined, "closed");
  assert.equal(seen.closed!.err, err);
});

test("peer EOF reports closed(ECONNSHUT)", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const seen = startPipe(result as TransportPipe, cleanups);
  raw.socket.end();
  await until(() => seen.closed !== undefined, "closed");
  assert.equal(seen.closed!.err?.code, "ECONNSHUT");
});

test("peer EOF in the middle of a message reports ECONNSHUT and delivers nothing half-read", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const seen = startPipe(result as TransportPipe, cleanups);
  raw.socket.end(Buffer.concat([Buffer.from(encodeFramePrefix(10)), Buffer.from("abc")]));
  await until(() => seen.closed !== undefined, "closed");
  assert.equal(seen.closed!.err?.code, "ECONNSHUT");
  assert.match(seen.closed!.err!.message, /middle of a message/);
  assert.deepEqual(seen.messages, []);
});

test("peer reset reports closed(ECONNRESET)", async () => {
  const { result, raw } = await dialAgainst(sp(0x31));
  const seen = startPipe(result as TransportPipe, cleanups);
  raw.socket.resetAndDestroy();
  await until(() => seen.closed !== undefined, "closed");
  assert.equal(seen.closed!.err?.code, "ECONNRESET");
});

test("write() after close() is accepted and ignored", async () => {
  const { result } = await dialAgainst(sp(0x31));
  const pipe = result as TransportPipe;
  startPipe(pipe, cleanups);
  pipe.close();
  assert.equal(pipe.write([text("late")]), true);
});

// --- interop with nngcat (nng 1.5.2) ---

const peers: Peer[] = [];
after(() => {
  for (const p of peers) p.kill();
});
function nngcat(args: string[]): Peer {
  const p = startPeer("nngcat", args);
  peers.push(p);
  return p;
}

test("nngcat --rep0 listener answers our REQ dial: 80 00 00 2a pong", async () => {
  const port = await freePort();
  const peer = nngcat(["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "pong", "--count", "1"]);
  await waitForPort(port);
  const pipe = await dialOk(`tcp://127.0.0.1:${port}`, options({ name: "req", id: 0x30, peerId: 0x31, peerName: "rep" }));
  const seen = startPipe(pipe, cleanups);
  pipe.write([Uint8Array.of(0x80, 0x00, 0x00, 0x2a), text("hello")]);
  await until(() => seen.messages.length === 1, "nngcat's reply");
  assert.equal(seen.messages[0], "8000002a706f6e67");
  pipe.close();
  await peer.exited;
});

test("nngcat --req0 dials our REP listener, gets our answer and prints pong", async () => {
  const { l, pipes } = await listenOn(rep);
  const peer = nngcat(["--req0", "--dial", l.url, "--data", "hello", "--ascii"]);
  await until(() => pipes.length === 1, "nngcat connected");
  const pipe = pipes[0]!;
  const seen = startPipe(pipe, cleanups);
  await until(() => seen.messages.length === 1, "nngcat's request");
  const request = Buffer.from(seen.messages[0]!, "hex");
  assert.equal(request.length, 4 + 5);
  assert.ok((request[0]! & 0x80) !== 0, "request id has its top bit set");
  assert.equal(request.subarray(4).toString(), "hello");
  pipe.write([request.subarray(0, 4), text("pong")]);
  await until(() => peer.stdout().toString().includes("pong"), "nngcat prints the reply");
  assert.equal(peer.stdout().toString().trim(), "pong");
});

test("nngcat --pub0 dialing our REP listener is refused with EPEER", async () => {
  const { l, refused, pipes } = await listenOn(rep);
  nngcat(["--pub0", "--dial", l.url, "--data", "x", "--interval", "1"]);
  await until(() => refused.length >= 1, "refusal");
  assert.equal(refused[0]!.err.code, "EPEER");
  assert.match(refused[0]!.err.message, /0x20 \(pub\)/);
  assert.equal(pipes.length, 0);
});

test("our PUB dial to an nngcat --rep0 listener fails with EPEER before any pipe forms", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "pong"]);
  await waitForPort(port);
  const result = await tryDial(`tcp://127.0.0.1:${port}`, options(protocols.pub!));
  assert.equal(codeOf(result), "EPEER");
});
