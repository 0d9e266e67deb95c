/**
 * The gateway under soak, alone in its process so that its file descriptors
 * (/proc/<pid>/fd) and its heap are its own. soak.ts forks this file with
 * --expose-gc and talks to it over the IPC channel:
 *
 *   -> { type: "start", input }   createGateway(input); logs go to stdout as pino JSON lines
 *   <- { type: "started", url }
 *   -> { type: "measure" }        full GCs, then the numbers
 *   <- { type: "measure", heapUsed, peakHeapUsed, peakRss, clients }   (peaks: sampled every 200 ms, no GC)
 *   -> { type: "close" }          graceful close, then the process exits
 *
 * Anything unexpected (a failed start, an uncaught error) goes to stderr,
 * which soak.ts counts as an error.
 */
import { setImmediate as tick } from "node:timers/promises";
import { pino } from "pino";
import { createGateway, type Gateway, type GatewayInput } from "@spwire/gateway";

type Request = { type: "start"; input: GatewayInput } | { type: "measure" } | { type: "close" };

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write("soak gateway: run with --expose-gc\n");
  process.exit(2);
}
if (process.send === undefined) {
  process.stderr.write("soak gateway: start me with fork() (soak/soak.ts does)\n");
  process.exit(2);
}
const send = (m: object): void => {
  process.send!(m);
};

let gw: Gateway | undefined;
const log = pino({ level: "info", base: { name: "spwire-gateway" } }, pino.destination({ dest: 1, sync: false }));
let peak = 0;
let peakRss = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.heapUsed);
  peakRss = Math.max(peakRss, m.rss);
}, 200);

/** Full collections, with turns of the event loop between them so that finalizers and closed handles are let go. */
async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await tick();
  }
}

async function handle(m: Request): Promise<void> {
  switch (m.type) {
    case "start":
      gw = await createGateway(m.input, { logger: log, processMetrics: false });
      send({ type: "started", url: gw.url });
      return;
    case "measure": {
      await collect();
      const mem = process.memoryUsage();
      let clients = 0;
      for (const r of gw?.routes.values() ?? []) clients += r.clients.size;
      send({ type: "measure", heapUsed: mem.heapUsed, peakHeapUsed: Math.max(peak, mem.heapUsed), peakRss: Math.max(peakRss, mem.rss), clients });
      return;
    }
    case "close":
      clearInterval(sampler);
      await gw?.close();
      log.flush();
      process.disconnect();
      return;
  }
}

process.on("message", (m: Request) => {
  handle(m).catch((err: unknown) => {
    process.stderr.write(`soak gateway: ${m.type} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
});
