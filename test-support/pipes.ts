/**
 * Helpers shared by the transport tests (tcp, ipc, tls): watch a transport
 * pipe's callbacks, name an error's code, and byte/text conversions.
 * Test-only; never imported by package code.
 */
import assert from "node:assert/strict";
import { SPError, type TransportPipe } from "@spwire/core";

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The SPError code of `e`, or a description that fails any code comparison. */
export function codeOf(e: unknown): string | undefined {
  return e instanceof SPError ? e.code : `not an SPError: ${String(e)}`;
}

/** What a started pipe reported: messages (hex), the one close, drain calls. */
export interface Seen {
  messages: string[];
  closed: { err: SPError | undefined } | undefined;
  drains: number;
}

/** Start `pipe`, record its callbacks (closed must come once), and close it at `cleanups` time. */
export function startPipe(pipe: TransportPipe, cleanups: (() => unknown)[]): Seen {
  const seen: Seen = { messages: [], closed: undefined, drains: 0 };
  pipe.start({
    message: (m) => seen.messages.push(hex(m)),
    closed: (err) => {
      assert.equal(seen.closed, undefined, "closed() must be called once");
      seen.closed = { err };
    },
    drain: () => seen.drains++,
  });
  cleanups.push(() => pipe.close());
  return seen;
}
