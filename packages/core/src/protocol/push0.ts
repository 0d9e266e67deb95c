/**
 * PUSH (push0, id 0x50): sends each message to one PULL (0x51) peer, round
 * robin among the pipes that can take it now. No header on the wire.
 *
 * Back-pressure: a pipe takes messages while its transport has room and then
 * up to `sendBuffer` more in its queue; when no pipe can, `send()` waits
 * (in order, honouring its signal and `sendTimeout`) until one drains or a new
 * pull connects. A PUSH never receives: whatever a PULL sends is discarded
 * and counted, and the pipe is kept, as nng does (sp-wire.md 5.4).
 *
 * Raw PUSH sends header + body as given (a device forwarding from raw PULL
 * hands it an empty header).
 */
import { Socket, type SocketConfig } from "../socket.js";
import { PUSH0 } from "../protocols.js";
import { SPError, closedError } from "../errors.js";
import type { Message } from "../message.js";
import type { OpOptions, ProtocolHooks, ProtocolImpl } from "../protocol.js";
import { roundRobin, waitingSends } from "./sendwait.js";

export function push0(h: ProtocolHooks): ProtocolImpl {
  const sends = waitingSends(roundRobin(h.pipes));

  return {
    canRecv: false,

    addPipe(): void {},
    removePipe(): void {},

    // The socket calls this for a new pipe and for one that drained.
    pipeReady(): void {
      sends.flush();
    },

    pipeMessage(): void {
      // nng 1.5.2 push discards it and keeps the pipe (verified); count it so it is visible.
      h.drop("unexpected message");
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
 * A PUSH socket: each message goes to one pull, round robin; `send()` waits
 * while no pull can take it.
 *
 * @example
 * const push = new Push();          // in Node: import { Push } from "@spwire/node"
 * push.dial("ws://127.0.0.1:8080/jobs");
 * await push.send(JSON.stringify(job), { timeout: 5000 });
 */
export class Push extends Socket {
  constructor(config?: SocketConfig) {
    super(PUSH0, push0, config);
  }
}
