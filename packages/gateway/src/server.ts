/**
 * The gateway's front door: one http(s) server on one port carrying every
 * route's WebSocket upgrades, the operator endpoints (/healthz, /readyz,
 * /metrics, /routes) and optional static files.
 *
 * An upgrade goes through, in order: the upgrade deadline (from TCP accept,
 * TLS included), the path (a configured route, or refused), the subprotocol
 * (the route's token, else HTTP 400: without it a browser cannot even open
 * the socket), the origin allowlist, the connection limits (total and per
 * client IP), the subscription query, and authentication. A refusal after
 * the subprotocol check completes the upgrade and closes at once with a
 * documented close code (types.ts REFUSALS), because a page's WebSocket
 * cannot read HTTP statuses; every refusal is also a log line and a metric.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { BlockList, createServer as createNetServer, isIP, type Server as NetServer, type Socket as NetSocket } from "node:net";
import { TLSSocket, createSecureContext } from "node:tls";
import type { Duplex } from "node:stream";
import type { Logger as Pino } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { parseSubQuery } from "@spwire/core";
import { normalizeWsPath, refuseUpgrade } from "@spwire/node";
import { originAllowed, toPrefixes, type Authenticator } from "./auth.js";
import { ClientPipe } from "./client.js";
import { createHttpHandler } from "./http.js";
import type { GatewayMetrics } from "./metrics.js";
import { Route, spName, PEER, type GatewayTransport } from "./route.js";
import { CLOSE, REFUSALS, type GatewayConfig, type Identity, type RefusalReason } from "./types.js";

/**
 * An upgrade socket's error listener. Module-level, not a closure: one made
 * in #onUpgrade would hold that call's whole scope (request, client, limits
 * bookkeeping) for as long as the connection lives.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function queryOf(url: string | undefined): string {
  const u = url ?? "";
  const q = u.indexOf("?");
  if (q < 0) return "";
  const h = u.indexOf("#", q);
  return u.slice(q, h < 0 ? undefined : h);
}

/** An address as the limits count it: IPv4-mapped IPv6 ("::ffff:10.0.0.1") as the IPv4 address. */
const plainIp = (a: string): string => a.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "").toLowerCase();

/** The trusted proxies (config.trustProxy: addresses and CIDR ranges) as one lookup; undefined when none is trusted. */
export function trustedProxies(list: readonly string[] | undefined): BlockList | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const b = new BlockList();
  for (const x of list) {
    const [addr, bits] = x.split("/") as [string, string | undefined];
    const type = isIP(addr) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) b.addAddress(addr, type);
    else b.addSubnet(addr, Number(bits), type);
  }
  return b;
}

function isTrusted(trusted: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && trusted.check(ip, family === 6 ? "ipv6" : "ipv4");
}

/**
 * Who a connection is from, for the per-IP limit and the logs. The TCP peer,
 * unless the peer is a trusted proxy: then the rightmost X-Forwarded-For
 * address that is not itself a trusted proxy, with `via` the peer. Each proxy
 * appends the address it saw, so only the entries a trusted proxy wrote, read
 * from the right, are facts; anything further left is the client's say. An
 * entry that is not an IP address ends the walk at the hop that reported it.
 */
export function clientAddress(req: IncomingMessage, trusted: BlockList | undefined): { ip: string; via?: string } {
  const peer = plainIp(req.socket.remoteAddress ?? "?");
  if (trusted === undefined || !isTrusted(trusted, peer)) return { ip: peer };
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
  let ip: string | undefined;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = plainIp(hops[i]!.trim());
    if (isIP(hop) === 0) break;
    ip = hop;
    if (!isTrusted(trusted, hop)) break;
  }
  return ip === undefined ? { ip: peer } : { ip, via: peer };
}

function remoteOf(req: IncomingMessage, scheme: string, client: { ip: string; via?: string }): string {
  // Behind a proxy the client's port is unknown: the address alone.
  const a = client.via === undefined ? (req.socket.remoteAddress ?? "?") : client.ip;
  const host = a.includes(":") ? `[${a}]` : a;
  return client.via === undefined ? `${scheme}://${host}:${req.socket.remotePort ?? 0}` : `${scheme}://${host}`;
}

export interface ServerDeps {
  config: GatewayConfig;
  routes: Map<string, Route>;
  transport: GatewayTransport;
  metrics: GatewayMetrics;
  auth: Authenticator;
  log: Pino;
}

export class GatewayServer {
  readonly http: Server;
  #bound: NetServer;
  #d: ServerDeps;
  #scheme: "ws" | "wss";
  #wss = new Map<string, WebSocketServer>();
  #refuser: WebSocketServer;
  #deadlines = new Map<Duplex, ReturnType<typeof setTimeout>>();
  /** Upgrades already counted and logged as refused, so a bad handshake under them is not counted twice. */
  #counted = new WeakSet<IncomingMessage>();
  /** Connections counted against the limits: upgraded, or being authenticated. */
  #total = 0;
  #perIp = new Map<string, number>();
  #trusted: BlockList | undefined;
  #draining = false;
  #sweep: ReturnType<typeof setInterval> | undefined;
  url = "";

  constructor(d: ServerDeps) {
    this.#d = d;
    const { config } = d;
    this.#scheme = config.listen.startsWith("wss:") ? "wss" : "ws";
    this.#trusted = trustedProxies(config.trustProxy);
    this.http = createHttpServer();
    if (config.tls !== undefined) {
      // TLS is done per accepted TCP connection so the upgrade deadline covers the TLS handshake too.
      const ctx = createSecureContext({ cert: config.tls.cert, key: config.tls.key });
      this.#bound = createNetServer((raw: NetSocket) => {
        const t = new TLSSocket(raw, { isServer: true, secureContext: ctx });
        t.on("error", destroyOnError);
        this.http.emit("connection", t);
      });
    } else {
      this.#bound = this.http;
    }
    for (const r of d.routes.values()) {
      this.#wss.set(
        r.cfg.path,
        new WebSocketServer({
          noServer: true,
          perMessageDeflate: false,
          clientTracking: false,
          maxPayload: r.cfg.maxMessageSize,
          handleProtocols: (offered: Set<string>) => [...offered].find((p) => p.toLowerCase() === r.token) ?? false,
        }),
      );
    }
    // Upgrades that are refused before a route is known (no such path) still get a close code.
    this.#refuser = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: 1,
      handleProtocols: (offered: Set<string>) => [...offered][0] ?? false,
    });
    // A handshake the ws package rejects (bad Sec-WebSocket-Key or version, an Upgrade that is not
    // websocket) would otherwise get its 400 with no log line and no count.
    for (const [path, w] of [...this.#wss, ["", this.#refuser] as const]) {
      w.on("wsClientError", (err: Error, s: Duplex, req: IncomingMessage) => {
        if (!this.#counted.has(req)) {
          d.metrics.refused(path, "bad-http");
          d.log.warn({ route: path, reason: "bad-http", ...clientAddress(req, this.#trusted) }, `refused: bad WebSocket handshake: ${err.message}`);
        }
        refuseUpgrade(s, 400, err.message);
      });
    }
    const handler = createHttpHandler({
      metrics: d.metrics,
      staticDir: config.staticDir,
      draining: () => this.#draining,
      log: d.log,
      routes: () =>
        [...d.routes.values()].map((r) => ({
          path: r.cfg.path,
          protocol: r.cfg.protocol,
          subprotocol: r.token,
          mode: r.cfg.mode,
          filtering: r.cfg.protocol === "sub",
          auth: r.cfg.auth,
          maxMessageSize: r.cfg.maxMessageSize,
          policy: r.cfg.queue.policy,
        })),
      ready: () => {
        const routes = [...d.routes.values()].map((r) => ({
          path: r.cfg.path,
          upstreamMode: r.cfg.upstreamMode,
          pipes: r.upstreamPipes,
          up: r.up,
        }));
        return { ready: routes.every((r) => r.up), routes };
      },
    });
    // A plain HTTP request ends the upgrade deadline: that connection is HTTP now (a page, a
    // scrape, a keep-alive series of them), held by node's own timeouts, not cut mid-response
    // and counted as an upgrade refusal.
    this.http.on("request", (req: IncomingMessage) => this.#clearDeadline(req.socket));
    this.http.on("request", handler);
    this.http.on("connection", (s: Duplex) => this.#onConnection(s));
    this.http.on("upgrade", (req: IncomingMessage, s: Duplex, head: Buffer) => {
      this.#onUpgrade(req, s, head).catch((err: unknown) => {
        d.log.error({ err }, "upgrade handling failed");
        s.destroy();
      });
    });
    this.http.on("clientError", (err: NodeJS.ErrnoException, s: Duplex) => {
      this.#clearDeadline(s);
      d.metrics.refused("", "bad-http");
      d.log.debug({ code: err.code, error: err.message }, "bad HTTP from a client");
      if (s.writable && err.code !== "ECONNRESET") refuseUpgrade(s, 400, "bad request");
      else s.destroy();
    });
  }

  get draining(): boolean {
    return this.#draining;
  }

  async listen(): Promise<string> {
    const u = new URL(this.#d.config.listen);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = u.port === "" ? (this.#scheme === "wss" ? 443 : 80) : Number(u.port);
    await new Promise<void>((resolve, reject) => {
      this.#bound.once("error", reject);
      this.#bound.listen(port, host === "" || host === "*" ? undefined : host, () => {
        this.#bound.removeListener("error", reject);
        resolve();
      });
    });
    this.#bound.on("error", (err) => this.#d.log.error({ err }, "listener error"));
    const addr = this.#bound.address();
    if (typeof addr === "object" && addr !== null) u.port = String(addr.port);
    this.url = u.href.replace(/\/$/, "");
    const { pingInterval } = this.#d.config.limits;
    if (pingInterval > 0) {
      this.#sweep = setInterval(() => this.#pingSweep(), pingInterval);
      this.#sweep.unref();
    }
    return this.url;
  }

  /** A browser's WebSocket closed: one function for every connection, so an idle one holds no closure of its own. */
  #clientClosed = (c: ClientPipe, code: number): void => {
    this.#release(c.ip);
    const route = this.#d.routes.get(c.route.path);
    route?.removed(c);
    // When the ws package itself failed the connection (a frame over maxPayload), the pipe's
    // report of why, which sets c.closeLabel, comes a microtask after this event: read it then.
    queueMicrotask(() => {
      const reason = c.closeLabel ?? (code === 1006 ? "dropped" : "client");
      this.#d.metrics.connectionClosed(c.route.path, reason);
      this.#d.log.info({ route: c.route.path, remote: c.remoteAddress, code, reason }, "browser disconnected");
    });
  };

  /** Give back a connection's slot in the limits. */
  #release(ip: string): void {
    this.#total--;
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }

  /** `this` is the socket: one listener for every connection still in its HTTP phase, not a closure each. */
  #earlyCloseListener = ((server: GatewayServer) =>
    function (this: Duplex): void {
      server.#clearDeadline(this);
    })(this);

  #onConnection(s: Duplex): void {
    const ms = this.#d.config.limits.upgradeTimeout;
    const t = setTimeout(() => {
      this.#deadlines.delete(s);
      this.#d.metrics.refused("", "upgrade-timeout");
      this.#d.log.info({ reason: "upgrade-timeout", remote: (s as NetSocket).remoteAddress }, `no WebSocket upgrade within ${ms} ms: connection dropped`);
      s.destroy();
    }, ms);
    this.#deadlines.set(s, t);
    s.on("close", this.#earlyCloseListener);
  }

  #clearDeadline(s: Duplex): void {
    const t = this.#deadlines.get(s);
    if (t === undefined) return;
    clearTimeout(t);
    this.#deadlines.delete(s);
    s.removeListener("close", this.#earlyCloseListener);
  }

  /** Complete the upgrade only to close it at once with the refusal's code. */
  #refuse(req: IncomingMessage, socket: Duplex, head: Buffer, wss: WebSocketServer, path: string, reason: RefusalReason, message: string, fields: object = {}): void {
    const code = REFUSALS[reason];
    this.#d.metrics.refused(path, reason);
    this.#counted.add(req);
    this.#d.log.warn({ route: path, reason, code, ...clientAddress(req, this.#trusted), origin: req.headers.origin, ...fields }, `refused: ${message}`);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("error", () => ws.terminate());
      ws.close(code, reason);
    });
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    this.#clearDeadline(socket);
    socket.on("error", destroyOnError);
    const { config, routes, metrics, log, auth } = this.#d;
    const path = normalizeWsPath(req.url ?? "/");
    const route = routes.get(path);
    const offered = req.headers["sec-websocket-protocol"];
    if (route === undefined) {
      if (offered === undefined) {
        metrics.refused("", "no-route");
        log.info({ reason: "no-route", path, ...clientAddress(req, this.#trusted) }, `refused: no route at ${path} (and no SP subprotocol offered)`);
        refuseUpgrade(socket, 404, `no route at ${path}`);
        return;
      }
      this.#refuse(req, socket, head, this.#refuser, "", "no-route", `no route at ${path}`, { path });
      return;
    }
    const wss = this.#wss.get(path)!;
    const tokens = (offered ?? "").split(",").map((s) => s.trim().toLowerCase());
    if (!tokens.includes(route.token)) {
      metrics.refused(path, "subprotocol");
      log.warn({ route: path, reason: "subprotocol", offered, ...clientAddress(req, this.#trusted) }, `refused: subprotocol must be ${route.token}`);
      refuseUpgrade(socket, 400, `this route speaks ${route.token}`);
      return;
    }
    if (this.#draining) {
      this.#refuse(req, socket, head, wss, path, "shutting-down", "the gateway is shutting down");
      return;
    }
    if (!originAllowed(req.headers.origin, route.cfg.origins ?? config.origins)) {
      this.#refuse(req, socket, head, wss, path, "origin", `origin ${String(req.headers.origin)} is not allowed`);
      return;
    }
    const client = clientAddress(req, this.#trusted);
    const ip = client.ip;
    if (this.#total >= config.limits.maxConnections) {
      this.#refuse(req, socket, head, wss, path, "max-connections", `${this.#total} connections is the limit`);
      return;
    }
    if ((this.#perIp.get(ip) ?? 0) >= config.limits.maxConnectionsPerIp) {
      this.#refuse(req, socket, head, wss, path, "max-connections-ip", `${ip} has ${config.limits.maxConnectionsPerIp} connections, the limit`);
      return;
    }
    let subs: Uint8Array[] | undefined;
    try {
      subs = route.cfg.protocol === "sub" ? parseSubQuery(queryOf(req.url)) : undefined;
    } catch (err) {
      this.#refuse(req, socket, head, wss, path, "bad-request", `bad subscription query: ${(err as Error).message}`);
      return;
    }
    // Reserve the slot before the (possibly asynchronous) token check, so a burst cannot overshoot the limits.
    this.#total++;
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#release(ip);
    };
    // The slot goes with the socket too: ws may still reject the handshake (a bad Sec-WebSocket-Key)
    // without ever opening the WebSocket whose close would release it.
    socket.once("close", release);
    let identity: Identity;
    try {
      const out = await auth.authenticate(req, route.cfg);
      if (!out.ok) {
        release();
        this.#refuse(req, socket, head, wss, path, out.reason, out.message);
        return;
      }
      identity = out.identity;
    } catch (err) {
      release();
      this.#refuse(req, socket, head, wss, path, "auth-error", String(err));
      return;
    }
    if (socket.destroyed) {
      release();
      return;
    }
    if (this.#draining) {
      release();
      this.#refuse(req, socket, head, wss, path, "shutting-down", "the gateway is shutting down");
      return;
    }
    const remote = remoteOf(req, this.#scheme, client);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      let c: ClientPipe;
      try {
        c = new ClientPipe({
          ws,
          ip,
          route: route.cfg,
          identity,
          subscriptions: subs,
          read: toPrefixes(identity.rights.read),
          publish: toPrefixes(identity.rights.publish),
          localAddress: `${this.url}${path}`,
          remoteAddress: remote,
          metrics,
          log,
          onClose: this.#clientClosed,
          closeTimeout: config.limits.closeTimeout,
        });
      } catch (err) {
        release();
        ws.terminate();
        log.warn({ route: path, remote, err: String(err) }, "could not start a browser pipe");
        return;
      }
      // handleUpgrade hands over an open WebSocket: from here its close event (c.wsClosed -> #clientClosed) frees the slot.
      socket.removeListener("close", release);
      metrics.connectionOpened(path);
      log.info({ route: path, remote, via: client.via, subject: identity.subject, subscriptions: subs?.length }, "browser connected");
      route.accept(c).catch((err: unknown) => log.warn({ route: path, err: String(err) }, "could not open the upstream for a browser"));
    });
  }

  #pingSweep(): void {
    const { idleTimeout, pingInterval } = this.#d.config.limits;
    const now = Date.now();
    for (const r of this.#d.routes.values()) {
      for (const c of r.clients) {
        if (c.closed) continue;
        if (idleTimeout > 0 && now - c.lastSeen > idleTimeout) {
          this.#d.log.info({ route: r.cfg.path, remote: c.remoteAddress, idleMs: now - c.lastSeen }, "browser idle: closed");
          c.closeWith(CLOSE.idle, "idle timeout", "idle");
          continue;
        }
        // Only browsers are pinged: upstream pipes never are (nanomsg would take a ping's payload for a message).
        if (now - c.lastSeen >= pingInterval / 2) {
          try {
            c.ws.ping();
          } catch (err) {
            // The socket is closing under us; its close event ends the pipe.
            this.#d.log.debug({ route: r.cfg.path, remote: c.remoteAddress, err: String(err) }, "ping failed");
          }
        }
      }
    }
  }

  /**
   * Stop accepting, close every browser with 1001 once its queue has flushed
   * (or the deadline passed), and wait until they are gone.
   */
  async shutdown(timeout: number): Promise<void> {
    this.#draining = true;
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    // Stop accepting; the callback runs once every accepted connection is gone.
    const unbound = new Promise<void>((resolve) => this.#bound.close(() => resolve()));
    this.http.closeIdleConnections?.();
    // Connections that never upgraded would hold the server open: end them now.
    for (const [s, t] of this.#deadlines) {
      clearTimeout(t);
      s.destroy();
    }
    this.#deadlines.clear();
    await this.#closeClients(timeout);
    this.http.closeAllConnections?.();
    await Promise.race([unbound, new Promise((r) => setTimeout(r, 1000).unref())]);
    for (const w of this.#wss.values()) w.close();
    this.#refuser.close();
  }

  async #closeClients(timeout: number): Promise<void> {
    const clients = [...this.#d.routes.values()].flatMap((r) => [...r.clients]);
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline && clients.some((c) => !c.closed && !c.flushed)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const gone = clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === c.ws.CLOSED) {
            resolve();
            return;
          }
          c.ws.once("close", () => resolve());
          c.closeWith(CLOSE.goingAway, "gateway shutting down", "shutdown");
        }),
    );
    const timer = new Promise<void>((r) => setTimeout(r, Math.max(100, deadline - Date.now())).unref());
    await Promise.race([Promise.all(gone), timer]);
    for (const c of clients) if (c.ws.readyState !== c.ws.CLOSED) c.ws.terminate();
  }
}

export { spName, PEER };
