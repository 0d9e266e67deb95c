/**
 * One route: a ws path bridged to upstream SP peers with two raw sockets and
 * core's device(). The gateway implements no protocol: the front socket (the
 * browser protocol's peer, raw) takes the browsers' connections, the back
 * socket (the browser's own protocol, raw) dials or listens upstream, and the
 * device carries messages between them. Backtraces route replies and survey
 * answers to the right browser; a raw SUB upstream takes every topic and each
 * browser's ClientPipe filters.
 *
 * Browser connections reach the front socket through a tiny in-process
 * transport (`gw://`): the gateway's http server upgrades and checks them,
 * then hands the pipe in as if the socket had accepted it itself.
 *
 * Modes:
 * - shared: one front and one back socket for every browser on the route.
 * - per-connection: a front/back/device triple per browser, so each browser
 *   has its own upstream connection (pair0/pair1, anything stateful).
 */
import {
  Bus,
  Pair0,
  Pair1,
  Pub,
  Pull,
  Push,
  Rep,
  Req,
  Respondent,
  SPError,
  Sub,
  Surveyor,
  device,
  nodeTransports,
  type Device,
  type Logger,
  type Socket,
  type SocketConfig,
  type Transport,
  type TransportListener,
  type TransportPipe,
} from "@spwire/node";
import type { ClientPipe } from "./client.js";
import type { GatewayMetrics, UpstreamTraffic } from "./metrics.js";
import type { BrowserProtocol, RouteConfig } from "./types.js";

type SocketCtor = new (config?: SocketConfig) => Socket;

const CLASSES: Record<BrowserProtocol, SocketCtor> = {
  pair0: Pair0,
  pair1: Pair1,
  pub: Pub,
  sub: Sub,
  req: Req,
  rep: Rep,
  push: Push,
  pull: Pull,
  surveyor: Surveyor,
  respondent: Respondent,
  bus: Bus,
};

/** The protocol the gateway speaks towards a browser that speaks `p`. */
export const PEER: Record<BrowserProtocol, BrowserProtocol> = {
  pair0: "pair0",
  pair1: "pair1",
  pub: "sub",
  sub: "pub",
  req: "rep",
  rep: "req",
  push: "pull",
  pull: "push",
  surveyor: "respondent",
  respondent: "surveyor",
  bus: "bus",
};

/** nng's protocol name (pair0 is "pair"), as in Sec-WebSocket-Protocol tokens. */
export function spName(p: BrowserProtocol): string {
  return p === "pair0" ? "pair" : p;
}

/**
 * The in-process transport between the gateway's http server and its front
 * sockets: `listen("gw://name")` registers a socket, `deliver(name, pipe)`
 * hands it an upgraded connection. It cannot dial: no client input ever
 * names an address here.
 */
export class GatewayTransport implements Transport {
  readonly schemes = ["gw"];
  #accept = new Map<string, (p: TransportPipe) => void>();

  dial(): Promise<TransportPipe> {
    return Promise.reject(new SPError("ENOTSUP", "gw:// cannot be dialed"));
  }

  listen(url: URL, _opts: unknown, accept: (p: TransportPipe) => void): Promise<TransportListener> {
    const name = url.host;
    if (this.#accept.has(name)) return Promise.reject(new SPError("EADDRINUSE", `gw://${name} is taken`));
    this.#accept.set(name, accept);
    return Promise.resolve({
      url: url.href,
      close: async () => {
        if (this.#accept.get(name) === accept) this.#accept.delete(name);
      },
    });
  }

  /** Hand `pipe` to the socket listening on gw://name. False if none does (it was closed). */
  deliver(name: string, pipe: TransportPipe): boolean {
    const a = this.#accept.get(name);
    if (a === undefined) return false;
    a(pipe);
    return true;
  }
}

let nextName = 1;

/**
 * recvBuffer of a bridge's raw SUB (the back socket of a sub route, the front
 * of a pub route). A SUB drops the oldest message when its queue is full, and
 * one read (64 KiB of tcp, a batch of ws frames) can hand it thousands of
 * small messages before the device, which empties the queue between reads,
 * runs: with SUB's 128, a burst of 205 short messages from one upstream Pub
 * lost 76, counted nowhere but the socket's own stats. Sized to a read's
 * worth of tiny messages, the queue still only ever holds what one read
 * delivered, so its memory stays bounded by that read. Other protocols stop
 * reading when full instead of dropping, and keep their default.
 */
const SUB_RECV_BUFFER = 8192;

interface Bridge {
  front: Socket;
  back: Socket;
  dev: Device;
  name: string;
}

export interface RouteDeps {
  transport: GatewayTransport;
  metrics: GatewayMetrics;
  /** The core logger for this route's sockets. */
  logger: Logger;
}

export class Route {
  readonly cfg: RouteConfig;
  /** The browsers on this route. */
  readonly clients = new Set<ClientPipe>();
  #deps: RouteDeps;
  #shared: Bridge | undefined;
  #perConn = new Map<ClientPipe, Bridge>();
  #closed = false;
  /** Drops counted by per-connection bridges that are gone, so the totals never go down. */
  #pastDrops = new Map<string, number>();
  /** Upstream traffic of per-connection bridges already gone (see upstreamTraffic). */
  #pastTraffic = newTraffic();

  constructor(cfg: RouteConfig, deps: RouteDeps) {
    this.cfg = cfg;
    this.#deps = deps;
  }

  /** The subprotocol a browser offers on this route: the gateway's side, e.g. "pub.sp.nanomsg.org" for a browser SUB. */
  get token(): string {
    return `${spName(PEER[this.cfg.protocol])}.sp.nanomsg.org`;
  }

  #upstreamOptions(): Record<string, unknown> {
    const t = this.cfg.upstreamTls;
    if (t === undefined) return {};
    const o: Record<string, unknown> = {};
    if (t.ca !== undefined) o.ca = t.ca;
    if (t.cert !== undefined) o.cert = t.cert;
    if (t.key !== undefined) o.key = t.key;
    if (t.servername !== undefined) o.servername = t.servername;
    if (t.insecure !== undefined) o.insecure = t.insecure;
    return o;
  }

  async #bridge(): Promise<Bridge> {
    const { transport, logger } = this.#deps;
    const name = `r${nextName++}`;
    const front = new CLASSES[PEER[this.cfg.protocol]]({
      raw: true,
      transports: [transport],
      logger,
      recvMaxSize: this.cfg.maxMessageSize,
      ...(PEER[this.cfg.protocol] === "sub" ? { recvBuffer: SUB_RECV_BUFFER } : {}),
    });
    const back = new CLASSES[this.cfg.protocol]({
      raw: true,
      transports: nodeTransports(),
      logger,
      recvMaxSize: this.cfg.maxMessageSize,
      ...(this.cfg.protocol === "sub" ? { recvBuffer: SUB_RECV_BUFFER } : {}),
      reconnectMinTime: 100,
      reconnectMaxTime: 5000,
    });
    back.on("dialerror", ({ error }) => this.#deps.metrics.dialFailed(this.cfg.path, error.code));
    back.on("piperemove", ({ error }) => {
      if (error !== undefined) this.#deps.metrics.pipeClosed(this.cfg.path, "upstream", error.code);
    });
    front.on("piperemove", ({ error }) => {
      if (error !== undefined && error.code !== "ECONNSHUT") this.#deps.metrics.pipeClosed(this.cfg.path, "client", error.code);
    });
    try {
      await front.listen(`gw://${name}`);
      if (this.cfg.upstreamMode === "listen") await back.listen(this.cfg.upstream, this.#upstreamOptions());
      else back.dial(this.cfg.upstream, this.#upstreamOptions());
    } catch (err) {
      await Promise.all([front.close(), back.close()]);
      throw err;
    }
    const dev = device(front, back);
    dev.done.catch((err: unknown) => logger.error(`device on ${this.cfg.path} stopped: ${String(err)}`));
    return { front, back, dev, name };
  }

  /** Open the shared sockets (shared mode); per-connection routes open theirs per browser. */
  async start(): Promise<void> {
    if (this.cfg.mode === "shared") this.#shared = await this.#bridge();
  }

  /** A browser passed every check: give its pipe to the front socket. */
  async accept(c: ClientPipe): Promise<void> {
    if (this.#closed) {
      c.close(new SPError("ECLOSED", "route closed"));
      return;
    }
    this.clients.add(c);
    let bridge = this.#shared;
    if (bridge === undefined) {
      try {
        bridge = await this.#bridge();
      } catch (err) {
        this.clients.delete(c);
        c.close(err instanceof SPError ? err : new SPError("ECONNREFUSED", String(err)));
        throw err;
      }
      this.#perConn.set(c, bridge);
    }
    if (!this.#deps.transport.deliver(bridge.name, c)) c.close(new SPError("ECLOSED", "route closed"));
  }

  /** The browser's pipe is gone. */
  removed(c: ClientPipe): void {
    this.clients.delete(c);
    const b = this.#perConn.get(c);
    if (b !== undefined) {
      this.#perConn.delete(c);
      this.#addDrops(this.#pastDrops, b);
      addTraffic(this.#pastTraffic, b);
      void b.dev.close();
    }
  }

  #addDrops(into: Map<string, number>, b: Bridge): void {
    for (const [side, s] of [["gateway", b.front], ["upstream", b.back]] as const) {
      for (const [reason, n] of Object.entries(s.stats.dropReasons)) {
        const k = `${side} socket: ${reason}`;
        into.set(k, (into.get(k) ?? 0) + n);
      }
    }
  }

  /**
   * Messages the route's own sockets dropped (a raw SUB's receive queue
   * overflowing, a reply for a browser already gone ...), by reason prefixed
   * with the side: "upstream socket: recv queue full". Cumulative.
   */
  socketDrops(): Map<string, number> {
    const m = new Map(this.#pastDrops);
    if (this.#shared !== undefined) this.#addDrops(m, this.#shared);
    for (const b of this.#perConn.values()) this.#addDrops(m, b);
    return m;
  }

  /**
   * Messages and bytes between the route and its upstream peers, read from
   * the back sockets' own counters (nothing is counted on the hot path).
   * Cumulative. A frozen upstream keeps its pipe, so `up` says nothing about
   * it; a feed whose `in` count stops rising does.
   */
  upstreamTraffic(): UpstreamTraffic {
    const t = { ...this.#pastTraffic };
    if (this.#shared !== undefined) addTraffic(t, this.#shared);
    for (const b of this.#perConn.values()) addTraffic(t, b);
    return t;
  }

  /** Upstream pipes now (shared mode: the one back socket; per-connection: all of them). */
  get upstreamPipes(): number {
    if (this.#shared !== undefined) return this.#shared.back.pipes.length;
    let n = 0;
    for (const b of this.#perConn.values()) n += b.back.pipes.length;
    return n;
  }

  /** Ready: a dialing shared route has an upstream connection; listening and per-connection routes are ready once open. */
  get up(): boolean {
    if (this.#closed) return false;
    if (this.cfg.mode === "per-connection" || this.cfg.upstreamMode === "listen") return true;
    return this.upstreamPipes > 0;
  }

  /** The shared sockets, for stats. */
  get sockets(): { front: Socket; back: Socket } | undefined {
    return this.#shared === undefined ? undefined : { front: this.#shared.front, back: this.#shared.back };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const all = [...this.#perConn.values()];
    if (this.#shared !== undefined) all.push(this.#shared);
    this.#perConn.clear();
    await Promise.all(all.map((b) => b.dev.close()));
  }
}

function newTraffic(): UpstreamTraffic {
  return { inMessages: 0, inBytes: 0, outMessages: 0, outBytes: 0 };
}

function addTraffic(into: UpstreamTraffic, b: Bridge): void {
  const s = b.back.stats;
  into.inMessages += s.msgsIn;
  into.inBytes += s.bytesIn;
  into.outMessages += s.msgsOut;
  into.outBytes += s.bytesOut;
}
