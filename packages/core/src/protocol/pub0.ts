/**
 * PUB (pub0, id 0x20): sends every message to every connected SUB. Its peer is
 * SUB (0x21). No header on the wire; the topic is just a prefix of the body
 * and filtering happens at the subscriber.
 *
 * Each pipe has a bounded queue (`sendBuffer`, nng: 16); when a slow
 * subscriber's queue is full the oldest message is dropped for that pipe
 * only, and counted. A SUB must never send: a message arriving at a PUB
 * closes that pipe, as nng does.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { PUB0 } from "../protocols.js";
import { SPError } from "../errors.js";
import { headerParts, type Message } from "../message.js";
import { resolved } from "../op.js";
import type { ProtocolPipe } from "../pipe.js";
import type { ProtocolHooks, ProtocolImpl } from "../protocol.js";

export function pub0(h: ProtocolHooks): ProtocolImpl {
  return {
    canRecv: false,

    addPipe(): void {},
    removePipe(): void {},

    pipeMessage(p: ProtocolPipe): void {
      h.closePipe(p, new SPError("EPROTO", "a SUB peer sent a message to this PUB (subscribers never send)"));
    },

    send(msg: Message): Promise<void> {
      // One parts array for every pipe: a ws pipe frames it once for all of them (see WsPipe's lastParts).
      const parts = h.raw ? headerParts(msg.header, msg.body) : [msg.body];
      for (const p of h.pipes()) {
        if (p.send(parts) === "full") {
          p.dropOldest();
          p.send(parts);
          h.drop("send queue full", p);
        }
      }
      return resolved;
    },

    close(): void {},
  };
}

/**
 * A PUB socket.
 *
 * @example
 * const pub = new Pub();           // in Node: import { Pub } from "@spwire/node"
 * await pub.listen("tcp://127.0.0.1:5555");
 * await pub.send("prices.EURUSD 1.0832");
 */
export class Pub extends Socket {
  constructor(config?: SocketConfig) {
    super(PUB0, pub0, config);
  }
}
