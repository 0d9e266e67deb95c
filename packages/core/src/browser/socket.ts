/**
 * The browser build's socket: the same protocols (the factories in
 * ../protocol/, Pipe, Message, SPError are shared with @spwire/core), under a
 * shell made for a page. It dials ws:// and wss:// over the page's own
 * WebSocket and does nothing else, so a page that imports only `Sub` stays
 * near 3 KB min+gzip (issue 5's budget; docs/browser-size.md).
 *
 * What it keeps from @spwire/core's Socket, with the same names and meaning:
 * `dial()` (awaitable: the first connection), reconnect with jittered
 * exponential backoff that starts over after a connection that worked and
 * grows after a refusal (close 4400-4499, 1011, 1013), an immediate redial on
 * `online` and when a hidden tab becomes visible, `send`/`recv` with
 * `timeout` and `signal`, `for await`, `close()`, the `pipeadd`,
 * `piperemove` and `dialerror` events (a closed pipe's error carries the
 * close frame's `{ code, reason }` as `cause`), `pipes`, and the socket
 * options. nng < 1.7 never answers our Close frame, so the 1006 that follows
 * a clean local close is not reported: the pipe has ended before it.
 *
 * What it leaves to @spwire/core (which also runs in browsers, through a
 * bundler): `listen`, transports other than the page's WebSocket, `stats`,
 * the logger, the `Dialer` object, receive back-pressure (a page's
 * WebSocket cannot pause; this queue drops the oldest beyond its bound, as
 * core's does for a WebSocket) and the error codes named from the `ws`
 * package's failure detail.
 *
 * No timer runs while a page is connected and idle: the only timers are a
 * dial's handshake limit, its backoff wait, a blocked writer's
 * `bufferedAmount` poll, and the calls' own time limits.
 */
import { SPError, closedError, isSPError } from "../errors.js";
import { Message, joinParts, type Data } from "../message.js";
import { Op, MAX_TIMER, timed } from "../op.js";
import { checkTime, resolveOptions, type ResolvedOptions, type SocketOptions } from "../options.js";
import { newPipeId, type ProtocolPipe } from "../pipe.js";
import type { OpOptions, ProtocolFactory, ProtocolImpl } from "../protocol.js";
import { wsProtocolName, type ProtocolInfo } from "../protocols.js";
import { closeErrorCode, type WsCloseInfo } from "../transport/ws.js";

/** The part of a WebSocket this socket uses: a browser's `WebSocket`, or the `ws` package's in Node. */
export interface PageWebSocket {
  binaryType: string;
  readonly protocol: string;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** One connection of a browser socket, as its protocol and the page see it. */
export interface PagePipe extends ProtocolPipe {
  /** The URL it was dialed with. */
  readonly url: string;
  /** True once it has ended. */
  closed: boolean;
}

export interface BrowserSocketConfig extends SocketOptions {
  /** The WebSocket class; default `globalThis.WebSocket` (in Node 20: pass the `ws` package's). */
  WebSocket?: new (url: string, protocol: string) => PageWebSocket;
}

/** Options for `dial()`: as @spwire/core's, without transport options. */
export interface BrowserDialOptions {
  /** Reject on the first failed attempt and stop, instead of retrying in the background. */
  failFast?: boolean;
  /** Stop dialing (and close the pipe this dial made) when aborted. */
  signal?: AbortSignal;
  /** A Sub puts its subscriptions in the URL's query for an spwire gateway (see @spwire/core's Sub). */
  gateway?: boolean;
}

export interface BrowserSocketEvents {
  /** A pipe was added (connected). */
  pipeadd: PagePipe;
  /** A pipe went away; `error` says why (undefined for a local close); `error.cause` is the close frame's `{ code, reason }`. */
  piperemove: { pipe: PagePipe; error: SPError | undefined };
  /** A dial attempt failed; `retryIn` ms until the next (-1: this dial stopped). */
  dialerror: { url: string; error: SPError; attempt: number; retryIn: number };
  /** The socket was closed. */
  close: undefined;
}

/** A pipe is "full" past this many bytes in the WebSocket's buffer (as core's ws pipe). */
const HIGH_WATER_MARK = 1048576;

/** Why a pipe the peer (or the network) closed ended: the code as core's ws pipe names it, the close frame in `cause`. */
function closeError(url: string, c: number, reason: string): SPError {
  const cause: WsCloseInfo = { code: c, reason };
  return new SPError(closeErrorCode(c), `${url} closed ${c} ${reason}`, { cause });
}

export class BrowserSocket implements AsyncIterable<Message> {
  readonly info: ProtocolInfo;
  readonly raw: boolean;
  readonly options: Readonly<ResolvedOptions>;
  /** @internal */
  protected readonly proto: ProtocolImpl;
  #Ctor: BrowserSocketConfig["WebSocket"];
  #pipes: PagePipe[] = [];
  #q: Message[] = [];
  #waiters: Op<Message>[] = [];
  /** The waiter queue's length at which settled waiters are next pruned. */
  #pruneAt = 32;
  #events: Record<string, Set<(ev: never) => void>> = {};
  /** Stops each live dial (and closes its pipe). */
  #stops = new Set<() => void>();
  /** @internal Dials made with `{ gateway: true }`, by their restart function (a Sub redials them when its subscriptions change). */
  protected restarts = new Set<() => void>();
  #closed = false;

  constructor(info: ProtocolInfo, factory: ProtocolFactory, config: BrowserSocketConfig = {}, protoDefaults?: Partial<ResolvedOptions>) {
    const { WebSocket, ...opts } = config;
    const o = (this.options = resolveOptions(opts as Record<string, unknown>, protoDefaults));
    this.#Ctor = WebSocket;
    this.info = info;
    const raw = (this.raw = o.raw);
    const self = this;
    const noop = (): void => {};
    this.proto = factory({
      info,
      options: o,
      raw,
      // No protocol logs today; a page's console is where a custom one's lines would go.
      log: console,
      deliver: (m) => this.#deliver(m),
      drop: noop,
      filtered: noop,
      closePipe: (p, err) => p.close(err),
      pipes: () => this.#pipes,
      pipe: (id) => this.#pipes.find((p) => p.id === id),
      get closed() {
        return self.#closed;
      },
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The live pipes (at most one per dial). */
  get pipes(): readonly PagePipe[] {
    return this.#pipes;
  }

  /** Subscribe to an event; returns the function that unsubscribes. */
  on<K extends keyof BrowserSocketEvents>(name: K, fn: (ev: BrowserSocketEvents[K]) => void): () => void {
    (this.#events[name] ??= new Set()).add(fn);
    return () => this.off(name, fn);
  }

  off<K extends keyof BrowserSocketEvents>(name: K, fn: (ev: BrowserSocketEvents[K]) => void): void {
    this.#events[name]?.delete(fn);
  }

  #emit<K extends keyof BrowserSocketEvents>(name: K, ev: BrowserSocketEvents[K]): void {
    for (const fn of [...(this.#events[name] ?? [])]) {
      try {
        (fn as (ev: BrowserSocketEvents[K]) => void)(ev);
      } catch (err) {
        // A throwing handler must not break the pipe that emitted the event.
        console.error(err);
      }
    }
  }

  /** @internal The URL of a dial's next attempt; a gateway Sub adds its subscriptions. */
  protected dialTarget(url: string, _opts: BrowserDialOptions): string {
    return url;
  }

  /**
   * Connect to `url` (ws:// or wss://) and stay connected, redialing with
   * jittered exponential backoff. Await it to wait for the first connection.
   */
  dial(url: string, opts: BrowserDialOptions = {}): Promise<void> {
    if (this.#closed) throw closedError();
    if (!/^wss?:\/\/./i.test(url)) throw new SPError("EADDRINVAL", `${url}: not a ws:// or wss:// URL`);
    const o = this.options;
    const proto = this.proto;
    const pipes = this.#pipes;
    const Ctor = this.#Ctor ?? (globalThis.WebSocket as unknown as BrowserSocketConfig["WebSocket"]);
    if (Ctor === undefined) throw new SPError("ENOTSUP", "no WebSocket: pass { WebSocket }");
    const token = wsProtocolName(this.info.peerName);
    const g = globalThis as unknown as Partial<Window>;
    let delay = o.reconnectMinTime;
    let attempts = 0;
    /** The backoff wait, and the handshake limit of the attempt in flight. */
    let timer: ReturnType<typeof setTimeout> | undefined;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    /** The WebSocket of the attempt in flight, or of the pipe. */
    let ws: PageWebSocket | undefined;
    let pipe: PagePipe | undefined;
    /** Connected once: failFast no longer applies. */
    let up = false;
    let stopped = false;
    let restarting = false;
    let ok!: () => void;
    let ko!: (e: unknown) => void;
    const connected = new Promise<void>((res, rej) => ((ok = res), (ko = rej)));
    // A dial need not be awaited; its failures are events.
    connected.catch(() => {});

    /** Forget a WebSocket that has no pipe (yet): its events no longer matter. */
    const drop = (w: PageWebSocket | undefined): void => {
      if (w !== undefined) {
        w.onopen = w.onclose = null;
        w.close();
      }
    };

    /** Wait a random time in [d/2, d), then attempt; d doubles (up to the maximum) for next time. */
    const schedule = (): number => {
      const wait = delay / 2 + Math.random() * (delay / 2);
      if (o.reconnectMaxTime > 0) delay = Math.min(o.reconnectMaxTime, Math.max(delay * 2, 1), MAX_TIMER);
      timer = setTimeout(attempt, wait);
      return wait;
    };

    const failed = (error: SPError): void => {
      ws = undefined;
      if (stopped) return;
      const stop = opts.failFast === true && !up;
      this.#emit("dialerror", { url, error, attempt: ++attempts, retryIn: stop ? -1 : schedule() });
      if (stop) end(error);
    };

    /** The page came back online or visible: a wait for a redial has nothing left to protect. */
    const wake = (): void => {
      if (timer !== undefined && g.document?.visibilityState !== "hidden") attempt();
    };

    const open = (w: PageWebSocket): void => {
      let polling = false;
      const p: PagePipe = {
        id: newPipeId(),
        url,
        proto: undefined,
        closed: false,
        get ready() {
          return !p.closed && w.bufferedAmount < HIGH_WATER_MARK;
        },
        send(parts) {
          if (!p.ready) return "full";
          w.send(joinParts(parts));
          if (!p.ready && !polling) {
            // A page's WebSocket has no drain event: poll, and only while blocked.
            polling = true;
            const poll = (): void => {
              if (p.closed) return;
              if (p.ready) {
                polling = false;
                proto.pipeReady?.(p);
              } else setTimeout(poll, 10);
            };
            setTimeout(poll, 10);
          }
          return "sent";
        },
        // The WebSocket's own buffer is the queue; nothing here to drop.
        dropOldest: () => false,
        close(err) {
          // Ended now, so the 1006 that an nng < 1.7 peer's missing Close reply brings later is not reported.
          finish(err);
          w.close();
        },
      };
      /** The pipe ended: redial after a fresh backoff, or count a refusal (close 44xx, 1011, 1013) as a failed attempt. */
      const finish = (err: SPError | undefined): void => {
        if (p.closed) return;
        p.closed = true;
        pipe = undefined;
        pipes.splice(pipes.indexOf(p), 1);
        proto.removePipe(p);
        this.#emit("piperemove", { pipe: p, error: err });
        if (stopped) return;
        if (restarting) attempt();
        else if (err?.code === "ECONNREFUSED") failed(err);
        else {
          ws = undefined;
          attempts = 0;
          delay = o.reconnectMinTime;
          schedule();
        }
      };
      const refusal = proto.addPipe(p);
      if (refusal !== undefined) {
        drop(w);
        failed(refusal);
        return;
      }
      up = true;
      restarting = false;
      pipes.push((pipe = p));
      w.onmessage = ({ data }) => {
        if (p.closed) return;
        const n = (data as ArrayBuffer).byteLength;
        if (typeof data === "string") p.close(new SPError("EPROTO", `${url} sent a text frame`));
        else if (o.recvMaxSize > 0 && n > o.recvMaxSize) p.close(new SPError("EMSGSIZE", `${url} sent ${n} bytes > recvMaxSize`));
        else proto.pipeMessage(p, new Uint8Array(data as ArrayBuffer));
      };
      w.onclose = ({ code, reason }) => finish(closeError(url, code, reason));
      proto.pipeReady?.(p);
      this.#emit("pipeadd", p);
      ok();
    };

    const attempt = (): void => {
      // A restart may abandon an attempt in flight: its deadline goes with it.
      clearTimeout(timer);
      clearTimeout(deadline);
      timer = undefined;
      const target = this.dialTarget(url, opts);
      let w: PageWebSocket;
      try {
        // Exactly one subprotocol token: nng compares the whole header value.
        w = ws = new Ctor(target, token);
      } catch (err) {
        failed(new SPError("EADDRINVAL", target, { cause: err }));
        return;
      }
      // A Blob cannot be read synchronously. The close event that follows an error
      // says what it meant; the `ws` package throws an error event nobody hears.
      w.binaryType = "arraybuffer";
      w.onerror = () => {};
      const limit = o.handshakeTimeout;
      deadline = timed(limit) && limit > 0 ? setTimeout(() => give(new SPError("ETIMEDOUT", `${target}: handshake over ${limit} ms`)), limit) : undefined;
      const give = (err: SPError): void => {
        clearTimeout(deadline);
        drop(w);
        if (ws === w) failed(err);
      };
      w.onopen = () => {
        clearTimeout(deadline);
        // Browsers accept a 101 without Sec-WebSocket-Protocol; nng's dialer does not.
        if (w.protocol.toLowerCase() !== token) give(new SPError("EPROTO", `${target} agreed to "${w.protocol}", not "${token}"`));
        else open(w);
      };
      // Browsers say nothing about why (refused, 404, TLS ...).
      w.onclose = ({ code }) => give(new SPError("ECONNREFUSED", `${target} closed (${code}) before open`));
    };

    const end = (reason: unknown): void => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      g.removeEventListener?.("online", wake);
      g.document?.removeEventListener("visibilitychange", wake);
      this.#stops.delete(stop);
      this.restarts.delete(restart);
      if (pipe !== undefined) pipe.close();
      else drop(ws);
      ko(reason);
    };
    const stop = (): void => end(closedError());
    /** Dial again now (a gateway Sub's subscriptions changed): close a live pipe, or cut a wait or attempt short. */
    const restart = (): void => {
      if (pipe !== undefined) {
        restarting = true;
        pipe.close();
      } else {
        drop(ws);
        attempt();
      }
    };

    this.#stops.add(stop);
    if (opts.gateway === true) this.restarts.add(restart);
    const signal = opts.signal;
    signal?.addEventListener("abort", () => end(signal.reason));
    g.addEventListener?.("online", wake);
    g.document?.addEventListener("visibilitychange", wake);
    if (signal?.aborted) end(signal.reason);
    else attempt();
    return connected;
  }

  #deliver(m: Message): void {
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
      if (w.done) continue;
      w.resolve(m);
      this.proto.received?.(m);
      return;
    }
    const q = this.#q;
    // A page's WebSocket cannot be paused: past the bound the oldest goes (SUB at
    // recvBuffer, as nng; the others at four times it, as core does for a WebSocket).
    if (q.push(m) > Math.max(1, this.options.recvBuffer) * (this.proto.recvFull === "drop-oldest" ? 1 : 4)) q.shift();
  }

  #opts(opts: OpOptions, timeout: number): OpOptions {
    if (opts.timeout === undefined) return { signal: opts.signal, timeout };
    checkTime("timeout", opts.timeout);
    return opts;
  }

  /** Send one message. Resolves when the protocol has handed it on (see each protocol). */
  send(data: Data, opts: OpOptions = {}): Promise<void> {
    try {
      if (this.#closed) throw closedError();
      return this.proto.send(Message.from(data), this.#opts(opts, this.options.sendTimeout));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Receive one message; rejects ETIMEDOUT after `timeout`/`recvTimeout`, ECLOSED when the socket closes. */
  recv(opts: OpOptions = {}): Promise<Message> {
    try {
      if (this.#closed) throw closedError();
      const o = this.#opts(opts, this.options.recvTimeout);
      const proto = this.proto;
      if (proto.recv !== undefined) return proto.recv(o);
      if (proto.canRecv === false) throw new SPError("ENOTSUP");
      const m = this.#q.shift();
      if (m !== undefined) {
        proto.received?.(m);
        return Promise.resolve(m);
      }
      const op = new Op<Message>();
      let w = this.#waiters;
      // A recv that gives up stays queued, settled, until a message skips it: prune
      // those whenever the queue has doubled, or polling a silent feed piles them up.
      if (w.length >= this.#pruneAt) {
        w = this.#waiters = w.filter((x) => !x.done);
        this.#pruneAt = 2 * w.length + 32;
      }
      if (!o.signal?.aborted) w.push(op);
      return op.arm(o, "recv");
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Receive until the socket closes (then the loop ends); a time limit or other failure is thrown out of the loop. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    // One options object for the whole loop, so recv() makes none per message.
    const o = { timeout: this.options.recvTimeout };
    try {
      // An async generator's yield awaits the promise; a rejection is thrown here.
      for (;;) yield this.recv(o);
    } catch (err) {
      if (!isSPError(err, "ECLOSED")) throw err;
    }
  }

  /** Close the socket: dials stop, pipes close, waiting calls reject with ECLOSED. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const stop of [...this.#stops]) stop();
      const err = closedError();
      for (const w of this.#waiters.splice(0)) w.reject(err);
      this.#q.length = 0;
      this.proto.close();
      this.#emit("close", undefined);
    }
    return Promise.resolve();
  }
}
