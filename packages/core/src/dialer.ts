/**
 * Dialer: connects to one URL and keeps it connected. Reconnect lives here
 * and nowhere else: after a failed attempt, or after the pipe it made goes
 * away, it waits a random time in [d/2, d) and tries again, where d starts at
 * `reconnectMinTime`, doubles per failure up to `reconnectMaxTime`, and
 * returns to the minimum after a success. Jitter keeps a crowd of browsers
 * from redialing a restarted gateway in lockstep.
 *
 * A Dialer is awaitable: `await socket.dial(url)` resolves (to nothing) at
 * the first connection. With `failFast` the first failure rejects and the dialer stops
 * (nng_dial without NNG_FLAG_NONBLOCK).
 *
 * In a browser a dialer waiting out its backoff tries again at once when the
 * page comes back online (`online` on the global object) or becomes visible
 * (`visibilitychange`, `document.visibilityState === "visible"`): the network
 * or the tab is back, so the wait has nothing left to protect. That is a
 * feature check, not a sniff: it applies wherever `globalThis.addEventListener`
 * or `document` exist, and the listeners go when the dialer closes. Nothing
 * here runs on an interval: a dialer that is connected has no timer at all.
 */
import { SPError } from "./errors.js";
import { MAX_TIMER } from "./op.js";
import type { Transport, TransportOptions, TransportPipe } from "./transport.js";
import type { ResolvedOptions } from "./options.js";

/** Options for `socket.dial()`. Unknown keys are handed to the transport (TLS material ...). */
export interface DialOptions {
  /** Reject on the first failed attempt and stop, instead of retrying in the background. */
  failFast?: boolean;
  /** Stop dialing when aborted. */
  signal?: AbortSignal;
  /** Override the socket's reconnect times for this dialer. */
  reconnectMinTime?: number;
  reconnectMaxTime?: number;
  /**
   * The peer is an spwire gateway: a Sub puts its subscriptions in the query
   * of every URL it dials (`?sub=...`, see `gatewaySubUrl`) so the gateway
   * sends it only those topics, and redials at once when they change. Other
   * sockets ignore it, and it is never handed to the transport.
   */
  gateway?: boolean;
  [transportOption: string]: unknown;
}

export type DialerState = "connecting" | "connected" | "waiting" | "closed";

/** @internal What a dialer needs from its socket. */
export interface DialerHost {
  readonly options: ResolvedOptions;
  transportOptions(extra: Record<string, unknown>, signal: AbortSignal): TransportOptions;
  /** Adopt a new pipe; returns undefined when the socket refuses it (closed, pair already has a peer). */
  attach(tp: TransportPipe, dialer: Dialer): { close(): void } | undefined;
  dialFailed(dialer: Dialer, err: SPError, retryIn: number): void;
  /** The URL of the next attempt (asked once per attempt); absent means `url` itself. */
  target?(dialer: Dialer, url: URL, opts: DialOptions): URL;
}

/**
 * Call `redial` when the page comes back online or becomes visible; returns
 * the function that stops listening. A no-op where neither event can happen.
 */
function onWake(redial: () => void): () => void {
  type Target = {
    addEventListener(type: string, fn: () => void): void;
    removeEventListener(type: string, fn: () => void): void;
  };
  const g = globalThis as Partial<Target> & { document?: Target & { visibilityState?: string } };
  const win = typeof g.addEventListener === "function" ? (g as Target) : undefined;
  const doc = g.document;
  const onVisible = (): void => {
    if (doc!.visibilityState === "visible") redial();
  };
  win?.addEventListener("online", redial);
  doc?.addEventListener("visibilitychange", onVisible);
  return () => {
    win?.removeEventListener("online", redial);
    doc?.removeEventListener("visibilitychange", onVisible);
  };
}

export class Dialer implements PromiseLike<void> {
  readonly url: string;
  #u: URL;
  #transport: Transport;
  #host: DialerHost;
  #opts: DialOptions;
  #state: DialerState = "connecting";
  #attempts = 0;
  #delay: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ac: AbortController | undefined;
  #first: Promise<void>;
  #settle!: { resolve: () => void; reject: (e: unknown) => void; done: boolean };
  #min: number;
  #max: number;
  #pipe: { close(): void } | undefined;
  #current: URL;
  /** restart() closed our pipe: pipeClosed() dials at once instead of backing off. */
  #restarting = false;
  /** Stops the online/visibility listeners (see onWake). */
  #unwake: (() => void) | undefined;

  /** @internal Sockets make dialers; use `socket.dial(url)`. */
  constructor(url: URL, transport: Transport, host: DialerHost, opts: DialOptions) {
    this.url = url.href;
    this.#u = this.#current = url;
    this.#transport = transport;
    this.#host = host;
    this.#opts = opts;
    this.#min = this.#delay = opts.reconnectMinTime ?? host.options.reconnectMinTime;
    this.#max = opts.reconnectMaxTime ?? host.options.reconnectMaxTime;
    this.#first = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject, done: false };
    });
    // The first-connection promise may never be awaited (fire-and-forget dial);
    // its rejection is still reported through the socket's log and events.
    this.#first.catch(() => undefined);
    const signal = opts.signal;
    if (signal?.aborted) this.#stop(signal.reason);
    else signal?.addEventListener("abort", () => this.#stop(signal.reason), { once: true });
  }

  get state(): DialerState {
    return this.#state;
  }

  /** The URL of the last attempt (`url`, or what the socket made of it, e.g. a Sub's gateway query). */
  get currentUrl(): string {
    return this.#current.href;
  }

  /** Failed attempts since the last success. */
  get attempts(): number {
    return this.#attempts;
  }

  /**
   * Awaiting a dialer waits for its first connection. It resolves to nothing:
   * a thenable cannot resolve to itself, so keep the Dialer from `dial()`.
   */
  then<A = void, B = never>(
    onfulfilled?: ((v: void) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#first.then(onfulfilled, onrejected);
  }

  /** @internal */
  start(): void {
    if (this.#state === "closed") return;
    this.#unwake = onWake(() => this.redialNow());
    this.#attempt();
  }

  /**
   * Skip the wait and try now. Does nothing unless the dialer is waiting to
   * redial. A browser page gets this for free on `online` and when it becomes
   * visible again.
   */
  redialNow(): void {
    if (this.#state === "waiting") this.#attempt();
  }

  /**
   * @internal Dial again now with a fresh URL (a gateway Sub whose
   * subscriptions changed): an attempt in flight is abandoned, a backoff wait
   * is cut short, and a live pipe is closed so pipeClosed() dials at once.
   */
  restart(): void {
    const state = this.#state;
    const p = this.#pipe;
    if (state === "closed") return;
    if (state === "connected" && p !== undefined) {
      this.#restarting = true;
      // The socket calls pipeClosed() once the transport reports the close,
      // possibly before close() returns.
      p.close();
      return;
    }
    // #attempt replaces #ac, so an abandoned attempt's outcome is ignored (a pipe it still makes is closed there).
    if (state === "connecting") this.#ac?.abort(new SPError("ECLOSED", `dial attempt to ${this.currentUrl} replaced by a new one`));
    this.#attempt();
  }

  #attempt(): void {
    clearTimeout(this.#timer);
    this.#state = "connecting";
    const ac = (this.#ac = new AbortController());
    const fail = (err: unknown, code: "EADDRINVAL" | "ECONNREFUSED"): void => {
      this.#failed(err instanceof SPError ? err : new SPError(code, `${this.url}: ${String(err)}`, { cause: err }));
    };
    let u: URL;
    try {
      u = this.#host.target?.(this, this.#u, this.#opts) ?? this.#u;
    } catch (err) {
      this.#ac = undefined;
      fail(err, "EADDRINVAL");
      return;
    }
    this.#current = u;
    this.#transport.dial(u, this.#host.transportOptions(this.#opts, ac.signal)).then(
      (tp) => {
        if (this.#ac !== ac || this.#state === "closed") {
          tp.close();
          return;
        }
        this.#ac = undefined;
        const pipe = this.#host.attach(tp, this);
        if (pipe === undefined) {
          tp.close();
          fail(new SPError("ECONNREFUSED", `${this.url}: the socket refused the new pipe`), "ECONNREFUSED");
          return;
        }
        this.#pipe = pipe;
        // The backoff is reset when this pipe ends normally (pipeClosed), not
        // now: a server that accepts and at once refuses (close 44xx) must not
        // reset it, or a refused page would redial at the minimum delay forever.
        this.#state = "connected";
        if (!this.#settle.done) {
          this.#settle.done = true;
          this.#settle.resolve();
        }
      },
      (err: unknown) => {
        if (this.#ac !== ac || this.#state === "closed") return;
        this.#ac = undefined;
        fail(err, "ECONNREFUSED");
      },
    );
  }

  #failed(err: SPError): void {
    this.#attempts++;
    if (this.#opts.failFast === true && !this.#settle.done) {
      this.#host.dialFailed(this, err, -1);
      this.#stop(err);
      return;
    }
    this.#host.dialFailed(this, err, this.#schedule());
  }

  /** Wait a random time in [d/2, d), then attempt; d doubles (up to the maximum) for next time. */
  #schedule(): number {
    const d = this.#delay;
    const wait = d / 2 + Math.random() * (d / 2);
    if (this.#max > 0) this.#delay = Math.min(this.#max, Math.max(d * 2, 1), MAX_TIMER);
    this.#state = "waiting";
    this.#timer = setTimeout(() => this.redialNow(), wait);
    return wait;
  }

  /**
   * @internal The pipe this dialer made has gone: dial again after the
   * backoff (at once after restart()). A pipe the server refused right after
   * accepting it (`err` ECONNREFUSED: a ws close code 4400-4499, 1011 or 1013) counts as a
   * failed attempt: the backoff grows and `dialerror` reports it. Any other
   * end means the connection worked, so the backoff starts over.
   */
  pipeClosed(err?: SPError): void {
    this.#pipe = undefined;
    const restarting = this.#restarting;
    this.#restarting = false;
    if (this.#state !== "connected") return;
    if (restarting) {
      this.#attempt();
    } else if (err?.code === "ECONNREFUSED") {
      this.#failed(err);
    } else {
      this.#attempts = 0;
      this.#delay = this.#min;
      this.#schedule();
    }
  }

  #stop(reason: unknown): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#timer);
    this.#unwake?.();
    this.#ac?.abort(reason);
    this.#ac = undefined;
    if (!this.#settle.done) {
      this.#settle.done = true;
      this.#settle.reject(reason);
    }
  }

  /** Stop for good, and close the pipe this dialer made (as nng_dialer_close does). */
  close(): void {
    this.#stop(new SPError("ECLOSED", `dialer for ${this.url} closed`));
    const p = this.#pipe;
    this.#pipe = undefined;
    p?.close();
  }
}
