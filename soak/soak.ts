/**
 * The gateway soak: many WebSocket clients churning through one gateway for
 * a while, then a check that the gateway is back where it started.
 *
 *   npm run soak                                  1,000 clients for 60 s, result in soak/last-result.md
 *   npm run soak -- --duration 5 --clients 100    a short run (packages/gateway/test/soak-smoke.test.ts runs this one)
 *
 * The gateway runs in a child process (soak/gateway-child.ts, with
 * --expose-gc) so its file descriptors and heap are its own; the upstreams
 * (a Pub on tcp publishing four topics, a Rep answering `ok <request>`) and
 * every client run here. Each of `clients` loops, until the time is up:
 * connect, subscribe to one topic, receive at least one message, stay a
 * little, disconnect, and again. How, varies per round: a raw `ws` client
 * with `?sub=` that closes cleanly or just drops its TCP connection, a
 * spwire Sub with `{ gateway: true }`, or a client that gives up in the
 * middle of its handshake. `reqClients` spwire Reqs send requests one after
 * another on /rpc, each Req replaced after 25.
 *
 * Checks, after a warm-up round and against the numbers taken then:
 * - file descriptors of the gateway process (/proc/<pid>/fd) back to the baseline
 * - heap used after full GCs within 10% of the baseline
 * - not one warn, error or fatal log line, and nothing on stderr
 * - every request answered with its own reply
 * - every client received only its topic, and met no error (no refusal, no timeout)
 */
import { fork, type ChildProcess } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { Pub, Rep, Req, Sub, isSPError, silentLogger, type Message } from "@spwire/node";
import type { GatewayInput } from "@spwire/gateway";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const SUB_PROTOCOL = "pub.sp.nanomsg.org";
const TOPICS = ["t0.", "t1.", "t2.", "t3."];
/** How long a client waits for its first message, a handshake or a reply before that counts as an error (ms). */
const PATIENCE = 15_000;
/** Heap after GC may exceed the baseline by this fraction. */
const HEAP_TOLERANCE = 0.1;

export interface SoakOptions {
  /** Seconds of churn. Default 60. */
  duration?: number;
  /** WebSocket clients churning at once. Default 1000. */
  clients?: number;
  /** spwire Req clients at once. Default 20. */
  reqClients?: number;
  /** Messages per second the upstream Pub sends, over all four topics. Default 100. */
  rate?: number;
  /** Progress lines, about every 10 s. */
  progress?: (line: string) => void;
}

export interface SoakCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SoakResult {
  startedAt: string;
  node: string;
  cpus: number;
  options: { duration: number; clients: number; reqClients: number; rate: number };
  /** Client rounds: opened = upgrades finished; completed = subscribed, received and disconnected; aborted = gave up mid-handshake on purpose. */
  rounds: { opened: number; completed: number; aborted: number; cleanCloses: number; drops: number; spwireSubs: number; perSecond: number };
  messages: { received: number; wrongTopic: number };
  requests: { sent: number; answered: number; wrong: number; failed: number };
  /** Client-side errors by kind (refusals, timeouts, HTTP statuses ...). */
  clientErrors: Record<string, number>;
  fds: { baseline: number; peak: number; after: number };
  heap: { baseline: number; peak: number; after: number; rssPeak: number };
  log: { lines: number; warnOrWorse: string[]; stderr: string };
  /** From the gateway's /metrics at the end. */
  metrics: Record<string, number>;
  checks: SoakCheck[];
  ok: boolean;
}

// ---------------------------------------------------------------------------
// The gateway child

interface Measure {
  heapUsed: number;
  peakHeapUsed: number;
  peakRss: number;
  clients: number;
}

class GatewayChild {
  readonly proc: ChildProcess;
  lines = 0;
  warnOrWorse: string[] = [];
  stderr = "";
  #partial = "";
  #waiting: Array<(m: Record<string, unknown>) => void> = [];
  readonly exited: Promise<number | string>;

  constructor() {
    this.proc = fork(join(here, "gateway-child.ts"), [], {
      cwd: root,
      execArgv: ["--expose-gc", "--conditions=source", "--import", "tsx"],
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SPWIRE_") && k !== "NODE_TEST_CONTEXT")),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    this.proc.stdout!.on("data", (b: Buffer) => this.#read(b.toString()));
    this.proc.stderr!.on("data", (b: Buffer) => (this.stderr += b.toString()));
    this.proc.on("message", (m: Record<string, unknown>) => this.#waiting.shift()?.(m));
    this.exited = new Promise((resolve) => this.proc.once("close", (code, signal) => resolve(code ?? signal ?? -1)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  #read(text: string): void {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop()!;
    for (const l of parts) {
      if (l === "") continue;
      this.lines++;
      let level = 0;
      try {
        level = Number((JSON.parse(l) as { level?: unknown }).level);
      } catch {
        level = 60; // not a log line: something wrote to stdout that should not have
      }
      if (level >= 40 && this.warnOrWorse.length < 1000) this.warnOrWorse.push(l);
    }
  }

  /** Send a request and wait for its answer (the child answers in order). */
  ask<T>(m: object): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`soak gateway did not answer ${JSON.stringify(m)}; stderr: ${this.stderr}`)), 60_000);
      this.#waiting.push((x) => {
        clearTimeout(timer);
        resolve(x as T);
      });
      this.proc.send(m);
    });
  }

  fds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  async close(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null && this.proc.connected) this.proc.send({ type: "close" });
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// Clients

class Tally {
  opened = 0;
  completed = 0;
  aborted = 0;
  cleanCloses = 0;
  drops = 0;
  spwireSubs = 0;
  received = 0;
  wrongTopic = 0;
  sent = 0;
  answered = 0;
  wrong = 0;
  failed = 0;
  errors = new Map<string, number>();

  error(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** One round of a raw ws client: open with ?sub=, receive, stay up to `holdMs`, then close cleanly or drop. */
function rawRound(base: string, t: Tally, holdMs: number): Promise<void> {
  const topic = pick(TOPICS);
  const clean = Math.random() < 0.6;
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base}/feed?sub=${topic}`, SUB_PROTOCOL, { perMessageDeflate: false, handshakeTimeout: PATIENCE });
    let leaving = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fail = (kind: string): void => {
      if (leaving) return;
      leaving = true;
      clearTimeout(timer);
      t.error(kind);
      ws.terminate();
      resolve();
    };
    const leave = (): void => {
      leaving = true;
      t.completed++;
      if (clean) {
        t.cleanCloses++;
        ws.once("close", () => resolve());
        ws.close(1000);
      } else {
        t.drops++;
        ws.terminate();
        resolve();
      }
    };
    ws.on("unexpected-response", (_req, res) => fail(`raw client: HTTP ${res.statusCode}`));
    ws.on("error", (err: NodeJS.ErrnoException) => fail(`raw client: ${err.code ?? err.message}`));
    ws.on("close", (code: number) => fail(`raw client: closed by the gateway with ${code}`));
    ws.on("open", () => {
      t.opened++;
      timer = setTimeout(() => fail("raw client: no message in time"), PATIENCE);
    });
    let first = true;
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      t.received++;
      if (!isBinary || !data.toString("latin1").startsWith(topic)) t.wrongTopic++;
      if (!first || leaving) return;
      first = false;
      clearTimeout(timer);
      timer = setTimeout(leave, Math.random() * holdMs);
    });
  });
}

/** A client that gives up during its handshake (the gateway sees a connection that never upgrades, or upgrades into a closed socket). */
async function abortedRound(base: string, t: Tally): Promise<void> {
  const ws = new WebSocket(`${base}/feed?sub=${pick(TOPICS)}`, SUB_PROTOCOL, { perMessageDeflate: false });
  ws.on("error", () => undefined); // "closed before the connection was established": what this round is for
  const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  await sleep(Math.random() * 5);
  t.aborted++;
  ws.terminate();
  await closed;
}

/** One round of a spwire Sub: subscribe, dial with { gateway: true }, receive, stay, close. */
async function spwireRound(base: string, t: Tally, holdMs: number): Promise<void> {
  const topic = pick(TOPICS);
  const sub = new Sub({ logger: silentLogger, reconnectMinTime: 100, reconnectMaxTime: 1000, handshakeTimeout: PATIENCE });
  sub.on("dialerror", ({ error }) => t.error(`spwire Sub: dial ${error.code}`));
  sub.subscribe(topic);
  try {
    await sub.dial(`${base}/feed`, { gateway: true, failFast: true });
    t.opened++;
    t.spwireSubs++;
    const m = await sub.recv({ timeout: PATIENCE });
    t.received++;
    if (!m.text().startsWith(topic)) t.wrongTopic++;
    await sleep(Math.random() * holdMs);
    t.completed++;
    t.cleanCloses++;
  } catch (err) {
    t.error(`spwire Sub: ${isSPError(err) ? err.code : String(err)}`);
  } finally {
    await sub.close();
  }
}

async function churn(base: string, t: Tally, until: number, holdMs: number): Promise<void> {
  while (Date.now() < until) {
    const r = Math.random();
    if (r < 0.1) await abortedRound(base, t);
    else if (r < 0.25) await spwireRound(base, t, holdMs);
    else await rawRound(base, t, holdMs);
    await sleep(Math.random() * 50);
  }
}

async function requester(base: string, id: number, t: Tally, until: number): Promise<void> {
  let seq = 0;
  while (Date.now() < until) {
    const req = new Req({ logger: silentLogger, reconnectMinTime: 100, reconnectMaxTime: 1000 });
    req.on("dialerror", ({ error }) => t.error(`Req: dial ${error.code}`));
    try {
      await req.dial(`${base}/rpc`, { failFast: true });
      for (let k = 0; k < 25 && Date.now() < until; k++) {
        const body = `r${id}.${seq++}`;
        t.sent++;
        try {
          const reply = await req.request(body, { timeout: PATIENCE });
          if (reply.text() === `ok ${body}`) t.answered++;
          else t.wrong++;
        } catch (err) {
          t.failed++;
          t.error(`Req: request ${isSPError(err) ? err.code : String(err)}`);
        }
      }
    } catch (err) {
      t.error(`Req: ${isSPError(err) ? err.code : String(err)}`);
    } finally {
      await req.close();
    }
  }
}

// ---------------------------------------------------------------------------
// The run

async function metricsOf(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base.replace(/^ws/, "http")}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^spwire_gateway_([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const v = Number(m[3]);
    if (v === 0) continue;
    out[`${m[1]}${m[2] ?? ""}`] = v;
  }
  return out;
}

/** The smallest heap of `n` measurements after full GCs (one GC pass can leave a little behind by chance). */
async function settledHeap(gw: GatewayChild, n = 3): Promise<Measure> {
  let best: Measure | undefined;
  for (let i = 0; i < n; i++) {
    const m = await gw.ask<Measure>({ type: "measure" });
    if (best === undefined || m.heapUsed < best.heapUsed) best = { ...m, peakHeapUsed: Math.max(m.peakHeapUsed, best?.peakHeapUsed ?? 0), peakRss: Math.max(m.peakRss, best?.peakRss ?? 0) };
    await sleep(100);
  }
  return best!;
}

/** Wait (bounded) until the gateway has no client and its fd count is at most `target`; returns the last count. */
async function settle(gw: GatewayChild, target: number, ms: number): Promise<{ fds: number; clients: number }> {
  const end = Date.now() + ms;
  let fds = gw.fds();
  let clients = -1;
  while (Date.now() < end) {
    clients = (await gw.ask<Measure>({ type: "measure" })).clients;
    fds = gw.fds();
    if (clients === 0 && fds <= target) break;
    await sleep(200);
  }
  return { fds, clients };
}

const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

export async function runSoak(opts: SoakOptions = {}): Promise<SoakResult> {
  const duration = opts.duration ?? 60;
  const clients = opts.clients ?? 1000;
  const reqClients = opts.reqClients ?? 20;
  const rate = opts.rate ?? 100;
  const progress = opts.progress ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const serviceErrors: string[] = [];

  const pub = new Pub({ logger: silentLogger });
  const rep = new Rep({ logger: silentLogger });
  const gw = new GatewayChild();
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    const pubUrl = (await pub.listen("tcp://127.0.0.1:0")).url;
    const repUrl = (await rep.listen("tcp://127.0.0.1:0")).url;
    void (async () => {
      for await (const m of rep as AsyncIterable<Message>) {
        rep.reply(m, `ok ${m.text()}`).catch((err: unknown) => {
          // A Req that left before its reply is a drop at the Rep, not a failure; anything else is.
          if (!isSPError(err, "ECLOSED")) serviceErrors.push(String(err));
        });
      }
    })().catch((err: unknown) => serviceErrors.push(String(err)));
    let n = 0;
    const every = Math.max(1, Math.round(1000 / rate));
    const perTick = Math.max(1, Math.round((rate * every) / 1000));
    ticker = setInterval(() => {
      for (let i = 0; i < perTick; i++, n++) void pub.send(`${TOPICS[n % TOPICS.length]}${n}`);
    }, every);

    const input: GatewayInput = {
      listen: "ws://127.0.0.1:0",
      limits: { maxConnections: clients * 2 + 1000, maxConnectionsPerIp: clients * 2 + 1000 },
      routes: [
        { path: "/feed", protocol: "sub", upstream: pubUrl },
        { path: "/rpc", protocol: "req", upstream: repUrl },
      ],
    };
    const { url: base } = await gw.ask<{ url: string }>({ type: "start", input });
    for (let i = 0; i < 400; i++) {
      const r = await fetch(`${base.replace(/^ws/, "http")}/readyz`);
      if (r.status === 200) break;
      await sleep(50);
    }

    // Warm-up: code paths compiled, pools and caches at their working size. The baseline is taken after it.
    const warm = new Tally();
    const warmUntil = Date.now() + 2000;
    await Promise.all([
      ...Array.from({ length: Math.min(100, clients) }, () => churn(base, warm, warmUntil, 200)),
      ...Array.from({ length: Math.min(2, reqClients) }, (_, i) => requester(base, 1000 + i, warm, warmUntil)),
    ]);
    const warmSettled = await settle(gw, 0, 5000);
    const baseline = await settledHeap(gw);
    const fdBaseline = gw.fds();
    progress(`baseline after warm-up (${warm.opened} connections): ${fdBaseline} fds, heap ${mb(baseline.heapUsed)}, clients ${warmSettled.clients}`);

    // The soak.
    const t = new Tally();
    const t0 = Date.now();
    const until = t0 + duration * 1000;
    let fdPeak = fdBaseline;
    const sampler = setInterval(() => {
      fdPeak = Math.max(fdPeak, gw.fds());
    }, 250);
    const reporter = setInterval(() => {
      progress(
        `t=${Math.round((Date.now() - t0) / 1000)}s opened=${t.opened} completed=${t.completed} received=${t.received} ` +
          `requests=${t.answered}/${t.sent} fds=${gw.fds()} errors=${[...t.errors.values()].reduce((a, b) => a + b, 0)}`,
      );
    }, 10_000);
    try {
      await Promise.all([
        ...Array.from({ length: clients }, () => churn(base, t, until, 300)),
        ...Array.from({ length: reqClients }, (_, i) => requester(base, i, t, until)),
      ]);
    } finally {
      clearInterval(sampler);
      clearInterval(reporter);
    }
    const elapsed = (Date.now() - t0) / 1000;

    // Back to the baseline?
    const settled = await settle(gw, fdBaseline, 20_000);
    const after = await settledHeap(gw);
    const metrics = await metricsOf(base);
    clearInterval(ticker);
    ticker = undefined;
    await gw.close();

    const heapLimit = baseline.heapUsed * (1 + HEAP_TOLERANCE);
    const errorsTotal = [...t.errors.values()].reduce((a, b) => a + b, 0);
    const checks: SoakCheck[] = [
      { name: "clients gone", ok: settled.clients === 0, detail: `${settled.clients} still connected at the gateway after the run` },
      { name: "file descriptors back to baseline", ok: settled.fds <= fdBaseline, detail: `${fdBaseline} before, ${fdPeak} at peak, ${settled.fds} after` },
      {
        name: "heap after GC within 10% of baseline",
        ok: after.heapUsed <= heapLimit,
        detail: `${mb(baseline.heapUsed)} before, ${mb(after.heapUsed)} after (limit ${mb(heapLimit)}); ${mb(after.peakHeapUsed)} at the busiest moment, before GC`,
      },
      {
        name: "no warn/error lines in the gateway log",
        ok: gw.warnOrWorse.length === 0 && gw.stderr === "",
        detail: `${gw.lines} lines, ${gw.warnOrWorse.length} at warn or above, ${gw.stderr === "" ? "nothing" : "text"} on stderr`,
      },
      {
        name: "every request answered",
        ok: t.sent > 0 && t.answered === t.sent && t.wrong === 0 && serviceErrors.length === 0,
        detail: `${t.answered} of ${t.sent} answered, ${t.wrong} wrong, ${t.failed} failed${serviceErrors.length > 0 ? `; the Rep failed: ${serviceErrors.slice(0, 3).join("; ")}` : ""}`,
      },
      {
        name: "clients got only their topic, and no error",
        ok: t.completed > 0 && t.wrongTopic === 0 && errorsTotal === 0,
        detail: `${t.completed} rounds completed, ${t.received} messages, ${t.wrongTopic} of another topic, ${errorsTotal} client errors`,
      },
    ];
    return {
      startedAt,
      node: process.version,
      cpus: cpus().length,
      options: { duration, clients, reqClients, rate },
      rounds: {
        opened: t.opened,
        completed: t.completed,
        aborted: t.aborted,
        cleanCloses: t.cleanCloses,
        drops: t.drops,
        spwireSubs: t.spwireSubs,
        perSecond: Math.round(t.opened / elapsed),
      },
      messages: { received: t.received, wrongTopic: t.wrongTopic },
      requests: { sent: t.sent, answered: t.answered, wrong: t.wrong, failed: t.failed },
      clientErrors: Object.fromEntries(t.errors),
      fds: { baseline: fdBaseline, peak: fdPeak, after: settled.fds },
      heap: { baseline: baseline.heapUsed, peak: after.peakHeapUsed, after: after.heapUsed, rssPeak: after.peakRss },
      log: { lines: gw.lines, warnOrWorse: gw.warnOrWorse.slice(0, 20), stderr: gw.stderr.slice(0, 4000) },
      metrics,
      checks,
      ok: checks.every((c) => c.ok),
    };
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    await gw.close();
    await Promise.all([pub.close(), rep.close()]);
  }
}

// ---------------------------------------------------------------------------
// Reporting

export function summary(r: SoakResult): string {
  const lines = [
    `soak: ${r.options.clients} ws clients churning + ${r.options.reqClients} Req clients for ${r.options.duration} s (node ${r.node}, ${r.cpus} CPUs)`,
    `  connections: ${r.rounds.opened} opened (${r.rounds.perSecond}/s), ${r.rounds.completed} rounds completed ` +
      `(${r.rounds.cleanCloses} clean closes, ${r.rounds.drops} dropped TCP; ${r.rounds.spwireSubs} rounds by spwire Subs), ${r.rounds.aborted} aborted handshakes`,
    `  messages: ${r.messages.received} received, ${r.messages.wrongTopic} of another topic`,
    `  requests: ${r.requests.answered}/${r.requests.sent} answered, ${r.requests.wrong} wrong, ${r.requests.failed} failed`,
    `  fds: ${r.fds.baseline} -> peak ${r.fds.peak} -> ${r.fds.after}`,
    `  heap after GC: ${mb(r.heap.baseline)} -> ${mb(r.heap.after)} (busiest, before GC: ${mb(r.heap.peak)}); rss peak ${mb(r.heap.rssPeak)}`,
    `  log: ${r.log.lines} lines, ${r.log.warnOrWorse.length} at warn or above`,
  ];
  for (const [k, v] of Object.entries(r.clientErrors)) lines.push(`  client error: ${k} x${v}`);
  for (const l of r.log.warnOrWorse) lines.push(`  log: ${l}`);
  if (r.log.stderr !== "") lines.push(`  gateway stderr: ${r.log.stderr}`);
  for (const c of r.checks) lines.push(`  ${c.ok ? "PASS" : "FAIL"} ${c.name}: ${c.detail}`);
  lines.push(r.ok ? "soak: PASS" : "soak: FAIL");
  return lines.join("\n");
}

export function markdown(r: SoakResult): string {
  const m = (k: string): number => r.metrics[k] ?? 0;
  /** "route reason n, ..." for a counter with route and reason labels. */
  const byReason = (name: string): string =>
    Object.entries(r.metrics)
      .filter(([k]) => k.startsWith(`${name}{`))
      .map(([k, v]) => `${/route="([^"]*)"/.exec(k)?.[1] ?? ""} ${/reason="([^"]*)"/.exec(k)?.[1] ?? "?"} ${v}`.trim())
      .join(", ");
  const closed = byReason("connections_closed_total");
  const refusals = byReason("refusals_total");
  return [
    "# Last soak result",
    "",
    `Written by \`npm run soak\` (soak/soak.ts) on ${r.startedAt}: node ${r.node}, ${r.cpus} CPUs.`,
    `${r.options.clients} WebSocket clients churning and ${r.options.reqClients} Req clients for ${r.options.duration} s; the upstream Pub sent ${r.options.rate} messages/s.`,
    "",
    "| check | result | figures |",
    "|---|---|---|",
    ...r.checks.map((c) => `| ${c.name} | ${c.ok ? "pass" : "**FAIL**"} | ${c.detail} |`),
    "",
    "| figure | value |",
    "|---|---|",
    `| connections opened | ${r.rounds.opened} (${r.rounds.perSecond}/s) |`,
    `| rounds completed (subscribe, receive, disconnect) | ${r.rounds.completed}: ${r.rounds.cleanCloses} clean closes, ${r.rounds.drops} dropped TCP connections; ${r.rounds.spwireSubs} of the rounds by spwire Subs |`,
    `| handshakes abandoned by the client | ${r.rounds.aborted} |`,
    `| messages received by clients | ${r.messages.received} (${r.messages.wrongTopic} of another topic) |`,
    `| requests answered | ${r.requests.answered} of ${r.requests.sent} |`,
    `| gateway fds: baseline, peak, after | ${r.fds.baseline}, ${r.fds.peak}, ${r.fds.after} |`,
    `| gateway heap after GC: baseline, after | ${mb(r.heap.baseline)}, ${mb(r.heap.after)} |`,
    `| gateway heap at the busiest moment (sampled, no GC) | ${mb(r.heap.peak)} |`,
    `| gateway rss at its peak (sampled) | ${mb(r.heap.rssPeak)} |`,
    `| gateway log | ${r.log.lines} lines, ${r.log.warnOrWorse.length} at warn or above |`,
    `| gateway metrics (warm-up included) | connections opened: /feed ${m('connections_opened_total{route="/feed"}')}, /rpc ${m('connections_opened_total{route="/rpc"}')}; closed: ${closed || "none"}; refusals: ${refusals || "none"} |`,
    ...Object.entries(r.clientErrors).map(([k, v]) => `| client error | ${k} x${v} |`),
    ...r.log.warnOrWorse.map((l) => `| log line | \`${l.replace(/\|/g, "\\|")}\` |`),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------
// The command line

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string" },
      clients: { type: "string" },
      "req-clients": { type: "string" },
      rate: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) {
    process.stdout.write(
      "Usage: npm run soak -- [--duration S] [--clients N] [--req-clients N] [--rate MSG_PER_S] [--out FILE]\n" +
        "Defaults: 60 s, 1000 clients, 20 Req clients, 100 messages/s, soak/last-result.md\n",
    );
    return;
  }
  const num = (name: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const x = Number(v);
    if (!Number.isFinite(x) || x <= 0) throw new Error(`--${name}: expected a positive number (got ${JSON.stringify(v)})`);
    return x;
  };
  const opts: SoakOptions = {
    duration: num("duration", values.duration, 60),
    clients: Math.round(num("clients", values.clients, 1000)),
    reqClients: Math.round(num("req-clients", values["req-clients"], 20)),
    rate: num("rate", values.rate, 100),
    progress: (l) => process.stderr.write(`soak: ${l}\n`),
  };
  const r = await runSoak(opts);
  process.stdout.write(`${summary(r)}\n`);
  const out = values.out ?? join(here, "last-result.md");
  writeFileSync(out, markdown(r));
  const shown = relative(process.cwd(), out);
  process.stdout.write(`soak: wrote ${shown.startsWith("..") ? out : shown}\n`);
  process.exitCode = r.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
