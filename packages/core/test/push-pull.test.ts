import { test } from "node:test";
import assert from "node:assert/strict";
import { Message, Socket, SPError, protocols, type ProtocolHooks, type ProtocolImpl } from "../src/index.js";
import { Push } from "../src/protocol/push0.js";
import { Pull } from "../src/protocol/pull0.js";
import { mem, until, tick } from "./support.js";

const isCode = (code: string) => (e: unknown) => e instanceof SPError && e.code === code;

/** Drain `n` messages from `s` as text. */
async function take(s: Socket, n: number): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < n; i++) got.push((await s.recv()).text());
  return got;
}

/** Settles-or-not, without waiting: true once `p` has settled. */
function track(p: Promise<unknown>): { settled: boolean } {
  const t = { settled: false };
  p.then(
    () => (t.settled = true),
    () => (t.settled = true),
  );
  return t;
}

test("push sends round robin across three pulls", async () => {
  const m = mem();
  const push = new Push(m.o);
  await push.listen(m.url);
  const pulls = [new Pull(m.o), new Pull(m.o), new Pull(m.o)];
  for (const p of pulls) await p.dial(m.url);
  await until(() => push.pipes.length === 3, "three pipes");
  for (let i = 0; i < 6; i++) await push.send(`m${i}`);
  // Pipes are used in the order they were added, one message each in turn.
  assert.deepEqual(await take(pulls[0]!, 2), ["m0", "m3"]);
  assert.deepEqual(await take(pulls[1]!, 2), ["m1", "m4"]);
  assert.deepEqual(await take(pulls[2]!, 2), ["m2", "m5"]);
  assert.equal(push.stats.msgsOut, 6);
  await push.close();
  for (const p of pulls) await p.close();
});

test("push send waits while no pull is connected and completes when one connects", async () => {
  const m = mem();
  const push = new Push(m.o);
  await push.listen(m.url);
  const first = push.send("first");
  const second = push.send("second");
  const t = track(first);
  await tick();
  assert.equal(t.settled, false, "send must wait for a pipe");
  assert.equal(push.stats.msgsOut, 0);
  const pull = new Pull(m.o);
  await pull.dial(m.url);
  await first;
  await second;
  assert.deepEqual(await take(pull, 2), ["first", "second"]);
  await push.close();
  await pull.close();
});

test("push send with no pipe rejects ETIMEDOUT after sendTimeout, and is never sent later", async () => {
  const m = mem();
  const push = new Push({ ...m.o, sendTimeout: 5 });
  await push.listen(m.url);
  await assert.rejects(push.send("too late"), isCode("ETIMEDOUT"));
  await assert.rejects(push.send("too late too", { timeout: 0 }), isCode("ETIMEDOUT"));
  const pull = new Pull(m.o);
  await pull.dial(m.url);
  await push.send("on time");
  assert.equal((await pull.recv()).text(), "on time");
  await assert.rejects(pull.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  assert.equal(push.stats.msgsOut, 1);
  await push.close();
  await pull.close();
});

test("an aborted push send rejects with the signal's reason, unchanged", async () => {
  const m = mem();
  const push = new Push(m.o);
  await push.listen(m.url);
  const ac = new AbortController();
  const reason = new Error("user gave up");
  const p = push.send("never", { signal: ac.signal });
  ac.abort(reason);
  await assert.rejects(p, (e: unknown) => e === reason);
  // An already-aborted signal rejects at once, even though nothing would wait.
  const pull = new Pull(m.o);
  await pull.dial(m.url);
  await assert.rejects(push.send("no", { signal: ac.signal }), (e: unknown) => e === reason);
  await push.send("yes");
  assert.equal((await pull.recv()).text(), "yes");
  assert.equal(push.stats.msgsOut, 1);
  await push.close();
  await pull.close();
});

test("push waits when every pull is paused and resumes in order when one drains", async () => {
  // highWaterMark 1: one message in flight per pipe, then sendBuffer (2) more queue in the pipe.
  const m = mem(1);
  const push = new Push({ ...m.o, sendBuffer: 2 });
  await push.listen(m.url);
  const pulls = [new Pull(m.o), new Pull(m.o)];
  for (const p of pulls) await p.dial(m.url);
  await until(() => push.pipes.length === 2, "two pipes");
  for (const p of pulls) p.pipes[0]!.pause(); // neither pull reads
  // Each pipe takes 1 in flight + 2 queued: 6 sends complete at once.
  for (let i = 0; i < 6; i++) await push.send(`m${i}`);
  assert.deepEqual(
    push.pipes.map((p) => p.ready),
    [false, false],
  );
  await assert.rejects(push.send("nowhere", { timeout: 0 }), isCode("ETIMEDOUT"));
  const waiting = push.send("m6");
  const t = track(waiting);
  await tick();
  assert.equal(t.settled, false, "send must wait while every pipe is full");
  pulls[1]!.pipes[0]!.resume();
  await waiting;
  assert.deepEqual(await take(pulls[1]!, 4), ["m1", "m3", "m5", "m6"]);
  pulls[0]!.pipes[0]!.resume();
  assert.deepEqual(await take(pulls[0]!, 3), ["m0", "m2", "m4"]);
  assert.equal(push.stats.drops, 0);
  await push.close();
  for (const p of pulls) await p.close();
});

test("a waiting push send rejects ECLOSED when the socket closes", async () => {
  const m = mem();
  const push = new Push(m.o);
  const p = push.send("x");
  await push.close();
  await assert.rejects(p, isCode("ECLOSED"));
});

test("pull fair-queues several pushes in arrival order, keeping each push's order", async () => {
  const m = mem();
  const pull = new Pull(m.o);
  await pull.listen(m.url);
  const pushes = [new Push(m.o), new Push(m.o), new Push(m.o)];
  for (const p of pushes) await p.dial(m.url);
  await until(() => pull.pipes.length === 3, "three pipes");
  for (let i = 0; i < 3; i++) for (const [j, p] of pushes.entries()) await p.send(`${"abc"[j]}${i}`);
  assert.deepEqual(await take(pull, 9), ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]);
  const senders = new Set<number>();
  await pushes[0]!.send("who");
  senders.add((await pull.recv()).pipe);
  await pushes[1]!.send("who");
  senders.add((await pull.recv()).pipe);
  assert.equal(senders.size, 2, "each message carries the id of the pipe it came on");
  await pull.close();
  for (const p of pushes) await p.close();
});

test("pull pauses its pipes when its receive queue is full: pushes wait, nothing is dropped", async () => {
  const m = mem(1);
  const pull = new Pull({ ...m.o, recvBuffer: 2 });
  await pull.listen(m.url);
  const pushes = [new Push({ ...m.o, sendBuffer: 1 }), new Push({ ...m.o, sendBuffer: 1 })];
  for (const p of pushes) await p.dial(m.url);
  await until(() => pull.pipes.length === 2, "two pipes");
  // Keep sending from both until neither can go on: the pull stopped reading.
  const sent: string[][] = [[], []];
  for (let i = 0; ; i++) {
    let progressed = false;
    for (const [j, p] of pushes.entries()) {
      try {
        await p.send(`${j}:${i}`, { timeout: 0 });
        sent[j]!.push(`${j}:${i}`);
        progressed = true;
      } catch (err) {
        assert.ok(isCode("ETIMEDOUT")(err));
      }
      await tick();
    }
    if (!progressed) break;
    assert.ok(i < 100, "the pull never pushed back");
  }
  const total = sent[0]!.length + sent[1]!.length;
  const got = await take(pull, total);
  assert.equal(pull.stats.drops, 0);
  for (const j of [0, 1]) assert.deepEqual(got.filter((s) => s.startsWith(`${j}:`)), sent[j]);
  await assert.rejects(pull.recv({ timeout: 0 }), isCode("ETIMEDOUT"));
  await pull.close();
  for (const p of pushes) await p.close();
});

test("push cannot receive and pull cannot send: ENOTSUP", async () => {
  const m = mem();
  const push = new Push(m.o);
  const pull = new Pull(m.o);
  await assert.rejects(push.recv(), (e: unknown) => isCode("ENOTSUP")(e) && /push socket cannot receive/.test((e as Error).message));
  await assert.rejects(pull.send("x"), (e: unknown) => isCode("ENOTSUP")(e) && /pull socket cannot send/.test((e as Error).message));
  await push.close();
  await pull.close();
});

test("push discards and counts a message a pull sends, and keeps the pipe", async () => {
  const m = mem();
  const push = new Push(m.o);
  await push.listen(m.url);
  // A broken puller: the pull protocol id, but it sends.
  const talker = (h: ProtocolHooks): ProtocolImpl => ({
    addPipe() {},
    removePipe() {},
    pipeMessage() {},
    send: async (msg) => {
      for (const p of h.pipes()) p.send([msg.body]);
    },
    close() {},
  });
  const bad = new Socket(protocols.pull!, talker, { ...m.o, reconnectMinTime: 60_000 });
  await bad.dial(m.url);
  await until(() => push.pipes.length === 1, "pipe");
  await bad.send("oops");
  await bad.send("again");
  await until(() => push.stats.msgsIn === 2, "both arrive");
  assert.equal(push.stats.dropReasons["unexpected message"], 2);
  assert.equal(push.pipes.length, 1);
  assert.deepEqual(push.stats.pipeErrors, {});
  await push.close();
  await bad.close();
});

test("raw push sends header and body as given; pull has no header and delivers the whole payload", async () => {
  const m = mem();
  const push = new Push({ ...m.o, raw: true });
  const pull = new Pull({ ...m.o, raw: true });
  await pull.listen(m.url);
  await push.dial(m.url);
  await push.send(new Message(new Uint8Array([0x62]), new Uint8Array([1, 2, 3, 4])));
  const got = await pull.recv();
  assert.deepEqual([...got.body], [1, 2, 3, 4, 0x62]);
  assert.equal(got.header.length, 0);
  await push.close();
  await pull.close();
});
