/**
 * The gateway's Prometheus metrics, one Registry per gateway.
 *
 * Each GatewayMetrics owns its Registry and never touches prom-client's
 * global one, so several gateways in one process (tests, embedders) keep
 * separate counts, and importing this module registers nothing.
 *
 * The hot path (messages(), dropped(), filtered(): once per message, perhaps
 * 100k times a second) only adds to plain numbers in a per-route record; the
 * prom-client metrics are filled from those records by their collect()
 * callbacks when /metrics is scraped. That costs one Map lookup and a few
 * additions per call, where a prom-client child would hash its labels on
 * every inc(). Values are exact at scrape time, which is the only time
 * anyone reads them.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

const PREFIX = "spwire_gateway_";

type MetricType = "counter" | "gauge";

interface MetricDef {
  type: MetricType;
  labels: readonly string[];
  help: string;
}

/**
 * Every metric the gateway exports, by name without the prefix. The one
 * place these facts live: the metrics below are built from it, and
 * METRICS_DOC (the README table) is derived from it.
 */
const DEFS = {
  connections: {
    type: "gauge",
    labels: ["route"],
    help: "Browser WebSocket connections open now.",
  },
  connections_opened_total: {
    type: "counter",
    labels: ["route"],
    help: "Browser WebSocket connections accepted (upgrade finished and checked).",
  },
  connections_closed_total: {
    type: "counter",
    labels: ["route", "reason"],
    help: 'Browser connections closed, by reason: client (a clean close), dropped (lost without a Close frame), idle, slow-consumer, shutdown, or "error:<CODE>" with an SPError code.',
  },
  refusals_total: {
    type: "counter",
    labels: ["route", "reason"],
    help: 'WebSocket upgrades refused, by reason (token-missing, origin, max-connections, subprotocol, upgrade-timeout, bad-http ...); route is "" when the path matched no route.',
  },
  messages_total: {
    type: "counter",
    labels: ["route", "direction"],
    help: "Messages carried: direction down = written to browsers, up = from browsers towards the upstream.",
  },
  bytes_total: {
    type: "counter",
    labels: ["route", "direction"],
    help: "Message body bytes carried: direction down = written to browsers, up = from browsers towards the upstream.",
  },
  drops_total: {
    type: "counter",
    labels: ["route", "reason"],
    help: "Messages dropped, by reason: queue-full, drop-old, latest-replaced, slow-consumer, connection-closed (still queued when a browser went), rate-limit, publish-denied, and \"upstream socket: ...\" / \"gateway socket: ...\" for drops inside the route's own raw sockets (e.g. a receive queue overflowing).",
  },
  filtered_total: {
    type: "counter",
    labels: ["route"],
    help: "Messages not sent to a browser because its subscriptions or read rights excluded them (not a drop).",
  },
  pipe_errors_total: {
    type: "counter",
    labels: ["route", "side", "code"],
    help: "Pipes that ended with an error, by side (client = a browser, upstream = an SP peer) and SPError code.",
  },
  upstream_dial_failures_total: {
    type: "counter",
    labels: ["route", "code"],
    help: "Failed attempts to dial a route's upstream (refused, timed out, bad SP handshake, TLS), by SPError code; the gateway keeps redialing with backoff.",
  },
  queue_messages: {
    type: "gauge",
    labels: ["route"],
    help: "Messages waiting in the gateway for the route's browsers, summed over its connections.",
  },
  queue_bytes: {
    type: "gauge",
    labels: ["route"],
    help: "Bytes waiting in the gateway for the route's browsers, summed over its connections.",
  },
  upstream_pipes: {
    type: "gauge",
    labels: ["route"],
    help: "Pipes open to upstream SP peers.",
  },
  upstream_messages_total: {
    type: "counter",
    labels: ["route", "direction"],
    help: "Messages between the route and its upstream SP peers: direction in = received from them, out = sent to them. A frozen upstream keeps upstream_up at 1; its in count stops rising.",
  },
  upstream_bytes_total: {
    type: "counter",
    labels: ["route", "direction"],
    help: "Bytes (SP header + body) between the route and its upstream SP peers: direction in = received from them, out = sent to them.",
  },
  upstream_up: {
    type: "gauge",
    labels: ["route"],
    help: "1 when the route's upstream side is usable (a dialing shared route has an upstream pipe; listen-mode and per-connection routes once open), else 0.",
  },
} as const satisfies Record<string, MetricDef>;

type MetricName = keyof typeof DEFS;

/**
 * One row per metric, for the README table (and the test that keeps the two
 * in step). With `processMetrics` the registry also carries prom-client's
 * Node process metrics under the same prefix (`spwire_gateway_process_*`,
 * `spwire_gateway_nodejs_*`); they are not listed here.
 */
export const METRICS_DOC: ReadonlyArray<{ name: string; type: string; labels: string; help: string }> = Object.freeze(
  (Object.entries(DEFS) as [MetricName, MetricDef][]).map(([name, d]) =>
    Object.freeze({ name: PREFIX + name, type: d.type, labels: d.labels.join(", "), help: d.help }),
  ),
);

/** Cumulative messages and bytes received from (`in`) and sent to (`out`) a route's upstream peers. */
export interface UpstreamTraffic {
  inMessages: number;
  inBytes: number;
  outMessages: number;
  outBytes: number;
}

/** What the queue and upstream gauges read at scrape time. */
export interface MetricSources {
  /** One entry per connection (or per route, already summed): entries with the same route are added up. */
  queues(): Iterable<{ route: string; messages: number; bytes: number }>;
  /** One entry per route. */
  upstreams(): Iterable<{ route: string; pipes: number; up: boolean; traffic?: UpstreamTraffic }>;
  /** Drops counted inside the route's own sockets (cumulative), added to drops_total under their reasons. */
  socketDrops?(): Iterable<{ route: string; reason: string; count: number }>;
}

/** A route's counts, kept as plain numbers so the hot path never touches prom-client. */
interface RouteCounts {
  open: number;
  opened: number;
  downMessages: number;
  downBytes: number;
  upMessages: number;
  upBytes: number;
  filtered: number;
  /** By reason. */
  closed: Map<string, number>;
  /** By reason. */
  drops: Map<string, number>;
  /** By side, then code. */
  pipeErrors: { client: Map<string, number>; upstream: Map<string, number> };
  /** Upstream dial failures by code. */
  dialFailures: Map<string, number>;
}

function newRouteCounts(): RouteCounts {
  return {
    open: 0,
    opened: 0,
    downMessages: 0,
    downBytes: 0,
    upMessages: 0,
    upBytes: 0,
    filtered: 0,
    closed: new Map(),
    drops: new Map(),
    pipeErrors: { client: new Map(), upstream: new Map() },
    dialFailures: new Map(),
  };
}

function add(m: Map<string, number>, key: string, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

/** Throws for what would corrupt a counter: negative, NaN, infinite. */
function checkCount(what: string, n: number): void {
  // One comparison on the hot path; NaN fails it too.
  if (!(n >= 0 && n !== Infinity)) throw new RangeError(`GatewayMetrics: ${what} must be a finite number >= 0, got ${String(n)}`);
}

/**
 * The gateway's metrics. The gateway calls the event methods; `render()`
 * produces the Prometheus text for /metrics.
 *
 * @example
 * const m = new GatewayMetrics({ processMetrics: false });
 * m.addRoute("/feed");
 * m.connectionOpened("/feed");
 * m.messages("/feed", "down", 1, 42);
 * const text = await m.render();
 * // ... spwire_gateway_messages_total{route="/feed",direction="down"} 1
 */
export class GatewayMetrics {
  /** This gateway's own registry (never prom-client's global one). */
  readonly registry: Registry;
  readonly #routes = new Map<string, RouteCounts>();
  /** Refusals by route, then reason: kept apart so a refused unknown path ("") never gets per-route series. */
  readonly #refusals = new Map<string, Map<string, number>>();
  #sources: MetricSources | undefined;

  /** @param opts.processMetrics Also collect Node process metrics (CPU, memory, event loop, GC) into this registry, prefixed `spwire_gateway_`. Default true. */
  constructor(opts: { processMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const reg = this.registry;
    const routes = this.#routes;
    const refusals = this.#refusals;
    const sources = (): MetricSources | undefined => this.#sources;

    /**
     * Registers a metric whose series are rebuilt from the plain counts at
     * every scrape: reset, then `fill` puts each series' value. (Counters
     * cannot be set, only increased; after a reset, increasing by the total
     * is the same thing, and it works for gauges too.)
     */
    const metric = (name: MetricName, fill: (put: (labels: Record<string, string>, n: number) => void) => void): void => {
      const d: MetricDef = DEFS[name];
      const config = { name: PREFIX + name, help: d.help, labelNames: [...d.labels], registers: [reg] };
      if (d.type === "counter") {
        new Counter({
          ...config,
          collect(this: Counter) {
            this.reset();
            fill((labels, n) => this.inc(labels, n));
          },
        });
      } else {
        new Gauge({
          ...config,
          collect(this: Gauge) {
            this.reset();
            fill((labels, n) => this.inc(labels, n));
          },
        });
      }
    };
    const perRoute = (name: MetricName, value: (c: RouteCounts) => number): void =>
      metric(name, (put) => {
        for (const [route, c] of routes) put({ route }, value(c));
      });

    perRoute("connections", (c) => c.open);
    perRoute("connections_opened_total", (c) => c.opened);
    metric("connections_closed_total", (put) => {
      for (const [route, c] of routes) for (const [reason, n] of c.closed) put({ route, reason }, n);
    });
    metric("refusals_total", (put) => {
      for (const [route, byReason] of refusals) for (const [reason, n] of byReason) put({ route, reason }, n);
    });
    metric("messages_total", (put) => {
      for (const [route, c] of routes) {
        put({ route, direction: "down" }, c.downMessages);
        put({ route, direction: "up" }, c.upMessages);
      }
    });
    metric("bytes_total", (put) => {
      for (const [route, c] of routes) {
        put({ route, direction: "down" }, c.downBytes);
        put({ route, direction: "up" }, c.upBytes);
      }
    });
    metric("drops_total", (put) => {
      for (const [route, c] of routes) for (const [reason, n] of c.drops) put({ route, reason }, n);
      for (const d of sources()?.socketDrops?.() ?? []) put({ route: d.route, reason: d.reason }, d.count);
    });
    perRoute("filtered_total", (c) => c.filtered);
    metric("pipe_errors_total", (put) => {
      for (const [route, c] of routes) {
        for (const side of ["client", "upstream"] as const) {
          for (const [code, n] of c.pipeErrors[side]) put({ route, side, code }, n);
        }
      }
    });
    metric("upstream_dial_failures_total", (put) => {
      for (const [route, c] of routes) for (const [code, n] of c.dialFailures) put({ route, code }, n);
    });
    // Every route seen so far starts at 0, so an idle route still has a series.
    const queueGauge = (name: MetricName, pick: (q: { messages: number; bytes: number }) => number): void =>
      metric(name, (put) => {
        const sums = new Map<string, number>();
        for (const route of routes.keys()) sums.set(route, 0);
        for (const q of sources()?.queues() ?? []) add(sums, q.route, pick(q));
        for (const [route, n] of sums) put({ route }, n);
      });
    queueGauge("queue_messages", (q) => q.messages);
    queueGauge("queue_bytes", (q) => q.bytes);
    metric("upstream_pipes", (put) => {
      for (const u of sources()?.upstreams() ?? []) put({ route: u.route }, u.pipes);
    });
    const trafficCounter = (name: MetricName, inOf: (t: UpstreamTraffic) => number, outOf: (t: UpstreamTraffic) => number): void =>
      metric(name, (put) => {
        for (const u of sources()?.upstreams() ?? []) {
          const t = u.traffic;
          if (t === undefined) continue;
          put({ route: u.route, direction: "in" }, inOf(t));
          put({ route: u.route, direction: "out" }, outOf(t));
        }
      });
    trafficCounter("upstream_messages_total", (t) => t.inMessages, (t) => t.outMessages);
    trafficCounter("upstream_bytes_total", (t) => t.inBytes, (t) => t.outBytes);
    metric("upstream_up", (put) => {
      for (const u of sources()?.upstreams() ?? []) put({ route: u.route }, u.up ? 1 : 0);
    });

    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: reg, prefix: PREFIX });
  }

  #route(route: string): RouteCounts {
    let c = this.#routes.get(route);
    if (c === undefined) {
      c = newRouteCounts();
      this.#routes.set(route, c);
    }
    return c;
  }

  /**
   * Start a route's series at zero (connections, messages, bytes, filtered,
   * queues), so rate() and dashboards see the route from the first scrape.
   * Optional: any event on a route does the same.
   */
  addRoute(route: string): void {
    this.#route(route);
  }

  /** A browser connection was accepted on `route`. Pair each call with exactly one connectionClosed(). */
  connectionOpened(route: string): void {
    const c = this.#route(route);
    c.open++;
    c.opened++;
  }

  /** A connection opened with connectionOpened() ended; `reason` is "client", "idle", "slow-consumer", "shutdown", "error:<CODE>" ... */
  connectionClosed(route: string, reason: string): void {
    const c = this.#route(route);
    c.open--;
    add(c.closed, reason, 1);
  }

  /** An upgrade was refused; `route` is "" when the path matched no route. */
  refused(route: string, reason: string): void {
    let byReason = this.#refusals.get(route);
    if (byReason === undefined) {
      byReason = new Map();
      this.#refusals.set(route, byReason);
    }
    add(byReason, reason, 1);
  }

  /** `count` messages of `bytes` bytes in all were carried: down = to browsers, up = from browsers to the upstream. */
  messages(route: string, direction: "down" | "up", count: number, bytes: number): void {
    checkCount("count", count);
    checkCount("bytes", bytes);
    const c = this.#route(route);
    if (direction === "down") {
      c.downMessages += count;
      c.downBytes += bytes;
    } else {
      c.upMessages += count;
      c.upBytes += bytes;
    }
  }

  /** `count` (default 1) messages were dropped for `reason` ("queue-full", "drop-old", "latest-replaced", "rate-limit", "publish-denied", "upstream-queue" ...). */
  dropped(route: string, reason: string, count = 1): void {
    checkCount("count", count);
    const c = this.#route(route);
    c.drops.set(reason, (c.drops.get(reason) ?? 0) + count);
  }

  /** `count` (default 1) messages were not sent to a connection because its subscriptions or read rights excluded them. */
  filtered(route: string, count = 1): void {
    checkCount("count", count);
    this.#route(route).filtered += count;
  }

  /** A dial towards the upstream failed (it is retried); `code` is the SPError code. */
  dialFailed(route: string, code: string): void {
    add(this.#route(route).dialFailures, code, 1);
  }

  /** A pipe ended with an error; `code` is the SPError code (ECLOSED, EPROTO, ...). */
  pipeClosed(route: string, side: "client" | "upstream", code: string): void {
    add(this.#route(route).pipeErrors[side], code, 1);
  }

  /**
   * Where the queue and upstream gauges come from; read at every scrape.
   * Replaces any earlier sources. Until it is called those gauges report
   * only zero queues for routes seen so far.
   */
  setSources(s: MetricSources): void {
    this.#sources = s;
  }

  /** The Prometheus text exposition of this registry (serve it with `contentType`). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type for render()'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
