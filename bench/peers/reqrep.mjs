/**
 * Round-trip peers: a server that answers every request with its own bytes,
 * and a client that sends one request at a time and times each round trip.
 *
 *   spwire-rep {urls}                      @spwire/node Rep listening on every url; replies with the request body
 *   spwire-req {url, size, count, warm}    @spwire/node Req: `await req.request(buf)` in a loop
 *   ws-echo    {}                          a `ws` server sending every message back
 *   ws-req     {url, size, count, warm}    a `ws` client: send, wait for the echo, repeat
 *
 * Servers say {ready, urls}; clients say {ns: [...], t0, t1}: the `count`
 * round trips after `warm` untimed ones, in nanoseconds, and when the timed
 * ones began and ended (monotonic seconds).
 */
import { once } from "node:events";
import { WebSocket, WebSocketServer } from "ws";
import { commands, now, say, start } from "./io.mjs";

const clock = () => process.hrtime.bigint();

async function spwireRep({ urls }) {
  const { Rep } = await import("@spwire/node");
  const rep = new Rep({ recvMaxSize: 0 });
  const ls = [];
  for (const u of urls) ls.push(await rep.listen(u));
  commands(() => undefined, () => rep.close());
  say({ ready: true, urls: ls.map((l) => l.url) });
  for await (const m of rep) void rep.reply(m, m.body);
}

async function spwireReq({ url, size, count, warm }) {
  const { Req } = await import("@spwire/node");
  const req = new Req({ recvMaxSize: 0 });
  commands(() => undefined, () => req.close());
  await req.dial(url);
  const buf = Buffer.alloc(size, 120);
  const ns = [];
  let t0 = 0;
  for (let i = -warm; i < count; i++) {
    if (i === 0) t0 = now();
    const t = clock();
    await req.request(buf);
    if (i >= 0) ns.push(Number(clock() - t));
  }
  say({ ns, t0, t1: now() });
}

async function wsEcho() {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: 0 });
  await once(wss, "listening");
  wss.on("connection", (ws) => {
    ws.on("message", (data) => ws.send(data));
  });
  commands(() => undefined, () => new Promise((r) => wss.close(() => r())));
  say({ ready: true, urls: [`ws://127.0.0.1:${wss.address().port}/`] });
}

async function wsReq({ url, size, count, warm }) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  commands(() => undefined, () => ws.terminate());
  await once(ws, "open");
  let answered = () => {};
  ws.on("message", () => answered());
  const buf = Buffer.alloc(size, 120);
  const ns = [];
  let t0 = 0;
  for (let i = -warm; i < count; i++) {
    if (i === 0) t0 = now();
    const t = clock();
    const got = new Promise((r) => (answered = r));
    ws.send(buf);
    await got;
    if (i >= 0) ns.push(Number(clock() - t));
  }
  say({ ns, t0, t1: now() });
}

start({ "spwire-rep": spwireRep, "spwire-req": spwireReq, "ws-echo": wsEcho, "ws-req": wsReq });
