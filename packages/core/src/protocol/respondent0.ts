/**
 * RESPONDENT (respondent0, id 0x63): answers surveys from SURVEYOR (0x62)
 * peers. Header on the wire: the backtrace, as for REP: zero or more hop
 * words (top bit clear) pushed by devices, ending with the survey id (top bit
 * set); the answer echoes it unchanged in front of the body. Answering is
 * optional: a survey nobody answers simply expires at the surveyor. The
 * behaviour is shared with REP and lives in responder.ts.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { RESPONDENT0 } from "../protocols.js";
import type { Data, Message } from "../message.js";
import type { ProtocolHooks } from "../protocol.js";
import { responder, type Responder } from "./responder.js";

export function respondent0(h: ProtocolHooks): Responder {
  return responder(h, { socket: "respondent", request: "survey", verb: "respond" });
}

/**
 * A RESPONDENT socket. Answer a survey with `respond(survey, data)`, in any
 * order, or not at all.
 *
 * @example
 * const respondent = new Respondent();
 * respondent.dial("ws://127.0.0.1:8080/census");
 * for await (const survey of respondent) await respondent.respond(survey, "here");
 */
export class Respondent extends Socket {
  declare protected readonly proto: Responder;

  constructor(config?: SocketConfig) {
    super(RESPONDENT0, respondent0, config);
  }

  /** Answer `survey` (a message this socket received) on the pipe it came from. */
  respond(survey: Message, data: Data): Promise<void> {
    return this.proto.reply(survey, data);
  }
}
