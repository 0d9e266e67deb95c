/**
 * The browser build's socket (@spwire/core/browser, what dist/spwire.js and
 * dist/spwire.iife.js hold): what a page sees when its WebSocket opens, fails,
 * is refused, closes, carries bad bytes or fills up, and how it redials.
 * Interop with real peers is in the interop matrix (its "browser build"
 * columns, against nngcat and nanocat) and in e2e/iife-page.test.ts.
 *
 * The WebSocket here is a script of one (the test plays the server), with
 * the page API the browser socket uses: on* handlers, `protocol`,
 * `bufferedAmount`. These tests run in Node and in Chromium
 * (e2e/core-in-browser.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Pull,
  Push,
  Req,
  Sub,
  type SPError,
  type BrowserSocketConfig,
  type PageWebSocket,
  type WsCloseInfo,
} from "../src/browser/index.js";
import { fakePage, hex, tick, until, word } from "./support.js";

/** A WebSocket that does only what the test tells it to. `made` lists every one, oldest first. */
class ScriptedWebSocket implements PageWebSocket {
  static made: ScriptedWebSocket[] = [];
  binaryType = "blob";
  protocol = "";
  bufferedAmount = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  /** What the socket sent, one array per message. */
  sent: Uint8Array[] = [];
  /** While true, sent bytes stay in `bufferedAmount` (a slow network). */
  holding = false;
  /** The close() calls, [code, reason]. */
  closeCalls: [number | undefined, string | undefined][] = [];

  constructor(
    readonly url: string,
    readonly offered: string | string[],
  ) {
    ScriptedWebSocket.made.push(this);
  }

  /** The server agrees (to `protocol`, by default the one offered) and the connection opens. */
  open(protocol = String(this.offered)): void {
    this.protocol = protocol;
    this.onopen?.({});
  }

  /** The server sends one message (an ArrayBuffer, as binaryType "arraybuffer" delivers). */
  message(data: Uint8Array | string): void {
    this.onmessage?.({ data: typeof data === "string" ? data : data.slice().buffer });
  }

  /** The server (or the network) ends the connection. */
  closedBy(code: number, reason = ""): void {
    this.onclose?.({ code, reason });
  }

  send(data: Uint8Array): void {
    this.sent.push(data.slice());
    if (this.holding) this.bufferedAmount += data.length;
  }

  close(code?: number, reason?: string): void {
    // Like a browser talking to nng < 1.7: the Close frame goes out and no answer comes.
    this.closeCalls.push([code, reason]);
  }
}

const WebSocket = ScriptedWebSocket as unknown as BrowserSocketConfig["WebSocket"];
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The newest scripted WebSocket, once `n` have been made. */
async function nth(n: number): Promise<ScriptedWebSocket> {
  await until(() => ScriptedWebSocket.made.length >= n, `WebSocket #${n}`);
  return ScriptedWebSocket.made[n - 1]!;
}

/** A Sub with a long backoff (nothing redials by itself during a test), and what its events said. */
function sub(config: BrowserSocketConfig = {}) {
  ScriptedWebSocket.made = [];
  const s = new Sub({ WebSocket, reconnectMinTime: 60_000, reconnectMaxTime: 60_000, ...config });
  const removed: (SPError | undefined)[] = [];
  const dialErrors: { error: SPError; attempt: number; retryIn: number }[] = [];
  let added = 0;
  s.on("pipeadd", () => added++);
  s.on("piperemove", (e) => removed.push(e.error));
  s.on("dialerror", (e) => dialErrors.push(e));
  return { s, removed, dialErrors, added: () => added };
}

test("a dial offers exactly one subprotocol token, the peer's, reads binary as ArrayBuffer, and resolves on open", async () => {
  const { s } = sub();
  try {
    s.subscribe("a.");
    const dialed = s.dial("ws://127.0.0.1:9/feed");
    const ws = await nth(1);
    assert.equal(ws.url, "ws://127.0.0.1:9/feed");
    assert.equal(ws.offered, "pub.sp.nanomsg.org", "a single string: nng refuses a list");
    assert.equal(ws.binaryType, "arraybuffer");
    ws.open();
    await dialed;
    assert.equal(s.pipes.length, 1);
    ws.message(bytes("b.no"));
    ws.message(bytes("a.yes"));
    const m = await s.recv({ timeout: 5000 });
    assert.equal(m.text(), "a.yes");
    assert.equal(m.pipe, s.pipes[0]!.id);
  } finally {
    await s.close();
  }
});

test("a server that agrees to another subprotocol is a failed dial (EPROTO); the WebSocket is closed", async () => {
  const { s, dialErrors, added } = sub();
  try {
    s.dial("ws://127.0.0.1:9/feed");
    const ws = await nth(1);
    ws.open("");
    assert.equal(dialErrors.length, 1);
    assert.equal(dialErrors[0]!.error.code, "EPROTO");
    assert.equal(dialErrors[0]!.attempt, 1);
    assert.ok(dialErrors[0]!.retryIn >= 30_000 && dialErrors[0]!.retryIn < 60_000, `retry in [d/2, d): ${dialErrors[0]!.retryIn}`);
    assert.equal(ws.closeCalls.length, 1);
    assert.equal(added(), 0);
  } finally {
    await s.close();
  }
});

test("a text frame closes the pipe EPROTO, and a message over recvMaxSize closes it EMSGSIZE; nothing is delivered", async () => {
  const { s, removed } = sub({ recvMaxSize: 8 });
  try {
    s.subscribe("");
    s.dial("ws://127.0.0.1:9/feed");
    const first = await nth(1);
    first.open();
    first.message("text");
    assert.deepEqual(removed.map((e) => e?.code), ["EPROTO"]);
    assert.equal(first.closeCalls.length, 1);
    assert.equal(s.pipes.length, 0);

    s.close();
    const again = sub({ recvMaxSize: 8 });
    again.s.subscribe("");
    again.s.dial("ws://127.0.0.1:9/feed");
    const ws = await nth(1);
    ws.open();
    ws.message(new Uint8Array(8));
    ws.message(new Uint8Array(9));
    assert.deepEqual(again.removed.map((e) => e?.code), ["EMSGSIZE"]);
    assert.match(again.removed[0]!.message, /9 bytes/);
    const m = await again.s.recv({ timeout: 5000 });
    assert.equal(m.body.length, 8, "the message within the limit came through");
    await assert.rejects(again.s.recv({ timeout: 1 }), (e: SPError) => e.code === "ETIMEDOUT");
    await again.s.close();
  } finally {
    await s.close();
  }
});

test("a pipe the peer closed with 1001 ends ECONNSHUT with the code and reason in error.cause, and the backoff starts over", async () => {
  const { s, removed, dialErrors } = sub({ reconnectMinTime: 5, reconnectMaxTime: 5 });
  try {
    s.dial("ws://127.0.0.1:9/feed");
    (await nth(1)).open();
    ScriptedWebSocket.made[0]!.closedBy(1001, "going away");
    assert.equal(removed.length, 1);
    assert.equal(removed[0]!.code, "ECONNSHUT");
    assert.deepEqual(removed[0]!.cause, { code: 1001, reason: "going away" } satisfies WsCloseInfo);
    assert.match(removed[0]!.message, /1001 going away/);
    // A connection that worked: the redial is not a failure.
    (await nth(2)).open();
    assert.equal(s.pipes.length, 1);
    assert.equal(dialErrors.length, 0);
  } finally {
    await s.close();
  }
});

test("a lost connection (1006) ends ECONNRESET; a pipe closed here ends without an error, and the 1006 that follows is not reported", async () => {
  const { s, removed } = sub();
  try {
    s.dial("ws://127.0.0.1:9/feed");
    const ws = await nth(1);
    ws.open();
    s.pipes[0]!.close();
    assert.deepEqual(removed, [undefined], "removed at once, without waiting for a Close reply");
    ws.closedBy(1006);
    await tick();
    assert.deepEqual(removed, [undefined]);
  } finally {
    await s.close();
  }
  const lost = sub({ reconnectMinTime: 1 });
  try {
    lost.s.dial("ws://127.0.0.1:9/feed");
    (await nth(1)).open();
    ScriptedWebSocket.made[0]!.closedBy(1006);
    assert.deepEqual(lost.removed.map((e) => e?.code), ["ECONNRESET"]);
  } finally {
    await lost.s.close();
  }
});

test("closing the socket closes its WebSocket once, ends the pipe cleanly and stops redialing", async () => {
  const { s, removed } = sub({ reconnectMinTime: 1, reconnectMaxTime: 1 });
  s.dial("ws://127.0.0.1:9/feed");
  const ws = await nth(1);
  ws.open();
  await s.close();
  assert.deepEqual(removed, [undefined]);
  assert.equal(ws.closeCalls.length, 1);
  ws.closedBy(1006);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ScriptedWebSocket.made.length, 1, "no redial after close");
  assert.deepEqual(removed, [undefined]);
  await assert.rejects(s.recv(), (e: SPError) => e.code === "ECLOSED");
  assert.throws(() => s.dial("ws://127.0.0.1:9/feed"), (e: SPError) => e.code === "ECLOSED");
});

test("a close with 4401 right after open is a failed dial (ECONNREFUSED, code in cause) and the backoff grows; 4008 later is a normal end", async () => {
  const { s, removed, dialErrors } = sub({ reconnectMinTime: 1, reconnectMaxTime: 8 });
  try {
    s.dial("ws://127.0.0.1:9/feed");
    for (let i = 1; i <= 4; i++) {
      const ws = await nth(i);
      ws.open();
      ws.closedBy(4401, "no token");
    }
    await until(() => dialErrors.length === 4, "four refusals");
    assert.deepEqual(removed.map((e) => e?.code), ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"]);
    assert.deepEqual((removed[0]!.cause as WsCloseInfo).code, 4401);
    assert.deepEqual(dialErrors.map((e) => e.attempt), [1, 2, 3, 4]);
    // Each wait is in [d/2, d) with d = 1, 2, 4, 8: it grows, capped at reconnectMaxTime.
    const bounds = [1, 2, 4, 8];
    dialErrors.forEach((e, i) => assert.ok(e.retryIn >= bounds[i]! / 2 && e.retryIn < bounds[i]!, `retry ${i + 1}: ${e.retryIn}`));

    const ws = await nth(5);
    ws.open();
    ws.closedBy(4008, "idle");
    assert.equal(removed.at(-1)!.code, "ECONNSHUT");
    (await nth(6)).open();
    assert.equal(dialErrors.length, 4, "a pipe that worked and then ended is not a failed attempt");
  } finally {
    await s.close();
  }
});

test("a dial waiting to redial tries again at once when the page comes back online or becomes visible, not when hidden", async () => {
  const page = fakePage();
  const { s, dialErrors } = sub();
  try {
    s.dial("ws://127.0.0.1:9/feed");
    assert.equal(page.listeners(), 2, "online on globalThis, visibilitychange on document");
    (await nth(1)).closedBy(1006);
    assert.equal(dialErrors.length, 1);
    page.online();
    (await nth(2)).closedBy(1006);
    page.show("hidden");
    await tick();
    assert.equal(ScriptedWebSocket.made.length, 2, "no attempt while hidden");
    page.show("visible");
    const third = await nth(3);
    third.open();
    page.online();
    await tick();
    assert.equal(ScriptedWebSocket.made.length, 3, "a connected dial ignores online");
    await s.close();
    assert.equal(page.listeners(), 0, "closing the socket removes both listeners");
  } finally {
    await s.close();
    page.restore();
  }
});

test("failFast rejects the dial with the first failure and stops; an aborted signal stops a dial and rejects it with its reason", async () => {
  const { s, dialErrors } = sub({ reconnectMinTime: 1 });
  try {
    const fast = s.dial("ws://127.0.0.1:9/feed", { failFast: true });
    (await nth(1)).closedBy(1006);
    await assert.rejects(fast, (e: SPError) => e.code === "ECONNREFUSED" && /1006/.test(e.message));
    assert.equal(dialErrors[0]!.retryIn, -1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ScriptedWebSocket.made.length, 1, "no second attempt");

    const ac = new AbortController();
    const aborted = s.dial("ws://127.0.0.1:9/feed", { signal: ac.signal });
    const ws = await nth(2);
    const why = new Error("page left");
    ac.abort(why);
    await assert.rejects(aborted, (e) => e === why);
    assert.equal(ws.closeCalls.length, 1);
  } finally {
    await s.close();
  }
});

test("a handshake that does not finish within handshakeTimeout is a failed dial (ETIMEDOUT)", async () => {
  const { s, dialErrors } = sub({ handshakeTimeout: 10 });
  try {
    s.dial("ws://127.0.0.1:9/feed");
    const ws = await nth(1);
    await until(() => dialErrors.length === 1, "the deadline");
    assert.equal(dialErrors[0]!.error.code, "ETIMEDOUT");
    assert.equal(ws.closeCalls.length, 1);
    ws.open();
    assert.equal(s.pipes.length, 0, "a late open of the abandoned WebSocket is ignored");
  } finally {
    await s.close();
  }
});

test("bad arguments throw at once: a URL that is not ws/wss (EADDRINVAL), an unknown or bad option (EINVAL)", () => {
  const { s } = sub();
  try {
    assert.throws(() => s.dial("tcp://127.0.0.1:9"), (e: SPError) => e.code === "EADDRINVAL");
    assert.throws(() => new Sub({ WebSocket, recvBufer: 1 } as BrowserSocketConfig), (e: SPError) => e.code === "EINVAL" && /recvBufer/.test(e.message));
    assert.throws(() => new Sub({ WebSocket, recvBuffer: -1 }), (e: SPError) => e.code === "EINVAL");
    assert.throws(() => s.subscribe(5 as unknown as string), (e: SPError) => e.code === "EINVAL");
  } finally {
    void s.close();
  }
});

test("recv honours timeout and signal; for await ends when the socket closes", async () => {
  const { s } = sub();
  s.subscribe("");
  await assert.rejects(s.recv({ timeout: 1 }), (e: SPError) => e.code === "ETIMEDOUT");
  const ac = new AbortController();
  const r = s.recv({ signal: ac.signal });
  ac.abort("stop");
  await assert.rejects(r, (e) => e === "stop");
  s.dial("ws://127.0.0.1:9/feed");
  const ws = await nth(1);
  ws.open();
  const seen: string[] = [];
  const loop = (async () => {
    for await (const m of s) seen.push(m.text());
  })();
  ws.message(bytes("one"));
  ws.message(bytes("two"));
  await until(() => seen.length === 2, "two messages");
  await s.close();
  await loop;
  assert.deepEqual(seen, ["one", "two"]);
});

test("a Sub keeps the newest recvBuffer messages when the page does not read (drop-oldest, as nng)", async () => {
  const { s } = sub({ recvBuffer: 2 });
  try {
    s.subscribe("");
    s.dial("ws://127.0.0.1:9/feed");
    const ws = await nth(1);
    ws.open();
    for (const t of ["1", "2", "3", "4"]) ws.message(bytes(t));
    assert.equal((await s.recv()).text(), "3");
    assert.equal((await s.recv()).text(), "4");
  } finally {
    await s.close();
  }
});

test("a gateway Sub puts its subscriptions in the URL and redials once per burst of changes", async () => {
  const { s } = sub();
  try {
    s.dial("ws://127.0.0.1:9/feed?token=t", { gateway: true });
    const first = await nth(1);
    assert.equal(first.url, "ws://127.0.0.1:9/feed?token=t&nosub");
    first.open();
    s.subscribe("cpu.");
    s.subscribe("mem/x");
    const second = await nth(2);
    assert.equal(second.url, "ws://127.0.0.1:9/feed?token=t&sub=cpu.&sub=mem%2Fx");
    assert.equal(first.closeCalls.length, 1, "the old pipe was closed for the new URL");
    second.open();
    await tick();
    assert.equal(ScriptedWebSocket.made.length, 2, "one redial for both calls");
    assert.equal(s.pipes.length, 1);
  } finally {
    await s.close();
  }
});

test("a Push whose WebSocket buffer is full waits, and sends once bufferedAmount falls (polled only while blocked)", async () => {
  ScriptedWebSocket.made = [];
  const push = new Push({ WebSocket });
  try {
    push.dial("ws://127.0.0.1:9/jobs");
    const ws = await nth(1);
    assert.equal(ws.offered, "pull.sp.nanomsg.org");
    ws.open();
    ws.holding = true;
    // 1 MiB and a byte: past the high water mark, so the pipe is full after it.
    await push.send(new Uint8Array((1 << 20) + 1));
    const b = push.send("b");
    let sentB = false;
    void b.then(() => (sentB = true));
    await tick();
    assert.equal(sentB, false, "waits while the buffer is over its high water mark");
    assert.equal(ws.sent.length, 1);
    ws.bufferedAmount = 0;
    await b;
    assert.equal(ws.sent.length, 2);
    assert.equal(new TextDecoder().decode(ws.sent[1]), "b");
  } finally {
    await push.close();
  }
});

test("a Req's request carries one id word with the top bit set; the reply with that id resolves it, others are dropped", async () => {
  ScriptedWebSocket.made = [];
  const req = new Req({ WebSocket });
  try {
    req.dial("ws://127.0.0.1:9/rpc");
    const ws = await nth(1);
    assert.equal(ws.offered, "rep.sp.nanomsg.org");
    ws.open();
    const reply = req.request("ping", { timeout: 5000 });
    await until(() => ws.sent.length === 1, "the request");
    const sent = ws.sent[0]!;
    assert.equal(hex(sent.subarray(4)), hex(bytes("ping")));
    const id = word(sent);
    assert.ok(id >= 0x80000000, "top bit set");
    const answer = (rid: number, body: string): Uint8Array => {
      const out = new Uint8Array(4 + body.length);
      new DataView(out.buffer).setUint32(0, rid);
      out.set(bytes(body), 4);
      return out;
    };
    ws.message(answer((id ^ 1) >>> 0, "not yours"));
    ws.message(answer(id, "pong"));
    assert.equal((await reply).text(), "pong");
  } finally {
    await req.close();
  }
});

test("recv on a closed Pull rejects ECLOSED; send on a Sub is ENOTSUP", async () => {
  const pull = new Pull({ WebSocket });
  await pull.close();
  await assert.rejects(pull.recv(), (e: SPError) => e.code === "ECLOSED");
  const { s } = sub();
  try {
    await assert.rejects(s.send("x"), (e: SPError) => e.code === "ENOTSUP");
  } finally {
    await s.close();
  }
});
