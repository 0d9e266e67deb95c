/**
 * ws:// and wss:// dialing over any WHATWG WebSocket (browsers, Deno, Bun,
 * Node >= 22, or the `ws` package injected by @spwire/node), and the pipe
 * that moves SP messages over an open WebSocket.
 *
 * Wire contract (sp-websocket-mapping-01, nng 1.5.2): no SP handshake bytes
 * and no length prefix. The dialer offers exactly one subprotocol token, the
 * *peer's* name (`rep.sp.nanomsg.org` for a REQ); one SP message (header words
 * then body) is one binary WebSocket message.
 *
 * This file imports nothing from Node: it runs in browsers. It cannot listen;
 * @spwire/node adds the listener and reuses {@link WsPipe} for accepted sockets.
 */
import { SPError, type ErrorCode } from "../errors.js";
import { wsProtocolName } from "../protocols.js";
import type { Transport, TransportOptions, TransportPipe, TransportPipeHandler } from "../transport.js";
import { joinParts } from "../message.js";
import { PipeInbox } from "./inbox.js";

/** The close event fields we read (WHATWG CloseEvent, `ws` CloseEvent). */
export interface WsCloseEventLike {
  readonly code: number;
  readonly reason: string;
  readonly wasClean?: boolean;
}

/** The message event field we read. `data` is an ArrayBuffer, a Uint8Array/Buffer, or a string for text frames. */
export interface WsMessageEventLike {
  readonly data: unknown;
}

/**
 * The part of the WHATWG WebSocket that spwire uses. A browser `WebSocket`
 * and the `ws` package's `WebSocket` both fit without adapters.
 */
export interface WebSocketLike {
  /** Set to "arraybuffer" by spwire; the `ws` package's "nodebuffer" is also understood. */
  binaryType: string;
  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  readonly readyState: number;
  /** Bytes queued by `send()` and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** The subprotocol the server chose. */
  readonly protocol: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "error", listener: (ev: unknown) => void): void;
  addEventListener(type: "message", listener: (ev: WsMessageEventLike) => void): void;
  addEventListener(type: "close", listener: (ev: WsCloseEventLike) => void): void;
  removeEventListener(type: "open" | "error", listener: (ev: unknown) => void): void;
  removeEventListener(type: "message", listener: (ev: WsMessageEventLike) => void): void;
  removeEventListener(type: "close", listener: (ev: WsCloseEventLike) => void): void;
  /** Stop reading from the network (the `ws` package has it; browsers do not). */
  pause?(): void;
  resume?(): void;
}

/** A WebSocket class: `new WebSocket(url, protocol)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * Makes a WebSocket that starts connecting to `url`, offering the single
 * subprotocol `protocol`. `opts` are the dial's options (limits, deadline)
 * for factories that can use them, such as the `ws` package's `maxPayload`.
 */
export type WebSocketFactory = (url: string, protocol: string, opts: TransportOptions) => WebSocketLike;

/** Options for {@link wsTransport}. */
export interface WsTransportOptions {
  /** The WebSocket class to use; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Makes the WebSocket; wins over `WebSocket`. */
  factory?: WebSocketFactory;
  /** `write()` returns false once this many bytes wait in the WebSocket's buffer (default 1 MiB). */
  highWaterMark?: number;
  /** What the runtime adds to a dialed WebSocket's pipe (see {@link WsPipeIo}); Node gives it. */
  io?: (ws: WebSocketLike) => WsPipeIo | undefined;
}

/**
 * Write help a runtime can give a {@link WsPipe} beyond the WHATWG API.
 * Browsers give none: the pipe then sends each message as it comes and, while
 * blocked, polls `bufferedAmount`. @spwire/node gives it from the `ws`
 * package's TCP socket.
 */
export interface WsPipeIo {
  /**
   * Called before each send. A runtime that can coalesce the sends of one
   * tick into one write does so (Node corks the socket until the next tick):
   * the per-message write syscall is what limits small messages.
   */
  batch(): void;
  /**
   * Bytes the network has not taken yet, not counting the current batch
   * (which leaves at the end of the tick): what the high water mark is
   * compared with, so a burst to a reader that keeps up never looks blocked.
   */
  backlog(): number;
  /** Calls `fn` once when the backlog may have shrunk, instead of polling. */
  onDrain(fn: () => void): void;
  /** The bytes as the WebSocket sends them without a conversion of its own (Node: a Buffer). */
  wire?(data: Uint8Array): Uint8Array;
  /**
   * Sends one binary message instead of `ws.send`. Node frames a server's
   * message once (an unmasked frame is the same bytes for every connection)
   * and writes that frame to each connection's socket, where `ws.send` would
   * frame it, and issue two stream writes, per connection.
   */
  send?(data: Uint8Array): void;
  /**
   * Watches what the runtime sees below the WebSocket API and calls `fail`
   * when the peer misbehaves there.
   */
  watch?(fail: (err: SPError) => void): void;
  /**
   * Delivers the WebSocket's message, error and close events to `sink`
   * through the runtime's own event API, until the close; the pipe then adds
   * no listeners of its own. Node gives it: the `ws` package wraps every
   * `addEventListener` listener in a closure of its own and makes an event
   * object per message, which a gateway holding thousands of idle
   * connections pays for in memory and every receiver in time. A runtime
   * that also watches below the WebSocket API (Node: a frame trickled in tiny
   * reads) reports through `sink.wsFail`.
   */
  listen?(sink: WsEventSink): void;
}

/**
 * What a WsPipe hears from its WebSocket when the runtime delivers the events
 * itself ({@link WsPipeIo.listen}). WsPipe is the only implementation.
 */
export interface WsEventSink {
  /** A message: bytes (ArrayBuffer, Uint8Array, Buffer), or a string for a text frame. */
  wsMessage(data: unknown): void;
  /** The error event's detail: what `wsErrorDetail` reads (`error.code`, `message`). */
  wsError(ev: unknown): void;
  wsClose(ev: WsCloseEventLike): void;
  /** The peer misbehaved below the WebSocket API: close with 1008. */
  wsFail(err: SPError): void;
}

/** The addEventListener listeners of a pipe without io.listen. */
interface WsListeners {
  message: (ev: WsMessageEventLike) => void;
  error: (ev: unknown) => void;
  close: (ev: WsCloseEventLike) => void;
}

/**
 * The last message made ready to send, by its parts array. A PUB (the
 * gateway's fan-out above all) hands the same parts to every pipe in one
 * loop, so the join and the runtime's conversion happen once per message
 * instead of once per pipe. Protocols never change a parts array once sent.
 */
let lastParts: readonly Uint8Array[] | undefined;
let lastData: Uint8Array = new Uint8Array(0);

/** Options for {@link WsPipe}. */
export interface WsPipeOptions {
  localAddress: string;
  remoteAddress: string;
  /** Largest message accepted, bytes; 0 = no limit. */
  recvMaxSize: number;
  /** Default 1 MiB. */
  highWaterMark?: number;
  io?: WsPipeIo;
}

/**
 * What a ws pipe's end error carries as `cause` when the WebSocket closed
 * under it: the close frame's code and reason (1006 and "" when the
 * connection was lost without one), so a page can show "closed 1001".
 */
export interface WsCloseInfo {
  readonly code: number;
  readonly reason: string;
  /** The error event that came before the close, if there was one (the `ws` package says why there). */
  readonly error?: unknown;
}

const CONNECTING = 0;
const OPEN = 1;
const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/**
 * How often a blocked writer looks at bufferedAmount. Browsers have no drain
 * event, so we poll, and only while a write is blocked: an idle pipe runs no
 * timer, so a background tab is never woken by spwire.
 */
const DRAIN_POLL_MS = 10;

/**
 * Close `ws` with `code`. Browsers let a script send only 1000 and 3000-4999
 * (WHATWG `close()` throws InvalidAccessError for 1003 or 1009), so there the
 * peer gets 1000 with the same reason; the `ws` package sends the real code.
 */
function closeWith(ws: WebSocketLike, code: number, reason?: string): void {
  try {
    ws.close(code, reason);
  } catch {
    ws.close(1000, reason);
  }
}

/** The Uint8Array in a message event, or undefined for a text frame (or anything else that is not bytes). */
function bytesOf(data: unknown): Uint8Array | undefined {
  // The `ws` package hands Buffers (a Uint8Array subclass); give protocols a plain view.
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // The tag test also accepts an ArrayBuffer from another realm (iframes, jsdom).
  if (tag(data) === "[object ArrayBuffer]") return new Uint8Array(data as ArrayBuffer);
  return undefined;
}

function tag(v: unknown): string {
  return Object.prototype.toString.call(v);
}

/**
 * The `ws` package reports why it failed a connection on the error event
 * (`ErrorEvent.error.code`, e.g. WS_ERR_UNSUPPORTED_MESSAGE_LENGTH when its
 * maxPayload refused a frame). Browsers give no detail at all.
 */
function wsErrorDetail(ev: unknown): { code?: string; message?: string } {
  const e = (ev ?? {}) as { error?: { code?: unknown; message?: unknown }; message?: unknown };
  return { code: text(e.error?.code), message: text(e.error?.message) ?? text(e.message) };
}

function text(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** ws error codes that mean "too big" (the `ws` package sends Close 1009 for these). */
const SIZE_ERRORS = ["WS_ERR_UNSUPPORTED_MESSAGE_LENGTH", "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH", "WS_ERR_TOO_MANY_BUFFERED_PARTS"];

function describeClose(ev: WsCloseEventLike): string {
  return ev.reason ? `code ${ev.code}, "${ev.reason}"` : `code ${ev.code}`;
}

/**
 * The error code of a pipe the peer (or the network) closed with close code
 * `c`; `wasClean` false (no closing handshake) makes an unlisted code a reset.
 * Shared with the browser build's socket, so both shells name a close alike.
 */
export function closeErrorCode(c: number, wasClean?: boolean): ErrorCode {
  return c === 1000 || c === 1001
    ? "ECONNSHUT"
    : c === 1006
      ? "ECONNRESET"
      : c === 1002 || c === 1003 || c === 1007
        ? "EPROTO"
        : c === 1009
          ? "EMSGSIZE"
          : // The server let the upgrade finish only to say no (a page cannot read an HTTP
            // status): spwire's gateway closes with 44xx for a missing or bad token, a wrong
            // origin, too many connections; 1011 (server error) and 1013 (try again later)
            // say the same. The dialer backs off instead of redialing at once.
            (c >= 4400 && c <= 4499) || c === 1011 || c === 1013
            ? "ECONNREFUSED"
            : wasClean === false
              ? "ECONNRESET"
              : "ECONNSHUT";
}

/** Why a pipe ended, from a close the peer (or the network) caused. */
function errorForClose(ev: WsCloseEventLike, failure: unknown, remote: string): SPError {
  const detail = wsErrorDetail(failure);
  const c = ev.code;
  let code = closeErrorCode(c, ev.wasClean);
  let what =
    code === "ECONNREFUSED"
      ? "the server refused the connection"
      : c === 1006
        ? "connection lost without a Close frame"
        : code === "EPROTO"
          ? "peer closed the pipe for a protocol error"
          : code === "EMSGSIZE"
            ? "peer closed the pipe: message too large for it"
            : "peer closed the pipe";
  let extra = detail.message === undefined ? "" : `; ${detail.message}`;
  if (detail.code?.startsWith("WS_ERR_")) {
    // The `ws` package failed the connection itself (bad frame, oversize message) and told the peer so.
    code = SIZE_ERRORS.includes(detail.code) ? "EMSGSIZE" : "EPROTO";
    what = detail.message ?? detail.code;
    extra = "";
  }
  const cause: WsCloseInfo = failure === undefined ? { code: c, reason: ev.reason } : { code: c, reason: ev.reason, error: failure };
  return new SPError(code, `${remote}: ${what} (${describeClose(ev)}${extra})`, { cause });
}

/**
 * One SP pipe over an open WebSocket. Used by the dialer here and by the
 * Node listener for accepted sockets.
 *
 * Never sends Ping frames: nanomsg 1.1.5 hands Ping and Pong payloads to the
 * application as messages.
 */
export class WsPipe implements TransportPipe {
  readonly localAddress: string;
  readonly remoteAddress: string;

  #ws: WebSocketLike;
  /** Held messages, pause, and the one end report. */
  #in = new PipeInbox();
  #maxSize: number;
  #hwm: number;
  /** The last error event; the close event that follows says what it meant. */
  #failure: unknown = undefined;
  /** Armed only while a write is blocked (see DRAIN_POLL_MS). */
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #io: WsPipeIo | undefined;
  /** A drain wait (timer or io.onDrain) is pending. */
  #waiting = false;
  /**
   * The listeners given to addEventListener, kept for their removal at close;
   * undefined when the runtime delivers the events itself (io.listen). Made
   * per pipe only then: an idle connection holds no other closure.
   */
  #listeners: WsListeners | undefined;

  constructor(ws: WebSocketLike, opts: WsPipeOptions) {
    if (ws.readyState === CONNECTING) {
      throw new SPError("EINVAL", "WsPipe needs a WebSocket that has finished its opening handshake");
    }
    this.#ws = ws;
    this.localAddress = opts.localAddress;
    this.remoteAddress = opts.remoteAddress;
    this.#maxSize = opts.recvMaxSize;
    this.#hwm = opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    const io = opts.io;
    this.#io = io;
    io?.watch?.((err) => this.wsFail(err));
    // A Blob cannot be read synchronously; keep whatever byte type the socket already delivers.
    if (ws.binaryType !== "arraybuffer" && ws.binaryType !== "nodebuffer") ws.binaryType = "arraybuffer";
    if (io?.listen !== undefined) {
      io.listen(this);
    } else {
      const l: WsListeners = {
        message: (ev) => this.wsMessage(ev.data),
        error: (ev) => this.wsError(ev),
        close: (ev) => this.wsClose(ev),
      };
      this.#listeners = l;
      ws.addEventListener("message", l.message);
      ws.addEventListener("error", l.error);
      ws.addEventListener("close", l.close);
    }
    if (ws.readyState !== OPEN) this.#end(this.#error("ECONNRESET", "the WebSocket closed before the pipe started"));
  }

  start(h: TransportPipeHandler): void {
    this.#in.start(h);
  }

  write(parts: readonly Uint8Array[]): boolean {
    if (this.#in.ended) return true;
    try {
      const io = this.#io;
      if (parts !== lastParts) {
        const joined = joinParts(parts);
        lastData = io?.wire === undefined ? joined : io.wire(joined);
        lastParts = parts;
      }
      if (io === undefined) this.#ws.send(lastData);
      else {
        io.batch();
        if (io.send !== undefined) io.send(lastData);
        else this.#ws.send(lastData);
      }
    } catch (err) {
      // Only a WebSocket that is not open throws here; the close event may not have reached us yet.
      this.#end(this.#error("ECONNRESET", `send failed: ${String(err)}`, err));
      closeWith(this.#ws, 1000);
      return true;
    }
    if (this.#backlog() < this.#hwm) return true;
    this.#waitDrain();
    return false;
  }

  #backlog(): number {
    return this.#io === undefined ? this.#ws.bufferedAmount : this.#io.backlog();
  }

  #waitDrain(): void {
    if (this.#waiting) return;
    this.#waiting = true;
    // A closure per wait, not a field: only a blocked pipe needs one.
    if (this.#io !== undefined) this.#io.onDrain(() => this.#poll());
    else this.#pollTimer = setTimeout(() => this.#poll(), DRAIN_POLL_MS);
  }

  pause(): void {
    if (this.#in.pause()) this.#ws.pause?.();
  }

  resume(): void {
    // Delivering held messages may pause again; read from the socket only if not.
    if (this.#in.resume() && !this.#in.paused) this.#ws.resume?.();
  }

  close(err?: SPError): void {
    // "ended": the peer ended it first; only held messages kept the report back.
    if (this.#in.closeLocal() !== "open") return;
    // Reported now, as a clean local close (no error). nng < 1.7 never answers
    // our Close frame, so the close event that follows says 1006; by then the
    // pipe has ended and that 1006 is not reported as an error.
    this.#end(err);
    // 1000 and no reason, as nng does.
    closeWith(this.#ws, 1000);
  }

  #poll(): void {
    this.#pollTimer = undefined;
    this.#waiting = false;
    if (this.#in.ended) return;
    if (this.#backlog() >= this.#hwm) this.#waitDrain();
    else this.#in.handler?.drain();
  }

  /** @internal A message event's data (see {@link WsEventSink}). */
  wsMessage(data: unknown): void {
    if (this.#in.ended) return;
    const m = bytesOf(data);
    if (m === undefined) {
      // nng 1.5.2 closes with 1003 on any text frame, even valid UTF-8; do the same.
      const what = typeof data === "string" ? "a text frame" : `a ${tag(data)}`;
      this.#fail(1003, "SP messages are binary", this.#error("EPROTO", `peer sent ${what}; SP messages are binary frames`));
    } else if (this.#maxSize > 0 && m.byteLength > this.#maxSize) {
      this.#fail(1009, "message too large", this.#error("EMSGSIZE", `message of ${m.byteLength} bytes exceeds recvMaxSize ${this.#maxSize}`));
    } else {
      this.#in.receive(m);
    }
  }

  /** @internal */
  wsError(ev: unknown): void {
    // Remembered, not reported: the close event always follows and says how the pipe ended.
    this.#failure ??= ev;
  }

  /** @internal */
  wsClose(ev: WsCloseEventLike): void {
    const l = this.#listeners;
    if (l !== undefined) {
      const ws = this.#ws;
      ws.removeEventListener("message", l.message);
      ws.removeEventListener("error", l.error);
      ws.removeEventListener("close", l.close);
      this.#listeners = undefined;
    }
    // Once ended (a local close, bad bytes) the close event adds nothing; #end already stopped the poll.
    if (!this.#in.ended) this.#end(errorForClose(ev, this.#failure, this.remoteAddress));
  }

  /** @internal */
  wsFail(err: SPError): void {
    this.#fail(1008, "policy violation", err);
  }

  #error(code: ErrorCode, msg: string, cause?: unknown): SPError {
    return new SPError(code, `${this.remoteAddress}: ${msg}`, cause === undefined ? undefined : { cause });
  }

  /** Bad bytes from the peer: close only this pipe, with a code the peer can read. */
  #fail(code: number, reason: string, err: SPError): void {
    this.#end(err);
    closeWith(this.#ws, code, reason);
  }

  #end(err: SPError | undefined): void {
    if (!this.#in.end(err)) return;
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }
}

/**
 * The WebSocket transport for browsers and any runtime with a WHATWG
 * WebSocket: dial only.
 *
 * @example
 * const sub = new Sub({ transports: [wsTransport()] });
 * await sub.dial("wss://example.com/feed");
 *
 * @example
 * // Node: the `ws` package (or use @spwire/node, which does this for you)
 * import WebSocket from "ws";
 * const req = new Req({ transports: [wsTransport({ WebSocket })] });
 */
export function wsTransport(options: WsTransportOptions = {}): Transport {
  const hwm = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  if (!(hwm > 0)) throw new SPError("EINVAL", `highWaterMark must be a positive number of bytes, got ${String(hwm)}`);

  return {
    schemes: ["ws", "wss"],

    dial(url: URL, opts: TransportOptions): Promise<TransportPipe> {
      return new Promise<TransportPipe>((resolve, reject) => {
        const signal = opts.signal;
        if (signal?.aborted) return reject(signal.reason);
        // Resolved per dial, not in wsTransport(): a core socket made in Node 20 (no global WebSocket) must still construct.
        const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
        const make: WebSocketFactory | undefined = options.factory ?? (Ctor && ((u, protocol) => new Ctor(u, protocol)));
        if (make === undefined) {
          return reject(
            new SPError(
              "ENOTSUP",
              "no WebSocket implementation: this runtime has no globalThis.WebSocket; pass wsTransport({ WebSocket }) (e.g. from the ws package) or use @spwire/node",
            ),
          );
        }
        const href = url.href;
        const token = wsProtocolName(opts.protocol.peerName);
        let ws: WebSocketLike;
        try {
          // Exactly one token: nng compares the whole header value, so a list is refused.
          ws = make(href, token, opts);
        } catch (err) {
          const code: ErrorCode = (err as { name?: unknown } | null)?.name === "SecurityError" ? "EPERM" : "EADDRINVAL";
          return reject(new SPError(code, `cannot open a WebSocket to ${href}: ${String(err)}`, { cause: err }));
        }
        // Browsers default to "blob", which cannot be read synchronously. The `ws`
        // package's "nodebuffer" is kept: its "arraybuffer" costs a copy per message.
        if (ws.binaryType !== "nodebuffer") ws.binaryType = "arraybuffer";

        let settled = false;
        let failure: unknown = undefined;
        let timer: ReturnType<typeof setTimeout> | undefined;

        /** The outcome is known: no more deadline or abort. */
        const settle = (): void => {
          settled = true;
          signal?.removeEventListener("abort", onAbort);
          clearTimeout(timer);
        };
        const detach = (): void => {
          ws.removeEventListener("open", onOpen);
          ws.removeEventListener("error", onError);
          ws.removeEventListener("close", onClose);
        };
        // After we give up (deadline, abort, bad subprotocol) the listeners stay
        // until the close event: the `ws` package emits "error" while aborting a
        // handshake, and an error event nobody listens to would throw.
        const giveUp = (err: unknown, code: number): void => {
          settle();
          reject(err);
          closeWith(ws, code);
        };

        function onOpen(): void {
          if (settled) return;
          const got = ws.protocol;
          if (got.toLowerCase() !== token) {
            // Browsers accept a 101 without Sec-WebSocket-Protocol; nng's dialer does not.
            giveUp(new SPError("EPROTO", `${href}: server agreed to subprotocol "${got}", this socket needs "${token}"`), 1002);
            return;
          }
          settle();
          // The pipe takes its listeners before ours go, so an error event always has a listener.
          const pipe = new WsPipe(ws, {
            localAddress: href,
            remoteAddress: href,
            recvMaxSize: opts.recvMaxSize,
            highWaterMark: hwm,
            io: options.io?.(ws),
          });
          detach();
          resolve(pipe);
        }
        function onError(ev: unknown): void {
          failure ??= ev;
        }
        function onClose(ev: WsCloseEventLike): void {
          detach();
          if (settled) return;
          settle();
          // Browsers say nothing about why (refused, 404, TLS ...); the `ws` package does, on its error event.
          const detail = wsErrorDetail(failure).message;
          reject(
            new SPError(
              "ECONNREFUSED",
              `cannot connect to ${href}${detail ? `: ${detail}` : ""} (closed before open, ${describeClose(ev)})`,
              failure === undefined ? undefined : { cause: failure },
            ),
          );
        }
        function onAbort(): void {
          if (!settled) giveUp(signal!.reason, 1000);
        }

        ws.addEventListener("open", onOpen);
        ws.addEventListener("error", onError);
        ws.addEventListener("close", onClose);
        signal?.addEventListener("abort", onAbort, { once: true });
        const limit = opts.handshakeTimeout;
        if (Number.isFinite(limit) && limit > 0) {
          timer = setTimeout(() => {
            if (!settled) giveUp(new SPError("ETIMEDOUT", `${href}: WebSocket opening handshake took longer than ${limit} ms`), 1000);
          }, limit);
        }
      });
    },
  };
}
