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
 * Run `start`, which returns a cleanup function, under `opts`. The cleanup
 * runs exactly once, whichever way the operation ends.
 */
export function waitFor<T>(opts: OpOptions, what: string, start: (s: Settle<T>) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const signal = opts.signal;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cleanup: (() => void) | undefined;
    const onAbort = (): void => finish(() => reject(signal!.reason));
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      cleanup?.();
      f();
    };
    const s: Settle<T> = {
      resolve: (v) => finish(() => resolve(v)),
      reject: (e) => finish(() => reject(e)),
    };
    cleanup = start(s);
    if (done) {
      // start() settled synchronously: finish() ran before cleanup was known.
      cleanup();
      return;
    }
    const t = opts.timeout;
    if (timed(t)) {
      timer = setTimeout(() => finish(() => reject(new SPError("ETIMEDOUT", `${what} timed out after ${t} ms`))), t);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

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

  clear(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}
