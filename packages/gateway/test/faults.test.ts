/**
 * Faults with real processes: the gateway runs as the spwire-gateway program
 * (a child process, configured by a YAML file), so SIGKILL is a real crash
 * and a restart is a new process on the same port; the upstreams are nngcat
 * or a publisher process that SIGSTOP can freeze. Assertions are on counts,
 * events, close codes, metrics and log lines; waits are bounded, never timed.
 *
 * - SIGKILL under load, restart: every browser Sub resumes; every request
 *   outstanding at the kill is resent by core's Req (at once when its pipe
 *   closes, and after resendTime) and answered exactly once at the client.
 *   The Rep counts what it sees by body: requests whose reply died with the
 *   gateway are seen twice. That is REQ's at-least-once delivery, as in nng;
 *   the test reports how many.
 * - The upstream nngcat killed and restarted: the gateway redials (counted as
 *   dial failures meanwhile); the browsers' pipes never close, and no dial
 *   error reaches them; data resumes.
 * - The upstream frozen (SIGSTOP) while a browser per route has stopped
 *   reading: the gateway keeps its upstream pipe, queues stay within their
 *   bounds, and after SIGCONT each slow-consumer policy does what its name
 *   says, with exact drop counts.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pub, Rep, Req, Sub, silentLogger, type Message } from "@spwire/node";
import { freePort, startPeer, until, waitForPort, type Peer } from "../../../test-support/peers.js";
import { rawClient, type RawClient } from "../../../test-support/gateway.js";
import { metricIn, startGatewayProc, writeConfig, type GatewayProc } from "../../../test-support/gateway-proc.js";
import { publishProc, seqOf } from "../../../test-support/pub-proc.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function untilAsync(cond: () => Promise<boolean>, what: string, tries = 400, every = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await sleep(every);
  }
  throw new Error(`gave up waiting for: ${what}`);
}

/** Client sockets redial fast, so a restart is picked up within a fraction of a second. */
const CLIENT = { logger: silentLogger, reconnectMinTime: 50, reconnectMaxTime: 300 };

/** A temp directory for the YAML file, removed after the test; and a list of closers run last-first. */
function scope(t: TestContext): { dir: string; add: (fn: () => unknown) => void } {
  const dir = mkdtempSync(join(tmpdir(), "spwire-faults-"));
  const fns: Array<() => unknown> = [() => rmSync(dir, { recursive: true, force: true })];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return { dir, add: (fn) => fns.push(fn) };
}

/** Count a socket's pipe events. */
function events(s: Sub | Req): { add: number; remove: number; dialerror: number } {
  const e = { add: 0, remove: 0, dialerror: 0 };
  s.on("pipeadd", () => e.add++);
  s.on("piperemove", () => e.remove++);
  s.on("dialerror", () => e.dialerror++);
  return e;
}

/** Receive on `sub` until it is closed, counting. */
function counting(sub: Sub): { n: number } {
  const c = { n: 0 };
  void (async () => {
    for (;;) {
      try {
        await sub.recv();
      } catch {
        return; // ECLOSED: the test closed it
      }
      c.n++;
    }
  })();
  return c;
}

test("SIGKILL under load, restart on the same port: Subs resume, every outstanding request is resent and answered exactly once", async (t) => {
  const { dir, add } = scope(t);
  // Upstreams in this process: a Pub ticking, a Rep that answers each request with its body after 200 ms
  // (so requests are always in its hands when the gateway dies) and counts every request it sees by body.
  const pub = new Pub({ logger: silentLogger });
  const rep = new Rep({ logger: silentLogger });
  add(() => Promise.all([pub.close(), rep.close()]));
  const pubUrl = (await pub.listen("tcp://127.0.0.1:0")).url;
  const repUrl = (await rep.listen("tcp://127.0.0.1:0")).url;
  let tick = 0;
  const ticker = setInterval(() => void pub.send(`tick ${tick++}`), 5);
  add(() => clearInterval(ticker));
  const seenAtRep = new Map<string, number>();
  let repPending = 0;
  void (async () => {
    for (;;) {
      let m: Message;
      try {
        m = await rep.recv();
      } catch {
        return;
      }
      const body = m.text();
      seenAtRep.set(body, (seenAtRep.get(body) ?? 0) + 1);
      repPending++;
      setTimeout(() => {
        repPending--;
        // A reply whose gateway died goes nowhere: that request is resent and seen again.
        rep.reply(m, m.body).catch(() => undefined);
      }, 200);
    }
  })();

  const port = await freePort();
  const config = writeConfig(dir, {
    listen: `ws://127.0.0.1:${port}`,
    routes: [
      { path: "/feed", protocol: "sub", upstream: pubUrl },
      { path: "/rpc", protocol: "req", upstream: repUrl },
    ],
  });
  let gw: GatewayProc = await startGatewayProc(config);
  add(() => gw.kill());
  await untilAsync(async () => (await fetch(`${gw.http}/readyz`)).status === 200, "the gateway's upstreams");

  const subs = Array.from({ length: 3 }, () => new Sub(CLIENT));
  const reqs = Array.from({ length: 3 }, () => new Req({ ...CLIENT, resendTime: 2000 }));
  add(() => Promise.all([...subs, ...reqs].map((s) => s.close())));
  const subEvents = subs.map(events);
  const reqEvents = reqs.map(events);
  const got = subs.map(counting);
  for (const s of subs) {
    s.subscribe("tick ");
    await s.dial(`${gw.url}/feed`, { gateway: true });
  }
  for (const r of reqs) await r.dial(`${gw.url}/rpc`);

  // Each Req keeps 5 requests outstanding all the time, every body unique.
  let stop = false;
  const sent: string[] = [];
  const answered = new Map<string, number>();
  const failures: unknown[] = [];
  const loops = reqs.flatMap((r, ri) =>
    Array.from({ length: 5 }, (_, wi) =>
      (async () => {
        for (let i = 0; !stop; i++) {
          const body = `r${ri}.${wi}.${i}`;
          sent.push(body);
          try {
            const reply = await r.request(body, { timeout: 30_000 });
            if (reply.text() !== body) failures.push(new Error(`${body} got ${reply.text()}`));
            answered.set(body, (answered.get(body) ?? 0) + 1);
          } catch (err) {
            failures.push(err);
          }
        }
      })(),
    ),
  );
  add(async () => {
    stop = true;
    await Promise.allSettled(loops);
  });

  await until(() => got.every((g) => g.n >= 20) && answered.size >= 30 && repPending > 0, "traffic through the first gateway");
  gw.kill("SIGKILL");
  const outstandingAtKill = sent.length - answered.size;
  const pendingAtRep = repPending;
  assert.equal(await gw.exited, "SIGKILL");
  assert.ok(outstandingAtKill > 0, "requests were outstanding at the kill");
  await until(() => [...subEvents, ...reqEvents].every((e) => e.remove === 1), "every client sees its pipe go");
  const gotAtKill = got.map((g) => g.n);

  gw = await startGatewayProc(config);
  assert.equal(gw.url, `ws://127.0.0.1:${port}`);
  await until(() => [...subEvents, ...reqEvents].every((e) => e.add === 2), "every client redials the new gateway");
  await until(() => got.every((g, i) => g.n >= gotAtKill[i]! + 20), "every Sub receives again");
  const answeredAtRestart = answered.size;
  await until(() => answered.size >= answeredAtRestart + 30, "requests answered through the new gateway");
  stop = true;
  await Promise.all(loops);

  // At the client: every request answered, exactly once, with its own body.
  assert.deepEqual(failures, []);
  assert.equal(answered.size, sent.length);
  for (const body of sent) assert.equal(answered.get(body), 1, body);
  // At the Rep: every request seen at least once; the excess is the resends (at-least-once).
  let total = 0;
  for (const n of seenAtRep.values()) total += n;
  const unique = seenAtRep.size;
  const duplicates = total - unique;
  assert.equal(unique, sent.length, "every request reached the Rep");
  assert.ok(duplicates >= 0);
  assert.equal(total, unique + duplicates);
  t.diagnostic(`requests: ${sent.length}, outstanding at the kill: ${outstandingAtKill} (${pendingAtRep} of them in the Rep's hands)`);
  t.diagnostic(`seen at the Rep: ${total} = ${unique} unique + ${duplicates} duplicates`);

  // The new process counts the clients that came back and logs them.
  assert.equal(await gw.metric("connections_opened_total", { route: "/feed" }), subs.length);
  assert.equal(await gw.metric("connections_opened_total", { route: "/rpc" }), reqs.length);
  assert.equal(gw.lines().filter((l) => l.msg === "browser connected").length, subs.length + reqs.length);
  for (const e of [...subEvents, ...reqEvents]) assert.deepEqual({ add: e.add, remove: e.remove }, { add: 2, remove: 1 });
});

test("the upstream nngcat killed and restarted: the gateway redials; the browsers see no pipe event, no dial error, and receive again", async (t) => {
  const { dir, add } = scope(t);
  const peers: Peer[] = [];
  add(() => {
    for (const p of peers) p.kill();
  });
  const upPort = await freePort();
  const upstream = `tcp://127.0.0.1:${upPort}`;
  const nngcatPub = (): Peer => {
    const p = startPeer("nngcat", ["--pub0", "--listen", upstream, "--data", "cpu 1", "--interval", "1"]);
    peers.push(p);
    return p;
  };
  const first = nngcatPub();
  await waitForPort(upPort);
  const gw = await startGatewayProc(writeConfig(dir, { listen: "ws://127.0.0.1:0", routes: [{ path: "/feed", protocol: "sub", upstream }] }));
  add(() => gw.kill());
  await untilAsync(async () => (await gw.metric("upstream_pipes", { route: "/feed" })) === 1, "the gateway dials nngcat");

  const subs = Array.from({ length: 3 }, () => new Sub(CLIENT));
  add(() => Promise.all(subs.map((s) => s.close())));
  const ev = subs.map(events);
  const got = subs.map(counting);
  for (const s of subs) {
    s.subscribe("cpu");
    await s.dial(`${gw.url}/feed`, { gateway: true });
  }
  // nngcat publishes once a second.
  await until(() => got.every((g) => g.n >= 1), "a message from the first nngcat");

  first.child.kill("SIGKILL");
  await first.exited;
  await untilAsync(async () => (await gw.metric("upstream_pipes", { route: "/feed" })) === 0, "the gateway sees its upstream pipe go");
  assert.equal(await gw.metric("upstream_up", { route: "/feed" }), 0);
  assert.equal((await fetch(`${gw.http}/readyz`)).status, 503);
  // It keeps redialing while nothing listens, and counts each failure.
  await untilAsync(async () => (await gw.metric("upstream_dial_failures_total", { route: "/feed", code: "ECONNREFUSED" })) >= 2, "failed redials are counted");
  const gotWhileDown = got.map((g) => g.n);

  nngcatPub();
  await untilAsync(async () => (await gw.metric("upstream_pipes", { route: "/feed" })) === 1, "the gateway redials the new nngcat");
  await until(() => got.every((g, i) => g.n >= gotWhileDown[i]! + 1), "a message from the new nngcat");
  assert.equal((await fetch(`${gw.http}/readyz`)).status, 200);

  // The browsers noticed nothing but the pause.
  for (const e of ev) assert.deepEqual(e, { add: 1, remove: 0, dialerror: 0 });
  assert.equal(await gw.metric("connections_opened_total", { route: "/feed" }), 3);
  assert.equal(await gw.metric("connections_closed_total", { route: "/feed" }), 0);
  // The operator's view: the upstream pipe's end, the failed redials, in the log and the metrics.
  const lines = gw.lines();
  const lost = lines.find((l) => l.route === "/feed" && /^pipe \d+ to tcp:\/\/127\.0\.0\.1:\d+ closed/.test(l.msg));
  assert.ok(lost !== undefined, "the upstream pipe's end is logged");
  const upstreamErrors = await gw.metric("pipe_errors_total", { route: "/feed", side: "upstream", code: String(lost.code) });
  assert.equal(upstreamErrors, 1, `pipe_errors_total{side=upstream, code=${String(lost.code)}}`);
  const redial = lines.find((l) => l.route === "/feed" && l.code === "ECONNREFUSED" && /^dial tcp:\/\/.* failed, retrying/.test(l.msg));
  assert.ok(redial !== undefined, "a failed redial is logged");
  t.diagnostic(`upstream pipe end logged: ${JSON.stringify({ level: lost.level, code: lost.code, msg: lost.msg })}`);
  t.diagnostic(`redial logged: ${JSON.stringify({ level: redial.level, code: redial.code, attempt: redial.attempt, msg: redial.msg })}`);
});

const POLICIES = ["drop-new", "drop-old", "disconnect", "latest"] as const;
/** Messages published once every stalled browser's policy is at work. */
const AFTER = 400;
const SIZE = 1024;
const TOPICS = 5;
const QUEUE_MESSAGES = 10;
const QUEUE_BYTES = 64 * 1024;

test("upstream frozen (SIGSTOP) with a stalled browser per route: queues stay bounded, and drop-new, drop-old, disconnect, latest each drop as named", async (t) => {
  const { dir, add } = scope(t);
  const pubp = await publishProc("tcp://127.0.0.1:0");
  add(() => pubp.kill());
  const gw = await startGatewayProc(
    writeConfig(dir, {
      listen: "ws://127.0.0.1:0",
      routes: POLICIES.map((policy) => ({
        path: `/${policy}`,
        protocol: "sub",
        upstream: pubp.url,
        queue: { messages: QUEUE_MESSAGES, bytes: QUEUE_BYTES, socketBytes: 16 * 1024, policy },
      })),
    }),
  );
  add(() => gw.kill("SIGKILL"));
  await untilAsync(async () => (await fetch(`${gw.http}/readyz`)).status === 200, "every route dials the publisher");

  const raws: RawClient[] = [];
  add(() => {
    for (const r of raws) r.ws.terminate();
  });
  const slow = new Map<string, RawClient>();
  const fast = new Map<string, RawClient>();
  for (const p of POLICIES) {
    slow.set(p, rawClient(`${gw.url}/${p}`, "pub.sp.nanomsg.org"));
    fast.set(p, rawClient(`${gw.url}/${p}`, "pub.sp.nanomsg.org"));
  }
  raws.push(...slow.values(), ...fast.values());
  await Promise.all(raws.map((r) => r.opened));
  await untilAsync(async () => (await gw.metric("connections")) === 2 * POLICIES.length, "every browser connected");
  // The slow ones stop reading: their TCP sockets are paused.
  for (const s of slow.values()) s.ws.pause();

  const m = (name: string, labels: Record<string, string>): Promise<number> => gw.metric(name, labels);
  /** Queue gauges per route stay within two connections' bounds (the fast browser's queue is normally empty). */
  const checkBounds = async (): Promise<void> => {
    const text = await gw.metrics();
    for (const p of POLICIES) {
      const msgs = metricIn(text, "queue_messages", { route: `/${p}` });
      const bytes = metricIn(text, "queue_bytes", { route: `/${p}` });
      assert.ok(msgs <= 2 * QUEUE_MESSAGES, `${p}: queue_messages ${msgs}`);
      assert.ok(bytes <= 2 * QUEUE_BYTES, `${p}: queue_bytes ${bytes}`);
      if (p === "latest") assert.ok(msgs <= 2 * TOPICS, `latest: queue_messages ${msgs}`);
    }
  };
  const engaged = async (): Promise<boolean> =>
    (await m("queue_messages", { route: "/drop-new" })) >= QUEUE_MESSAGES &&
    (await m("queue_messages", { route: "/drop-old" })) >= QUEUE_MESSAGES &&
    (await m("drops_total", { route: "/disconnect", reason: "slow-consumer" })) > 0 &&
    (await m("queue_messages", { route: "/latest" })) >= TOPICS;

  let n = 0;
  while (!(await engaged())) {
    n = await pubp.send(16, SIZE, TOPICS);
    await checkBounds();
    assert.ok(n < 50_000, "the stalled browsers' queues never filled");
  }
  const fastAll = (count: number): boolean => [...fast.values()].every((f) => f.frames.length >= count);
  await until(() => fastAll(n), "the fast browsers have everything so far");

  // Freeze the upstream. The gateway keeps its pipes (a silent peer is not a dead one), nothing
  // arrives, nothing is closed, and the queues hold still within their bounds.
  pubp.kill("SIGSTOP");
  const sending = pubp.send(16, SIZE, TOPICS); // waits in the frozen process's stdin
  await sleep(1000);
  for (const p of POLICIES) {
    assert.equal(await m("upstream_pipes", { route: `/${p}` }), 1, `${p} keeps its upstream pipe`);
    // What an operator can see: the route's count of messages from its upstream stops rising.
    assert.equal(await m("upstream_messages_total", { route: `/${p}`, direction: "in" }), n, `${p}: upstream in count while frozen`);
    assert.equal(fast.get(p)!.frames.length, n, `${p}: nothing arrives from a frozen upstream`);
    assert.equal(fast.get(p)!.ws.readyState, fast.get(p)!.ws.OPEN);
  }
  assert.equal((await fetch(`${gw.http}/readyz`)).status, 200);
  await checkBounds();
  pubp.kill("SIGCONT");
  n = await sending;
  const target = n + AFTER;
  while (n < target) {
    n = await pubp.send(16, SIZE, TOPICS);
    await checkBounds();
  }
  assert.equal(pubp.drops(), 0, "the publisher itself dropped nothing");

  // Every fast browser got every message, in order.
  await until(() => fastAll(n), `the fast browsers get all ${n}`);
  for (const p of POLICIES) {
    assert.equal(await m("upstream_messages_total", { route: `/${p}`, direction: "in" }), n, `${p}: upstream in count`);
    assert.equal(await m("upstream_messages_total", { route: `/${p}`, direction: "out" }), 0, `${p}: a sub route sends nothing upstream`);
  }
  for (const f of fast.values()) {
    assert.equal(f.frames.length, n);
    f.frames.forEach((b, i) => assert.equal(seqOf(b), i));
  }
  const drops = async (p: string, reason: string): Promise<number> => m("drops_total", { route: `/${p}`, reason });

  // drop-new keeps the oldest: received is exactly 0..k-1, and received + queue-full == published.
  const dn = slow.get("drop-new")!;
  const dnDropped = await drops("drop-new", "queue-full");
  dn.ws.resume();
  await until(() => dn.frames.length + dnDropped >= n, "drop-new: the stalled browser catches up");
  await sleep(50);
  assert.equal(dn.frames.length + dnDropped, n);
  assert.deepEqual(
    dn.frames.map((f) => seqOf(f)),
    dn.frames.map((_, i) => i),
  );
  assert.equal(await m("drops_total", { route: "/drop-new" }), dnDropped, "no other kind of drop");

  // drop-old keeps the newest: increasing, ends with the last published, received + drop-old == published.
  const dold = slow.get("drop-old")!;
  const doDropped = await drops("drop-old", "drop-old");
  dold.ws.resume();
  await until(() => dold.frames.length + doDropped >= n, "drop-old: the stalled browser catches up");
  await sleep(50);
  assert.equal(dold.frames.length + doDropped, n);
  const doSeqs = dold.frames.map((f) => seqOf(f));
  for (let i = 1; i < doSeqs.length; i++) assert.ok(doSeqs[i]! > doSeqs[i - 1]!, `drop-old order at ${i}`);
  assert.deepEqual(doSeqs.slice(-QUEUE_MESSAGES), Array.from({ length: QUEUE_MESSAGES }, (_, i) => n - QUEUE_MESSAGES + i));
  assert.equal(await m("drops_total", { route: "/drop-old" }), doDropped, "no other kind of drop");

  // disconnect: closed with 4009 once its queue overflowed, counted once; the queue (10) and the overflowing message dropped.
  const dc = slow.get("disconnect")!;
  dc.ws.resume();
  assert.deepEqual(await dc.closed, { code: 4009, reason: "slow consumer" });
  assert.equal(await drops("disconnect", "slow-consumer"), QUEUE_MESSAGES + 1);
  assert.equal(await m("connections_closed_total", { route: "/disconnect", reason: "slow-consumer" }), 1);
  assert.deepEqual(
    dc.frames.map((f) => seqOf(f)),
    dc.frames.map((_, i) => i),
  );
  const slowLine = gw.lines().find((l) => l.msg === "slow consumer disconnected");
  assert.ok(slowLine !== undefined);
  assert.equal(slowLine.route, "/disconnect");
  assert.equal(slowLine.queued, QUEUE_MESSAGES);

  // latest: the newest value of every topic arrives; received + latest-replaced == published.
  const lt = slow.get("latest")!;
  const replaced = await drops("latest", "latest-replaced");
  lt.ws.resume();
  const newest = (): Map<number, number> => {
    const seen = new Map<number, number>();
    for (const f of lt.frames) seen.set(seqOf(f) % TOPICS, seqOf(f));
    return seen;
  };
  const last = new Map(Array.from({ length: TOPICS }, (_, i) => [(n - TOPICS + i) % TOPICS, n - TOPICS + i] as [number, number]));
  await until(() => [...last].every(([k, seq]) => newest().get(k) === seq), "latest: the newest value of every topic");
  await sleep(50);
  assert.deepEqual(newest(), last);
  assert.equal(lt.frames.length + replaced, n);
  assert.equal(await m("drops_total", { route: "/latest" }), replaced, "no other kind of drop");
  t.diagnostic(
    `published ${n}: drop-new got ${dn.frames.length} + ${dnDropped} queue-full; drop-old got ${dold.frames.length} + ${doDropped} drop-old; ` +
      `disconnect got ${dc.frames.length}, then 4009 with ${QUEUE_MESSAGES + 1} slow-consumer drops; latest got ${lt.frames.length} + ${replaced} latest-replaced`,
  );
});
