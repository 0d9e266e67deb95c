/**
 * The slow-consumer policies, one stalled browser each, beside a browser that
 * reads normally. The stalled browser is a raw ws client whose TCP socket is
 * paused (`ws.pause()`): the gateway's writes fill the kernel buffers, then
 * the WebSocket's own buffer (`socketBytes`), then the per-connection queue
 * (10 messages), and then the route's policy decides. The assertions are on
 * counts and sequence numbers, never on timing:
 *
 * - drop-new: what the stalled browser gets is the first messages, in order,
 *   and received + drops{queue-full} == published, exactly.
 * - drop-old: it gets the last message, in increasing order, and received +
 *   drops{drop-old} == published.
 * - disconnect: it is closed with 4009, counted once as slow-consumer.
 * - latest: it ends with the newest value of each of 5 topics; its queue
 *   never holds more than the 5 topics.
 *
 * How much the kernel buffers on loopback is the machine's business (about
 * 4 MB here), so the publisher does not send a fixed count: it publishes
 * until the stalled browser's queue is engaged, then a fixed number more.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pub, silentLogger } from "@spwire/node";
import type { Gateway, SlowConsumerPolicy } from "@spwire/gateway";
import { until } from "../../../test-support/peers.js";
import { metric, rawClient, startGateway, type RawClient } from "../../../test-support/gateway.js";
import type { ClientPipe } from "../src/client.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function untilAsync(cond: () => Promise<boolean>, what: string, tries = 400, every = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await sleep(every);
  }
  throw new Error(`gave up waiting for: ${what}`);
}

/** Messages published after the stalled browser's queue is engaged. */
const AFTER = 500;
/** Every message is this big. */
const SIZE = 1024;
const TOPICS = 5;

/** `<seq, 6 digits> ....` padded to SIZE bytes; with `topic`, `t<k> <seq> ...` where k = seq % TOPICS. */
function body(seq: number, topic: boolean): Buffer {
  const head = Buffer.from(`${topic ? `t${seq % TOPICS} ` : ""}${String(seq).padStart(6, "0")} `);
  return Buffer.concat([head, Buffer.alloc(SIZE - head.length, 0x2e)]);
}

function seqOf(frame: Buffer, topic: boolean): number {
  const off = topic ? 3 : 0;
  return Number(frame.subarray(off, off + 6).toString());
}

interface Scene {
  gw: Gateway;
  pub: InstanceType<typeof Pub>;
  slow: RawClient;
  fast: RawClient;
  /** The stalled browser's pipe in the gateway. */
  slowPipe: ClientPipe;
}

/** A gateway with one sub route under `policy`, an upstream spwire Pub, a stalled browser and a reading one. */
async function scene(policy: SlowConsumerPolicy, run: (s: Scene) => Promise<void>): Promise<void> {
  const pub = new Pub({ logger: silentLogger });
  let gw: Gateway | undefined;
  const raws: RawClient[] = [];
  try {
    const upstream = (await pub.listen("tcp://127.0.0.1:0")).url;
    gw = await startGateway({
      routes: [{ path: "/feed", protocol: "sub", upstream, queue: { messages: 10, bytes: "1MiB", socketBytes: 1, policy } }],
    });
    const g = gw;
    await until(() => pub.pipes.length === 1, "the gateway dials the Pub");
    const slow = rawClient(`${g.url}/feed`, "pub.sp.nanomsg.org");
    const fast = rawClient(`${g.url}/feed`, "pub.sp.nanomsg.org");
    raws.push(slow, fast);
    await Promise.all([slow.opened, fast.opened]);
    const route = g.routes.get("/feed")!;
    await until(() => route.sockets!.front.pipes.length === 2, "both browsers on the front socket");
    const port = (slow.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    const slowPipe = [...route.clients].find((c) => c.remoteAddress.endsWith(`:${port}`))!;
    assert.ok(slowPipe !== undefined);
    // Stop reading: the TCP socket under the WebSocket is paused.
    slow.ws.pause();
    await run({ gw: g, pub, slow, fast, slowPipe });
  } finally {
    for (const r of raws) r.ws.terminate();
    await gw?.close();
    await pub.close();
  }
}

/**
 * Publish numbered messages in batches of 16, paced by the Pub's pipe so the
 * upstream side itself drops nothing, until `engaged()` says the policy is at
 * work; then AFTER more. `each` sees the state after every batch. Returns how
 * many were published.
 */
async function publish(s: Scene, topic: boolean, engaged: () => Promise<boolean>, each: () => Promise<void> = async () => undefined): Promise<number> {
  let n = 0;
  let stopAt = Infinity;
  while (n < stopAt) {
    for (const end = Math.min(n + 16, stopAt); n < end; n++) {
      while (!s.pub.pipes[0]!.idle) await sleep(1);
      await s.pub.send(body(n, topic));
    }
    await new Promise((r) => setImmediate(r));
    await each();
    if (stopAt === Infinity && (await engaged())) stopAt = n + AFTER;
    assert.ok(n < 50_000, "the stalled browser's queue never filled");
  }
  assert.equal(s.pub.stats.drops, 0, "the upstream Pub dropped nothing");
  return n;
}

/** The fast browser got every message, in order. */
async function fastGotAll(s: Scene, n: number, topic: boolean): Promise<void> {
  await until(() => s.fast.frames.length >= n, `the fast browser gets all ${n}`);
  assert.equal(s.fast.frames.length, n);
  for (let i = 0; i < n; i++) assert.equal(seqOf(s.fast.frames[i]!, topic), i);
}

function assertIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `out of order at ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
}

test("drop-new: the stalled browser gets the first messages in order, and received + dropped == published", async () => {
  await scene("drop-new", async (s) => {
    const { gw } = s;
    const n = await publish(s, false, async () => (await metric(gw, "queue_messages", { route: "/feed" })) >= 10);
    await fastGotAll(s, n, false);
    assert.equal(s.slowPipe.queuedMessages, 10);
    const dropped = await metric(gw, "drops_total", { route: "/feed", reason: "queue-full" });
    assert.ok(dropped >= AFTER - 10, `${dropped} dropped`);

    s.slow.ws.resume();
    await until(() => s.slow.frames.length + dropped >= n, "the stalled browser catches up");
    await sleep(50);
    assert.equal(s.slow.frames.length + dropped, n);
    assert.equal(await metric(gw, "filtered_total", { route: "/feed" }), 0);
    // Drop-new keeps the oldest: the messages received are exactly 0 .. k-1, the gap is at the end.
    const seqs = s.slow.frames.map((f) => seqOf(f, false));
    assert.deepEqual(seqs, seqs.map((_, i) => i));
    assert.equal(await metric(gw, "drops_total", { route: "/feed" }), dropped, "no other kind of drop");
    assert.equal(await metric(gw, "queue_messages", { route: "/feed" }), 0);
  });
});

test("drop-old: the stalled browser gets the last message published, everything in increasing order", async () => {
  await scene("drop-old", async (s) => {
    const { gw } = s;
    const n = await publish(s, false, async () => (await metric(gw, "queue_messages", { route: "/feed" })) >= 10);
    await fastGotAll(s, n, false);
    assert.equal(s.slowPipe.queuedMessages, 10);
    const dropped = await metric(gw, "drops_total", { route: "/feed", reason: "drop-old" });
    assert.ok(dropped >= AFTER - 10, `${dropped} dropped`);

    s.slow.ws.resume();
    await until(() => s.slow.frames.length + dropped >= n, "the stalled browser catches up");
    await sleep(50);
    assert.equal(s.slow.frames.length + dropped, n);
    const seqs = s.slow.frames.map((f) => seqOf(f, false));
    assertIncreasing(seqs);
    assert.equal(seqs[0], 0);
    assert.equal(seqs.at(-1), n - 1);
    // The queue held the last 10 published.
    assert.deepEqual(seqs.slice(-10), Array.from({ length: 10 }, (_, i) => n - 10 + i));
    assert.equal(await metric(gw, "drops_total", { route: "/feed" }), dropped, "no other kind of drop");
  });
});

test("disconnect: the stalled browser is closed with 4009 and counted once as a slow consumer", async () => {
  await scene("disconnect", async (s) => {
    const { gw } = s;
    const n = await publish(s, false, async () => (await metric(gw, "drops_total", { route: "/feed", reason: "slow-consumer" })) > 0);
    await fastGotAll(s, n, false);
    // The queue (10) and the message that overflowed it.
    assert.equal(await metric(gw, "drops_total", { route: "/feed", reason: "slow-consumer" }), 11);
    assert.equal(s.slowPipe.closed, true);
    assert.equal(s.slowPipe.queuedMessages, 0);

    // Reading again, it gets what the kernel held, then the close frame.
    s.slow.ws.resume();
    assert.deepEqual(await s.slow.closed, { code: 4009, reason: "slow consumer" });
    const seqs = s.slow.frames.map((f) => seqOf(f, false));
    assert.deepEqual(seqs, seqs.map((_, i) => i));
    await untilAsync(async () => (await metric(gw, "connections_closed_total", { route: "/feed" })) === 1, "the close is counted");
    assert.equal(await metric(gw, "connections_closed_total", { route: "/feed", reason: "slow-consumer" }), 1);
    assert.equal(await metric(gw, "connections", { route: "/feed" }), 1);
    assert.equal(s.fast.ws.readyState, s.fast.ws.OPEN);
  });
});

test("latest: the stalled browser ends with the newest value of every topic, and its queue never holds more than one per topic", async () => {
  await scene("latest", async (s) => {
    const { gw, slowPipe } = s;
    let most = 0;
    let mostTotal = 0;
    const n = await publish(
      s,
      true,
      async () => slowPipe.queuedMessages >= TOPICS,
      async () => {
        most = Math.max(most, slowPipe.queuedMessages);
        mostTotal = Math.max(mostTotal, await metric(gw, "queue_messages", { route: "/feed" }));
      },
    );
    await fastGotAll(s, n, true);
    assert.equal(most, TOPICS);
    assert.ok(mostTotal <= 10, `queue_messages reached ${mostTotal}`);
    const replaced = await metric(gw, "drops_total", { route: "/feed", reason: "latest-replaced" });
    assert.ok(replaced >= AFTER - TOPICS, `${replaced} replaced`);

    s.slow.ws.resume();
    const last = new Map<string, number>();
    for (let i = n - TOPICS; i < n; i++) last.set(`t${i % TOPICS}`, i);
    const newest = (): Map<string, number> => {
      const m = new Map<string, number>();
      for (const f of s.slow.frames) m.set(f.subarray(0, 2).toString(), seqOf(f, true));
      return m;
    };
    await until(() => [...last].every(([t, seq]) => newest().get(t) === seq), "the newest value of every topic");
    assert.deepEqual(newest(), last);
    // Exact accounting: every message was delivered or replaced by a newer one of its topic.
    assert.equal(s.slow.frames.length + replaced, n);
    // A newer value takes its topic's place in line, so the order holds within each topic, not across them.
    for (let k = 0; k < TOPICS; k++) {
      assertIncreasing(s.slow.frames.filter((f) => f.subarray(0, 2).toString() === `t${k}`).map((f) => seqOf(f, true)));
    }
    assert.equal(await metric(gw, "drops_total", { route: "/feed" }), replaced, "no other kind of drop");
  });
});
