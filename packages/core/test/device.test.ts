import { test } from "node:test";
import assert from "node:assert/strict";
import { Req, Rep, Pub, Sub, SPError, device, inprocTransport, silentLogger } from "../src/index.js";
import { until, hex, word } from "./support.js";

const o = () => ({ transports: [inprocTransport()], logger: silentLogger });

test("device refuses cooked sockets, non-peers and one-socket devices of other protocols", () => {
  const t = o();
  assert.throws(() => device(new Rep(t), new Req({ ...t, raw: true })), /needs raw sockets/);
  assert.throws(() => device(new Rep({ ...t, raw: true }), new Rep({ ...t, raw: true })), /rep and rep are not peers/);
  assert.throws(() => device(new Rep({ ...t, raw: true })), (e: unknown) => e instanceof SPError && e.code === "EINVAL");
});

test("req -> device -> rep: one backtrace word added on the way in and removed on the way out", async () => {
  const t = o();
  const front = new Rep({ ...t, raw: true });
  const back = new Req({ ...t, raw: true });
  await front.listen("inproc://front");
  const rep = new Rep(t);
  await rep.listen("inproc://back");
  await back.dial("inproc://back");
  const d = device(front, back);
  const req = new Req(t);
  await req.dial("inproc://front");
  const p = req.request("hello");
  const q = await rep.recv();
  assert.equal(q.header.length, 8, "pipe id word + request id");
  assert.equal(q.header[0]! & 0x80, 0, "the hop word has the top bit clear");
  assert.equal(word(q.header), front.pipes[0]!.id);
  await rep.reply(q, "world");
  const r = await p;
  assert.equal(r.text(), "world");
  assert.equal(r.header.length, 4, "the reply reaches the REQ with only its id");
  assert.deepEqual(d.forwarded, { ab: 1, ba: 1 });
  await d.close();
  await req.close();
  await rep.close();
});

test("two chained devices add two words and route the reply back through both", async () => {
  const t = o();
  const f1 = new Rep({ ...t, raw: true });
  const b1 = new Req({ ...t, raw: true });
  const f2 = new Rep({ ...t, raw: true });
  const b2 = new Req({ ...t, raw: true });
  const rep = new Rep(t);
  await f1.listen("inproc://f1");
  await f2.listen("inproc://f2");
  await rep.listen("inproc://svc");
  await b1.dial("inproc://f2");
  await b2.dial("inproc://svc");
  const d1 = device(f1, b1);
  const d2 = device(f2, b2);
  const req = new Req(t);
  await req.dial("inproc://f1");
  const p = req.request("deep");
  const q = await rep.recv();
  assert.equal(q.header.length, 12);
  await rep.reply(q, "back");
  assert.equal((await p).text(), "back");
  await d1.close();
  await d2.close();
  await req.close();
  await rep.close();
});

test("a message with more hops than ttlMax is dropped by the next parser", async () => {
  const t = o();
  // Two devices push two hop words: id + 2 words = 3 > ttlMax 2 at the service.
  const f1 = new Rep({ ...t, raw: true });
  const b1 = new Req({ ...t, raw: true });
  const f2 = new Rep({ ...t, raw: true });
  const b2 = new Req({ ...t, raw: true });
  await f1.listen("inproc://a");
  await f2.listen("inproc://b");
  const rep = new Rep({ ...t, ttlMax: 2 });
  await rep.listen("inproc://c");
  await b1.dial("inproc://b");
  await b2.dial("inproc://c");
  const d1 = device(f1, b1);
  const d2 = device(f2, b2);
  const req = new Req(t);
  await req.dial("inproc://a");
  req.request("too far", { timeout: 2000 }).catch(() => undefined);
  await until(() => rep.stats.dropReasons["ttl exceeded"] === 1, "the service drops it");
  assert.equal(rep.stats.msgsIn, 1);
  await assert.rejects(rep.recv({ timeout: 0 }), (e: unknown) => e instanceof SPError && e.code === "ETIMEDOUT");
  await d1.close();
  await d2.close();
  await req.close();
  await rep.close();
});

test("pub -> device -> sub forwards every message untouched", async () => {
  const t = o();
  const pub = new Pub(t);
  await pub.listen("inproc://up");
  const rsub = new Sub({ ...t, raw: true });
  const rpub = new Pub({ ...t, raw: true });
  await rsub.dial("inproc://up");
  await rpub.listen("inproc://down");
  const d = device(rsub, rpub);
  const sub = new Sub(t);
  sub.subscribe("x");
  await sub.dial("inproc://down");
  await until(() => pub.pipes.length === 1 && rpub.pipes.length === 1, "both sides connected");
  await pub.send("y-skip");
  await pub.send("x-keep");
  const m = await sub.recv();
  assert.equal(hex(m.body), hex(new TextEncoder().encode("x-keep")));
  await until(() => d.forwarded.ab === 2, "device forwarded both");
  await d.close();
  await pub.close();
  await sub.close();
});

test("closing one socket ends the device", async () => {
  const t = o();
  const a = new Rep({ ...t, raw: true });
  const b = new Req({ ...t, raw: true });
  const d = device(a, b);
  await a.close();
  await d.done;
  await b.close();
});
