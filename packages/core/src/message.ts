/**
 * Message: the SP header (a run of 32-bit big-endian words the protocol owns)
 * and the body (the application's bytes). Cooked sockets hide the header;
 * raw sockets expose it.
 */
import { SPError } from "./errors.js";

const encoder = /* @__PURE__ */ new TextEncoder();
const decoder = /* @__PURE__ */ new TextDecoder();
const EMPTY = /* @__PURE__ */ new Uint8Array(0);

/** What `send()` accepts: a string is sent as UTF-8. */
export type Data = string | Uint8Array | ArrayBuffer | ArrayBufferView | Message;

export class Message {
  // `declare`: assigned in the constructor only. A class field would make every
  // construction (one per message received) run a field initialiser as well.
  /** Protocol header bytes (cooked sockets: read-only context such as a REQ id or backtrace). */
  declare header: Uint8Array;
  /** Application payload. */
  declare body: Uint8Array;
  /** Id of the pipe the message arrived on (0 when it was made locally). */
  declare pipe: number;

  constructor(body: Uint8Array = EMPTY, header: Uint8Array = EMPTY, pipe = 0) {
    this.body = body;
    this.header = header;
    this.pipe = pipe;
  }

  /** Make a message from anything `send()` accepts. A Message is returned as is. */
  static from(data: Data): Message {
    if (data instanceof Message) return data;
    return new Message(toBytes(data));
  }

  /** The body decoded as UTF-8. */
  text(): string {
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON (UTF-8). Throws SyntaxError on bad JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  /** Header and body as one array (what goes on the wire). */
  bytes(): Uint8Array {
    return concat(this.header, this.body);
  }

  /** Total size on the wire (header + body). */
  get length(): number {
    return this.header.length + this.body.length;
  }
}

/** Bytes for a string (UTF-8), buffer or view; throws EINVAL for anything else. */
export function toBytes(data: Exclude<Data, Message>): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new SPError("EINVAL", `cannot send ${data === null ? "null" : typeof data}: pass a string, Uint8Array, ArrayBuffer or Message`);
}

/** `a` then `b` as one array (either one itself when the other is empty). */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.length === 0 ? b : b.length === 0 ? a : joinParts([a, b]);
}

/** The parts of a message as one array (the one part itself when there is one). */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}

/** Read a big-endian 32-bit word at `off`. */
export function getU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** Four bytes holding `v` big-endian. */
export function u32(v: number): Uint8Array {
  const out = new Uint8Array(4);
  putU32(out, 0, v);
  return out;
}

/** Write `v` big-endian at `off`. */
export function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/**
 * Below this many bytes a message is sent as one part: a second stream write
 * (tcp) or a join at write time (ws) costs more than copying it once here.
 */
const ONE_PART_BELOW = 4096;

/** The parts for a message of one header word `word` and `body` (a copy when small: see ONE_PART_BELOW). */
export function wordParts(word: number, body: Uint8Array): readonly Uint8Array[] {
  if (body.length >= ONE_PART_BELOW) return [u32(word), body];
  const out = new Uint8Array(4 + body.length);
  putU32(out, 0, word);
  out.set(body, 4);
  return [out];
}

/** The parts for a message of `header` then `body` (joined when small: see ONE_PART_BELOW). */
export function headerParts(header: Uint8Array, body: Uint8Array): readonly Uint8Array[] {
  if (header.length === 0) return [body];
  return header.length + body.length < ONE_PART_BELOW ? [joinParts([header, body])] : [header, body];
}

export { EMPTY as emptyBytes };
