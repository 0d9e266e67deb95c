/**
 * Fan-out peers: a publisher, a raw `ws` broadcaster, and one process holding
 * N WebSocket clients that count what reaches them.
 *
 *   spwire-pub   {url, size, count}   @spwire/node Pub listening on url (tcp://); on "go" sends `count`
 *                                     messages with `await pub.send(buf)`; its sendBuffer is large so it
 *                                     queues rather than drops while the gateway catches up
 *   ws-broadcast {size, count}        a `ws` server; on "go" sends each message to every client in turn
 *   ws-clients   {url, n, protocol, expect}
 *                                     n raw `ws` clients offering `protocol`; say {ready, connected} once all
 *                                     are open, then {delivered, expected, t1} when n * expect messages came
 *                                     (or 1.5 s passed without one), t1 being the last delivery;
 *                                     expect 0: idle clients (memory case)
 *
 * Senders say {ready, url} and, on "go", {sent, t0} once every message was
 * handed on, t0 being the first send. Times are on the monotonic clock every
 * process shares.
 */
import { once } from "node:events";
import { WebSocket, WebSocketServer } from "ws";
import { commands, now, say, start } from "./io.mjs";

async function spwirePub({ url, size, count }) {
  const { Pub } = await import("@spwire/node");
  const pub = new Pub({ sendBuffer: 1_000_000 });
  const l = await pub.listen(url);
  const buf = Buffer.alloc(size, 120);
  commands(
    async (cmd) => {
      if (cmd !== "go") return;
      const t0 = now();
      for (let i = 0; i < count; i++) await pub.send(buf);
      say({ sent: true, t0 });
    },
    () => pub.close(),
  );
  say({ ready: true, url: l.url });
}

async function wsBroadcast({ size, count }) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await once(wss, "listening");
  const buf = Buffer.alloc(size, 120);
  commands(
    (cmd) => {
      if (cmd !== "go") return;
      const t0 = now();
      const clients = [...wss.clients];
      for (let i = 0; i < count; i++) for (const c of clients) c.send(buf);
      say({ sent: true, t0 });
    },
    () => {
      for (const c of wss.clients) c.terminate();
      return new Promise((r) => wss.close(() => r()));
    },
  );
  say({ ready: true, url: `ws://127.0.0.1:${wss.address().port}/` });
}

/** Open `n` clients, at most `parallel` handshakes at a time. */
async function openClients(url, n, protocol, onMessage, parallel = 64) {
  const all = [];
  let next = 0;
  async function worker() {
    while (next < n) {
      next++;
      const ws = new WebSocket(url, protocol, { perMessageDeflate: false });
      all.push(ws);
      ws.on("message", onMessage);
      ws.on("error", () => undefined);
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("unexpected-response", (_q, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
        ws.once("close", (code) => reject(new Error(`closed (${code}) before open`)));
      });
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker));
  return all;
}

async function wsClients({ url, n, protocol, expect }) {
  const total = n * expect;
  let got = 0;
  let tLast = 0;
  let done = false;
  let idle;
  const finish = (why) => {
    if (done) return;
    done = true;
    clearInterval(idle);
    say({ delivered: got, expected: total, t1: tLast, why, closed: closedEarly });
  };
  const onMessage = () => {
    tLast = now();
    if (++got === total) finish("all");
  };
  let clients = [];
  let closedEarly = 0;
  commands(
    () => undefined,
    () => {
      for (const c of clients) c.terminate();
    },
  );
  clients = await openClients(url, n, protocol, onMessage);
  for (const c of clients) c.on("close", () => closedEarly++);
  say({ ready: true, connected: clients.length });
  if (total > 0) {
    idle = setInterval(() => {
      if (got > 0 && now() - tLast > 1.5) finish("idle");
    }, 250);
  }
}

start({ "spwire-pub": spwirePub, "ws-broadcast": wsBroadcast, "ws-clients": wsClients });
