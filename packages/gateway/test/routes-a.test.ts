/**
 * Every browser protocol works as a gateway route, against real upstreams
 * (part one: sub, req, push, surveyor, respondent, pull, pub, rep).
 *
 * The clients are spwire Node sockets dialing the gateway over ws, as a
 * browser's would; the upstreams are Debian's nngcat (nng 1.5.2) where it can
 * play the part, and spwire sockets where a test needs exact control (echoes,
 * answers out of order, counting). Assertions are on message bytes and
 * counts; every wait is a bounded `until`/receive timeout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pub, Pull, Push, Rep, Req, Respondent, Sub, Surveyor } from "@spwire/node";
import { until, waitForPort } from "../../../test-support/peers.js";
import {
  SOCKET_OPTS,
  answerAll,
  collect,
  nothingMore,
  scope,
  sorted,
  take,
  tcpAddress,
  upstreamPipes,
} from "./routes-support.js";

test("sub route: a client Sub receives what nngcat --pub0 publishes upstream", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  s.nngcat(["--pub0", "--listen", url, "--data", "cpu.a 1", "--interval", "1"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/feed", protocol: "sub", upstream: url }] });
  await upstreamPipes(gw, "/feed", 1);
  const sub = s.socket(new Sub(SOCKET_OPTS));
  sub.subscribe("cpu.");
  await sub.dial(`${gw.url}/feed`, { gateway: true });
  const m = await sub.recv({ timeout: 5000 });
  assert.equal(m.text(), "cpu.a 1");
  assert.equal(m.header.length, 0);
});

test("req route: concurrent requests from two clients are all answered by nngcat --rep0", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  s.nngcat(["--rep0", "--listen", url, "--data", "pong"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/rpc", protocol: "req", upstream: url }] });
  await upstreamPipes(gw, "/rpc", 1);
  const a = s.socket(new Req(SOCKET_OPTS));
  const b = s.socket(new Req(SOCKET_OPTS));
  await Promise.all([a.dial(`${gw.url}/rpc`), b.dial(`${gw.url}/rpc`)]);
  const replies = await Promise.all(
    ["a1", "a2", "a3"].map((q) => a.request(q, { timeout: 5000 })).concat(["b1", "b2", "b3"].map((q) => b.request(q, { timeout: 5000 }))),
  );
  assert.deepEqual(
    replies.map((r) => r.text()),
    ["pong", "pong", "pong", "pong", "pong", "pong"],
  );
});

test("req route: replies find their client and request by backtrace, even answered out of order", async (t) => {
  const s = scope(t);
  // An echo REP that holds the first three requests and answers them newest first.
  const rep = s.socket(new Rep(SOCKET_OPTS));
  const l = await rep.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/rpc", protocol: "req", upstream: l.url }] });
  await upstreamPipes(gw, "/rpc", 1);
  const a = s.socket(new Req(SOCKET_OPTS));
  const b = s.socket(new Req(SOCKET_OPTS));
  await Promise.all([a.dial(`${gw.url}/rpc`), b.dial(`${gw.url}/rpc`)]);
  const pending = [a.request("a1", { timeout: 5000 }), a.request("a2", { timeout: 5000 }), b.request("b1", { timeout: 5000 })];
  const held = [await rep.recv({ timeout: 5000 }), await rep.recv({ timeout: 5000 }), await rep.recv({ timeout: 5000 })];
  assert.deepEqual(sorted(held.map((m) => m.text())), ["a1", "a2", "b1"]);
  // Through the gateway each request carries two words: the gateway's pipe id, then the client's request id.
  for (const m of held) assert.equal(m.header.length, 8);
  for (const m of held.reverse()) await rep.reply(m, m.body);
  const [a1, a2, b1] = await Promise.all(pending);
  assert.equal(a1.text(), "a1");
  assert.equal(a2.text(), "a2");
  assert.equal(b1.text(), "b1");
  // Three requests, three replies: nothing was sent twice.
  await nothingMore(rep, 200);
});

test("push route: nngcat --pull0 upstream prints what a client pushes", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  const pull = s.nngcat(["--pull0", "--listen", url, "--ascii"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/in", protocol: "push", upstream: url }] });
  await upstreamPipes(gw, "/in", 1);
  const push = s.socket(new Push(SOCKET_OPTS));
  await push.dial(`${gw.url}/in`);
  for (const m of ["m1", "m2", "m3"]) await push.send(m);
  // nngcat --ascii writes the bodies back to back, without separators (nng 1.5.2).
  await until(() => pull.stdout().length >= 6, "nngcat printed three messages");
  assert.equal(pull.stdout().toString(), "m1m2m3");
});

test("push route: a spwire Pull upstream gets every message of two pushing clients exactly once", async (t) => {
  const s = scope(t);
  const pull = s.socket(new Pull(SOCKET_OPTS));
  const l = await pull.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/in", protocol: "push", upstream: l.url }] });
  await upstreamPipes(gw, "/in", 1);
  const a = s.socket(new Push(SOCKET_OPTS));
  const b = s.socket(new Push(SOCKET_OPTS));
  await Promise.all([a.dial(`${gw.url}/in`), b.dial(`${gw.url}/in`)]);
  const want: string[] = [];
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    want.push(`A-${i}`, `B-${i}`);
    sends.push(a.send(`A-${i}`), b.send(`B-${i}`));
  }
  await Promise.all(sends);
  const got = await take(pull, want.length);
  assert.deepEqual(sorted(got), sorted(want));
  // Each sender's messages keep their order through the gateway (one upstream pipe).
  assert.deepEqual(
    got.filter((m) => m.startsWith("A-")),
    want.filter((m) => m.startsWith("A-")),
  );
  await nothingMore(pull);
});

test("surveyor route: a client's survey gets nngcat --respondent0's answer", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  s.nngcat(["--respondent0", "--listen", url, "--data", "here"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/census", protocol: "surveyor", upstream: url }] });
  await upstreamPipes(gw, "/census", 1);
  const surveyor = s.socket(new Surveyor(SOCKET_OPTS));
  await surveyor.dial(`${gw.url}/census`);
  const answers: string[] = [];
  // The whole survey time, so that a second (wrong) answer would be seen too.
  for await (const a of surveyor.survey("who is there?", { time: 1500 })) answers.push(a.text());
  assert.deepEqual(answers, ["here"]);
});

test("surveyor route: two clients' concurrent surveys each get every respondent's answer to their own question", async (t) => {
  const s = scope(t);
  // The respondents dial the gateway (upstreamMode listen): one route, two upstream peers.
  const { url } = await tcpAddress();
  const gw = await s.gateway({ routes: [{ path: "/census", protocol: "surveyor", upstream: url, upstreamMode: "listen" }] });
  for (const name of ["r1", "r2"]) {
    const r = s.socket(new Respondent(SOCKET_OPTS));
    r.dial(url);
    answerAll(r, (m) => `${name}:${m.text()}`);
  }
  await upstreamPipes(gw, "/census", 2);
  const a = s.socket(new Surveyor(SOCKET_OPTS));
  const b = s.socket(new Surveyor(SOCKET_OPTS));
  await Promise.all([a.dial(`${gw.url}/census`), b.dial(`${gw.url}/census`)]);
  const all = async (sv: Surveyor, q: string): Promise<string[]> => {
    const got: string[] = [];
    for await (const m of sv.survey(q, { time: 1500 })) got.push(m.text());
    return got;
  };
  const [fromA, fromB] = await Promise.all([all(a, "qa"), all(b, "qb")]);
  assert.deepEqual(sorted(fromA), ["r1:qa", "r2:qa"]);
  assert.deepEqual(sorted(fromB), ["r1:qb", "r2:qb"]);
});

test("respondent route: a spwire Surveyor upstream gets exactly one answer per connected client", async (t) => {
  const s = scope(t);
  const surveyor = s.socket(new Surveyor(SOCKET_OPTS));
  const l = await surveyor.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/poll", protocol: "respondent", upstream: l.url }] });
  await until(() => surveyor.pipes.length === 1, "the gateway dialed the surveyor");
  const names = ["A", "B", "C"];
  for (const name of names) {
    const r = s.socket(new Respondent(SOCKET_OPTS));
    await r.dial(`${gw.url}/poll`);
    answerAll(r, (m) => `${name}:${m.text()}`);
  }
  const answers: string[] = [];
  for await (const m of surveyor.survey("status?", { time: 1500 })) answers.push(m.text());
  assert.deepEqual(sorted(answers), ["A:status?", "B:status?", "C:status?"]);
  assert.equal(gw.routes.get("/poll")!.clients.size, 3);
});

test("respondent route: nngcat --surveyor0 upstream prints a client's answer", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  const nng = s.nngcat(["--surveyor0", "--listen", url, "--data", "ping", "--interval", "1", "--ascii"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/poll", protocol: "respondent", upstream: url }] });
  await upstreamPipes(gw, "/poll", 1);
  const r = s.socket(new Respondent(SOCKET_OPTS));
  await r.dial(`${gw.url}/poll`);
  const q = await r.recv({ timeout: 5000 });
  assert.equal(q.text(), "ping");
  await r.respond(q, "pong");
  await until(() => nng.stdout().toString().includes("pong"), "nngcat printed the answer");
  assert.match(nng.stdout().toString(), /^(pong)+$/);
});

test("pull route: a spwire Push upstream's messages are shared over two client Pulls, each delivered once", async (t) => {
  const s = scope(t);
  const push = s.socket(new Push(SOCKET_OPTS));
  const l = await push.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/work", protocol: "pull", upstream: l.url }] });
  await until(() => push.pipes.length === 1, "the gateway dialed the pusher");
  const a = s.socket(new Pull(SOCKET_OPTS));
  const b = s.socket(new Pull(SOCKET_OPTS));
  await Promise.all([a.dial(`${gw.url}/work`), b.dial(`${gw.url}/work`)]);
  const gotA = collect(a);
  const gotB = collect(b);
  const want = Array.from({ length: 60 }, (_, i) => `job-${i}`);
  for (const m of want) await push.send(m);
  await until(() => gotA.length + gotB.length >= want.length, "every job arrived somewhere");
  assert.deepEqual(sorted([...gotA, ...gotB]), sorted(want));
  assert.ok(gotA.length > 0 && gotB.length > 0, `both clients got work (A ${gotA.length}, B ${gotB.length})`);
  // Nothing else arrives later (a duplicate would).
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(gotA.length + gotB.length, want.length);
});

test("pub route: a spwire Sub upstream receives what two client Pubs publish", async (t) => {
  const s = scope(t);
  const sub = s.socket(new Sub(SOCKET_OPTS));
  sub.subscribe("");
  const l = await sub.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/report", protocol: "pub", upstream: l.url }] });
  await until(() => sub.pipes.length === 1, "the gateway dialed the subscriber");
  const a = s.socket(new Pub(SOCKET_OPTS));
  const b = s.socket(new Pub(SOCKET_OPTS));
  await Promise.all([a.dial(`${gw.url}/report`), b.dial(`${gw.url}/report`)]);
  await a.send("A.1");
  await b.send("B.1");
  await a.send("A.2");
  const got = await take(sub, 3);
  assert.deepEqual(sorted(got), ["A.1", "A.2", "B.1"]);
  assert.deepEqual(
    got.filter((m) => m.startsWith("A.")),
    ["A.1", "A.2"],
  );
  await nothingMore(sub);
});

test("rep route: a spwire Req upstream's requests are answered by client Reps, each reply to its request", async (t) => {
  const s = scope(t);
  const req = s.socket(new Req(SOCKET_OPTS));
  const l = await req.listen("tcp://127.0.0.1:0");
  const gw = await s.gateway({ routes: [{ path: "/serve", protocol: "rep", upstream: l.url }] });
  await until(() => req.pipes.length === 1, "the gateway dialed the requester");
  for (const name of ["A", "B"]) {
    const rep = s.socket(new Rep(SOCKET_OPTS));
    await rep.dial(`${gw.url}/serve`);
    answerAll(rep, (m) => `${name}:${m.text()}`);
  }
  const qs = Array.from({ length: 8 }, (_, i) => `q${i}`);
  const replies = (await Promise.all(qs.map((q) => req.request(q, { timeout: 5000 })))).map((m) => m.text());
  const by: Record<string, number> = { A: 0, B: 0 };
  replies.forEach((r, i) => {
    const m = /^([AB]):(.*)$/.exec(r);
    assert.ok(m !== null, `reply ${JSON.stringify(r)} came from a client Rep`);
    assert.equal(m[2], qs[i], "each reply answers its own request");
    by[m[1]!]!++;
  });
  assert.ok(by.A! > 0 && by.B! > 0, `requests were spread over both clients (A ${by.A}, B ${by.B})`);
});

test("rep route: nngcat --req0 upstream gets a client Rep's reply", async (t) => {
  const s = scope(t);
  const { url, port } = await tcpAddress();
  const nng = s.nngcat(["--req0", "--listen", url, "--data", "hello", "--ascii"]);
  await waitForPort(port);
  const gw = await s.gateway({ routes: [{ path: "/serve", protocol: "rep", upstream: url }] });
  const rep = s.socket(new Rep(SOCKET_OPTS));
  await rep.dial(`${gw.url}/serve`);
  await upstreamPipes(gw, "/serve", 1);
  const q = await rep.recv({ timeout: 5000 });
  assert.equal(q.text(), "hello");
  await rep.reply(q, "world");
  // nngcat's req exits 0 after printing its one reply.
  assert.equal(await nng.exited, 0);
  assert.equal(nng.stdout().toString(), "world");
});
