/**
 * PULL (pull0, id 0x51): receives from PUSH (0x50) peers and never sends. No
 * header on the wire.
 *
 * Fair queueing: messages from all pipes go into the socket's receive queue
 * in the order they arrive. When that queue is full (`recvBuffer`) every pipe
 * is paused until the application catches up, so a fast pusher is held back
 * by its transport instead of crowding out the others or being dropped; its
 * own PUSH then waits or picks another pull. Raw PULL is the same.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { PULL0 } from "../protocols.js";
import { SPError } from "../errors.js";
import { Message } from "../message.js";
import type { ProtocolPipe } from "../pipe.js";
import type { ProtocolHooks, ProtocolImpl } from "../protocol.js";

export function pull0(h: ProtocolHooks): ProtocolImpl {
  return {
    recvFull: "pause",

    addPipe(): void {},
    removePipe(): void {},

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      h.deliver(new Message(data, undefined, p.id));
    },

    send(): Promise<void> {
      return Promise.reject(new SPError("ENOTSUP", "a pull socket cannot send (it only receives from push peers)"));
    },

    close(): void {},
  };
}

/**
 * A PULL socket: receives what its push peers send, in arrival order.
 *
 * @example
 * const pull = new Pull();
 * await pull.listen("tcp://127.0.0.1:5557");
 * for await (const job of pull) handle(job.json());
 */
export class Pull extends Socket {
  constructor(config?: SocketConfig) {
    super(PULL0, pull0, config);
  }
}
