/**
 * Backtraces, shared by REQ/REP and SURVEYOR/RESPONDENT (sp-wire.md 5.1, 5.7).
 * A backtrace is a run of 32-bit words ending at the first word with the top
 * bit set (the request or survey id); devices push one word (a pipe id, top
 * bit clear) per hop in front.
 */
import { getU32 } from "../message.js";

/** The payload ended before a word with the top bit set: the peer is broken (nng closes the pipe). */
export const NO_ID = -1;
/** More than ttlMax words before the id: too many hops (nng drops the message, keeps the pipe). */
export const TOO_MANY_HOPS = -2;

/**
 * Find where the backtrace ends: the byte offset just past the first word with
 * the top bit set, reading at most `ttlMax` words. Returns NO_ID or
 * TOO_MANY_HOPS instead when there is none.
 */
export function backtraceEnd(data: Uint8Array, ttlMax: number): number {
  for (let hops = 1, off = 0; ; hops++, off += 4) {
    if (off + 4 > data.length) return NO_ID;
    if (hops > ttlMax) return TOO_MANY_HOPS;
    if (data[off]! & 0x80) return off + 4;
  }
}

/** A random 31-bit starting point with the top bit set, as nng seeds request and survey ids. */
export function randomId(): number {
  return (Math.floor(Math.random() * 0x80000000) | 0x80000000) >>> 0;
}

/** The id after `id`, staying in the top-bit range. */
export function nextId(id: number): number {
  return (((id + 1) & 0x7fffffff) | 0x80000000) >>> 0;
}

export { getU32 };
