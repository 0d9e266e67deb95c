/**
 * PipeInbox: the receive-side bookkeeping every stream transport pipe needs,
 * in one place (ws in core, tcp/ipc/tls in @spwire/node).
 *
 * Contract it keeps for TransportPipe: messages that arrive before `start()`
 * or while paused are held and delivered in order; `closed` is reported
 * exactly once, on a later microtask, and only after every message that came
 * before the end was delivered (a local close drops held messages and reports
 * at once).
 */
import type { SPError } from "../errors.js";
import type { TransportPipeHandler } from "../transport.js";

export class PipeInbox {
  #h: TransportPipeHandler | undefined;
  #held: Uint8Array[] = [];
  #paused = false;
  #ended = false;
  #local = false;
  #endErr: SPError | undefined;
  #reported = false;

  /** The handler given to start(), if any. */
  get handler(): TransportPipeHandler | undefined {
    return this.#h;
  }

  /** No more messages are taken: closed locally, by the peer, or for bad bytes. */
  get ended(): boolean {
    return this.#ended;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Begin delivering to `h`; false when already started. */
  start(h: TransportPipeHandler): boolean {
    if (this.#h !== undefined) return false;
    this.#h = h;
    this.#flush();
    return true;
  }

  /** One whole message from the peer: delivered now, or held to keep order. */
  receive(m: Uint8Array): void {
    if (this.#local) return;
    const h = this.#h;
    if (h === undefined || this.#paused || this.#held.length > 0) {
      this.#held.push(m);
      return;
    }
    h.message(m);
  }

  /** False when already paused. */
  pause(): boolean {
    if (this.#paused) return false;
    this.#paused = true;
    return true;
  }

  /** Deliver what was held; false when not paused. */
  resume(): boolean {
    if (!this.#paused) return false;
    this.#paused = false;
    this.#flush();
    return true;
  }

  /** The pipe is over, for `err` (undefined: a clean local close). The first reason wins; false if it had ended. */
  end(err: SPError | undefined): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.#endErr = err;
    this.#flush();
    return true;
  }

  /**
   * close() was called here: drop held messages. Returns "again" for a second
   * call, "ended" when the pipe had already ended (its report goes out now),
   * or "open" when the caller must end it and close the connection.
   */
  closeLocal(): "again" | "ended" | "open" {
    if (this.#local) return "again";
    this.#local = true;
    this.#held = [];
    if (!this.#ended) return "open";
    this.#flush();
    return "ended";
  }

  #flush(): void {
    const h = this.#h;
    if (h === undefined) return;
    while (!this.#paused && !this.#local && this.#held.length > 0) h.message(this.#held.shift()!);
    if (!this.#ended || this.#reported || (this.#held.length > 0 && !this.#local)) return;
    this.#reported = true;
    const err = this.#endErr;
    // Later, never inside the caller's close() or write(): the socket may be iterating its pipes.
    queueMicrotask(() => h.closed(err));
  }
}
