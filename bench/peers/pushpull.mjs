/**
 * One-way throughput peers: a receiver that listens and counts, a sender that
 * dials and sends as fast as the transport's back-pressure allows.
 *
 *   spwire-pull {url, count}            @spwire/node Pull, listening on url (ws:// or tcp://, port 0)
 *   spwire-push {url, size, count}      @spwire/node Push: `await push.send(buf)` in a loop
 *   ws-recv     {count}                 a `ws` WebSocketServer counting binary messages
 *   ws-send     {url, size, count}      a `ws` client: ws.send(buf) per message, waits for drain past 1 MiB
 *   net-recv    {count}                 a net server cutting 8-byte big-endian length-prefixed frames
 *   net-send    {url, size, count}      a net client: prefix + payload per message (one writev), waits for drain
 *
 * Receivers say {ready, url}, then {count, t1} once message `count` arrived.
 * Senders say {ready} once connected, then {sent, t0} when the last message
 * was handed on, t0 being when they began; both times are on the monotonic
 * clock all processes share. Senders stay until stdin closes so that nothing
 * queued is dropped.
 */
import { once } from "node:events";
import { createServer, connect } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { Counter, commands, now, say, start } from "./io.mjs";

const HWM = 1024 * 1024;

async function spwirePull({ url, count }) {
  const { Pull } = await import("@spwire/node");
  const pull = new Pull({ recvMaxSize: 0 });
  const l = await pull.listen(url);
  commands(() => undefined, () => pull.close());
  say({ ready: true, url: l.url });
  const c = new Counter(count, say);
  for await (const _m of pull) if (c.tick()) break;
}

async function spwirePush({ url, size, count }) {
  const { Push } = await import("@spwire/node");
  const push = new Push({ recvMaxSize: 0 });
  commands(() => undefined, () => push.close());
  await push.dial(url);
  const buf = Buffer.alloc(size, 120);
  say({ ready: true });
  const t0 = now();
  for (let i = 0; i < count; i++) await push.send(buf);
  say({ sent: true, t0 });
}

async function wsRecv({ count }) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: 0 });
  await once(wss, "listening");
  const c = new Counter(count, say);
  wss.on("connection", (ws) => {
    ws.on("message", () => c.tick());
  });
  commands(() => undefined, () => new Promise((r) => wss.close(() => r())));
  say({ ready: true, url: `ws://127.0.0.1:${wss.address().port}/` });
}

async function wsSend({ url, size, count }) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  commands(() => undefined, () => ws.terminate());
  await once(ws, "open");
  const sock = ws._socket;
  const buf = Buffer.alloc(size, 120);
  say({ ready: true });
  const t0 = now();
  for (let i = 0; i < count; i++) {
    ws.send(buf);
    if (ws.bufferedAmount >= HWM) await once(sock, "drain");
  }
  say({ sent: true, t0 });
}

/** 8-byte big-endian length, then the payload: the same framing as SP over tcp, without the handshake. */
async function netRecv({ count }) {
  const c = new Counter(count, say);
  const server = createServer((s) => {
    let chunks = [];
    let have = 0;
    let need = -1;
    s.on("data", (chunk) => {
      chunks.push(chunk);
      have += chunk.length;
      for (;;) {
        if (need < 0) {
          if (have < 8) return;
          const head = chunks[0].length >= 8 ? chunks[0] : Buffer.concat(chunks);
          if (head !== chunks[0]) chunks = [head];
          need = head.readUInt32BE(0) * 2 ** 32 + head.readUInt32BE(4);
          chunks[0] = head.subarray(8);
          have -= 8;
        }
        if (have < need) return;
        // The message: a view when it lies in the first chunk, else one copy.
        const first = chunks[0];
        let msg;
        if (first.length >= need) {
          msg = first.subarray(0, need);
          chunks[0] = first.subarray(need);
        } else {
          const all = Buffer.concat(chunks);
          msg = all.subarray(0, need);
          chunks = [all.subarray(need)];
        }
        if (chunks[0].length === 0) chunks.shift();
        have -= need;
        need = -1;
        void msg;
        c.tick();
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  commands(() => undefined, () => new Promise((r) => server.close(() => r())).then(() => undefined));
  say({ ready: true, url: `tcp://127.0.0.1:${server.address().port}` });
}

async function netSend({ url, size, count }) {
  const u = new URL(url);
  const s = connect(Number(u.port), u.hostname);
  s.setNoDelay(true);
  commands(() => undefined, () => s.destroy());
  await once(s, "connect");
  const buf = Buffer.alloc(size, 120);
  say({ ready: true });
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const prefix = Buffer.allocUnsafe(8);
    prefix.writeUInt32BE(0, 0);
    prefix.writeUInt32BE(size, 4);
    s.cork();
    s.write(prefix);
    const ok = s.write(buf);
    s.uncork();
    if (!ok && s.writableLength >= HWM) await once(s, "drain");
  }
  say({ sent: true, t0 });
}

start({
  "spwire-pull": spwirePull,
  "spwire-push": spwirePush,
  "ws-recv": wsRecv,
  "ws-send": wsSend,
  "net-recv": netRecv,
  "net-send": netSend,
});
