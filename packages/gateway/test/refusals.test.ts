/**
 * Every way the gateway turns a connection away, end to end on loopback:
 * each refusal must reach the client as its documented close code (types.ts
 * REFUSALS and CLOSE; HTTP 400 for a wrong subprotocol), be counted in
 * `refusals_total{route,reason}` (or `connections_closed_total` for an
 * accepted connection closed later), and be a JSON log line naming the reason.
 */
import { test, after, before, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket as NetSocket } from "node:net";
import { Writable } from "node:stream";
import { SignJWT } from "jose";
import { pino } from "pino";
import { WebSocket } from "ws";
import { Pub, Pull, Push, Sub, SPError, silentLogger, type Message } from "@spwire/node";
import type { Gateway, GatewayInput, GatewayOptions } from "@spwire/gateway";
import { metric, rawClient, startGateway, type RawClient } from "../../../test-support/gateway.js";
import { until } from "../../../test-support/peers.js";

const SUB_PROTOCOL = "pub.sp.nanomsg.org"; // a browser SUB offers the gateway's side: PUB
const PUSH_PROTOCOL = "pull.sp.nanomsg.org"; // a browser PUSH offers PULL
const APP = "https://app.example";
const SECRET = "refusals-test-secret-32-bytes-long!";
const enc = new TextEncoder();

/** A gateway whose pino logger writes JSON lines into memory. */
interface Logged {
  gw: Gateway;
  /** Every log line, parsed. */
  lines: Array<Record<string, unknown>>;
  /** Every log line as written. */
  text: string[];
}

async function loggedGateway(input: Omit<GatewayInput, "listen">, opts: GatewayOptions = {}): Promise<Logged> {
  const lines: Logged["lines"] = [];
  const text: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const l of String(chunk).split("\n")) {
        if (l === "") continue;
        text.push(l);
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  const gw = await startGateway(input, { ...opts, logger });
  return { gw, lines, text };
}

/** Wait (bounded) until a metric reaches `want`, then assert it is exactly that. */
async function metricReaches(gw: Gateway, name: string, labels: Record<string, string>, want: number): Promise<void> {
  let v = 0;
  for (let i = 0; i < 200 && (v = await metric(gw, name, labels)) < want; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(v, want, `${name} ${JSON.stringify(labels)}`);
}

/** Wait for a log line holding every field of `fields` (bounded). */
async function logLine(l: Logged, fields: Record<string, unknown>): Promise<Record<string, unknown>> {
  const match = (x: Record<string, unknown>): boolean => Object.entries(fields).every(([k, v]) => x[k] === v);
  await until(() => l.lines.some(match), `a log line with ${JSON.stringify(fields)}`);
  return l.lines.find(match)!;
}

/** The upstream feed: a Pub on tcp publishing "tick <n>" every 20 ms, for gateways to dial (opened in the `before` below). */
let feed: Pub;
let feedUrl: string;
let ticker: ReturnType<typeof setInterval>;

/** Closes everything a test opened, last first. */
function cleanup(t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => fns.push(fn);
}

function client(add: (fn: () => unknown) => void, url: string, protocol = SUB_PROTOCOL, headers: Record<string, string> = {}): RawClient {
  const c = rawClient(url, protocol, headers);
  add(() => c.ws.terminate());
  return c;
}

/** Opened, then closed by the gateway with `code` and the reason text `reason`. */
async function refusedWith(c: RawClient, code: number, reason: string): Promise<void> {
  await c.opened;
  assert.deepEqual(await c.closed, { code, reason });
  assert.equal(c.frames.length, 0, "a refused client gets no message");
}

/** Accepted: it stays open and receives the feed. */
async function receives(c: RawClient, what: string): Promise<void> {
  await c.opened;
  const n = c.frames.length;
  await until(() => c.frames.length >= n + 2 || c.ws.readyState !== c.ws.OPEN, `${what}: two ticks`);
  assert.equal(c.ws.readyState, c.ws.OPEN, `${what} is open`);
  assert.match(c.frames.at(-1)!.toString(), /^tick \d+$/);
}

function jwt(claims: Record<string, unknown>, secret = SECRET, exp: number | string = "10m"): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime(exp).sign(enc.encode(secret));
}

// ---------------------------------------------------------------------------
// One gateway with an origin allowlist, static tokens and HS256 JWTs.

let main: Logged;
before(async () => {
  feed = new Pub();
  feedUrl = (await feed.listen("tcp://127.0.0.1:0")).url;
  let n = 0;
  ticker = setInterval(() => void feed.send(`tick ${n++}`), 20);
  main = await loggedGateway({
    origins: [APP],
    auth: {
      tokens: [
        { token: "good-token", subject: "good", routes: ["/feed"] },
        { token: "old-token", subject: "old", routes: ["/feed"], expires: "2000-01-01T00:00:00Z" },
        { token: "other-token", subject: "other", routes: ["/other"] },
      ],
      jwt: { secret: SECRET },
    },
    routes: [
      { path: "/feed", protocol: "sub", upstream: feedUrl },
      { path: "/other", protocol: "sub", upstream: feedUrl },
    ],
  });
  await until(() => main.gw.routes.get("/feed")!.up, "the feed upstream");
});
after(async () => {
  await main?.gw.close();
  clearInterval(ticker);
  await feed?.close();
});

const feedUrlOf = (query = ""): string => `${main.gw.url}/feed${query}`;

test("wrong origin: 4405; an allowed origin and a client without Origin (not a browser) get through with a valid token", async (t) => {
  const add = cleanup(t);
  const evil = client(add, feedUrlOf("?token=good-token"), SUB_PROTOCOL, { origin: "https://evil.example" });
  await refusedWith(evil, 4405, "origin");
  // Origin is checked before the token: no token does not change the answer.
  const evilNoToken = client(add, feedUrlOf(), SUB_PROTOCOL, { origin: "https://evil.example" });
  await refusedWith(evilNoToken, 4405, "origin");
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "origin" }), 2);
  const line = await logLine(main, { reason: "origin", route: "/feed", code: 4405 });
  assert.equal(line.origin, "https://evil.example");

  // A browser from the allowed origin, the same origin written with its default port, and a Node client with no Origin.
  await receives(client(add, feedUrlOf("?token=good-token"), SUB_PROTOCOL, { origin: APP }), "allowed origin");
  await receives(client(add, feedUrlOf("?token=good-token"), SUB_PROTOCOL, { origin: "https://APP.example:443" }), "allowed origin, default port");
  await receives(client(add, feedUrlOf("?token=good-token")), "no Origin header");
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "origin" }), 2);
});

test("no token: 4401, with or without an (allowed) Origin; tokens hold back non-browser clients", async (t) => {
  const add = cleanup(t);
  await refusedWith(client(add, feedUrlOf()), 4401, "token-missing");
  await refusedWith(client(add, feedUrlOf(), SUB_PROTOCOL, { origin: APP }), 4401, "token-missing");
  await refusedWith(client(add, feedUrlOf("?token=")), 4401, "token-missing");
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "token-missing" }), 3);
  await logLine(main, { reason: "token-missing", code: 4401 });
});

test("invalid token: 4402 for an unknown static token and for a JWT signed with another secret; neither appears in the log", async (t) => {
  const add = cleanup(t);
  await refusedWith(client(add, feedUrlOf("?token=no-such-token")), 4402, "token-invalid");
  const forged = await jwt({ spwire: { routes: ["/feed"] } }, "some-other-secret-of-enough-length");
  await refusedWith(client(add, feedUrlOf(), SUB_PROTOCOL, { authorization: `Bearer ${forged}` }), 4402, "token-invalid");
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "token-invalid" }), 2);
  await logLine(main, { reason: "token-invalid", code: 4402 });
  assert.ok(main.text.every((l) => !l.includes("no-such-token") && !l.includes(forged)), "tokens never reach the log");
});

test("expired token: 4440 for a static token past its `expires` and for a JWT past its exp", async (t) => {
  const add = cleanup(t);
  await refusedWith(client(add, feedUrlOf("?token=old-token")), 4440, "token-expired");
  const stale = await jwt({ spwire: { routes: ["/feed"] } }, SECRET, Math.floor(Date.now() / 1000) - 60);
  await refusedWith(client(add, feedUrlOf(), SUB_PROTOCOL, { cookie: `spwire_token=${stale}` }), 4440, "token-expired");
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "token-expired" }), 2);
  await logLine(main, { reason: "token-expired", code: 4440 });
});

test("a token for another route: 4403 (static and JWT), while it opens its own route", async (t) => {
  const add = cleanup(t);
  await refusedWith(client(add, feedUrlOf("?token=other-token")), 4403, "route-forbidden");
  const elsewhere = await jwt({ spwire: { routes: ["/other"] } });
  await refusedWith(client(add, feedUrlOf(`?token=${elsewhere}`)), 4403, "route-forbidden");
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "route-forbidden" }), 2);
  await logLine(main, { reason: "route-forbidden", code: 4403 });
  await receives(client(add, `${main.gw.url}/other?token=other-token`), "other-token on /other");
});

test("unknown path with a valid subprotocol: 4404, counted with route \"\"", async (t) => {
  const add = cleanup(t);
  await refusedWith(client(add, `${main.gw.url}/nope?token=good-token`), 4404, "no-route");
  assert.equal(await metric(main.gw, "refusals_total", { route: "", reason: "no-route" }), 1);
  const line = await logLine(main, { reason: "no-route", code: 4404 });
  assert.equal(line.path, "/nope");
});

test("wrong subprotocol: HTTP 400 before any upgrade", async (t) => {
  const add = cleanup(t);
  const c = client(add, feedUrlOf("?token=good-token"), "sub.sp.nanomsg.org");
  await assert.rejects(c.opened, /HTTP 400/);
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "subprotocol" }), 1);
  const line = await logLine(main, { reason: "subprotocol", route: "/feed" });
  assert.equal(line.offered, "sub.sp.nanomsg.org");
});

test("malformed subscription query ?sub=%G1: 4400", async (t) => {
  const add = cleanup(t);
  await refusedWith(client(add, feedUrlOf("?sub=%G1&token=good-token")), 4400, "bad-request");
  assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "bad-request" }), 1);
  await logLine(main, { reason: "bad-request", code: 4400 });
  // The same client with a well-formed query is accepted.
  await receives(client(add, feedUrlOf("?sub=tick&token=good-token")), "?sub=tick");
});

// ---------------------------------------------------------------------------
// Limits

test("maxConnections 2: the third gets 4429; once one closes, a new one is accepted", async (t) => {
  const add = cleanup(t);
  const l = await loggedGateway({ limits: { maxConnections: 2 }, routes: [{ path: "/feed", protocol: "sub", upstream: feedUrl }] });
  add(() => l.gw.close());
  const url = `${l.gw.url}/feed`;
  const a = client(add, url);
  const b = client(add, url);
  await Promise.all([receives(a, "first"), receives(b, "second")]);
  await refusedWith(client(add, url), 4429, "max-connections");
  assert.equal(await metric(l.gw, "refusals_total", { route: "/feed", reason: "max-connections" }), 1);
  await logLine(l, { reason: "max-connections", code: 4429 });

  a.ws.close();
  await a.closed;
  await until(() => l.gw.routes.get("/feed")!.clients.size === 1, "the gateway saw the first one go");
  await receives(client(add, url), "a new one after a close");
  await receives(b, "second, still");
  assert.equal(await metric(l.gw, "refusals_total", { route: "/feed", reason: "max-connections" }), 1);
});

test("maxConnectionsPerIp 1: a second from 127.0.0.1 gets 4429 while the first stays open and keeps receiving", async (t) => {
  const add = cleanup(t);
  const l = await loggedGateway({ limits: { maxConnectionsPerIp: 1 }, routes: [{ path: "/feed", protocol: "sub", upstream: feedUrl }] });
  add(() => l.gw.close());
  const url = `${l.gw.url}/feed`;
  const first = client(add, url);
  await receives(first, "first");
  await refusedWith(client(add, url), 4429, "max-connections-ip");
  assert.equal(await metric(l.gw, "refusals_total", { route: "/feed", reason: "max-connections-ip" }), 1);
  const line = await logLine(l, { reason: "max-connections-ip", code: 4429 });
  assert.equal(line.ip, "127.0.0.1");
  await receives(first, "first, after the refusal");
});

// ---------------------------------------------------------------------------
// The authenticate hook

test("authenticate hook: its refusal gives its reason's code, a throw gives 1011, an Identity opens", async (t) => {
  const add = cleanup(t);
  const l = await loggedGateway(
    { routes: [{ path: "/feed", protocol: "sub", upstream: feedUrl }] },
    {
      authenticate: (_req, { token }) => {
        if (token === "boom") throw new Error("hook exploded");
        if (token === "ok") return { subject: "hooked", rights: { routes: ["/feed"], read: [""], publish: [] } };
        if (token === "elsewhere") return { subject: "hooked", rights: { routes: ["/other"], read: [""], publish: [] } };
        return { reason: "token-invalid", message: "not on the hook's list" };
      },
    },
  );
  add(() => l.gw.close());
  const url = (token: string): string => `${l.gw.url}/feed?token=${token}`;
  await refusedWith(client(add, url("nobody")), 4402, "token-invalid");
  await refusedWith(client(add, url("boom")), 1011, "auth-error");
  await refusedWith(client(add, url("elsewhere")), 4403, "route-forbidden");
  await refusedWith(client(add, `${l.gw.url}/feed`), 4402, "token-invalid"); // the hook decides even without a token
  await receives(client(add, url("ok")), "hook identity");
  assert.equal(await metric(l.gw, "refusals_total", { route: "/feed", reason: "token-invalid" }), 2);
  assert.equal(await metric(l.gw, "refusals_total", { route: "/feed", reason: "auth-error" }), 1);
  assert.equal(await metric(l.gw, "refusals_total", { route: "/feed", reason: "route-forbidden" }), 1);
  await logLine(l, { reason: "token-invalid", code: 4402 });
  const boom = await logLine(l, { reason: "auth-error", code: 1011 });
  assert.match(String(boom.msg), /hook exploded/);
});

// ---------------------------------------------------------------------------
// Accepted, then closed by the gateway

test("a message over the route's maxMessageSize: that client is closed 1009; others and new clients carry on", async (t) => {
  const add = cleanup(t);
  const upstream = new Pull();
  add(() => upstream.close());
  const got: string[] = [];
  const upUrl = (await upstream.listen("tcp://127.0.0.1:0")).url;
  void (async () => {
    for await (const m of upstream as AsyncIterable<Message>) got.push(m.text());
  })();
  const l = await loggedGateway({ routes: [{ path: "/jobs", protocol: "push", upstream: upUrl, maxMessageSize: 1024 }] });
  add(() => l.gw.close());
  await until(() => l.gw.routes.get("/jobs")!.up && upstream.pipes.length === 1, "the gateway dialed the upstream Pull");
  const url = `${l.gw.url}/jobs`;

  const good = new Push();
  add(() => good.close());
  await good.dial(url);
  await good.send("before");
  await until(() => got.length === 1, "the first job");

  const big = client(add, url, PUSH_PROTOCOL);
  await big.opened;
  big.ws.send(Buffer.alloc(2000, 0x61));
  assert.equal((await big.closed).code, 1009);

  await good.send("after");
  const late = new Push();
  add(() => late.close());
  await late.dial(url);
  await late.send("from a new client");
  await until(() => got.length === 3, "two more jobs");
  assert.deepEqual(got.sort(), ["after", "before", "from a new client"]);
  assert.equal(good.pipes.length, 1, "the other client is still connected");
  assert.equal(await metric(l.gw, "pipe_errors_total", { route: "/jobs", side: "client", code: "EMSGSIZE" }), 1);
  assert.equal(await metric(l.gw, "messages_total", { route: "/jobs", direction: "up" }), 3);
  // Closed for its bytes: counted as an error, not as a browser that left or dropped.
  await metricReaches(l.gw, "connections_closed_total", { route: "/jobs", reason: "error:EMSGSIZE" }, 1);
  assert.equal(await metric(l.gw, "connections_closed_total", { route: "/jobs" }), 1);
  await logLine(l, { msg: "browser disconnected", route: "/jobs", reason: "error:EMSGSIZE" });
});

test("upgrade deadline: half an HTTP request is dropped after limits.upgradeTimeout; a finished HTTP request is not", async (t) => {
  const add = cleanup(t);
  const l = await loggedGateway({ limits: { upgradeTimeout: 300 }, routes: [{ path: "/feed", protocol: "sub", upstream: feedUrl }] });
  add(() => l.gw.close());
  const port = Number(new URL(l.gw.url).port);
  const open = (): Promise<NetSocket> =>
    new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(s));
      s.once("error", reject);
      add(() => s.destroy());
    });

  // A keep-alive HTTP connection that finished a request is HTTP now: the deadline no longer applies.
  const http = await open();
  const answers: string[] = [];
  http.on("data", (b: Buffer) => answers.push(b.toString()));
  http.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n");
  await until(() => answers.join("").includes("\r\n\r\n"), "the /healthz answer");
  assert.match(answers.join(""), /^HTTP\/1\.1 200 /);

  const half = await open();
  let halfClosed = false;
  half.once("close", () => (halfClosed = true));
  half.write("GET /feed HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
  await until(() => halfClosed, "the gateway to drop the half request", 200, 25);
  assert.equal(await metric(l.gw, "refusals_total", { route: "", reason: "upgrade-timeout" }), 1);
  await logLine(l, { reason: "upgrade-timeout" });

  // The keep-alive connection outlived the same deadline and still answers.
  assert.equal(http.destroyed, false);
  answers.length = 0;
  http.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  await until(() => answers.join("").includes("\r\n\r\n"), "the second /healthz answer");
  assert.match(answers.join(""), /^HTTP\/1\.1 200 /);
  assert.equal(await metric(l.gw, "refusals_total", { route: "", reason: "upgrade-timeout" }), 1);
});

test("idle timeout: a client that never answers pings is closed 4008, one that does stays open", async (t) => {
  const add = cleanup(t);
  const l = await loggedGateway({ limits: { pingInterval: 100, idleTimeout: 300 }, routes: [{ path: "/feed", protocol: "sub", upstream: feedUrl }] });
  add(() => l.gw.close());
  const url = `${l.gw.url}/feed`;
  const alive = client(add, url);
  // A subscription nothing matches: the idle client gets no messages, only pings it does not answer.
  const silent = new WebSocket(`${url}?nosub`, SUB_PROTOCOL, { autoPong: false, perMessageDeflate: false });
  add(() => silent.terminate());
  let pings = 0;
  silent.on("ping", () => pings++);
  const silentClosed = new Promise<number>((resolve) => silent.once("close", (code: number) => resolve(code)));
  await Promise.all([alive.opened, new Promise((resolve) => silent.once("open", resolve))]);

  assert.equal(await silentClosed, 4008);
  assert.ok(pings >= 1, "the gateway pinged it");
  assert.equal(alive.ws.readyState, alive.ws.OPEN, "the client answering pings is still open");
  await receives(alive, "the client answering pings");
  await metricReaches(l.gw, "connections_closed_total", { route: "/feed", reason: "idle" }, 1);
  assert.equal(await metric(l.gw, "connections_closed_total", { route: "/feed" }), 1);
  await logLine(l, { msg: "browser idle: closed", route: "/feed" });
  await logLine(l, { msg: "browser disconnected", reason: "idle", code: 4008 });
});

test("a spwire Sub refused for its token sees ECONNREFUSED with the close code, and its redials back off", async () => {
  const before = await metric(main.gw, "refusals_total", { route: "/feed", reason: "token-missing" });
  const sub = new Sub({ logger: silentLogger, reconnectMinTime: 100, reconnectMaxTime: 10_000 });
  const errors: { error: SPError; retryIn: number }[] = [];
  sub.on("dialerror", (e) => errors.push(e));
  const d = sub.dial(feedUrlOf(), { gateway: true });
  try {
    for (let i = 1; i <= 3; i++) {
      await until(() => errors.length >= i, `refusal ${i}`);
      if (i < 3) d.redialNow(); // skip the wait; the wait it chose is what is checked
    }
    assert.deepEqual(errors.map((e) => e.error.code), ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"]);
    assert.equal((errors[0]!.error.cause as { code: number }).code, 4401);
    // Each wait is drawn from [d/2, d) with d doubling: 100, 200, 400 ms. A refusal never resets it.
    errors.forEach((e, i) => assert.ok(e.retryIn >= 50 * 2 ** i && e.retryIn < 100 * 2 ** i, `wait ${i + 1}: ${e.retryIn}`));
    assert.equal(await metric(main.gw, "refusals_total", { route: "/feed", reason: "token-missing" }), before + 3);
  } finally {
    await sub.close();
  }
});
