/**
 * SP stream framing (sp-wire.md 3.1, 3.2, 4): the handshake header, the
 * length prefix, and the streaming decoder under every chunking.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SPError, protocols } from "@spwire/core";
import {
  FrameDecoder,
  checkHandshake,
  describeProtocolId,
  encodeFramePrefix,
  encodeHandshake,
} from "../src/transport/framing.js";

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A whole frame as a peer would send it. */
function frame(payload: Uint8Array, ipc = false): Uint8Array {
  return concat(encodeFramePrefix(payload.length, ipc), payload);
}

/** Feed `chunks` in order; the messages delivered (as hex) and the error, if any. */
function decode(d: FrameDecoder, chunks: Uint8Array[]): { got: string[]; err: SPError | undefined } {
  const got: string[] = [];
  let err: SPError | undefined;
  for (const c of chunks) {
    err = d.push(c, (m) => got.push(hex(m)));
    if (err) break;
  }
  return { got, err };
}

/** `stream` cut at each of `cuts` (sorted offsets). */
function cut(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...cuts, stream.length]) {
    out.push(stream.slice(from, c));
    from = c;
  }
  return out;
}

// --- handshake ---

test("encodeHandshake writes 00 53 50 00, the 16-bit BE id, 00 00", () => {
  assert.equal(hex(encodeHandshake(protocols.rep!.id)), "0053500000310000");
  assert.equal(hex(encodeHandshake(protocols.req!.id)), "0053500000300000");
  assert.equal(hex(encodeHandshake(0x1234)), "0053500012340000");
});

test("encodeHandshake refuses an id that is not 16 bits with EINVAL", () => {
  assert.throws(() => encodeHandshake(0x10000), (e: unknown) => e instanceof SPError && e.code === "EINVAL");
  assert.throws(() => encodeHandshake(-1), (e: unknown) => e instanceof SPError && e.code === "EINVAL");
});

test("checkHandshake accepts the expected peer's header", () => {
  assert.equal(checkHandshake(bytes(0, 0x53, 0x50, 0, 0, 0x31, 0, 0), protocols.req!, "peer"), undefined);
});

test("checkHandshake refuses wrong magic with EPROTO", () => {
  const err = checkHandshake(text("GET / HT"), protocols.req!, "peer");
  assert.equal(err?.code, "EPROTO");
  assert.match(err.message, /47 45 54 20/);
});

test("checkHandshake refuses lower-case 'sp' with EPROTO", () => {
  assert.equal(checkHandshake(bytes(0, 0x73, 0x70, 0, 0, 0x31, 0, 0), protocols.req!, "peer")?.code, "EPROTO");
});

test("checkHandshake refuses version byte 1 with EPROTO", () => {
  const err = checkHandshake(bytes(0, 0x53, 0x50, 1, 0, 0x31, 0, 0), protocols.req!, "peer");
  assert.equal(err?.code, "EPROTO");
  assert.match(err.message, /version 1/);
});

test("checkHandshake refuses reserved bytes 00 01 with EPROTO (strict like nng)", () => {
  const err = checkHandshake(bytes(0, 0x53, 0x50, 0, 0, 0x31, 0, 1), protocols.req!, "peer");
  assert.equal(err?.code, "EPROTO");
  assert.match(err.message, /00 01/);
});

test("checkHandshake refuses another protocol id with EPEER naming both ids", () => {
  const err = checkHandshake(bytes(0, 0x53, 0x50, 0, 0, 0x20, 0, 0), protocols.req!, "tcp://x:1");
  assert.equal(err?.code, "EPEER");
  assert.match(err.message, /0x20 \(pub\)/);
  assert.match(err.message, /0x31 \(rep\)/);
  assert.match(err.message, /^tcp:\/\/x:1: /);
});

test("checkHandshake refuses a peer of the same role (REQ to REQ) with EPEER", () => {
  assert.equal(checkHandshake(encodeHandshake(0x30), protocols.req!, "peer")?.code, "EPEER");
});

test("checkHandshake refuses fewer than 8 bytes with EPROTO", () => {
  assert.equal(checkHandshake(bytes(0, 0x53, 0x50, 0), protocols.req!, "peer")?.code, "EPROTO");
});

test("describeProtocolId names known ids and prints unknown ones in hex", () => {
  assert.equal(describeProtocolId(0x62), "0x62 (surveyor)");
  assert.equal(describeProtocolId(0x4242), "0x4242");
});

// --- prefix ---

test("encodeFramePrefix writes the length as u64 big-endian", () => {
  assert.equal(hex(encodeFramePrefix(0)), "0000000000000000");
  assert.equal(hex(encodeFramePrefix(9)), "0000000000000009");
  assert.equal(hex(encodeFramePrefix(0x01020304)), "0000000001020304");
  assert.equal(hex(encodeFramePrefix(2 ** 32 + 5)), "0000000100000005");
  assert.equal(hex(encodeFramePrefix(Number.MAX_SAFE_INTEGER)), "001fffffffffffff");
});

test("encodeFramePrefix for ipc puts the 01 type byte first (9 bytes)", () => {
  assert.equal(hex(encodeFramePrefix(8, true)), "010000000000000008");
});

test("encodeFramePrefix refuses negative and fractional lengths with EINVAL", () => {
  assert.throws(() => encodeFramePrefix(-1), (e: unknown) => e instanceof SPError && e.code === "EINVAL");
  assert.throws(() => encodeFramePrefix(1.5), (e: unknown) => e instanceof SPError && e.code === "EINVAL");
});

// --- decoder ---

test("decoder delivers the verified REQ->REP request bytes as one message", () => {
  const d = new FrameDecoder({ maxSize: 0 });
  const { got, err } = decode(d, [Buffer.from("00000000000000098000002a68656c6c6f", "hex")]);
  assert.equal(err, undefined);
  assert.deepEqual(got, ["8000002a68656c6c6f"]);
});

test("decoder hands out a view of the chunk when a message lies inside it (zero-copy)", () => {
  const chunk = concat(frame(text("abc")), frame(text("defg")));
  const seen: Uint8Array[] = [];
  new FrameDecoder({ maxSize: 0 }).push(chunk, (m) => seen.push(m));
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.buffer, chunk.buffer);
  assert.equal(seen[0]!.byteOffset, 8);
  assert.equal(seen[1]!.buffer, chunk.buffer);
  assert.equal(seen[1]!.byteOffset, 8 + 3 + 8);
});

test("decoder hands out plain Uint8Arrays, not Buffers, even for Buffer chunks", () => {
  const seen: Uint8Array[] = [];
  new FrameDecoder({ maxSize: 0 }).push(Buffer.from(frame(text("x"))), (m) => seen.push(m));
  assert.equal(Object.getPrototypeOf(seen[0]), Uint8Array.prototype);
});

test("decoder delivers coalesced messages, empty ones included, in order", () => {
  const stream = concat(frame(text("one")), frame(new Uint8Array(0)), frame(text("three")), frame(new Uint8Array(0)));
  const { got, err } = decode(new FrameDecoder({ maxSize: 0 }), [stream]);
  assert.equal(err, undefined);
  assert.deepEqual(got, [hex(text("one")), "", hex(text("three")), ""]);
});

test("decoder yields the same messages for every split of a stream into two and three chunks", () => {
  const msgs = [text("hello"), new Uint8Array(0), bytes(0x80, 0, 0, 0x2a), new Uint8Array(0), text("a longer message body")];
  const want = msgs.map(hex);
  const stream = concat(...msgs.map((m) => frame(m)));
  let runs = 0;
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j++) {
      const { got, err } = decode(new FrameDecoder({ maxSize: 100 }), cut(stream, [i, j]));
      assert.equal(err, undefined, `split at ${i},${j}`);
      assert.deepEqual(got, want, `split at ${i},${j}`);
      runs++;
    }
  }
  assert.equal(runs, ((stream.length + 1) * (stream.length + 2)) / 2);
});

test("decoder yields the same messages when fed one byte at a time", () => {
  const msgs = [text("x"), new Uint8Array(0), text("yz")];
  const stream = concat(...msgs.map((m) => frame(m)));
  const { got } = decode(new FrameDecoder({ maxSize: 0 }), cut(stream, Array.from({ length: stream.length - 1 }, (_, i) => i + 1)));
  assert.deepEqual(got, msgs.map(hex));
});

test("decoder yields the same messages for pseudo-random multi-way splits", () => {
  const msgs: Uint8Array[] = [];
  for (let k = 0; k < 12; k++) msgs.push(Uint8Array.from({ length: (k * 37) % 50 }, (_, i) => (i * 7 + k) & 0xff));
  const stream = concat(...msgs.map((m) => frame(m)));
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const cuts = Array.from({ length: 1 + rnd(20) }, () => rnd(stream.length + 1)).sort((a, b) => a - b);
    const { got, err } = decode(new FrameDecoder({ maxSize: 64 }), cut(stream, cuts));
    assert.equal(err, undefined);
    assert.deepEqual(got, msgs.map(hex), `cuts ${cuts.join(",")}`);
  }
});

test("decoder accepts a declared length equal to maxSize", () => {
  const { got, err } = decode(new FrameDecoder({ maxSize: 100 }), [frame(new Uint8Array(100))]);
  assert.equal(err, undefined);
  assert.equal(got.length, 1);
});

test("decoder refuses a declared length over maxSize with EMSGSIZE before any payload arrives", () => {
  const d = new FrameDecoder({ maxSize: 100, remote: "tcp://p:1" });
  const err = d.push(encodeFramePrefix(101), () => assert.fail("nothing may be delivered"));
  assert.equal(err?.code, "EMSGSIZE");
  assert.match(err.message, /101/);
  assert.match(err.message, /100/);
  assert.equal(d.error, err);
});

test("decoder refuses 2^62 with EMSGSIZE even with no limit (maxSize 0)", () => {
  const err = new FrameDecoder({ maxSize: 0 }).push(bytes(0x40, 0, 0, 0, 0, 0, 0, 0), () => assert.fail("no message"));
  assert.equal(err?.code, "EMSGSIZE");
  assert.match(err.message, /0x4000000000000000/);
});

test("decoder refuses 2^62 with EMSGSIZE when its prefix arrives byte by byte", () => {
  const d = new FrameDecoder({ maxSize: 1 << 20 });
  const prefix = bytes(0x40, 0, 0, 0, 0, 0, 0, 0);
  for (let i = 0; i < 7; i++) assert.equal(d.push(prefix.subarray(i, i + 1), () => undefined), undefined);
  assert.equal(d.push(prefix.subarray(7), () => undefined)?.code, "EMSGSIZE");
});

test("decoder refuses a declared length beyond Number.MAX_SAFE_INTEGER with EMSGSIZE", () => {
  assert.equal(new FrameDecoder({ maxSize: 0 }).push(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), () => undefined)?.code, "EMSGSIZE");
  assert.equal(new FrameDecoder({ maxSize: Infinity }).push(bytes(0, 0x20, 0, 0, 0, 0, 0, 0), () => undefined)?.code, "EMSGSIZE");
});

test("decoder with no limit holds only the bytes that came, not the declared length", () => {
  const d = new FrameDecoder({ maxSize: 0 });
  assert.equal(d.push(concat(encodeFramePrefix(1 << 30), text("abc")), () => assert.fail("incomplete")), undefined);
  assert.equal(d.pending, 8 + 3);
});

test("decoder delivers the messages before an oversized frame, then stops for good", () => {
  const d = new FrameDecoder({ maxSize: 10 });
  const got: string[] = [];
  const err = d.push(concat(frame(text("ok")), encodeFramePrefix(11), new Uint8Array(11), frame(text("after"))), (m) => got.push(hex(m)));
  assert.equal(err?.code, "EMSGSIZE");
  assert.deepEqual(got, [hex(text("ok"))]);
  assert.equal(d.push(frame(text("more")), () => assert.fail("decoder is stopped")), err);
});

test("decoder refuses a negative maxSize with EINVAL", () => {
  assert.throws(() => new FrameDecoder({ maxSize: -1 }), (e: unknown) => e instanceof SPError && e.code === "EINVAL");
});

test("ipc decoder reads the verified nngcat reply (01 | u64 8 | 80 00 00 11 pong)", () => {
  const { got, err } = decode(new FrameDecoder({ maxSize: 0, ipc: true }), [Buffer.from("01000000000000000880000011706f6e67", "hex")]);
  assert.equal(err, undefined);
  assert.deepEqual(got, ["80000011706f6e67"]);
});

test("ipc decoder yields the same messages for every split into two chunks", () => {
  const msgs = [text("a"), new Uint8Array(0), text("bcd")];
  const stream = concat(...msgs.map((m) => frame(m, true)));
  for (let i = 0; i <= stream.length; i++) {
    const { got, err } = decode(new FrameDecoder({ maxSize: 10, ipc: true }), cut(stream, [i]));
    assert.equal(err, undefined);
    assert.deepEqual(got, msgs.map(hex), `split at ${i}`);
  }
});

test("ipc decoder refuses type byte 02 with EPROTO", () => {
  const err = new FrameDecoder({ maxSize: 0, ipc: true }).push(bytes(2, 0, 0, 0, 0, 0, 0, 0, 1, 0x41), () => assert.fail("no message"));
  assert.equal(err?.code, "EPROTO");
  assert.match(err.message, /0x02/);
});

test("ipc decoder refuses tcp-style framing (no type byte) with EPROTO", () => {
  assert.equal(new FrameDecoder({ maxSize: 0, ipc: true }).push(frame(text("hi")), () => undefined)?.code, "EPROTO");
});

test("ipc decoder refuses an oversized declared length with EMSGSIZE", () => {
  assert.equal(new FrameDecoder({ maxSize: 4, ipc: true }).push(encodeFramePrefix(5, true), () => undefined)?.code, "EMSGSIZE");
});

test("decoder stays in step with the stream when deliver throws", () => {
  const d = new FrameDecoder({ maxSize: 0 });
  assert.throws(
    () =>
      d.push(concat(frame(text("a")), frame(text("b")), encodeFramePrefix(3), text("c")), () => {
        throw new Error("handler failed");
      }),
    /handler failed/,
  );
  const { got, err } = decode(d, [text("de"), frame(text("next"))]);
  assert.equal(err, undefined);
  assert.deepEqual(got, [hex(text("cde")), hex(text("next"))]);
});
