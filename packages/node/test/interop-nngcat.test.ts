/**
 * spwire sockets against Debian's real nngcat (nng 1.5.2), over tcp and ws,
 * with spwire as dialer and as listener, for pub->sub and req->rep in both
 * directions. Asserts the bodies and headers that arrive.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Pub, Sub, Req, Rep, silentLogger, type Socket } from "@spwire/node";
import { freePort, waitForPort, startPeer, until, type Peer } from "../../../test-support/peers.js";

const peers: Peer[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const p of peers) p.kill();
  for (const s of sockets) await s.close();
});

function nngcat(args: string[]): Peer {
  const p = startPeer("nngcat", args);
  peers.push(p);
  return p;
}

function track<S extends Socket>(s: S): S {
  sockets.push(s);
  return s;
}

const opts = { logger: silentLogger, reconnectMinTime: 20, reconnectMaxTime: 200 };

async function address(scheme: "tcp" | "ws"): Promise<{ url: string; port: number }> {
  const port = await freePort();
  // nng checks the ws Host header against its listen host: use the same literal on both sides.
  return { port, url: scheme === "tcp" ? `tcp://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/sp` };
}

/** Our listen URL with port 0, and the URL a peer dials once we know the real port. */
function ourListenUrl(scheme: "tcp" | "ws"): string {
  return scheme === "tcp" ? "tcp://127.0.0.1:0" : "ws://127.0.0.1:0/sp";
}

for (const scheme of ["tcp", "ws"] as const) {
  test(`${scheme}: spwire Sub dials nngcat --pub listener and receives only subscribed topics`, async () => {
    const { url, port } = await address(scheme);
    // nngcat publishes the same message every second; one with another topic comes from a second publisher.
    nngcat(["--pub0", "--listen", url, "--data", "prices.EURUSD 1.08", "--interval", "1"]);
    await waitForPort(port);
    const sub = track(new Sub(opts));
    sub.subscribe("prices.");
    await sub.dial(url);
    const m = await sub.recv({ timeout: 10_000 });
    assert.equal(m.text(), "prices.EURUSD 1.08");
    assert.equal(m.header.length, 0);
    await sub.close();
  });

  test(`${scheme}: nngcat --sub dials a spwire Pub listener and prints only its topic`, async () => {
    const pub = track(new Pub(opts));
    const l = await pub.listen(ourListenUrl(scheme));
    const peer = nngcat(["--sub0", "--dial", l.url, "--subscribe", "a.", "--ascii"]);
    await until(() => pub.pipes.length === 1, "nngcat connected");
    // nngcat subscribes locally right after connecting; send until its output shows up.
    for (let i = 0; i < 200 && !peer.stdout().toString().includes("a.2"); i++) {
      await pub.send("b.skip");
      await pub.send("a.1");
      await pub.send("a.2");
      await new Promise((r) => setTimeout(r, 25));
    }
    // nngcat --ascii writes each body with no separator (nng 1.5.2), so the output is a run of "a.1a.2".
    const out = peer.stdout().toString();
    assert.match(out, /^(a\.1a\.2)+(a\.1)?$/);
    assert.ok(!out.includes("b.skip"), "the unsubscribed topic never reached nngcat's output");
    await pub.close();
  });

  test(`${scheme}: spwire Sub listens and nngcat --pub dials it`, async () => {
    const sub = track(new Sub(opts));
    sub.subscribe("");
    const l = await sub.listen(ourListenUrl(scheme));
    nngcat(["--pub0", "--dial", l.url, "--data", "dialed-in", "--interval", "1"]);
    const m = await sub.recv({ timeout: 10_000 });
    assert.equal(m.text(), "dialed-in");
    await sub.close();
  });

  test(`${scheme}: spwire Req dials nngcat --rep and gets its reply`, async () => {
    const { url, port } = await address(scheme);
    nngcat(["--rep0", "--listen", url, "--data", "pong"]);
    await waitForPort(port);
    const req = track(new Req(opts));
    await req.dial(url);
    const reply = await req.request("hello", { timeout: 10_000 });
    assert.equal(reply.text(), "pong");
    assert.equal(reply.header.length, 4);
    assert.ok(reply.header[0]! & 0x80, "the reply echoes our high-bit request id");
    await req.close();
  });

  test(`${scheme}: nngcat --req dials a spwire Rep and prints the reply`, async () => {
    const rep = track(new Rep(opts));
    const l = await rep.listen(ourListenUrl(scheme));
    const peer = nngcat(["--req0", "--dial", l.url, "--data", "hello", "--ascii"]);
    const q = await rep.recv({ timeout: 10_000 });
    assert.equal(q.text(), "hello");
    assert.equal(q.header.length, 4);
    assert.ok(q.header[0]! & 0x80, "nng's request id has the top bit set");
    await rep.reply(q, "pong");
    assert.equal(await peer.exited, 0);
    assert.equal(peer.stdout().toString(), "pong"); // --ascii adds no newline in nngcat 1.5.2
    await rep.close();
  });

  test(`${scheme}: spwire Req listens and nngcat --rep dials it`, async () => {
    const req = track(new Req(opts));
    const l = await req.listen(ourListenUrl(scheme));
    nngcat(["--rep0", "--dial", l.url, "--data", "answer"]);
    const reply = await req.request("question", { timeout: 10_000 });
    assert.equal(reply.text(), "answer");
    await req.close();
  });

  test(`${scheme}: spwire Rep dials an nngcat --req listener`, async () => {
    const { url, port } = await address(scheme);
    const peer = nngcat(["--req0", "--listen", url, "--data", "from-listener", "--ascii"]);
    await waitForPort(port);
    const rep = track(new Rep(opts));
    await rep.dial(url);
    const q = await rep.recv({ timeout: 10_000 });
    assert.equal(q.text(), "from-listener");
    await rep.reply(q, "ok");
    await until(() => peer.stdout().toString() === "ok", "nngcat printed the reply");
    await rep.close();
  });
}
