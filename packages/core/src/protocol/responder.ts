/**
 * What REP and RESPONDENT share: both answer messages that arrive with a
 * backtrace (hop words pushed by devices, then an id with the top bit set)
 * and echo that backtrace unchanged in front of the answer (sp-wire.md 5.1,
 * 5.2, 5.7). They differ only in names, so one implementation serves both.
 *
 * Receive: read words until one has the top bit set, at most `ttlMax` words.
 * No such word before the payload ends → the peer is broken, close the pipe
 * (nng does). More than ttlMax words → drop silently (counted), keep the pipe.
 *
 * Cooked answers are addressed per message: `reply(msg, data)` answers that
 * message on the pipe it came from, in any order; `send(data)` answers the
 * last message the application took (nng's one-at-a-time form). An answer
 * whose pipe is gone is dropped and counted.
 *
 * Raw: on receive pushes the inbound pipe id as a new first header word; on
 * send takes the first header word as the pipe to send on and strips it.
 */
import { SPError, closedError } from "../errors.js";
import { Message, getU32, toBytes, u32, concat, headerParts, type Data } from "../message.js";
import { resolved } from "../op.js";
import type { ProtocolPipe } from "../pipe.js";
import type { ProtocolHooks, ProtocolImpl } from "../protocol.js";
import { backtraceEnd, NO_ID, TOO_MANY_HOPS } from "./backtrace.js";

export interface Responder extends ProtocolImpl {
  /** Answer `msg` (a message this socket received) on the pipe it came from. */
  reply(msg: Message, data: Data): Promise<void>;
}

/** Words for messages: `{ socket: "rep", request: "request", verb: "reply" }`. */
export interface ResponderNames {
  socket: string;
  request: string;
  verb: string;
}

export function responder(h: ProtocolHooks, n: ResponderNames): Responder {
  /** The message the application took last: what a cooked `send()` answers. */
  let last: Message | undefined;

  function sendOn(pipeId: number, header: Uint8Array, body: Uint8Array): void {
    const p = h.pipe(pipeId);
    if (p === undefined) {
      h.drop("reply pipe gone");
      return;
    }
    if (p.send(headerParts(header, body)) === "full") h.drop("send queue full", p);
  }

  return {
    addPipe(): void {},
    removePipe(): void {},

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      const end = backtraceEnd(data, h.options.ttlMax);
      if (end === NO_ID) {
        h.closePipe(p, new SPError("EPROTO", `${n.request} without a ${n.request} id (no word with the top bit set)`));
        return;
      }
      if (end === TOO_MANY_HOPS) {
        h.drop("ttl exceeded");
        return;
      }
      const header = h.raw ? concat(u32(p.id), data.subarray(0, end)) : data.subarray(0, end);
      h.deliver(new Message(data.subarray(end), header, p.id));
    },

    send(msg: Message): Promise<void> {
      if (h.raw) {
        if (msg.header.length < 4) {
          return Promise.reject(
            new SPError("EINVAL", `a raw ${n.socket} message needs a header starting with the pipe id`),
          );
        }
        sendOn(getU32(msg.header, 0), msg.header.subarray(4), msg.body);
        return resolved;
      }
      const m = last;
      if (m === undefined) {
        return Promise.reject(new SPError("ESTATE", `send on a ${n.socket} socket needs a ${n.request} received first`));
      }
      last = undefined;
      sendOn(m.pipe, m.header, msg.body);
      return resolved;
    },

    reply(m: Message, data: Data): Promise<void> {
      if (h.closed) return Promise.reject(closedError());
      if (h.raw) {
        // A raw header starts with our local pipe-id word; it must never reach the wire.
        return Promise.reject(new SPError("ENOTSUP", `${n.verb}() is for cooked sockets; a raw ${n.socket} uses send`));
      }
      if (!(m instanceof Message) || m.header.length < 4) {
        return Promise.reject(new SPError("EINVAL", `${n.verb}() takes a ${n.request} received from this ${n.socket} socket`));
      }
      let body: Uint8Array;
      try {
        body = data instanceof Message ? data.body : toBytes(data);
      } catch (err) {
        return Promise.reject(err);
      }
      if (last === m) last = undefined;
      sendOn(m.pipe, m.header, body);
      return resolved;
    },

    received(m: Message): void {
      if (!h.raw) last = m;
    },

    close(): void {
      last = undefined;
    },
  };
}
