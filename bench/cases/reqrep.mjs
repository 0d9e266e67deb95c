/**
 * Round trips: Req/Rep over ws beside a raw `ws` echo and nng's Req/Rep over
 * ws; and the gateway relay (ws Req -> gateway -> tcp Rep) beside the same
 * Req talking to the same Rep directly over ws. One request in flight at a
 * time; client and server (and gateway) are separate processes.
 */
import { Child, stopAll } from "../lib/proc.mjs";
import { freePort } from "../lib/net.mjs";
import { percentile } from "../lib/stats.mjs";

/** p50 and p99 in microseconds; `window` (when the client said) is the timed stretch, for --profile. */
function latencies({ ns, t0, t1 }) {
  const us = ns.map((x) => x / 1000);
  const out = { p50: percentile(us, 50), p99: percentile(us, 99), n: us.length };
  if (t0 !== undefined) out.window = [t0, t1];
  return out;
}

const METRICS = { p50: { unit: "us", better: "lower", label: "p50" }, p99: { unit: "us", better: "lower", label: "p99" } };

/** Start the server, run the client against the url it gives, return the client's latencies. */
async function roundTrips(ctx, server, client) {
  let s;
  let c;
  try {
    s = server();
    const ready = await s.next("ready");
    c = client(ready.urls?.[0]);
    const res = await c.next("ns", ctx.timeout);
    return latencies(res);
  } finally {
    await stopAll(c, s);
  }
}

export function reqrepCases(ctx) {
  const size = 64;
  const count = ctx.count(5000);
  // Every variant gets the same untimed warm-up, long enough for V8 to have optimised both
  // sides: with 500 round trips the timed stretch overlapped the JIT's compile jobs (spwire's
  // side compiles ~70 functions, a raw ws echo ~43), and the ratio measured compilation.
  const warm = ctx.count(20000);
  const clientArgs = (url) => ({ url, size, count, warm });

  const reqrep = {
    id: "reqrep-64",
    title: "Req/Rep round trip over ws, 64 B",
    metrics: METRICS,
    variants: [
      {
        id: "spwire",
        label: "spwire Req -> Rep",
        run: () =>
          roundTrips(
            ctx,
            () => Child.node("reqrep.mjs", "spwire-rep", { urls: ["ws://127.0.0.1:0/rpc"] }, { spwire: true }),
            (url) => Child.node("reqrep.mjs", "spwire-req", clientArgs(url), { spwire: true }),
          ),
      },
      {
        id: "ws",
        label: "raw ws echo",
        run: () =>
          roundTrips(
            ctx,
            () => Child.node("reqrep.mjs", "ws-echo", {}),
            (url) => Child.node("reqrep.mjs", "ws-req", clientArgs(url)),
          ),
      },
      {
        id: "nng",
        label: "nng Req -> Rep (libnng)",
        needs: "nng",
        run: async () => {
          const url = `ws://127.0.0.1:${await freePort()}/rpc`;
          let s;
          let c;
          try {
            s = new Child("nng rep", ctx.nng, ["rep", url], { term: true });
            await s.next("ready");
            c = new Child("nng req", ctx.nng, ["req", url, String(size), String(count), String(warm)]);
            return latencies(await c.next("ns", ctx.timeout));
          } finally {
            await stopAll(c, s);
          }
        },
      },
    ],
    compare: [
      { a: "spwire", b: "ws", metric: "p50", target: { op: "<=", value: 1.2 } },
      { a: "spwire", b: "ws", metric: "p99", target: { op: "<=", value: 1.3 } },
      { a: "spwire", b: "nng", metric: "p50", target: { op: "<=", value: 0.5 } },
      { a: "spwire", b: "nng", metric: "p99" },
    ],
  };

  // The relay: one Rep (tcp for the gateway, ws for the direct path) and one gateway for every rep.
  let rep;
  let gw;
  let urls;
  const relay = {
    id: "relay",
    title: "Gateway relay, ws Req -> gateway -> tcp Rep, 64 B",
    note: "the figure is the p50 (p99) the gateway adds, rep by rep",
    metrics: METRICS,
    async setup() {
      rep = Child.node("reqrep.mjs", "spwire-rep", { urls: ["tcp://127.0.0.1:0", "ws://127.0.0.1:0/rpc"] }, { spwire: true });
      const ready = await rep.next("ready");
      gw = Child.node(
        "gateway.mjs",
        "gateway",
        {
          input: { listen: "ws://127.0.0.1:0", logLevel: "silent", routes: [{ path: "/rpc", protocol: "req", upstream: ready.urls[0] }] },
          wait: ["/rpc"],
        },
        { spwire: true },
      );
      const g = await gw.next("ready");
      urls = { gateway: `${g.url}/rpc`, direct: ready.urls[1] };
    },
    async teardown() {
      await stopAll(gw, rep);
    },
    variants: [
      {
        id: "spwire",
        label: "Req -> gateway -> tcp Rep",
        run: async () => {
          const c = Child.node("reqrep.mjs", "spwire-req", clientArgs(urls.gateway), { spwire: true });
          try {
            return latencies(await c.next("ns", ctx.timeout));
          } finally {
            await stopAll(c);
          }
        },
      },
      {
        id: "direct",
        label: "Req -> Rep directly over ws",
        run: async () => {
          const c = Child.node("reqrep.mjs", "spwire-req", clientArgs(urls.direct), { spwire: true });
          try {
            return latencies(await c.next("ns", ctx.timeout));
          } finally {
            await stopAll(c);
          }
        },
      },
    ],
    compare: [
      { a: "spwire", b: "direct", metric: "p50", kind: "diff", target: { op: "<=", value: 15 } },
      { a: "spwire", b: "direct", metric: "p99", kind: "diff" },
    ],
  };
  return [reqrep, relay];
}
