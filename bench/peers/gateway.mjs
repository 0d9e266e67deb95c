/**
 * A gateway (or the raw `ws` server it is compared with) alone in its process,
 * so that its CPU and memory are its own.
 *
 *   gateway   {input, wait}   createGateway(input) from the built @spwire/gateway, logs off;
 *                             says {ready, url} once the routes named in `wait` have their upstream
 *   ws-server {}              a `ws` server that keeps every connection and does nothing else
 *
 * Both answer the command "measure" with {rss, heapUsed, clients} after full
 * garbage collections (run them with --expose-gc), and "snapshot <file>"
 * with {snapshot: file} once a heap snapshot was written there.
 */
import { once } from "node:events";
import { writeHeapSnapshot } from "node:v8";
import { setTimeout as sleep, setImmediate as tick } from "node:timers/promises";
import { WebSocketServer } from "ws";
import { commands, fail, say, start } from "./io.mjs";

/** Full collections, with turns of the event loop between them so that closed handles are let go. */
async function collect() {
  const gc = globalThis.gc;
  if (gc === undefined) return;
  for (let i = 0; i < 4; i++) {
    gc();
    await tick();
  }
}

async function measure(clients) {
  await collect();
  const gc = globalThis.gc;
  const m = process.memoryUsage();
  say({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, clients: clients(), gc: gc !== undefined });
}

/** The commands both servers take. */
async function command(cmd, clients) {
  if (cmd === "measure") return measure(clients);
  if (cmd.startsWith("snapshot ")) {
    await collect();
    return say({ snapshot: writeHeapSnapshot(cmd.slice("snapshot ".length)) });
  }
  fail(new Error(`unknown command ${cmd}`));
}

async function gateway({ input, wait = [] }) {
  const [{ createGateway }, { pino }] = await Promise.all([import("@spwire/gateway"), import("pino")]);
  const gw = await createGateway(input, { logger: pino({ level: "silent" }), processMetrics: false });
  const clients = () => [...gw.routes.values()].reduce((n, r) => n + r.clients.size, 0);
  commands(
    (cmd) => command(cmd, clients),
    () => gw.close(),
  );
  for (let i = 0; wait.some((p) => !gw.routes.get(p)?.up); i++) {
    if (i > 1000) throw new Error(`routes ${wait.join(", ")} found no upstream within 10 s`);
    await sleep(10);
  }
  say({ ready: true, url: gw.url });
}

async function wsServer() {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await once(wss, "listening");
  commands(
    (cmd) => command(cmd, () => wss.clients.size),
    () => {
      for (const c of wss.clients) c.terminate();
      return new Promise((r) => wss.close(() => r()));
    },
  );
  say({ ready: true, url: `ws://127.0.0.1:${wss.address().port}` });
}

start({ gateway, "ws-server": wsServer });
