/**
 * Every browser protocol works as a gateway route, against real upstreams
 * (part two: pair1, pair0 and bus; per-connection routes; the gateway
 * listening for its upstream; upstreams over ipc, tls+tcp and ws; a wss
 * gateway; many routes on one port and what GET /routes shows of them).
 *
 * Clients are spwire Node sockets dialing the gateway over ws(s); upstreams
 * are nngcat (nng 1.5.2) or spwire sockets. Assertions are on bytes, counts
 * and pipe numbers; every wait is bounded.
 *
 * An nngcat pair0/pair1 upstream runs without --interval: its send waits for
 * a peer, and nngcat 1.5.2 subtracts that wait from the interval for its
 * receive timeout; a wait longer than the interval (the gateway dials only
 * once a client comes, which on a loaded machine took over a second) makes
 * the timeout negative and nngcat exits 1 ("Cannot set recv timeout: Invalid
 * argument") right after that first send. Without --interval it sends once,
 * when the first peer is there, and then prints whatever comes, until killed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus, Pair0, Pair1, Pub, Pull, Push, Rep, Req, Sub } from "@spwire/node";
import { createTestCerts } from "../../../test-support/certs.js";
import { httpUrl, metric } from "../../../test-support/gateway.js";
import { until, waitForPort } from "../../../test-support/peers.js";
import { SOCKET_OPTS, answerAll, scope, take, tcpAddress, upstreamPipes, type Scope } from "./routes-support.js";

test("pair1 route: a client Pair1 and nngcat --pair1 upstream exchange messages both ways", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  const nng = s.nngcat(["--pair1", "--listen", url, "--data", "from-nng", "--ascii"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/pair", protocol: "pair1", upstream: url }] });
  assert.equal(gw.config.routes[0]!.mode, "per-connection", "pair routes are per-connection by default");
  const c = s.socket(new Pair1(SOCKET_OPTS));
  await c.dial(`${gw.url}/pair`);
  const m = await c.recv({ timeout: 5000 });
  assert.equal(m.text(), "from-nng");
  await c.send("from-client");
  await until(() => nng.stdout().toString().includes("from-client"), "nngcat printed the client's message");
});

test("pair1 route: each client gets its own upstream pipe, opened with it and closed with it", async (t) => {
  const s = scope(t);
  const up = s.socket(new Pair1(SOCKET_OPTS));
  const l = await up.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/pair", protocol: "pair1", upstream: l.url }] });
  const route = gw.routes.get("/pair")!;
  // Per-connection: no client, no upstream pipe.
  assert.equal(route.upstreamPipes, 0);
  assert.equal(up.stats.pipesOpened, 0);

  const c1 = s.socket(new Pair1(SOCKET_OPTS));
  await c1.dial(`${gw.url}/pair`);
  await until(() => up.pipes.length === 1, "the first client's upstream pipe");
  await c1.send("c1 up");
  assert.equal((await up.recv({ timeout: 5000 })).text(), "c1 up");
  await up.send("c1 down");
  assert.equal((await c1.recv({ timeout: 5000 })).text(), "c1 down");

  await c1.close();
  await until(() => up.pipes.length === 0, "the upstream pipe closed with its client");
  assert.equal(up.stats.pipesClosed, 1);
  assert.equal(route.upstreamPipes, 0);

  const c2 = s.socket(new Pair1(SOCKET_OPTS));
  await c2.dial(`${gw.url}/pair`);
  // Sent at once, most likely before the gateway's new upstream pipe is up: it waits for it, as a pair send does.
  await c2.send("c2 up");
  assert.equal((await up.recv({ timeout: 5000 })).text(), "c2 up");
  assert.equal(up.pipes.length, 1);
  assert.equal(up.stats.pipesOpened, 2, "a new upstream pipe, not the first one reused");
  await up.send("c2 down");
  assert.equal((await c2.recv({ timeout: 5000 })).text(), "c2 down");
});

test("per-connection bus route: two clients hold two upstream pipes at once, and a closed client's pipe goes", async (t) => {
  const s = scope(t);
  const up = s.socket(new Bus(SOCKET_OPTS));
  const l = await up.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/bus", protocol: "bus", upstream: l.url, mode: "per-connection" }] });
  const route = gw.routes.get("/bus")!;
  const c1 = s.socket(new Bus(SOCKET_OPTS));
  const c2 = s.socket(new Bus(SOCKET_OPTS));
  await Promise.all([c1.dial(`${gw.url}/bus`), c2.dial(`${gw.url}/bus`)]);
  await until(() => up.pipes.length === 2, "two upstream pipes");
  assert.equal(route.upstreamPipes, 2);
  // The upstream bus sends on both pipes; each client gets it once, through its own pipe.
  await up.send("to all");
  assert.deepEqual(await take(c1, 1), ["to all"]);
  assert.deepEqual(await take(c2, 1), ["to all"]);
  await c1.send("from c1");
  assert.equal((await up.recv({ timeout: 5000 })).text(), "from c1");

  await c1.close();
  await until(() => up.pipes.length === 1, "c1's upstream pipe closed");
  assert.equal(route.upstreamPipes, 1);
  await c2.send("from c2");
  assert.equal((await up.recv({ timeout: 5000 })).text(), "from c2");
});

test("pair0 route: nngcat --pair0 upstream talks with one client, then with the next on a new pipe", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  // nngcat sends "hi" once, to its first peer (see the file comment), and prints everything it gets.
  const nng = s.nngcat(["--pair0", "--listen", url, "--data", "hi", "--ascii"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/p0", protocol: "pair0", upstream: url }] });
  const route = gw.routes.get("/p0")!;
  for (const name of ["one", "two"]) {
    const c = s.socket(new Pair0(SOCKET_OPTS));
    await c.dial(`${gw.url}/p0`);
    await upstreamPipes(gw, "/p0", 1);
    if (name === "one") assert.equal((await c.recv({ timeout: 5000 })).text(), "hi");
    // A pair0 nngcat takes a second peer only once the first pipe is gone: this message
    // reaching it proves the gateway closed the old upstream pipe and dialed a new one.
    await c.send(`from-${name}`);
    await until(() => nng.stdout().toString().includes(`from-${name}`), `nngcat printed client ${name}'s message`);
    await c.close();
    await until(() => route.upstreamPipes === 0, "the upstream pipe closed with its client");
  }
  assert.equal(nng.stdout().toString(), "from-onefrom-two", "nngcat got each client's message once, and nothing else");
});

test("bus route: a client Bus and nngcat --bus0 upstream hear each other", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  const nng = s.nngcat(["--bus0", "--listen", url, "--data", "from-nng", "--interval", "1", "--ascii"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/bus", protocol: "bus", upstream: url }] });
  assert.equal(gw.config.routes[0]!.mode, "shared");
  await upstreamPipes(gw, "/bus", 1);
  const c = s.socket(new Bus(SOCKET_OPTS));
  await c.dial(`${gw.url}/bus`);
  assert.equal((await c.recv({ timeout: 5000 })).text(), "from-nng");
  await c.send("from-client");
  await until(() => nng.stdout().toString().includes("from-client"), "nngcat printed the client's message");
});

test("upstream listen mode: a backend Rep dials the gateway's upstream address and answers a client Req", async (t) => {
  const s = scope(t);
  const { url } = await tcpAddress();
  const gw = await s.gateway({ routes: [{ path: "/rpc", protocol: "req", upstream: url, upstreamMode: "listen" }] });
  const req = s.socket(new Req(SOCKET_OPTS));
  await req.dial(`${gw.url}/rpc`);
  // Asked before any backend is there: the request waits in the gateway until one dials in.
  const early = req.request("early", { timeout: 5000 });
  assert.equal(gw.routes.get("/rpc")!.upstreamPipes, 0);
  const rep = s.socket(new Rep(SOCKET_OPTS));
  rep.dial(url);
  answerAll(rep, (m) => `backend:${m.text()}`);
  assert.equal((await early).text(), "backend:early");
  await upstreamPipes(gw, "/rpc", 1);
  assert.equal((await req.request("hello", { timeout: 5000 })).text(), "backend:hello");
});

/** A req route to `upstream` answered by an echo Rep already listening there; one request through it. */
async function echoThrough(s: Scope, route: { upstream: string; upstreamTls?: { ca: string } }, rep: Rep): Promise<void> {
  answerAll(rep, (m) => `echo:${m.text()}`);
  const gw = await s.gateway({ routes: [{ path: "/rpc", protocol: "req", ...route }] });
  await upstreamPipes(gw, "/rpc", 1);
  const req = s.socket(new Req(SOCKET_OPTS));
  await req.dial(`${gw.url}/rpc`);
  assert.equal((await req.request("over the wire", { timeout: 5000 })).text(), "echo:over the wire");
}

test("upstream over ipc://", async (t) => {
  const s = scope(t);
  const dir = mkdtempSync(join(tmpdir(), "spwire-routes-"));
  s.defer(() => rmSync(dir, { recursive: true, force: true }));
  const rep = s.socket(new Rep(SOCKET_OPTS));
  const l = await rep.listen(`ipc://${join(dir, "rep.sock")}`);
  await echoThrough(s, { upstream: l.url }, rep);
});

test("upstream over tls+tcp:// verified against upstreamTls.ca", async (t) => {
  const s = scope(t);
  const certs = createTestCerts();
  s.defer(() => certs.remove());
  const rep = s.socket(new Rep(SOCKET_OPTS));
  const l = await rep.listen("tls+tcp://127.0.0.1:0", { cert: certs.server.cert, key: certs.server.key });
  assert.match(l.url, /^tls\+tcp:\/\/127\.0\.0\.1:\d+$/);
  await echoThrough(s, { upstream: l.url, upstreamTls: { ca: certs.ca.cert } }, rep);
});

test("upstream over tls+tcp:// with the wrong CA never connects", async (t) => {
  const s = scope(t);
  const certs = createTestCerts();
  s.defer(() => certs.remove());
  const rep = s.socket(new Rep(SOCKET_OPTS));
  const l = await rep.listen("tls+tcp://127.0.0.1:0", { cert: certs.server.cert, key: certs.server.key });
  const gw = await s.gateway({ routes: [{ path: "/rpc", protocol: "req", upstream: l.url, upstreamTls: { ca: certs.selfSigned.cert } }] });
  const back = gw.routes.get("/rpc")!.sockets!.back;
  await until(() => back.stats.reconnects >= 2, "two failed upstream dials");
  assert.equal(back.pipes.length, 0);
  assert.equal(rep.pipes.length, 0);
});

test("upstream over ws://", async (t) => {
  const s = scope(t);
  const rep = s.socket(new Rep(SOCKET_OPTS));
  const l = await rep.listen("ws://127.0.0.1:0/backend");
  await echoThrough(s, { upstream: l.url }, rep);
});

test("the gateway on wss://: a client that trusts the CA gets through to the upstream", async (t) => {
  const s = scope(t);
  const certs = createTestCerts();
  s.defer(() => certs.remove());
  const rep = s.socket(new Rep(SOCKET_OPTS));
  const l = await rep.listen("tcp://127.0.0.1:0");
  answerAll(rep, (m) => `secure:${m.text()}`);
  const gw = await s.gateway({
    listen: "wss://127.0.0.1:0",
    tls: { cert: certs.server.cert, key: certs.server.key },
    routes: [{ path: "/rpc", protocol: "req", upstream: l.url }],
  });
  assert.match(gw.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  await upstreamPipes(gw, "/rpc", 1);
  const req = s.socket(new Req(SOCKET_OPTS));
  await req.dial(`${gw.url}/rpc`, { ca: certs.ca.cert });
  assert.equal((await req.request("hi", { timeout: 5000 })).text(), "secure:hi");
});

test("many routes on one port work at once, and GET /routes lists them without upstream addresses", async (t) => {
  const s = scope(t);
  const pub = s.socket(new Pub(SOCKET_OPTS));
  const pubL = await pub.listen("tcp://127.0.0.1:0");
  const rep = s.socket(new Rep(SOCKET_OPTS));
  const repL = await rep.listen("tcp://127.0.0.1:0");
  answerAll(rep, (m) => `re:${m.text()}`);
  const pull = s.socket(new Pull(SOCKET_OPTS));
  const pullL = await pull.listen("tcp://127.0.0.1:0");
  const pairL = await s.socket(new Pair1(SOCKET_OPTS)).listen("tcp://127.0.0.1:0");
  const upstreams = [pubL.url, repL.url, pullL.url, pairL.url];
  const gw = await s.gateway({
    routes: [
      { path: "/feed", protocol: "sub", upstream: pubL.url },
      { path: "/rpc", protocol: "req", upstream: repL.url },
      { path: "/in", protocol: "push", upstream: pullL.url },
      { path: "/pair", protocol: "pair1", upstream: pairL.url },
    ],
  });
  await Promise.all(["/feed", "/rpc", "/in"].map((p) => upstreamPipes(gw, p, 1)));

  const sub = s.socket(new Sub(SOCKET_OPTS));
  sub.subscribe("a.");
  await sub.dial(`${gw.url}/feed`, { gateway: true });
  const req = s.socket(new Req(SOCKET_OPTS));
  await req.dial(`${gw.url}/rpc`);
  const push = s.socket(new Push(SOCKET_OPTS));
  await push.dial(`${gw.url}/in`);

  const [reply] = await Promise.all([req.request("q", { timeout: 5000 }), push.send("pushed"), pub.send("b.skip"), pub.send("a.1")]);
  assert.equal(reply.text(), "re:q");
  assert.equal((await pull.recv({ timeout: 5000 })).text(), "pushed");
  assert.equal((await sub.recv({ timeout: 5000 })).text(), "a.1");
  // b.skip never reached the client: the gateway dropped it, so the Sub had nothing to filter itself.
  assert.equal(sub.stats.msgsIn, 1);
  assert.equal(sub.stats.filtered, 0);
  assert.equal(await metric(gw, "filtered_total", { route: "/feed" }), 1);

  const res = await fetch(`${httpUrl(gw)}/routes`);
  assert.equal(res.status, 200);
  const body = await res.text();
  const { routes } = JSON.parse(body) as { routes: Array<Record<string, unknown>> };
  const brief = routes.map((r) => ({ path: r.path, protocol: r.protocol, subprotocol: r.subprotocol, mode: r.mode, filtering: r.filtering }));
  assert.deepEqual(brief, [
    { path: "/feed", protocol: "sub", subprotocol: "pub.sp.nanomsg.org", mode: "shared", filtering: true },
    { path: "/rpc", protocol: "req", subprotocol: "rep.sp.nanomsg.org", mode: "shared", filtering: false },
    { path: "/in", protocol: "push", subprotocol: "pull.sp.nanomsg.org", mode: "shared", filtering: false },
    { path: "/pair", protocol: "pair1", subprotocol: "pair1.sp.nanomsg.org", mode: "per-connection", filtering: false },
  ]);
  for (const u of upstreams) {
    const hostPort = new URL(u).host;
    assert.ok(!body.includes(hostPort), `GET /routes must not show the upstream ${hostPort}`);
  }
  assert.ok(!body.includes("tcp://"), "GET /routes names no upstream URL");
});
