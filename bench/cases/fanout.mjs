/**
 * Fan-out: one stream of 64 B messages delivered to N WebSocket clients.
 *
 *   spwire: tcp Pub (process 1) -> gateway, route /feed protocol sub (process 2) -> N clients (process 3)
 *   ws:     a `ws` server broadcasting each message to its N clients (process 1) -> N clients (process 2)
 *   nng:    nngbench pub listening on ws (process 1) -> N clients (process 2)
 *
 * The clients are the same raw `ws` clients in every variant (offering
 * pub.sp.nanomsg.org), so only the fan-out side differs. The figure is
 * deliveries per second summed over the N clients, from the first send to
 * the last delivery (monotonic clock, shared by the processes); a variant
 * that dropped messages shows it in `delivered`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Child, stopAll } from "../lib/proc.mjs";
import { freePort } from "../lib/net.mjs";

const SIZE = 64;
const PROTOCOL = "pub.sp.nanomsg.org";

/** Deliveries per client, by N: about 200,000 deliveries per measurement in a full run. */
const PER_CLIENT = { 100: 2000, 1000: 200 };

/** Connect the clients to `url`, say go to `sender`, wait for the clients' figure. */
async function deliver(ctx, sender, url, n, expect) {
  const clients = Child.node("fanout.mjs", "ws-clients", { url, n, protocol: PROTOCOL, expect });
  try {
    await clients.next("ready", ctx.timeout);
    // nng attaches a pipe to its socket a moment after the upgrade; give every variant the same pause.
    await sleep(50);
    sender.send("go");
    const [r, s] = await Promise.all([clients.next("delivered", ctx.timeout), sender.next("t0", ctx.timeout)]);
    return { rate: r.delivered / (r.t1 - s.t0), delivered: r.delivered / r.expected, closed: r.closed, window: [s.t0, r.t1] };
  } finally {
    await stopAll(clients);
  }
}

export function gatewayInput(upstream, extra = {}) {
  return {
    listen: "ws://127.0.0.1:0",
    logLevel: "silent",
    // One client machine: the per-IP limit (256 by default) would refuse most of them.
    limits: { maxConnections: 20_000, maxConnectionsPerIp: 20_000 },
    routes: [{ path: "/feed", protocol: "sub", upstream, ...extra }],
  };
}

export function fanoutCases(ctx) {
  const ns = ctx.mode === "quick" ? [100] : [100, 1000];
  return ns.map((n) => {
    const expect = Math.max(ctx.mode === "smoke" ? 20 : 50, ctx.count(PER_CLIENT[n]));
    return {
      id: `fanout-${n}`,
      title: `Gateway fan-out, tcp Pub -> gateway -> ${n.toLocaleString("en-US")} ws clients, 64 B`,
      metrics: {
        rate: { unit: "deliveries/s", better: "higher", label: "deliveries/s" },
        delivered: { unit: "fraction", better: "higher", label: "share of messages delivered" },
      },
      variants: [
        {
          id: "spwire",
          label: "tcp Pub -> gateway -> ws",
          run: async () => {
            let pub;
            let gw;
            try {
              pub = Child.node("fanout.mjs", "spwire-pub", { url: "tcp://127.0.0.1:0", size: SIZE, count: expect }, { spwire: true });
              const p = await pub.next("ready");
              gw = Child.node("gateway.mjs", "gateway", { input: gatewayInput(p.url), wait: ["/feed"] }, { spwire: true });
              const g = await gw.next("ready");
              return await deliver(ctx, pub, `${g.url}/feed`, n, expect);
            } finally {
              await stopAll(pub, gw);
            }
          },
        },
        {
          id: "ws",
          label: "raw ws broadcast",
          run: async () => {
            const b = Child.node("fanout.mjs", "ws-broadcast", { size: SIZE, count: expect });
            try {
              const r = await b.next("ready");
              return await deliver(ctx, b, r.url, n, expect);
            } finally {
              await stopAll(b);
            }
          },
        },
        {
          id: "nng",
          label: "nng PUB -> N SUB over ws",
          needs: "nng",
          run: async () => {
            const url = `ws://127.0.0.1:${await freePort()}/feed`;
            const b = new Child("nng pub", ctx.nng, ["pub", url, String(SIZE), String(expect)]);
            try {
              await b.next("ready");
              return await deliver(ctx, b, url, n, expect);
            } finally {
              await stopAll(b);
            }
          },
        },
      ],
      compare: [
        { a: "spwire", b: "ws", metric: "rate", target: { op: ">=", value: 0.7 } },
        { a: "spwire", b: "nng", metric: "rate", target: { op: ">=", value: 2 } },
      ],
    };
  });
}
