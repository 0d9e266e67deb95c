/**
 * BUS (bus0, id 0x70): every message goes to every directly connected BUS
 * (0x70) peer, and the socket receives from all of them. No header on the
 * wire in either direction (sp-wire.md 5.6).
 *
 * Each pipe has a bounded queue (`sendBuffer`, nng: 16); a message that finds
 * a pipe's queue full misses that pipe only, and is counted ("send queue
 * full"). `send()` never waits. A cooked bus does not relay what it receives
 * to its other peers: a mesh has to be wired directly, or through a device.
 *
 * Raw BUS, for devices: on receive the originating pipe id becomes a 4-byte
 * header word (local only, never on the wire); on send a message with such a
 * header skips that pipe, and the header is removed, so a raw bus reflecting
 * onto itself does not echo a message back to its sender. A raw message with
 * no header goes to every pipe.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { BUS0 } from "../protocols.js";
import { SPError } from "../errors.js";
import { Message, getU32, u32 } from "../message.js";
import type { ProtocolPipe } from "../pipe.js";
import type { OpOptions, ProtocolHooks, ProtocolImpl } from "../protocol.js";

export function bus0(h: ProtocolHooks): ProtocolImpl {
  /** Send `body` to every pipe but the one whose id is `skip` (0: none; pipe ids are never 0). */
  function fanOut(body: Uint8Array, skip: number): void {
    const parts = [body];
    for (const p of h.pipes()) {
      if (p.id === skip) continue;
      if (p.send(parts) === "full") h.drop("send queue full", p);
    }
  }

  return {
    recvFull: "pause",

    addPipe(): void {},
    removePipe(): void {},

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      h.deliver(new Message(data, h.raw ? u32(p.id) : undefined, p.id));
    },

    send(msg: Message, opts: OpOptions): Promise<void> {
      // Nothing here waits, but a caller who already gave up still gets the signal's reason.
      if (opts.signal?.aborted === true) return Promise.reject(opts.signal.reason);
      if (!h.raw) {
        fanOut(msg.body, 0);
        return Promise.resolve();
      }
      const n = msg.header.length;
      if (n !== 0 && n !== 4) {
        return Promise.reject(
          new SPError("EINVAL", `a raw bus message has no header or a 4-byte one (the pipe to skip), got ${n} bytes`),
        );
      }
      fanOut(msg.body, n === 4 ? getU32(msg.header, 0) : 0);
      return Promise.resolve();
    },

    close(): void {},
  };
}

/**
 * A BUS socket: what one sends, every directly connected bus receives.
 *
 * @example
 * const bus = new Bus();
 * await bus.listen("tcp://127.0.0.1:5570");
 * bus.dial("tcp://127.0.0.1:5571");
 * await bus.send("hello, everyone");
 */
export class Bus extends Socket {
  constructor(config?: SocketConfig) {
    super(BUS0, bus0, config);
  }
}
