/**
 * device(a, b): forwards messages both ways between two raw sockets of peer
 * protocols (raw REP <-> raw REQ, raw RESPONDENT <-> raw SURVEYOR, raw SUB <->
 * raw PUB, raw PULL <-> raw PUSH, raw PAIR1 <-> raw PAIR1 ...), or reflects
 * one raw BUS or PAIR1 socket onto itself, as nng_device() does.
 *
 * The device never looks inside a message: the raw protocols do the hop
 * bookkeeping. A raw REP pushes the inbound pipe id (one word) on receive and
 * consumes it on send, so exactly one backtrace word is added per device on
 * the way in and removed on the way out, and its backtrace parser enforces
 * ttlMax; a raw PAIR1 adds one to the hop count and drops past ttlMax.
 */
import { SPError, isSPError } from "./errors.js";
import type { Socket } from "./socket.js";

export interface Device {
  /** Settles when forwarding stops: resolves when a socket closes, rejects on an unexpected error. */
  readonly done: Promise<void>;
  /** Messages forwarded from a to b, and from b to a. */
  readonly forwarded: { ab: number; ba: number };
  /** Stop forwarding and close both sockets. */
  close(): Promise<void>;
}

const REFLECTORS = new Set(["bus", "pair1"]);

/**
 * Join two raw sockets (or reflect one). Both must be open raw and speak
 * peer protocols; anything else throws EINVAL at once.
 *
 * @example
 * const front = new Rep({ raw: true });   // browsers' REQs arrive here
 * const back = new Req({ raw: true });    // the REP service is reached from here
 * await front.listen("ws://127.0.0.1:8080/rpc");
 * back.dial("tcp://127.0.0.1:6000");
 * device(front, back);
 */
export function device(a: Socket, b?: Socket): Device {
  if (!a.raw || (b !== undefined && !b.raw)) {
    throw new SPError("EINVAL", "device() needs raw sockets: open them with { raw: true }");
  }
  if (b === undefined || b === a) {
    if (!REFLECTORS.has(a.info.name)) {
      throw new SPError("EINVAL", `only a raw bus or pair1 socket can be a one-socket device, not ${a.info.name}`);
    }
  } else if (a.info.peerId !== b.info.id || b.info.peerId !== a.info.id) {
    throw new SPError("EINVAL", `device() needs peer protocols; ${a.info.name} and ${b.info.name} are not peers`);
  }
  const other = b ?? a;
  const ac = new AbortController();
  const forwarded = { ab: 0, ba: 0 };

  async function pump(from: Socket, to: Socket, dir: "ab" | "ba"): Promise<void> {
    const signal = ac.signal;
    // One abort listener for the pump's life, not one per message: stopping ends the wait in progress.
    const reader = from.reader();
    const stopReading = (): void => void reader.return!();
    signal.addEventListener("abort", stopReading, { once: true });
    const sendOpts = { signal, timeout: Infinity };
    try {
      for (;;) {
        let next;
        try {
          next = await reader.next();
        } catch (err) {
          // ENOTSUP: this side never receives (PUB, PUSH), so this direction has nothing to carry.
          if (signal.aborted || isSPError(err, "ECLOSED") || isSPError(err, "ENOTSUP")) return;
          throw err;
        }
        // Done: the socket closed or the device stopped.
        if (next.done === true) return;
        try {
          await to.send(next.value, sendOpts);
          forwarded[dir]++;
        } catch (err) {
          if (signal.aborted || isSPError(err, "ECLOSED")) return;
          // A message the far side cannot take (a raw header that names no pipe ...) is
          // that message's problem, not the device's: count it and go on.
          to.countDrop("device send failed");
        }
      }
    } finally {
      signal.removeEventListener("abort", stopReading);
    }
  }

  const pumps = other === a ? [pump(a, a, "ab")] : [pump(a, other, "ab"), pump(other, a, "ba")];
  // Either socket closing stops the whole device.
  const stop = (): void => ac.abort(new SPError("ECLOSED", "device stopped"));
  a.on("close", stop);
  other.on("close", stop);
  if (a.closed || other.closed) stop();
  const done = Promise.all(pumps).then(
    () => undefined,
    (err: unknown) => {
      ac.abort(err);
      throw err;
    },
  );
  done.catch(() => undefined); // the caller may not await `done`; the error stays observable there
  return {
    done,
    forwarded,
    async close(): Promise<void> {
      ac.abort(new SPError("ECLOSED", "device closed"));
      await Promise.all([a.close(), other.close()]);
      await done.catch(() => undefined);
    },
  };
}
