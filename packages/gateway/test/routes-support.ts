/**
 * Helpers for the route tests (routes-a/routes-b): everything a test opens
 * (gateways, spwire sockets, nngcat processes, temporary directories) is
 * registered on the test and closed after it in reverse order, so clients
 * go first, then the gateway, then the upstream peers.
 */
import type { TestContext } from "node:test";
import { isSPError, silentLogger, type Message, type Rep, type Respondent, type Socket, type SocketConfig } from "@spwire/node";
import type { Gateway, GatewayInput } from "@spwire/gateway";
import { startGateway } from "../../../test-support/gateway.js";
import { freePort, startPeer, until, type Peer } from "../../../test-support/peers.js";

/** Socket options for every spwire peer in these tests: quiet, and quick to redial. */
export const SOCKET_OPTS: SocketConfig = { logger: silentLogger, reconnectMinTime: 20, reconnectMaxTime: 200 };

export interface Scope {
  /** Close `s` after the test. */
  socket<S extends Socket>(s: S): S;
  /** Start nngcat with `args`; killed (and waited for) after the test. */
  nngcat(args: string[]): Peer;
  /** Start a gateway on a free loopback port; closed after the test. */
  gateway(input: Omit<GatewayInput, "listen"> & { listen?: string }): Promise<Gateway>;
  /** Run `fn` after the test (before anything registered earlier). */
  defer(fn: () => unknown): void;
}

export function scope(t: TestContext): Scope {
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return {
    socket(s) {
      cleanups.push(() => s.close());
      return s;
    },
    nngcat(args) {
      const p = startPeer("nngcat", args);
      cleanups.push(async () => {
        p.kill();
        await p.exited;
      });
      return p;
    },
    async gateway(input) {
      const gw = await startGateway(input);
      cleanups.push(() => gw.close());
      return gw;
    },
    defer(fn) {
      cleanups.push(fn);
    },
  };
}

/** A loopback tcp:// address nobody listens on yet (for nngcat listeners and the gateway's listen mode). */
export async function tcpAddress(): Promise<{ url: string; port: number }> {
  const port = await freePort();
  return { url: `tcp://127.0.0.1:${port}`, port };
}

/** Wait until the route at `path` has `n` upstream pipes. */
export async function upstreamPipes(gw: Gateway, path: string, n: number): Promise<void> {
  const r = gw.routes.get(path);
  if (r === undefined) throw new Error(`no route ${path}`);
  await until(() => r.upstreamPipes === n, `${n} upstream pipe(s) on ${path} (have ${r.upstreamPipes})`);
}

/** Receive `n` messages from `s` (each within `timeout` ms) and return their bodies as text. */
export async function take(s: Socket, n: number, timeout = 5000): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await s.recv({ timeout })).text());
  return out;
}

/**
 * Answer every message `s` receives with `answer(message)` until `s` closes.
 * An answer that fails for any reason but the socket closing is an unhandled
 * rejection, which fails the test file.
 */
export function answerAll(s: Rep | Respondent, answer: (m: Message) => string): void {
  void (async () => {
    for await (const m of s) {
      try {
        if ("reply" in s) await s.reply(m, answer(m));
        else await s.respond(m, answer(m));
      } catch (err) {
        if (!isSPError(err, "ECLOSED")) throw err;
      }
    }
  })();
}

/** Sorted copy, for comparing sets of message bodies. */
export function sorted(xs: readonly string[]): string[] {
  return [...xs].sort();
}

/** Everything `s` receives from now on, as text, in arrival order (until `s` closes). */
export function collect(s: Socket): string[] {
  const got: string[] = [];
  void (async () => {
    for await (const m of s) got.push(m.text());
  })();
  return got;
}

/** Throws if `s` receives anything within `ms` (a bounded wait that proves "no extra message"). */
export async function nothingMore(s: Socket, ms = 300): Promise<void> {
  let extra: Message;
  try {
    extra = await s.recv({ timeout: ms });
  } catch (err) {
    if (isSPError(err, "ETIMEDOUT")) return;
    throw err;
  }
  throw new Error(`unexpected extra message: ${JSON.stringify(extra.text())}`);
}
