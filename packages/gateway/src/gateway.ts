/**
 * createGateway(config): the library entry point. It resolves the
 * configuration, opens every route's upstream side, then starts serving.
 */
import { pino, type Logger as Pino } from "pino";
import type { Logger } from "@spwire/core";
import { createAuthenticator } from "./auth.js";
import { resolveConfig, type GatewayInput } from "./config.js";
import { GatewayMetrics } from "./metrics.js";
import { GatewayTransport, Route } from "./route.js";
import { GatewayServer } from "./server.js";
import type { AuthenticateHook, GatewayConfig } from "./types.js";

export interface GatewayOptions {
  /** Decide who may connect (replaces the token checks on routes that require auth). */
  authenticate?: AuthenticateHook;
  /** A pino logger; default: JSON lines on stdout at the configured level. */
  logger?: Pino;
  /** Collect Node process metrics (CPU, memory, event loop) into /metrics. Default true. */
  processMetrics?: boolean;
}

export interface Gateway {
  /** ws://host:port (or wss://) with the real port. */
  readonly url: string;
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
  /** Routes by path. */
  readonly routes: ReadonlyMap<string, Route>;
  /** Graceful: stop accepting, close browsers with 1001 after their queues flush, close upstreams. */
  close(): Promise<void>;
}

/** Core sockets log through pino, at pino's levels. */
function coreLogger(log: Pino): Logger {
  return {
    debug: (msg, fields) => log.debug(fields ?? {}, msg),
    info: (msg, fields) => log.info(fields ?? {}, msg),
    warn: (msg, fields) => log.warn(fields ?? {}, msg),
    error: (msg, fields) => log.error(fields ?? {}, msg),
  };
}

function isResolved(c: GatewayConfig | GatewayInput): c is GatewayConfig {
  const x = c as Partial<GatewayConfig>;
  return (
    typeof x.limits === "object" &&
    x.limits !== null &&
    typeof x.auth === "object" &&
    x.auth !== null &&
    Array.isArray(x.auth.tokens) &&
    x.auth.tokens.every((t) => typeof t === "object" && t !== null && "rights" in t) &&
    Array.isArray(x.routes) &&
    x.routes.every((r) => typeof r === "object" && r !== null && "queue" in r && typeof r.queue?.socketBytes === "number")
  );
}

/**
 * Start a gateway.
 *
 * @example
 * const gw = await createGateway({
 *   listen: "ws://127.0.0.1:8080",
 *   routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555" }],
 * });
 * // ... later
 * await gw.close();
 */
export async function createGateway(input: GatewayConfig | GatewayInput, opts: GatewayOptions = {}): Promise<Gateway> {
  let config = isResolved(input) ? input : resolveConfig(input);
  if (opts.authenticate !== undefined && !isResolved(input)) {
    // A hook is the library user's way of saying "check everyone": every route
    // requires auth unless the input turned it off for that route explicitly.
    const inRoutes = (input as { routes?: Array<{ path?: string; auth?: unknown }> }).routes ?? [];
    const off = new Set(inRoutes.filter((r) => r.auth === false || r.auth === "false").map((r) => r.path));
    config = { ...config, routes: config.routes.map((r) => ({ ...r, auth: r.auth || !off.has(r.path) })) };
  }
  const log = opts.logger ?? pino({ level: config.logLevel, base: { name: "spwire-gateway" } });
  const metrics = new GatewayMetrics({ processMetrics: opts.processMetrics ?? true });
  const auth = await createAuthenticator(config.auth, opts.authenticate);
  const transport = new GatewayTransport();
  const routes = new Map<string, Route>();
  for (const rc of config.routes) {
    metrics.addRoute(rc.path);
    routes.set(rc.path, new Route(rc, { transport, metrics, logger: coreLogger(log.child({ route: rc.path })) }));
  }
  metrics.setSources({
    *queues() {
      for (const r of routes.values()) {
        let messages = 0;
        let bytes = 0;
        for (const c of r.clients) {
          messages += c.queuedMessages;
          bytes += c.queuedBytes;
        }
        yield { route: r.cfg.path, messages, bytes };
      }
    },
    *upstreams() {
      for (const r of routes.values()) yield { route: r.cfg.path, pipes: r.upstreamPipes, up: r.up, traffic: r.upstreamTraffic() };
    },
    *socketDrops() {
      for (const r of routes.values()) for (const [reason, count] of r.socketDrops()) yield { route: r.cfg.path, reason, count };
    },
  });
  const started: Route[] = [];
  const server = new GatewayServer({ config, routes, transport, metrics, auth, log });
  try {
    for (const r of routes.values()) {
      await r.start();
      started.push(r);
    }
    await server.listen();
  } catch (err) {
    await Promise.all(started.map((r) => r.close()));
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    config,
    metrics,
    routes,
    close(): Promise<void> {
      closing ??= (async () => {
        await server.shutdown(config.shutdownTimeout);
        await Promise.all([...routes.values()].map((r) => r.close()));
        log.info("gateway closed");
        log.flush?.();
      })();
      return closing;
    },
  };
}
