/**
 * The sample feed: a spwire Pub publishing plausible live metrics, the way a
 * C or Go service would publish on nng. Topics are body prefixes (SP has no
 * separate topic field): `cpu.<host> {json}`, `mem.<host> {json}`,
 * `net.<host> {json}`, `alerts. {json}`.
 *
 *   npm start                       # tcp://127.0.0.1:5555 and ws://127.0.0.1:8080/feed
 *   npx spcat --sub0 --dial tcp://127.0.0.1:5555 --subscribe cpu. --ascii
 */
import { Pub, type Listener } from "@spwire/node";

export interface FeedOptions {
  /** URLs to listen on. */
  listen: string[];
  /** Messages per second per topic (default 10). */
  rate?: number;
  hosts?: string[];
}

export interface Feed {
  readonly listeners: Listener[];
  readonly pub: Pub;
  close(): Promise<void>;
}

/** Start publishing; resolves once every URL is bound. */
export async function startFeed(opts: FeedOptions): Promise<Feed> {
  const pub = new Pub();
  const listeners: Listener[] = [];
  for (const u of opts.listen) listeners.push(await pub.listen(u));
  const hosts = opts.hosts ?? ["web-1", "web-2", "db-1"];
  const state = new Map(hosts.map((h, i) => [h, { cpu: 20 + i * 15, mem: 40 + i * 10, rx: 1e6 }]));
  const every = 1000 / (opts.rate ?? 10);
  let n = 0;
  const timer = setInterval(() => {
    const t = Date.now();
    for (const [h, s] of state) {
      s.cpu = clamp(s.cpu + (Math.random() - 0.5) * 8, 1, 99);
      s.mem = clamp(s.mem + (Math.random() - 0.5) * 2, 5, 95);
      s.rx = Math.max(0, s.rx + (Math.random() - 0.5) * 2e5);
      void pub.send(`cpu.${h} ${JSON.stringify({ t, v: round(s.cpu) })}`);
      void pub.send(`mem.${h} ${JSON.stringify({ t, v: round(s.mem) })}`);
      void pub.send(`net.${h} ${JSON.stringify({ t, rx: Math.round(s.rx) })}`);
      if (s.cpu > 90 && n % 10 === 0) void pub.send(`alerts. ${JSON.stringify({ t, host: h, msg: `cpu ${round(s.cpu)}%` })}`);
    }
    n++;
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
