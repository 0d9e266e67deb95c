/** Test helpers for core: sockets joined in memory, quiet logs, bounded waits. */
import { inprocTransport, silentLogger, type Transport, type Logger } from "../src/index.js";

let n = 0;
/** A fresh in-memory namespace and a unique address in it. */
export function mem(highWaterMark?: number): { o: { transports: Transport[]; logger: Logger }; url: string } {
  return { o: { transports: [inprocTransport({ highWaterMark })], logger: silentLogger }, url: `inproc://t${++n}` };
}

/** Poll until cond() holds (bounded); not a timing assertion. */
export async function until(cond: () => boolean, what: string, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

export const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/*
 * Byte helpers in plain Uint8Array/DataView/TextDecoder (no Buffer), so these
 * tests also run in a browser (e2e/core-in-browser.test.ts).
 */

/** Lower-case hex of the bytes, e.g. "0000002a". */
export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** The `i`th big-endian 32-bit word of the bytes (byte offset 4 * i), unsigned. */
export const word = (b: Uint8Array, i = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(i * 4);

/** The bytes decoded as UTF-8. */
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
