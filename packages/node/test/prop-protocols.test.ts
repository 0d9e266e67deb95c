/**
 * Property-based tests (fast-check) for each protocol's header parsing behind
 * a real transport (issue 7, "Hostile bytes"): a socket listens on ws:// (and,
 * for the backtrace and hop-count protocols, on tcp://), a raw client (the
 * `ws` package, or a plain TCP socket speaking the SP framing) connects and
 * sends a script of random and mutated messages: protocol-shaped headers with
 * bytes overwritten or cut, random bytes, ws text frames, and messages over
 * recvMaxSize.
 *
 * For every script a small model written here from sp-wire.md 5 says, message
 * by message, what must happen: delivered (with this header and body),
 * dropped (for this reason), filtered (SUB), or the pipe closed (with this
 * code), after which nothing more is read from that pipe. The test then
 * checks the socket against the model: the messages received, and every
 * counter in socket.stats (msgsIn, drops by reason, filtered, pipeErrors by
 * code), so the counts add up to the inputs. Whenever a pipe was closed, a
 * new peer must still get a valid message through; and no exception or
 * rejection may escape (process listeners, checked after every property).
 *
 * A failure prints fast-check's seed and path; rerun with FC_SEED=<seed>
 * FC_PATH=<path> (and --test-name-pattern) to replay that case.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket as NetSocket } from "node:net";
import fc from "fast-check";
import { WebSocket } from "ws";
import {
  Bus,
  Message,
  Pair0,
  Pair1,
  Pub,
  Pull,
  Rep,
  Req,
  Respondent,
  SPError,
  Sub,
  Surveyor,
  protocols,
  silentLogger,
  wsProtocolName,
  type Socket,
  type SocketConfig,
} from "@spwire/node";
import { FrameDecoder, encodeFramePrefix, encodeHandshake } from "../src/transport/framing.js";
import { until } from "../../../test-support/peers.js";

// --- what must never happen: an exception or rejection escaping a pipe ---

const escaped: unknown[] = [];
const onEscape = (e: unknown): void => {
  escaped.push(e);
};
process.on("uncaughtException", onEscape);
process.on("unhandledRejection", onEscape);
after(() => {
  process.off("uncaughtException", onEscape);
  process.off("unhandledRejection", onEscape);
});

/**
 * fast-check parameters: a fixed number of runs, FC_SEED / FC_PATH to replay
 * a reported failure, and a time limit so that shrinking a failure (each
 * shrink step is a real run over the network) ends well inside the file's budget.
 */
function params(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  return {
    numRuns,
    interruptAfterTimeLimit: 40_000,
    markInterruptAsFailure: true,
    includeErrorInReport: true,
    ...(seed !== undefined && seed !== "" ? { seed: Number(seed) } : {}),
    ...(path !== undefined && path !== "" ? { path } : {}),
  };
}

/** recvMaxSize of every socket under test: scripts go over it now and then. */
const LIMIT = 256;
/** ttlMax, the default (nng's 8). */
const TTL = 8;
const config: SocketConfig = { logger: silentLogger, recvMaxSize: LIMIT, handshakeTimeout: 5000 };

// --- bytes ---

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

const word = (b: Uint8Array, at = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);

/** `p`, or a failure naming `what` if it has not settled after `ms`. */
async function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

// --- the model ---

/** What one message must do. Header and body as hex. */
type Outcome = { deliver: { header: string; body: string } } | { drop: string } | { filtered: true } | { close: string };

type Delivered = { header: string; body: string };

const deliver = (header: Uint8Array, body: Uint8Array): Outcome => ({ deliver: { header: hex(header), body: hex(body) } });

/**
 * sp-wire.md 5.1: a backtrace is words up to and including the first with the
 * top bit set, at most ttlMax of them. Returns its byte length, or what
 * happens to a message without one: fewer than ttlMax whole words and none
 * with the top bit → a broken peer (close); more → too many hops (drop).
 */
function backtrace(b: Uint8Array): number | Outcome {
  const words = Math.floor(b.length / 4);
  for (let i = 0; i < Math.min(words, TTL); i++) if (b[4 * i]! >= 0x80) return 4 * (i + 1);
  return words > TTL ? { drop: "ttl exceeded" } : { close: "EPROTO" };
}

/**
 * What the script sends: a binary message, which a ws peer cuts into
 * fragments at `cuts` (a tcp peer writes its frame in pieces there); a ws
 * text frame; or a ws Ping, which is no message at all.
 */
type Input = { bytes: Uint8Array; cuts?: number[] } | { text: string } | { ping: Uint8Array };

/** `b` cut at the given offsets (modulo its length + 1, sorted; empty pieces allowed). */
function pieces(b: Uint8Array, cuts: readonly number[] = []): Uint8Array[] {
  const at = cuts.map((c) => c % (b.length + 1)).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, b.length]) {
    out.push(b.subarray(from, c));
    from = c;
  }
  return out;
}

// --- raw peers ---

interface RawPeer {
  send(i: Input): void;
  /** Messages received from the socket under test (whole SP messages). */
  got: Uint8Array[];
  /** Resolves when the connection is gone. */
  closed: Promise<void>;
  close(): void;
  /** Drop the connection without a goodbye. */
  kill(): void;
}

/** Close `peer` and wait for it to be gone; a peer that does not go within a few seconds is killed. */
async function bye(peer: RawPeer): Promise<void> {
  peer.close();
  try {
    await within(peer.closed, "the raw peer's connection to close");
  } catch (err) {
    peer.kill();
    throw err;
  }
}

type Transport = "ws" | "tcp";

/** Connect a raw peer to `sock`'s listener and wait until the socket has attached its pipe. */
async function rawPeer(sock: Socket, url: string, transport: Transport): Promise<RawPeer> {
  const opened = sock.stats.pipesOpened;
  const got: Uint8Array[] = [];
  let peer: RawPeer;
  if (transport === "ws") {
    const ws = new WebSocket(url, wsProtocolName(sock.info.name), { perMessageDeflate: false });
    ws.binaryType = "nodebuffer";
    ws.on("message", (d: Buffer) => got.push(new Uint8Array(d)));
    const closed = new Promise<void>((r) => ws.once("close", () => r()));
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      }),
      "the ws connection to open",
    );
    // A close we provoke may come with an error on our side too; it is the expected outcome.
    ws.on("error", () => undefined);
    peer = {
      send: (i) => {
        if ("text" in i) ws.send(i.text);
        else if ("ping" in i) ws.ping(i.ping);
        else {
          // One message in one or more frames: binary, then continuations, the last with FIN.
          const ps = pieces(i.bytes, i.cuts);
          ps.forEach((p, k) => ws.send(p, { binary: true, fin: k === ps.length - 1 }));
        }
      },
      got,
      closed,
      close: () => ws.close(),
      kill: () => ws.terminate(),
    };
  } else {
    const s: NetSocket = connect(Number(new URL(url).port), "127.0.0.1");
    s.setNoDelay(true);
    const closed = new Promise<void>((r) => s.once("close", () => r()));
    const d = new FrameDecoder({ maxSize: 0 });
    let hs = 0;
    s.on("data", (b: Buffer) => {
      // Skip the listener's 8-byte SP header, then decode frames.
      const skip = Math.min(8 - hs, b.length);
      hs += skip;
      d.push(b.subarray(skip), (m) => got.push(m.slice()));
    });
    await within(
      new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("error", reject);
      }),
      "the tcp connection to open",
    );
    s.on("error", () => undefined);
    s.write(encodeHandshake(sock.info.peerId));
    peer = {
      send: (i) => {
        if (!("bytes" in i)) throw new Error("tcp has no text or ping frames");
        for (const p of pieces(concat([encodeFramePrefix(i.bytes.length), i.bytes]), i.cuts)) if (p.length > 0) s.write(p);
      },
      got,
      closed,
      close: () => s.end(),
      kill: () => s.destroy(),
    };
  }
  await until(() => sock.stats.pipesOpened === opened + 1 && sock.pipes.length === 1, "the socket attached the raw peer's pipe", 400, 10);
  return peer;
}

// --- cases ---

/**
 * One socket under test. `T` is what the generator makes for one message
 * (resolved to bytes once the run's context is known), `S` the run's setup
 * (requests to make, subscriptions), `C` the run's context.
 */
interface Case<T, S, C> {
  name: string;
  transports: Transport[];
  make(): Socket;
  setup: fc.Arbitrary<S>;
  message(setup: S): fc.Arbitrary<T>;
  /** After the raw peer connected, before the script: make requests, set subscriptions. */
  begin(sock: Socket, peer: RawPeer, setup: S): Promise<C>;
  bytes(t: T, ctx: C): Uint8Array;
  /** The model for one run: the outcome of each message that reaches the protocol, in order. */
  model(ctx: C, pipeId: number): (b: Uint8Array) => Outcome;
  /** The messages the socket handed to the application, `want` telling how many (and, for surveys, for which). */
  collect(sock: Socket, ctx: C, want: Delivered[]): Promise<Delivered[]>;
  /** After the counters were checked: answer what was delivered, give up what was not. */
  finish?(sock: Socket, ctx: C, peer: RawPeer, closed: boolean): Promise<void>;
  /** A fresh peer still gets a valid message through. */
  stillWorks(sock: Socket, url: string, transport: Transport): Promise<void>;
  numRuns: number;
}

type AnyCase = Case<any, any, any>;
const defineCase = <T, S, C>(c: Case<T, S, C>): AnyCase => c;

/** Up to three bytes overwritten, and maybe cut short: the mutations applied to well-formed messages. */
function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }));
  return fc.oneof(
    { arbitrary: base, weight: 3 },
    {
      arbitrary: fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 3 }), fc.oneof(fc.constant(null), fc.nat())).map(([b, e, cut]) => {
        const c = b.slice();
        if (c.length > 0) for (const [i, v] of e) c[i % c.length] = v;
        return cut === null ? c : c.subarray(0, cut % (c.length + 1));
      }),
      weight: 1,
    },
  );
}

const body = fc.uint8Array({ maxLength: 24 });
const hopWord = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 0x7fffffff }));
const idWord = fc.oneof(fc.integer({ min: 0x80000000, max: 0x80000010 }), fc.integer({ min: 0x80000000, max: 0xffffffff }));
/** A request or survey as a device chain would pass it: hop words, an id, a body; around ttlMax hops. */
const backtraced = mutated(
  fc
    .tuple(
      // any number of hops up to past ttlMax, and often exactly around it
      fc.oneof(
        fc.array(hopWord, { maxLength: TTL + 2 }),
        fc.constantFrom(TTL - 1, TTL, TTL + 1).chain((n) => fc.array(hopWord, { minLength: n, maxLength: n })),
      ),
      fc.option(idWord, { freq: 4 }),
      body,
    )
    .map(([hops, id, b]) => concat([...hops.map(u32), id === null ? new Uint8Array(0) : u32(id), b])),
);

/** One item of a script: a message made by the case's generator, or bytes, or a ws text or ping frame. */
type Item<T> = { m: T; cuts: number[] } | { bytes: Uint8Array; cuts: number[] } | { text: string } | { ping: Uint8Array };

/** A script: mostly well-formed-ish messages, sometimes random bytes, sizes around and over the limit, ws text frames and pings; messages often fragmented. */
function script<T>(message: fc.Arbitrary<T>, transport: Transport): fc.Arbitrary<Item<T>[]> {
  const cuts = fc.oneof({ arbitrary: fc.constant([] as number[]), weight: 2 }, { arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), weight: 1 });
  const bytes = (b: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Item<T>> => fc.tuple(b, cuts).map(([x, c]) => ({ bytes: x, cuts: c }));
  const items: fc.WeightedArbitrary<Item<T>>[] = [
    { arbitrary: fc.tuple(message, cuts).map(([m, c]): Item<T> => ({ m, cuts: c })), weight: 24 },
    { arbitrary: bytes(fc.uint8Array({ maxLength: 40 })), weight: 3 },
    { arbitrary: bytes(fc.uint8Array({ minLength: LIMIT - 2, maxLength: LIMIT + 2 })), weight: 1 },
    { arbitrary: bytes(fc.uint8Array({ minLength: LIMIT + 1, maxLength: 4 * LIMIT })), weight: 1 },
  ];
  if (transport === "ws") {
    items.push({ arbitrary: fc.string({ maxLength: 20 }).map((text): Item<T> => ({ text })), weight: 1 });
    items.push({ arbitrary: fc.uint8Array({ maxLength: 125 }).map((ping): Item<T> => ({ ping })), weight: 1 });
  }
  return fc.array(fc.oneof(...items), { minLength: 1, maxLength: 12 });
}

async function recvN(sock: Socket, n: number): Promise<Message[]> {
  const out: Message[] = [];
  for (let i = 0; i < n; i++) out.push(await sock.recv({ timeout: 5000 }));
  // And nothing more.
  await assert.rejects(sock.recv({ timeout: 0 }), (e: unknown) => e instanceof SPError && e.code === "ETIMEDOUT", "more messages than the model says");
  return out;
}

const asDelivered = (m: Message): Delivered => ({ header: hex(m.header), body: hex(m.body) });

/** Queue-based protocols: the delivered messages are what recv() returns. */
function fromQueue(ctxMessages?: (ctx: never, ms: Message[]) => void) {
  return async (sock: Socket, ctx: unknown, want: Delivered[]): Promise<Delivered[]> => {
    const ms = await recvN(sock, want.length);
    ctxMessages?.(ctx as never, ms);
    return ms.map(asDelivered);
  };
}

/** A fresh raw peer sends `valid`; the socket must hand it over. */
function stillReceives(valid: Uint8Array, prepare?: (sock: Socket) => void) {
  return async (sock: Socket, url: string, transport: Transport): Promise<void> => {
    prepare?.(sock);
    const peer = await rawPeer(sock, url, transport);
    try {
      peer.send({ bytes: valid });
      assert.equal((await sock.recv({ timeout: 5000 })).text(), "still", "a valid message still arrives");
    } finally {
      await bye(peer);
      await until(() => sock.pipes.length === 0, "the pipe is gone", 400, 10);
    }
  };
}

const still = utf8("still");
const validRequest = concat([u32(0x80000001), still]);

/** REP and RESPONDENT, cooked or raw: the backtrace goes into the header (raw: after our pipe id), and answers echo it. */
function responderCase(kind: "rep" | "respondent", raw: boolean): AnyCase {
  type Ctx = { delivered: Message[] };
  const make = kind === "rep" ? () => new Rep({ ...config, raw }) : () => new Respondent({ ...config, raw });
  return defineCase<Uint8Array, undefined, Ctx>({
    name: `${kind}${raw ? " (raw)" : ""}: backtraces`,
    transports: ["ws", "tcp"],
    make,
    setup: fc.constant(undefined),
    message: () => backtraced,
    begin: async () => ({ delivered: [] }),
    bytes: (b) => b,
    model: (_ctx, pipeId) => (b) => {
      const end = backtrace(b);
      if (typeof end !== "number") return end;
      return deliver(concat([raw ? u32(pipeId) : new Uint8Array(0), b.subarray(0, end)]), b.subarray(end));
    },
    collect: fromQueue((ctx: Ctx, ms) => ctx.delivered.push(...ms)),
    finish: async (sock, ctx, peer, closed) => {
      if (closed) return;
      // Answer each one; the peer must get its exact backtrace back in front of the answer.
      const want: string[] = [];
      const before = peer.got.length;
      for (const [i, m] of ctx.delivered.entries()) {
        const answer = utf8(`answer ${i}`);
        if (raw) await sock.send(new Message(answer, m.header));
        else if (kind === "rep") await (sock as Rep).reply(m, answer);
        else await (sock as Respondent).respond(m, answer);
        want.push(hex(concat([raw ? m.header.subarray(4) : m.header, answer])));
      }
      await until(() => peer.got.length === before + want.length, "the answers arrived", 400, 10);
      assert.deepEqual(peer.got.slice(before).map(hex), want);
    },
    stillWorks: stillReceives(validRequest),
    numRuns: 30,
  });
}

/** Raw REQ and raw SURVEYOR: replies and answers carry a backtrace too; it goes into the header as received. */
function rawAskerCase(kind: "req" | "surveyor"): AnyCase {
  return defineCase<Uint8Array, undefined, undefined>({
    name: `${kind} (raw): backtraces in replies`,
    transports: ["ws"],
    make: kind === "req" ? () => new Req({ ...config, raw: true }) : () => new Surveyor({ ...config, raw: true }),
    setup: fc.constant(undefined),
    message: () => backtraced,
    begin: async () => undefined,
    bytes: (b) => b,
    model: () => (b) => {
      const end = backtrace(b);
      return typeof end === "number" ? deliver(b.subarray(0, end), b.subarray(end)) : end;
    },
    collect: fromQueue(),
    stillWorks: stillReceives(validRequest),
    numRuns: 30,
  });
}

/** What the generator makes for a reply to a cooked REQ or SURVEYOR: an answer to request `to` (maybe with its id bit-flipped), or other bytes. */
type Answer = { to: number; flip: number | null; body: Uint8Array } | { other: Uint8Array };
const answer: fc.Arbitrary<Answer> = fc.oneof(
  { arbitrary: fc.record({ to: fc.nat(), flip: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, fc.integer({ min: 0, max: 31 })), body }), weight: 4 },
  { arbitrary: mutated(fc.tuple(idWord, body).map(([id, b]) => concat([u32(id), b]))).map((other) => ({ other })), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 5 }).map((other) => ({ other })), weight: 1 },
);

function answerBytes(a: Answer, ids: readonly number[]): Uint8Array {
  if ("other" in a) return a.other;
  const id = ids[a.to % ids.length]!;
  return concat([u32(a.flip === null ? id : (id ^ (1 << a.flip)) >>> 0), a.body]);
}

/** Cooked REQ: several requests at once; each reply with a live id resolves its request, others are dropped. */
const reqCase = defineCase<Answer, number, { ids: number[]; order: Delivered[]; ac: AbortController; all: Promise<unknown>[]; ended: unknown[] }>({
  name: "req: replies to several outstanding requests",
  transports: ["ws", "tcp"],
  make: () => new Req(config),
  setup: fc.integer({ min: 1, max: 4 }),
  message: () => answer,
  begin: async (sock, peer, n) => {
    const req = sock as Req;
    const ac = new AbortController();
    const order: Delivered[] = [];
    const ended: unknown[] = [];
    const before = peer.got.length;
    const all = Array.from({ length: n }, (_, i) =>
      req.request(`request ${i}`, { signal: ac.signal }).then(
        (m) => void order.push(asDelivered(m)),
        (e: unknown) => void ended.push(e),
      ),
    );
    await until(() => peer.got.length === before + n, "the requests reached the peer", 400, 10);
    const frames = peer.got.slice(before);
    assert.deepEqual(frames.map((f) => Buffer.from(f.subarray(4)).toString()), Array.from({ length: n }, (_, i) => `request ${i}`));
    return { ids: frames.map((f) => word(f)), order, ac, all, ended };
  },
  bytes: (a, ctx) => answerBytes(a, ctx.ids),
  model: (ctx) => {
    const open = new Set(ctx.ids);
    return (b) => {
      if (b.length < 4) return { close: "EPROTO" };
      const id = word(b);
      if (!open.has(id)) return { drop: "unknown request id" };
      open.delete(id);
      return deliver(b.subarray(0, 4), b.subarray(4));
    };
  },
  collect: async (_sock, ctx, want) => {
    await until(() => ctx.order.length >= want.length, "the answered requests resolved", 400, 10);
    return ctx.order.slice();
  },
  finish: async (_sock, ctx) => {
    const reason = new SPError("ECLOSED", "run over");
    ctx.ac.abort(reason);
    await within(Promise.all(ctx.all), "the requests to end");
    // The unanswered ones ended by our abort, and by nothing else.
    assert.deepEqual(ctx.ended, Array.from({ length: ctx.ids.length - ctx.order.length }, () => reason));
  },
  stillWorks: async (sock, url, transport) => {
    const peer = await rawPeer(sock, url, transport);
    try {
      const p = (sock as Req).request("still?", { timeout: 5000 });
      await until(() => peer.got.length === 1, "the request arrived", 400, 10);
      peer.send({ bytes: concat([peer.got[0]!.subarray(0, 4), still]) });
      assert.equal((await p).text(), "still");
    } finally {
      await bye(peer);
      await until(() => sock.pipes.length === 0, "the pipe is gone", 400, 10);
    }
  },
  numRuns: 40,
});

/** Cooked SURVEYOR: several surveys open at once; each answer with an open survey's id is kept for that survey, others are dropped. */
const surveyorCase = defineCase<Answer, number, { ids: number[]; its: AsyncIterator<Message>[]; ac: AbortController }>({
  name: "surveyor: answers to several open surveys",
  transports: ["ws"],
  make: () => new Surveyor(config),
  setup: fc.integer({ min: 1, max: 3 }),
  message: () => answer,
  begin: async (sock, peer, n) => {
    const sur = sock as Surveyor;
    const ac = new AbortController();
    const before = peer.got.length;
    const surveys = Array.from({ length: n }, (_, i) => sur.survey(`survey ${i}`, { time: Infinity, signal: ac.signal }));
    await until(() => peer.got.length === before + n, "the surveys reached the peer", 400, 10);
    assert.deepEqual(peer.got.slice(before).map((f) => word(f)), surveys.map((s) => s.id));
    return { ids: surveys.map((s) => s.id), its: surveys.map((s) => s[Symbol.asyncIterator]()), ac };
  },
  bytes: (a, ctx) => answerBytes(a, ctx.ids),
  model: (ctx) => (b) => {
    if (b.length < 4) return { close: "EPROTO" };
    if (!ctx.ids.includes(word(b))) return { drop: "late or unknown survey id" };
    return deliver(b.subarray(0, 4), b.subarray(4));
  },
  collect: async (_sock, ctx, want) => {
    // Per survey, in arrival order; then the surveys are cancelled, and an answer
    // the model did not expect would show up as a "survey cancelled" drop.
    const got: Delivered[] = [];
    for (const [i, it] of ctx.its.entries()) {
      const n = want.filter((d) => d.header === hex(u32(ctx.ids[i]!))).length;
      for (let k = 0; k < n; k++) {
        const r = await within(it.next(), `answer ${k} of survey ${i}`);
        assert.ok(r.done !== true, `survey ${i} ended before its answer ${k}`);
        got.push(asDelivered(r.value as Message));
      }
    }
    ctx.ac.abort(new SPError("ECLOSED", "run over"));
    return got;
  },
  stillWorks: async (sock, url, transport) => {
    const peer = await rawPeer(sock, url, transport);
    const ac = new AbortController();
    try {
      const s = (sock as Surveyor).survey("still?", { time: Infinity, signal: ac.signal });
      await until(() => peer.got.length === 1, "the survey arrived", 400, 10);
      peer.send({ bytes: concat([peer.got[0]!.subarray(0, 4), still]) });
      const r = await within(s[Symbol.asyncIterator]().next(), "the answer");
      assert.equal((r.value as Message).text(), "still");
    } finally {
      ac.abort();
      await bye(peer);
      await until(() => sock.pipes.length === 0, "the pipe is gone", 400, 10);
    }
  },
  numRuns: 40,
});

/** Survey answers are compared per survey (in the order of the survey ids), each survey's in arrival order. */
function canonical(c: AnyCase, want: Delivered[], ctx: unknown): Delivered[] {
  if (c !== surveyorCase) return want;
  const ids = (ctx as { ids: number[] }).ids.map((id) => hex(u32(id)));
  return ids.flatMap((id) => want.filter((d) => d.header === id));
}

/** PAIR1: one hop-count word; over 255 is a broken peer, over ttlMax is dropped. */
function pair1Case(raw: boolean): AnyCase {
  const hops = fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: TTL + 2 }), weight: 6 },
    { arbitrary: fc.constantFrom(255, 256), weight: 2 },
    { arbitrary: fc.integer({ min: 250, max: 260 }), weight: 1 },
    { arbitrary: fc.integer({ min: 0, max: 0xffffffff }), weight: 1 },
  );
  return defineCase<Uint8Array, undefined, undefined>({
    name: `pair1${raw ? " (raw)" : ""}: hop counts`,
    transports: ["ws", "tcp"],
    make: () => new Pair1({ ...config, raw }),
    setup: fc.constant(undefined),
    message: () => mutated(fc.tuple(hops, body).map(([h, b]) => concat([u32(h), b]))),
    begin: async () => undefined,
    bytes: (b) => b,
    model: () => (b) => {
      if (b.length < 4) return { close: "EPROTO" };
      const h = word(b);
      if (h > 255) return { close: "EPROTO" };
      if (h > TTL) return { drop: "ttl exceeded" };
      return deliver(raw ? b.subarray(0, 4) : new Uint8Array(0), b.subarray(4));
    },
    collect: fromQueue(),
    stillWorks: stillReceives(concat([u32(1), still])),
    numRuns: 30,
  });
}

/** Protocols without a header (BUS, PULL, PAIR0): every message within the limit is delivered as it came; raw BUS adds the pipe id. */
function plainCase(name: string, make: () => Socket, rawBus = false): AnyCase {
  return defineCase<Uint8Array, undefined, undefined>({
    name: `${name}: no header`,
    transports: ["ws"],
    make,
    setup: fc.constant(undefined),
    message: () => fc.uint8Array({ maxLength: 48 }),
    begin: async () => undefined,
    bytes: (b) => b,
    model: (_ctx, pipeId) => (b) => deliver(rawBus ? u32(pipeId) : new Uint8Array(0), b),
    collect: fromQueue(),
    stillWorks: stillReceives(still),
    numRuns: 15,
  });
}

/** SUB: a message is kept when one of the run's subscriptions is a prefix of it, else filtered (counted, not a drop); raw keeps all. */
function subCase(raw: boolean): AnyCase {
  const startsWith = (b: Uint8Array, p: Uint8Array): boolean => p.length <= b.length && p.every((x, i) => b[i] === x);
  return defineCase<Uint8Array, Uint8Array[], Uint8Array[]>({
    name: `sub${raw ? " (raw)" : ""}: subscription filtering`,
    transports: ["ws"],
    make: () => new Sub({ ...config, raw }),
    setup: fc.array(fc.uint8Array({ maxLength: 4 }), { maxLength: 3 }),
    message: (subs) =>
      subs.length === 0
        ? fc.uint8Array({ maxLength: 32 })
        : mutated(fc.tuple(fc.constantFrom(...subs), fc.uint8Array({ maxLength: 24 })).map(([p, rest]) => concat([p, rest]))),
    begin: async (sock, _peer, subs) => {
      const sub = sock as Sub;
      for (const s of sub.subscriptions) sub.unsubscribe(s);
      for (const s of subs) sub.subscribe(s);
      return subs;
    },
    bytes: (b) => b,
    model: (subs) => (b) => (raw || subs.some((p) => startsWith(b, p)) ? deliver(new Uint8Array(0), b) : { filtered: true }),
    collect: fromQueue(),
    stillWorks: stillReceives(still, (sock) => (sock as Sub).subscribe(still)),
    numRuns: 30,
  });
}

/** PUB: a SUB never sends, so any message closes that pipe; a real Sub still gets what is published. */
const pubCase = defineCase<Uint8Array, undefined, undefined>({
  name: "pub: anything received",
  transports: ["ws"],
  make: () => new Pub(config),
  setup: fc.constant(undefined),
  message: () => fc.uint8Array({ maxLength: 32 }),
  begin: async () => undefined,
  bytes: (b) => b,
  model: () => () => ({ close: "EPROTO" }),
  collect: async () => [],
  stillWorks: async (sock, url) => {
    const sub = new Sub({ logger: silentLogger });
    try {
      sub.subscribe("");
      await sub.dial(url);
      await until(() => sock.pipes.length === 1, "the sub attached", 400, 10);
      await sock.send("still");
      assert.equal((await sub.recv({ timeout: 5000 })).text(), "still");
    } finally {
      await sub.close();
      await until(() => sock.pipes.length === 0, "the sub's pipe is gone", 400, 10);
    }
  },
  numRuns: 10,
});

const cases: AnyCase[] = [
  responderCase("rep", false),
  responderCase("rep", true),
  responderCase("respondent", false),
  responderCase("respondent", true),
  reqCase,
  rawAskerCase("req"),
  surveyorCase,
  rawAskerCase("surveyor"),
  pair1Case(false),
  pair1Case(true),
  subCase(false),
  subCase(true),
  plainCase("bus", () => new Bus(config)),
  plainCase("bus (raw)", () => new Bus({ ...config, raw: true }), true),
  plainCase("pull", () => new Pull(config)),
  plainCase("pair0", () => new Pair0(config)),
  pubCase,
];

// --- the harness ---

function delta(now: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** What a property's runs did, for the test's diagnostic: outcomes by kind ("deliver", "drop: ttl exceeded", "close: EPROTO" ...). */
type Tally = Record<string, number>;

function count(t: Tally, o: Outcome): void {
  const k = "deliver" in o ? "delivered" : "filtered" in o ? "filtered" : "drop" in o ? `dropped (${o.drop})` : `closed (${o.close})`;
  t[k] = (t[k] ?? 0) + 1;
}

/** One run: connect a raw peer, send the script, and hold the socket to the model. */
async function runScript(
  c: AnyCase,
  sock: Socket,
  url: string,
  transport: Transport,
  setup: unknown,
  items: Item<unknown>[],
  tally: Tally,
): Promise<void> {
  const peer = await rawPeer(sock, url, transport);
  let closed = false;
  try {
    const pipeId = sock.pipes[0]!.id;
    const ctx = await c.begin(sock, peer, setup);
    const inputs: Input[] = items.map((i) => ("m" in i ? { bytes: c.bytes(i.m, ctx), cuts: i.cuts } : i));

    // What must happen, message by message, until the first that closes the pipe.
    const model = c.model(ctx, pipeId);
    const outcomes: Outcome[] = [];
    let reached = 0;
    for (const i of inputs) {
      let o: Outcome;
      if ("ping" in i) continue; // answered by the ws layer; no message
      if ("text" in i) o = { close: "EPROTO" }; // ws: a text frame (nng: close 1003)
      else if (i.bytes.length > LIMIT) o = { close: "EMSGSIZE" };
      else {
        reached++;
        o = model(i.bytes);
      }
      outcomes.push(o);
      if ("close" in o) break;
    }
    const closing = outcomes.find((o): o is { close: string } => "close" in o)?.close;
    closed = closing !== undefined;

    const s = sock.stats;
    const before = { msgsIn: s.msgsIn, drops: s.drops, reasons: { ...s.dropReasons }, filtered: s.filtered, errors: { ...s.pipeErrors } };
    for (const i of inputs) peer.send(i);

    if (closing !== undefined) {
      // The socket closes the pipe by itself.
      await within(peer.closed, `the socket closes the pipe (${closing})`);
      await until(() => sum(s.pipeErrors) === sum(before.errors) + 1, "the pipe error is counted", 400, 10);
    } else {
      await until(() => s.msgsIn - before.msgsIn >= reached, "every message reached the protocol", 400, 10);
    }

    const want = outcomes.flatMap((o) => ("deliver" in o ? [o.deliver] : []));
    const got = await c.collect(sock, ctx, want);
    assert.deepEqual(got, canonical(c, want, ctx), "delivered messages");

    const wantDrops: Record<string, number> = {};
    for (const o of outcomes) if ("drop" in o) wantDrops[o.drop] = (wantDrops[o.drop] ?? 0) + 1;
    const wantFiltered = outcomes.filter((o) => "filtered" in o).length;
    assert.equal(s.msgsIn - before.msgsIn, reached, "msgsIn: the messages that reached the protocol, none after a close");
    assert.deepEqual(delta(s.dropReasons, before.reasons), wantDrops, "drops by reason");
    assert.equal(s.drops - before.drops, sum(wantDrops), "drops");
    assert.equal(s.filtered - before.filtered, wantFiltered, "filtered");
    assert.deepEqual(delta(s.pipeErrors, before.errors), closing === undefined ? {} : { [closing]: 1 }, "pipe errors by code");
    // The counts add up: every message the pipe took was delivered, dropped, filtered, or closed it.
    const closes = sum(delta(s.pipeErrors, before.errors));
    assert.equal(got.length + (s.drops - before.drops) + (s.filtered - before.filtered) + closes, outcomes.length, "outcomes add up to the inputs");

    for (const o of outcomes) count(tally, o);
    await c.finish?.(sock, ctx, peer, closed);
  } finally {
    await bye(peer);
    await until(() => sock.pipes.length === 0, "the raw peer's pipe is gone", 400, 10);
  }
  if (closed) await c.stillWorks(sock, url, transport);
}

/** A fresh socket per run, so a failing run cannot leave state behind for the runs that shrink it. */
async function freshRun(c: AnyCase, transport: Transport, setup: unknown, items: Item<unknown>[], tally: Tally): Promise<void> {
  const sock = c.make();
  try {
    const l = await sock.listen(transport === "ws" ? "ws://127.0.0.1:0/prop" : "tcp://127.0.0.1:0");
    await runScript(c, sock, l.url, transport, setup, items, tally);
  } finally {
    await sock.close();
  }
}

for (const c of cases) {
  for (const transport of c.transports) {
    const numRuns = transport === "ws" ? c.numRuns : Math.ceil(c.numRuns / 2);
    test(`${transport}: ${c.name}: every message is delivered, dropped or filtered as the model says, or closes the pipe, and the counters add up`, async (t) => {
      const tally: Tally = {};
      const arb = (c.setup as fc.Arbitrary<unknown>).chain((setup) =>
        fc.tuple(fc.constant(setup), script(c.message(setup) as fc.Arbitrary<unknown>, transport)),
      );
      await fc.assert(
        fc.asyncProperty(arb, ([setup, items]) => freshRun(c, transport, setup, items, tally)),
        params(numRuns),
      );
      t.diagnostic(`${numRuns} runs; messages checked: ${Object.entries(tally).map(([k, v]) => `${k} ${v}`).join(", ")}`);
      assert.deepEqual(escaped.map(String), [], "an exception or rejection escaped (process listeners fired)");
    });
  }
}

test("every protocol is covered", () => {
  const covered = new Set(cases.map((c) => c.name.split(/[ :]/)[0]));
  // push never receives; its peer pull is covered.
  const want = Object.keys(protocols).filter((p) => p !== "push");
  assert.deepEqual(want.filter((p) => !covered.has(p === "pair" ? "pair0" : p)), []);
});
