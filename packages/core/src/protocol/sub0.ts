/**
 * SUB (sub0, id 0x21): receives from PUB (0x20) peers and keeps the messages
 * whose body starts with one of its subscriptions (byte prefixes; the empty
 * prefix matches everything; no subscription receives nothing). No header on
 * the wire, and a SUB never sends: an nng PUB closes the pipe if it does.
 *
 * The receive queue (`recvBuffer`, nng: 128) drops the oldest message when
 * full, like nng's default `sub:prefnew`. A raw SUB filters nothing.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { protocols } from "../protocols.js";
import { SPError } from "../errors.js";
import { Message, toBytes } from "../message.js";
import type { Pipe } from "../pipe.js";
import type { ProtocolHooks, ProtocolImpl } from "../protocol.js";

export interface Sub0 extends ProtocolImpl {
  subscribe(prefix: string | Uint8Array): void;
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

    pipeMessage(p: Pipe, data: Uint8Array): void {
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

    subscribe(prefix): void {
      const b = prefixBytes(prefix);
      if (!subs.some((s) => same(s, b))) subs.push(b);
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

/**
 * A SUB socket. Subscribe to byte prefixes; the empty prefix matches everything.
 *
 * @example
 * const sub = new Sub();
 * sub.subscribe("prices.");
 * sub.dial("ws://127.0.0.1:8080/feed");
 * for await (const msg of sub) console.log(msg.text());
 */
export class Sub extends Socket {
  declare protected readonly proto: Sub0;

  constructor(config?: SocketConfig) {
    super(protocols.sub!, sub0, config, { recvBuffer: 128 });
  }

  /** Receive messages whose body starts with `prefix` (a string is matched as UTF-8). */
  subscribe(prefix: string | Uint8Array): void {
    this.proto.subscribe(prefix);
  }

  /** Stop receiving `prefix`; throws EINVAL when not subscribed to it. */
  unsubscribe(prefix: string | Uint8Array): void {
    this.proto.unsubscribe(prefix);
  }

  /** The current subscriptions (copies of the prefixes). */
  get subscriptions(): Uint8Array[] {
    return this.proto.subscriptions.map((s) => s.slice());
  }
}
