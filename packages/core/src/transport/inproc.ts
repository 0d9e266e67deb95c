/**
 * inproc://name — an in-memory transport joining sockets in one process, for
 * tests and for wiring a device to local sockets. Each `inprocTransport()`
 * is its own namespace: sockets see each other only when they were given the
 * same transport object (no process-wide registry).
 *
 * It models flow control like a socket buffer: a writer may have
 * `highWaterMark` messages not yet taken by the reader; past that `write()`
 * returns false until the reader catches up (a paused reader takes nothing),
 * so back-pressure paths can be tested without a network.
 */
import { SPError } from "../errors.js";
import { joinParts } from "../message.js";
import type { ProtocolInfo } from "../protocols.js";
import type {
  Transport,
  TransportListener,
  TransportOptions,
  TransportPipe,
  TransportPipeHandler,
} from "../transport.js";

class InprocPipe implements TransportPipe {
  readonly localAddress: string;
  readonly remoteAddress: string;
  peer: InprocPipe | undefined;
  #h: TransportPipeHandler | undefined;
  #held: Uint8Array[] = [];
  #closed = false;
  #maxSize: number;
  #hwm: number;
  /** Messages this side wrote that the peer has not taken yet. */
  inflight = 0;
  #wantDrain = false;
  #endErr: SPError | undefined = undefined;
  #paused = false;

  constructor(addr: string, maxSize: number, hwm: number) {
    this.localAddress = addr;
    this.remoteAddress = addr;
    this.#maxSize = maxSize;
    this.#hwm = hwm;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    for (const m of held) this.#receive(m);
  }

  #taken(): void {
    this.inflight--;
    if (this.#wantDrain && this.inflight < this.#hwm) {
      this.#wantDrain = false;
      this.#h?.drain();
    }
  }

  start(h: TransportPipeHandler): void {
    this.#h = h;
    if (this.#closed) {
      // Closed before start (a listener refused us inside dial()): report it now.
      const err = this.#endErr;
      queueMicrotask(() => h.closed(err));
      return;
    }
    const held = this.#held;
    this.#held = [];
    for (const m of held) this.#receive(m);
  }

  write(parts: readonly Uint8Array[]): boolean {
    if (this.#closed || this.peer === undefined) return true;
    // A copy, as a network would make: the sender may reuse its arrays.
    const buf = parts.length === 1 ? parts[0]!.slice() : joinParts(parts);
    const peer = this.peer;
    this.inflight++;
    // Deliver on a later tick, as a network would: no re-entrancy into the sender.
    queueMicrotask(() => peer.#receive(buf));
    if (this.inflight < this.#hwm) return true;
    this.#wantDrain = true;
    return false;
  }

  #receive(m: Uint8Array): void {
    if (this.#closed) return;
    if (this.#h === undefined || this.#paused) {
      this.#held.push(m);
      return;
    }
    if (this.peer !== undefined) this.peer.#taken();
    if (this.#maxSize > 0 && m.length > this.#maxSize) {
      this.#end(new SPError("EMSGSIZE", `message of ${m.length} bytes exceeds recvMaxSize ${this.#maxSize}`));
      if (this.peer !== undefined) this.peer.#end(new SPError("ECONNRESET", "peer closed the pipe"));
      return;
    }
    this.#h.message(m);
  }

  #end(err: SPError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#endErr = err;
    const h = this.#h;
    if (h !== undefined) queueMicrotask(() => h.closed(err));
  }

  close(): void {
    if (this.#closed) return;
    this.#end(undefined);
    if (this.peer !== undefined) this.peer.#end(new SPError("ECONNSHUT", "peer closed the pipe"));
  }
}

interface Bound {
  protocol: ProtocolInfo;
  maxSize: number;
  accept: (p: TransportPipe) => void;
  refused: (err: SPError, remote: string) => void;
}

export interface InprocOptions {
  /** Messages a writer may have in flight before write() reports back-pressure (default 64). */
  highWaterMark?: number;
}

export function inprocTransport(options: InprocOptions = {}): Transport {
  const hwm = options.highWaterMark ?? 64;
  const bound = new Map<string, Bound>();
  const key = (u: URL): string => u.href.slice("inproc://".length);

  return {
    schemes: ["inproc"],

    dial(url: URL, opts: TransportOptions): Promise<TransportPipe> {
      const b = bound.get(key(url));
      if (b === undefined) return Promise.reject(new SPError("ECONNREFUSED", `nothing listens at ${url.href}`));
      if (b.protocol.id !== opts.protocol.peerId || b.protocol.peerId !== opts.protocol.id) {
        const err = new SPError("EPEER", `${url.href} speaks ${b.protocol.name}, this socket needs ${opts.protocol.peerName}`);
        b.refused(err, url.href);
        return Promise.reject(err);
      }
      const mine = new InprocPipe(url.href, opts.recvMaxSize, hwm);
      const theirs = new InprocPipe(url.href, b.maxSize, hwm);
      mine.peer = theirs;
      theirs.peer = mine;
      b.accept(theirs);
      return Promise.resolve(mine);
    },

    listen(url, opts, accept, refused): Promise<TransportListener> {
      const k = key(url);
      if (bound.has(k)) return Promise.reject(new SPError("EADDRINUSE", `${url.href} is already bound`));
      bound.set(k, { protocol: opts.protocol, maxSize: opts.recvMaxSize, accept, refused });
      return Promise.resolve({
        url: url.href,
        close: async () => {
          bound.delete(k);
        },
      });
    },
  };
}
