/**
 * spcat's output formats: how one received message body becomes bytes on
 * stdout. Each is a pure function, byte-for-byte what nngcat 1.5.2 writes
 * (pinned in test/spcat-format.test.ts against captured nngcat output; the
 * facts are in NNGCAT-NOTES.md).
 *
 * "Printable" means the C locale's isprint(): 0x20 (space) to 0x7e (~).
 * nngcat never calls setlocale, so bytes >= 0x80 are never printable, UTF-8
 * or not.
 */

/** Every format spcat knows; `no` prints nothing (as does giving no format). */
export const formatNames = ["no", "ascii", "quoted", "hex", "raw", "msgpack"] as const;
export type FormatName = (typeof formatNames)[number];

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const NEWLINE = 0x0a;
const EMPTY = new Uint8Array(0);
const hexDigits = "0123456789abcdef";

function printable(b: number): boolean {
  return b >= 0x20 && b <= 0x7e;
}

/** Appends bytes to a growing buffer; every format knows its worst case, so one allocation. */
class Out {
  readonly buf: Uint8Array;
  n = 0;
  constructor(max: number) {
    this.buf = new Uint8Array(max);
  }
  byte(b: number): void {
    this.buf[this.n++] = b;
  }
  /** `\xNN` with lowercase hex digits. */
  hexEscape(b: number): void {
    this.byte(BACKSLASH);
    this.byte(0x78);
    this.byte(hexDigits.charCodeAt(b >> 4));
    this.byte(hexDigits.charCodeAt(b & 15));
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** Printable bytes as they are, every other byte as `.`; no separator and no newline between messages. */
export function ascii(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length);
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    out[i] = printable(b) ? b : DOT;
  }
  return out;
}

/** Short escapes for the C-string specials; the payload byte after the backslash, or 0 when there is none. */
function shortEscape(b: number): number {
  switch (b) {
    case 0x0a:
      return 0x6e; // \n
    case 0x0d:
      return 0x72; // \r
    case 0x09:
      return 0x74; // \t
    case QUOTE:
    case BACKSLASH:
      return b;
    default:
      return 0;
  }
}

/**
 * A C string literal and a newline: `\n \r \t \" \\` as short escapes, other
 * printable bytes as they are, everything else `\xNN` (lowercase). Only those
 * three control characters get short forms: not `\0`, `\a`, `\b`, `\f`, `\v`.
 */
export function quoted(body: Uint8Array): Uint8Array {
  const out = new Out(body.length * 4 + 3);
  out.byte(QUOTE);
  for (const b of body) {
    const e = shortEscape(b);
    if (e !== 0) {
      out.byte(BACKSLASH);
      out.byte(e);
    } else if (printable(b)) {
      out.byte(b);
    } else {
      out.hexEscape(b);
    }
  }
  out.byte(QUOTE);
  out.byte(NEWLINE);
  return out.done();
}

/** Every byte as `\xNN` (lowercase), in double quotes, then a newline. */
export function hex(body: Uint8Array): Uint8Array {
  const out = new Out(body.length * 4 + 3);
  out.byte(QUOTE);
  for (const b of body) out.hexEscape(b);
  out.byte(QUOTE);
  out.byte(NEWLINE);
  return out.done();
}

/** The body unchanged; no framing, so consecutive messages run together. */
export function raw(body: Uint8Array): Uint8Array {
  return body;
}

/**
 * One MessagePack `bin` object per message: bin 8 (0xc4, 1-byte length) below
 * 256 bytes, bin 16 (0xc5, 2-byte big-endian length) below 65536, bin 32
 * (0xc6, 4-byte big-endian length) above; then the body.
 */
export function msgpack(body: Uint8Array): Uint8Array {
  const n = body.length;
  const head = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const out = new Uint8Array(head + n);
  if (head === 2) {
    out[0] = 0xc4;
    out[1] = n;
  } else if (head === 3) {
    out[0] = 0xc5;
    out[1] = n >>> 8;
    out[2] = n & 0xff;
  } else {
    out[0] = 0xc6;
    new DataView(out.buffer).setUint32(1, n);
  }
  out.set(body, head);
  return out;
}

const formatters: Record<FormatName, (body: Uint8Array) => Uint8Array> = {
  no: () => EMPTY,
  ascii,
  quoted,
  hex,
  raw,
  msgpack,
};

/**
 * The bytes spcat writes to stdout for one received body. `undefined` (no
 * format option given) prints nothing, exactly like `--format no`.
 *
 * @example
 * formatMessage("quoted", new TextEncoder().encode('say "hi"\n'))
 * // bytes of: "say \"hi\"\n" followed by a newline
 */
export function formatMessage(format: FormatName | undefined, body: Uint8Array): Uint8Array {
  return format === undefined ? EMPTY : formatters[format](body);
}
