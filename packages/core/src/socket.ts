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
import { Op, Queue } from "./op.js";
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

/** What a call without options gets: nothing to copy, so no object per call. */
const NO_OPTS: OpOptions = /* @__PURE__ */ Object.freeze({});

const FOREVER: OpOptions = /* @__PURE__ */ Object.freeze({ timeout: Infinity });

/** The smallest waiter queue that is pruned of settled waiters (see Socket#wait). */
const PRUNE_FROM = 32;

const FINISHED: IteratorReturnResult<undefined> = /* @__PURE__ */ Object.freeze({ value: undefined, done: true });

/** One pending `next()` of a socket's async iterator: settles with the iterator result itself. */
class NextOp extends Op<IteratorResult<Message>> {
  declare it: MessageIterator;

  constructor(it: MessageIterator) {
    super();
    this.it = it;
  }

  /** The socket closing ends the iteration (done); any other failure is thrown once, then it is over too. */
  override reject(e: unknown): void {
    if (this.done) return;
    this.it.finished = true;
    if (isSPError(e, "ECLOSED")) this.resolve(FINISHED);
    else super.reject(e);
  }
}

/**
 * A socket's `for await` reader. Hand-written rather than an async generator:
 * a generator costs a promise for its `next()`, another for the `recv()` it
 * awaits and a microtask hop for the `yield`; this settles the `next()`
 * promise straight from the socket's delivery.
 */
class MessageIterator implements AsyncIterableIterator<Message> {
  declare finished: boolean;
  declare pending: NextOp | undefined;
  declare readonly socket: Socket;
  /** The time limit of each next(). */
  declare readonly opts: OpOptions;
  declare readonly take: (it: MessageIterator) => Promise<IteratorResult<Message>> | undefined;

  constructor(socket: Socket, opts: OpOptions, take: (it: MessageIterator) => Promise<IteratorResult<Message>> | undefined) {
    this.finished = false;
    this.pending = undefined;
    this.socket = socket;
    this.opts = opts;
    this.take = take;
  }

  next(): Promise<IteratorResult<Message>> {
    if (this.finished) return Promise.resolve(FINISHED);
    const p = this.take(this);
    if (p !== undefined) return p;
    // A protocol with its own recv (cooked REQ), or one that cannot receive: the plain path.
    return this.socket.recv(this.opts).then(
      (value) => ({ value, done: false }),
      (err: unknown) => {
        this.finished = true;
        if (isSPError(err, "ECLOSED")) return FINISHED;
        throw err;
      },
    );
  }

  /** `break` out of `for await`: over. A `next()` still waiting ends too, so it takes no message. */
  return(): Promise<IteratorResult<Message>> {
    this.finished = true;
    this.pending?.resolve(FINISHED);
    this.pending = undefined;
    return Promise.resolve(FINISHED);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this;
  }
}

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
  /** Waiting recv() calls and iterator next()s, oldest first; settled ones (timed out, aborted) are skipped. */
  #waiters = new Queue<Op<Message> | NextOp>();
  /** The socket's own time limits as options objects, for calls that pass none. */
  #sendOpts: OpOptions;
  #recvOpts: OpOptions;
  /** The waiter queue's length at which settled waiters are next pruned (see #wait). */
  #pruneAt = PRUNE_FROM;
  #paused = false;
  /** A pause is due at the end of the current read (see #deliver). */
  #pauseQueued = false;
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
    this.#sendOpts = Object.freeze({ timeout: options.sendTimeout });
    this.#recvOpts = Object.freeze({ timeout: options.recvTimeout });
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
      if (w.done) continue;
      if (w instanceof NextOp) {
        w.it.pending = undefined;
        w.resolve({ value: m, done: false });
      } else {
        w.resolve(m);
      }
      // Taken now: a REP learns now whom a plain send() answers.
      this.proto.received?.(m);
      return;
    }
    const q = this.#recvq;
    q.push(m);
    const cap = Math.max(1, this.options.recvBuffer);
    if (q.length <= cap) return;
    if (this.proto.recvFull === "drop-oldest") {
      // SUB keeps the newest.
      q.shift();
      this.#drop("recv queue full");
    } else if (!this.#paused) {
      // Back-pressure: stop reading from peers until the application catches up.
      // Not at once: the rest of the read that brought this message is already
      // in memory, so it comes into the queue rather than being held and
      // replayed by the pipe, and then pausing again at once (one read of small
      // messages is ~1,000 of them; the queue is 128 by default).
      if (!this.#pauseQueued) {
        this.#pauseQueued = true;
        queueMicrotask(this.#pauseNow);
      }
    } else if (q.length > cap * 4) {
      // A transport that cannot pause (browser WebSocket) keeps delivering: bound memory anyway.
      q.shift();
      this.#drop("recv queue full");
    }
  }

  #pauseNow = (): void => {
    this.#pauseQueued = false;
    if (this.#paused || this.#closed || this.#recvq.length <= Math.max(1, this.options.recvBuffer)) return;
    this.#paused = true;
    for (const p of this.#pipes) p.pause();
  };

  #takeQueued(): Message | undefined {
    const m = this.#recvq.shift();
    if (this.#paused && this.#recvq.length <= Math.floor(this.options.recvBuffer / 2)) {
      this.#paused = false;
      for (const p of this.#pipes) p.resume();
    }
    return m;
  }

  /**
   * Queue a waiting recv. One that gives up (timed out, aborted) stays queued,
   * settled, until a message skips it; a page polling a silent feed with
   * `recv({ timeout })` would pile them up, so the settled ones are pruned
   * whenever the queue has doubled since the last prune.
   */
  #wait(op: Op<Message> | NextOp): void {
    const w = this.#waiters;
    if (w.length >= this.#pruneAt) {
      w.retain((x) => !x.done);
      this.#pruneAt = Math.max(PRUNE_FROM, 2 * w.length);
    }
    w.push(op);
  }

  /** Send one message. Resolves when the protocol has handed it on (see each protocol for when that is). */
  send(data: Data, opts: OpOptions = NO_OPTS): Promise<void> {
    try {
      if (this.#closed) throw closedError();
      const msg = Message.from(data);
      return this.proto.send(msg, this.#opOptions(opts, this.#sendOpts));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A call's options with the socket's time limit filled in (`dflt` has it).
   * The caller's own object when it names a time limit (checked), so a
   * device's per-message sends allocate nothing.
   */
  #opOptions(opts: OpOptions, dflt: OpOptions): OpOptions {
    if (opts.timeout !== undefined) {
      checkTime("timeout", opts.timeout);
      return opts;
    }
    return opts.signal === undefined ? dflt : { signal: opts.signal, timeout: dflt.timeout };
  }

  /** Receive one message; rejects ETIMEDOUT after `timeout`/`recvTimeout`, ECLOSED when the socket closes. */
  recv(opts: OpOptions = NO_OPTS): Promise<Message> {
    let o: OpOptions;
    try {
      if (this.#closed) throw closedError();
      o = this.#opOptions(opts, this.#recvOpts);
      if (this.proto.recv !== undefined) return this.proto.recv(o);
      if (this.proto.canRecv === false) throw new SPError("ENOTSUP", `a ${this.info.name} socket cannot receive`);
    } catch (err) {
      return Promise.reject(err);
    }
    const m = this.#takeQueued();
    if (m !== undefined) {
      this.proto.received?.(m);
      return Promise.resolve(m);
    }
    const signal = o.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    // A waiter that times out or is aborted stays in the queue, settled;
    // #deliver skips it, so no message is handed to a caller who left.
    const op = new Op<Message>();
    this.#wait(op);
    return op.arm(o, "recv");
  }

  /** The iterator's next(): undefined when the protocol's own recv path must serve it. */
  #next = (it: MessageIterator): Promise<IteratorResult<Message>> | undefined => {
    const proto = this.proto;
    if (proto.recv !== undefined || proto.canRecv === false) return undefined;
    if (this.#closed) {
      it.finished = true;
      return Promise.resolve(FINISHED);
    }
    const m = this.#takeQueued();
    if (m !== undefined) {
      proto.received?.(m);
      return Promise.resolve({ value: m, done: false });
    }
    const op = new NextOp(it);
    it.pending = op;
    this.#wait(op);
    return op.arm(it.opts, "recv");
  };

  /**
   * Receive until the socket closes (then the loop ends). A receive time
   * limit (`recvTimeout`) or another failure is thrown out of the loop.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return new MessageIterator(this, this.#recvOpts, this.#next);
  }

  /**
   * @internal An iterator like `for await`'s with no time limit, for a
   * device: it waits for a message without a listener on a signal each time;
   * `return()` ends a wait in progress without taking a message.
   */
  reader(): AsyncIterableIterator<Message> {
    return new MessageIterator(this, FOREVER, this.#next);
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
    for (const w of this.#waiters.clear()) if (!w.done) w.reject(err);
    this.#recvq.clear();
    this.proto.close();
    this.#events.emit("close", undefined);
    await Promise.all(ls.map((l) => l.close()));
  }
}
