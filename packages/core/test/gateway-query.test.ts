import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Pub,
  Sub,
  SPError,
  gatewaySubUrl,
  parseSubQuery,
  silentLogger,
  type Transport,
  type TransportOptions,
  type TransportPipe,
  type TransportPipeHandler,
} from "../src/index.js";
import { until, tick, hex } from "./support.js";
import { prng } from "../../../test-support/prng.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const isEINVAL = (e: unknown): boolean => e instanceof SPError && e.code === "EINVAL";

// --- the query, as strings ---

test("gatewaySubUrl: no subscription is a bare nosub", () => {
  assert.equal(gatewaySubUrl("ws://gw.example/feed", []), "ws://gw.example/feed?nosub");
});

test("gatewaySubUrl: one sub parameter per prefix, in subscription order", () => {
  assert.equal(gatewaySubUrl("ws://gw.example/feed", [utf8("cpu."), utf8("mem.")]), "ws://gw.example/feed?sub=cpu.&sub=mem.");
});

test("gatewaySubUrl: bytes outside the unreserved set are %XX in upper-case hex", () => {
  const url = gatewaySubUrl("ws://h/p", [new Uint8Array([0x00, 0xff, 0x20, 0x2b])]);
  assert.equal(url, "ws://h/p?sub=%00%FF%20%2B");
  assert.equal(gatewaySubUrl("ws://h/p", [utf8("Az09-._~/=&?%é")]), "ws://h/p?sub=Az09-._~%2F%3D%26%3F%25%C3%A9");
});

test("gatewaySubUrl: the empty prefix is sub= (everything)", () => {
  assert.equal(gatewaySubUrl("ws://h/p", [new Uint8Array(0)]), "ws://h/p?sub=");
  assert.equal(gatewaySubUrl("ws://h/p", [utf8("a"), new Uint8Array(0)]), "ws://h/p?sub=a&sub=");
});

test("gatewaySubUrl: other parameters stay first and as written; old sub/nosub are replaced; the fragment stays", () => {
  assert.equal(gatewaySubUrl("ws://h/p?token=a%20b&sub=old", [utf8("x")]), "ws://h/p?token=a%20b&sub=x");
  assert.equal(
    gatewaySubUrl("wss://h:8443/a/b?sub=1&token=t&nosub&k=v&sub=2#frag", []),
    "wss://h:8443/a/b?token=t&k=v&nosub#frag",
  );
  // Names are matched whole: "subx" and "xsub" are someone else's parameters.
  assert.equal(gatewaySubUrl("ws://h/?subx=1&xsub=2", [utf8("y")]), "ws://h/?subx=1&xsub=2&sub=y");
  assert.equal(gatewaySubUrl("ws://h/p?", [utf8("y")]), "ws://h/p?sub=y");
});

test("parseSubQuery: undefined when nothing is declared, [] for nosub", () => {
  assert.equal(parseSubQuery(""), undefined);
  assert.equal(parseSubQuery("?"), undefined);
  assert.equal(parseSubQuery("?token=abc&subx=1"), undefined);
  assert.deepEqual(parseSubQuery("?nosub"), []);
  assert.deepEqual(parseSubQuery("token=abc&nosub"), []);
});

test("parseSubQuery: decodes %XX (either case) to bytes and keeps '+' and other characters as their UTF-8 bytes", () => {
  const got = parseSubQuery("?token=t&sub=%00%ff%20%2B&sub=a+b&sub=&sub=é")!;
  assert.deepEqual(got.map(hex), ["00ff202b", "612b62", "", "c3a9"]);
});

test("parseSubQuery: a malformed escape throws EINVAL", () => {
  for (const q of ["?sub=%G1", "?sub=%", "?sub=abc%", "?sub=%4", "?sub=%4G", "?token=x&sub=ok&sub=%%41"]) {
    assert.throws(() => parseSubQuery(q), isEINVAL, q);
  }
  // Only sub values are decoded: a stray % elsewhere is the application's business.
  assert.equal(parseSubQuery("?token=%zz"), undefined);
});

test("parseSubQuery(gatewaySubUrl(x)) gives x back for random byte strings", () => {
  const rnd = prng(0x5b1e);
  for (let round = 0; round < 300; round++) {
    const subs: Uint8Array[] = [];
    const count = Math.floor(rnd() * 4);
    for (let i = 0; i < count; i++) {
      const b = new Uint8Array(Math.floor(rnd() * 12));
      // Bias towards the interesting bytes: '%', '&', '=', '+', '#', '?' and the unreserved ones.
      for (let j = 0; j < b.length; j++) b[j] = rnd() < 0.3 ? "%&=+#?a~"[Math.floor(rnd() * 8)]!.charCodeAt(0) : Math.floor(rnd() * 256);
      subs.push(b);
    }
    const url = gatewaySubUrl("ws://h/p?token=t#f", subs);
    const u = new URL(url);
    assert.equal(u.href, url, "the URL parser leaves the query as built");
    assert.deepEqual(parseSubQuery(u.search)!.map(hex), subs.map(hex), url);
  }
});

// --- dialing a gateway ---

/** A transport pipe that moves nothing; closing it reports `closed` a microtask later (or at once with `syncClose`). */
class FakePipe implements TransportPipe {
  readonly localAddress = "fake://local";
  readonly remoteAddress: string;
  closed = false;
  #h: TransportPipeHandler | undefined;
  #syncClose: boolean;

  constructor(url: string, syncClose: boolean) {
    this.remoteAddress = url;
    this.#syncClose = syncClose;
  }

  start(h: TransportPipeHandler): void {
    this.#h = h;
  }

  write(): boolean {
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const h = this.#h;
    if (h === undefined) return;
    if (this.#syncClose) h.closed();
    else queueMicrotask(() => h.closed());
  }
}

interface Attempt {
  url: string;
  opts: TransportOptions;
  settle(ok: boolean): void;
  pipe: FakePipe | undefined;
}

/**
 * A transport that records the URL of every dial. By default each dial
 * succeeds at once; `hold` leaves attempts pending until settled by hand,
 * `fail` makes them reject, `syncClose` makes its pipes report a close
 * before close() returns.
 */
function recorder(): {
  transport: Transport;
  attempts: Attempt[];
  urls: () => string[];
  mode: { hold: boolean; fail: boolean; syncClose: boolean };
} {
  const attempts: Attempt[] = [];
  const mode = { hold: false, fail: false, syncClose: false };
  const transport: Transport = {
    schemes: ["ws", "wss"],
    dial(url, opts) {
      return new Promise<TransportPipe>((resolve, reject) => {
        const a: Attempt = {
          url: url.href,
          opts,
          pipe: undefined,
          settle(ok) {
            if (!ok) return reject(new SPError("ECONNREFUSED", "fake refusal"));
            a.pipe = new FakePipe(url.href, mode.syncClose);
            resolve(a.pipe);
          },
        };
        attempts.push(a);
        if (!mode.hold) a.settle(!mode.fail);
      });
    },
  };
  return { transport, attempts, urls: () => attempts.map((a) => a.url), mode };
}

/** A Sub on the recording transport whose backoff is long: any redial seen in a test came without waiting for it. */
function gatewaySub(): { sub: Sub; r: ReturnType<typeof recorder> } {
  const r = recorder();
  const sub = new Sub({ transports: [r.transport], logger: silentLogger, reconnectMinTime: 60_000, reconnectMaxTime: 60_000 });
  return { sub, r };
}

/** Let microtasks and a few timer turns run, so a redial that should not happen would have. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

test("a gateway dialer's first URL carries the subscriptions made before dial", async () => {
  const { sub, r } = gatewaySub();
  sub.subscribe("cpu.");
  sub.subscribe(new Uint8Array([0xff]));
  const d = sub.dial("ws://gw.example/feed?token=abc", { gateway: true });
  await d;
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?token=abc&sub=cpu.&sub=%FF"]);
  assert.equal(d.url, "ws://gw.example/feed?token=abc");
  assert.equal(d.currentUrl, "ws://gw.example/feed?token=abc&sub=cpu.&sub=%FF");
  await sub.close();
});

test("a gateway dialer with no subscription asks for nothing", async () => {
  const { sub, r } = gatewaySub();
  await sub.dial("ws://gw.example/feed", { gateway: true });
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?nosub"]);
  await sub.close();
});

test("the gateway option is not handed to the transport; other options are", async () => {
  const { sub, r } = gatewaySub();
  await sub.dial("ws://gw.example/feed", { gateway: true, headers: { a: "b" } });
  assert.equal("gateway" in r.attempts[0]!.opts, false);
  assert.deepEqual(r.attempts[0]!.opts["headers"], { a: "b" });
  await sub.close();
});

test("subscribe() while connected closes the pipe and redials at once, once for a burst", async () => {
  const { sub, r } = gatewaySub();
  const d = sub.dial("ws://gw.example/feed", { gateway: true });
  await d;
  sub.subscribe("a.");
  sub.subscribe("b.");
  sub.subscribe("c.");
  await until(() => r.attempts.length === 2 && sub.pipes.length === 1, "the redial connects");
  await settle();
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?nosub", "ws://gw.example/feed?sub=a.&sub=b.&sub=c."]);
  assert.equal(r.attempts[0]!.pipe!.closed, true);
  assert.equal(r.attempts[1]!.pipe!.closed, false);
  assert.equal(d.state, "connected");
  assert.equal(d.currentUrl, "ws://gw.example/feed?sub=a.&sub=b.&sub=c.");
  assert.equal(sub.stats.pipesClosed, 1);
  assert.equal(sub.stats.reconnects, 0, "a redial is not a failed attempt");
  await sub.close();
});

test("a burst redials once even when the transport reports the close before close() returns", async () => {
  const { sub, r } = gatewaySub();
  r.mode.syncClose = true;
  await sub.dial("ws://gw.example/feed", { gateway: true });
  sub.subscribe("a.");
  sub.subscribe("b.");
  sub.subscribe("c.");
  await until(() => r.attempts.length === 2 && sub.pipes.length === 1, "the redial connects");
  await settle();
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?nosub", "ws://gw.example/feed?sub=a.&sub=b.&sub=c."]);
  await sub.close();
});

test("unsubscribing the last prefix redials with nosub", async () => {
  const { sub, r } = gatewaySub();
  sub.subscribe("x");
  await sub.dial("ws://gw.example/feed", { gateway: true });
  sub.unsubscribe("x");
  await until(() => r.attempts.length === 2, "the redial");
  await settle();
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?sub=x", "ws://gw.example/feed?nosub"]);
  await sub.close();
});

test("subscribing again to a prefix already subscribed causes no redial", async () => {
  const { sub, r } = gatewaySub();
  sub.subscribe("x");
  await sub.dial("ws://gw.example/feed", { gateway: true });
  sub.subscribe("x");
  sub.subscribe(utf8("x"));
  await settle();
  assert.equal(r.attempts.length, 1);
  assert.equal(r.attempts[0]!.pipe!.closed, false);
  await sub.close();
});

test("a change undone in the same run causes no redial", async () => {
  const { sub, r } = gatewaySub();
  await sub.dial("ws://gw.example/feed", { gateway: true });
  sub.subscribe("x");
  sub.unsubscribe("x");
  await settle();
  assert.equal(r.attempts.length, 1);
  await sub.close();
});

test("a dialer without gateway: true gets no query and is not redialed", async () => {
  const { sub, r } = gatewaySub();
  sub.subscribe("x");
  await sub.dial("ws://plain.example/feed?token=t");
  await sub.dial("ws://gw.example/feed", { gateway: true });
  sub.subscribe("y");
  await until(() => r.attempts.length === 3, "the gateway dialer's redial");
  await settle();
  assert.deepEqual(r.urls(), [
    "ws://plain.example/feed?token=t",
    "ws://gw.example/feed?sub=x",
    "ws://gw.example/feed?sub=x&sub=y",
  ]);
  assert.equal(r.attempts[0]!.pipe!.closed, false);
  await sub.close();
});

test("a raw Sub, which filters nothing, asks the gateway for everything", async () => {
  const r = recorder();
  const sub = new Sub({ raw: true, transports: [r.transport], logger: silentLogger });
  await sub.dial("ws://gw.example/feed", { gateway: true });
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?sub="]);
  await sub.close();
});

test("other sockets ignore the gateway option", async () => {
  const r = recorder();
  const pub = new Pub({ transports: [r.transport], logger: silentLogger });
  const d = pub.dial("ws://gw.example/feed?token=t", { gateway: true });
  await d;
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?token=t"]);
  assert.equal(d.currentUrl, d.url);
  await pub.close();
});

test("a change during a dial attempt abandons it and dials the new URL", async () => {
  const { sub, r } = gatewaySub();
  r.mode.hold = true;
  const d = sub.dial("ws://gw.example/feed", { gateway: true });
  sub.subscribe("x");
  await until(() => r.attempts.length === 2, "the second attempt");
  assert.equal(r.attempts[0]!.opts.signal!.aborted, true);
  assert.equal(r.attempts[1]!.opts.signal!.aborted, false);
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?nosub", "ws://gw.example/feed?sub=x"]);
  // The abandoned attempt still connects: that pipe is closed, not used.
  r.attempts[0]!.settle(true);
  await settle();
  assert.equal(r.attempts[0]!.pipe!.closed, true);
  assert.equal(sub.pipes.length, 0);
  r.attempts[1]!.settle(true);
  await d;
  assert.equal(sub.pipes.length, 1);
  assert.equal(r.attempts[1]!.pipe!.closed, false);
  await settle();
  assert.equal(r.attempts.length, 2);
  await sub.close();
});

test("a change while waiting to retry dials at once instead of after the backoff", async () => {
  const { sub, r } = gatewaySub();
  r.mode.fail = true;
  const d = sub.dial("ws://gw.example/feed", { gateway: true });
  await until(() => d.state === "waiting", "the first attempt fails");
  r.mode.fail = false;
  sub.subscribe("x");
  await d;
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?nosub", "ws://gw.example/feed?sub=x"]);
  await sub.close();
});

test("a closed dialer or a closed socket does not redial", async () => {
  const { sub, r } = gatewaySub();
  const d = sub.dial("ws://gw.example/feed", { gateway: true });
  await d;
  d.close();
  sub.subscribe("x");
  await settle();
  assert.equal(r.attempts.length, 1);
  assert.equal(d.state, "closed");

  await sub.dial("ws://gw.example/other", { gateway: true });
  await sub.close();
  sub.subscribe("y");
  await settle();
  assert.deepEqual(r.urls(), ["ws://gw.example/feed?nosub", "ws://gw.example/other?sub=x"]);
});

test("a change just before close does not redial after it", async () => {
  const { sub, r } = gatewaySub();
  await sub.dial("ws://gw.example/feed", { gateway: true });
  sub.subscribe("x");
  await sub.close();
  await settle();
  assert.equal(r.attempts.length, 1);
});
