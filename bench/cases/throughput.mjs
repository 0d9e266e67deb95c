/**
 * One-way throughput: Push -> Pull over ws and over tcp, beside raw `ws`, raw
 * `net` with an 8-byte length prefix, and nng's own Push -> Pull over ws.
 * Sender and receiver are separate processes, connected before the clock
 * starts; the figure is count / (last receipt - first send), both instants
 * read on the monotonic clock the two processes share.
 */
import { Child, stopAll } from "../lib/proc.mjs";
import { freePort } from "../lib/net.mjs";

const SIZES = [
  { size: 64, label: "64 B", count: 200_000 },
  { size: 1024, label: "1 KiB", count: 100_000 },
  { size: 65536, label: "64 KiB", count: 3_000 },
];
/** nng moves small messages ~10x slower than Node: fewer of them take as long. */
const NNG_COUNT = { 64: 40_000, 1024: 30_000 };

/** Start the receiver, then the sender: count / (receiver's last message - sender's first send). */
async function oneWay(ctx, recv, send, url = undefined) {
  let r;
  let s;
  try {
    r = recv();
    const ready = await r.next("ready");
    s = send(url ?? ready.url);
    const [got, sent] = await Promise.all([r.next("t1", ctx.timeout), s.next("t0", ctx.timeout)]);
    const seconds = got.t1 - sent.t0;
    return { rate: got.count / seconds, seconds, window: [sent.t0, got.t1] };
  } finally {
    await stopAll(s, r);
  }
}

function nodePair(ctx, recvRole, sendRole, listenUrl, size, count) {
  return oneWay(
    ctx,
    () => Child.node("pushpull.mjs", recvRole, { url: listenUrl, count }, { spwire: recvRole.startsWith("spwire") }),
    (url) => Child.node("pushpull.mjs", sendRole, { url, size, count }, { spwire: sendRole.startsWith("spwire") }),
  );
}

async function nngPair(ctx, size, count) {
  const url = `ws://127.0.0.1:${await freePort()}/bench`;
  return oneWay(
    ctx,
    () => new Child("nng pull", ctx.nng, ["pull", url, String(count)]),
    () => new Child("nng push", ctx.nng, ["push", url, String(size), String(count)]),
    url,
  );
}

export function throughputCases(ctx) {
  const cases = [];
  // --quick keeps 64 B only: pinned, its every process shares one CPU, and the minute is mostly process start-up.
  const sizes = ctx.mode === "quick" ? SIZES.slice(0, 1) : SIZES;
  for (const { size, label, count } of sizes) {
    const n = ctx.count(count);
    const variants = [
      { id: "spwire", label: "spwire Push -> Pull", run: () => nodePair(ctx, "spwire-pull", "spwire-push", "ws://127.0.0.1:0/bench", size, n) },
      { id: "ws", label: "raw ws one-way", run: () => nodePair(ctx, "ws-recv", "ws-send", "", size, n) },
    ];
    const compare = [{ a: "spwire", b: "ws", metric: "rate", target: { op: ">=", value: size >= 65536 ? 0.95 : 0.85 } }];
    if (size <= 1024) {
      variants.push({ id: "nng", label: "nng Push -> Pull (libnng)", needs: "nng", run: () => nngPair(ctx, size, ctx.count(NNG_COUNT[size])) });
      compare.push({ a: "spwire", b: "nng", metric: "rate", target: size === 64 ? { op: ">=", value: 5 } : undefined });
    }
    cases.push({
      id: `ws-${size}`,
      title: `Push -> Pull over ws, Node to Node, ${label}`,
      metrics: { rate: { unit: "msgs/s", better: "higher" } },
      variants,
      compare,
    });
  }
  for (const { size, label, count } of sizes) {
    const n = ctx.count(count);
    cases.push({
      id: `tcp-${size}`,
      title: `Push -> Pull over tcp, ${label}`,
      metrics: { rate: { unit: "msgs/s", better: "higher" } },
      variants: [
        { id: "spwire", label: "spwire Push -> Pull", run: () => nodePair(ctx, "spwire-pull", "spwire-push", "tcp://127.0.0.1:0", size, n) },
        { id: "net", label: "raw net, 8-byte length prefix", run: () => nodePair(ctx, "net-recv", "net-send", "", size, n) },
      ],
      compare: [{ a: "spwire", b: "net", metric: "rate", target: { op: ">=", value: 0.85 } }],
    });
  }
  return cases;
}
