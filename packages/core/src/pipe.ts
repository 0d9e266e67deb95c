/**
 * Pipe: one established connection, as the socket and its protocol see it.
 * It wraps a transport pipe and adds the socket's bounded send queue: while
 * the transport is over its high water mark, up to `sendBuffer` messages wait
 * here; past that `send()` answers "full" and the protocol decides (PUB drops
 * the oldest, REQ/PUSH pick another pipe or wait).
 */
import type { SPError } from "./errors.js";
import type { TransportPipe } from "./transport.js";

/** The next pipe id; 0 until the first pipe, which draws a random start (no work at import). */
let nextPipeId = 0;

/** A fresh 31-bit pipe id, unique in this process while it lives (nng: random start, +1 per pipe). */
export function newPipeId(): number {
  const id = nextPipeId || Math.floor(Math.random() * 0x7fffffff) || 1;
  nextPipeId = (id + 1) & 0x7fffffff || 1;
  return id;
}

export type SendResult = "sent" | "queued" | "full";

/**
 * A pipe as a protocol sees it: what the protocol factories use. Core's
 * sockets hand them {@link Pipe}s; the browser build's socket hands them its
 * own smaller pipe over the page's WebSocket (browser/socket.ts).
 */
export interface ProtocolPipe {
  /** 31-bit id, top bit clear; raw REP/RESPONDENT put it in headers. */
  readonly id: number;
  /** Protocol-private per-pipe state. */
  proto: unknown;
  /** True when `send()` would not answer "full". */
  readonly ready: boolean;
  /** Send one message made of `parts`. Never throws; "full" means nothing was done. */
  send(parts: readonly Uint8Array[]): SendResult;
  /** Drop the oldest queued message to make room (PUB's policy). True if one was dropped. */
  dropOldest(): boolean;
  /** Close the connection (for bad bytes: `err` says why). */
  close(err?: SPError): void;
}

export class Pipe implements ProtocolPipe {
  /** 31-bit id, top bit clear; raw REP/RESPONDENT put it in headers. */
  readonly id: number;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** The URL of the dialer or listener that made this pipe. */
  readonly url: string;
  /** "dialer" or "listener". */
  readonly origin: "dialer" | "listener";
  /** Protocol-private per-pipe state. */
  proto: unknown = undefined;

  #tp: TransportPipe;
  #queue: (readonly Uint8Array[])[] = [];
  #blocked = false;
  #cap: number;
  #closed = false;
  #onSent: (bytes: number) => void;
  #onReady: (p: Pipe) => void;

  constructor(
    tp: TransportPipe,
    url: string,
    origin: "dialer" | "listener",
    cap: number,
    onSent: (bytes: number) => void,
    onReady: (p: Pipe) => void,
  ) {
    this.id = newPipeId();
    this.#tp = tp;
    this.url = url;
    this.origin = origin;
    this.localAddress = tp.localAddress;
    this.remoteAddress = tp.remoteAddress;
    this.#cap = cap;
    this.#onSent = onSent;
    this.#onReady = onReady;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True when `send()` would not answer "full". */
  get ready(): boolean {
    return !this.#closed && (!this.#blocked || this.#queue.length < this.#cap);
  }

  /** True when nothing waits in the queue and the transport has room: the message goes out now. */
  get idle(): boolean {
    return !this.#closed && !this.#blocked;
  }

  /** Messages waiting in this pipe's queue. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Send one message made of `parts`. Never throws; "full" means nothing was done. */
  send(parts: readonly Uint8Array[]): SendResult {
    if (this.#closed) return "full";
    if (!this.#blocked) {
      this.#write(parts);
      return "sent";
    }
    if (this.#queue.length >= this.#cap) return "full";
    this.#queue.push(parts);
    return "queued";
  }

  /** Drop the oldest queued message to make room (PUB's policy). True if one was dropped. */
  dropOldest(): boolean {
    return this.#queue.shift() !== undefined;
  }

  #write(parts: readonly Uint8Array[]): void {
    let n = 0;
    for (const p of parts) n += p.length;
    this.#onSent(n);
    if (!this.#tp.write(parts)) this.#blocked = true;
  }

  /** @internal The transport drained: flush the queue, then tell the protocol. */
  drained(): void {
    if (this.#closed) return;
    this.#blocked = false;
    while (!this.#blocked && this.#queue.length > 0) this.#write(this.#queue.shift()!);
    if (!this.#blocked) this.#onReady(this);
  }

  pause(): void {
    this.#tp.pause?.();
  }

  resume(): void {
    this.#tp.resume?.();
  }

  /** Close the connection. The socket hears about it through the transport's `closed`. */
  close(err?: SPError): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.closeReason = err;
    this.#tp.close(err);
  }

  /** Why the pipe was closed locally (set by `close(err)`), if it was. */
  closeReason: SPError | undefined = undefined;
  #closing = false;

  /** @internal Called by the socket once the transport reported `closed`. */
  markClosed(): void {
    this.#closed = true;
    this.#queue.length = 0;
  }
}
