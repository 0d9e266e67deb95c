/**
 * SUB (sub0, id 0x21): receives from PUB (0x20) peers and keeps the messages
 * whose body starts with one of its subscriptions (byte prefixes; the empty
 * prefix matches everything; no subscription receives nothing). No header on
 * the wire, and a SUB never sends: an nng PUB closes the pipe if it does.
 *
 * The receive queue (`recvBuffer`, nng: 128) drops the oldest message when
 * full, like nng's default `sub:prefnew`. A raw SUB filters nothing.
 *
 * Dialed with `{ gateway: true }`, the Sub also tells the peer (an spwire
 * gateway) what it wants, in the query of the URL (gateway-query.ts), so the
 * gateway filters before the bytes cross the network; the local filter stays.
 */
import { Socket, type SocketConfig } from "../socket.js";
import type { Dialer, DialOptions } from "../dialer.js";
import { gatewaySubUrl } from "../gateway-query.js";
import { SUB0 } from "../protocols.js";
import { SPError } from "../errors.js";
import { Message, toBytes } from "../message.js";
import type { ProtocolPipe } from "../pipe.js";
import type { ProtocolHooks, ProtocolImpl } from "../protocol.js";

export interface Sub0 extends ProtocolImpl {
  /** True when the prefix was new (the set changed). */
  subscribe(prefix: string | Uint8Array): boolean;
  unsubscribe(prefix: string | Uint8Array): void;
  readonly subscriptions: readonly Uint8Array[];
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}

function prefixBytes(prefix: string | Uint8Array): Uint8Array {
  if (typeof prefix !== "string" && !(prefix instanceof Uint8Array)) {
    throw new SPError("EINVAL", "a subscription is a string or a Uint8Array prefix");
  }
  return toBytes(prefix).slice();
}

export function sub0(h: ProtocolHooks): Sub0 {
  const subs: Uint8Array[] = [];

  return {
    recvFull: "drop-oldest",

    get subscriptions(): readonly Uint8Array[] {
      return subs;
    },

    addPipe(): void {},
    removePipe(): void {},

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      if (!h.raw) {
        let ok = false;
        for (const s of subs) {
          if (startsWith(data, s)) {
            ok = true;
            break;
          }
        }
        if (!ok) {
          h.filtered();
          return;
        }
      }
      h.deliver(new Message(data, undefined, p.id));
    },

    send(): Promise<void> {
      return Promise.reject(new SPError("ENOTSUP", "a sub socket cannot send (a PUB peer would close the pipe)"));
    },

    subscribe(prefix): boolean {
      const b = prefixBytes(prefix);
      if (subs.some((s) => same(s, b))) return false;
      subs.push(b);
      return true;
    },

    unsubscribe(prefix): void {
      const b = prefixBytes(prefix);
      const i = subs.findIndex((s) => same(s, b));
      if (i < 0) throw new SPError("EINVAL", "not subscribed to that prefix");
      subs.splice(i, 1);
    },

    close(): void {},
  };
}

const EVERYTHING: readonly Uint8Array[] = [/* @__PURE__ */ new Uint8Array(0)];

/**
 * A SUB socket. Subscribe to byte prefixes; the empty prefix matches everything.
 *
 * Against an spwire gateway, dial with `{ gateway: true }`: the subscriptions
 * then travel in the URL (`?sub=prices.`, `?nosub` for none) and the gateway
 * sends this socket only matching messages instead of the whole feed. A change
 * of subscriptions redials that dialer at once with the new URL, so a few
 * messages in flight at that moment may be missed; this socket's own filter
 * still applies, so nothing unsubscribed is ever delivered. A plain nng
 * listener ignores the query (nng accepts `?query` on its ws path), so the
 * option is safe against one too. A raw Sub, which filters nothing, asks for
 * everything (`?sub=`).
 *
 * @example
 * const sub = new Sub();
 * sub.subscribe("prices.");
 * sub.dial("ws://127.0.0.1:8080/feed");
 * for await (const msg of sub) console.log(msg.text());
 */
export class Sub extends Socket {
  declare protected readonly proto: Sub0;
  /** Dialers made with `{ gateway: true }`: the ones a subscription change redials. */
  #gatewayDialers = new Set<Dialer>();
  #redialQueued = false;

  constructor(config?: SocketConfig) {
    super(SUB0, sub0, config, { recvBuffer: 128 });
  }

  override dial(url: string, opts: DialOptions = {}): Dialer {
    const d = super.dial(url, opts);
    if (opts.gateway === true) {
      for (const x of this.#gatewayDialers) if (x.state === "closed") this.#gatewayDialers.delete(x);
      this.#gatewayDialers.add(d);
    }
    return d;
  }

  /** @internal A gateway dialer's URL carries the subscriptions as they are at this attempt. */
  protected override dialTarget(url: URL, opts: DialOptions): URL {
    if (opts.gateway !== true) return url;
    return new URL(gatewaySubUrl(url.href, this.raw ? EVERYTHING : this.proto.subscriptions));
  }

  /**
   * Receive messages whose body starts with `prefix` (a string is matched as
   * UTF-8). Subscribing again to a prefix changes nothing. On a dialer made
   * with `{ gateway: true }` a change redials at once (once for all the calls
   * made in one synchronous run), so messages in flight then may be missed.
   *
   * @example
   * const sub = new Sub();
   * sub.dial("wss://example.com/feed", { gateway: true }); // ?nosub: nothing yet
   * sub.subscribe("cpu.");
   * sub.subscribe("mem."); // one redial, to ?sub=cpu.&sub=mem.
   */
  subscribe(prefix: string | Uint8Array): void {
    if (this.proto.subscribe(prefix)) this.#changed();
  }

  /** Stop receiving `prefix`; throws EINVAL when not subscribed to it. Redials gateway dialers like `subscribe`. */
  unsubscribe(prefix: string | Uint8Array): void {
    this.proto.unsubscribe(prefix);
    this.#changed();
  }

  /**
   * Redial the gateway dialers after the current synchronous run, so a burst
   * of subscribe() calls costs one reconnection, not one each.
   */
  #changed(): void {
    if (this.#redialQueued || this.#gatewayDialers.size === 0) return;
    this.#redialQueued = true;
    queueMicrotask(() => {
      this.#redialQueued = false;
      if (this.closed) return;
      for (const d of this.#gatewayDialers) {
        if (d.state === "closed") {
          this.#gatewayDialers.delete(d);
          continue;
        }
        // A dialer whose last attempt already carried this set (dialed after the
        // change, or a change undone in the same run) has nothing new to say.
        const next = this.dialTarget(new URL(d.url), { gateway: true }).href;
        if (next !== d.currentUrl) d.restart();
      }
    });
  }

  /** The current subscriptions (copies of the prefixes). */
  get subscriptions(): Uint8Array[] {
    return this.proto.subscriptions.map((s) => s.slice());
  }
}
