/**
 * REQ (req0, id 0x30): sends requests to REP (0x31) peers and matches replies.
 * Header on the wire: one word, the request id with the top bit set; ids start
 * at a random value and go up by one per request (nng does the same).
 *
 * Cooked REQ runs many requests at once on one socket, each with its own id
 * (nng's contexts): `request()` is one exchange. Requests go round robin to
 * pipes that can take them and wait when there is none. An unanswered request
 * is sent again, same id, after `resendTime`; when the pipe that carried it
 * closes it is sent again at once on another pipe. A reply with an unknown id
 * is dropped and counted; a reply shorter than 4 bytes closes its pipe.
 * `send()`/`recv()` are the one-at-a-time form: a new send abandons the
 * previous request, as in nng.
 *
 * Raw REQ adds nothing: it sends header + body as given, and on receive moves
 * the backtrace (through the top-bit word) into the header.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { REQ0 } from "../protocols.js";
import { checkTime } from "../options.js";
import { SPError, closedError } from "../errors.js";
import { Message, getU32, headerParts, toBytes, wordParts, type Data } from "../message.js";
import { Op, Queue, resolved, waitFor, timed, type Settle } from "../op.js";
import type { ProtocolPipe } from "../pipe.js";
import type { OpOptions, ProtocolHooks, ProtocolImpl } from "../protocol.js";
import { backtraceEnd, nextId, randomId, NO_ID, TOO_MANY_HOPS } from "./backtrace.js";
import { roundRobin } from "./sendwait.js";

/** One exchange: the promise of its reply, and what resending it needs. */
class Request extends Op<Message> {
  declare id: number;
  declare parts: readonly Uint8Array[];
  /** The pipe it went out on last; undefined while it waits for one. */
  declare pipe: ProtocolPipe | undefined;
  /** When it goes out again (performance.now() ms), if unanswered by then. */
  declare due: number;
  /** Bumped whenever the request is sent or ends: a resend entry with an older stamp is stale. */
  declare stamp: number;
  /** Resolves the `send()` that started it, once the request is on a pipe. */
  declare onSent: (() => void) | undefined;

  constructor(id: number, parts: readonly Uint8Array[], onSent: (() => void) | undefined) {
    super();
    this.id = id;
    this.parts = parts;
    this.pipe = undefined;
    this.due = 0;
    this.stamp = 0;
    this.onSent = onSent;
  }
}

const NO_PARTS: readonly Uint8Array[] = [];

export interface Req0 extends ProtocolImpl {
  request(data: Data, opts: OpOptions): Promise<Message>;
}

export function req0(h: ProtocolHooks): Req0 {
  let id = randomId();
  const pending = new Map<number, Request>();
  const waiting: Request[] = [];
  const rawWaiting: { parts: readonly Uint8Array[]; s: Settle<void> }[] = [];
  let current: { id: number; req: Promise<Message> } | undefined;

  /** The next pipe, round robin, that can take a message now; undefined if none. */
  const pickPipe = roundRobin(h.pipes);

  // Resends: one timer for all requests, not one per request (a timer set and
  // cleared per round trip was ~3% of a client). Sent requests are queued with
  // their stamp in the order they went out; resendTime is fixed, so the
  // queue is in order of due time too. The timer wakes for the oldest entry;
  // entries whose request was answered or sent again since are skipped.
  const resendTime = h.options.resendTime;
  const resends = resendTime > 0 && timed(resendTime);
  const sentQ = new Queue<Request>();
  const sentStamps = new Queue<number>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The timer is left armed when the queue empties (re-arming it per request
   * is what this saves), but then it must not keep a Node process alive;
   * while a request waits for its resend it must, as a timer of its own did.
   */
  let held = false;

  function hold(on: boolean): void {
    if (timer === undefined || held === on) return;
    held = on;
    const t = timer as { ref?: () => void; unref?: () => void };
    if (on) t.ref?.();
    else t.unref?.();
  }

  function arm(ms: number): void {
    timer = setTimeout(resendDue, Math.max(1, Math.ceil(ms)));
    held = true;
  }

  /** Drop stale entries from the front of the resend queue; let the timer go when none is left. */
  function trim(): void {
    for (let r = sentQ.peek(); r !== undefined && r.stamp !== sentStamps.peek(); r = sentQ.peek()) {
      sentQ.shift();
      sentStamps.shift();
    }
    if (sentQ.length === 0) hold(false);
  }

  function resendDue(): void {
    const now = performance.now();
    // Resent requests queue behind the rest; `timer` stays set so dispatch does not arm another.
    for (trim(); sentQ.length > 0 && sentQ.peek()!.due <= now; trim()) {
      const r = sentQ.shift()!;
      sentStamps.shift();
      r.stamp++;
      r.pipe = undefined;
      dispatch(r);
    }
    timer = undefined;
    if (sentQ.length > 0) arm(sentQ.peek()!.due - now);
  }

  /** Request entries behind a long-lived one can pile up stale: keep the queue within a few times what is pending. */
  function compact(): void {
    if (sentQ.length <= 64 + 2 * pending.size) return;
    const rs = sentQ.clear();
    const stamps = sentStamps.clear();
    for (let i = 0; i < rs.length; i++) {
      if (rs[i]!.stamp !== stamps[i]) continue;
      sentQ.push(rs[i]!);
      sentStamps.push(stamps[i]!);
    }
  }

  function dispatch(r: Request): void {
    const p = pickPipe();
    if (p === undefined) {
      waiting.push(r);
      return;
    }
    r.pipe = p;
    p.send(r.parts);
    if (resends) {
      r.due = performance.now() + resendTime;
      sentQ.push(r);
      sentStamps.push(++r.stamp);
      if (timer === undefined) arm(resendTime);
      else hold(true);
    }
    const s = r.onSent;
    r.onSent = undefined;
    s?.();
  }

  function flush(): void {
    while (rawWaiting.length > 0) {
      const p = pickPipe();
      if (p === undefined) return;
      const w = rawWaiting.shift()!;
      p.send(w.parts);
      w.s.resolve();
    }
    while (waiting.length > 0) {
      const p = pickPipe();
      if (p === undefined) return;
      dispatch(waiting.shift()!);
    }
  }

  /** A request ended (answered, failed, timed out, aborted): it is never sent again. */
  function forget(r: Request): void {
    pending.delete(r.id);
    r.stamp++;
    r.parts = NO_PARTS;
    if (r.pipe === undefined) {
      const i = waiting.indexOf(r);
      if (i >= 0) waiting.splice(i, 1);
    }
    trim();
    compact();
  }

  function start(body: Uint8Array, opts: OpOptions, onSent?: () => void): Promise<Message> {
    if (h.closed) return Promise.reject(closedError());
    while (pending.has(id)) id = nextId(id);
    const rid = id;
    id = nextId(id);
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const r = new Request(rid, wordParts(rid, body), onSent);
    r.onEnd = forget;
    pending.set(rid, r);
    dispatch(r);
    return r.arm(opts, "request");
  }

  return {
    addPipe(): void {},

    removePipe(p: ProtocolPipe): void {
      // Requests that this pipe carried go out again at once, same id, on another pipe.
      for (const r of pending.values()) {
        if (r.pipe !== p) continue;
        r.stamp++;
        r.pipe = undefined;
        waiting.push(r);
      }
      flush();
    },

    pipeReady(): void {
      flush();
    },

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      if (h.raw) {
        const end = backtraceEnd(data, h.options.ttlMax);
        if (end === NO_ID) {
          h.closePipe(p, new SPError("EPROTO", "reply without a request id (no word with the top bit set)"));
        } else if (end === TOO_MANY_HOPS) {
          h.drop("ttl exceeded");
        } else {
          h.deliver(new Message(data.subarray(end), data.subarray(0, end), p.id));
        }
        return;
      }
      if (data.length < 4) {
        h.closePipe(p, new SPError("EPROTO", `reply of ${data.length} bytes has no request id`));
        return;
      }
      const r = pending.get(getU32(data, 0));
      if (r === undefined) {
        h.drop("unknown request id");
        return;
      }
      r.resolve(new Message(data.subarray(4), data.subarray(0, 4), p.id));
    },

    request(data: Data, opts: OpOptions): Promise<Message> {
      let body: Uint8Array;
      try {
        body = data instanceof Message ? data.body : toBytes(data);
      } catch (err) {
        return Promise.reject(err);
      }
      return start(body, opts);
    },

    send(msg: Message, opts: OpOptions): Promise<void> {
      if (h.raw) {
        if (rawWaiting.length === 0 && opts.signal?.aborted !== true) {
          // A pipe takes it now: nothing waits, nothing to undo.
          const p = pickPipe();
          if (p !== undefined) {
            p.send(headerParts(msg.header, msg.body));
            return resolved;
          }
        }
        return waitFor<void>(opts, "send", (s) => {
          const w = { parts: headerParts(msg.header, msg.body), s };
          rawWaiting.push(w);
          flush();
          return () => {
            const i = rawWaiting.indexOf(w);
            if (i >= 0) rawWaiting.splice(i, 1);
          };
        });
      }
      // One exchange at a time: a new request abandons the previous one (its late reply is dropped).
      if (current !== undefined) {
        pending.get(current.id)?.reject(new SPError("ESTATE", "request abandoned: a newer request was sent"));
      }
      const ac = new AbortController();
      const onAbort = (): void => ac.abort(opts.signal!.reason);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      while (pending.has(id)) id = nextId(id);
      const rid = id; // start() takes this id: it is free now
      let sent = false;
      const sentP = waitFor<void>(opts, "send", (s) => {
        const req = start(msg.body, { signal: ac.signal }, () => {
          sent = true;
          s.resolve();
        });
        // The reply belongs to recv(); a failure before the request went out belongs to send().
        req.catch((err: unknown) => s.reject(err));
        current = { id: rid, req };
        return () => {
          opts.signal?.removeEventListener("abort", onAbort);
          if (!sent) ac.abort(new SPError("ETIMEDOUT", "send timed out"));
        };
      });
      return sentP;
    },

    recv: h.raw
      ? undefined
      : (opts: OpOptions): Promise<Message> => {
          const c = current;
          if (c === undefined) {
            return Promise.reject(new SPError("ESTATE", "recv on a req socket needs a request sent first"));
          }
          return waitFor<Message>(opts, "recv", (s) => {
            c.req.then(
              (m) => {
                if (current === c) current = undefined;
                s.resolve(m);
              },
              (e: unknown) => s.reject(e),
            );
            return () => undefined;
          });
        },

    close(): void {
      const err = closedError();
      for (const r of [...pending.values()]) r.reject(err);
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      for (const w of rawWaiting.splice(0)) w.s.reject(err);
    },
  };
}

/**
 * A REQ socket: many requests may be outstanding at once, each with its own id.
 *
 * @example
 * const req = new Req();
 * req.dial("ws://127.0.0.1:8080/rpc");
 * const reply = await req.request("status", { timeout: 5000 });
 */
export class Req extends Socket {
  declare protected readonly proto: Req0;

  constructor(config?: SocketConfig) {
    super(REQ0, req0, config);
  }

  /**
   * Send one request and wait for its reply. Resent after `resendTime` and at
   * once when its pipe dies (same id), until it is answered, times out
   * (`timeout`, ETIMEDOUT) or is aborted (`signal`, rejects with its reason).
   * A body under 4 KiB is copied at the call; a larger one is sent from your
   * buffer each time, so leave it unchanged until the request settles.
   */
  request(data: Data, opts: OpOptions = {}): Promise<Message> {
    if (this.raw) return Promise.reject(new SPError("ENOTSUP", "request() is for cooked sockets; a raw req uses send/recv"));
    if (opts.timeout !== undefined) {
      try {
        checkTime("timeout", opts.timeout);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.proto.request(data, opts);
  }
}
