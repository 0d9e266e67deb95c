/**
 * A recv() that gives up (its timeout passes, its signal aborts) must not be
 * kept by the socket until the next message: a page or service polling a
 * silent feed with `recv({ timeout })` would otherwise hold every one of them
 * for as long as the feed stays silent. Checked by what the garbage collector
 * can free (Node only: it needs `gc()`), for core's socket and the browser
 * build's.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { Sub } from "@spwire/node";
import * as browser from "@spwire/core/browser";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const N = 1000;

/** How many of `n` given-up recv promises are still reachable after a full collection. */
async function stillHeld(recv: () => Promise<unknown>): Promise<number> {
  const refs: WeakRef<Promise<unknown>>[] = [];
  for (let i = 0; i < N; i++) {
    const p = recv();
    refs.push(new WeakRef(p));
    await p.then(
      () => assert.fail("no message was sent"),
      (e: { code?: string; name?: string }) => assert.ok(e.code === "ETIMEDOUT" || e.name === "AbortError", String(e)),
    );
  }
  // WeakRefs are cleared only after the job that made them: collect between turns.
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 0));
    gc();
  }
  return refs.filter((r) => r.deref() !== undefined).length;
}

for (const [name, make] of [
  ["@spwire/core's Sub", () => new Sub()],
  ["the browser build's Sub", () => new browser.Sub()],
] as const) {
  test(`${name}: recv calls that timed out or were aborted are not held until a message comes`, async () => {
    const sub = make();
    try {
      sub.subscribe("");
      const timedOut = await stillHeld(() => sub.recv({ timeout: 0 }));
      const aborted = await stillHeld(() => sub.recv({ signal: AbortSignal.abort() }));
      // A few may wait in the queue for the next prune; a thousand may not.
      assert.ok(timedOut <= 64, `${timedOut} of ${N} timed-out recv calls still held`);
      assert.ok(aborted <= 64, `${aborted} of ${N} aborted recv calls still held`);
    } finally {
      await sub.close();
    }
  });
}
