/**
 * The per-message paths made leaner for speed (issue 6): REQ's one resend
 * timer for all requests, the hand-written `for await` iterator, back-pressure
 * that pauses at the end of a read, and SUB's drop-oldest queue. Each test
 * pins behaviour that a faster path could have changed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Req, Rep, Push, Pull, Sub, Pub, SPError } from "../src/index.js";
import { hex, mem, until } from "./support.js";

test("two requests made apart share REQ's one resend timer: each is resent with its own unchanged header until answered", async () => {
  const m = mem();
  const rep = new Rep(m.o);
  const req = new Req({ ...m.o, resendTime: 20 });
  await rep.listen(m.url);
  await req.dial(m.url);
  const p1 = req.request("a");
  await new Promise((r) => setTimeout(r, 7));
  const p2 = req.request("b");
  // Every copy of a request carries the header of its first send (the same request id).
  const headers: Record<string, Set<string>> = { a: new Set(), b: new Set() };
  const copies: Record<string, number> = { a: 0, b: 0 };
  while (copies.a! < 3 || copies.b! < 3) {
    const q = await rep.recv();
    copies[q.text()]!++;
    headers[q.text()]!.add(hex(q.header));
  }
  assert.equal(headers.a!.size, 1, "a's copies all carry one header");
  assert.equal(headers.b!.size, 1, "b's copies all carry one header");
  assert.notDeepEqual([...headers.a!], [...headers.b!]);
  const answered = new Set<string>();
  while (answered.size < 2) {
    const q = await rep.recv();
    if (answered.has(q.text())) continue;
    answered.add(q.text());
    await rep.reply(q, `x${q.text()}`);
  }
  assert.deepEqual([(await p1).text(), (await p2).text()], ["xa", "xb"]);
  await req.close();
  await rep.close();
});

test("a request body under 4 KiB is copied when request() is called: changing the buffer afterwards changes no resend", async () => {
  const m = mem();
  const rep = new Rep(m.o);
  const req = new Req({ ...m.o, resendTime: 20 });
  await rep.listen(m.url);
  await req.dial(m.url);
  const body = new TextEncoder().encode("before");
  const p = req.request(body);
  body.set(new TextEncoder().encode("AFTER!"));
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) seen.push((await rep.recv()).text());
  assert.deepEqual(seen, ["before", "before", "before"]);
  const q = await rep.recv();
  await rep.reply(q, "ok");
  assert.equal((await p).text(), "ok");
  await req.close();
  await rep.close();
});

test("iterator return() while a next() waits: that next() is done, and the message that comes later stays for the next reader", async () => {
  const m = mem();
  const pull = new Pull(m.o);
  const push = new Push(m.o);
  await pull.listen(m.url);
  await push.dial(m.url);
  const it = pull[Symbol.asyncIterator]();
  const pending = it.next();
  await it.return!();
  assert.deepEqual(await pending, { value: undefined, done: true });
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  await push.send("kept");
  assert.equal((await pull.recv()).text(), "kept");
  await push.close();
  await pull.close();
});

test("for await: recvTimeout rejects one next() with ETIMEDOUT and the iterator is then done; a close ends a running loop", async () => {
  const m = mem();
  const pull = new Pull({ ...m.o, recvTimeout: 20 });
  await pull.listen(m.url);
  const it = pull[Symbol.asyncIterator]();
  await assert.rejects(it.next(), (e: unknown) => e instanceof SPError && e.code === "ETIMEDOUT");
  assert.deepEqual(await it.next(), { value: undefined, done: true });

  const m2 = mem();
  const pull2 = new Pull(m2.o);
  await pull2.listen(m2.url);
  const got: string[] = [];
  const loop = (async () => {
    for await (const x of pull2) got.push(x.text());
    return "ended";
  })();
  const push = new Push(m2.o);
  await push.dial(m2.url);
  await push.send("1");
  await push.send("2");
  await until(() => got.length === 2, "two messages through for await");
  await pull2.close();
  assert.equal(await loop, "ended");
  assert.deepEqual(got, ["1", "2"]);
  await push.close();
  await pull.close();
});

test("a burst far beyond recvBuffer into a Pull: back-pressure, nothing dropped, order kept", async () => {
  const m = mem();
  const pull = new Pull({ ...m.o, recvBuffer: 4 });
  const push = new Push(m.o);
  await pull.listen(m.url);
  await push.dial(m.url);
  const N = 500;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < N; i++) sends.push(push.send(String(i)));
  const got: number[] = [];
  for await (const x of pull) {
    got.push(Number(x.text()));
    if (got.length === N) break;
  }
  await Promise.all(sends);
  assert.deepEqual(got, [...Array(N).keys()]);
  assert.equal(pull.stats.drops, 0);
  await push.close();
  await pull.close();
});

test("a Sub keeps the newest recvBuffer messages and counts the older ones as drops", async () => {
  const m = mem();
  const sub = new Sub({ ...m.o, recvBuffer: 4 });
  const pub = new Pub(m.o);
  sub.subscribe("");
  await sub.listen(m.url);
  await pub.dial(m.url);
  for (let i = 0; i < 10; i++) await pub.send(String(i));
  await until(() => sub.stats.msgsIn === 10, "all ten reach the Sub");
  const got: string[] = [];
  for (let i = 0; i < 4; i++) got.push((await sub.recv()).text());
  assert.deepEqual(got, ["6", "7", "8", "9"]);
  assert.equal(sub.stats.drops, 6);
  await sub.close();
  await pub.close();
});
