/**
 * nngcat REQ -> spwire device(s) -> nngcat REP, over mixed transports:
 * the device must be invisible to both real nng peers.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Rep, Req, device, silentLogger } from "@spwire/node";
import { freePort, waitForPort, startPeer, type Peer } from "../../../test-support/peers.js";

const peers: Peer[] = [];
after(() => {
  for (const p of peers) p.kill();
});

function nngcat(args: string[]): Peer {
  const p = startPeer("nngcat", args);
  peers.push(p);
  return p;
}

const raw = { raw: true, logger: silentLogger, reconnectMinTime: 20 };

test("nngcat req (ws) -> spwire device -> nngcat rep (tcp): the reply comes back", async () => {
  const port = await freePort();
  const rep = nngcat(["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "pong", "--count", "1"]);
  await waitForPort(port);
  const front = new Rep(raw);
  const back = new Req(raw);
  const l = await front.listen("ws://127.0.0.1:0/dev");
  await back.dial(`tcp://127.0.0.1:${port}`);
  const d = device(front, back);
  const req = nngcat(["--req0", "--dial", l.url, "--data", "hello", "--ascii"]);
  assert.equal(await req.exited, 0, req.stderr());
  assert.equal(req.stdout().toString(), "pong");
  assert.deepEqual(d.forwarded, { ab: 1, ba: 1 });
  await d.close();
  rep.kill();
});

test("a chain of two devices (ws -> tcp -> tcp) between nngcat req and rep", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `tcp://127.0.0.1:${port}`, "--data", "deep pong"]);
  await waitForPort(port);
  const f2 = new Rep(raw);
  const b2 = new Req(raw);
  const l2 = await f2.listen("tcp://127.0.0.1:0");
  await b2.dial(`tcp://127.0.0.1:${port}`);
  const d2 = device(f2, b2);
  const f1 = new Rep(raw);
  const b1 = new Req(raw);
  const l1 = await f1.listen("ws://127.0.0.1:0/edge");
  await b1.dial(l2.url);
  const d1 = device(f1, b1);
  const req = nngcat(["--req0", "--dial", l1.url, "--data", "hello", "--ascii"]);
  assert.equal(await req.exited, 0, req.stderr());
  assert.equal(req.stdout().toString(), "deep pong");
  assert.deepEqual(d1.forwarded, { ab: 1, ba: 1 });
  assert.deepEqual(d2.forwarded, { ab: 1, ba: 1 });
  await d1.close();
  await d2.close();
});

test("a spwire Req through a device sees the service add nothing but the echoed backtrace", async () => {
  // A spwire raw Rep stands in for the service so the bytes on the far side can be checked.
  const svc = new Rep({ raw: true, logger: silentLogger });
  const ls = await svc.listen("tcp://127.0.0.1:0");
  const front = new Rep(raw);
  const back = new Req(raw);
  const lf = await front.listen("ws://127.0.0.1:0/x");
  await back.dial(ls.url);
  const d = device(front, back);
  const req = new Req({ logger: silentLogger });
  await req.dial(lf.url);
  const p = req.request("hello");
  const q = await svc.recv({ timeout: 5000 });
  // svc's own pipe id word, then the device's hop word, then the REQ id.
  assert.equal(q.header.length, 12);
  assert.equal(Buffer.from(q.header).readUInt32BE(4), front.pipes[0]!.id);
  assert.ok(q.header[8]! & 0x80);
  q.body = new TextEncoder().encode("world"); // a raw reply: same header, new body
  await svc.send(q);
  assert.equal((await p).text(), "world");
  await d.close();
  await req.close();
  await svc.close();
});
