import { test } from "node:test";
import assert from "node:assert/strict";
import { Req, Rep, SPError, Message } from "../src/index.js";
import { mem, until, hex, word } from "./support.js";

async function pair(reqOpts = {}, repOpts = {}) {
  const m = mem();
  const rep = new Rep({ ...m.o, ...repOpts });
  const req = new Req({ ...m.o, ...reqOpts });
  await rep.listen(m.url);
  await req.dial(m.url);
  return { req, rep, m };
}

const isCode = (code: string) => (e: unknown) => e instanceof SPError && e.code === code;

test("request gets the reply to that request", async () => {
  const { req, rep } = await pair();
  const p = req.request("ping");
  const q = await rep.recv();
  assert.equal(q.text(), "ping");
  assert.equal(q.header.length, 4);
  assert.ok(q.header[0]! & 0x80, "request id has the top bit set");
  await rep.reply(q, "pong");
  assert.equal((await p).text(), "pong");
  await req.close();
  await rep.close();
});

test("concurrent requests carry consecutive ids and may be answered out of order", async () => {
  const { req, rep } = await pair();
  const ps = ["a", "b", "c"].map((s) => req.request(s));
  const qs = [await rep.recv(), await rep.recv(), await rep.recv()];
  const ids = qs.map((q) => word(q.header));
  assert.equal(ids[1], ids[0]! + 1);
  assert.equal(ids[2], ids[1]! + 1);
  // answer in reverse order
  for (const q of [...qs].reverse()) await rep.reply(q, q.text().toUpperCase());
  assert.deepEqual((await Promise.all(ps)).map((m) => m.text()), ["A", "B", "C"]);
  await req.close();
  await rep.close();
});

test("send/recv on req is one exchange at a time; recv without a request is ESTATE", async () => {
  const { req, rep } = await pair();
  await assert.rejects(req.recv(), isCode("ESTATE"));
  await req.send("one");
  const q = await rep.recv();
  await rep.send("reply-one");
  assert.equal((await req.recv()).text(), "reply-one");
  await assert.rejects(rep.send("nothing pending"), isCode("ESTATE"));
  await req.close();
  await rep.close();
});

test("a new send abandons the previous request; its late reply is dropped and counted", async () => {
  const { req, rep } = await pair();
  await req.send("first");
  const q1 = await rep.recv();
  await req.send("second");
  const q2 = await rep.recv();
  await rep.reply(q1, "late");
  await rep.reply(q2, "current");
  assert.equal((await req.recv()).text(), "current");
  await until(() => req.stats.dropReasons["unknown request id"] === 1, "late reply dropped");
  await req.close();
  await rep.close();
});

test("an unanswered request is resent with the same id after resendTime", async () => {
  const { req, rep } = await pair({ resendTime: 30 });
  const p = req.request("again?");
  const q1 = await rep.recv();
  const q2 = await rep.recv(); // the resend
  assert.equal(hex(q1.header), hex(q2.header));
  assert.equal(q2.text(), "again?");
  await rep.reply(q2, "ok");
  assert.equal((await p).text(), "ok");
  await req.close();
  await rep.close();
});

test("when the pipe carrying a request dies, it is resent at once on another pipe with the same id", async () => {
  const m = mem();
  const rep1 = new Rep(m.o);
  const rep2 = new Rep(m.o);
  const u1 = m.url;
  const u2 = m.url + "b";
  await rep1.listen(u1);
  await rep2.listen(u2);
  const req = new Req({ ...m.o, resendTime: Infinity, reconnectMinTime: 60_000 });
  await req.dial(u1);
  const p = req.request("x"); // goes to the only pipe: rep1
  const q1 = await rep1.recv();
  await req.dial(u2);
  await rep1.close(); // the pipe dies before answering
  const q2 = await rep2.recv({ timeout: 5000 });
  assert.equal(hex(q2.header), hex(q1.header));
  await rep2.reply(q2, "from rep2");
  assert.equal((await p).text(), "from rep2");
  await req.close();
  await rep2.close();
});

test("a request with no pipe waits, and goes out when a pipe arrives", async () => {
  const m = mem();
  const req = new Req({ ...m.o, reconnectMinTime: 5, reconnectMaxTime: 10 });
  req.dial(m.url); // nothing listens yet
  const p = req.request("patient");
  const rep = new Rep(m.o);
  await rep.listen(m.url);
  const q = await rep.recv();
  await rep.reply(q, "here");
  assert.equal((await p).text(), "here");
  assert.ok(req.stats.reconnects >= 1);
  await req.close();
  await rep.close();
});

test("request timeout rejects ETIMEDOUT and the late reply is dropped as unknown", async () => {
  const { req, rep } = await pair();
  const p = req.request("slow", { timeout: 20 });
  const q = await rep.recv();
  await assert.rejects(p, isCode("ETIMEDOUT"));
  await rep.reply(q, "too late");
  await until(() => req.stats.dropReasons["unknown request id"] === 1, "late reply counted");
  await req.close();
  await rep.close();
});

test("an aborted request rejects with the signal's reason, unchanged", async () => {
  const { req, rep } = await pair();
  const ac = new AbortController();
  const reason = new Error("user left the page");
  const p = req.request("x", { signal: ac.signal });
  await rep.recv();
  ac.abort(reason);
  await assert.rejects(p, (e) => e === reason);
  await req.close();
  await rep.close();
});

test("closing the socket rejects outstanding requests with ECLOSED", async () => {
  const { req, rep } = await pair();
  const p = req.request("x");
  await rep.recv();
  await req.close();
  await assert.rejects(p, isCode("ECLOSED"));
  await rep.close();
});

test("rep closes a pipe whose request has no top-bit word (EPROTO) and keeps serving others", async () => {
  const m = mem();
  const rep = new Rep(m.o);
  await rep.listen(m.url);
  const bad = new Req({ ...m.o, raw: true, reconnectMinTime: 60_000 });
  const good = new Req(m.o);
  await bad.dial(m.url);
  await good.dial(m.url);
  await bad.send(new Message(new TextEncoder().encode("hi"), new Uint8Array([0, 0, 0, 1])));
  await until(() => rep.stats.pipeErrors.EPROTO === 1, "bad pipe closed");
  const p = good.request("fine");
  const q = await rep.recv();
  await rep.reply(q, "ok");
  assert.equal((await p).text(), "ok");
  await rep.close();
  await bad.close();
  await good.close();
});

test("rep accepts ttlMax backtrace words and silently drops a message with more", async () => {
  const m = mem();
  const rep = new Rep(m.o);
  await rep.listen(m.url);
  const raw = new Req({ ...m.o, raw: true });
  await raw.dial(m.url);
  const hops = (n: number) => {
    const h = new Uint8Array(4 * (n + 1));
    for (let i = 0; i < n; i++) h[i * 4 + 3] = i + 1;
    h[n * 4] = 0x80;
    h[n * 4 + 3] = 0x2a;
    return h;
  };
  await raw.send(new Message(new TextEncoder().encode("nine"), hops(8))); // 9 words: dropped
  await raw.send(new Message(new TextEncoder().encode("eight"), hops(7))); // 8 words: accepted
  const q = await rep.recv();
  assert.equal(q.text(), "eight");
  assert.equal(q.header.length, 32);
  assert.equal(rep.stats.dropReasons["ttl exceeded"], 1);
  assert.equal(rep.pipes.length, 1);
  // the reply echoes the whole backtrace
  await rep.reply(q, "r");
  const r = await raw.recv();
  assert.equal(hex(r.header), hex(hops(7)));
  assert.equal(r.text(), "r");
  await rep.close();
  await raw.close();
});

test("raw rep pushes the pipe id and routes replies by it", async () => {
  const m = mem();
  const rep = new Rep({ ...m.o, raw: true });
  await rep.listen(m.url);
  const req = new Req(m.o);
  await req.dial(m.url);
  const p = req.request("hello");
  const q = await rep.recv();
  assert.equal(q.header.length, 8);
  assert.equal(word(q.header), rep.pipes[0]!.id);
  await rep.send(new Message(new TextEncoder().encode("world"), q.header));
  assert.equal((await p).text(), "world");
  await rep.close();
  await req.close();
});

test("a reply shorter than 4 bytes closes the req's pipe with EPROTO", async () => {
  const m = mem();
  const rep = new Rep({ ...m.o, raw: true });
  await rep.listen(m.url);
  const req = new Req({ ...m.o, reconnectMinTime: 60_000 });
  await req.dial(m.url);
  req.request("x").catch(() => undefined);
  const q = await rep.recv();
  // route to the pipe but send only 2 bytes
  await rep.send(new Message(new Uint8Array([1, 2]), q.header.subarray(0, 4)));
  await until(() => req.stats.pipeErrors.EPROTO === 1, "req closed the pipe");
  await rep.close();
  await req.close();
});

test("reply() on a raw rep rejects ENOTSUP (the local pipe-id word must not reach the wire)", async () => {
  const m = mem();
  const rep = new Rep({ ...m.o, raw: true });
  await rep.listen(m.url);
  const req = new Req(m.o);
  await req.dial(m.url);
  req.request("x").catch(() => undefined);
  const q = await rep.recv();
  await assert.rejects(rep.reply(q, "nope"), isCode("ENOTSUP"));
  await rep.close();
  await req.close();
});

test("a time limit past what a timer can hold (24.8 days) is treated as none, not as zero", async () => {
  const { req, rep } = await pair({ resendTime: 2 ** 40 });
  const p = req.request("patient", { timeout: 2 ** 40 });
  const q = await rep.recv({ timeout: 2 ** 40 });
  await rep.reply(q, "fine");
  assert.equal((await p).text(), "fine");
  await req.close();
  await rep.close();
});
