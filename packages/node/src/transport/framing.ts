/**
 * SP stream framing, shared by tcp:// and ipc:// (sp-wire.md 3 and 4): the
 * 8-byte SP handshake both sides send on connect, and the length-prefixed
 * messages that follow it.
 *
 *   handshake:  00 53 50 00 | protocol id (u16 BE) | 00 00
 *   tcp frame:              length (u64 BE) | payload
 *   ipc frame:  01        | length (u64 BE) | payload
 *
 * The payload is the whole SP message (header words and body); the framing
 * does not know where the header ends.
 *
 * The decoder trusts nothing the peer declares: the length is checked against
 * the limit before a single payload byte is kept, and a frame that is still
 * arriving is held as the chunks the network delivered (small ones copied
 * together), so a peer that claims 4 GiB and sends 10 bytes costs us a few
 * KiB, not 4 GiB (nng 1.5.2 allocates the declared length up front;
 * sp-wire.md 3.2), and one that trickles a frame a byte per read costs a
 * small multiple of what it sent.
 */
import { constants as bufferConstants } from "node:buffer";
import { SPError, protocols, type ProtocolInfo } from "@spwire/core";

/** Bytes in the SP handshake header. */
export const HANDSHAKE_SIZE = 8;

/** The only IPC message type nng and nanomsg define ("in-band message"). */
export const IPC_MSG_TYPE = 0x01;

/** The largest payload we could ever hold in one array: beyond this, no limit setting helps. */
const HARD_MAX = Math.min(Number.MAX_SAFE_INTEGER, bufferConstants.MAX_LENGTH);

const TWO_32 = 2 ** 32;

/**
 * Pieces of a pending frame shorter than this are copied together instead of
 * being held as views: a view costs about a hundred bytes of bookkeeping, so a
 * peer trickling a frame one byte per read would otherwise make us hold some
 * hundred times what it sent.
 */
const COPY_BELOW = 4096;

/** `0x31 (rep)`: an id as people read it, with nng's name when it is one. */
export function describeProtocolId(id: number): string {
  const hex = `0x${id.toString(16).padStart(2, "0")}`;
  const known = Object.values(protocols).find((p) => p.id === id);
  return known === undefined ? hex : `${hex} (${known.name})`;
}

/**
 * The 8 bytes this side sends first on a tcp:// or ipc:// pipe.
 *
 * @example
 * encodeHandshake(protocols.rep.id); // 00 53 50 00 00 31 00 00
 */
export function encodeHandshake(protocolId: number): Uint8Array {
  if (!Number.isInteger(protocolId) || protocolId < 0 || protocolId > 0xffff) {
    throw new SPError("EINVAL", `an SP protocol id is a 16-bit unsigned integer, got ${String(protocolId)}`);
  }
  return Uint8Array.of(0x00, 0x53, 0x50, 0x00, protocolId >> 8, protocolId & 0xff, 0x00, 0x00);
}

/**
 * Check the peer's 8 handshake bytes against what `self` accepts.
 * Returns undefined when the peer may stay, else the reason to drop it:
 * EPROTO for bad magic, a version other than 0 or reserved bytes other than
 * `00 00` (strict like nng 1.5.2; nanomsg ignores the reserved bytes), EPEER
 * for a protocol id `self` cannot talk to (nng drops that pipe a moment
 * later in its SP layer; we refuse it here, before anyone sees it).
 *
 * `remote` only names the peer in the error message.
 */
export function checkHandshake(bytes: Uint8Array, self: ProtocolInfo, remote: string): SPError | undefined {
  if (bytes.length < HANDSHAKE_SIZE) {
    return new SPError("EPROTO", `${remote}: SP handshake is ${HANDSHAKE_SIZE} bytes, got ${bytes.length}`);
  }
  const b = bytes;
  if (b[0] !== 0x00 || b[1] !== 0x53 || b[2] !== 0x50) {
    return new SPError("EPROTO", `${remote}: not an SP peer: handshake starts ${hex(b.subarray(0, 4))}, expected 00 53 50 00`);
  }
  if (b[3] !== 0x00) {
    return new SPError("EPROTO", `${remote}: SP handshake version ${b[3]!}, only version 0 exists`);
  }
  if (b[6] !== 0x00 || b[7] !== 0x00) {
    return new SPError("EPROTO", `${remote}: SP handshake reserved bytes are ${hex(b.subarray(6, 8))}, must be 00 00`);
  }
  const id = (b[4]! << 8) | b[5]!;
  if (id !== self.peerId) {
    return new SPError(
      "EPEER",
      `${remote}: peer speaks protocol ${describeProtocolId(id)}; this ${self.name} socket (${describeProtocolId(self.id)}) needs ${describeProtocolId(self.peerId)}`,
    );
  }
  return undefined;
}

/** The bytes that go in front of a payload of `length` bytes: 8 (tcp) or 9 (ipc, with the type byte). */
export function encodeFramePrefix(length: number, ipc = false): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new SPError("EINVAL", `a frame length is a non-negative safe integer, got ${String(length)}`);
  }
  const out = new Uint8Array(ipc ? 9 : 8);
  const at = ipc ? 1 : 0;
  if (ipc) out[0] = IPC_MSG_TYPE;
  const v = new DataView(out.buffer);
  // Two 32-bit halves: a double holds any safe integer exactly, and no BigInt is needed.
  v.setUint32(at, Math.floor(length / TWO_32));
  v.setUint32(at + 4, length >>> 0);
  return out;
}

/** Options for {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest payload accepted, bytes, checked on the declared length; 0 (or Infinity) = only what can be allocated. */
  maxSize: number;
  /** ipc:// framing: each frame starts with the type byte 0x01. */
  ipc?: boolean;
  /** Names the peer in error messages. */
  remote?: string;
}

/**
 * Turns a byte stream, chunked any way, into whole messages.
 *
 * A message that lies inside one chunk is handed out as a view of that chunk
 * (no copy); one that spans chunks is copied once, when its last byte
 * arrives (pieces under COPY_BELOW bytes are gathered into one buffer as
 * they come). Views keep their chunk alive, so a chunk must not be reused
 * after it was pushed (Node's sockets hand out a fresh Buffer per read).
 *
 * @example
 * const d = new FrameDecoder({ maxSize: 1 << 20 });
 * const err = d.push(chunk, (m) => handle(m));
 * if (err) dropThePipe(err); // EMSGSIZE or EPROTO; every later push returns it again
 */
export class FrameDecoder {
  readonly #limit: number;
  readonly #ipc: boolean;
  readonly #remote: string;
  /** Prefix bytes: type byte (ipc) + length. */
  readonly #prefixSize: number;
  readonly #prefix: Uint8Array;
  #prefixHave = 0;
  /** Declared length of the frame whose payload is arriving; -1 while reading a prefix. */
  #len = -1;
  /** Payload pieces of that frame received so far, and their total. */
  #pieces: Uint8Array[] = [];
  #have = 0;
  /** Small pieces received since the last large one, copied together (see COPY_BELOW); `#tailLen` bytes of it are used. */
  #tail: Uint8Array | undefined;
  #tailLen = 0;
  #error: SPError | undefined;

  constructor(opts: FrameDecoderOptions) {
    const m = opts.maxSize;
    if (typeof m !== "number" || Number.isNaN(m) || m < 0) {
      throw new SPError("EINVAL", `maxSize must be a number of bytes >= 0 (0 = no limit), got ${String(m)}`);
    }
    this.#limit = m === 0 || m > HARD_MAX ? HARD_MAX : Math.floor(m);
    this.#ipc = opts.ipc === true;
    this.#remote = opts.remote ?? "peer";
    this.#prefixSize = this.#ipc ? 9 : 8;
    this.#prefix = new Uint8Array(this.#prefixSize);
  }

  /** The error that stopped this decoder, if bad bytes came. */
  get error(): SPError | undefined {
    return this.#error;
  }

  /** Bytes of an unfinished frame (prefix and payload) held right now. */
  get pending(): number {
    return this.#len < 0 ? this.#prefixHave : this.#prefixSize + this.#have;
  }

  /**
   * Feed one chunk; `deliver` is called for each message it completes, in
   * order. Returns the error (EMSGSIZE, EPROTO) when the stream turned bad:
   * messages before the bad frame are delivered, nothing after it is.
   * The whole chunk is parsed before the first `deliver`, so an exception
   * thrown by `deliver` (it propagates) costs the rest of this chunk's
   * messages but never leaves the decoder out of step with the stream.
   */
  push(chunk: Uint8Array, deliver: (message: Uint8Array) => void): SPError | undefined {
    if (this.#error !== undefined) return this.#error;
    const out: Uint8Array[] = [];
    this.#error = this.#parse(chunk, out);
    for (const m of out) deliver(m);
    return this.#error;
  }

  /** Advance over `chunk`, appending finished messages to `out`; the error that stops the stream, if any. */
  #parse(chunk: Uint8Array, out: Uint8Array[]): SPError | undefined {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (this.#len < 0) {
        let len: number | SPError;
        if (this.#prefixHave === 0 && n - off >= this.#prefixSize) {
          // The usual case: the whole prefix is in this chunk.
          len = this.#parsePrefix(chunk, off);
          off += this.#prefixSize;
        } else {
          const take = Math.min(this.#prefixSize - this.#prefixHave, n - off);
          this.#prefix.set(chunk.subarray(off, off + take), this.#prefixHave);
          this.#prefixHave += take;
          off += take;
          if (this.#prefixHave < this.#prefixSize) break;
          this.#prefixHave = 0;
          len = this.#parsePrefix(this.#prefix, 0);
        }
        if (typeof len !== "number") return len;
        if (n - off >= len) {
          // Whole payload in this chunk: a view, no copy.
          out.push(view(chunk, off, len));
          off += len;
          continue;
        }
        this.#len = len;
        this.#pieces = [];
        this.#have = 0;
      }
      const take = Math.min(this.#len - this.#have, n - off);
      this.#hold(chunk, off, take);
      this.#have += take;
      off += take;
      if (this.#have < this.#len) break;
      const m = this.#assemble();
      if (m instanceof SPError) return m;
      out.push(m);
    }
    return undefined;
  }

  /** The declared payload length at `b[at]`, or why it is refused. Nothing is allocated here. */
  #parsePrefix(b: Uint8Array, at: number): number | SPError {
    if (this.#ipc) {
      if (b[at] !== IPC_MSG_TYPE) {
        return new SPError(
          "EPROTO",
          `${this.#remote}: ipc message type 0x${b[at]!.toString(16).padStart(2, "0")}, only 0x01 exists`,
        );
      }
      at++;
    }
    const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
    const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
    // hi * 2^32 + lo is exact up to 2^53; above that it only needs to compare as "too big", which it does.
    const len = hi * TWO_32 + lo;
    if (len > this.#limit) {
      const declared = hi >= 0x200000 ? `0x${hi.toString(16).padStart(8, "0")}${lo.toString(16).padStart(8, "0")}` : String(len);
      const why = this.#limit === HARD_MAX ? `more than this process can hold (${HARD_MAX})` : `over the limit of ${this.#limit}`;
      return new SPError("EMSGSIZE", `${this.#remote}: peer declared a message of ${declared} bytes, ${why}`);
    }
    return len;
  }

  /**
   * Keep `n` bytes of `chunk` at `off` for the pending frame: a large piece as
   * a view, a small one copied onto the tail, which grows by doubling and never
   * past what the frame still needs, so what is held stays within a small
   * multiple of the bytes that came.
   */
  #hold(chunk: Uint8Array, off: number, n: number): void {
    if (n >= COPY_BELOW) {
      this.#flushTail();
      this.#pieces.push(view(chunk, off, n));
      return;
    }
    let t = this.#tail;
    if (t === undefined || this.#tailLen + n > t.length) {
      // Bytes of the frame not yet in #pieces (the tail's included); this piece fits, as have + n <= len.
      const room = this.#len - this.#have + this.#tailLen;
      const grown = new Uint8Array(Math.min(room, Math.max(COPY_BELOW, 2 * (this.#tailLen + n))));
      if (t !== undefined) grown.set(t.subarray(0, this.#tailLen));
      this.#tail = t = grown;
    }
    t.set(chunk.subarray(off, off + n), this.#tailLen);
    this.#tailLen += n;
  }

  #flushTail(): void {
    if (this.#tail !== undefined && this.#tailLen > 0) this.#pieces.push(this.#tail.subarray(0, this.#tailLen));
    this.#tail = undefined;
    this.#tailLen = 0;
  }

  /** Join the held pieces of a finished frame: the one copy a split message costs. */
  #assemble(): Uint8Array | SPError {
    this.#flushTail();
    const pieces = this.#pieces;
    const len = this.#len;
    this.#pieces = [];
    this.#have = 0;
    this.#len = -1;
    let out: Uint8Array;
    try {
      out = new Uint8Array(len);
    } catch (err) {
      // Under the limit but more than the heap can give right now (only with a huge or no limit).
      return new SPError("EMSGSIZE", `${this.#remote}: cannot allocate a message of ${len} bytes`, { cause: err });
    }
    let o = 0;
    for (const p of pieces) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** A plain Uint8Array view (not a Buffer: Buffer#slice shares memory where Uint8Array#slice copies, and protocols rely on the latter). */
function view(b: Uint8Array, off: number, len: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + off, len);
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}
