/**
 * The sample rpc service: a spwire Rep, the way a C or Go service would answer
 * on nng. `npm start` listens on tcp://127.0.0.1:5556 and puts it behind the
 * gateway's `/rpc` route.
 *
 * Each request's body is read as UTF-8 text; the reply is JSON
 * `{"echo":"<the text>","at":<ms since the epoch>,"n":<replies so far>}`. The
 * text `slow` is answered after `slowMs` (default 3000), which lets a page
 * show a timeout. Requests are answered concurrently: a slow one holds up no
 * other, so replies may go out in a different order than the requests came.
 *
 *   nngcat --req0 --dial tcp://127.0.0.1:5556 --data hello --ascii
 */
import { Rep, isSPError, type Listener, type Message } from "@spwire/node";

export interface RpcServiceOptions {
  /** URLs to listen on (tcp://127.0.0.1:0 picks a free port; see `listeners[i].url`). */
  listen: string[];
  /** How long a "slow" request waits before its reply (ms). Default 3000. */
  slowMs?: number;
}

export interface RpcService {
  readonly listeners: Listener[];
  readonly rep: Rep;
  close(): Promise<void>;
}

/** Start answering; resolves once every URL is bound. */
export async function startRpcService(opts: RpcServiceOptions): Promise<RpcService> {
  const slowMs = opts.slowMs ?? 3000;
  const rep = new Rep();
  const listeners: Listener[] = [];
  try {
    for (const u of opts.listen) listeners.push(await rep.listen(u));
  } catch (err) {
    await rep.close();
    throw err;
  }
  /** Slow replies waiting: cleared on close so closing never waits for them. */
  const waiting = new Set<ReturnType<typeof setTimeout>>();
  let n = 0;

  const answer = (req: Message): void => {
    const text = req.text();
    const reply = (): void => {
      const body = JSON.stringify({ echo: text, at: Date.now(), n: ++n });
      rep.reply(req, body).catch((err: unknown) => {
        // The service closed while this reply waited (a requester whose pipe went is a counted drop, not an error).
        if (isSPError(err, "ECLOSED")) return;
        console.error("rpc service: reply failed:", err);
      });
    };
    if (text.trim() !== "slow") {
      reply();
      return;
    }
    const timer = setTimeout(() => {
      waiting.delete(timer);
      reply();
    }, slowMs);
    waiting.add(timer);
  };

  const serving = (async () => {
    for await (const req of rep) answer(req);
  })();

  return {
    listeners,
    rep,
    async close() {
      for (const t of waiting) clearTimeout(t);
      waiting.clear();
      await rep.close();
      await serving;
    },
  };
}
