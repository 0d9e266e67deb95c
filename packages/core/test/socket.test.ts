import { test } from "node:test";
import assert from "node:assert/strict";
import { Sub, Pub, Req, SPError, Message, silentLogger } from "../src/index.js";
import { mem, until } from "./support.js";

const isCode = (code: string) => (e: unknown) => e instanceof SPError && e.code === code;

test("negative timeouts and unknown options throw EINVAL at once", () => {
  assert.throws(() => new Sub({ recvTimeout: -1 }), /recvTimeout must be a non-negative number/);
  assert.throws(() => new Sub({ reconnectMinTime: -5 }), isCode("EINVAL"));
  assert.throws(() => new Sub({ recvBuffer: 1.5 }), /recvBuffer must be a non-negative integer/);
  assert.throws(() => new Sub({ bogus: 1 } as never), /unknown socket option "bogus"/);
  assert.throws(() => new Req({ ttlMax: 0 }), /ttlMax must be 1..255/);
});

test("a bad URL or an unknown scheme throws EADDRINVAL at once", () => {
  const s = new Sub({ logger: silentLogger });
  assert.throws(() => s.dial("not a url"), (e: unknown) => isCode("EADDRINVAL")(e) && /invalid URL "not a url"/.test((e as Error).message));
  assert.throws(() => s.dial("tcp://127.0.0.1:1"), /no transport for "tcp:\/\/" on this socket \(it has: ws, wss\)/);
  assert.throws(() => s.listen("ws://127.0.0.1:0/x"), isCode("ENOTSUP"));
  void s.close();
});

test("a negative per-call timeout rejects EINVAL", async () => {
  const s = new Sub({ logger: silentLogger });
  await assert.rejects(s.recv({ timeout: -1 }), isCode("EINVAL"));
  await s.close();
});

test("failFast dial rejects ECONNREFUSED and stops", async () => {
  const m = mem();
  const s = new Sub(m.o);
  await assert.rejects(Promise.resolve(s.dial(m.url, { failFast: true })), isCode("ECONNREFUSED"));
  assert.equal(s.stats.reconnects, 1);
  await s.close();
});

test("a background dialer keeps trying and connects when the listener appears", async () => {
  const m = mem();
  const sub = new Sub({ ...m.o, reconnectMinTime: 2, reconnectMaxTime: 8 });
  const attempts: number[] = [];
  sub.on("dialerror", (e) => attempts.push(e.attempt));
  const d = sub.dial(m.url);
  await until(() => attempts.length >= 3, "three failed attempts");
  const pub = new Pub(m.o);
  await pub.listen(m.url);
  await d;
  assert.equal(d.state, "connected");
  assert.deepEqual(attempts.slice(0, 3), [1, 2, 3]);
  await sub.close();
  await pub.close();
});

test("the dialer redials after its pipe is lost, and pipe events say so", async () => {
  const m = mem();
  const pub = new Pub(m.o);
  await pub.listen(m.url);
  const sub = new Sub({ ...m.o, reconnectMinTime: 2 });
  const events: string[] = [];
  sub.on("pipeadd", () => events.push("add"));
  sub.on("piperemove", (e) => events.push(`remove:${e.error?.code}`));
  await sub.dial(m.url);
  await until(() => pub.pipes.length === 1, "pub sees pipe");
  pub.pipes[0]!.close();
  await until(() => events.length === 3, "re-added");
  assert.deepEqual(events, ["add", "remove:ECONNSHUT", "add"]);
  await sub.close();
  await pub.close();
});

test("close rejects a waiting recv with ECLOSED and ends async iteration", async () => {
  const m = mem();
  const sub = new Sub(m.o);
  const p = sub.recv();
  const it = (async () => {
    const got: string[] = [];
    for await (const msg of sub) got.push(msg.text());
    return got;
  })();
  await sub.close();
  await assert.rejects(p, isCode("ECLOSED"));
  assert.deepEqual(await it, []);
  await assert.rejects(sub.send("x"), isCode("ECLOSED"));
  assert.throws(() => sub.dial(m.url), isCode("ECLOSED"));
});

test("recv timeout rejects ETIMEDOUT and a later message still reaches the next recv", async () => {
  const m = mem();
  const pub = new Pub(m.o);
  const sub = new Sub(m.o);
  sub.subscribe("");
  await pub.listen(m.url);
  await sub.dial(m.url);
  await until(() => pub.pipes.length === 1, "pipe");
  await assert.rejects(sub.recv({ timeout: 5 }), isCode("ETIMEDOUT"));
  await pub.send("kept");
  assert.equal((await sub.recv()).text(), "kept");
  await pub.close();
  await sub.close();
});

test("messages over recvMaxSize close the pipe with EMSGSIZE", async () => {
  const m = mem();
  const pub = new Pub(m.o);
  const sub = new Sub({ ...m.o, recvMaxSize: 8, reconnectMinTime: 60_000 });
  sub.subscribe("");
  await pub.listen(m.url);
  await sub.dial(m.url);
  await until(() => pub.pipes.length === 1, "pipe");
  await pub.send("123456789");
  await until(() => sub.stats.pipeErrors.EMSGSIZE === 1, "closed for size");
  await pub.close();
  await sub.close();
});

test("Message helpers: text, json, bytes, from", () => {
  const m = Message.from('{"a":1}');
  assert.deepEqual(m.json(), { a: 1 });
  assert.equal(m.text(), '{"a":1}');
  const n = new Message(new Uint8Array([3]), new Uint8Array([1, 2]));
  assert.deepEqual([...n.bytes()], [1, 2, 3]);
  assert.equal(n.length, 3);
  assert.equal(Message.from(n), n);
  assert.deepEqual([...Message.from(new Uint16Array([0x0102]).buffer).body].length, 2);
  assert.throws(() => Message.from(42 as never), /cannot send number/);
});

test("send rejects unsupported data with EINVAL", async () => {
  const m = mem();
  const pub = new Pub(m.o);
  await assert.rejects(pub.send({} as never), isCode("EINVAL"));
  await pub.close();
});
