import { test } from "node:test";
import assert from "node:assert/strict";
import { SPError, Message, device } from "../src/index.js";
import { Surveyor } from "../src/protocol/surveyor0.js";
import { Respondent } from "../src/protocol/respondent0.js";
import { mem, until, hex, word } from "./support.js";

const isCode = (code: string) => (e: unknown) => e instanceof SPError && e.code === code;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A surveyor listening and `n` respondents dialled in. */
async function group(n: number, surOpts = {}, resOpts = {}) {
  const m = mem();
  const sur = new Surveyor({ ...m.o, ...surOpts });
  await sur.listen(m.url);
  const res: Respondent[] = [];
  for (let i = 0; i < n; i++) {
    const r = new Respondent({ ...m.o, ...resOpts });
    await r.dial(m.url);
    res.push(r);
  }
  await until(() => sur.pipes.length === n, "respondents connected");
  const close = async () => {
    await sur.close();
    for (const r of res) await r.close();
  };
  return { sur, res, m, close };
}

async function collect(it: AsyncIterable<Message>): Promise<Message[]> {
  const out: Message[] = [];
  for await (const a of it) out.push(a);
  return out;
}

test("a survey reaches 3 respondents and collects their 3 answers", async () => {
  const { sur, res, close } = await group(3, { surveyTime: 50 });
  const s = sur.survey("roll call");
  assert.equal(s.sent, 3);
  const answers = collect(s);
  for (const [i, r] of res.entries()) {
    const q = await r.recv();
    assert.equal(q.text(), "roll call");
    assert.equal(word(q.header), s.id);
    await r.respond(q, `here ${i}`);
  }
  const got = await answers;
  assert.deepEqual(got.map((a) => a.text()).sort(), ["here 0", "here 1", "here 2"]);
  for (const a of got) assert.equal(hex(a.header), s.id.toString(16), "each answer's header is the survey id");
  assert.equal(sur.stats.drops, 0);
  await close();
});

test("survey ids have the top bit set and go up by one per survey", async () => {
  const { sur, res, close } = await group(1, { surveyTime: 50 });
  const ss = [sur.survey("a"), sur.survey("b"), sur.survey("c")];
  const qs = [await res[0]!.recv(), await res[0]!.recv(), await res[0]!.recv()];
  const ids = qs.map((q) => word(q.header));
  const after = (id: number): number => (id === 0xffffffff ? 0x80000000 : id + 1); // wraps within the top-bit range
  for (const q of qs) assert.equal(q.header.length, 4, "one header word on the wire");
  for (const id of ids) assert.ok(id >= 0x80000000, `id ${id.toString(16)} has the top bit set`);
  assert.equal(ids[1], after(ids[0]!));
  assert.equal(ids[2], after(ids[1]!));
  assert.deepEqual(ids, ss.map((s) => s.id));
  await close();
});

test("two concurrent surveys each get their own answers", async () => {
  const { sur, res, close } = await group(2, { surveyTime: 50 });
  const s1 = sur.survey("color?");
  const s2 = sur.survey("size?");
  const a1 = collect(s1);
  const a2 = collect(s2);
  for (const r of res) {
    for (let i = 0; i < 2; i++) {
      const q = await r.recv();
      await r.respond(q, q.text() === "color?" ? "red" : "large");
    }
  }
  assert.deepEqual((await a1).map((a) => a.text()), ["red", "red"]);
  assert.deepEqual((await a2).map((a) => a.text()), ["large", "large"]);
  await close();
});

test("an answer after the survey ended is dropped and counted as late", async () => {
  const { sur, res, close } = await group(1);
  const s = sur.survey("quick", { time: 50 });
  const q = await res[0]!.recv();
  assert.deepEqual(await collect(s), [], "the survey ends with no answer");
  await res[0]!.respond(q, "too late");
  await until(() => sur.stats.dropReasons["late or unknown survey id"] === 1, "late answer counted");
  assert.equal(sur.stats.drops, 1);
  await close();
});

test("answers that came in time are still handed out after the survey time is over", async () => {
  const { sur, res, close } = await group(2, { surveyTime: 50 });
  const s = sur.survey("q");
  const q0 = await res[0]!.recv();
  const q1 = await res[1]!.recv();
  await res[0]!.respond(q0, "in time");
  await until(() => sur.stats.msgsIn === 1, "answer arrived");
  await new Promise((r) => setTimeout(r, 80)); // a later timer than the survey's: it fires after the survey ended
  await res[1]!.respond(q1, "late");
  await until(() => sur.stats.dropReasons["late or unknown survey id"] === 1, "the survey is over");
  assert.deepEqual((await collect(s)).map((a) => a.text()), ["in time"]);
  await close();
});

test("respond() answers surveys in any order, each reaching its own survey", async () => {
  const { sur, res, close } = await group(1, { surveyTime: 50 });
  const s1 = sur.survey("first");
  const s2 = sur.survey("second");
  const a1 = collect(s1);
  const a2 = collect(s2);
  const q1 = await res[0]!.recv();
  const q2 = await res[0]!.recv();
  await res[0]!.respond(q2, "answer to second");
  await res[0]!.respond(q1, "answer to first");
  assert.deepEqual((await a1).map((a) => a.text()), ["answer to first"]);
  assert.deepEqual((await a2).map((a) => a.text()), ["answer to second"]);
  await close();
});

test("send/recv form: ESTATE before a survey, answers while open, ETIMEDOUT once the survey time is over", async () => {
  const { sur, res, close } = await group(1, { surveyTime: 50 });
  await assert.rejects(sur.recv(), isCode("ESTATE"));
  await assert.rejects(res[0]!.send("nothing asked"), isCode("ESTATE"));
  await sur.send("ping");
  const q = await res[0]!.recv();
  await res[0]!.send("pong");
  await assert.rejects(res[0]!.send("again"), isCode("ESTATE"), "one answer per survey received");
  const a = await sur.recv();
  assert.equal(a.text(), "pong");
  assert.equal(hex(a.header), hex(q.header));
  await assert.rejects(sur.recv(), isCode("ETIMEDOUT"));
  await assert.rejects(sur.recv(), isCode("ETIMEDOUT"), "still over until the next send");
  await close();
});

test("a new send cancels the previous survey: its waiting recv gets ESTATE and its answer is dropped", async () => {
  const { sur, res, close } = await group(1, { surveyTime: 10_000 });
  await sur.send("one");
  const waiting = sur.recv();
  const q1 = await res[0]!.recv();
  await sur.send("two");
  await assert.rejects(waiting, isCode("ESTATE"));
  const q2 = await res[0]!.recv();
  await res[0]!.respond(q1, "for one");
  await res[0]!.respond(q2, "for two");
  assert.equal((await sur.recv()).text(), "for two");
  await until(() => sur.stats.dropReasons["late or unknown survey id"] === 1, "answer to the cancelled survey dropped");
  await close();
});

test("a pipe whose send queue is full misses the survey, counted", async () => {
  const m = mem(1);
  const sur = new Surveyor({ ...m.o, sendBuffer: 0, surveyTime: 50 });
  await sur.listen(m.url);
  const r = new Respondent(m.o);
  await r.dial(m.url);
  await until(() => sur.pipes.length === 1, "connected");
  const s1 = sur.survey("gets through");
  const s2 = sur.survey("misses"); // same tick: the transport is still over its high water mark
  assert.equal(s1.sent, 1);
  assert.equal(s2.sent, 0);
  assert.equal(sur.stats.dropReasons["send queue full"], 1);
  assert.equal((await r.recv()).text(), "gets through");
  await assert.rejects(r.recv({ timeout: 50 }), isCode("ETIMEDOUT"));
  await sur.close();
  await r.close();
});

test("an aborted survey throws the signal's reason and drops its unread and later answers", async () => {
  const { sur, res, close } = await group(2);
  const ac = new AbortController();
  const reason = new Error("user left the page");
  const s = sur.survey("anyone?", { time: Infinity, signal: ac.signal });
  const q0 = await res[0]!.recv();
  const q1 = await res[1]!.recv();
  await res[0]!.respond(q0, "unread");
  await until(() => sur.stats.msgsIn === 1, "first answer arrived");
  ac.abort(reason);
  assert.equal(sur.stats.dropReasons["survey cancelled"], 1, "the answer nobody took");
  // The survey is over at the abort, whether or not anyone is iterating it.
  await res[1]!.respond(q1, "after abort");
  await until(() => sur.stats.dropReasons["late or unknown survey id"] === 1, "later answer dropped");
  await assert.rejects(collect(s), (e) => e === reason);
  await close();
});

test("a survey started with an already aborted signal is not sent and throws the reason", async () => {
  const { sur, close } = await group(1);
  const reason = new Error("never mind");
  const s = sur.survey("x", { signal: AbortSignal.abort(reason) });
  assert.equal(s.sent, 0);
  await assert.rejects(collect(s), (e) => e === reason);
  assert.equal(sur.stats.msgsOut, 0);
  await close();
});

test("leaving the iteration early cancels the survey: later answers are dropped as late", async () => {
  const { sur, res, close } = await group(2, { surveyTime: Infinity });
  const s = sur.survey("first answer wins");
  const qs = [await res[0]!.recv(), await res[1]!.recv()];
  await res[0]!.respond(qs[0]!, "winner");
  let first: string | undefined;
  for await (const a of s) {
    first = a.text();
    break;
  }
  assert.equal(first, "winner");
  await res[1]!.respond(qs[1]!, "loser");
  await until(() => sur.stats.dropReasons["late or unknown survey id"] === 1, "answer after break dropped");
  await close();
});

test("closing the surveyor ends an open survey's iteration with ECLOSED", async () => {
  const { sur, res, close } = await group(1, { surveyTime: Infinity });
  const s = sur.survey("hello?");
  await res[0]!.recv();
  const it = collect(s);
  await sur.close();
  await assert.rejects(it, isCode("ECLOSED"));
  assert.throws(() => sur.survey("after close"), isCode("ECLOSED"));
  await close();
});

test("survey() refuses a raw socket and a bad time at once", () => {
  const m = mem();
  const raw = new Surveyor({ ...m.o, raw: true });
  assert.throws(() => raw.survey("x"), {
    code: "ENOTSUP",
    message: "survey() is for cooked sockets; a raw surveyor uses send/recv",
  });
  const sur = new Surveyor(m.o);
  assert.throws(() => sur.survey("x", { time: -1 }), {
    code: "EINVAL",
    message: "time must be a non-negative number of milliseconds or Infinity, got -1",
  });
  void raw.close();
  void sur.close();
});

test("an answer shorter than 4 bytes closes the surveyor's pipe with EPROTO", async () => {
  const m = mem();
  const sur = new Surveyor({ ...m.o, surveyTime: Infinity });
  await sur.listen(m.url);
  const raw = new Respondent({ ...m.o, raw: true, reconnectMinTime: 60_000 });
  await raw.dial(m.url);
  await until(() => sur.pipes.length === 1, "connected");
  sur.survey("x");
  const q = await raw.recv();
  await raw.send(new Message(new Uint8Array([1, 2]), q.header.subarray(0, 4))); // route to the pipe, 2 bytes only
  await until(() => sur.stats.pipeErrors.EPROTO === 1, "surveyor closed the pipe");
  await sur.close();
  await raw.close();
});

test("respondent closes a pipe whose survey has no top-bit word (EPROTO) and keeps the others", async () => {
  const m = mem();
  const res = new Respondent(m.o);
  await res.listen(m.url);
  const bad = new Surveyor({ ...m.o, raw: true, reconnectMinTime: 60_000 });
  const good = new Surveyor({ ...m.o, surveyTime: 50 });
  await bad.dial(m.url);
  await good.dial(m.url);
  await until(() => res.pipes.length === 2, "both connected");
  await bad.send(new Message(utf8("hi"), new Uint8Array([0, 0, 0, 1])));
  await until(() => res.stats.pipeErrors.EPROTO === 1, "bad pipe closed");
  assert.equal(res.pipes.length, 1);
  const s = good.survey("fine?");
  const q = await res.recv();
  await res.respond(q, "fine");
  assert.deepEqual((await collect(s)).map((a) => a.text()), ["fine"]);
  await res.close();
  await bad.close();
  await good.close();
});

test("respondent accepts ttlMax backtrace words, drops a survey with more, and echoes the backtrace", async () => {
  const m = mem();
  const res = new Respondent(m.o);
  await res.listen(m.url);
  const raw = new Surveyor({ ...m.o, raw: true });
  await raw.dial(m.url);
  await until(() => res.pipes.length === 1, "connected");
  const hops = (n: number) => {
    const b = new Uint8Array(4 * (n + 1));
    for (let i = 0; i < n; i++) b[i * 4 + 3] = i + 1;
    b[n * 4] = 0x80;
    b[n * 4 + 3] = 0x2a;
    return b;
  };
  await raw.send(new Message(utf8("nine"), hops(8))); // 9 words: dropped
  await raw.send(new Message(utf8("eight"), hops(7))); // 8 words: accepted
  const q = await res.recv();
  assert.equal(q.text(), "eight");
  assert.equal(q.header.length, 32);
  assert.equal(res.stats.dropReasons["ttl exceeded"], 1);
  assert.equal(res.pipes.length, 1, "the pipe stays");
  await res.respond(q, "r");
  const a = await raw.recv();
  assert.equal(hex(a.header), hex(hops(7)));
  assert.equal(a.text(), "r");
  await res.close();
  await raw.close();
});

test("raw respondent pushes the pipe id and routes answers by it", async () => {
  const m = mem();
  const sur = new Surveyor({ ...m.o, surveyTime: 50 });
  await sur.listen(m.url);
  const raw = new Respondent({ ...m.o, raw: true });
  await raw.dial(m.url);
  await until(() => sur.pipes.length === 1, "connected");
  const s = sur.survey("hello");
  const q = await raw.recv();
  assert.equal(q.header.length, 8);
  assert.equal(word(q.header, 0), raw.pipes[0]!.id);
  assert.equal(word(q.header, 1), s.id);
  await raw.send(new Message(utf8("world"), q.header));
  const got = await collect(s);
  assert.deepEqual(got.map((a) => a.text()), ["world"]);
  assert.equal(got[0]!.header.length, 4, "the pipe id word was stripped before sending");
  await assert.rejects(raw.send(new Message(utf8("no header"))), isCode("EINVAL"));
  await assert.rejects(raw.respond(q, "x"), isCode("ENOTSUP"), "respond() is for cooked sockets");
  await raw.send(new Message(utf8("nowhere"), new Uint8Array([0x7f, 0, 0, 0, 0x80, 0, 0, 1])));
  assert.equal(raw.stats.dropReasons["reply pipe gone"], 1);
  await sur.close();
  await raw.close();
});

test("raw surveyor sends header and body as given and sees the backtrace in the answer's header", async () => {
  const m = mem();
  const res = new Respondent(m.o);
  await res.listen(m.url);
  const raw = new Surveyor({ ...m.o, raw: true });
  await raw.dial(m.url);
  await until(() => res.pipes.length === 1, "connected");
  const header = new Uint8Array([0, 0, 0, 5, 0x80, 0, 0, 7]);
  await raw.send(new Message(utf8("q"), header));
  const q = await res.recv();
  assert.equal(hex(q.header), "0000000580000007");
  await res.respond(q, "a");
  const a = await raw.recv();
  assert.equal(hex(a.header), "0000000580000007");
  assert.equal(a.text(), "a");
  await res.close();
  await raw.close();
});

test("surveyor -> device -> respondents: one word added per device on the way in, removed on the way out", async () => {
  const m = mem();
  const front = new Respondent({ ...m.o, raw: true });
  const back = new Surveyor({ ...m.o, raw: true });
  await front.listen(m.url + "front");
  await back.listen(m.url + "back");
  const rs = [new Respondent(m.o), new Respondent(m.o)];
  for (const r of rs) await r.dial(m.url + "back");
  const d = device(front, back);
  const sur = new Surveyor({ ...m.o, surveyTime: 100 });
  await sur.dial(m.url + "front");
  await until(() => back.pipes.length === 2 && front.pipes.length === 1, "all connected");
  const s = sur.survey("through the device");
  const answers = collect(s);
  for (const [i, r] of rs.entries()) {
    const q = await r.recv();
    assert.equal(q.header.length, 8, "device's pipe id word + survey id");
    assert.equal(word(q.header, 0), front.pipes[0]!.id);
    assert.equal(word(q.header, 1), s.id);
    await r.respond(q, `r${i}`);
  }
  const got = await answers;
  assert.deepEqual(got.map((a) => a.text()).sort(), ["r0", "r1"]);
  for (const a of got) assert.equal(a.header.length, 4);
  await d.close();
  await sur.close();
  for (const r of rs) await r.close();
});
