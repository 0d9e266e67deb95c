/**
 * Logging and events: the two ways a socket tells the world what happened
 * without throwing. Every pipe that ends for a reason is logged here and
 * counted in `stats`; nothing is swallowed.
 */

/** Where a socket writes its log lines. Pass your own (pino, console ...) via the `logger` option. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => {};

/** The default: warnings and errors to the console, nothing else. */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (msg, fields) => console.warn(`spwire: ${msg}`, fields ?? ""),
  error: (msg, fields) => console.error(`spwire: ${msg}`, fields ?? ""),
};

/** Says nothing. For tests and tools that report errors their own way. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

type Handler<T> = (ev: T) => void;

/** Add one to `counts[key]`: the by-reason and by-code counters in `stats`. */
export function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** A small typed event emitter: `on()` returns the function that removes the handler. */
export class Emitter<M> {
  #handlers = new Map<keyof M, Set<Handler<never>>>();
  #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  on<K extends keyof M>(name: K, fn: Handler<M[K]>): () => void {
    let set = this.#handlers.get(name);
    if (set === undefined) this.#handlers.set(name, (set = new Set()));
    set.add(fn as Handler<never>);
    return () => this.off(name, fn);
  }

  off<K extends keyof M>(name: K, fn: Handler<M[K]>): void {
    this.#handlers.get(name)?.delete(fn as Handler<never>);
  }

  emit<K extends keyof M>(name: K, ev: M[K]): void {
    for (const fn of [...(this.#handlers.get(name) ?? [])]) {
      try {
        (fn as Handler<M[K]>)(ev);
      } catch (err) {
        // A throwing user handler must not break the pipe that emitted the event.
        this.#log.error(`event handler for "${String(name)}" threw`, { err });
      }
    }
  }
}
