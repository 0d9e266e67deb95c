import { test } from "node:test";
import assert from "node:assert/strict";
import { Message, Socket, SPError, device, protocols, type ProtocolHooks, type ProtocolImpl } from "../src/index.js";
import { Pair0 } from "../src/protocol/pair0.js";
import { Pair1 } from "../src/protocol/pair1.js";
import { mem, until, tick, hex } from "./support.js";

const isCode = (code: string) => (e: unknown) => e instanceof SPError && e.code === code;

/** A listener and a dialer of the same pair version, joined in memory. */
async function joined<S extends Socket>(make: (o: object) => S, aOpts = {}, bOpts = {}) {
  const m = mem();
  const a = make({ ...m.o, ...aOpts });
  const b = make({ ...m.o, ...bOpts });
  await a.listen(m.url);
  await b.dial(m.url);
  await until(() => a.pipes.length === 1, "a sees b");
  return { a, b, m };
}

/**
 * A broken pair1 peer: the pair1 protocol id, but it writes whatever bytes it
 * is given, with no hop count of its own.
 */
function rawBytes(h: ProtocolHooks): ProtocolImpl {
  return {
    addPipe() {},
    removePipe() {},
    pipeMessage() {},
    send: async (msg) => {
      for (const p of h.pipes()) p.send([msg.body]);
    },
    close() {},
  };
}

// --- pair0 ---

test("pair0 sends both ways with no header", async () => {
  const { a, b } = await joined((o) => new Pair0(o));
  await a.send("to b");
  await b.send("to a");
  const atB = await b.recv();
  assert.equal(atB.text(), "to b");
  assert.equal(atB.header.length, 0);
  assert.equal((await a.recv()).text(), "to a");
  assert.equal(a.stats.bytesOut, 4, "no header on the wire");
  await a.close();
  await b.close();
});

test("pair0 refuses a second peer with ESTATE and the first keeps working", async () => {
  const { a, b, m } = await joined((o) => new Pair0(o));
  const c = new Pair0({ ...m.o, reconnectMinTime: 60_000 });
  c.dial(m.url);
  await until(() => a.stats.refused.ESTATE === 1, "a refuses c");
  assert.equal(a.pipes.length, 1);
  assert.equal(a.stats.pipesOpened, 1);
  await a.send("still b");
  assert.equal((await b.recv()).text(), "still b");
  await b.send("b too");
  assert.equal((await a.recv()).text(), "b too");
  await a.close();
  await b.close();
  await c.close();
});

test("a pair0 dialer that already has a peer closes the new pipe, and the far side sees it close", async () => {
  const { a, b, m } = await joined((o) => new Pair0(o));
  const far = new Pair0(m.o);
  const url2 = `${m.url}-second`;
  await far.listen(url2);
  // b already has a as its peer: the pipe it dials now is refused and closed.
  b.dial(url2, { reconnectMinTime: 60_000 });
  await until(() => b.stats.refused.ESTATE === 1, "b refuses its second pipe");
  await until(() => far.stats.pipesClosed === 1, "far sees its pipe close");
  assert.equal(far.pipes.length, 0);
  assert.equal(b.pipes.length, 1);
  await a.send("a to b");
  assert.equal((await b.recv()).text(), "a to b");
  await a.close();
  await b.close();
  await far.close();
});

test(
  "a dialer refused by a pair0 listener sees its pipe close",
  async () => {
    const { a, b, m } = await joined((o) => new Pair0(o));
    const c = new Pair0({ ...m.o, reconnectMinTime: 60_000 });
    c.dial(m.url);
    await until(() => a.stats.refused.ESTATE === 1, "a refuses c");
    try {
      await until(() => c.stats.pipesClosed === 1, "c sees its pipe close", 40);
      assert.equal(c.pipes.length, 0);
    } finally {
      await a.close();
      await b.close();
      await c.close();
    }
  },
);

test("pair0 takes a new peer after the first goes away", async () => {
  const { a, b, m } = await joined((o) => new Pair0(o));
  await b.close();
  await until(() => a.pipes.length === 0, "b gone");
  const c = new Pair0(m.o);
  await c.dial(m.url);
  await a.send("hello c");
  assert.equal((await c.recv()).text(), "hello c");
  assert.equal(a.stats.refused.ESTATE, undefined);
  await a.close();
  await c.close();
});

test("pair0 send waits for a peer, and times out ETIMEDOUT or aborts with the signal's reason", async () => {
  const m = mem();
  const a = new Pair0(m.o);
  await a.listen(m.url);
  await assert.rejects(a.send("x", { timeout: 0 }), isCode("ETIMEDOUT"));
  const ac = new AbortController();
  const reason = new Error("stop");
  const aborted = a.send("y", { signal: ac.signal });
  ac.abort(reason);
  await assert.rejects(aborted, (e: unknown) => e === reason);
  const waiting = a.send("z");
  const b = new Pair0(m.o);
  await b.dial(m.url);
  await waiting;
  assert.equal((await b.recv()).text(), "z");
  await assert.rejects(b.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  await a.close();
  await b.close();
});

test("pair0 send waits while the peer's pipe is full and goes on when it drains", async () => {
  const m = mem(1);
  const a = new Pair0({ ...m.o, sendBuffer: 1 });
  const b = new Pair0(m.o);
  await a.listen(m.url);
  await b.dial(m.url);
  await until(() => a.pipes.length === 1, "pipe");
  b.pipes[0]!.pause();
  await a.send("1"); // in flight
  await a.send("2"); // queued in the pipe
  await assert.rejects(a.send("no room", { timeout: 0 }), isCode("ETIMEDOUT"));
  const waiting = a.send("3");
  let done = false;
  void waiting.then(() => (done = true));
  await tick();
  assert.equal(done, false);
  b.pipes[0]!.resume();
  await waiting;
  assert.deepEqual([(await b.recv()).text(), (await b.recv()).text(), (await b.recv()).text()], ["1", "2", "3"]);
  assert.equal(a.stats.drops, 0);
  await a.close();
  await b.close();
});

// --- pair1 ---

test("cooked pair1 puts hop count 1 on the wire and delivers the body alone", async () => {
  const { a, b } = await joined((o) => new Pair1(o), {}, { raw: true });
  await a.send("hi");
  const got = await b.recv();
  assert.equal(hex(got.header), "00000001");
  assert.equal(got.text(), "hi");
  assert.equal(a.stats.bytesOut, 6);
  // And cooked receive hides the header.
  await b.send(new Message(new TextEncoder().encode("yo"), new Uint8Array([0, 0, 0, 2])));
  const back = await a.recv();
  assert.equal(back.text(), "yo");
  assert.equal(back.header.length, 0);
  await a.close();
  await b.close();
});

test("raw pair1 adds one hop on send and passes the received hop word up as it came", async () => {
  const { a, b } = await joined((o) => new Pair1(o), { raw: true }, { raw: true });
  await a.send(new Message(new Uint8Array([7]), new Uint8Array([0, 0, 0, 4])));
  const got = await b.recv();
  assert.equal(hex(got.header), "00000005");
  assert.deepEqual([...got.body], [7]);
  await assert.rejects(a.send("no header"), isCode("EINVAL"));
  await a.close();
  await b.close();
});

test("raw pair1 drops and counts a message whose next hop would pass ttlMax", async () => {
  const { a, b } = await joined((o) => new Pair1(o), { raw: true, ttlMax: 3 }, { raw: true });
  await a.send(new Message(new Uint8Array([1]), new Uint8Array([0, 0, 0, 3]))); // would leave as 4
  await a.send(new Message(new Uint8Array([2]), new Uint8Array([0, 0, 0, 2]))); // leaves as 3
  const got = await b.recv();
  assert.deepEqual([...got.body], [2]);
  assert.equal(hex(got.header), "00000003");
  assert.equal(a.stats.dropReasons["ttl exceeded"], 1);
  assert.equal(a.stats.msgsOut, 1);
  await a.close();
  await b.close();
});

/** A pair1 listener and a peer that writes raw bytes. */
async function withTalker(opts = {}) {
  const m = mem();
  const p = new Pair1({ ...m.o, ...opts });
  await p.listen(m.url);
  const bad = new Socket(protocols.pair1!, rawBytes, { ...m.o, reconnectMinTime: 60_000 });
  await bad.dial(m.url);
  await until(() => p.pipes.length === 1, "pipe");
  return { p, bad };
}

test("pair1 delivers hop counts 0, 1 and 8, and drops 9 and 255 silently, counted", async () => {
  const { p, bad } = await withTalker();
  for (const hop of [0, 9, 1, 255, 8]) await bad.send(new Uint8Array([0, 0, 0, hop, 0x40 + hop]));
  const got: number[] = [];
  for (let i = 0; i < 3; i++) got.push((await p.recv()).body[0]! - 0x40);
  assert.deepEqual(got, [0, 1, 8]);
  await until(() => p.stats.msgsIn === 5, "all five arrive");
  assert.equal(p.stats.dropReasons["ttl exceeded"], 2);
  assert.equal(p.stats.drops, 2);
  assert.equal(p.pipes.length, 1, "dropping keeps the pipe");
  await p.close();
  await bad.close();
});

test("pair1 with a larger ttlMax delivers what the default would drop", async () => {
  const { p, bad } = await withTalker({ ttlMax: 20 });
  await bad.send(new Uint8Array([0, 0, 0, 20, 1]));
  await bad.send(new Uint8Array([0, 0, 0, 21, 2]));
  await bad.send(new Uint8Array([0, 0, 0, 3, 3]));
  assert.deepEqual([...(await p.recv()).body], [1]);
  assert.deepEqual([...(await p.recv()).body], [3]);
  assert.equal(p.stats.dropReasons["ttl exceeded"], 1);
  await p.close();
  await bad.close();
});

for (const [what, bytes] of [
  ["a hop count of 256", [0, 0, 1, 0, 0x61]],
  ["a hop count of 0x01000000", [1, 0, 0, 0]],
  ["fewer than 4 bytes", [0, 0, 1]],
  ["an empty message", []],
] as const) {
  test(`pair1 closes the pipe with EPROTO on ${what}`, async () => {
    const { p, bad } = await withTalker();
    await bad.send(new Uint8Array(bytes));
    await until(() => p.stats.pipeErrors.EPROTO === 1, "pipe closed");
    assert.equal(p.pipes.length, 0);
    assert.equal(p.stats.drops, 0);
    await assert.rejects(p.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
    await p.close();
    await bad.close();
  });
}

test("pair1 refuses a second peer with ESTATE and the first keeps working", async () => {
  const { a, b, m } = await joined((o) => new Pair1(o));
  const c = new Pair1({ ...m.o, reconnectMinTime: 60_000 });
  c.dial(m.url);
  await until(() => a.stats.refused.ESTATE === 1, "a refuses c");
  assert.equal(a.pipes.length, 1);
  await b.send("from b");
  assert.equal((await a.recv()).text(), "from b");
  await a.send("to b");
  assert.equal((await b.recv()).text(), "to b");
  await a.close();
  await b.close();
  await c.close();
});

test("pair1 send waits for a peer and rejects ECLOSED when the socket closes", async () => {
  const m = mem();
  const a = new Pair1(m.o);
  const p = a.send("x");
  await a.close();
  await assert.rejects(p, isCode("ECLOSED"));
});

test("two raw pair1 sockets joined by device() add one hop between cooked ends", async () => {
  const m1 = mem();
  const m2 = { ...m1, url: `${m1.url}-back` };
  const front = new Pair1({ ...m1.o, raw: true });
  const back = new Pair1({ ...m1.o, raw: true });
  await front.listen(m1.url);
  await back.listen(m2.url);
  const d = device(front, back);
  const left = new Pair1(m1.o);
  const right = new Pair1({ ...m1.o, raw: true }); // raw, to read the hop count it gets
  await left.dial(m1.url);
  await right.dial(m2.url);
  await left.send("across");
  const got = await right.recv();
  assert.equal(got.text(), "across");
  assert.equal(hex(got.header), "00000002", "1 from the sender, 1 from the device");
  await d.close();
  await left.close();
  await right.close();
});
