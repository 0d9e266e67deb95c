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

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
