/**
 * Sends that wait for a pipe, shared by PUSH and PAIR (sp-wire.md 5.4, 5.5):
 * a message goes to the pipe `pick()` names, at once if there is one, else it
 * waits, in order, until `flush()` finds one (the protocol calls it from
 * pipeReady and addPipe). A waiting send honours its signal and time limit;
 * one that gives up is never sent later.
 */
import { resolved, waitFor, type Settle } from "../op.js";
import type { ProtocolPipe } from "../pipe.js";
import { SPError } from "../errors.js";
import type { OpOptions, ProtocolImpl } from "../protocol.js";

export interface WaitingSends {
  /** Send `parts` on the next pipe `pick()` returns, waiting (FIFO) while it returns none. */
  send(parts: readonly Uint8Array[], opts: OpOptions): Promise<void>;
  /** Hand waiting messages to pipes while `pick()` finds one that can take them. */
  flush(): void;
  /** Reject every waiting send with `err` (the socket closed). */
  close(err: unknown): void;
  /** Sends waiting for a pipe. */
  readonly length: number;
}

/** `pick` returns a pipe that can take a message now (`pipe.ready`), or undefined. */
export function waitingSends(pick: () => ProtocolPipe | undefined): WaitingSends {
  const waiting: { parts: readonly Uint8Array[]; s: Settle<void> }[] = [];

  function flush(): void {
    while (waiting.length > 0) {
      const p = pick();
      if (p === undefined) return;
      const w = waiting.shift()!;
      p.send(w.parts);
      w.s.resolve();
    }
  }

  return {
    send(parts, opts): Promise<void> {
      if (waiting.length === 0 && opts.signal?.aborted !== true) {
        // The common case: a pipe takes it now, so nothing waits and nothing needs undoing.
        const p = pick();
        if (p !== undefined) {
          p.send(parts);
          return resolved;
        }
      }
      return waitFor<void>(opts, "send", (s) => {
        // Behind any earlier waiting send: order is kept.
        const w = { parts, s };
        waiting.push(w);
        flush();
        return () => {
          const i = waiting.indexOf(w);
          if (i >= 0) waiting.splice(i, 1);
        };
      });
    },

    flush,

    close(err): void {
      for (const w of waiting.splice(0)) w.s.reject(err);
    },

    get length(): number {
      return waiting.length;
    },
  };
}

/**
 * A round-robin chooser over `pipes()`: each call returns the next pipe after
 * the last one chosen that can take a message now (`pipe.ready`), or
 * undefined when none can. PUSH and REQ spread their messages with it.
 */
export function roundRobin(pipes: () => readonly ProtocolPipe[]): () => ProtocolPipe | undefined {
  let next = 0;
  return () => {
    const ps = pipes();
    for (let i = 0; i < ps.length; i++) {
      const p = ps[(next + i) % ps.length]!;
      if (p.ready) {
        next = (next + i + 1) % ps.length;
        return p;
      }
    }
    return undefined;
  };
}

/**
 * The one-peer rule of PAIR0 and PAIR1: the first pipe is the peer, a second
 * is refused (ESTATE; the socket closes it) while the first lives, and waiting
 * sends go out when the peer can take them.
 */
export function onePeer(name: string): {
  /** The peer, if it can take a message now. */
  ready(): ProtocolPipe | undefined;
  hooks(sends: WaitingSends): Pick<ProtocolImpl, "addPipe" | "removePipe" | "pipeReady">;
} {
  let peer: ProtocolPipe | undefined;
  return {
    ready: () => (peer?.ready === true ? peer : undefined),
    hooks: (sends) => ({
      addPipe(p: ProtocolPipe): SPError | void {
        if (peer !== undefined) {
          return new SPError("ESTATE", `${name} socket already has a peer (pipe ${peer.id}); refusing pipe ${p.id}`);
        }
        peer = p;
      },
      removePipe(p: ProtocolPipe): void {
        if (peer === p) peer = undefined;
      },
      // The socket calls this for the new peer and when its pipe drained.
      pipeReady(p: ProtocolPipe): void {
        if (p === peer) sends.flush();
      },
    }),
  };
}
