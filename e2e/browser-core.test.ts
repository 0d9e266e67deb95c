/**
 * Browser-ready check: the built ESM of @spwire/core, loaded as is by real
 * Chromium from /core/index.js, talks SP over the browser's own WebSocket to
 * real peers on 127.0.0.1: spwire's Node sockets and nng's nngcat.
 *
 * Each test starts its own Node-side peer; one Chromium page serves all.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Pub, Rep } from "@spwire/node";
import { freePort, startPeer, until, waitForPort } from "../test-support/peers.js";
import { startBrowserHarness, type BrowserHarness } from "./support/browser.js";

describe("core in Chromium", () => {
  let h: BrowserHarness;
  before(async () => {
    h = await startBrowserHarness();
  }, { timeout: 120_000 });
  after(() => h?.close(), { timeout: 30_000 });

  test("a browser Req gets the reply a Node Rep sends over ws, and the Rep sees the request's bytes", async (t) => {
    const rep = new Rep();
    t.after(() => rep.close());
    const l = await rep.listen("ws://127.0.0.1:0/rpc");

    const served = (async () => {
      const q = await rep.recv();
      await rep.reply(q, "world");
      return q;
    })();
    const asked = h.run(
      async (core, { url }) => {
        const req = new core.Req();
        try {
          req.dial(url);
          const reply = await req.request("hello", { timeout: 5000 });
          return reply.text();
        } finally {
          await req.close();
        }
      },
      { url: l.url },
    );
    // Both at once: whichever side fails first fails the test, with its own error.
    const [reply, q] = await Promise.all([asked, served]);

    assert.equal(reply, "world");
    assert.deepEqual([...q.body], [...Buffer.from("hello")]);
    // The browser's REQ header on the wire: one request id word, top bit set (no hops: a direct pipe).
    assert.equal(q.header.length, 4);
    assert.equal(q.header[0]! & 0x80, 0x80);
  });

  test("a browser Sub subscribed to \"a.\" receives from a Node Pub only the messages that start with it, in order", async (t) => {
    const pub = new Pub();
    t.after(() => pub.close());
    const l = await pub.listen("ws://127.0.0.1:0/feed");

    const received = h.run(
      async (core, { url }) => {
        const sub = new core.Sub();
        try {
          sub.subscribe("a.");
          await sub.dial(url);
          const bodies: string[] = [];
          for (;;) {
            const m = await sub.recv({ timeout: 5000 });
            bodies.push(m.text());
            if (m.text() === "a.end") return bodies;
          }
        } finally {
          await sub.close();
        }
      },
      { url: l.url },
    );
    const published = (async () => {
      // PUB drops what it sends while no subscriber is connected.
      await until(() => pub.pipes.length === 1, "the Node Pub has the browser Sub's pipe");
      // "a" and "ab" do not start with "a."; "a.end" marks the end of the run.
      for (const body of ["a.1", "b.1", "a.2", "a", "ab", "xa.", "a.", "a.end"]) await pub.send(body);
    })();
    const [bodies] = await Promise.all([received, published]);

    assert.deepEqual(bodies, ["a.1", "a.2", "a.", "a.end"]);
  });

  test("a browser Req gets the reply of nngcat --rep0 listening on ws, and nngcat prints the request", async (t) => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/sp`;
    const nngcat = startPeer("nngcat", ["--rep0", "--listen", url, "--data", "pong", "--quoted"]);
    t.after(() => nngcat.kill());
    await waitForPort(port).catch((err: Error) => {
      throw new Error(`${err.message}; nngcat stderr: ${nngcat.stderr()}`, { cause: err });
    });

    const reply = await h.run(
      async (core, { url }) => {
        const req = new core.Req();
        try {
          req.dial(url);
          return (await req.request("ping", { timeout: 5000 })).text();
        } finally {
          await req.close();
        }
      },
      { url },
    );

    assert.equal(reply, "pong");
    await until(() => nngcat.stdout().includes("\n"), "nngcat prints the request it received");
    assert.equal(nngcat.stdout().toString(), '"ping"\n', `nngcat stderr: ${nngcat.stderr()}`);
  });
});
