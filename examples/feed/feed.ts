/**
 * The sample feed: a spwire Pub publishing plausible live metrics, the way a
 * C or Go service would publish on nng. It is the upstream `npm start` puts
 * behind the gateway's `/feed` route.
 *
 * Wire format (stable: the dashboard, the tests and anyone's nngcat read it).
 * SP has no topic field, so the topic is a body prefix: every message is
 * UTF-8 text `<topic> <json>`, one space between them.
 *
 *   cpu.<host>  {"t":1718000000123,"v":42.5}            percent busy
 *   mem.<host>  {"t":1718000000123,"v":61.2}            percent used
 *   net.<host>  {"t":1718000000123,"rx":1048576}        bytes per second received
 *   alerts.     {"t":1718000000123,"host":"web-1","msg":"cpu 93.1%"}
 *
 * `t` is the publisher's clock (ms since the Unix epoch) when the message was
 * made, the same for every message of one tick; a page subtracts it from its
 * own `Date.now()` for the end-to-end delay (meaningful when both clocks agree,
 * as on one machine). An alert is sent when a host's cpu rises above 90%, once
 * per crossing.
 *
 *   npx spcat --sub0 --dial tcp://127.0.0.1:5555 --subscribe cpu. --ascii
 */
import { Pub, type Listener } from "@spwire/node";

export interface FeedOptions {
  /** URLs to listen on (tcp://127.0.0.1:0 picks a free port; see `listeners[i].url`). */
  listen: string[];
  /** Messages per second per topic and host (default 10). */
  rate?: number;
  hosts?: string[];
}

export interface Feed {
  readonly listeners: Listener[];
  readonly pub: Pub;
  close(): Promise<void>;
}

const ALERT_ABOVE = 90;
/** A host's cpu spikes about once per this many ms, whatever the rate. */
const SPIKE_EVERY = 20_000;
/** Values drift back towards their host's baseline with this time constant (ms). */
const SETTLE = 3_000;

/** Start publishing; resolves once every URL is bound. */
export async function startFeed(opts: FeedOptions): Promise<Feed> {
  const rate = opts.rate ?? 10;
  if (!(rate > 0 && rate <= 1000)) throw new RangeError(`feed rate must be in (0, 1000] messages per second, got ${rate}`);
  const pub = new Pub();
  const listeners: Listener[] = [];
  try {
    for (const u of opts.listen) listeners.push(await pub.listen(u));
  } catch (err) {
    await pub.close();
    throw err;
  }
  const hosts = opts.hosts ?? ["web-1", "web-2", "db-1"];
  const state = new Map(
    hosts.map((h, i) => {
      const base = { cpu: 25 + i * 15, mem: 40 + i * 10, rx: 2e6 + i * 1e6 };
      return [h, { base, cpu: base.cpu, mem: base.mem, rx: base.rx, high: false }];
    }),
  );
  const every = 1000 / rate;
  // Per-tick pull towards the baseline and noise, scaled so the curves look the same at any rate.
  const pull = 1 - Math.exp(-every / SETTLE);
  const noise = Math.sqrt(every / 100);
  const timer = setInterval(() => {
    const t = Date.now();
    for (const [h, s] of state) {
      s.cpu = clamp(s.cpu + (s.base.cpu - s.cpu) * pull + (Math.random() - 0.5) * 8 * noise, 1, 99);
      if (Math.random() < every / SPIKE_EVERY) s.cpu = 92 + Math.random() * 7;
      s.mem = clamp(s.mem + (s.base.mem - s.mem) * pull + (Math.random() - 0.5) * 2 * noise, 5, 95);
      s.rx = Math.max(0, s.rx + (s.base.rx - s.rx) * pull + (Math.random() - 0.5) * 4e5 * noise);
      void pub.send(`cpu.${h} ${JSON.stringify({ t, v: round(s.cpu) })}`);
      void pub.send(`mem.${h} ${JSON.stringify({ t, v: round(s.mem) })}`);
      void pub.send(`net.${h} ${JSON.stringify({ t, rx: Math.round(s.rx) })}`);
      const high = s.cpu > ALERT_ABOVE;
      if (high && !s.high) void pub.send(`alerts. ${JSON.stringify({ t, host: h, msg: `cpu ${round(s.cpu)}%` })}`);
      s.high = high;
    }
  }, every);
  return {
    listeners,
    pub,
    async close() {
      clearInterval(timer);
      await pub.close();
    },
  };
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
const round = (v: number): number => Math.round(v * 10) / 10;
