/**
 * Bad input at the socket level, over the real Node transports: each case
 * closes only the offending pipe with a counted reason, and another pipe on
 * the same listener keeps working.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket as NetSocket } from "node:net";
import { WebSocket } from "ws";
import { Pub, Sub, Rep, Req, silentLogger, type Socket } from "@spwire/node";
import { until } from "../../../test-support/peers.js";

const opts = { logger: silentLogger, handshakeTimeout: 300 };

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A raw TCP peer: sends `hello` bytes at once and collects what comes back. */
function rawTcp(url: string, hello: Uint8Array): Promise<{ s: NetSocket; got: () => Buffer; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(portOf(url), "127.0.0.1");
    const closed = new Promise<void>((r) => s.once("close", () => r()));
    s.on("data", (b) => chunks.push(b));
    s.on("error", () => undefined); // a reset from the side we provoke is the expected outcome
    s.once("connect", () => {
      s.write(hello);
      resolve({ s, got: () => Buffer.concat(chunks), closed });
    });
    s.once("error", reject);
  });
}

const hs = (id: number) => Buffer.from([0, 0x53, 0x50, 0, 0, id, 0, 0]);
const frame = (payload: Buffer) => {
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(payload.length));
  return Buffer.concat([len, payload]);
};

/** A well-behaved spwire Sub on the same listener, to show other pipes are untouched. */
async function goodSub(pub: Pub, url: string): Promise<Sub> {
  const sub = new Sub({ logger: silentLogger });
  sub.subscribe("");
  await sub.dial(url);
  await until(() => pub.pipes.length >= 1, "good sub attached");
  return sub;
}

async function stillServes(pub: Pub, sub: Sub): Promise<void> {
  await pub.send("still here");
  assert.equal((await sub.recv({ timeout: 5000 })).text(), "still here");
}

test("tcp: data sent to a pub closes that pipe with EPROTO; other pipes keep receiving", async () => {
  const pub = new Pub(opts);
  const l = await pub.listen("tcp://127.0.0.1:0");
  const sub = await goodSub(pub, l.url);
  const bad = await rawTcp(l.url, hs(0x21));
  await until(() => pub.pipes.length === 2, "raw sub attached");
  bad.s.write(frame(Buffer.from("not allowed")));
  await bad.closed;
  assert.equal(pub.stats.pipeErrors.EPROTO, 1);
  await stillServes(pub, sub);
  await sub.close();
  await pub.close();
});

for (const [name, bytes, code] of [
  ["wrong magic", Buffer.from([0, 0x53, 0x51, 0, 0, 0x21, 0, 0]), "EPROTO"],
  ["version 1", Buffer.from([0, 0x53, 0x50, 1, 0, 0x21, 0, 0]), "EPROTO"],
  ["reserved bytes 00 01", Buffer.from([0, 0x53, 0x50, 0, 0, 0x21, 0, 1]), "EPROTO"],
  ["a peer protocol that is not sub", hs(0x20), "EPEER"],
  ["an HTTP request", Buffer.from("GET / HTTP/1.1\r\n\r\n"), "EPROTO"],
] as const) {
  test(`tcp: a handshake with ${name} is refused (${code}) and counted; the listener keeps serving`, async () => {
    const pub = new Pub(opts);
    const l = await pub.listen("tcp://127.0.0.1:0");
    const bad = await rawTcp(l.url, bytes);
    await bad.closed;
    await until(() => pub.stats.refused[code] === 1, `refused ${code} counted`);
    assert.equal(pub.pipes.length, 0);
    const sub = await goodSub(pub, l.url);
    await stillServes(pub, sub);
    await sub.close();
    await pub.close();
  });
}

test("tcp: a silent peer is dropped at the handshake deadline (ETIMEDOUT, counted)", async () => {
  const pub = new Pub(opts);
  const l = await pub.listen("tcp://127.0.0.1:0");
  const bad = await rawTcp(l.url, new Uint8Array(0));
  await bad.closed;
  assert.equal(pub.stats.refused.ETIMEDOUT, 1);
  assert.deepEqual([...bad.got()], [...hs(0x20)], "we still sent our own handshake at once");
  await pub.close();
});

test("tcp: a declared length of 2^62 closes the pipe with EMSGSIZE before buffering", async () => {
  const rep = new Rep(opts);
  const l = await rep.listen("tcp://127.0.0.1:0");
  const bad = await rawTcp(l.url, hs(0x30));
  await until(() => rep.pipes.length === 1, "attached");
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(1n << 62n);
  bad.s.write(len);
  await bad.closed;
  assert.equal(rep.stats.pipeErrors.EMSGSIZE, 1);
  // and a good REQ still gets answered
  const req = new Req({ logger: silentLogger });
  await req.dial(l.url);
  const p = req.request("ok?");
  const q = await rep.recv({ timeout: 5000 });
  await rep.reply(q, "ok");
  assert.equal((await p).text(), "ok");
  await req.close();
  await rep.close();
});

test("tcp: a request without a top-bit word closes that pipe with EPROTO", async () => {
  const rep = new Rep(opts);
  const l = await rep.listen("tcp://127.0.0.1:0");
  const bad = await rawTcp(l.url, hs(0x30));
  await until(() => rep.pipes.length === 1, "attached");
  bad.s.write(frame(Buffer.from([0, 0, 0, 1, 0x68, 0x69])));
  await bad.closed;
  assert.equal(rep.stats.pipeErrors.EPROTO, 1);
  await rep.close();
});

test("ws: a text frame closes that pipe with EPROTO (close 1003); other pipes keep receiving", async () => {
  const pub = new Pub(opts);
  const l = await pub.listen("ws://127.0.0.1:0/feed");
  const sub = await goodSub(pub, l.url);
  const ws = new WebSocket(l.url, "pub.sp.nanomsg.org");
  await new Promise((r) => ws.once("open", r));
  await until(() => pub.pipes.length === 2, "raw ws attached");
  const code = new Promise<number>((r) => ws.once("close", (c) => r(c)));
  ws.send("text frame");
  assert.equal(await code, 1003);
  await until(() => pub.stats.pipeErrors.EPROTO === 1, "counted");
  await stillServes(pub, sub);
  await sub.close();
  await pub.close();
});

test("ws: binary data sent to a pub closes that pipe with EPROTO", async () => {
  const pub = new Pub(opts);
  const l = await pub.listen("ws://127.0.0.1:0/feed");
  const ws = new WebSocket(l.url, "pub.sp.nanomsg.org");
  await new Promise((r) => ws.once("open", r));
  const closed = new Promise<void>((r) => ws.once("close", () => r()));
  ws.send(Buffer.from("nope"));
  await closed;
  await until(() => pub.stats.pipeErrors.EPROTO === 1, "counted");
  await pub.close();
});

for (const [name, proto, status] of [
  ["a missing subprotocol", undefined, 400],
  ["the wrong subprotocol", "sub.sp.nanomsg.org", 400],
] as const) {
  test(`ws: ${name} is refused with HTTP ${status} before upgrading, and counted`, async () => {
    const pub = new Pub(opts);
    const l = await pub.listen("ws://127.0.0.1:0/feed");
    const ws = proto === undefined ? new WebSocket(l.url) : new WebSocket(l.url, proto);
    const got = await new Promise<number>((resolve) => {
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("error", () => resolve(-1));
    });
    assert.equal(got, status);
    await until(() => Object.values(pub.stats.refused).reduce((a, b) => a + b, 0) === 1, "counted");
    assert.equal(pub.pipes.length, 0);
    await pub.close();
  });
}

test("ws: a message over recvMaxSize closes that pipe with EMSGSIZE (1009)", async () => {
  const sub = new Sub({ ...opts, recvMaxSize: 16 });
  sub.subscribe("");
  const l = await sub.listen("ws://127.0.0.1:0/in");
  const ws = new WebSocket(l.url, "sub.sp.nanomsg.org");
  await new Promise((r) => ws.once("open", r));
  const code = new Promise<number>((r) => ws.once("close", (c) => r(c)));
  ws.send(Buffer.alloc(17));
  assert.equal(await code, 1009);
  await until(() => sub.stats.pipeErrors.EMSGSIZE === 1, "counted");
  await sub.close();
});

test("closing sockets leaves no pipes: stats balance", async () => {
  const sockets: Socket[] = [];
  const pub = new Pub(opts);
  sockets.push(pub);
  const l = await pub.listen("tcp://127.0.0.1:0");
  for (let i = 0; i < 3; i++) sockets.push(await goodSub(pub, l.url));
  await until(() => pub.pipes.length === 3, "three pipes");
  for (const s of sockets) await s.close();
  await until(() => pub.stats.pipesClosed === 3, "all closed");
  assert.equal(pub.stats.pipesOpened, 3);
});
