/**
 * What a page sees when a ws pipe ends: the close frame's code and reason
 * reach `piperemove` (as the error's `cause`), and a clean local close stays
 * clean even when the peer never answers the Close frame, as nng < 1.7 does
 * (the WebSocket then reports 1006 after the pipe has already gone).
 *
 * The WebSocket here is a script of one: the test plays the server. It runs
 * in Node and in Chromium (e2e/core-in-browser.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sub, silentLogger, wsTransport, type SPError, type WebSocketLike, type WsCloseInfo } from "../src/index.js";
import { until } from "./support.js";

type Listener = (ev: never) => void;

/** A WebSocket that opens on the next tick and then does only what the test tells it to. */
class ScriptedWebSocket implements WebSocketLike {
  static made: ScriptedWebSocket[] = [];
  binaryType = "blob";
  readyState = 0;
  bufferedAmount = 0;
  protocol: string;
  /** The close() calls the pipe made: [code, reason]. */
  closeCalls: [number | undefined, string | undefined][] = [];
  #l = new Map<string, Set<Listener>>();

  constructor(_url: string, protocol?: string | string[]) {
    this.protocol = String(protocol);
    ScriptedWebSocket.made.push(this);
    setTimeout(() => {
      this.readyState = 1;
      this.emit("open", {});
    }, 0);
  }

  emit(type: string, ev: unknown): void {
    for (const f of [...(this.#l.get(type) ?? [])]) (f as (e: unknown) => void)(ev);
  }

  /** The server (or the network) ends the connection. */
  closedBy(code: number, reason: string, wasClean: boolean): void {
    this.readyState = 3;
    this.emit("close", { code, reason, wasClean });
  }

  send(): void {}
  close(code?: number, reason?: string): void {
    // Like a browser talking to nng < 1.7: the Close frame goes out and no answer comes.
    this.closeCalls.push([code, reason]);
    this.readyState = 2;
  }
  addEventListener(type: string, f: Listener): void {
    let s = this.#l.get(type);
    if (s === undefined) this.#l.set(type, (s = new Set()));
    s.add(f);
  }
  removeEventListener(type: string, f: Listener): void {
    this.#l.get(type)?.delete(f);
  }
}

/** A Sub connected through one ScriptedWebSocket; `removed` collects piperemove errors. */
async function connected() {
  ScriptedWebSocket.made = [];
  const sub = new Sub({
    transports: [wsTransport({ WebSocket: ScriptedWebSocket })],
    logger: silentLogger,
    reconnectMinTime: 60_000,
  });
  const removed: (SPError | undefined)[] = [];
  sub.on("piperemove", (e) => removed.push(e.error));
  await sub.dial("ws://gw.example/feed");
  return { sub, ws: ScriptedWebSocket.made[0]!, removed };
}

test("a pipe the peer closed with 1001 ends ECONNSHUT, with the code and reason in error.cause", async () => {
  const { sub, ws, removed } = await connected();
  try {
    ws.closedBy(1001, "going away", true);
    await until(() => removed.length === 1, "the pipe is removed");
    const err = removed[0]!;
    assert.equal(err.code, "ECONNSHUT");
    assert.deepEqual(err.cause, { code: 1001, reason: "going away" } satisfies WsCloseInfo);
    assert.match(err.message, /\(code 1001, "going away"\)/);
    assert.deepEqual(sub.stats.pipeErrors, { ECONNSHUT: 1 });
  } finally {
    await sub.close();
  }
});

test("a lost connection (an error event, then 1006) ends ECONNRESET, with the code and the error event in error.cause", async () => {
  const { sub, ws, removed } = await connected();
  try {
    const failure = { type: "error" };
    ws.emit("error", failure);
    ws.closedBy(1006, "", false);
    await until(() => removed.length === 1, "the pipe is removed");
    const err = removed[0]!;
    assert.equal(err.code, "ECONNRESET");
    const cause = err.cause as WsCloseInfo;
    assert.equal(cause.code, 1006);
    assert.equal(cause.reason, "");
    assert.equal(cause.error, failure);
  } finally {
    await sub.close();
  }
});

test("a pipe closed here ends without an error, and the 1006 of a peer that never answers Close (nng < 1.7) is not reported", async () => {
  const { sub, ws, removed } = await connected();
  try {
    sub.pipes[0]!.close();
    await until(() => removed.length === 1, "the pipe is removed at once, without waiting for the Close reply");
    assert.deepEqual(ws.closeCalls, [[1000, undefined]], "one Close frame, 1000 and no reason, as nng sends");
    ws.closedBy(1006, "", false);
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(removed, [undefined]);
    assert.deepEqual(sub.stats.pipeErrors, {});
    assert.equal(sub.stats.pipesClosed, 1);
  } finally {
    await sub.close();
  }
});

test("closing the socket ends its ws pipe cleanly, even when the late close event says 1006", async () => {
  const { sub, ws, removed } = await connected();
  await sub.close();
  ws.closedBy(1006, "", false);
  await until(() => removed.length === 1, "the pipe is removed");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(removed, [undefined]);
  assert.deepEqual(sub.stats.pipeErrors, {});
});
