import { test } from "node:test";
import assert from "node:assert/strict";
import { Pub, Sub, Socket, SPError, protocols, type ProtocolHooks, type ProtocolImpl } from "../src/index.js";
import { mem, until, tick, text } from "./support.js";

async function pair(highWaterMark?: number) {
  const m = mem(highWaterMark);
  const pub = new Pub(m.o);
  const sub = new Sub(m.o);
  await pub.listen(m.url);
  await sub.dial(m.url);
  await until(() => pub.pipes.length === 1, "pub sees the sub");
  return { pub, sub, m };
}

test("sub delivers only messages whose body starts with a subscription", async () => {
  const { pub, sub } = await pair();
  sub.subscribe("ab");
  for (const s of ["abc", "xyz", "ab", "a", ""]) await pub.send(s);
  await pub.send("ab-end");
  const got: string[] = [];
  while (got.length < 3) got.push((await sub.recv()).text());
  assert.deepEqual(got, ["abc", "ab", "ab-end"]);
  assert.equal(sub.stats.filtered, 3);
  assert.equal(sub.stats.drops, 0);
  await pub.close();
  await sub.close();
});

test("sub with the empty subscription receives everything, including empty messages", async () => {
  const { pub, sub } = await pair();
  sub.subscribe("");
  await pub.send("x");
  await pub.send(new Uint8Array(0));
  assert.equal((await sub.recv()).text(), "x");
  assert.equal((await sub.recv()).body.length, 0);
  await pub.close();
  await sub.close();
});

test("sub with no subscription receives nothing and counts what it filtered", async () => {
  const { pub, sub } = await pair();
  await pub.send("a");
  await pub.send("b");
  await until(() => sub.stats.msgsIn === 2, "two messages arrive");
  assert.equal(sub.stats.filtered, 2);
  await assert.rejects(sub.recv({ timeout: 0 }), (e: unknown) => e instanceof SPError && e.code === "ETIMEDOUT");
  await pub.close();
  await sub.close();
});

test("sub matches binary prefixes byte for byte", async () => {
  const { pub, sub } = await pair();
  sub.subscribe(new Uint8Array([0xff, 0x00]));
  await pub.send(new Uint8Array([0xff, 0x01, 1]));
  await pub.send(new Uint8Array([0xff, 0x00, 2]));
  assert.deepEqual([...(await sub.recv()).body], [0xff, 0x00, 2]);
  await pub.close();
  await sub.close();
});

test("unsubscribe stops delivery and refuses an unknown prefix", async () => {
  const { pub, sub } = await pair();
  sub.subscribe("a");
  sub.subscribe("b");
  sub.unsubscribe("a");
  assert.throws(() => sub.unsubscribe("zz"), (e: unknown) => e instanceof SPError && e.code === "EINVAL");
  await pub.send("a1");
  await pub.send("b1");
  assert.equal((await sub.recv()).text(), "b1");
  assert.deepEqual(sub.subscriptions.map((s) => text(s)), ["b"]);
  await pub.close();
  await sub.close();
});

test("sub cannot send and pub cannot receive: ENOTSUP", async () => {
  const { pub, sub } = await pair();
  await assert.rejects(sub.send("x"), (e: unknown) => e instanceof SPError && e.code === "ENOTSUP");
  await assert.rejects(pub.recv(), (e: unknown) => e instanceof SPError && e.code === "ENOTSUP");
  await pub.close();
  await sub.close();
});

test("pub fans out to every sub", async () => {
  const m = mem();
  const pub = new Pub(m.o);
  await pub.listen(m.url);
  const subs = [new Sub(m.o), new Sub(m.o), new Sub(m.o)];
  for (const s of subs) {
    s.subscribe("");
    await s.dial(m.url);
  }
  await until(() => pub.pipes.length === 3, "three pipes");
  await pub.send("all");
  for (const s of subs) assert.equal((await s.recv()).text(), "all");
  assert.equal(pub.stats.msgsOut, 3);
  await pub.close();
  for (const s of subs) await s.close();
});

test("pub drops the oldest message for a slow sub only, and counts the drop", async () => {
  // highWaterMark 1: one message in flight per pipe, then the pipe's sendBuffer (16) queues.
  const m = mem(1);
  const pub = new Pub(m.o);
  await pub.listen(m.url);
  const slow = new Sub(m.o);
  const fast = new Sub(m.o);
  slow.subscribe("");
  fast.subscribe("");
  await slow.dial(m.url);
  await fast.dial(m.url);
  await until(() => pub.pipes.length === 2, "two pipes");
  slow.pipes[0]!.pause(); // the slow subscriber stops reading
  for (let i = 0; i < 30; i++) {
    await pub.send(`m${i}`);
    await tick();
  }
  assert.equal(pub.stats.dropReasons["send queue full"], 30 - 1 - 16);
  assert.equal(pub.stats.drops, 13);
  const fastGot: string[] = [];
  for (let i = 0; i < 30; i++) fastGot.push((await fast.recv()).text());
  assert.equal(fastGot.length, 30);
  slow.pipes[0]!.resume();
  const slowGot: string[] = [];
  for (let i = 0; i < 17; i++) slowGot.push((await slow.recv()).text());
  // The first message was in flight; then the newest 16 survived.
  assert.deepEqual(slowGot, ["m0", ...Array.from({ length: 16 }, (_, i) => `m${14 + i}`)]);
  await pub.close();
  await slow.close();
  await fast.close();
});

test("a message sent to a pub closes that pipe with EPROTO and leaves other pipes alone", async () => {
  const m = mem();
  const pub = new Pub(m.o);
  await pub.listen(m.url);
  // A broken subscriber: the sub protocol id, but it sends.
  const talker = (h: ProtocolHooks): ProtocolImpl => ({
    addPipe() {},
    removePipe() {},
    pipeMessage() {},
    send: async (msg) => {
      for (const p of h.pipes()) p.send([msg.body]);
    },
    close() {},
  });
  const bad = new Socket(protocols.sub!, talker, { ...m.o, reconnectMinTime: 60_000 });
  const good = new Sub(m.o);
  good.subscribe("");
  await good.dial(m.url);
  await bad.dial(m.url);
  await until(() => pub.pipes.length === 2, "two pipes");
  await bad.send("oops");
  await until(() => pub.stats.pipeErrors.EPROTO === 1, "pub closed the talker");
  assert.equal(pub.pipes.length, 1);
  await pub.send("still here");
  assert.equal((await good.recv()).text(), "still here");
  await pub.close();
  await good.close();
  await bad.close();
});

test("sub's receive queue keeps the newest messages when full", async () => {
  const m = mem();
  const pub = new Pub(m.o);
  const sub = new Sub({ ...m.o, recvBuffer: 4 });
  sub.subscribe("");
  await pub.listen(m.url);
  await sub.dial(m.url);
  await until(() => pub.pipes.length === 1, "pipe");
  for (let i = 0; i < 10; i++) await pub.send(`${i}`);
  await until(() => sub.stats.msgsIn === 10, "all arrive");
  const got: string[] = [];
  for (let i = 0; i < 4; i++) got.push((await sub.recv()).text());
  assert.deepEqual(got, ["6", "7", "8", "9"]);
  assert.equal(sub.stats.dropReasons["recv queue full"], 6);
  await pub.close();
  await sub.close();
});
