/**
 * trustProxy: which address a connection counts as (per-IP limit, logs).
 *
 * Without trustProxy the TCP peer is the client, whatever X-Forwarded-For
 * says, so no client can pick its own IP. With it, a connection from a
 * trusted proxy counts as the rightmost X-Forwarded-For address that is not
 * itself a trusted proxy. The configuration side (values, flags, messages),
 * the address rule on its own, and a real gateway's per-IP limit and log
 * lines with forwarded clients.
 */
import { test, before, after, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { Writable } from "node:stream";
import { pino } from "pino";
import { Pub } from "@spwire/node";
import type { Gateway, GatewayInput } from "@spwire/gateway";
import { ConfigError, parseArgs, resolveConfig } from "../src/config.js";
import { clientAddress, trustedProxies } from "../src/server.js";
import { metric, rawClient, startGateway, type RawClient } from "../../../test-support/gateway.js";
import { until } from "../../../test-support/peers.js";

const SUB_PROTOCOL = "pub.sp.nanomsg.org";

const minimal = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  listen: "ws://127.0.0.1:8080",
  routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555" }],
  ...over,
});

function issuesOf(input: unknown): string[] {
  try {
    resolveConfig(input, { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  assert.fail("expected a ConfigError");
}

// ---------------------------------------------------------------------------
// Configuration

test("trustProxy defaults to none", () => {
  assert.deepEqual(resolveConfig(minimal(), { env: {} }).trustProxy, []);
  assert.deepEqual(parseArgs(["--listen", "ws://127.0.0.1:8080", "--route", "/feed=sub@tcp://127.0.0.1:5555"], {}).config!.trustProxy, []);
});

test("trustProxy takes addresses and CIDR ranges, in their normal form; one string is a list of one", () => {
  const c = resolveConfig(minimal({ trustProxy: ["127.0.0.1", "::ffff:10.1.2.3", "10.0.0.0/8", "::1", "FD00::/8", "[::2]"] }), { env: {} });
  assert.deepEqual(c.trustProxy, ["127.0.0.1", "10.1.2.3", "10.0.0.0/8", "::1", "fd00::/8", "::2"]);
  assert.deepEqual(resolveConfig(minimal({ trustProxy: "192.168.0.1" }), { env: {} }).trustProxy, ["192.168.0.1"]);
});

test("--trust-proxy is repeatable", () => {
  const argv = ["--listen", "ws://127.0.0.1:8080", "--route", "/feed=sub@tcp://127.0.0.1:5555", "--trust-proxy", "127.0.0.1", "--trust-proxy", "10.0.0.0/8"];
  assert.deepEqual(parseArgs(argv, {}).config!.trustProxy, ["127.0.0.1", "10.0.0.0/8"]);
});

test("a trustProxy entry that is no address or range is refused, naming the entry", () => {
  assert.deepEqual(issuesOf(minimal({ trustProxy: ["localhost", "10.0.0.0/33", "1.2.3.4:80", "::1/129"] })), [
    'trustProxy[0]: expected an IP address or a CIDR range, e.g. 127.0.0.1, ::1 or 10.0.0.0/8 (got "localhost")',
    'trustProxy[1]: "10.0.0.0/33": a /33 prefix is longer than an IPv4 address',
    'trustProxy[2]: expected an IP address or a CIDR range, e.g. 127.0.0.1, ::1 or 10.0.0.0/8 (got "1.2.3.4:80")',
    'trustProxy[3]: "::1/129": a /129 prefix is longer than an IPv6 address',
  ]);
  assert.deepEqual(issuesOf(minimal({ trustProxy: 7 })), ["trustProxy: expected a list of proxy addresses"]);
});

// ---------------------------------------------------------------------------
// The rule, on its own: an upgrade request is only its peer address and headers here.

function req(peer: string, xff?: string | string[]): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { "x-forwarded-for": xff } } as unknown as IncomingMessage;
}

test("no trusted proxy: the TCP peer, whatever X-Forwarded-For says", () => {
  assert.deepEqual(clientAddress(req("127.0.0.1", "203.0.113.9"), trustedProxies([])), { ip: "127.0.0.1" });
  assert.deepEqual(clientAddress(req("::ffff:127.0.0.1", "203.0.113.9"), undefined), { ip: "127.0.0.1" });
});

test("an untrusted peer's X-Forwarded-For is ignored", () => {
  const trusted = trustedProxies(["10.0.0.1"]);
  assert.deepEqual(clientAddress(req("198.51.100.7", "203.0.113.9"), trusted), { ip: "198.51.100.7" });
  assert.deepEqual(clientAddress(req("198.51.100.7", "10.0.0.1"), trusted), { ip: "198.51.100.7" });
});

test("a trusted peer: the rightmost X-Forwarded-For address that is not a trusted proxy", () => {
  const trusted = trustedProxies(["10.0.0.1", "192.168.0.0/16"]);
  // The client's own claim (left) is passed over: the trusted proxy appended what it saw.
  assert.deepEqual(clientAddress(req("10.0.0.1", "1.1.1.1, 203.0.113.9"), trusted), { ip: "203.0.113.9", via: "10.0.0.1" });
  // Two trusted hops (an edge balancer in 192.168/16, then 10.0.0.1): the address before them.
  assert.deepEqual(clientAddress(req("10.0.0.1", "6.6.6.6, 203.0.113.9, 192.168.3.4"), trusted), { ip: "203.0.113.9", via: "10.0.0.1" });
  // Repeated headers are one list (node joins them).
  assert.deepEqual(clientAddress(req("10.0.0.1", ["6.6.6.6", "203.0.113.9"]), trusted), { ip: "203.0.113.9", via: "10.0.0.1" });
  assert.deepEqual(clientAddress(req("::ffff:10.0.0.1", " ::ffff:203.0.113.9 "), trusted), { ip: "203.0.113.9", via: "10.0.0.1" });
  assert.deepEqual(clientAddress(req("10.0.0.1", "2001:DB8::1"), trusted), { ip: "2001:db8::1", via: "10.0.0.1" });
  // Every hop trusted: the first one.
  assert.deepEqual(clientAddress(req("10.0.0.1", "192.168.1.1, 192.168.1.2"), trusted), { ip: "192.168.1.1", via: "10.0.0.1" });
});

test("a trusted peer without a usable X-Forwarded-For: the peer, or the last hop that reported an address", () => {
  const trusted = trustedProxies(["10.0.0.1", "192.168.0.0/16"]);
  assert.deepEqual(clientAddress(req("10.0.0.1"), trusted), { ip: "10.0.0.1" });
  assert.deepEqual(clientAddress(req("10.0.0.1", ""), trusted), { ip: "10.0.0.1" });
  assert.deepEqual(clientAddress(req("10.0.0.1", "203.0.113.9, not-an-ip"), trusted), { ip: "10.0.0.1" });
  assert.deepEqual(clientAddress(req("10.0.0.1", "203.0.113.9:5555"), trusted), { ip: "10.0.0.1" });
  assert.deepEqual(clientAddress(req("10.0.0.1", "junk, 192.168.1.1"), trusted), { ip: "192.168.1.1", via: "10.0.0.1" });
});

// ---------------------------------------------------------------------------
// A real gateway

let pub: Pub;
let upstream: string;
let ticker: ReturnType<typeof setInterval>;
before(async () => {
  pub = new Pub();
  upstream = (await pub.listen("tcp://127.0.0.1:0")).url;
  let n = 0;
  ticker = setInterval(() => void pub.send(`tick ${n++}`), 20);
});
after(async () => {
  clearInterval(ticker);
  await pub.close();
});

interface Logged {
  gw: Gateway;
  lines: Array<Record<string, unknown>>;
}

async function loggedGateway(t: TestContext, input: Omit<GatewayInput, "listen" | "routes">): Promise<Logged> {
  const lines: Logged["lines"] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const gw = await startGateway({ ...input, routes: [{ path: "/feed", protocol: "sub", upstream }] }, { logger: pino({ level: "info" }, sink) });
  t.after(() => gw.close());
  await until(() => gw.routes.get("/feed")!.up, "the upstream");
  return { gw, lines };
}

function client(t: TestContext, gw: Gateway, xff?: string): RawClient {
  const c = rawClient(`${gw.url}/feed`, SUB_PROTOCOL, xff === undefined ? {} : { "x-forwarded-for": xff });
  t.after(() => c.ws.terminate());
  return c;
}

async function receiving(c: RawClient): Promise<void> {
  await c.opened;
  const n = c.frames.length;
  await until(() => c.frames.length >= n + 2 || c.ws.readyState !== c.ws.OPEN, "two ticks");
  assert.equal(c.ws.readyState, c.ws.OPEN);
}

/** Closed at once with 4429 (a bounded wait: an accepted client fails here instead of hanging the file). */
async function refused(c: RawClient): Promise<void> {
  await c.opened;
  let got: { code: number; reason: string } | undefined;
  void c.closed.then((x) => (got = x));
  await until(() => got !== undefined, "the refusal's close frame");
  assert.deepEqual(got, { code: 4429, reason: "max-connections-ip" });
}

test("without trustProxy a spoofed X-Forwarded-For buys no extra connections: the peer is the client", async (t) => {
  const { gw, lines } = await loggedGateway(t, { limits: { maxConnectionsPerIp: 1 } });
  await receiving(client(t, gw, "203.0.113.1"));
  await refused(client(t, gw, "203.0.113.2"));
  await refused(client(t, gw));
  assert.equal(await metric(gw, "refusals_total", { route: "/feed", reason: "max-connections-ip" }), 2);
  const refusals = lines.filter((l) => l.reason === "max-connections-ip");
  assert.deepEqual(refusals.map((l) => [l.ip, l.via]), [["127.0.0.1", undefined], ["127.0.0.1", undefined]]);
  const connected = lines.filter((l) => l.msg === "browser connected");
  assert.equal(connected.length, 1);
  assert.match(String(connected[0]!.remote), /^ws:\/\/127\.0\.0\.1:\d+$/);
});

test("a trustProxy range that does not hold the peer: the header is ignored", async (t) => {
  const { gw } = await loggedGateway(t, { trustProxy: ["10.0.0.0/8"], limits: { maxConnectionsPerIp: 1 } });
  await receiving(client(t, gw, "203.0.113.1"));
  await refused(client(t, gw, "203.0.113.2"));
  assert.equal(await metric(gw, "refusals_total", { route: "/feed", reason: "max-connections-ip" }), 1);
});

test("behind a trusted proxy the per-IP limit holds per forwarded client, and logs name the client and the proxy", async (t) => {
  const { gw, lines } = await loggedGateway(t, { trustProxy: ["127.0.0.1"], limits: { maxConnectionsPerIp: 2 } });
  const a1 = client(t, gw, "203.0.113.1");
  const a2 = client(t, gw, "203.0.113.1");
  await Promise.all([receiving(a1), receiving(a2)]);
  // A third from the same client; then the same client claiming another address on the left: both its third.
  await refused(client(t, gw, "203.0.113.1"));
  await refused(client(t, gw, "198.51.100.50, 203.0.113.1"));
  // Other clients behind the same proxy have their own budgets.
  const b = client(t, gw, "203.0.113.2");
  const c6 = client(t, gw, "2001:db8::7");
  await Promise.all([receiving(b), receiving(c6)]);
  assert.equal(await metric(gw, "refusals_total", { route: "/feed", reason: "max-connections-ip" }), 2);
  const refusals = lines.filter((l) => l.reason === "max-connections-ip");
  assert.deepEqual(refusals.map((l) => [l.ip, l.via, l.code]), [
    ["203.0.113.1", "127.0.0.1", 4429],
    ["203.0.113.1", "127.0.0.1", 4429],
  ]);
  const connected = lines.filter((l) => l.msg === "browser connected").map((l) => [l.remote, l.via]);
  assert.deepEqual(connected.sort(), [
    ["ws://203.0.113.1", "127.0.0.1"],
    ["ws://203.0.113.1", "127.0.0.1"],
    ["ws://203.0.113.2", "127.0.0.1"],
    ["ws://[2001:db8::7]", "127.0.0.1"],
  ]);

  // Once one of the client's connections closes, it may open another.
  a1.ws.close();
  await a1.closed;
  await until(() => gw.routes.get("/feed")!.clients.size === 3, "the gateway saw it go");
  await receiving(client(t, gw, "203.0.113.1"));
  // The proxy's own connections (no header) count as the proxy: a bucket of their own.
  await receiving(client(t, gw));
  await receiving(client(t, gw));
  await refused(client(t, gw));
  assert.equal(await metric(gw, "refusals_total", { route: "/feed", reason: "max-connections-ip" }), 3);
});
