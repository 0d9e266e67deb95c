/**
 * PAIR v0 (pair0, id 0x10, nng name "pair"): one peer, another pair0, at a
 * time; messages go both ways. No header on the wire.
 *
 * While it has a peer the socket refuses any other pipe (ESTATE); the socket
 * then closes it, so the refused side sees its pipe end, as with nng, which
 * upgrades a second ws connection and closes it at once (sp-wire.md 5.5).
 * `send()` waits, in order, while there is no peer or the peer's pipe is
 * full, honouring its signal and `sendTimeout`. Receiving pauses the pipe
 * when the receive queue is full. Raw pair0 is the same.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { PAIR0 } from "../protocols.js";
import { SPError, closedError } from "../errors.js";
import { Message } from "../message.js";
import type { ProtocolPipe } from "../pipe.js";
import type { OpOptions, ProtocolHooks, ProtocolImpl } from "../protocol.js";
import { onePeer, waitingSends } from "./sendwait.js";

export function pair0(h: ProtocolHooks): ProtocolImpl {
  const one = onePeer("pair");
  const sends = waitingSends(one.ready);

  return {
    recvFull: "pause",

    ...one.hooks(sends),

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      h.deliver(new Message(data, undefined, p.id));
    },

    send(msg: Message, opts: OpOptions): Promise<void> {
      return sends.send(h.raw ? [msg.header, msg.body] : [msg.body], opts);
    },

    close(): void {
      sends.close(closedError());
    },
  };
}

/**
 * A PAIR (v0) socket: one peer at a time, messages both ways.
 *
 * @example
 * const pair = new Pair0();
 * pair.dial("ws://127.0.0.1:8080/pair");
 * await pair.send("hello");
 * console.log((await pair.recv()).text());
 */
export class Pair0 extends Socket {
  constructor(config?: SocketConfig) {
    super(PAIR0, pair0, config);
  }
}
