/**
 * What `npm start` runs, after scripts/start.mjs has built the dashboard:
 * the sample feed (a Pub on tcp), the sample rpc service (a Rep on tcp) and
 * an in-process gateway that serves the built pages and both ws routes on
 * one port.
 *
 *   /          the dashboard (examples/dashboard/dist)
 *   /rpc.html  the rpc page
 *   /feed      ws route: browsers' Sub -> the feed (or --upstream)
 *   /rpc       ws route: browsers' Req -> the rpc service (or --rpc-upstream)
 *
 * The first SIGINT or SIGTERM stops everything cleanly (the gateway closes
 * browsers with 1001, then the feed and the service close) and exits 0; a
 * second one exits at once (130). Run by scripts/start.mjs, it also stops when
 * that parent goes away (its IPC channel closes).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createGateway } from "@spwire/gateway";
import { startFeed } from "./feed/feed.js";
import { startRpcService } from "./rpc/service.js";

const USAGE = `npm start -- [options]

  --port N              the gateway's port: pages and ws routes (default 8080; 0 picks one)
  --host H              the address it listens on (default 127.0.0.1)
  --upstream URL        the /feed route's upstream, an nng PUB (tcp://host:port ...);
                        the sample feed is then not started
  --rpc-upstream URL    the /rpc route's upstream, an nng REP; the sample service is then not started
  --feed URL            where the sample feed listens (default tcp://127.0.0.1:5555)
  --rpc URL             where the sample rpc service listens (default tcp://127.0.0.1:5556)
  --rate N              sample feed: messages per second per topic and host (default 20)
  --log-level L         the gateway's log level (default warn)
  --no-build            (scripts/start.mjs) serve examples/dashboard/dist as it is
  -h, --help            this text`;

/** A clean stop that takes longer than this is cut short (exit 1). */
const STOP_DEADLINE = 10_000;

const dist = fileURLToPath(new URL("./dashboard/dist", import.meta.url));

// ---------------------------------------------------------------------------
// Stopping. Installed first, so a Ctrl-C during startup closes what has started.

interface Running {
  name: string;
  close(): Promise<void>;
}
/** What is running, in start order; closed in reverse (gateway first, so browsers go before their upstreams). */
const running: Running[] = [];
let stopping = false;

/** Close everything and exit with `code`; `why` is printed unless quiet (a failed startup has said why already). */
function stop(why: string, code = 0, quiet = false): void {
  if (stopping) {
    console.error(`start: ${why} again: exiting at once`);
    process.exit(130);
  }
  stopping = true;
  if (!quiet) console.log(`\nstart: ${why}: stopping...`);
  setTimeout(() => {
    console.error(`start: still stopping after ${STOP_DEADLINE} ms; exiting`);
    process.exit(1);
  }, STOP_DEADLINE).unref();
  void (async () => {
    let failed = false;
    for (const r of running.reverse()) {
      try {
        await r.close();
      } catch (err) {
        failed = true;
        console.error(`start: closing the ${r.name} failed:`, err);
      }
    }
    if (!quiet) console.log("start: stopped");
    process.exit(failed ? 1 : code);
  })();
}

process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
// scripts/start.mjs runs this with an IPC channel: when that parent is gone (killed, even with SIGKILL), stop too.
if (process.send !== undefined) process.on("disconnect", () => stop("scripts/start.mjs went away"));

/** Record a started part; false when a stop began meanwhile (the part is then closed here). */
async function started(r: Running): Promise<boolean> {
  if (stopping) {
    await r.close();
    return false;
  }
  running.push(r);
  return true;
}

// ---------------------------------------------------------------------------
// Starting.

async function main(): Promise<void> {
  const { values: o } = parseArgs({
    options: {
      port: { type: "string", default: "8080" },
      host: { type: "string", default: "127.0.0.1" },
      upstream: { type: "string" },
      "rpc-upstream": { type: "string" },
      feed: { type: "string", default: "tcp://127.0.0.1:5555" },
      rpc: { type: "string", default: "tcp://127.0.0.1:5556" },
      rate: { type: "string", default: "20" },
      "log-level": { type: "string", default: "warn" },
      "no-build": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (o.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(o.port)}`);
  const rate = Number(o.rate);
  if (!(rate > 0 && rate <= 1000)) throw new UsageError(`--rate must be a number of messages per second in (0, 1000], got ${JSON.stringify(o.rate)}`);
  if (!existsSync(`${dist}/index.html`)) {
    throw new UsageError(`${dist}/index.html is missing: run "npm start" (it builds the dashboard) or "npx vite build examples/dashboard"`);
  }

  let feedUpstream = o.upstream;
  if (feedUpstream === undefined) {
    const feed = await startFeed({ listen: [o.feed!], rate }).catch((err: unknown) => {
      throw new UsageError(`the sample feed: ${message(err)} (choose another address with --feed URL)`);
    });
    if (!(await started({ name: "sample feed", close: () => feed.close() }))) return;
    feedUpstream = feed.listeners[0]!.url;
  }
  let rpcUpstream = o["rpc-upstream"];
  if (rpcUpstream === undefined) {
    const service = await startRpcService({ listen: [o.rpc!] }).catch((err: unknown) => {
      throw new UsageError(`the sample rpc service: ${message(err)} (choose another address with --rpc URL)`);
    });
    if (!(await started({ name: "rpc service", close: () => service.close() }))) return;
    rpcUpstream = service.listeners[0]!.url;
  }

  const gw = await createGateway({
    listen: `ws://${o.host}:${port}`,
    static: dist,
    logLevel: o["log-level"] as "warn",
    // Browsers' queues are small here; no need to wait the default 5 s for them on Ctrl-C.
    shutdownTimeout: 1000,
    routes: [
      // latest: a dashboard that stalls catches up to current values instead of replaying a backlog.
      { path: "/feed", protocol: "sub", upstream: feedUpstream, queue: { policy: "latest" }, topicDelimiter: " " },
      { path: "/rpc", protocol: "req", upstream: rpcUpstream },
    ],
  }).catch((err: unknown) => {
    if ((err as { code?: unknown }).code === "EADDRINUSE") throw new UsageError(`the gateway: port ${port} on ${o.host} is in use (choose another with --port N)`);
    throw err;
  });
  if (!(await started({ name: "gateway", close: () => gw.close() }))) return;

  const base = gw.url.replace(/^ws/, "http").replace("//0.0.0.0:", "//127.0.0.1:").replace(/\/?$/, "/");
  const lines = [
    "spwire is running:",
    `  dashboard  ${base}`,
    `  rpc page   ${base}rpc.html`,
    `  /feed      <- ${feedUpstream}${o.upstream === undefined ? " (the sample feed)" : ""}`,
    `  /rpc       -> ${rpcUpstream}${o["rpc-upstream"] === undefined ? " (the sample rpc service)" : ""}`,
    `  metrics    ${base}metrics`,
    "Ctrl-C stops everything.",
  ];
  console.log(lines.join("\n"));
}

/** A problem the user can fix: printed without a stack trace. */
class UsageError extends Error {}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

main().catch((err: unknown) => {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) console.error(`start: ${message(err)}\n\n${USAGE}`);
  else if (err instanceof UsageError || (err instanceof Error && err.name === "ConfigError")) console.error(`start: ${err.message}`);
  else console.error(err);
  if (!stopping) stop("startup failed", 1, true);
});
