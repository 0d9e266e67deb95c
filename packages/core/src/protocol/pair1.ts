/**
 * PAIR v1 (pair1, id 0x11): one peer, another pair1, at a time; messages go
 * both ways. Header on the wire: one word, the hop count (at most 255). Every
 * sender adds one as the message leaves, so a cooked send goes out as
 * `00 00 00 01` (nng writes 0 and its pipe increments it; sp-wire.md 5.5).
 *
 * Receive: fewer than 4 bytes, or a hop count over 255, means a broken peer
 * and closes the pipe (EPROTO); a hop count over `ttlMax` (8) is dropped
 * silently and counted ("ttl exceeded"). Cooked delivers the body alone; raw
 * delivers the hop word as the header, as received.
 *
 * Raw send takes the header (exactly one word, the hop count as received) and
 * sends it plus one, the forwarding hop; past `ttlMax` the message is dropped
 * and counted. Like pair0: one peer at a time (others refused with ESTATE),
 * and `send()` waits while there is no peer or its pipe is full.
 * Polyamorous mode (deprecated in nng) is not offered.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { PAIR1 } from "../protocols.js";
import { SPError, closedError } from "../errors.js";
import { Message, getU32, u32 } from "../message.js";
import type { ProtocolPipe } from "../pipe.js";
import type { OpOptions, ProtocolHooks, ProtocolImpl } from "../protocol.js";
import { onePeer, waitingSends } from "./sendwait.js";

/** The largest hop count on the wire; beyond it the peer is broken, not just far away. */
const MAX_HOPS = 255;

export function pair1(h: ProtocolHooks): ProtocolImpl {
  const one = onePeer("pair1");
  const sends = waitingSends(one.ready);

  /** Send `body` as having come `hops` hops so far: it leaves with one more. */
  function sendHop(hops: number, body: Uint8Array, opts: OpOptions): Promise<void> {
    const out = hops + 1;
    if (out > h.options.ttlMax) {
      h.drop("ttl exceeded");
      return Promise.resolve();
    }
    return sends.send([u32(out), body], opts);
  }

  return {
    recvFull: "pause",

    ...one.hooks(sends),

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      if (data.length < 4) {
        h.closePipe(p, new SPError("EPROTO", `pair1 message of ${data.length} bytes has no hop count`));
        return;
      }
      const hops = getU32(data, 0);
      if (hops > MAX_HOPS) {
        h.closePipe(p, new SPError("EPROTO", `pair1 hop count ${hops} is over ${MAX_HOPS}`));
        return;
      }
      if (hops > h.options.ttlMax) {
        h.drop("ttl exceeded");
        return;
      }
      h.deliver(new Message(data.subarray(4), h.raw ? data.subarray(0, 4) : undefined, p.id));
    },

    send(msg: Message, opts: OpOptions): Promise<void> {
      if (!h.raw) return sendHop(0, msg.body, opts);
      if (msg.header.length !== 4) {
        return Promise.reject(
          new SPError("EINVAL", `a raw pair1 message needs a 4-byte header (the hop count), got ${msg.header.length} bytes`),
        );
      }
      return sendHop(getU32(msg.header, 0), msg.body, opts);
    },

    close(): void {
      sends.close(closedError());
    },
  };
}

/**
 * A PAIR v1 socket: one peer at a time, messages both ways, with a hop count
 * that devices forwarding between pair1 sockets keep.
 *
 * @example
 * const pair = new Pair1();
 * await pair.listen("tcp://127.0.0.1:5560");
 * for await (const msg of pair) await pair.send(msg.body); // echo
 */
export class Pair1 extends Socket {
  constructor(config?: SocketConfig) {
    super(PAIR1, pair1, config);
  }
}
