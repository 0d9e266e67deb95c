import { test } from "node:test";
import assert from "node:assert/strict";
import { Message, SPError, device } from "../src/index.js";
import { Bus } from "../src/protocol/bus0.js";
import { mem, until, tick, hex } from "./support.js";

const isCode = (code: string) => (e: unknown) => e instanceof SPError && e.code === code;

/** A hub bus listening and `n` buses dialing it. */
async function star(n: number, hubOpts = {}, highWaterMark?: number) {
  const m = mem(highWaterMark);
  const hub = new Bus({ ...m.o, ...hubOpts });
  await hub.listen(m.url);
  const spokes: Bus[] = [];
  for (let i = 0; i < n; i++) {
    const s = new Bus(m.o);
    await s.dial(m.url);
    spokes.push(s);
  }
  await until(() => hub.pipes.length === n, `${n} pipes`);
  return { hub, spokes, m };
}

async function closeAll(...ss: Bus[]): Promise<void> {
  for (const s of ss) await s.close();
}

test("bus sends each message to every connected bus, with no header on the wire", async () => {
  const { hub, spokes } = await star(3);
  await hub.send("all");
  for (const s of spokes) {
    const got = await s.recv();
    assert.equal(got.text(), "all");
    assert.equal(got.header.length, 0);
  }
  assert.equal(hub.stats.msgsOut, 3);
  assert.equal(hub.stats.bytesOut, 9);
  await closeAll(hub, ...spokes);
});

test("bus receives from every peer", async () => {
  const { hub, spokes } = await star(3);
  for (const [i, s] of spokes.entries()) await s.send(`from ${i}`);
  const got = [(await hub.recv()).text(), (await hub.recv()).text(), (await hub.recv()).text()];
  assert.deepEqual(got.sort(), ["from 0", "from 1", "from 2"]);
  await closeAll(hub, ...spokes);
});

test("cooked bus does not relay: in a chain A-B-C, A's message reaches B but not C", async () => {
  const m = mem();
  const [a, b, c] = [new Bus(m.o), new Bus(m.o), new Bus(m.o)];
  await b.listen(m.url);
  await a.dial(m.url);
  await c.dial(m.url);
  await until(() => b.pipes.length === 2, "b joined to a and c");
  await a.send("from a");
  assert.equal((await b.recv()).text(), "from a");
  await tick();
  await assert.rejects(c.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  assert.equal(c.stats.msgsIn, 0);
  assert.equal(b.stats.msgsOut, 0);
  // B's own message does reach both.
  await b.send("from b");
  assert.equal((await a.recv()).text(), "from b");
  assert.equal((await c.recv()).text(), "from b");
  await closeAll(a, b, c);
});

test("bus drops and counts a message for a peer whose queue is full, other peers get it", async () => {
  const { hub, spokes } = await star(2, { sendBuffer: 2 }, 1);
  const [slow, fast] = spokes as [Bus, Bus];
  slow.pipes[0]!.pause();
  for (let i = 0; i < 6; i++) {
    await hub.send(`m${i}`);
    await tick();
  }
  // The slow pipe took 1 in flight and 2 queued; the 3 later messages missed it.
  assert.equal(hub.stats.dropReasons["send queue full"], 3);
  assert.equal(hub.stats.drops, 3);
  const fastGot: string[] = [];
  for (let i = 0; i < 6; i++) fastGot.push((await fast.recv()).text());
  assert.deepEqual(fastGot, ["m0", "m1", "m2", "m3", "m4", "m5"]);
  slow.pipes[0]!.resume();
  assert.deepEqual([(await slow.recv()).text(), (await slow.recv()).text(), (await slow.recv()).text()], ["m0", "m1", "m2"]);
  await assert.rejects(slow.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  await closeAll(hub, ...spokes);
});

test("raw bus puts the originating pipe id in a 4-byte header on receive", async () => {
  const { hub, spokes } = await star(2, { raw: true });
  await spokes[1]!.send("hi");
  const got = await hub.recv();
  assert.equal(got.text(), "hi");
  assert.equal(got.header.length, 4);
  assert.equal(hex(got.header), got.pipe.toString(16).padStart(8, "0"));
  assert.equal(got.pipe, hub.pipes[1]!.id);
  await closeAll(hub, ...spokes);
});

test("raw bus skips the pipe named in the header and strips it before sending", async () => {
  const { hub, spokes } = await star(3, { raw: true });
  await spokes[0]!.send("echo?");
  const got = await hub.recv();
  await hub.send(got); // what a device reflecting a raw bus onto itself does
  for (const s of [spokes[1]!, spokes[2]!]) {
    const m = await s.recv();
    assert.equal(m.text(), "echo?");
    assert.equal(m.header.length, 0);
  }
  await tick();
  await assert.rejects(spokes[0]!.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  assert.equal(hub.stats.msgsOut, 2);
  assert.equal(hub.stats.bytesOut, 10, "the header word never reaches the wire");
  await closeAll(hub, ...spokes);
});

test("raw bus sends a message with no header to every pipe and refuses a malformed header", async () => {
  const { hub, spokes } = await star(2, { raw: true });
  await hub.send("everyone");
  for (const s of spokes) assert.equal((await s.recv()).text(), "everyone");
  await assert.rejects(
    hub.send(new Message(new Uint8Array([1]), new Uint8Array([0, 0, 1]))),
    (e: unknown) => isCode("EINVAL")(e) && /4-byte/.test((e as Error).message),
  );
  await closeAll(hub, ...spokes);
});

test("cooked bus ignores a header it is handed and sends to every pipe", async () => {
  const { hub, spokes } = await star(2);
  await hub.send(new Message(new TextEncoder().encode("x"), new Uint8Array([0, 0, 0, 1])));
  for (const s of spokes) assert.deepEqual([...(await s.recv()).body], [0x78]);
  assert.equal(hub.stats.bytesOut, 2);
  await closeAll(hub, ...spokes);
});

test("bus recv times out ETIMEDOUT and an aborted send or recv rejects with the signal's reason", async () => {
  const { hub, spokes } = await star(1);
  await assert.rejects(hub.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  const ac = new AbortController();
  const reason = new Error("enough");
  const r = hub.recv({ signal: ac.signal });
  ac.abort(reason);
  await assert.rejects(r, (e: unknown) => e === reason);
  await assert.rejects(hub.send("no", { signal: ac.signal }), (e: unknown) => e === reason);
  assert.equal(hub.stats.msgsOut, 0);
  await closeAll(hub, ...spokes);
});

test("a raw bus reflected by device() forwards to every other peer and never back to the sender", async () => {
  const { hub, spokes } = await star(3, { raw: true });
  const d = device(hub);
  await spokes[0]!.send("from 0");
  assert.equal((await spokes[1]!.recv()).text(), "from 0");
  assert.equal((await spokes[2]!.recv()).text(), "from 0");
  await until(() => d.forwarded.ab === 1, "forwarded once");
  await tick();
  await assert.rejects(spokes[0]!.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  assert.equal(hub.stats.msgsOut, 2);
  await d.close();
  await closeAll(...spokes);
});
