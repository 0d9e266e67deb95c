/**
 * Property-based tests (fast-check) for core's parsers (issue 7, "Hostile
 * bytes"): the backtrace reader REQ/REP/SURVEYOR/RESPONDENT share, request
 * and survey ids, the gateway subscription query, and every protocol's
 * receive path fed random bytes through a real inproc pipe.
 *
 * The protocol property needs no model (the node tests over ws and tcp,
 * packages/node/test/prop-protocols.test.ts, hold each protocol to one): for
 * any messages, whatever reached the protocol was delivered, dropped,
 * filtered, or closed the pipe, and the counters add up; nothing escapes as
 * an exception or rejection; a new peer still gets a valid message through.
 *
 * Runs in Node and, like every core test, in Chromium
 * (e2e/core-in-browser.test.ts), so it uses no Node API; run counts are kept
 * small enough for that run's time limit. A failure prints fast-check's seed
 * and path.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
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
  Socket,
  Sub,
  Surveyor,
  gatewaySubUrl,
  inprocTransport,
  parseSubQuery,
  protocols,
  silentLogger,
  type ProtocolFactory,
  type SocketConfig,
} from "../src/index.js";
import { backtraceEnd, nextId, randomId, NO_ID, TOO_MANY_HOPS } from "../src/protocol/backtrace.js";
import { hex, until } from "./support.js";

// --- exceptions and rejections must not escape (Node: process events; browser: window events) ---

type Escapes = { seen: unknown[]; stop(): void };

function watchEscapes(): Escapes {
  const seen: unknown[] = [];
  const g = globalThis as unknown as {
    process?: { on(ev: string, fn: (e: unknown) => void): void; off(ev: string, fn: (e: unknown) => void): void };
    addEventListener?: (ev: string, fn: (e: unknown) => void) => void;
    removeEventListener?: (ev: string, fn: (e: unknown) => void) => void;
  };
  const onEscape = (e: unknown): void => {
    seen.push(e);
  };
  if (typeof g.process?.on === "function") {
    const p = g.process;
    p.on("uncaughtException", onEscape);
    p.on("unhandledRejection", onEscape);
    return { seen, stop: () => (p.off("uncaughtException", onEscape), p.off("unhandledRejection", onEscape)) };
  }
  const add = g.addEventListener!;
  const remove = g.removeEventListener!;
  const onError = (e: unknown): void => onEscape((e as { error?: unknown }).error ?? e);
  const onRejection = (e: unknown): void => onEscape((e as { reason?: unknown }).reason ?? e);
  add("error", onError);
  add("unhandledrejection", onRejection);
  return { seen, stop: () => (remove("error", onError), remove("unhandledrejection", onRejection)) };
}

/** Run `body` with the watch on; fails if anything escaped meanwhile. */
async function noEscapes(body: () => Promise<void> | void): Promise<void> {
  const w = watchEscapes();
  try {
    await body();
    // A rejection nobody handled is reported a little later.
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    w.stop();
  }
  assert.deepEqual(w.seen.map(String), [], "an exception or rejection escaped");
}

const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, includeErrorInReport: true });

const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
};

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// --- backtraces and ids ---

/** sp-wire.md 5.1, restated: words up to the first with the top bit set, at most `ttl` of them. */
function referenceEnd(b: Uint8Array, ttl: number): number {
  const words = Math.floor(b.length / 4);
  for (let i = 0; i < Math.min(words, ttl); i++) if (b[4 * i]! & 0x80) return 4 * (i + 1);
  return words > ttl ? TOO_MANY_HOPS : NO_ID;
}

const hop = fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 0x7fffffff }));
const id = fc.integer({ min: 0x80000000, max: 0xffffffff });
/** Words, hops and ids mixed, then 0-3 stray bytes; or 7 to 10 hops (around the default ttlMax, 8) and maybe an id; or any bytes at all. */
const headerish = fc.oneof(
  fc
    .tuple(fc.array(fc.oneof({ arbitrary: hop, weight: 4 }, { arbitrary: id, weight: 1 }), { maxLength: 14 }), fc.uint8Array({ maxLength: 3 }))
    .map(([ws, tail]) => concat([...ws.map(u32), tail])),
  fc
    .tuple(fc.integer({ min: 7, max: 10 }).chain((n) => fc.array(hop, { minLength: n, maxLength: n })), fc.option(id), fc.uint8Array({ maxLength: 6 }))
    .map(([hs, i, tail]) => concat([...hs.map(u32), i === null ? new Uint8Array(0) : u32(i), tail])),
  fc.uint8Array({ maxLength: 64 }),
);
const ttl = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 255 }));

test("backtraceEnd: ends after the first top-bit word within ttlMax words, else says broken peer (too short) or too many hops", () => {
  fc.assert(
    fc.property(headerish, ttl, (b, t) => {
      assert.equal(backtraceEnd(b, t), referenceEnd(b, t), `bytes ${hex(b)}, ttlMax ${t}`);
    }),
    params(2000),
  );
});

test("request and survey ids always have the top bit set, and the next id differs", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      const n = nextId(v);
      assert.ok(Number.isInteger(n) && n >= 0x80000000 && n <= 0xffffffff, `nextId(${v}) = ${n}`);
      if (v >= 0x80000000) assert.notEqual(n, v);
    }),
    params(1000),
  );
  for (let i = 0; i < 100; i++) {
    const r = randomId();
    assert.ok(Number.isInteger(r) && r >= 0x80000000 && r <= 0xffffffff);
  }
});

// --- the gateway subscription query (client input the gateway parses) ---

const bases = fc.constantFrom(
  "ws://gw.example/feed",
  "wss://gw.example:8443/a/b?token=t0k",
  "ws://127.0.0.1:9/x?sub=old&keep=1&nosub&sub#frag",
  "ws://gw.example/feed?&&a=%41&b",
);
const prefixes = fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 5 });
const others = (search: string): string[] =>
  search
    .replace(/^\?/, "")
    .split("&")
    .filter((p) => p !== "" && !/^(sub|nosub)(=|$)/.test(p));

test("gateway query: any subscriptions written by gatewaySubUrl read back exactly, other parameters and the fragment kept", () => {
  fc.assert(
    fc.property(bases, prefixes, (base, subs) => {
      const out = new URL(gatewaySubUrl(base, subs));
      const got = parseSubQuery(out.search);
      assert.deepEqual(got?.map((s) => Array.from(s)), subs.map((s) => Array.from(s)));
      const before = new URL(base);
      assert.deepEqual(others(out.search), others(before.search));
      assert.equal(out.hash, before.hash);
      assert.equal(out.pathname, before.pathname);
    }),
    params(500),
  );
});

/** The reference reading of one `sub=` value: UTF-8 bytes, each `%XX` one byte, anything else after `%` an error. */
function referenceValue(v: string): number[] | "EINVAL" {
  const raw = Array.from(new TextEncoder().encode(v));
  const out: number[] = [];
  const hexDigit = (c: number | undefined): number => {
    const s = c === undefined ? "" : String.fromCharCode(c);
    return /^[0-9a-fA-F]$/.test(s) ? parseInt(s, 16) : -1;
  };
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0x25) {
      out.push(raw[i]!);
      continue;
    }
    const hi = hexDigit(raw[i + 1]);
    const lo = hexDigit(raw[i + 2]);
    if (hi < 0 || lo < 0) return "EINVAL";
    out.push(hi * 16 + lo);
    i += 2;
  }
  return out;
}

test("gateway query: any query string is read as the reference reads it, or refused with EINVAL, never another error", () => {
  const piece = fc.oneof(
    fc.constantFrom("sub", "nosub", "sub=", "token=x", "", "su%62=x", "SUB=x"),
    fc.string({ maxLength: 12 }).map((v) => `sub=${v}`),
    fc.array(fc.constantFrom("%", "4", "1", "g", "G", "f", "F", "%2", "%zz", "é", "+", "="), { maxLength: 8 }).map((cs) => `sub=${cs.join("")}`),
    fc.string({ maxLength: 12 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 6 }), fc.boolean(), (pieces, mark) => {
      const query = (mark ? "?" : "") + pieces.join("&");
      // The reference: parameters named exactly sub or nosub; a bare `sub` reads as empty.
      let declared = false;
      let want: number[][] | "EINVAL" = [];
      for (const p of (mark ? query.slice(1) : query).split("&")) {
        const eq = p.indexOf("=");
        const name = eq < 0 ? p : p.slice(0, eq);
        if (name === "nosub") declared = true;
        if (name !== "sub") continue;
        declared = true;
        const v = referenceValue(eq < 0 ? "" : p.slice(eq + 1));
        if (v === "EINVAL") want = "EINVAL";
        else if (want !== "EINVAL") want.push(v);
      }
      let got: number[][] | "EINVAL" | undefined;
      try {
        got = parseSubQuery(query)?.map((s) => Array.from(s));
      } catch (err) {
        assert.ok(err instanceof SPError && err.code === "EINVAL", `threw ${String(err)}`);
        got = "EINVAL";
      }
      assert.deepEqual(got, want === "EINVAL" ? want : declared ? want : undefined, `query ${JSON.stringify(query)}`);
    }),
    params(1000),
  );
});

// --- every protocol's receive path, over a real inproc pipe ---

/** recvMaxSize of the sockets under test. */
const LIMIT = 128;

/**
 * A peer that sends raw bytes: a real Socket over the real inproc transport,
 * whose own protocol does nothing but write each body as one message to its
 * pipes (and takes whatever comes back without a word). It says it speaks
 * `info`, the protocol the socket under test expects.
 */
function injector(name: string, o: SocketConfig): Socket {
  const info = protocols[name]!;
  const raw: ProtocolFactory = (h) => ({
    canRecv: false,
    addPipe() {},
    removePipe() {},
    pipeMessage() {},
    send(msg: Message) {
      for (const p of h.pipes()) p.send([msg.body]);
      return Promise.resolve();
    },
    close() {},
  });
  return new Socket(info, raw, o);
}

interface Target {
  name: string;
  make(o: SocketConfig): Socket;
  /** A message that must be delivered on a fresh pipe; undefined where none can be (PUB, cooked REQ and SURVEYOR without a request). */
  valid?: Uint8Array;
  /** Before sending: subscriptions. */
  prepare?(s: Socket): void;
}

const still = new TextEncoder().encode("still");
const targets: Target[] = [
  { name: "rep", make: (o) => new Rep(o), valid: concat([u32(0x80000001), still]) },
  { name: "rep (raw)", make: (o) => new Rep({ ...o, raw: true }), valid: concat([u32(0x80000001), still]) },
  { name: "respondent", make: (o) => new Respondent(o), valid: concat([u32(0x80000001), still]) },
  { name: "respondent (raw)", make: (o) => new Respondent({ ...o, raw: true }), valid: concat([u32(0x80000001), still]) },
  { name: "req", make: (o) => new Req(o) },
  { name: "req (raw)", make: (o) => new Req({ ...o, raw: true }), valid: concat([u32(0x80000001), still]) },
  { name: "surveyor", make: (o) => new Surveyor(o) },
  { name: "surveyor (raw)", make: (o) => new Surveyor({ ...o, raw: true }), valid: concat([u32(0x80000001), still]) },
  { name: "pair1", make: (o) => new Pair1(o), valid: concat([u32(1), still]) },
  { name: "pair1 (raw)", make: (o) => new Pair1({ ...o, raw: true }), valid: concat([u32(1), still]) },
  // Subscribed to some prefixes only, so random messages are both kept and filtered.
  { name: "sub", make: (o) => new Sub(o), valid: still, prepare: (s) => ["\u0000", "\u0080", "st"].forEach((p) => (s as Sub).subscribe(p)) },
  { name: "sub (raw)", make: (o) => new Sub({ ...o, raw: true }), valid: still },
  { name: "bus", make: (o) => new Bus(o), valid: still },
  { name: "bus (raw)", make: (o) => new Bus({ ...o, raw: true }), valid: still },
  { name: "pull", make: (o) => new Pull(o), valid: still },
  { name: "pair", make: (o) => new Pair0(o), valid: still },
  { name: "pub", make: (o) => new Pub(o) },
];

/** Random messages: header-shaped, any bytes, or around and over the size limit. */
const messages = fc.array(
  fc.oneof(
    { arbitrary: headerish, weight: 6 },
    { arbitrary: fc.uint8Array({ maxLength: 24 }), weight: 3 },
    { arbitrary: fc.uint8Array({ minLength: LIMIT - 2, maxLength: LIMIT + 40 }), weight: 1 },
  ),
  { minLength: 1, maxLength: 10 },
);

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** Take every message the socket holds now; cooked REQ and SURVEYOR have no request out, so nothing is theirs to take. */
async function drain(s: Socket): Promise<number> {
  if (s.info.name === "pub" || (!s.raw && (s.info.name === "req" || s.info.name === "surveyor"))) return 0;
  let n = 0;
  for (;;) {
    try {
      await s.recv({ timeout: 0 });
      n++;
    } catch (err) {
      assert.ok(err instanceof SPError && err.code === "ETIMEDOUT", `recv failed: ${String(err)}`);
      return n;
    }
  }
}

for (const t of targets) {
  test(`inproc: ${t.name}: random messages are each delivered, dropped, filtered, or close the pipe; the counts add up; a new peer gets through`, async () => {
    await noEscapes(() =>
      fc.assert(
        fc.asyncProperty(messages, async (msgs) => {
          const m = { transports: [inprocTransport()], logger: silentLogger };
          const url = "inproc://prop";
          const sock = t.make({ ...m, recvMaxSize: LIMIT });
          const peers: Socket[] = [];
          try {
            t.prepare?.(sock);
            await sock.listen(url);
            const peer = injector(sock.info.peerName, m);
            peers.push(peer);
            await peer.dial(url);
            await until(() => sock.pipes.length === 1, "the pipe is attached");
            for (const b of msgs) await peer.send(b);
            const s = sock.stats;
            // Every message reached the protocol, or one closed the pipe (then nothing after it is read).
            await until(() => s.msgsIn === msgs.length || s.pipesClosed === 1, "the messages were read");
            await new Promise((r) => setTimeout(r, 0));
            const delivered = await drain(sock);
            const errors = sum(s.pipeErrors);
            assert.ok(s.msgsIn <= msgs.length);
            if (errors === 0) {
              assert.equal(s.msgsIn, msgs.length, "no close, so every message was read");
              assert.equal(s.pipesClosed, 0);
            } else {
              assert.equal(errors, 1, "one pipe, closed once");
              const code = Object.keys(s.pipeErrors)[0];
              if (code === "EMSGSIZE") {
                // Refused by the transport before the protocol saw it: the message after the last one read.
                assert.ok(msgs[s.msgsIn]!.length > LIMIT, "EMSGSIZE for a message within the limit");
              } else {
                assert.equal(code, "EPROTO", `pipe closed with ${code}`);
              }
            }
            // The counts add up: each message read was delivered, dropped or filtered, except one that closed the pipe.
            const closedByProtocol = s.pipeErrors.EPROTO ?? 0;
            assert.equal(delivered + s.drops + s.filtered + closedByProtocol, s.msgsIn, `stats ${JSON.stringify(s)}`);
            assert.equal(sum(s.dropReasons), s.drops);

            // A new peer still gets a valid message through.
            await peer.close();
            await until(() => sock.pipes.length === 0, "the first pipe is gone");
            if (t.valid !== undefined) {
              const next = injector(sock.info.peerName, m);
              peers.push(next);
              await next.dial(url);
              await until(() => sock.pipes.length === 1, "the second pipe is attached");
              await next.send(t.valid);
              const got = await sock.recv({ timeout: 2000 });
              assert.equal(new TextDecoder().decode(got.body), "still");
            }
          } finally {
            for (const p of peers) await p.close();
            await sock.close();
          }
        }),
        params(25),
      ),
    );
  });
}
