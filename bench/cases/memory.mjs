/**
 * Memory per idle connection: a gateway holding N idle ws clients on a sub
 * route (its upstream Pub in another process) beside a raw `ws` server
 * holding N idle clients. The clients live in a third process. Each server
 * is measured after full GCs (--expose-gc) before the clients connect and
 * once all are connected: (RSS after - RSS before) / N.
 */
import { Child, stopAll } from "../lib/proc.mjs";
import { gatewayInput } from "./fanout.mjs";

const NOFILE = 65_536;
const PROTOCOL = "pub.sp.nanomsg.org";

async function perConnection(ctx, server, url, n, name) {
  // --profile: heap snapshots before and after, for lib/heap.mjs to compare.
  const snap = async (when) => {
    if (ctx.profileDir === undefined) return;
    server.send(`snapshot ${ctx.profileDir}/${name}-${when}.heapsnapshot`);
    await server.next("snapshot", ctx.timeout);
  };
  await snap("before");
  const before = await measure(server);
  const clients = Child.node("fanout.mjs", "ws-clients", { url, n, protocol: PROTOCOL, expect: 0 }, { nofile: NOFILE });
  try {
    await clients.next("ready", ctx.timeout);
    const after = await measure(server);
    if (after.clients !== n) throw new Error(`the server holds ${after.clients} clients, not ${n}`);
    await snap("after");
    return {
      rssPerConn: (after.rss - before.rss) / n,
      heapPerConn: (after.heapUsed - before.heapUsed) / n,
      rssBefore: before.rss,
      rssAfter: after.rss,
      conns: n,
    };
  } finally {
    await stopAll(clients);
  }
}

async function measure(server) {
  server.send("measure");
  const m = await server.next("rss");
  if (!m.gc) throw new Error("the server was not started with --expose-gc");
  return m;
}

export function memoryCases(ctx) {
  // Connecting 10,000 clients takes a while: only in the full run.
  if (ctx.mode !== "full") return [];
  const N = 10_000;
  // --profile compares heap snapshots, which for 10,000 clients would be too big to read back: 2,000 there.
  const count = () => (ctx.profileDir === undefined ? N : 2_000);
  const opts = { nofile: NOFILE, nodeOptions: ["--expose-gc"] };
  return [
    {
      id: `memory-${N}`,
      title: `Gateway memory, ${N.toLocaleString("en-US")} idle ws Sub connections`,
      metrics: {
        rssPerConn: { unit: "bytes", better: "lower", label: "RSS per connection" },
        heapPerConn: { unit: "bytes", better: "lower", label: "JS heap per connection" },
      },
      variants: [
        {
          id: "spwire",
          label: "gateway, sub route",
          run: async () => {
            let pub;
            let gw;
            try {
              pub = Child.node("fanout.mjs", "spwire-pub", { url: "tcp://127.0.0.1:0", size: 64, count: 0 }, { spwire: true });
              const p = await pub.next("ready");
              gw = Child.node("gateway.mjs", "gateway", { input: gatewayInput(p.url), wait: ["/feed"] }, { ...opts, spwire: true });
              const g = await gw.next("ready");
              return await perConnection(ctx, gw, `${g.url}/feed`, count(), "gateway");
            } finally {
              await stopAll(gw, pub);
            }
          },
        },
        {
          id: "ws",
          label: "raw ws server",
          run: async () => {
            const s = Child.node("gateway.mjs", "ws-server", {}, opts);
            try {
              const r = await s.next("ready");
              return await perConnection(ctx, s, r.url, count(), "ws-server");
            } finally {
              await stopAll(s);
            }
          },
        },
      ],
      compare: [
        { a: "spwire", b: "ws", metric: "rssPerConn", target: { op: "<=", value: 1.3 } },
        { a: "spwire", b: "ws", metric: "heapPerConn" },
      ],
    },
  ];
}
