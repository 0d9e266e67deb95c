/**
 * Socket: owns one protocol, its dialers, listeners and pipes, the receive
 * queue and the counters. Protocol classes (Pub, Sub, Req, Rep ...) are thin
 * subclasses that pick the protocol and add its verbs.
 *
 * Error policy: bad arguments throw at once (SPError EINVAL / EADDRINVAL);
 * a lost pipe is an event, a log line and a counter, never an exception; bad
 * bytes from a peer close that pipe only.
 */
import { Dialer, type DialOptions, type DialerHost } from "./dialer.js";
import { SPError, closedError, isSPError } from "./errors.js";
import { Emitter, bump, consoleLogger, type Logger } from "./log.js";
import { Message, type Data } from "./message.js";
import { waitFor, Queue, type Settle } from "./op.js";
import { resolveOptions, checkTime, type ResolvedOptions, type SocketOptions } from "./options.js";
import { Pipe } from "./pipe.js";
import type { OpOptions, ProtocolFactory, ProtocolImpl } from "./protocol.js";
import type { ProtocolInfo } from "./protocols.js";
import type { Transport, TransportListener, TransportOptions, TransportPipe } from "./transport.js";
import { wsTransport } from "./transport/ws.js";

/** Options every socket takes: the nng options plus where its transports and logs come from. */
export interface SocketConfig extends SocketOptions {
  /** Transports this socket may use, by URL scheme. Default: ws/wss over the global WebSocket. */
  transports?: readonly Transport[];
  /** Where log lines go. Default: warnings and errors to the console. */
  logger?: Logger;
}

/** Counters; read them any time from `socket.stats`. */
export interface SocketStats {
  /** Messages and bytes (header + body) received from pipes, before any filtering. */
  msgsIn: number;
  bytesIn: number;
  /** Messages and bytes handed to transports (one per pipe a message went to). */
  msgsOut: number;
  bytesOut: number;
  /** Messages dropped, and why (queue full, unknown request id, ttl exceeded ...). */
  drops: number;
  dropReasons: Record<string, number>;
  /** SUB messages no subscription matched (not counted as drops). */
  filtered: number;
  pipesOpened: number;
  pipesClosed: number;
  /** Pipes that ended with an error, by SPError code. */
  pipeErrors: Record<string, number>;
  /** Failed dial attempts (each is followed by a reconnect unless the dialer stops). */
  reconnects: number;
  /** Connections a listener refused (bad handshake, wrong subprotocol, deadline), by code. */
  refused: Record<string, number>;
}

export interface SocketEvents {
  /** A pipe was added (connected). */
  pipeadd: Pipe;
  /**
   * A pipe went away; `error` says why (undefined for a clean local close).
   * For a ws pipe the peer closed, `error.cause` holds the close frame's
   * `{ code, reason }` (see WsCloseInfo).
   */
  piperemove: { pipe: Pipe; error: SPError | undefined };
  /** A dial attempt failed; `retryIn` ms until the next (-1: the dialer stopped). */
  dialerror: { dialer: Dialer; error: SPError; attempt: number; retryIn: number };
  /** A listener refused an incoming connection. */
  accepterror: { listener: Listener; error: SPError; remoteAddress: string };
  /** The socket was closed. */
  close: undefined;
}

/** A bound listener. `url` carries the real port when port 0 was asked for. */
export class Listener {
  readonly url: string;
  #tl: TransportListener;
  #onClose: (l: Listener) => void;
  #closed = false;

  /** @internal */
  constructor(tl: TransportListener, onClose: (l: Listener) => void) {
    this.#tl = tl;
    this.url = tl.url;
    this.#onClose = onClose;
  }

  /** Stop accepting, and close the pipes this listener accepted (as nng_listener_close does). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this);
    await this.#tl.close();
  }
}

/** Who made a pipe: its dialer (told when the pipe goes) or its listener. */
type Origin = Dialer | Listener;

export class Socket implements AsyncIterable<Message> {
  /** This socket's protocol and its peer. */
  readonly info: ProtocolInfo;
  readonly raw: boolean;
  readonly options: Readonly<ResolvedOptions>;
  readonly stats: SocketStats = {
    msgsIn: 0,
    bytesIn: 0,
    msgsOut: 0,
    bytesOut: 0,
    drops: 0,
    dropReasons: {},
    filtered: 0,
    pipesOpened: 0,
    pipesClosed: 0,
    pipeErrors: {},
    reconnects: 0,
    refused: {},
  };

  /** @internal */
  protected readonly proto: ProtocolImpl;
  #transports: readonly Transport[];
  #log: Logger;
  #events: Emitter<SocketEvents>;
  #pipes: Pipe[] = [];
  /** Live pipes by id, with who made them. */
  #records = new Map<number, [Pipe, Origin]>();
  #dialers = new Set<Dialer>();
  #listeners = new Set<Listener>();
  #recvq = new Queue<Message>();
  #waiters = new Queue<{ live: boolean; s: Settle<Message> }>();
  #paused = false;
  #closed = false;
  #dialerHost: DialerHost;

  constructor(info: ProtocolInfo, factory: ProtocolFactory, config: SocketConfig = {}, protoDefaults: Partial<ResolvedOptions> = {}) {
    const { transports, logger, ...opts } = config;
    const options = (this.options = Object.freeze(resolveOptions(opts as Record<string, unknown>, protoDefaults)));
    const raw = (this.raw = options.raw);
    const log = (this.#log = logger ?? consoleLogger);
    this.info = info;
    this.#transports = transports ?? [wsTransport()];
    this.#events = new Emitter<SocketEvents>(log);
    const self = this;
    this.proto = factory({
      info,
      options,
      raw,
      log,
      deliver: (m) => this.#deliver(m),
      drop: (reason) => this.#drop(reason),
      filtered: () => {
        this.stats.filtered++;
      },
      closePipe: (p, err) => p.close(err),
      pipes: () => this.#pipes,
      pipe: (id) => this.#records.get(id)?.[0],
      get closed() {
        return self.#closed;
      },
    });
    this.#dialerHost = {
      options,
      transportOptions: (extra, signal) => this.transportOptions(extra, signal),
      attach: (tp, dialer) => this.#attach(tp, dialer),
      target: (_dialer, url, o) => this.dialTarget(url, o),
      dialFailed: (dialer, error, retryIn) => {
        this.stats.reconnects++;
        const attempt = dialer.attempts;
        const fields = { code: error.code, attempt, retryIn: Math.round(retryIn) };
        if (retryIn < 0) log.warn(`dial ${dialer.url} failed: ${error.message}`, fields);
        else log.info(`dial ${dialer.url} failed, retrying: ${error.message}`, fields);
        this.#events.emit("dialerror", { dialer, error, attempt, retryIn });
      },
    };
  }

  /** The live pipes. */
  get pipes(): readonly Pipe[] {
    return this.#pipes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get dialers(): readonly Dialer[] {
    return [...this.#dialers];
  }

  get listeners(): readonly Listener[] {
    return [...this.#listeners];
  }

  /** Subscribe to an event; returns the function that unsubscribes. */
  on<K extends keyof SocketEvents>(name: K, fn: (ev: SocketEvents[K]) => void): () => void {
    return this.#events.on(name, fn);
  }

  off<K extends keyof SocketEvents>(name: K, fn: (ev: SocketEvents[K]) => void): void {
    this.#events.off(name, fn);
  }

  #transportFor(url: string): [URL, Transport] {
    if (this.#closed) throw closedError();
    if (typeof url !== "string") throw new SPError("EINVAL", `URL must be a string, got ${typeof url}`);
    let u: URL;
    try {
      // nng writes a wildcard host as "tcp://:5555"; WHATWG URL refuses an empty host with a port.
      u = new URL(url.replace(/^([a-z0-9+]+):\/\/:/i, "$1://*:"));
    } catch (err) {
      throw new SPError("EADDRINVAL", `invalid URL "${url}"`, { cause: err });
    }
    const scheme = u.protocol.slice(0, -1);
    const t = this.#transports.find((x) => x.schemes.includes(scheme));
    if (t === undefined) {
      const have = this.#transports.flatMap((x) => x.schemes).join(", ") || "none";
      throw new SPError(
        "EADDRINVAL",
        `no transport for "${scheme}://" on this socket (it has: ${have}); in Node, import the socket from @spwire/node for tcp://`,
      );
    }
    return [u, t];
  }

  /**
   * Connect to `url` and stay connected: the dialer redials in the background
   * with jittered exponential backoff. Await the result to wait for the first
   * connection. In a browser it also redials at once when the page comes
   * back online or becomes visible again (see Dialer).
   *
   * @example
   * const sub = new Sub();
   * sub.subscribe("prices.");
   * await sub.dial("ws://127.0.0.1:8080/feed");
   */
  dial(url: string, opts: DialOptions = {}): Dialer {
    const [u, t] = this.#transportFor(url);
    if (opts.reconnectMinTime !== undefined) checkTime("reconnectMinTime", opts.reconnectMinTime);
    if (opts.reconnectMaxTime !== undefined) checkTime("reconnectMaxTime", opts.reconnectMaxTime);
    const d = new Dialer(u, t, this.#dialerHost, opts);
    this.#dialers.add(d);
    d.then(undefined, () => this.#dialers.delete(d));
    d.start();
    return d;
  }

  /** Accept pipes at `url` (where the transport can: not in browsers). `port 0` picks a free port. */
  listen(url: string, opts: Record<string, unknown> = {}): Promise<Listener> {
    const [u, t] = this.#transportFor(url);
    if (t.listen === undefined) throw new SPError("ENOTSUP", `the ${u.protocol}// transport on this socket cannot listen (browsers can only dial)`);
    let listener: Listener | undefined;
    return t
      .listen(
        u,
        this.transportOptions(opts, new AbortController().signal),
        (tp) => {
          if (listener === undefined || this.#attach(tp, listener) === undefined) tp.close();
        },
        (error, remoteAddress) => {
          bump(this.stats.refused, error.code);
          this.#log.warn(`refused a connection on ${u.href}: ${error.message}`, { code: error.code, remoteAddress });
          if (listener !== undefined) this.#events.emit("accepterror", { listener, error, remoteAddress });
        },
      )
      .then((tl) => {
        const l = new Listener(tl, () => {
          this.#listeners.delete(l);
          for (const [p, o] of [...this.#records.values()]) if (o === l) p.close();
        });
        if (this.#closed) {
          void l.close();
          throw new SPError("ECLOSED", "socket closed while listening");
        }
        this.#listeners.add((listener = l));
        return l;
      });
  }

  /**
   * @internal The URL a dialer made by `dial(url, opts)` uses for its next
   * attempt; asked again before every attempt. The socket dials `url` as
   * given; a protocol that says something in the URL (a gateway Sub) overrides this.
   */
  protected dialTarget(url: URL, _opts: DialOptions): URL {
    return url;
  }

  /** @internal Options handed to transports. */
  transportOptions(extra: Record<string, unknown>, signal: AbortSignal): TransportOptions {
    const { failFast: _f, signal: _s, reconnectMinTime: _a, reconnectMaxTime: _b, gateway: _g, ...rest } = extra;
    const o = this.options;
    return { ...rest, protocol: this.info, recvMaxSize: o.recvMaxSize, handshakeTimeout: o.handshakeTimeout, signal };
  }

  #attach(tp: TransportPipe, origin: Origin): Pipe | undefined {
    if (this.#closed) return undefined;
    const stats = this.stats;
    const proto = this.proto;
    const pipe = new Pipe(
      tp,
      origin.url,
      origin instanceof Dialer ? "dialer" : "listener",
      this.options.sendBuffer,
      (bytes) => {
        stats.msgsOut++;
        stats.bytesOut += bytes;
      },
      (p) => proto.pipeReady?.(p),
    );
    const refusal = proto.addPipe(pipe);
    if (refusal !== undefined) {
      this.#log.info(`refused pipe ${pipe.id} from ${pipe.remoteAddress}: ${refusal.message}`, { code: refusal.code });
      bump(stats.refused, refusal.code);
      return undefined;
    }
    this.#pipes.push(pipe);
    this.#records.set(pipe.id, [pipe, origin]);
    stats.pipesOpened++;
    this.#log.debug(`pipe ${pipe.id} up`, { local: pipe.localAddress, remote: pipe.remoteAddress });
    tp.start({
      message: (data) => {
        stats.msgsIn++;
        stats.bytesIn += data.length;
        proto.pipeMessage(pipe, data);
      },
      drain: () => pipe.drained(),
      closed: (err) => this.#removePipe(pipe, err),
    });
    if (this.#paused) pipe.pause();
    // A new pipe can take messages: protocols with waiting sends (REQ) use it now.
    proto.pipeReady?.(pipe);
    // Emitted after start so a handler that closes the pipe sees a consistent state.
    this.#events.emit("pipeadd", pipe);
    return pipe;
  }

  #removePipe(pipe: Pipe, transportErr: SPError | undefined): void {
    const rec = this.#records.get(pipe.id);
    if (rec === undefined) return;
    const err = pipe.closeReason ?? transportErr;
    this.#records.delete(pipe.id);
    // In #pipes exactly while in #records.
    this.#pipes.splice(this.#pipes.indexOf(pipe), 1);
    pipe.markClosed();
    this.stats.pipesClosed++;
    if (err !== undefined) {
      bump(this.stats.pipeErrors, err.code);
      const quiet = err.code === "ECONNSHUT" || err.code === "ECONNRESET" || err.code === "ECLOSED";
      this.#log[quiet ? "info" : "warn"](`pipe ${pipe.id} to ${pipe.remoteAddress} closed: ${err.message}`, { code: err.code });
    } else {
      this.#log.debug(`pipe ${pipe.id} closed`);
    }
    this.proto.removePipe(pipe);
    this.#events.emit("piperemove", { pipe, error: err });
    if (rec[1] instanceof Dialer) rec[1].pipeClosed(err);
  }

  /** @internal Count a message dropped on this socket's behalf (a device that could not send it). */
  countDrop(reason: string): void {
    this.#drop(reason);
  }

  #drop(reason: string): void {
    this.stats.drops++;
    bump(this.stats.dropReasons, reason);
  }

  #deliver(m: Message): void {
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
      if (w.live) {
        w.live = false;
        w.s.resolve(m);
        return;
      }
    }
    const q = this.#recvq;
    q.push(m);
    const cap = Math.max(1, this.options.recvBuffer);
    if (q.length <= cap) return;
    if (this.proto.recvFull !== "drop-oldest" && !this.#paused) {
      // Back-pressure: stop reading from peers until the application catches up.
      this.#paused = true;
      for (const p of this.#pipes) p.pause();
    } else if (this.proto.recvFull === "drop-oldest" || q.length > cap * 4) {
      // SUB keeps the newest; a transport that cannot pause (browser WebSocket) keeps delivering, so bound memory anyway.
      q.shift();
      this.#drop("recv queue full");
    }
  }

  #takeQueued(): Message | undefined {
    const m = this.#recvq.shift();
    if (this.#paused && this.#recvq.length <= Math.floor(this.options.recvBuffer / 2)) {
      this.#paused = false;
      for (const p of this.#pipes) p.resume();
    }
    return m;
  }

  /** Send one message. Resolves when the protocol has handed it on (see each protocol for when that is). */
  send(data: Data, opts: OpOptions = {}): Promise<void> {
    try {
      if (this.#closed) throw closedError();
      const msg = Message.from(data);
      return this.proto.send(msg, { signal: opts.signal, timeout: this.#timeout(opts, this.options.sendTimeout) });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The call's time limit (checked) or the socket's default. */
  #timeout(opts: OpOptions, dflt: number): number {
    return opts.timeout === undefined ? dflt : checkTime("timeout", opts.timeout);
  }

  /** Receive one message; rejects ETIMEDOUT after `timeout`/`recvTimeout`, ECLOSED when the socket closes. */
  recv(opts: OpOptions = {}): Promise<Message> {
    let o: OpOptions;
    try {
      if (this.#closed) throw closedError();
      o = { signal: opts.signal, timeout: this.#timeout(opts, this.options.recvTimeout) };
      if (this.proto.recv !== undefined) return this.proto.recv(o);
      if (this.proto.canRecv === false) throw new SPError("ENOTSUP", `a ${this.info.name} socket cannot receive`);
    } catch (err) {
      return Promise.reject(err);
    }
    const proto = this.proto;
    const m = this.#takeQueued();
    if (m !== undefined) {
      proto.received?.(m);
      return Promise.resolve(m);
    }
    const p = waitFor<Message>(o, "recv", (s) => {
      // A waiter that timed out or was aborted stays in the queue, marked dead;
      // deliver() skips it, so no message is handed to a caller who left.
      const w = { live: true, s };
      this.#waiters.push(w);
      return () => {
        w.live = false;
      };
    });
    return proto.received === undefined
      ? p
      : p.then((msg) => {
          proto.received!(msg);
          return msg;
        });
  }

  /** Receive until the socket closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    for (;;) {
      try {
        yield await this.recv();
      } catch (err) {
        if (isSPError(err, "ECLOSED")) return;
        throw err;
      }
    }
  }

  /** Close the socket: dialers stop, listeners unbind, pipes close, waiting calls reject with ECLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.#dialers) d.close();
    this.#dialers.clear();
    const ls = [...this.#listeners];
    this.#listeners.clear();
    for (const p of [...this.#pipes]) p.close();
    const err = closedError();
    for (const w of this.#waiters.clear()) if (w.live) w.s.reject(err);
    this.#recvq.clear();
    this.proto.close();
    this.#events.emit("close", undefined);
    await Promise.all(ls.map((l) => l.close()));
  }
}
