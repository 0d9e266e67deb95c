/**
 * Gateway-side topic filtering and rights, end to end: real upstream peers
 * (nngcat, spwire sockets on tcp), a real gateway on loopback, and browsers
 * played by spwire sockets and raw `ws` clients.
 *
 * Where the claim is "the gateway never sent it", the assertion is on what
 * crossed the WebSocket: raw clients record every binary frame, and spwire
 * Subs dial through a recording transport that logs every message their pipes
 * got, before the Sub's own local filter could hide anything.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { Pub, Pull, Push, Sub, nodeWsTransport, type Socket, type Transport, type TransportPipe } from "@spwire/node";
import type { Gateway } from "@spwire/gateway";
import { metric, rawClient, startGateway, type RawClient } from "../../../test-support/gateway.js";
import { freePort, startPeer, until, waitForPort } from "../../../test-support/peers.js";

const SUB_PROTOCOL = "pub.sp.nanomsg.org"; // what a browser SUB offers: the gateway's side is PUB

const enc = new TextEncoder();

/** Bytes as readable text for assertion messages: printable ASCII as is, the rest as \xNN. */
function show(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x >= 0x20 && x < 0x7f && x !== 0x5c ? String.fromCharCode(x) : `\\x${x.toString(16).padStart(2, "0")}`;
  return s;
}

function bytes(x: string | Uint8Array): Uint8Array {
  return typeof x === "string" ? enc.encode(x) : x;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/** Closes everything a test opened, last first, whether the test passed or not. */
function cleanup(t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => fns.push(fn);
}

/** Every message body a socket receives, in order, until it closes. */
function collect(s: Socket): Uint8Array[] {
  const got: Uint8Array[] = [];
  void (async () => {
    for await (const m of s) got.push(m.body.slice());
  })();
  return got;
}

/** One message as it crossed a WebSocket into a Sub: the query of the URL that pipe was dialed with, and the bytes. */
interface WireMessage {
  query: string;
  data: Uint8Array;
}

/**
 * Node's ws transport, recording every message its dialed pipes receive
 * (before any protocol sees it) with the dial URL's query.
 */
function recordingWs(wire: WireMessage[]): Transport {
  const inner = nodeWsTransport();
  return {
    schemes: inner.schemes,
    async dial(url, opts): Promise<TransportPipe> {
      const tp = await inner.dial(url, opts);
      const query = url.search;
      return {
        localAddress: tp.localAddress,
        remoteAddress: tp.remoteAddress,
        start: (h) =>
          tp.start({
            message: (data) => {
              wire.push({ query, data: data.slice() });
              h.message(data);
            },
            closed: (err) => h.closed(err),
            drain: () => h.drain(),
          }),
        write: (parts) => tp.write(parts),
        pause: () => tp.pause?.(),
        resume: () => tp.resume?.(),
        close: (err) => tp.close(err),
      };
    },
  };
}

/** A spwire Sub that records its wire traffic; subscribed before it dials. */
function recordedSub(subs: Array<string | Uint8Array>): { sub: Sub; wire: WireMessage[]; got: Uint8Array[] } {
  const wire: WireMessage[] = [];
  const sub = new Sub({ transports: [recordingWs(wire)], recvBuffer: 4096 });
  for (const s of subs) sub.subscribe(s);
  return { sub, wire, got: collect(sub) };
}

/** The route's front socket has `n` browser pipes (all of them are in the fan-out). */
async function browsersAttached(gw: Gateway, path: string, n: number): Promise<void> {
  const r = gw.routes.get(path)!;
  await until(() => r.clients.size === n && r.sockets!.front.pipes.length === n, `${n} browsers on ${path}`);
}

async function upstreamUp(gw: Gateway, path: string): Promise<void> {
  await until(() => gw.routes.get(path)!.up, `the upstream of ${path}`);
}

// ---------------------------------------------------------------------------

test("fan-out from nngcat: each browser gets only its subscriptions, and nothing else crosses its WebSocket", async (t) => {
  const add = cleanup(t);
  const port = await freePort();
  const nngcat = startPeer("nngcat", ["--pub0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "cpu.h1 42", "--interval", "1"]);
  add(() => nngcat.kill());
  await waitForPort(port);
  const gw = await startGateway({ routes: [{ path: "/feed", protocol: "sub", upstream: `tcp://127.0.0.1:${port}` }] });
  add(() => gw.close());
  const url = `${gw.url}/feed`;

  const cpu = recordedSub(["cpu."]);
  const cpuH1 = recordedSub(["cpu.h1"]);
  const mem = recordedSub(["mem."]);
  const none = recordedSub([]);
  const both = recordedSub(["mem.", "cpu."]);
  const plain = recordedSub(["cpu."]); // dials without gateway: true, so it filters locally
  const gatewaySubs = [cpu, cpuH1, mem, none, both];
  for (const s of [...gatewaySubs, plain]) add(() => s.sub.close());
  const dialers = gatewaySubs.map((s) => s.sub.dial(url, { gateway: true }));
  const plainDialer = plain.sub.dial(url);
  await Promise.all([...dialers, plainDialer]);
  const rawMem = rawClient(`${url}?sub=mem.`, SUB_PROTOCOL);
  const rawCpu = rawClient(`${url}?sub=cpu.`, SUB_PROTOCOL);
  add(() => rawMem.ws.terminate());
  add(() => rawCpu.ws.terminate());
  await Promise.all([rawMem.opened, rawCpu.opened]);
  // What each Sub told the gateway in its URL.
  assert.deepEqual(
    [...dialers, plainDialer].map((d) => new URL(d.currentUrl).search),
    ["?sub=cpu.", "?sub=cpu.h1", "?sub=mem.", "?nosub", "?sub=mem.&sub=cpu.", ""],
  );

  const matching = [cpu, cpuH1, both, plain];
  await until(() => matching.every((s) => s.got.length >= 5) && rawCpu.frames.length >= 5, "5 messages at each matching browser", 600, 25);
  const filteredBefore = await metric(gw, "filtered_total", { route: "/feed" });
  const seen = rawCpu.frames.length;
  await until(() => rawCpu.frames.length >= seen + 1, "one more message");
  const filteredAfter = await metric(gw, "filtered_total", { route: "/feed" });

  for (const s of matching) {
    for (const m of s.got) assert.equal(show(m), "cpu.h1 42");
  }
  for (const f of rawCpu.frames) assert.equal(show(f), "cpu.h1 42");
  // The Subs the gateway filters for: nothing but the matching message ever crossed their WebSocket.
  for (const s of [cpu, cpuH1, both]) {
    assert.ok(s.wire.length >= s.got.length);
    for (const w of s.wire) assert.equal(show(w.data), "cpu.h1 42");
  }
  assert.equal(mem.got.length, 0, "mem. Sub received nothing");
  assert.equal(none.got.length, 0, "a Sub without subscriptions received nothing");
  assert.equal(mem.wire.length, 0, "not one frame reached the mem. Sub");
  assert.equal(none.wire.length, 0, "not one frame reached the Sub without subscriptions");
  assert.equal(rawMem.frames.length, 0, "not one frame reached the ?sub=mem. client");
  assert.ok(rawCpu.frames.length >= 6);
  // Per message, the mem. Sub, the nosub Sub and the ?sub=mem. client are each one filtered message.
  assert.ok(filteredAfter >= filteredBefore + 3, `filtered_total grew from ${filteredBefore} to ${filteredAfter}`);
  assert.ok(filteredBefore >= 3, `filtered_total was ${filteredBefore} after 5 messages`);
  // The plain Sub got every message from the gateway (it declared nothing) and kept the cpu. ones.
  assert.ok(plain.wire.length >= 5);
  assert.ok(plain.wire.every((w) => w.query === ""));
  assert.equal(mem.sub.stats.msgsIn, 0);
});

/** A spwire Pub listening on a free loopback tcp port (the upstream the gateway dials). */
async function upstreamPub(add: (fn: () => unknown) => void): Promise<{ pub: Pub; url: string }> {
  const pub = new Pub();
  add(() => pub.close());
  const l = await pub.listen("tcp://127.0.0.1:0");
  return { pub, url: l.url };
}

test("deterministic fan-out: each browser gets exactly the ordered messages its subscriptions select", async (t) => {
  const add = cleanup(t);
  const { pub, url: upstream } = await upstreamPub(add);
  const gw = await startGateway({ routes: [{ path: "/feed", protocol: "sub", upstream }] });
  add(() => gw.close());
  await upstreamUp(gw, "/feed");
  const url = `${gw.url}/feed`;

  // 200 messages over cpu.*, mem.*, net.*, alerts.*, a binary topic 00 ff, near misses and empty bodies.
  const BIN = Uint8Array.of(0x00, 0xff);
  const topics: Array<string | Uint8Array> = [
    "cpu.h1 ",
    "cpu.h2 ",
    "mem.h1 ",
    "mem.swap ",
    "net.eth0 ",
    "net.lo ",
    "alerts.disk ",
    "alerts.cpu ",
    Uint8Array.of(0x00, 0xff, 0x01),
    Uint8Array.of(0x00, 0xfe), // one byte off the binary prefix
    "cpux ", // "cpu" without the dot
    "memo ",
    "",
  ];
  const msgs: Uint8Array[] = [];
  let seed = 7;
  for (let i = 0; i < 200; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const topic = bytes(topics[seed % topics.length]!);
    const body = topic.length === 0 ? topic : Uint8Array.from([...topic, ...enc.encode(String(i))]);
    msgs.push(body);
  }
  for (const s of ["cpu.end", "mem.end", "net.end", "alerts.end"]) msgs.push(enc.encode(s));
  msgs.push(Uint8Array.from([...BIN, ...enc.encode("end")]));

  const cases: Array<{ name: string; subs: Array<string | Uint8Array> | undefined }> = [
    { name: "cpu.", subs: ["cpu."] },
    { name: "mem. + alerts.", subs: ["mem.", "alerts."] },
    { name: "everything (empty prefix)", subs: [""] },
    { name: "binary 00 ff", subs: [BIN] },
    { name: "net.eth0 + cpu.h2", subs: ["net.eth0", "cpu.h2"] },
    { name: "cpu. + cpu.h1 (overlapping)", subs: ["cpu.", "cpu.h1"] },
  ];
  const subs = cases.map((c) => ({ ...c, ...recordedSub(c.subs!) }));
  for (const s of subs) add(() => s.sub.close());
  await Promise.all(subs.map((s) => s.sub.dial(url, { gateway: true })));
  // Raw clients: one with a percent-encoded binary prefix next to a text one, one with no query (everything).
  const rawBin = rawClient(`${url}?sub=%00%FF&sub=alerts.`, SUB_PROTOCOL);
  const rawAll = rawClient(url, SUB_PROTOCOL);
  const raws = [
    { name: "raw ?sub=%00%FF&sub=alerts.", client: rawBin, subs: [BIN, "alerts."] as Array<string | Uint8Array> | undefined },
    { name: "raw, no query", client: rawAll, subs: undefined },
  ];
  for (const r of raws) add(() => r.client.ws.terminate());
  await Promise.all(raws.map((r) => r.client.opened));
  await browsersAttached(gw, "/feed", subs.length + raws.length);

  const expected = (sel: Array<string | Uint8Array> | undefined): string[] =>
    msgs.filter((m) => sel === undefined || sel.some((p) => startsWith(m, bytes(p)))).map(show);
  // One burst: more small messages than SUB's default queue of 128 arrive in one read at the gateway's back socket.
  for (const m of msgs) await pub.send(m);
  for (const s of subs) await until(() => s.got.length >= expected(s.subs).length, `${s.name}: all its messages`);
  for (const r of raws) await until(() => r.client.frames.length >= expected(r.subs).length, `${r.name}: all its messages`);

  assert.equal(pub.stats.drops, 0, "the upstream Pub dropped nothing");
  for (const s of subs) {
    assert.deepEqual(s.got.map(show), expected(s.subs), `${s.name}: delivered`);
    assert.deepEqual(s.wire.map((w) => show(w.data)), expected(s.subs), `${s.name}: on its WebSocket`);
  }
  for (const r of raws) assert.deepEqual(r.client.frames.map(show), expected(r.subs), `${r.name}: frames`);
  // The sets are what the test means them to be (a test that selects nothing proves nothing).
  assert.deepEqual(
    [...subs, ...raws].map((s) => expected(s.subs).length > 5 && expected(s.subs).length < msgs.length),
    [true, true, false, true, true, true, true, false],
  );
  assert.ok(expected([""]).includes(""), "the sequence holds empty messages");

  // The gateway's own account: every message left for each browser its filter kept, and was counted filtered for the others.
  const all8 = [...subs.map((s) => s.subs), ...raws.map((r) => r.subs)];
  const down = all8.reduce((n, sel) => n + expected(sel).length, 0);
  const filtered = all8.reduce((n, sel) => n + msgs.length - expected(sel).length, 0);
  assert.equal(await metric(gw, "messages_total", { route: "/feed", direction: "down" }), down);
  assert.equal(await metric(gw, "filtered_total", { route: "/feed" }), filtered);
});

test("subscription change: after each subscribe/unsubscribe the gateway sends a gateway Sub only its new set", async (t) => {
  const add = cleanup(t);
  const { pub, url: upstream } = await upstreamPub(add);
  const gw = await startGateway({ routes: [{ path: "/feed", protocol: "sub", upstream }] });
  add(() => gw.close());
  await upstreamUp(gw, "/feed");

  // The upstream publishes cpu., mem. and net. round-robin until the test ends.
  let n = 0;
  let publishing = true;
  const publisher = (async () => {
    while (publishing) {
      const i = n++;
      await pub.send(`${["cpu.", "mem.", "net."][i % 3]}${i}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  add(async () => {
    publishing = false;
    await publisher;
  });

  const wire: WireMessage[] = [];
  const sub = new Sub({ transports: [recordingWs(wire)], recvBuffer: 4096 });
  add(() => sub.close());
  // Every delivered message with the subscriptions the application had when it got it.
  let current: string[] = ["cpu."];
  const delivered: Array<{ body: string; set: string[] }> = [];
  void (async () => {
    for await (const m of sub) delivered.push({ body: m.text(), set: current });
  })();
  const count = (prefix: string, query: string): number => wire.filter((w) => w.query === query && show(w.data).startsWith(prefix)).length;

  sub.subscribe("cpu.");
  const d = sub.dial(`${gw.url}/feed`, { gateway: true });
  await d;
  assert.equal(new URL(d.currentUrl).search, "?sub=cpu.");
  await until(() => count("cpu.", "?sub=cpu.") >= 5, "5 cpu. messages");

  current = ["cpu.", "mem."];
  sub.subscribe("mem.");
  await until(() => count("mem.", "?sub=cpu.&sub=mem.") >= 5 && count("cpu.", "?sub=cpu.&sub=mem.") >= 5, "cpu. and mem. after subscribing mem.");
  assert.equal(new URL(d.currentUrl).search, "?sub=cpu.&sub=mem.");

  current = ["mem."];
  sub.unsubscribe("cpu.");
  await until(() => count("mem.", "?sub=mem.") >= 5, "mem. after unsubscribing cpu.");
  assert.equal(new URL(d.currentUrl).search, "?sub=mem.");
  const receivedMem = delivered.filter((m) => m.set.length === 1).length;
  await until(() => delivered.filter((m) => m.set.length === 1).length >= receivedMem + 1, "one more delivery");

  // Each connection carried only the set it was dialed with (three connections, one per set).
  const queries = [...new Set(wire.map((w) => w.query))];
  assert.deepEqual(queries, ["?sub=cpu.", "?sub=cpu.&sub=mem.", "?sub=mem."]);
  const allowed: Record<string, string[]> = { "?sub=cpu.": ["cpu."], "?sub=cpu.&sub=mem.": ["cpu.", "mem."], "?sub=mem.": ["mem."] };
  for (const w of wire) {
    const body = show(w.data);
    assert.ok(allowed[w.query]!.some((p) => body.startsWith(p)), `${body} crossed the connection dialed with ${w.query}`);
  }
  assert.equal(count("net.", "?sub=cpu.") + count("net.", "?sub=cpu.&sub=mem.") + count("net.", "?sub=mem."), 0);
  // What the application got always belonged to its set at that moment.
  for (const m of delivered) assert.ok(m.set.some((p) => m.body.startsWith(p)), `${m.body} delivered while subscribed to ${m.set.join(",")}`);
  assert.ok(delivered.some((m) => m.body.startsWith("mem.") && m.set.length === 1));
});

// ---------------------------------------------------------------------------
// Rights

/** Read rights: whatever a client subscribes to, only "public." messages reach it. */
async function checkReadRights(gw: Gateway, pub: Pub, token: string, add: (fn: () => unknown) => void): Promise<void> {
  const url = `${gw.url}/feed`;
  const queries = ["", "?sub=", "?sub=p", "?sub=pri", "?sub=private.", "?sub=public."];
  const clients: Array<{ query: string; c: RawClient }> = queries.map((q) => ({
    query: q,
    c: rawClient(`${url}${q === "" ? "?" : `${q}&`}token=${encodeURIComponent(token)}`, SUB_PROTOCOL),
  }));
  // A browser cannot set headers; a Node client may: the same rights through Authorization: Bearer.
  const bearer = rawClient(`${url}?sub=`, SUB_PROTOCOL, { authorization: `Bearer ${token}` });
  clients.push({ query: "?sub= (bearer)", c: bearer });
  for (const { c } of clients) add(() => c.ws.terminate());
  await Promise.all(clients.map(({ c }) => c.opened));
  await browsersAttached(gw, "/feed", clients.length);

  const rounds = 10;
  const sent: string[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const m of [`public.x${i}`, `private.y${i}`, "publicity", "pub", "", `private.public.z${i}`]) sent.push(m);
  }
  sent.push("public.end");
  for (const m of sent) await pub.send(m);
  const publicOnes = sent.filter((m) => m.startsWith("public."));
  assert.equal(publicOnes.length, rounds + 1);

  const receives = (q: string): boolean => !q.startsWith("?sub=pri");
  for (const { query, c } of clients) {
    if (receives(query)) await until(() => c.frames.length >= publicOnes.length, `${query || "no query"}: the public messages`);
  }
  for (const { query, c } of clients) {
    const got = c.frames.map(show);
    for (const f of got) assert.ok(f.startsWith("public."), `${query || "no query"} got ${JSON.stringify(f)}`);
    assert.deepEqual(got, receives(query) ? publicOnes : [], `${query || "no query"}`);
    assert.equal(c.ws.readyState, c.ws.OPEN);
  }
  // Once the last message reached the receiving clients, the gateway had filtered every other one for every client.
  const expectedFiltered = clients.reduce((k, { query }) => k + sent.length - (receives(query) ? publicOnes.length : 0), 0);
  assert.equal(await metric(gw, "filtered_total", { route: "/feed" }), expectedFiltered);
}

test("read rights (static token): every query gets only public. messages, however it subscribes", async (t) => {
  const add = cleanup(t);
  const { pub, url: upstream } = await upstreamPub(add);
  const gw = await startGateway({
    auth: { tokens: [{ token: "reader-token", subject: "reader", routes: ["/feed"], read: ["public."] }] },
    routes: [{ path: "/feed", protocol: "sub", upstream }],
  });
  add(() => gw.close());
  await upstreamUp(gw, "/feed");
  await checkReadRights(gw, pub, "reader-token", add);
});

test("read rights (HS256 JWT from auth.jwt.secret): only public. messages", async (t) => {
  const add = cleanup(t);
  const { pub, url: upstream } = await upstreamPub(add);
  const secret = "a-test-secret-of-thirty-two-bytes!";
  const gw = await startGateway({
    auth: { jwt: { secret } },
    routes: [{ path: "/feed", protocol: "sub", upstream }],
  });
  add(() => gw.close());
  await upstreamUp(gw, "/feed");
  const jwt = await new SignJWT({ spwire: { routes: ["/feed"], read: ["public."] } })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("hs-reader")
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(enc.encode(secret));
  await checkReadRights(gw, pub, jwt, add);
});

test("read rights (ES256 JWT verified against a JWKS file): only public. messages", async (t) => {
  const add = cleanup(t);
  const dir = mkdtempSync(join(tmpdir(), "spwire-jwks-"));
  add(() => rmSync(dir, { recursive: true, force: true }));
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const jwksFile = join(dir, "jwks.json");
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const { pub, url: upstream } = await upstreamPub(add);
  const gw = await startGateway({
    auth: { jwt: { jwksFile, algorithms: ["ES256"] } },
    routes: [{ path: "/feed", protocol: "sub", upstream }],
  });
  add(() => gw.close());
  await upstreamUp(gw, "/feed");
  const jwt = await new SignJWT({ spwire: { routes: ["/feed"], read: ["public."] } })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setSubject("es-reader")
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(privateKey);
  await checkReadRights(gw, pub, jwt, add);
});

test("publish rights: a browser Pub's messages outside its publish prefixes never reach the upstream", async (t) => {
  const add = cleanup(t);
  // Browser PUB -> gateway front raw SUB -> back raw PUB, which dials the upstream SUB listening here.
  const upstreamSub = new Sub();
  add(() => upstreamSub.close());
  upstreamSub.subscribe("");
  const l = await upstreamSub.listen("tcp://127.0.0.1:0");
  const got = collect(upstreamSub);
  const gw = await startGateway({
    auth: { tokens: [{ token: "writer-token", subject: "writer", routes: ["/publish"], publish: ["public."] }] },
    routes: [{ path: "/publish", protocol: "pub", upstream: l.url }],
  });
  add(() => gw.close());
  await upstreamUp(gw, "/publish");
  await until(() => upstreamSub.pipes.length === 1, "the gateway dialed the upstream Sub");

  const browser = new Pub();
  add(() => browser.close());
  await browser.dial(`${gw.url}/publish?token=writer-token`);
  await browsersAttached(gw, "/publish", 1);
  for (const m of ["public.1", "private.2", "public.3"]) await browser.send(m);

  await until(() => got.length >= 2, "two messages upstream");
  // private.2 was sent between the two, so had it passed it would have arrived before public.3.
  assert.deepEqual(got.map(show), ["public.1", "public.3"]);
  assert.equal(await metric(gw, "drops_total", { route: "/publish", reason: "publish-denied" }), 1);
  assert.equal(await metric(gw, "messages_total", { route: "/publish", direction: "up" }), 2);
});

test("rate limit: of a 50-message burst the upstream gets the burst allowance, and every other one is counted rate-limit", async (t) => {
  const add = cleanup(t);
  // Browser PUSH -> gateway front raw PULL -> back raw PUSH, which dials the upstream PULL listening here.
  const upstreamPull = new Pull();
  add(() => upstreamPull.close());
  const l = await upstreamPull.listen("tcp://127.0.0.1:0");
  const got = collect(upstreamPull);
  const gw = await startGateway({
    routes: [{ path: "/jobs", protocol: "push", upstream: l.url, rateLimit: { messages: 5, burst: 5 } }],
  });
  add(() => gw.close());
  await upstreamUp(gw, "/jobs");
  await until(() => upstreamPull.pipes.length === 1, "the gateway dialed the upstream Pull");

  const browser = new Push();
  add(() => browser.close());
  await browser.dial(`${gw.url}/jobs`);
  await browsersAttached(gw, "/jobs", 1);
  await Promise.all(Array.from({ length: 50 }, (_, i) => browser.send(`job ${i}`)));

  const dropped = (): Promise<number> => metric(gw, "drops_total", { route: "/jobs", reason: "rate-limit" });
  let d = 0;
  for (let i = 0; i < 400 && (d = await dropped()) + got.length < 50; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(d + got.length, 50, `${d} dropped + ${got.length} delivered`);
  // 5 at once, plus what the bucket refilled (5/s) while the burst was in flight: a few at most.
  assert.ok(got.length >= 5 && got.length <= 8, `${got.length} delivered`);
  // In the order sent: the first ones pass, later ones pass only as the bucket refills.
  assert.deepEqual(got.slice(0, 5).map(show), ["job 0", "job 1", "job 2", "job 3", "job 4"]);
  assert.equal(await metric(gw, "messages_total", { route: "/jobs", direction: "up" }), got.length);
});
