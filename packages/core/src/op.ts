/**
 * One helper for every operation that waits: it honours an AbortSignal
 * (rejecting with the signal's reason, unchanged) and a time limit
 * (rejecting with ETIMEDOUT), and always runs the operation's cleanup once.
 */
import { SPError } from "./errors.js";
import type { OpOptions } from "./protocol.js";

/** setTimeout fires at once past 2^31-1 ms (24.8 days); longer limits are treated as none. */
export const MAX_TIMER = 0x7fffffff;

/** True when `ms` is a limit a timer can keep (finite and at most MAX_TIMER). */
export function timed(ms: number | undefined): ms is number {
  return ms !== undefined && Number.isFinite(ms) && ms <= MAX_TIMER;
}

export interface Settle<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

/**
 * One waiting operation: a promise settled exactly once, by the operation
 * (`resolve`/`reject`), by its time limit (ETIMEDOUT) or by its signal (the
 * signal's reason, unchanged). A class, not closures: hot paths (each recv
 * of a `for await`, each request, each device hop) make one per message,
 * and a queue of waiters can hold the op itself and skip it once `done`.
 *
 * Make it, register it where it waits, then `arm()` it; `onEnd` runs once
 * when it settles, whichever way.
 */
export class Op<T> implements Settle<T> {
  declare readonly promise: Promise<T>;
  /** Settled (resolved, rejected, timed out or aborted): whoever holds it skips it. */
  declare done: boolean;
  /** Undoes the registration when the op settles (a waiting send leaves its queue ...); runs before the promise settles. */
  declare onEnd: ((op: this) => void) | undefined;
  declare private res: (v: T) => void;
  declare private rej: (e: unknown) => void;
  declare private timer: ReturnType<typeof setTimeout> | undefined;
  declare private signal: AbortSignal | undefined;
  declare private what: string;
  declare private ms: number;

  constructor() {
    this.done = false;
    this.onEnd = undefined;
    this.timer = undefined;
    this.signal = undefined;
    this.what = "";
    this.ms = 0;
    // Assigned before the constructor returns: the executor runs synchronously.
    this.promise = new Promise<T>((res, rej) => {
      this.res = res;
      this.rej = rej;
    });
  }

  /**
   * Start `opts`' time limit and follow its signal, unless the op already
   * settled. Check `opts.signal?.aborted` before registering the op: an
   * aborted signal must keep the operation from starting at all.
   */
  arm(opts: OpOptions, what: string): Promise<T> {
    if (this.done) return this.promise;
    const signal = opts.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.reject(signal.reason);
        return this.promise;
      }
      this.signal = signal;
      // The op is its own listener (handleEvent): no closure per operation.
      signal.addEventListener("abort", this, { once: true });
    }
    const t = opts.timeout;
    if (timed(t)) {
      this.what = what;
      this.ms = t;
      // With both DOM and Node types loaded (tsconfig.test.json) this overload types as the DOM one, a number.
      this.timer = setTimeout(timedOut, t, this) as unknown as ReturnType<typeof setTimeout>;
    }
    return this.promise;
  }

  resolve(v: T): void {
    if (this.done) return;
    this.end();
    this.res(v);
  }

  reject(e: unknown): void {
    if (this.done) return;
    this.end();
    this.rej(e);
  }

  /** @internal The signal's abort event. */
  handleEvent(): void {
    this.reject(this.signal!.reason);
  }

  /** @internal */
  timedOut(): void {
    this.timer = undefined;
    this.reject(new SPError("ETIMEDOUT", `${this.what} timed out after ${this.ms} ms`));
  }

  private end(): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.signal !== undefined) this.signal.removeEventListener("abort", this);
    const f = this.onEnd;
    if (f !== undefined) {
      this.onEnd = undefined;
      f(this);
    }
  }
}

function timedOut(op: Op<unknown>): void {
  op.timedOut();
}

/**
 * Run `start`, which returns a cleanup function, under `opts`. The cleanup
 * runs exactly once, whichever way the operation ends. An aborted signal
 * rejects at once, without running `start`.
 */
export function waitFor<T>(opts: OpOptions, what: string, start: (s: Settle<T>) => () => void): Promise<T> {
  const signal = opts.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const op = new Op<T>();
  const cleanup = start(op);
  if (op.done) {
    // start() settled synchronously.
    cleanup();
    return op.promise;
  }
  op.onEnd = cleanup;
  return op.arm(opts, what);
}

/** One settled promise for every operation that completes at once (a shared, already resolved promise is immutable). */
export const resolved: Promise<void> = /* @__PURE__ */ Promise.resolve();

/** A FIFO with O(1) push and shift, for receive queues that may hold thousands of messages. */
export class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(v: T): void {
    this.#items.push(v);
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const v = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return v;
  }

  /** Keep only the items `keep` accepts, in order. */
  retain(keep: (v: T) => boolean): void {
    this.#items = (this.#items.slice(this.#head) as T[]).filter(keep);
    this.#head = 0;
  }

  clear(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}
