#!/usr/bin/env node
/**
 * spwire-gateway: the gateway as a program.
 *
 *   spwire-gateway --listen ws://127.0.0.1:8080 --route /feed=sub@tcp://127.0.0.1:5555
 *
 * What it prints, and where, is part of its contract:
 * - stdout carries pino JSON log lines and nothing else (so a log shipper
 *   can read it unfiltered); --help and --version print there too, alone.
 * - A configuration problem goes to stderr as `spwire-gateway: <problem>`,
 *   a line per problem, and the exit code is 2.
 * - A failure to start (a port in use, an upstream that cannot listen) is
 *   an error log line and exit code 1.
 * - SIGTERM or SIGINT: `shutting down`, a graceful close (browsers get 1001
 *   after their queues flush), exit 0. A second signal exits 1 at once.
 */
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { ConfigError, parseArgs, usage } from "./config.js";
import type { Gateway } from "./index.js";
import type { GatewayConfig } from "./types.js";

const NAME = "spwire-gateway";

/** The package's version: package.json is one level up from both src/ (tsx) and dist/ (built). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return String(pkg.version);
}

function configProblem(err: ConfigError): never {
  for (const line of err.issues) process.stderr.write(`${NAME}: ${line}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    if (err instanceof ConfigError) configProblem(err);
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(usage());
    return;
  }
  if (parsed.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  await serve(parsed.config!);
}

async function serve(config: GatewayConfig): Promise<void> {
  // Synchronous writes: a line logged just before process.exit() is not lost.
  const log = pino({ level: config.logLevel, base: { name: NAME } }, pino.destination({ dest: 1, sync: true }));

  let gw: Gateway | undefined;
  let stopping = false;
  const stop = async (g: Gateway): Promise<void> => {
    try {
      await g.close();
    } catch (err) {
      log.error({ err }, "shutdown failed");
      process.exit(1);
    }
    process.exit(0);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    // Still starting: the start below sees `stopping` and closes what it opened.
    if (gw !== undefined) void stop(gw);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  try {
    // Loaded here, not at the top: --help, --version and configuration problems need none of the gateway.
    const { createGateway } = await import("./index.js");
    gw = await createGateway(config, { logger: log });
  } catch (err) {
    if (err instanceof ConfigError) configProblem(err);
    log.error({ err }, "gateway failed to start");
    process.exit(1);
  }
  log.info(
    {
      url: gw.url,
      routes: config.routes.map((r) => ({
        path: r.path,
        protocol: r.protocol,
        upstream: r.upstream,
        upstreamMode: r.upstreamMode,
        mode: r.mode,
        auth: r.auth,
      })),
    },
    "gateway listening",
  );
  if (stopping) await stop(gw);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // A bug, not a configuration or start-up problem: the stack is what is needed.
  process.stderr.write(`${NAME}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
