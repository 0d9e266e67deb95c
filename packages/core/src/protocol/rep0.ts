/**
 * REP (rep0, id 0x31): answers requests from REQ (0x30) peers. Header on the
 * wire: the backtrace, zero or more hop words (top bit clear) pushed by
 * devices, ending with the request id (top bit set); the reply echoes it
 * unchanged in front of the answer.
 *
 * Receive: read words until one has the top bit set, at most `ttlMax` words.
 * No such word before the payload ends → the peer is broken, close the pipe
 * (nng does). More than ttlMax words → drop silently, keep the pipe.
 *
 * Cooked replies are addressed per request: `reply(request, data)` answers
 * that request on the pipe it came from, in any order; `send(data)` answers
 * the last request received (nng's one-at-a-time form). A reply whose pipe is
 * gone is dropped and counted.
 *
 * Raw REP: on receive pushes the inbound pipe id as a new first header word;
 * on send takes the first header word as the pipe to send on and strips it.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { protocols } from "../protocols.js";
import { SPError } from "../errors.js";
import { Message, getU32, toBytes, u32, concat, type Data } from "../message.js";
import type { Pipe } from "../pipe.js";
import type { ProtocolHooks, ProtocolImpl } from "../protocol.js";
import { backtraceEnd, NO_ID, TOO_MANY_HOPS } from "./backtrace.js";

export interface Rep0 extends ProtocolImpl {
  reply(request: Message, data: Data): Promise<void>;
}

export function rep0(h: ProtocolHooks): Rep0 {
  let last: Message | undefined;

  function sendOn(pipeId: number, header: Uint8Array, body: Uint8Array): void {
    const p = h.pipe(pipeId);
    if (p === undefined) {
      h.drop("reply pipe gone");
      return;
    }
    if (p.send([header, body]) === "full") h.drop("send queue full", p);
  }

  return {
    addPipe(): void {},
    removePipe(): void {},

    pipeMessage(p: Pipe, data: Uint8Array): void {
      const end = backtraceEnd(data, h.options.ttlMax);
      if (end === NO_ID) {
        h.closePipe(p, new SPError("EPROTO", "request without a request id (no word with the top bit set)"));
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
          return Promise.reject(new SPError("EINVAL", "a raw rep message needs a header starting with the pipe id"));
        }
        sendOn(getU32(msg.header, 0), msg.header.subarray(4), msg.body);
        return Promise.resolve();
      }
      const req = last;
      if (req === undefined) {
        return Promise.reject(new SPError("ESTATE", "send on a rep socket needs a request received first"));
      }
      last = undefined;
      sendOn(req.pipe, req.header, msg.body);
      return Promise.resolve();
    },

    reply(request: Message, data: Data): Promise<void> {
      if (h.closed) return Promise.reject(new SPError("ECLOSED", "socket is closed"));
      if (!(request instanceof Message) || request.header.length < 4) {
        return Promise.reject(new SPError("EINVAL", "reply() takes a request received from this rep socket"));
      }
      let body: Uint8Array;
      try {
        body = data instanceof Message ? data.body : toBytes(data);
      } catch (err) {
        return Promise.reject(err);
      }
      if (last === request) last = undefined;
      sendOn(request.pipe, request.header, body);
      return Promise.resolve();
    },

    received(m: Message): void {
      if (!h.raw) last = m;
    },

    close(): void {
      last = undefined;
    },
  };
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
  declare protected readonly proto: Rep0;

  constructor(config?: SocketConfig) {
    super(protocols.rep!, rep0, config);
  }

  /** Answer `request` (a message this socket received) on the pipe it came from. */
  reply(request: Message, data: Data): Promise<void> {
    return this.proto.reply(request, data);
  }
}
