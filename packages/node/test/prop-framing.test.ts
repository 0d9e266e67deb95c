/**
 * Property-based tests (fast-check) for the tcp:// and ipc:// stream parsers
 * (issue 7, "Hostile bytes"): the length-prefix FrameDecoder under arbitrary
 * chunking, mutated streams and huge declared lengths, and the 8-byte SP
 * handshake check; then the same parsers behind a real loopback listener
 * (tcp and ipc), fed by a raw client that writes its chunks with small gaps.
 *
 * Every property is checked against a small reference written here from
 * sp-wire.md 3 and 4, not against the code under test. A failure prints
 * fast-check's seed and path; rerun with FC_SEED=<seed> FC_PATH=<path> to
 * replay exactly that case.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { constants as bufferConstants } from "node:buffer";
import { connect, type Socket as NetSocket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import fc from "fast-check";
import { SPError, protocols, type ProtocolInfo } from "@spwire/core";
import { Pull, silentLogger } from "@spwire/node";
import { FrameDecoder, checkHandshake, encodeFramePrefix, encodeHandshake } from "../src/transport/framing.js";
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
function noneEscaped(): void {
  assert.deepEqual(escaped.map(String), [], "an exception or rejection escaped (process listeners fired)");
}

/**
 * fast-check parameters: a fixed number of runs, FC_SEED / FC_PATH to replay
 * a reported failure, the failing assertion in the report, and a time limit
 * so that shrinking a failure over real sockets ends inside the file's budget.
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

// --- byte helpers ---

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A u64 big-endian length prefix written independently of encodeFramePrefix (any bigint up to 2^64-1). */
function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
}

/** A frame as a peer writes it: [01] u64 length, payload. */
function frame(payload: Uint8Array, ipc: boolean): Uint8Array {
  return concat([ipc ? Uint8Array.of(1) : new Uint8Array(0), u64(BigInt(payload.length)), payload]);
}

/** `stream` cut at the given offsets (taken modulo its length + 1, sorted, duplicates allowed: empty chunks too). */
function split(stream: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = cuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, stream.length]) {
    // A fresh copy per chunk, as the network hands a fresh Buffer per read.
    out.push(stream.slice(from, c));
    from = c;
  }
  return out;
}

// --- the reference decoder: sp-wire.md 3.2 / 4, read over the whole stream at once ---

/** The payload limit a FrameDecoder with `maxSize` enforces: 0 = only what an array can hold. */
function limitOf(maxSize: number): bigint {
  return maxSize === 0 ? BigInt(Math.min(Number.MAX_SAFE_INTEGER, bufferConstants.MAX_LENGTH)) : BigInt(maxSize);
}

interface Decoded {
  messages: string[];
  error: "EPROTO" | "EMSGSIZE" | undefined;
  /** Offset of the stream byte that makes the error certain: the last byte of the bad prefix. */
  errorAt: number;
  /** Bytes of an unfinished frame left at the end (no error). */
  pending: number;
}

function reference(stream: Uint8Array, maxSize: number, ipc: boolean): Decoded {
  const prefix = ipc ? 9 : 8;
  const limit = limitOf(maxSize);
  const messages: string[] = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  let off = 0;
  for (;;) {
    const left = stream.length - off;
    if (left < prefix) return { messages, error: undefined, errorAt: -1, pending: left };
    if (ipc && stream[off] !== 0x01) return { messages, error: "EPROTO", errorAt: off + prefix - 1, pending: 0 };
    const len = view.getBigUint64(off + (ipc ? 1 : 0));
    if (len > limit) return { messages, error: "EMSGSIZE", errorAt: off + prefix - 1, pending: 0 };
    if (BigInt(left - prefix) < len) return { messages, error: undefined, errorAt: -1, pending: left };
    messages.push(hex(stream.subarray(off + prefix, off + prefix + Number(len))));
    off += prefix + Number(len);
  }
}

interface Fed {
  messages: string[];
  error: SPError | undefined;
  /** Index of the chunk whose push first returned the error. */
  errorChunk: number;
  pending: number;
}

/**
 * Push `chunks` into a fresh decoder, checking on every push: nothing thrown,
 * every message within the limit, the bytes held within limit + prefix, and
 * after an error every later push returns that same error and delivers nothing.
 */
function feed(chunks: readonly Uint8Array[], maxSize: number, ipc: boolean): Fed {
  const d = new FrameDecoder({ maxSize, ipc, remote: "prop" });
  const prefix = ipc ? 9 : 8;
  const messages: string[] = [];
  let error: SPError | undefined;
  let errorChunk = -1;
  chunks.forEach((c, i) => {
    let delivered = 0;
    const err = d.push(c, (m) => {
      delivered++;
      if (maxSize > 0) assert.ok(m.length <= maxSize, `a message of ${m.length} bytes passed a limit of ${maxSize}`);
      assert.ok(!Buffer.isBuffer(m), "messages are plain Uint8Arrays");
      messages.push(hex(m));
    });
    if (error !== undefined) {
      assert.equal(err, error, "after an error, every push returns that same error");
      assert.equal(delivered, 0, "after an error, nothing is delivered");
    } else if (err !== undefined) {
      assert.ok(err instanceof SPError, `push returned ${String(err)}, not an SPError`);
      error = err;
      errorChunk = i;
    }
    if (maxSize > 0) assert.ok(d.pending <= maxSize + prefix, `decoder holds ${d.pending} bytes with a limit of ${maxSize}`);
  });
  return { messages, error, errorChunk, pending: d.pending };
}

/** Which chunk of `chunks` holds stream byte `offset`. */
function chunkOf(chunks: readonly Uint8Array[], offset: number): number {
  let end = 0;
  for (let i = 0; i < chunks.length; i++) {
    end += chunks[i]!.length;
    if (offset < end) return i;
  }
  return -1;
}

// --- generators ---

const payloads = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 });
const cuts = fc.array(fc.nat(), { maxLength: 24 });
const ipcFlag = fc.boolean();

/** What may follow the valid frames of a hostile stream. */
const tail = (ipc: boolean): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.constant(new Uint8Array(0)),
    // garbage
    fc.uint8Array({ minLength: 1, maxLength: 40 }),
    // a declared length anywhere in u64 (mostly huge), then a few bytes of "payload"
    fc
      .tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 20 }))
      .map(([len, rest]) => concat([ipc ? Uint8Array.of(1) : new Uint8Array(0), u64(len), rest])),
    // a frame cut short
    fc.uint8Array({ maxLength: 300 }).chain((p) => fc.nat(p.length + 8).map((n) => frame(p, ipc).subarray(0, n))),
    // ipc: a type byte other than 01
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 8, maxLength: 20 })).map(([t, rest]) => concat([Uint8Array.of(t), rest])),
  );

/** Up to three byte overwrites anywhere in the stream. */
const edits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 });

function applyEdits(stream: Uint8Array, e: readonly (readonly [number, number])[]): Uint8Array {
  const out = stream.slice();
  if (out.length > 0) for (const [i, v] of e) out[i % out.length] = v;
  return out;
}

// --- decoder properties ---

test("decoder: any split of any valid tcp or ipc stream yields exactly its messages", () => {
  fc.assert(
    fc.property(ipcFlag, payloads, cuts, fc.integer({ min: 0, max: 64 }), (ipc, msgs, at, slack) => {
      // The limit is the largest message or more (0 = none): every frame is valid.
      const biggest = msgs.reduce((n, m) => Math.max(n, m.length), 0);
      const maxSize = slack === 0 ? 0 : biggest + slack - 1 || 1;
      const stream = concat(msgs.map((m) => frame(m, ipc)));
      const got = feed(split(stream, at), maxSize, ipc);
      assert.equal(got.error, undefined);
      assert.deepEqual(got.messages, msgs.map(hex));
      assert.equal(got.pending, 0);
    }),
    params(1000),
  );
  noneEscaped();
});

test("decoder: any stream, valid or not, under any chunking gives the reference's messages and error, refused at the bad prefix's last byte", () => {
  const arb = ipcFlag.chain((ipc) =>
    fc.record({
      ipc: fc.constant(ipc),
      msgs: payloads,
      tail: tail(ipc),
      edits: fc.oneof(fc.constant([] as [number, number][]), edits),
      cuts,
      maxSize: fc.oneof(fc.integer({ min: 1, max: 400 }), fc.constant(0)),
    }),
  );
  fc.assert(
    fc.property(arb, ({ ipc, msgs, tail: t, edits: e, cuts: at, maxSize }) => {
      const stream = applyEdits(concat([...msgs.map((m) => frame(m, ipc)), t]), e);
      const want = reference(stream, maxSize, ipc);
      const chunks = split(stream, at);
      const got = feed(chunks, maxSize, ipc);
      assert.deepEqual(got.messages, want.messages);
      assert.equal(got.error?.code, want.error);
      if (want.error !== undefined) {
        // Refused by the push that completed the bad prefix: no payload byte was waited for.
        assert.equal(got.errorChunk, chunkOf(chunks, want.errorAt), "the error came later than the prefix's last byte");
      } else {
        assert.equal(got.pending, want.pending, "bytes held for the unfinished frame");
      }
    }),
    params(1500),
  );
  noneEscaped();
});

test("decoder: a declared length over the limit is refused (EMSGSIZE) as soon as its prefix is complete, whatever follows", () => {
  const arb = ipcFlag.chain((ipc) =>
    fc.record({
      ipc: fc.constant(ipc),
      maxSize: fc.integer({ min: 1, max: 1 << 20 }),
      msgs: payloads,
      over: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }),
      rest: fc.uint8Array({ maxLength: 64 }),
      cuts,
    }),
  );
  fc.assert(
    fc.property(arb, ({ ipc, maxSize, msgs, over, rest, cuts: at }) => {
      const declared = BigInt(maxSize) + over > 2n ** 64n - 1n ? 2n ** 64n - 1n : BigInt(maxSize) + over;
      const good = msgs.filter((m) => m.length <= maxSize);
      const head = concat(good.map((m) => frame(m, ipc)));
      const bad = concat([ipc ? Uint8Array.of(1) : new Uint8Array(0), u64(declared)]);
      const chunks = split(concat([head, bad, rest]), at);
      const got = feed(chunks, maxSize, ipc);
      assert.deepEqual(got.messages, good.map(hex));
      assert.equal(got.error?.code, "EMSGSIZE");
      assert.equal(got.errorChunk, chunkOf(chunks, head.length + bad.length - 1));
    }),
    params(800),
  );
  noneEscaped();
});

test("decoder with no limit holds only the bytes that came, never the declared length (no allocation up front)", () => {
  const arb = fc.record({
    ipc: ipcFlag,
    // 16 MiB .. 2 GiB declared, a few hundred bytes sent
    declared: fc.integer({ min: 1 << 24, max: 2 ** 31 }),
    sent: fc.uint8Array({ maxLength: 600 }),
    cuts,
  });
  fc.assert(
    fc.property(arb, ({ ipc, declared, sent, cuts: at }) => {
      const prefix = concat([ipc ? Uint8Array.of(1) : new Uint8Array(0), u64(BigInt(declared))]);
      const chunks = split(concat([prefix, sent]), at);
      const before = process.memoryUsage().arrayBuffers;
      const d = new FrameDecoder({ maxSize: 0, ipc });
      let n = 0;
      for (const c of chunks) {
        assert.equal(d.push(c, () => n++), undefined);
      }
      const grew = process.memoryUsage().arrayBuffers - before;
      assert.equal(n, 0);
      assert.equal(d.pending, prefix.length + sent.length, "held bytes = the bytes that came");
      // Each chunk is a few hundred bytes; an allocation of the declared length would show as >= 16 MiB.
      assert.ok(grew < declared / 2, `array buffers grew by ${grew} bytes for a declared ${declared}`);
    }),
    params(100),
  );
  noneEscaped();
});

/**
 * The garbage collector, for measuring what the decoder keeps alive: V8
 * exposes it when --expose-gc is set, which may be done at run time; the
 * function is then a global of any new context.
 */
function collector(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

test("decoder: a frame trickled in tiny chunks (one network read each) costs a small multiple of its bytes, not a view per chunk", () => {
  const gc = collector();
  const held = (): number => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const arb = fc.record({
    ipc: ipcFlag,
    // 512 KiB declared (the limit), 256 KiB up to one byte short of it sent (all of it
    // would complete the frame and deliver it), 1 to 4 bytes per chunk
    sent: fc.integer({ min: 256 * 1024, max: 512 * 1024 - 1 }),
    sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 16 }),
  });
  fc.assert(
    fc.property(arb, ({ ipc, sent, sizes }) => {
      const limit = 512 * 1024;
      const d = new FrameDecoder({ maxSize: limit, ipc });
      const before = held();
      assert.equal(d.push(concat([ipc ? Uint8Array.of(1) : new Uint8Array(0), u64(BigInt(limit))]), () => assert.fail("no message yet")), undefined);
      let n = 0;
      for (let k = 0; n < sent; k++) {
        // A fresh array per chunk, as each socket read is.
        const c = new Uint8Array(Math.min(sizes[k % sizes.length]!, sent - n)).fill(n & 0xff);
        assert.equal(d.push(c, () => assert.fail("no message yet")), undefined);
        n += c.length;
      }
      const cost = held() - before;
      assert.equal(d.pending, (ipc ? 9 : 8) + sent);
      // Each chunk kept as a view would cost ~100 bytes of bookkeeping per chunk: 25x-100x the bytes.
      assert.ok(cost < 4 * sent + (1 << 20), `holding ${sent} bytes of a frame costs ${cost} bytes`);
    }),
    params(6),
  );
  noneEscaped();
});

// --- the handshake ---

const allProtocols = Object.values(protocols);
const protocolArb = fc.constantFrom(...allProtocols);

/** The reference for an 8-byte header (sp-wire.md 3.1): accepted, or the code it is refused with. */
function handshakeVerdict(b: Uint8Array, self: ProtocolInfo): "ok" | "EPROTO" | "EPEER" {
  if (b.length !== 8) return "EPROTO";
  if (b[0] !== 0x00 || b[1] !== 0x53 || b[2] !== 0x50 || b[3] !== 0x00) return "EPROTO";
  if (b[6] !== 0x00 || b[7] !== 0x00) return "EPROTO";
  return b[4]! * 256 + b[5]! === self.peerId ? "ok" : "EPEER";
}

/** A handshake: the valid one for `peerId` with up to three bytes overwritten, or 8 random bytes, or a short one. */
const handshakeFor = (peerId: number): fc.Arbitrary<Uint8Array> => {
  const valid = Uint8Array.of(0, 0x53, 0x50, 0, peerId >> 8, peerId & 0xff, 0, 0);
  return fc.oneof(
    { arbitrary: fc.constant(valid), weight: 2 },
    {
      arbitrary: fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }).map((e) => {
        const b = valid.slice();
        for (const [i, v] of e) b[i] = v;
        return b;
      }),
      weight: 6,
    },
    // any other protocol's header: EPEER unless it is the same id
    { arbitrary: fc.constantFrom(...allProtocols).map((p) => encodeHandshake(p.id)), weight: 2 },
    { arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }), weight: 1 },
    { arbitrary: fc.integer({ min: 0, max: 7 }).map((n) => valid.slice(0, n)), weight: 1 },
  );
};

test("handshake: every header is accepted exactly when it is 00 53 50 00, the peer's id, 00 00; each mutation gets its code", () => {
  const arb = protocolArb.chain((self) => fc.tuple(fc.constant(self), handshakeFor(self.peerId)));
  fc.assert(
    fc.property(arb, ([self, bytes]) => {
      const want = handshakeVerdict(bytes, self);
      const got = checkHandshake(bytes, self, "prop");
      if (want === "ok") assert.equal(got, undefined, `refused a valid header: ${got?.message}`);
      else assert.equal(got?.code, want, `header ${hex(bytes)} to ${self.name}`);
    }),
    params(3000),
  );
  noneEscaped();
});

test("handshake: encodeHandshake writes every 16-bit id so that checkHandshake reads it back", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), protocolArb, (id, self) => {
      const b = encodeHandshake(id);
      assert.equal(hex(b), `00535000${id.toString(16).padStart(4, "0")}0000`);
      assert.equal(checkHandshake(b, self, "prop")?.code, id === self.peerId ? undefined : "EPEER");
    }),
    params(1000),
  );
  noneEscaped();
});

// --- the same parsers behind a real listener ---

const PUSH = protocols.push!.id;
const dir = mkdtempSync(join(tmpdir(), "spwire-prop-"));
after(() => rmSync(dir, { recursive: true, force: true }));

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

/** A raw stream client: what it received, and a promise for its close. */
interface Raw {
  s: NetSocket;
  got: () => Buffer;
  closed: Promise<void>;
}

function rawConnect(target: { port: number } | { path: string }): Promise<Raw> {
  const p = new Promise<Raw>((resolve, reject) => {
    const s = "port" in target ? connect(target.port, "127.0.0.1") : connect(target.path);
    const chunks: Buffer[] = [];
    const closed = new Promise<void>((r) => s.once("close", () => r()));
    s.on("data", (b: Buffer) => chunks.push(b));
    s.once("connect", () => {
      s.setNoDelay(true);
      s.removeListener("error", reject);
      // A reset from the side we provoke is an expected outcome, not a failure.
      s.on("error", () => undefined);
      resolve({ s, got: () => Buffer.concat(chunks), closed });
    });
    s.once("error", reject);
  });
  return within(p, "the raw connection to open");
}

/** Write `chunks` one by one with a short pause between them, so they tend to arrive as separate reads; stop if the socket closed. */
async function writeSlowly(s: NetSocket, chunks: readonly Uint8Array[], gaps: readonly number[]): Promise<void> {
  for (let i = 0; i < chunks.length; i++) {
    if (s.destroyed || !s.writable) return;
    if (chunks[i]!.length > 0) s.write(chunks[i]!);
    await new Promise((r) => setTimeout(r, gaps[i % Math.max(1, gaps.length)] ?? 0));
  }
}

function total(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

let ipcFiles = 0;

/**
 * Run `body` against a fresh Pull listening on tcp or ipc with a 512-byte
 * limit (fresh per run, so a failing run leaves nothing behind for the runs
 * that shrink it), and close it after.
 */
async function withPull(kind: "tcp" | "ipc", body: (pull: Pull, target: { port: number } | { path: string }) => Promise<void>): Promise<void> {
  const pull = new Pull({ logger: silentLogger, recvMaxSize: 512, handshakeTimeout: 5000 });
  try {
    let target: { port: number } | { path: string };
    if (kind === "tcp") {
      const l = await pull.listen("tcp://127.0.0.1:0");
      target = { port: Number(new URL(l.url).port) };
    } else {
      const path = join(dir, `p${ipcFiles++}.ipc`);
      await pull.listen(`ipc://${path}`);
      target = { path };
    }
    await body(pull, target);
  } finally {
    await pull.close();
  }
}

/** A valid push peer: handshake and one frame; the pull must take it. Then it leaves. */
async function goodPeerGetsThrough(pull: Pull, target: { port: number } | { path: string }, ipc: boolean): Promise<void> {
  const raw = await rawConnect(target);
  try {
    raw.s.write(concat([encodeHandshake(PUSH), frame(Buffer.from("a good peer"), ipc)]));
    assert.equal((await pull.recv({ timeout: 5000 })).text(), "a good peer");
  } finally {
    raw.s.destroy();
    await within(raw.closed, "the good peer's connection to close");
  }
}

for (const kind of ["tcp", "ipc"] as const) {
  test(`${kind} listener: every handshake (mutated, split, cut short) is accepted or refused with its code, counted; a good peer still gets through`, async () => {
    const ipc = kind === "ipc";
    const ours = Buffer.from(encodeHandshake(protocols.pull!.id)).toString("hex");
    const arb = fc.record({
      hs: handshakeFor(PUSH).filter((b) => b.length === 8),
      cuts: fc.array(fc.nat(), { maxLength: 7 }),
      gaps: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
      // send only this many bytes, then FIN (8: all of them)
      upTo: fc.oneof({ arbitrary: fc.constant(8), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 1 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, ({ hs, cuts: at, gaps, upTo }) =>
        withPull(kind, async (pull, target) => {
          const verdict = upTo < 8 ? "ECONNSHUT" : handshakeVerdict(hs, protocols.pull!);
          const raw = await rawConnect(target);
          try {
            await writeSlowly(raw.s, split(hs.subarray(0, upTo), at), gaps);
            if (verdict === "ok") {
              await until(() => pull.stats.pipesOpened === 1, "the pipe is attached", 400, 10);
              raw.s.write(frame(Buffer.from("after a split handshake"), ipc));
              assert.equal((await pull.recv({ timeout: 5000 })).text(), "after a split handshake");
              assert.equal(pull.stats.msgsIn, 1);
              assert.deepEqual(pull.stats.refused, {});
            } else {
              if (upTo < 8) raw.s.end();
              // The listener hangs up by itself.
              await within(raw.closed, `the listener to hang up (${verdict})`);
              await until(() => total(pull.stats.refused) === 1, "the refusal is counted", 400, 10);
              assert.deepEqual(pull.stats.refused, { [verdict]: 1 });
              assert.equal(pull.stats.pipesOpened, 0, "a refused header never becomes a pipe");
            }
            // Our own header went out first, whatever the peer sent.
            assert.equal(raw.got().subarray(0, 8).toString("hex"), ours);
          } finally {
            raw.s.destroy();
            await within(raw.closed, "the raw connection to close");
          }
          await until(() => pull.pipes.length === 0, "the pipe is gone", 400, 10);
          await goodPeerGetsThrough(pull, target, ipc);
        }),
      ),
      params(60),
    );
    noneEscaped();
  });
}

for (const kind of ["tcp", "ipc"] as const) {
  test(`${kind} listener: a stream split into chunks written with gaps yields its messages; a bad frame closes the pipe with its counted code`, async () => {
    const ipc = kind === "ipc";
    const arb = fc.record({
      msgs: fc.array(fc.uint8Array({ maxLength: 512 }), { maxLength: 8 }),
      bad: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 2 },
        // a declared length over the limit (512), up to 2^64-1, with or without some bytes after it
        {
          arbitrary: fc
            .tuple(fc.bigInt({ min: 513n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 16 }))
            .map(([n, rest]) => ({ code: "EMSGSIZE", bytes: concat([ipc ? Uint8Array.of(1) : new Uint8Array(0), u64(n), rest]) })),
          weight: 2,
        },
        // ipc only: a type byte other than 01
        ...(ipc
          ? [
              {
                arbitrary: fc
                  .tuple(fc.integer({ min: 0, max: 255 }).filter((t) => t !== 1), fc.uint8Array({ minLength: 8, maxLength: 16 }))
                  .map(([t, rest]) => ({ code: "EPROTO", bytes: concat([Uint8Array.of(t), rest]) })),
                weight: 1,
              },
            ]
          : []),
      ),
      cuts: fc.array(fc.nat(), { maxLength: 10 }),
      gaps: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, ({ msgs, bad, cuts: at, gaps }) =>
        withPull(kind, async (pull, target) => {
          const raw = await rawConnect(target);
          try {
            const stream = concat([encodeHandshake(PUSH), ...msgs.map((m) => frame(m, ipc)), bad?.bytes ?? new Uint8Array(0)]);
            await writeSlowly(raw.s, split(stream, at), gaps);
            const got: string[] = [];
            for (let i = 0; i < msgs.length; i++) got.push(hex((await pull.recv({ timeout: 5000 })).body));
            assert.deepEqual(got, msgs.map(hex));
            if (bad === undefined) raw.s.end();
            // On a bad frame the listener hangs up by itself, without waiting for the bytes it declared.
            await within(raw.closed, `the listener to hang up (${bad?.code ?? "after our FIN"})`);
            await until(() => pull.stats.pipesClosed === 1, "the pipe is closed", 400, 10);
            assert.equal(pull.stats.msgsIn, msgs.length, "every frame before the bad one counted in, none after");
            assert.deepEqual(pull.stats.pipeErrors, { [bad?.code ?? "ECONNSHUT"]: 1 });
            await assert.rejects(pull.recv({ timeout: 0 }), (e: unknown) => e instanceof SPError && e.code === "ETIMEDOUT");
          } finally {
            raw.s.destroy();
            await within(raw.closed, "the raw connection to close");
          }
          await goodPeerGetsThrough(pull, target, ipc);
        }),
      ),
      params(50),
    );
    noneEscaped();
  });
}
