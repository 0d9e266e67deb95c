/**
 * REP (rep0, id 0x31): answers requests from REQ (0x30) peers. Header on the
 * wire: the backtrace, zero or more hop words (top bit clear) pushed by
 * devices, ending with the request id (top bit set); the reply echoes it
 * unchanged in front of the answer. The behaviour (backtrace parsing, ttlMax,
 * per-request replies, raw pipe-id routing) is shared with RESPONDENT and
 * lives in responder.ts.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { REP0 } from "../protocols.js";
import type { Data, Message } from "../message.js";
import type { ProtocolHooks } from "../protocol.js";
import { responder, type Responder } from "./responder.js";

export function rep0(h: ProtocolHooks): Responder {
  return responder(h, { socket: "rep", request: "request", verb: "reply" });
}

/**
 * A REP socket. Answer a request with `reply(request, data)`, in any order.
 *
 * @example
 * const rep = new Rep();
 * await rep.listen("tcp://127.0.0.1:6000");
 * for await (const req of rep) await rep.reply(req, "pong");
 */
export class Rep extends Socket {
  declare protected readonly proto: Responder;

  constructor(config?: SocketConfig) {
    super(REP0, rep0, config);
  }

  /** Answer `request` (a message this socket received) on the pipe it came from. */
  reply(request: Message, data: Data): Promise<void> {
    return this.proto.reply(request, data);
  }
}
