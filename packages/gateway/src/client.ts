/**
 * ClientPipe: one browser connection as the route's raw front socket sees it.
 *
 * It is a TransportPipe wrapped around core's WsPipe, and it is where the
 * gateway does what no SP peer does, without touching any protocol:
 *
 * - Down (towards the browser): a message is written only if it passes the
 *   connection's filter — its own subscriptions (from the URL) intersected
 *   with the prefixes its token may read. Anything else is counted as
 *   filtered and never leaves the process, not one byte.
 * - The slow-consumer policy: once the WebSocket holds `queue.socketBytes`,
 *   further messages wait in a queue bounded in messages and bytes, and when
 *   that is full the route's policy decides (drop-new, drop-old, disconnect,
 *   latest). On fan-out routes `write()` never reports back-pressure to the
 *   front socket, so one stalled browser never slows the others. Routes whose
 *   front socket load-balances or has one peer (browser pull, rep, pair)
 *   pass the WebSocket's back-pressure through instead, so the front socket
 *   picks another browser or waits, and nothing is dropped.
 * - Up (from the browser): a token bucket per connection, and the prefixes
 *   the token may publish, on routes where the browser sends.
 */
import type { WebSocket } from "ws";
import { SPError, WsPipe, type TransportPipe, type TransportPipeHandler } from "@spwire/core";
import { wsPipeIo } from "@spwire/node";
import { allowedPrefix } from "./auth.js";
import type { GatewayMetrics } from "./metrics.js";
import type { BrowserProtocol, Identity, RouteConfig } from "./types.js";
import { CLOSE } from "./types.js";

/** Browser protocols whose messages towards the browser carry topics (read rights and subscriptions apply). */
const READS_TOPICS: ReadonlySet<BrowserProtocol> = new Set(["sub", "bus", "pair0", "pair1"]);
/** Browser protocols that send topic-addressed messages upstream (publish rights apply). */
const SENDS_TOPICS: ReadonlySet<BrowserProtocol> = new Set(["pub", "push", "bus", "pair0", "pair1"]);
/** Browser protocols whose front socket load-balances or has one peer: back-pressure, no drops. */
const BACKPRESSURE: ReadonlySet<BrowserProtocol> = new Set(["pull", "rep", "pair0", "pair1"]);

/** Where the topic starts on the wire: pair1 carries a 4-byte hop count first. */
function topicOffset(p: BrowserProtocol): number {
  return p === "pair1" ? 4 : 0;
}

interface Queued {
  parts: readonly Uint8Array[];
  bytes: number;
  key: string | undefined;
}

/**
 * At least the first `n` bytes of a message made of parts (all of it if shorter), as one
 * contiguous array. Raw headers are often empty, so empty parts are skipped; it copies
 * only when a part boundary falls inside the first `n` bytes.
 */
function head(parts: readonly Uint8Array[], n: number): Uint8Array {
  let i = 0;
  while (i < parts.length - 1 && parts[i]!.length === 0) i++;
  const first = parts[i];
  if (first === undefined) return new Uint8Array(0);
  if (first.length >= n || i === parts.length - 1) return first;
  const out = new Uint8Array(n);
  let off = 0;
  for (; i < parts.length && off < n; i++) {
    const p = parts[i]!;
    const take = Math.min(p.length, n - off);
    out.set(p.subarray(0, take), off);
    off += take;
  }
  return off < n ? out.subarray(0, off) : out;
}

function sizeOf(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

export interface ClientPipeOptions {
  ws: WebSocket;
  /** The address its connection counts against in the per-IP limit. */
  ip: string;
  route: RouteConfig;
  identity: Identity;
  /** The client's own subscriptions from the URL; undefined = it declared none (a plain nng SUB): everything it may read. */
  subscriptions: readonly Uint8Array[] | undefined;
  /** Read rights as byte prefixes. */
  read: readonly Uint8Array[];
  /** Publish rights as byte prefixes. */
  publish: readonly Uint8Array[];
  localAddress: string;
  remoteAddress: string;
  metrics: GatewayMetrics;
  /** Log a dropped connection or a policy event. */
  log: ClientLog;
  /**
   * Called once when the WebSocket has closed, with its close code. One
   * function for every connection (the server's), not a closure per connection.
   */
  onClose: (c: ClientPipe, code: number) => void;
  /** ms the browser has to finish the close handshake once the pipe has ended (limits.closeTimeout). */
  closeTimeout: number;
}

interface ClientLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * The ClientPipe a `ws` WebSocket belongs to, on the WebSocket itself, so that
 * the module-level listeners below (`this` is the WebSocket) serve every
 * connection: a closure per listener per idle connection added up.
 */
const kClient = Symbol("spwire.client");
type ClientWs = WebSocket & { [kClient]?: ClientPipe };

function onPong(this: ClientWs): void {
  const c = this[kClient];
  if (c !== undefined) c.lastSeen = Date.now();
}

function onError(this: ClientWs, err: Error): void {
  this[kClient]?.socketError(err);
}

function onClose(this: ClientWs, code: number): void {
  const c = this[kClient];
  if (c !== undefined) c.wsClosed(code);
}

export class ClientPipe implements TransportPipe {
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly ws: WebSocket;
  readonly route: RouteConfig;
  readonly identity: Identity;
  /** Its slot in the per-IP limit. */
  readonly ip: string;
  /** When the browser last sent anything (a message or a pong), for the idle timeout. */
  lastSeen = Date.now();
  /** Why the gateway closed it (metrics label), once it did. */
  closeLabel: string | undefined;

  #inner: WsPipe;
  #subs: readonly Uint8Array[] | undefined;
  #read: readonly Uint8Array[];
  #publish: readonly Uint8Array[];
  #metrics: GatewayMetrics;
  #log: ClientLog;
  #onClose: (c: ClientPipe, code: number) => void;
  #filterDown: boolean;
  #prefixLen: number;
  #offset: number;
  #publishCheck: boolean;
  #backpressure: boolean;
  #blocked = false;
  #queue: Queued[] = [];
  #queuedBytes = 0;
  /** Queued entries by topic, for the "latest" policy only; made when first needed. */
  #byKey: Map<string, Queued> | undefined;
  #handler: TransportPipeHandler | undefined;
  #tokens: number;
  #refilled = Date.now();
  #closed = false;
  #delimiter: number;
  #closeTimeout: number;
  /** Armed while the WebSocket is closing: see #closeUnanswered. */
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(o: ClientPipeOptions) {
    this.#subs = o.subscriptions;
    this.#read = o.read;
    this.#publish = o.publish;
    this.#metrics = o.metrics;
    this.#log = o.log;
    this.#onClose = o.onClose;
    this.#closeTimeout = o.closeTimeout;
    this.ip = o.ip;
    this.ws = o.ws;
    this.route = o.route;
    this.identity = o.identity;
    this.localAddress = o.localAddress;
    this.remoteAddress = o.remoteAddress;
    const p = o.route.protocol;
    this.#offset = topicOffset(p);
    const readsAll = o.read.some((x) => x.length === 0);
    const subsAll = o.subscriptions === undefined || o.subscriptions.some((x) => x.length === 0);
    this.#filterDown = READS_TOPICS.has(p) && !(readsAll && subsAll);
    let longest = 0;
    for (const x of [...o.read, ...(o.subscriptions ?? [])]) longest = Math.max(longest, x.length);
    this.#prefixLen = this.#offset + longest;
    this.#publishCheck = SENDS_TOPICS.has(p) && !o.publish.some((x) => x.length === 0);
    this.#backpressure = BACKPRESSURE.has(p);
    this.#tokens = o.route.rateLimit?.burst ?? 0;
    this.#delimiter = o.route.topicDelimiter.length > 0 ? o.route.topicDelimiter.charCodeAt(0) : -1;
    this.#inner = new WsPipe(o.ws, {
      localAddress: o.localAddress,
      remoteAddress: o.remoteAddress,
      recvMaxSize: o.route.maxMessageSize,
      highWaterMark: o.route.queue.socketBytes,
      io: wsPipeIo(o.ws),
    });
    const ws = o.ws as ClientWs;
    ws[kClient] = this;
    ws.on("pong", onPong);
    ws.on("error", onError);
    ws.on("close", onClose);
  }

  /** @internal The WebSocket reported an error (its close follows). */
  socketError(err: Error): void {
    this.#log.debug({ route: this.route.path, remote: this.remoteAddress, err: err.message }, "browser socket error");
  }

  /** @internal The WebSocket closed. */
  wsClosed(code: number): void {
    (this.ws as ClientWs)[kClient] = undefined;
    clearTimeout(this.#closeTimer);
    this.#onClose(this, code);
  }

  /** Messages and bytes waiting in this connection's queue (for the queue gauges). */
  get queuedMessages(): number {
    return this.#queue.length;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(h: TransportPipeHandler): void {
    this.#handler = h;
    this.#inner.start(new ClientPipe.#Events(this));
  }

  /** What the inner WsPipe reports, as an object of one field: closures per connection added up. */
  static #Events = class implements TransportPipeHandler {
    readonly c: ClientPipe;
    constructor(c: ClientPipe) {
      this.c = c;
    }
    message(data: Uint8Array): void {
      this.c.#up(data);
    }
    drain(): void {
      this.c.#drained();
    }
    closed(err?: SPError): void {
      this.c.#innerClosed(err);
    }
  };

  #innerClosed(err: SPError | undefined): void {
    this.#closed = true;
    // Bad bytes (a text frame, an oversize message, a request without an id ...) ended it: the
    // metric says "error:<CODE>", not "client". A clean close (ECONNSHUT) or a lost connection
    // (ECONNRESET, counted as "dropped") is the browser's doing; closeWith() set its own label first.
    if (err !== undefined && err.code !== "ECONNSHUT" && err.code !== "ECONNRESET") this.closeLabel ??= `error:${err.code}`;
    // Messages still queued for a browser that is gone are dropped, and counted as such.
    this.#dropQueue("connection-closed");
    this.#handler?.closed(err);
    // The pipe is over, but the connection (and its slot) lasts until the browser finishes the
    // close handshake, which a broken or hostile one never does: ws alone would wait 30 s.
    if (this.ws.readyState === this.ws.CLOSING) {
      this.#closeTimer = setTimeout(ClientPipe.#closeUnanswered, this.#closeTimeout, this);
      this.#closeTimer.unref?.();
    }
  }

  /** The close handshake did not finish within closeTimeout: drop the TCP connection (its close event frees the slot). */
  static #closeUnanswered(c: ClientPipe): void {
    if (c.ws.readyState === c.ws.CLOSED) return;
    c.#log.info({ route: c.route.path, remote: c.remoteAddress, closeTimeout: c.#closeTimeout }, "browser did not finish the close handshake: connection dropped");
    c.ws.terminate();
  }

  /** Browser -> upstream. */
  #up(data: Uint8Array): void {
    this.lastSeen = Date.now();
    const route = this.route.path;
    const rl = this.route.rateLimit;
    if (rl !== undefined) {
      const now = Date.now();
      this.#tokens = Math.min(rl.burst, this.#tokens + ((now - this.#refilled) * rl.messages) / 1000);
      this.#refilled = now;
      if (this.#tokens < 1) {
        this.#metrics.dropped(route, "rate-limit");
        return;
      }
      this.#tokens -= 1;
    }
    if (this.#publishCheck && !allowedPrefix(this.#publish, data, this.#offset)) {
      this.#metrics.dropped(route, "publish-denied");
      return;
    }
    this.#metrics.messages(route, "up", 1, data.length);
    this.#handler?.message(data);
  }

  /** Upstream -> browser. Returns false only on back-pressure routes (see the file comment). */
  write(parts: readonly Uint8Array[]): boolean {
    if (this.#closed) return true;
    if (this.#filterDown) {
      const h = head(parts, this.#prefixLen);
      const subs = this.#subs;
      if (!allowedPrefix(this.#read, h, this.#offset) || (subs !== undefined && !allowedPrefix(subs, h, this.#offset))) {
        this.#metrics.filtered(this.route.path);
        return true;
      }
    }
    if (this.#backpressure) {
      this.#send(parts);
      return !this.#blocked;
    }
    if (!this.#blocked && this.#queue.length === 0) {
      this.#send(parts);
      return true;
    }
    this.#enqueue(parts);
    return true;
  }

  #send(parts: readonly Uint8Array[]): void {
    this.#metrics.messages(this.route.path, "down", 1, sizeOf(parts));
    if (!this.#inner.write(parts)) this.#blocked = true;
  }

  #keyOf(parts: readonly Uint8Array[]): string {
    // Only the slow path gets here: the topic is the body up to the delimiter (a 256-byte cap keeps keys small).
    const h = head(parts, this.#offset + 256);
    let end = Math.min(h.length, this.#offset + 256);
    if (this.#delimiter >= 0) {
      const i = h.indexOf(this.#delimiter, this.#offset);
      if (i >= 0 && i < end) end = i;
    }
    let s = "";
    for (let i = this.#offset; i < end; i++) s += String.fromCharCode(h[i]!);
    return s;
  }

  #enqueue(parts: readonly Uint8Array[]): void {
    const q = this.route.queue;
    const bytes = sizeOf(parts);
    const route = this.route.path;
    if (q.policy === "latest") {
      const key = this.#keyOf(parts);
      const byKey = (this.#byKey ??= new Map());
      const old = byKey.get(key);
      if (old !== undefined) {
        // Conflation: the newest value of a topic takes the older one's place in line.
        this.#queuedBytes += bytes - old.bytes;
        old.parts = parts;
        old.bytes = bytes;
        this.#metrics.dropped(route, "latest-replaced");
        this.#trimOldest();
        return;
      }
      const e: Queued = { parts, bytes, key };
      byKey.set(key, e);
      this.#push(e);
      this.#trimOldest();
      return;
    }
    const over = this.#queue.length + 1 > q.messages || this.#queuedBytes + bytes > q.bytes;
    if (!over) {
      this.#push({ parts, bytes, key: undefined });
      return;
    }
    switch (q.policy) {
      case "drop-new":
        this.#metrics.dropped(route, "queue-full");
        return;
      case "drop-old":
        this.#push({ parts, bytes, key: undefined });
        this.#trimOldest();
        return;
      case "disconnect": {
        const n = this.#queue.length + 1;
        this.#metrics.dropped(route, "slow-consumer", n);
        this.#log.warn(
          { route, remote: this.remoteAddress, subject: this.identity.subject, queued: this.#queue.length, queuedBytes: this.#queuedBytes },
          "slow consumer disconnected",
        );
        this.closeWith(CLOSE.slowConsumer, "slow consumer", "slow-consumer");
        return;
      }
    }
  }

  #push(e: Queued): void {
    this.#queue.push(e);
    this.#queuedBytes += e.bytes;
  }

  /** Drop from the front until the queue is within both bounds (a single message larger than the byte bound goes too). */
  #trimOldest(): void {
    const q = this.route.queue;
    while (this.#queue.length > 0 && (this.#queue.length > q.messages || this.#queuedBytes > q.bytes)) {
      const e = this.#queue.shift()!;
      this.#queuedBytes -= e.bytes;
      if (e.key !== undefined) this.#byKey?.delete(e.key);
      this.#metrics.dropped(this.route.path, "drop-old");
    }
  }

  #drained(): void {
    this.#blocked = false;
    while (!this.#blocked && this.#queue.length > 0) {
      const e = this.#queue.shift()!;
      this.#queuedBytes -= e.bytes;
      if (e.key !== undefined) this.#byKey?.delete(e.key);
      this.#send(e.parts);
    }
    if (!this.#blocked) this.#handler?.drain();
  }

  #dropQueue(reason: string): void {
    if (this.#queue.length > 0) this.#metrics.dropped(this.route.path, reason, this.#queue.length);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#byKey?.clear();
  }

  pause(): void {
    this.#inner.pause();
  }

  resume(): void {
    this.#inner.resume();
  }

  close(err?: SPError): void {
    this.#inner.close(err);
  }

  /** Close with a WebSocket close code the browser can read; `label` is the metrics reason. */
  closeWith(code: number, reason: string, label: string): void {
    if (this.#closed) return;
    this.closeLabel ??= label;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    this.#inner.close(new SPError("ECONNSHUT", `${this.remoteAddress}: closed by the gateway (${code} ${reason})`));
  }

  /** True when everything queued has reached the WebSocket and the socket has written it out. */
  get flushed(): boolean {
    return this.#queue.length === 0 && this.ws.bufferedAmount === 0;
  }
}
