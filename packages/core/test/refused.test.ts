/**
 * A server that accepts a WebSocket and closes it at once with a code in
 * 4400-4499 has refused the connection (spwire's gateway does this for a
 * missing token, a wrong origin, too many connections, because a page cannot
 * read HTTP statuses). The dialer must count that as a failed attempt and
 * back off, not redial at the minimum delay forever.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SPError, Sub, wsTransport, silentLogger, type WebSocketLike } from "../src/index.js";
import { until } from "./support.js";

type Listener = (ev: never) => void;

/** A WebSocket that opens, then is closed by the "server" with `code`, `reason`. */
function refusingWebSocket(code: number, reason: string, opened: string[]) {
  return class implements WebSocketLike {
    binaryType = "arraybuffer";
    readyState = 0;
    bufferedAmount = 0;
    protocol: string;
    #l = new Map<string, Set<Listener>>();
    constructor(url: string, protocol?: string | string[]) {
      this.protocol = String(protocol);
      opened.push(url);
      setTimeout(() => {
        this.readyState = 1;
        this.#emit("open", {});
        setTimeout(() => {
          this.readyState = 3;
          this.#emit("close", { code, reason, wasClean: true });
        }, 0);
      }, 0);
    }
    #emit(type: string, ev: unknown): void {
      for (const f of [...(this.#l.get(type) ?? [])]) (f as (e: unknown) => void)(ev);
    }
    send(): void {}
    close(): void {
      this.readyState = 3;
    }
    addEventListener(type: string, f: Listener): void {
      let s = this.#l.get(type);
      if (s === undefined) this.#l.set(type, (s = new Set()));
      s.add(f);
    }
    removeEventListener(type: string, f: Listener): void {
      this.#l.get(type)?.delete(f);
    }
  };
}

test("a close with 4401 right after open is a failed dial: ECONNREFUSED with the code, and the backoff grows", async () => {
  const opened: string[] = [];
  const sub = new Sub({
    transports: [wsTransport({ WebSocket: refusingWebSocket(4401, "token-missing", opened) })],
    logger: silentLogger,
    reconnectMinTime: 100,
    reconnectMaxTime: 10_000,
  });
  const errors: { error: SPError; attempt: number; retryIn: number }[] = [];
  sub.on("dialerror", (e) => errors.push(e));
  const d = sub.dial("ws://gw.example/feed");
  try {
    for (let i = 1; i <= 4; i++) {
      await until(() => errors.length >= i, `refusal ${i}`);
      if (i < 4) d.redialNow(); // skip the wait; the backoff it chose is what this test checks
    }
    assert.deepEqual(
      errors.map((e) => e.error.code),
      ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"],
    );
    assert.deepEqual(errors[0]!.error.cause, { code: 4401, reason: "token-missing" });
    assert.match(errors[0]!.error.message, /refused the connection \(code 4401, "token-missing"\)/);
    assert.deepEqual(errors.map((e) => e.attempt), [1, 2, 3, 4]);
    // Each wait is drawn from [d/2, d) with d doubling from reconnectMinTime: 100, 200, 400, 800.
    errors.forEach((e, i) => {
      const dmax = 100 * 2 ** i;
      assert.ok(e.retryIn >= dmax / 2 && e.retryIn < dmax, `attempt ${i + 1}: retryIn ${e.retryIn} within [${dmax / 2}, ${dmax})`);
    });
    assert.equal(opened.length, 4);
  } finally {
    await sub.close();
  }
});

test("a close with 4008 (an accepted pipe closed later, e.g. idle) is a normal end: the backoff starts over", async () => {
  const opened: string[] = [];
  const sub = new Sub({
    transports: [wsTransport({ WebSocket: refusingWebSocket(4008, "idle timeout", opened) })],
    logger: silentLogger,
    reconnectMinTime: 100,
    reconnectMaxTime: 10_000,
  });
  const errors: unknown[] = [];
  sub.on("dialerror", (e) => errors.push(e));
  const removed: string[] = [];
  sub.on("piperemove", (e) => removed.push(e.error?.code ?? "none"));
  sub.dial("ws://gw.example/feed");
  try {
    await until(() => removed.length >= 3, "three pipes came and went");
    assert.equal(errors.length, 0, "no dial errors: each attempt connected");
    assert.deepEqual(removed.slice(0, 3), ["ECONNSHUT", "ECONNSHUT", "ECONNSHUT"]);
  } finally {
    await sub.close();
  }
});
