/**
 * A dialer in a browser page redials at once, instead of waiting out its
 * backoff, when the page comes back online or becomes visible again, and
 * stops listening for both when it closes.
 *
 * These tests run in Node and in Chromium (e2e/core-in-browser.test.ts). In
 * Node there is no page, so a stand-in EventTarget plays `globalThis` and
 * `document`; in Chromium the real window and document are used and only
 * `document.visibilityState` is faked. Either way the events are real
 * dispatches that the dialer hears through its own listeners.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pub, Sub } from "../src/index.js";
import { fakePage, mem, tick, until } from "./support.js";

/** A Sub dialing an inproc address nobody listens at, with a backoff far longer than any test. */
function waitingSub() {
  const m = mem();
  const sub = new Sub({ ...m.o, reconnectMinTime: 60_000, reconnectMaxTime: 60_000 });
  const attempts: number[] = [];
  sub.on("dialerror", (e) => attempts.push(e.attempt));
  return { m, sub, attempts };
}

test("a dialer waiting to redial tries again at once when the page comes back online", async () => {
  const page = fakePage();
  const { m, sub, attempts } = waitingSub();
  try {
    const d = sub.dial(m.url);
    await until(() => attempts.length === 1, "the first attempt fails");
    assert.equal(d.state, "waiting");
    page.online();
    await until(() => attempts.length === 2, "a second attempt without waiting out the backoff");
    page.online();
    await until(() => attempts.length === 3, "and a third");
    assert.deepEqual(attempts, [1, 2, 3]);
  } finally {
    await sub.close();
    page.restore();
  }
});

test("a dialer waiting to redial tries again when the page becomes visible, not when it is hidden", async () => {
  const page = fakePage();
  const { m, sub, attempts } = waitingSub();
  try {
    const d = sub.dial(m.url);
    await until(() => attempts.length === 1, "the first attempt fails");
    page.show("hidden");
    // An inproc attempt fails within a tick, so one started by "hidden" would be counted by now.
    await tick();
    assert.deepEqual(attempts, [1]);
    assert.equal(d.state, "waiting");
    page.show("visible");
    await until(() => attempts.length === 2, "an attempt on becoming visible");
    assert.deepEqual(attempts, [1, 2]);
  } finally {
    await sub.close();
    page.restore();
  }
});

test("a connected dialer ignores online and visibilitychange", async () => {
  const page = fakePage();
  const m = mem();
  const pub = new Pub(m.o);
  const sub = new Sub(m.o);
  try {
    await pub.listen(m.url);
    const d = sub.dial(m.url);
    await d;
    page.online();
    page.show("visible");
    await tick();
    assert.equal(d.state, "connected");
    assert.equal(sub.stats.pipesOpened, 1);
    assert.equal(pub.pipes.length, 1);
  } finally {
    await sub.close();
    await pub.close();
    page.restore();
  }
});

test("a dialer listens for online and visibilitychange while it lives and stops when it closes", async () => {
  const page = fakePage();
  const { m, sub, attempts } = waitingSub();
  try {
    const a = sub.dial(m.url);
    assert.equal(page.listeners(), 2, "online on globalThis, visibilitychange on document");
    sub.dial(m.url);
    assert.equal(page.listeners(), 4);
    await until(() => attempts.length === 2, "both first attempts fail");
    a.close();
    assert.equal(page.listeners(), 2, "the closed dialer's listeners are gone");
    await sub.close();
    assert.equal(page.listeners(), 0, "closing the socket closes the other dialer");
    page.online();
    page.show("visible");
    await tick();
    assert.equal(attempts.length, 2, "no attempt after close");
  } finally {
    await sub.close();
    page.restore();
  }
});
