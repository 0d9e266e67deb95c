/**
 * The transport conformance suite: one set of behaviours every spwire
 * transport keeps, registered once per transport by conformance.test.ts
 * (the idea of mangos' internal/test/transport.go and MQTT.js's abstract
 * client suite). A transport passes when, on an ephemeral address:
 *
 * - handshake: matching protocols (REQ to REP) make one pipe on each side;
 *   mismatched ones (PUB to REP) are refused: the listener reports EPEER,
 *   the dial fails with the transport's code for it;
 * - framing: messages of 0, 1, 1000 and 200 000 bytes, and messages written
 *   as several parts, arrive byte for byte, in order, both ways;
 * - recvMaxSize: a message at the limit passes, limit + 1 closes the pipe
 *   with EMSGSIZE (on the listening and on the dialing side);
 * - close: a local close reports no error here and the peer sees its pipe
 *   close;
 * - reconnect: a socket's dialer redials after the listening side closed
 *   the pipe, and messages flow on the new pipe.
 *
 * Test-only module; it registers node:test tests when called.
 */
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import {
  Pub,
  Req,
  SPError,
  Sub,
  protocols,
  silentLogger,
  type ProtocolInfo,
  type Transport,
  type TransportOptions,
  type TransportPipe,
} from "@spwire/node";
import { until } from "../../../../test-support/peers.js";

/** How to run the suite against one transport. */
export interface ConformanceCase {
  /** Shown in test names: "tcp", "wss" ... */
  name: string;
  /** A transport object; both ends of a test use the same one (inproc namespaces are per object). */
  make(): Transport;
  /** A fresh listen address on which the transport picks what it can (port 0, a new file, a new name). */
  listenUrl(): string;
  /** Extra listen options (TLS cert and key). */
  listenOptions?: Record<string, unknown>;
  /** Extra dial options (TLS ca). */
  dialOptions?: Record<string, unknown>;
  /** Codes a dial may fail with when the listener refuses its protocol: EPEER where the handshake says so, ws's HTTP 400 is ECONNREFUSED. */
  mismatchDialCodes: readonly string[];
}

const req = protocols.req!;
const rep = protocols.rep!;
const pub = protocols.pub!;

/** A started transport pipe and what it reported. */
interface Rec {
  pipe: TransportPipe;
  msgs: Uint8Array[];
  closed: { err: SPError | undefined } | undefined;
  closedCalls: number;
}

function record(t: TestContext, pipe: TransportPipe): Rec {
  const r: Rec = { pipe, msgs: [], closed: undefined, closedCalls: 0 };
  pipe.start({
    // Copied: a transport may hand out a view of its own buffer.
    message: (m) => r.msgs.push(Uint8Array.from(m)),
    closed: (err) => {
      r.closedCalls++;
      r.closed ??= { err };
    },
    drain: () => undefined,
  });
  t.after(() => pipe.close());
  return r;
}

/** Bytes 0..n-1 of a pattern that shows a shift or a lost chunk. */
function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) % 251;
  return b;
}

function sameBytes(got: Uint8Array | undefined, want: Uint8Array, what: string): void {
  assert.ok(got !== undefined, `${what}: nothing arrived`);
  assert.equal(got.length, want.length, `${what}: length`);
  assert.ok(Buffer.from(got).equals(Buffer.from(want)), `${what}: bytes differ`);
}

/** Register the conformance tests for one transport, inside a describe block named after it. */
export function conformance(c: ConformanceCase): void {
  const options = (protocol: ProtocolInfo, recvMaxSize: number, extra: Record<string, unknown> = {}): TransportOptions => ({
    protocol,
    recvMaxSize,
    handshakeTimeout: 5000,
    ...extra,
  });

  /** Listen with `protocol` on a fresh address; accepted pipes are started and recorded. */
  async function listen(t: TestContext, tr: Transport, protocol: ProtocolInfo, recvMaxSize = 0) {
    const accepted: Rec[] = [];
    const refused: SPError[] = [];
    const l = await tr.listen!(
      new URL(c.listenUrl()),
      options(protocol, recvMaxSize, c.listenOptions),
      (p) => accepted.push(record(t, p)),
      (err) => refused.push(err),
    );
    t.after(() => l.close());
    return { url: l.url, accepted, refused };
  }

  /** A REQ-to-REP pipe pair: [dialer side, listener side]. */
  async function pair(t: TestContext, limits: { listener?: number; dialer?: number } = {}): Promise<[Rec, Rec]> {
    const tr = c.make();
    const L = await listen(t, tr, rep, limits.listener ?? 0);
    const d = record(t, await tr.dial(new URL(L.url), options(req, limits.dialer ?? 0, c.dialOptions)));
    await until(() => L.accepted.length === 1, "accepted pipe");
    return [d, L.accepted[0]!];
  }

  describe(`conformance: ${c.name}`, () => {
    // ------------------------------------------------------------ handshake

    test("handshake: a REQ dialer and a REP listener each get one pipe, and nothing is refused", async (t) => {
      const tr = c.make();
      const L = await listen(t, tr, rep);
      const d = await tr.dial(new URL(L.url), options(req, 0, c.dialOptions));
      record(t, d);
      await until(() => L.accepted.length === 1, "accepted pipe");
      assert.equal(L.refused.length, 0);
      assert.equal(typeof d.localAddress, "string");
      assert.equal(typeof d.remoteAddress, "string");
    });

    test("handshake: a PUB dialing a REP listener is refused: EPEER at the listener, no pipe on either side", async (t) => {
      const tr = c.make();
      const L = await listen(t, tr, rep);
      await assert.rejects(tr.dial(new URL(L.url), options(pub, 0, c.dialOptions)), (err: unknown) => {
        assert.ok(err instanceof SPError, `not an SPError: ${String(err)}`);
        assert.ok(c.mismatchDialCodes.includes(err.code), `dial failed with ${err.code}: ${err.message}`);
        return true;
      });
      await until(() => L.refused.length === 1, "the listener's refusal");
      assert.equal(L.refused[0]!.code, "EPEER");
      assert.equal(L.accepted.length, 0);
    });

    test("handshake: socket level: a REQ dialing a PUB listener fails (failFast) and the PUB counts refused.EPEER", async (t) => {
      const tr = c.make();
      const p = new Pub({ transports: [tr], logger: silentLogger });
      const r = new Req({ transports: [tr], logger: silentLogger });
      t.after(() => Promise.all([p.close(), r.close()]));
      const l = await p.listen(c.listenUrl(), c.listenOptions);
      await assert.rejects(Promise.resolve(r.dial(l.url, { ...c.dialOptions, failFast: true })), (err: unknown) => {
        assert.ok(err instanceof SPError && c.mismatchDialCodes.includes(err.code), String(err));
        return true;
      });
      await until(() => p.stats.refused.EPEER === 1, "refused.EPEER on the PUB");
      assert.equal(p.pipes.length, 0);
      assert.equal(r.pipes.length, 0);
    });

    // ------------------------------------------------------------ framing

    for (const size of [0, 1, 1000, 200_000]) {
      test(`framing: a ${size}-byte message arrives byte for byte, both ways`, async (t) => {
        const [d, l] = await pair(t);
        const there = pattern(size, 1);
        const back = pattern(size, 2);
        d.pipe.write([there]);
        await until(() => l.msgs.length === 1, "message at the listener");
        sameBytes(l.msgs[0], there, "dialer to listener");
        l.pipe.write([back]);
        await until(() => d.msgs.length === 1, "message at the dialer");
        sameBytes(d.msgs[0], back, "listener to dialer");
      });
    }

    test("framing: header and body parts (an empty one among them) arrive as one message, their concatenation", async (t) => {
      const [d, l] = await pair(t);
      const header = Uint8Array.of(0x80, 0x00, 0x00, 0x2a);
      const body = pattern(300, 3);
      d.pipe.write([header, new Uint8Array(0), body]);
      await until(() => l.msgs.length === 1, "message at the listener");
      sameBytes(l.msgs[0], Uint8Array.from([...header, ...body]), "parts");
      l.pipe.write([Uint8Array.of(0, 0, 0, 7), Uint8Array.of(0x80, 0, 0, 0x2a), Uint8Array.of(0x68, 0x69)]);
      await until(() => d.msgs.length === 1, "message at the dialer");
      sameBytes(d.msgs[0], Uint8Array.of(0, 0, 0, 7, 0x80, 0, 0, 0x2a, 0x68, 0x69), "backtrace parts");
    });

    test("framing: many messages written at once arrive separately and in order", async (t) => {
      const [d, l] = await pair(t);
      for (let i = 0; i < 50; i++) d.pipe.write([Uint8Array.of(i), pattern(i, i)]);
      await until(() => l.msgs.length === 50, "fifty messages");
      l.msgs.forEach((m, i) => sameBytes(m, Uint8Array.from([i, ...pattern(i, i)]), `message ${i}`));
    });

    // ------------------------------------------------------------ recvMaxSize

    test("recvMaxSize: at the listener, a message of exactly the limit passes and limit + 1 closes the pipe with EMSGSIZE", async (t) => {
      const [d, l] = await pair(t, { listener: 1000 });
      d.pipe.write([pattern(1000)]);
      await until(() => l.msgs.length === 1, "message at the limit");
      sameBytes(l.msgs[0], pattern(1000), "message at the limit");
      d.pipe.write([pattern(1001)]);
      await until(() => l.closed !== undefined, "the listener's pipe closed");
      assert.equal(l.closed!.err?.code, "EMSGSIZE");
      assert.equal(l.msgs.length, 1, "the oversized message was not delivered");
      await until(() => d.closed !== undefined, "the dialer sees the close");
      assert.ok(d.closed!.err !== undefined, "the peer's close is an error on the dialer's side");
    });

    test("recvMaxSize: at the dialer, limit + 1 closes the pipe with EMSGSIZE", async (t) => {
      const [d, l] = await pair(t, { dialer: 1000 });
      l.pipe.write([pattern(1000)]);
      await until(() => d.msgs.length === 1, "message at the limit");
      l.pipe.write([pattern(1001)]);
      await until(() => d.closed !== undefined, "the dialer's pipe closed");
      assert.equal(d.closed!.err?.code, "EMSGSIZE");
      assert.equal(d.msgs.length, 1);
      await until(() => l.closed !== undefined, "the listener sees the close");
    });

    // ------------------------------------------------------------ close

    test("close: a local close on the dialer reports no error there, once; the listener's pipe closes with ECONNSHUT or ECONNRESET", async (t) => {
      const [d, l] = await pair(t);
      d.pipe.close();
      d.pipe.close();
      await until(() => d.closed !== undefined, "the dialer's closed()");
      assert.equal(d.closed!.err, undefined);
      await until(() => l.closed !== undefined, "the listener sees the close");
      assert.ok(["ECONNSHUT", "ECONNRESET"].includes(l.closed!.err?.code ?? ""), `listener saw ${String(l.closed!.err)}`);
      assert.equal(d.closedCalls, 1);
      assert.equal(l.closedCalls, 1);
    });

    test("close: a local close on the listener's pipe reports no error there; the dialer sees its pipe close", async (t) => {
      const [d, l] = await pair(t);
      l.pipe.close();
      await until(() => l.closed !== undefined, "the listener's closed()");
      assert.equal(l.closed!.err, undefined);
      await until(() => d.closed !== undefined, "the dialer sees the close");
      assert.ok(["ECONNSHUT", "ECONNRESET"].includes(d.closed!.err?.code ?? ""), `dialer saw ${String(d.closed!.err)}`);
    });

    test("close: write() after close is accepted and ignored", async (t) => {
      const [d] = await pair(t);
      d.pipe.close();
      assert.doesNotThrow(() => d.pipe.write([Uint8Array.of(1)]));
      await until(() => d.closed !== undefined, "closed()");
      assert.equal(d.msgs.length, 0);
    });

    // ------------------------------------------------------------ reconnect

    test("reconnect: a SUB's dialer redials after the PUB closes the pipe, and messages flow on the new pipe", async (t) => {
      const tr = c.make();
      const p = new Pub({ transports: [tr], logger: silentLogger });
      const s = new Sub({ transports: [tr], logger: silentLogger, reconnectMinTime: 10, reconnectMaxTime: 50 });
      t.after(() => Promise.all([p.close(), s.close()]));
      s.subscribe("");
      const l = await p.listen(c.listenUrl(), c.listenOptions);
      await s.dial(l.url, c.dialOptions);
      await until(() => p.pipes.length === 1, "the first pipe at the PUB");

      p.pipes[0]!.close();
      await until(() => s.stats.pipesOpened === 2 && s.pipes.length === 1 && p.pipes.length === 1, "the redialed pipe");
      assert.equal(p.stats.pipesOpened, 2);

      // PUB sends only to pipes that exist; repeat until the SUB has one (bounded, not a timing check).
      const got = s.recv({ timeout: 10_000 });
      for (let i = 0; i < 200 && s.stats.msgsIn === 0; i++) {
        await p.send("after reconnect");
        await new Promise((r) => setTimeout(r, 20));
      }
      const m = await got;
      assert.equal(Buffer.from(m.body).toString(), "after reconnect");
    });
  });
}
