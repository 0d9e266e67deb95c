/**
 * SURVEYOR (surveyor0, id 0x62): asks every RESPONDENT (0x63) peer at once and
 * collects their answers for a limited time. Header on the wire: one word,
 * the survey id with the top bit set; ids start at a random value and go up
 * by one per survey (nng does the same). An answer echoes it in front.
 *
 * A survey goes to every connected pipe; a pipe whose send queue is full
 * misses it (counted). The survey accepts answers for `surveyTime` (nng:
 * `surveyor:survey-time`, 1 s); an answer whose id names no open survey (too
 * late, cancelled, never asked) is dropped and counted; an answer shorter
 * than 4 bytes closes its pipe. Only the id word is stripped.
 *
 * Cooked SURVEYOR runs many surveys at once, each with its own id (nng's
 * contexts): `survey()` is one survey, an async iterable of its answers.
 * `send()`/`recv()` are nng's one-at-a-time form: a send starts a survey and
 * cancels the previous one, recv returns its answers and rejects ETIMEDOUT
 * once the survey time is over.
 *
 * Raw SURVEYOR adds nothing: it sends header + body as given to every pipe,
 * and on receive moves the backtrace (through the top-bit word) into the
 * header.
 */
import { Socket, type SocketConfig } from "../socket.js";
import { SURVEYOR0 } from "../protocols.js";
import { checkTime } from "../options.js";
import { SPError, closedError } from "../errors.js";
import { Message, getU32, u32, toBytes, type Data } from "../message.js";
import { waitFor, timed, Queue, type Settle } from "../op.js";
import type { ProtocolPipe } from "../pipe.js";
import type { OpOptions, ProtocolHooks, ProtocolImpl } from "../protocol.js";
import { backtraceEnd, nextId, randomId, NO_ID, TOO_MANY_HOPS } from "./backtrace.js";

/** Options for one survey. */
export interface SurveyOptions {
  /** How long the survey accepts answers, in ms (default: the socket's `surveyTime`); Infinity: until aborted or left. */
  time?: number;
  /**
   * Abort the survey: it stops accepting answers at once, answers not yet
   * taken are dropped (counted as "survey cancelled"), and the iteration
   * throws the signal's reason, unchanged, at its next step, even when the
   * survey time is already over. Answers taken before stay yours.
   */
  signal?: AbortSignal;
}

/** One survey: iterate it for the answers; the iteration ends when the survey time is over. */
export interface Survey extends AsyncIterable<Message> {
  /** The survey id as on the wire (top bit set); each answer's header holds it. */
  readonly id: number;
  /** How many pipes the survey went out on (a pipe with a full send queue misses it). */
  readonly sent: number;
}

export interface Surveyor0 extends ProtocolImpl {
  survey(data: Data, opts: SurveyOptions): Survey;
}

/**
 * How a survey ended: its time passed (answers that came in time can still be
 * taken), its reader left ("cancelled"), or an error its readers get.
 */
type Ending = "time" | "cancelled" | { error: unknown };

interface Open {
  readonly id: number;
  /** Answers that came in time and nobody has taken yet. */
  readonly answers: Queue<Message>;
  /** Readers waiting for the next answer; one that left stays, marked dead, and is skipped. */
  readonly readers: Queue<{ live: boolean; s: Settle<Message | undefined> }>;
  timer: ReturnType<typeof setTimeout> | undefined;
  unhook: (() => void) | undefined;
  /** Undefined while the survey accepts answers. */
  end: Ending | undefined;
}

export function surveyor0(h: ProtocolHooks): Surveyor0 {
  let id = randomId();
  /** Surveys still accepting answers, by id. */
  const open = new Map<number, Open>();
  /** The survey of the send/recv form. */
  let current: Open | undefined;

  function sendAll(parts: readonly Uint8Array[]): number {
    let sent = 0;
    for (const p of h.pipes()) {
      if (p.send(parts) === "full") h.drop("send queue full", p);
      else sent++;
    }
    return sent;
  }

  function start(body: Uint8Array, time: number, signal: AbortSignal | undefined): { s: Open; sent: number } {
    while (open.has(id)) id = nextId(id);
    const s: Open = { id, answers: new Queue(), readers: new Queue(), timer: undefined, unhook: undefined, end: undefined };
    id = nextId(id);
    if (signal?.aborted) {
      s.end = { error: signal.reason };
      return { s, sent: 0 };
    }
    open.set(s.id, s);
    const sent = sendAll([u32(s.id), body]);
    if (timed(time)) s.timer = setTimeout(() => end(s, "time"), time);
    if (signal !== undefined) {
      const onAbort = (): void => end(s, { error: signal.reason });
      signal.addEventListener("abort", onAbort, { once: true });
      s.unhook = () => signal.removeEventListener("abort", onAbort);
    }
    return { s, sent };
  }

  function settleEnd(r: Settle<Message | undefined>, e: Ending): void {
    if (typeof e === "object") r.reject(e.error);
    else r.resolve(undefined);
  }

  /** End a survey (a no-op if it already ended). Unless it merely ran out of time, unread answers go too. */
  function end(s: Open, how: Ending): void {
    if (s.end === undefined) {
      s.end = how;
      open.delete(s.id);
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
      s.unhook?.();
      s.unhook = undefined;
      for (let r = s.readers.shift(); r !== undefined; r = s.readers.shift()) {
        if (r.live) settleEnd(r.s, how);
      }
    }
    if (how === "time") return;
    const unread = s.answers.clear();
    // On socket close nothing is counted, as the socket's own queue is not.
    if (!h.closed) for (let i = 0; i < unread.length; i++) h.drop("survey cancelled");
  }

  function answer(s: Open, m: Message): void {
    for (let r = s.readers.shift(); r !== undefined; r = s.readers.shift()) {
      if (r.live) {
        r.s.resolve(m);
        return;
      }
    }
    if (s.answers.length >= Math.max(1, h.options.recvBuffer)) {
      h.drop("recv queue full");
      return;
    }
    s.answers.push(m);
  }

  /** The next answer of `s`; undefined once its time is over and every answer was taken. */
  function take(s: Open, opts: OpOptions, what: string): Promise<Message | undefined> {
    return waitFor<Message | undefined>(opts, what, (settle) => {
      const m = s.answers.shift();
      if (m !== undefined) {
        settle.resolve(m);
      } else if (s.end !== undefined) {
        settleEnd(settle, s.end);
      } else {
        const r = { live: true, s: settle };
        s.readers.push(r);
        return () => {
          r.live = false;
        };
      }
      return () => undefined;
    });
  }

  return {
    addPipe(): void {},
    removePipe(): void {},

    pipeMessage(p: ProtocolPipe, data: Uint8Array): void {
      if (h.raw) {
        const at = backtraceEnd(data, h.options.ttlMax);
        if (at === NO_ID) {
          h.closePipe(p, new SPError("EPROTO", "answer without a survey id (no word with the top bit set)"));
        } else if (at === TOO_MANY_HOPS) {
          h.drop("ttl exceeded");
        } else {
          h.deliver(new Message(data.subarray(at), data.subarray(0, at), p.id));
        }
        return;
      }
      if (data.length < 4) {
        h.closePipe(p, new SPError("EPROTO", `answer of ${data.length} bytes has no survey id`));
        return;
      }
      const s = open.get(getU32(data, 0));
      if (s === undefined) {
        h.drop("late or unknown survey id");
        return;
      }
      answer(s, new Message(data.subarray(4), data.subarray(0, 4), p.id));
    },

    survey(data: Data, opts: SurveyOptions): Survey {
      if (h.closed) throw closedError();
      const body = data instanceof Message ? data.body : toBytes(data);
      const { s, sent } = start(body, opts.time ?? h.options.surveyTime, opts.signal);
      const signal = opts.signal;
      return {
        id: s.id,
        sent,
        async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
          try {
            for (;;) {
              // The signal is checked at every step, so an abort after the time is over still stops the loop.
              const m = await take(s, { signal }, "survey");
              if (m === undefined) return;
              yield m;
            }
          } finally {
            // Leaving early (break, or a throw in the loop body) cancels the survey: later answers are late.
            end(s, "cancelled");
          }
        },
      };
    },

    send(msg: Message, opts: OpOptions): Promise<void> {
      if (h.raw) {
        sendAll([msg.header, msg.body]);
        return Promise.resolve();
      }
      if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
      // One survey at a time: a new one cancels the previous (nng does), its late answers are dropped.
      if (current !== undefined) end(current, { error: new SPError("ESTATE", "survey cancelled: a newer survey was sent") });
      current = start(msg.body, h.options.surveyTime, undefined).s;
      return Promise.resolve();
    },

    recv: h.raw
      ? undefined
      : (opts: OpOptions): Promise<Message> => {
          const s = current;
          if (s === undefined) {
            return Promise.reject(new SPError("ESTATE", "recv on a surveyor socket needs a survey sent first"));
          }
          // nng answers NNG_ETIMEDOUT once the survey time is over; so do we, until the next send.
          return take(s, opts, "recv").then(
            (m) => m ?? Promise.reject(new SPError("ETIMEDOUT", `the survey is over (surveyTime ${h.options.surveyTime} ms)`)),
          );
        },

    close(): void {
      const err = closedError();
      for (const s of [...open.values()]) end(s, { error: err });
    },
  };
}

/**
 * A SURVEYOR socket: each survey goes to every respondent and gathers their
 * answers until its time is over; several surveys may run at once.
 *
 * @example
 * const surveyor = new Surveyor({ surveyTime: 500 });
 * await surveyor.listen("ws://127.0.0.1:8080/census");
 * for await (const answer of surveyor.survey("who is there?")) console.log(answer.text());
 */
export class Surveyor extends Socket {
  declare protected readonly proto: Surveyor0;

  constructor(config?: SocketConfig) {
    super(SURVEYOR0, surveyor0, config);
  }

  /**
   * Send a survey to every connected respondent now, and iterate its answers
   * as they come. The iteration ends when `time` (default `surveyTime`) is
   * over; leaving it early cancels the survey. Bad arguments and a closed
   * socket throw at once; closing the socket later makes the iteration throw
   * ECLOSED; an abort makes it throw the signal's reason.
   */
  survey(data: Data, opts: SurveyOptions = {}): Survey {
    if (this.raw) throw new SPError("ENOTSUP", "survey() is for cooked sockets; a raw surveyor uses send/recv");
    if (opts.time !== undefined) checkTime("time", opts.time);
    return this.proto.survey(data, opts);
  }
}
