/**
 * Security properties of the gateway that the refusal and filtering tests do
 * not already pin, each against a real gateway on loopback:
 *
 * - The per-IP connection limit holds under a burst of simultaneous upgrades
 *   whose token checks are asynchronous (JWTs), across routes, per source
 *   address; refused token checks and closed connections give their slots back.
 * - No client input makes the gateway open a connection anywhere: queries,
 *   paths, Host and forwarding headers, subprotocols, absolute-form and
 *   CONNECT requests, message bodies naming addresses. A bait listener never
 *   gets a connection, no dial fails, and a per-connection route's dials all
 *   land on its configured upstream.
 * - Read rights under every subscription a client can ask for, generated with
 *   fast-check: a token that may read `public.` never receives one byte of
 *   any other message, whatever its query (prefix tricks, the empty prefix,
 *   binary prefixes, malformed queries).
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket as NetSocket } from "node:net";
import fc from "fast-check";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { Pub, Rep, parseSubQuery } from "@spwire/node";
import type { Gateway } from "@spwire/gateway";
import { metric, rawClient, startGateway, type RawClient } from "../../../test-support/gateway.js";
import { until } from "../../../test-support/peers.js";

const SUB_PROTOCOL = "pub.sp.nanomsg.org";
const REQ_PROTOCOL = "rep.sp.nanomsg.org"; // a browser REQ offers the gateway's side: REP
const SECRET = "security-test-secret-of-32-bytes!!";
const enc = new TextEncoder();

/** Closes everything a test opened, last first. */
function cleanup(t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => fns.push(fn);
}

async function upstreamPub(add: (fn: () => unknown) => void, tickEvery?: number): Promise<{ pub: Pub; url: string }> {
  const pub = new Pub();
  add(() => pub.close());
  const url = (await pub.listen("tcp://127.0.0.1:0")).url;
  if (tickEvery !== undefined) {
    let n = 0;
    const timer = setInterval(() => void pub.send(`tick ${n++}`), tickEvery);
    add(() => clearInterval(timer)); // cleanups run last first: the ticker stops before the Pub closes
  }
  return { pub, url };
}

function clientsOn(gw: Gateway): number {
  let n = 0;
  for (const r of gw.routes.values()) n += r.clients.size;
  return n;
}

/** How a client ended up: still open, or closed with a code. */
function outcome(c: RawClient): { closed?: number } {
  const o: { closed?: number } = {};
  void c.closed.then(({ code }) => (o.closed = code));
  return o;
}

// ---------------------------------------------------------------------------
// Per-IP limits

test("per-IP limit: a burst of 40 simultaneous upgrades with JWTs over two routes opens exactly the limit; other addresses and freed slots are served", async (t) => {
  const add = cleanup(t);
  const { url: upstream } = await upstreamPub(add, 20);
  const gw = await startGateway({
    limits: { maxConnectionsPerIp: 5 },
    auth: { jwt: { secret: SECRET } },
    routes: [
      { path: "/a", protocol: "sub", upstream },
      { path: "/b", protocol: "sub", upstream },
    ],
  });
  add(() => gw.close());
  const token = await new SignJWT({ spwire: { routes: ["/a", "/b"] } })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(enc.encode(SECRET));
  const open = (path: string, tok = token): RawClient => {
    const c = rawClient(`${gw.url}${path}?token=${tok}`, SUB_PROTOCOL);
    add(() => c.ws.terminate());
    return c;
  };

  // 30 bad tokens at once: all refused for the token, and none keeps a slot.
  const bad = Array.from({ length: 30 }, (_, i) => open(i % 2 === 0 ? "/a" : "/b", `${token}x`));
  const badCodes = await Promise.all(bad.map(async (c) => (await c.closed).code));
  assert.deepEqual(new Set(badCodes), new Set([4402]));

  // 40 valid ones at once: the slot is taken before the (asynchronous) JWT check, so the burst cannot overshoot.
  const burst = Array.from({ length: 40 }, (_, i) => open(i % 2 === 0 ? "/a" : "/b"));
  const outs = burst.map(outcome);
  await until(() => outs.filter((o) => o.closed !== undefined).length + clientsOn(gw) === 40, "every upgrade decided", 800);
  assert.equal(clientsOn(gw), 5);
  assert.deepEqual(
    outs.filter((o) => o.closed !== undefined).map((o) => o.closed),
    Array.from({ length: 35 }, () => 4429),
  );
  const refusedIp = (await metric(gw, "refusals_total", { route: "/a", reason: "max-connections-ip" })) + (await metric(gw, "refusals_total", { route: "/b", reason: "max-connections-ip" }));
  assert.equal(refusedIp, 35);

  // Another source address has its own budget.
  const other = new WebSocket(`${gw.url}/a?token=${token}`, SUB_PROTOCOL, { localAddress: "127.0.0.2", perMessageDeflate: false });
  add(() => other.terminate());
  other.on("error", () => undefined);
  let otherFrames = 0;
  other.on("message", () => otherFrames++);
  await until(() => otherFrames >= 2, "127.0.0.2 receiving");
  assert.equal(clientsOn(gw), 6);

  // Closed connections (clean or dropped) give their slots back: five new ones open, the sixth is refused.
  const accepted = burst.filter((_, i) => outs[i]!.closed === undefined);
  accepted.forEach((c, i) => (i % 2 === 0 ? c.ws.close() : c.ws.terminate()));
  await until(() => clientsOn(gw) === 1, "the five gone at the gateway");
  const again = Array.from({ length: 5 }, (_, i) => open(i % 2 === 0 ? "/a" : "/b"));
  await Promise.all(again.map((c) => c.opened));
  await until(() => clientsOn(gw) === 6, "five new ones accepted");
  const sixth = open("/b");
  assert.equal((await sixth.closed).code, 4429);
  assert.ok(again.every((c) => c.ws.readyState === c.ws.OPEN));
});

// ---------------------------------------------------------------------------
// No client-controlled dialing

/** A TCP listener that counts every connection it gets (and holds none). */
async function bait(add: (fn: () => unknown) => void): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const sockets = new Set<NetSocket>();
  const s: Server = createServer((sock) => {
    hits++;
    sockets.add(sock);
    sock.on("error", () => undefined);
    sock.destroy();
  });
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  add(() => new Promise<void>((resolve) => s.close(() => resolve())));
  const addr = s.address();
  return { port: typeof addr === "object" && addr !== null ? addr.port : 0, hits: () => hits };
}

/** Send raw bytes to the gateway and collect what it answers until it closes (bounded). */
async function rawHttp(port: number, text: string, add: (fn: () => unknown) => void): Promise<string> {
  const s = connect(port, "127.0.0.1");
  add(() => s.destroy());
  let got = "";
  let closed = false;
  s.on("data", (b: Buffer) => (got += b.toString("latin1")));
  s.on("error", () => undefined);
  s.on("close", () => (closed = true));
  s.write(text);
  await until(() => closed || got.includes("\r\n\r\n"), "an answer or a close");
  s.destroy();
  return got;
}

test("no client input makes the gateway dial: hostile queries, paths, headers, subprotocols, proxy requests and bodies reach no bait listener", async (t) => {
  const add = cleanup(t);
  const b1 = await bait(add);
  const b2 = await bait(add);
  const baitAddrs = [`127.0.0.1:${b1.port}`, `127.0.0.1:${b2.port}`];
  const { url: feed } = await upstreamPub(add, 20);
  // A per-connection route dials once per browser: the place where a client could most hope to steer a dial.
  // A Rep upstream takes any number of pipes and counts them.
  const repUp = new Rep();
  add(() => repUp.close());
  let upstreamPipes = 0;
  repUp.on("pipeadd", () => upstreamPipes++);
  const repUrl = (await repUp.listen("tcp://127.0.0.1:0")).url;
  const got: string[] = [];
  void (async () => {
    for await (const m of repUp) got.push(m.text());
  })();
  const gw = await startGateway({
    routes: [
      { path: "/feed", protocol: "sub", upstream: feed },
      { path: "/rpc", protocol: "req", upstream: repUrl, mode: "per-connection" },
    ],
  });
  add(() => gw.close());
  await until(() => gw.routes.get("/feed")!.up, "the feed upstream");
  const port = Number(new URL(gw.url).port);
  const host = `127.0.0.1:${port}`;

  const queries = baitAddrs.flatMap((a) => [
    `?upstream=tcp://${a}`,
    `?url=ws://${a}/feed&dial=tcp://${a}`,
    `?sub=tcp://${a}`,
    `?listen=tcp://${a}&upstreamMode=dial`,
    `?redirect=http://${a}/`,
  ]);
  const paths = baitAddrs.flatMap((a) => [`/tcp://${a}`, `//${a}/feed`, `/feed/../tcp:/${a}`, `/ws://${a}/rpc`, `/${encodeURIComponent(`tcp://${a}`)}`]);
  const headerSets = baitAddrs.flatMap((a): Array<Record<string, string>> => [
    { host: a },
    { "x-forwarded-host": a, "x-forwarded-port": a.split(":")[1]! },
    { forwarded: `for=127.0.0.1;host=${a};proto=ws` },
    { "x-forwarded-for": a, "x-real-ip": a },
    { origin: `http://${a}`, referer: `http://${a}/` },
    { "x-upstream": `tcp://${a}`, "x-original-url": `/tcp://${a}` },
  ]);
  // Not valid subprotocol tokens, so no WebSocket client sends them: they go as raw upgrade requests below.
  const protocols = baitAddrs.flatMap((a) => [`${REQ_PROTOCOL}, tcp://${a}`, `tcp://${a}`, `ws://${a}, ${REQ_PROTOCOL}`]);

  // Accepted clients on /rpc, each sending messages that name the bait addresses.
  const rpcClients: RawClient[] = [];
  const tryClient = (url: string, protocol: string, headers: Record<string, string> = {}): RawClient => {
    const c = rawClient(url, protocol, headers);
    add(() => c.ws.terminate());
    return c;
  };
  const attempts: RawClient[] = [];
  for (const q of queries) {
    attempts.push(tryClient(`${gw.url}/feed${q}`, SUB_PROTOCOL));
    const p = tryClient(`${gw.url}/rpc${q}`, REQ_PROTOCOL);
    attempts.push(p);
    rpcClients.push(p);
  }
  for (const p of paths) attempts.push(tryClient(`ws://${host}${p}`, REQ_PROTOCOL));
  for (const h of headerSets) {
    attempts.push(tryClient(`${gw.url}/feed`, SUB_PROTOCOL, h));
    const p = tryClient(`${gw.url}/rpc`, REQ_PROTOCOL, h);
    attempts.push(p);
    rpcClients.push(p);
  }
  // Every attempt settles: opened (and maybe refused after) or failed at HTTP.
  await Promise.all(attempts.map((c) => c.opened.catch(() => undefined)));
  await Promise.all(rpcClients.map((c) => c.opened));
  // A request is a 4-byte id (top bit set), then the body: bodies that name addresses are data, nothing more.
  const asked: string[] = [];
  rpcClients.forEach((c, i) =>
    baitAddrs.forEach((a, j) => {
      const body = `tcp://${a} ws://${a}/x ${i}.${j}`;
      asked.push(body);
      c.ws.send(Buffer.concat([Buffer.from([0x80, 0, i, j]), Buffer.from(body)]));
    }),
  );

  // Raw HTTP: subprotocol lists naming addresses, a proxy request in absolute form, CONNECT, an upgrade whose target is another host.
  const upgrade = (target: string, hostHeader: string, protocol: string): string =>
    `GET ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`;
  const answers: string[] = [];
  for (const proto of protocols) answers.push(await rawHttp(port, upgrade("/rpc", host, proto), add));
  for (const a of baitAddrs) {
    answers.push(await rawHttp(port, `GET http://${a}/feed HTTP/1.1\r\nHost: ${a}\r\n\r\n`, add));
    answers.push(await rawHttp(port, `CONNECT ${a} HTTP/1.1\r\nHost: ${a}\r\n\r\n`, add));
    answers.push(await rawHttp(port, upgrade(`ws://${a}/rpc`, a, REQ_PROTOCOL), add));
    answers.push(await rawHttp(port, upgrade(`http://${a}/rpc`, a, REQ_PROTOCOL), add));
  }
  for (const ans of answers) assert.doesNotMatch(ans, /^HTTP\/1\.1 200/, "nothing is proxied or tunnelled");
  // Absolute-form targets are read for their path (RFC 9112 says a server must accept them): an upgrade to "ws://<bait>/rpc"
  // is an upgrade to /rpc here, and dials /rpc's configured upstream, never the named host.
  const rawUpgrades = answers.filter((a) => a.startsWith("HTTP/1.1 101")).length;

  // Each accepted /rpc client got its dial, to the configured upstream (a raw upgrade that hung up at once may have
  // closed its bridge before the dial finished).
  assert.ok(rpcClients.every((c) => c.ws.readyState === c.ws.OPEN), "every /rpc client was accepted (hostile extras are ignored, not obeyed)");
  await until(() => upstreamPipes >= rpcClients.length, `${rpcClients.length} dials at the configured upstream`);
  assert.ok(upstreamPipes <= rpcClients.length + rawUpgrades, `${upstreamPipes} upstream pipes for ${rpcClients.length} + ${rawUpgrades} clients`);
  // The requests themselves reached that upstream as data.
  await until(() => got.length === asked.length, "every request at the upstream Rep");
  assert.deepEqual([...got].sort(), [...asked].sort());
  assert.equal(b1.hits() + b2.hits(), 0, "the bait listeners never got a connection");
  assert.equal(await metric(gw, "upstream_dial_failures_total"), 0, "no dial attempt failed anywhere");
  assert.equal(await metric(gw, "upstream_pipes", { route: "/feed" }), 1);
});

// ---------------------------------------------------------------------------
// Read rights under every subscription (generated)

/** A prefix as a client might ask for it: near misses around public./private., the empty prefix, arbitrary bytes. */
const prefixArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom("", "p", "pu", "pub", "public", "public.", "public.a", "publicx", "pri", "priv", "private", "private.", "private.a", "P", "PUBLIC.", "\u0000", "#").map((s) => enc.encode(s)),
  fc.uint8Array({ maxLength: 9 }),
  fc.tuple(fc.constantFrom("", "p", "public.", "private.", "public", "private"), fc.uint8Array({ maxLength: 3 })).map(([a, b]) => Uint8Array.from([...enc.encode(a), ...b])),
);

/** What a client asks for: no query, a well-formed list (empty = ?nosub), or a raw query string, possibly malformed. */
type Ask = { kind: "none" } | { kind: "list"; subs: Uint8Array[] } | { kind: "raw"; query: string };
const askArb: fc.Arbitrary<Ask> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Ask>({ kind: "none" }) },
  { weight: 6, arbitrary: fc.array(prefixArb, { maxLength: 4 }).map<Ask>((subs) => ({ kind: "list", subs })) },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.constantFrom("sub=", "sub", "nosub", "&", "%", "%7", "%70", "%00", "%ff", "public.", "private.", "pri", "p", "=", "+", "sub=%", "x=1"), { maxLength: 8 })
      .map<Ask>((parts) => ({ kind: "raw", query: parts.join("") })),
  },
);

const hex = (b: number): string => `%${b.toString(16).padStart(2, "0").toUpperCase()}`;

function queryOf(ask: Ask, token: string): string {
  const tok = `token=${token}`;
  switch (ask.kind) {
    case "none":
      return `?${tok}`;
    case "list":
      return ask.subs.length === 0 ? `?nosub&${tok}` : `?${ask.subs.map((s) => `sub=${[...s].map(hex).join("")}`).join("&")}&${tok}`;
    case "raw":
      return `?${tok}&${ask.query}`;
  }
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

const PUBLIC = enc.encode("public.");
/** Topics the upstream publishes each round: the readable ones, and everything that is almost one of them. */
const TOPICS: Uint8Array[] = [
  "public.a",
  "public.",
  "public.private.x",
  "public",
  "publicx",
  "Public.a",
  "private.a",
  "private.",
  "private",
  "priv",
  "p",
  "",
  "\u0000public.",
  " public.a",
].map((s) => enc.encode(s));

test("read rights hold under every subscription a client can ask for (fast-check): a public. reader never receives a byte of anything else", { timeout: 150_000 }, async (t) => {
  const add = cleanup(t);
  const { pub, url: upstream } = await upstreamPub(add);
  const gw = await startGateway({
    auth: { tokens: [{ token: "reader", subject: "reader", routes: ["/feed"], read: ["public."] }] },
    routes: [{ path: "/feed", protocol: "sub", upstream }],
  });
  add(() => gw.close());
  const route = gw.routes.get("/feed")!;
  await until(() => route.up, "the upstream");
  let round = 0;

  await fc.assert(
    fc.asyncProperty(fc.array(askArb, { minLength: 10, maxLength: 20 }), async (asks) => {
      round++;
      const clients = asks.map((ask) => {
        let declared: Uint8Array[] | undefined;
        let malformed = false;
        try {
          declared = ask.kind === "list" ? ask.subs : ask.kind === "raw" ? parseSubQuery(`?${ask.query}`) : undefined;
        } catch {
          malformed = true;
        }
        return { ask, declared, malformed, c: rawClient(`${gw.url}/feed${queryOf(ask, "reader")}`, SUB_PROTOCOL) };
      });
      try {
        await Promise.all(clients.map((x) => x.c.opened));
        const accepted = clients.filter((x) => !x.malformed);
        // A malformed query is refused 4400 and gets nothing; every other query is accepted.
        for (const x of clients.filter((y) => y.malformed)) assert.deepEqual(await x.c.closed, { code: 4400, reason: "bad-request" });
        await until(() => route.clients.size === accepted.length && route.sockets!.front.pipes.length === accepted.length, "the clients attached");

        const down0 = await metric(gw, "messages_total", { route: "/feed", direction: "down" });
        const filtered0 = await metric(gw, "filtered_total", { route: "/feed" });
        const sent = TOPICS.map((tp) => Uint8Array.from([...tp, ...enc.encode(`#${round}`)]));
        for (const m of sent) await pub.send(m);
        // Every (message, client) pair decided: written or filtered.
        const decisions = sent.length * accepted.length;
        for (let i = 0; i < 800; i++) {
          const d = (await metric(gw, "messages_total", { route: "/feed", direction: "down" })) - down0 + (await metric(gw, "filtered_total", { route: "/feed" })) - filtered0;
          if (d >= decisions) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        const expected = (x: (typeof clients)[number]): Buffer[] =>
          sent.filter((m) => startsWith(m, PUBLIC) && (x.declared === undefined || x.declared.some((p) => startsWith(m, p)))).map((m) => Buffer.from(m));
        await until(() => accepted.every((x) => x.c.frames.length >= expected(x).length), "the expected frames");
        for (const x of clients) {
          for (const f of x.c.frames) assert.ok(startsWith(f, PUBLIC), `${queryOf(x.ask, "reader")} received ${JSON.stringify(f.toString("latin1"))}`);
          assert.deepEqual(x.c.frames, x.malformed ? [] : expected(x), queryOf(x.ask, "reader"));
        }
      } finally {
        for (const x of clients) x.c.ws.terminate();
        await until(() => route.clients.size === 0, "the clients gone");
      }
    }),
    { numRuns: 25 },
  );
});
