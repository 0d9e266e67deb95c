/**
 * The live dashboard: a `Sub` of the browser build (@spwire/core/browser) dialed to the gateway's `/feed` route with
 * `{ gateway: true }`, so the topic picker's choice travels in the URL and the
 * gateway sends this page only the chosen topics.
 *
 * Hundreds of messages per second stay smooth because a message never
 * touches the DOM: it updates counters and a bounded ring per chart, and at
 * most one animation frame later the frame paints whatever changed. Rates and
 * delays are computed twice a second. In a hidden tab nothing paints at all
 * (no animation frames) and the rings keep memory bounded.
 *
 * Message format: see examples/feed/feed.ts (`<topic> <json>`, `t` = send
 * time in ms). Plain numbers (`cpu.web-1 42`, e.g. from nngcat --pub) are
 * accepted too, stamped with the time they arrived.
 *
 * For tests, `window.__dashboard` holds live counters (see DashboardState).
 */
import { Sub } from "@spwire/core/browser";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { watchLink, type LinkView } from "./link.js";
import { SeriesRing } from "./ring.js";

/** What tests read from `window.__dashboard`; updated per message, not per frame. */
export interface DashboardState {
  /** Messages delivered to the page. */
  received: number;
  /** Messages by topic family: the topic up to its first "." (cpu, mem, net, alerts). */
  byTopic: Record<string, number>;
  /** "connecting" | "connected" | "reconnecting". */
  state: string;
  /** Messages per second, over the last stats period. */
  rate: number;
  /** Mean end-to-end delay (ms) over the last stats period; -1 before any. */
  delayMs: number;
  /** Topic families currently chosen in the picker. */
  topics: string[];
}

declare global {
  interface Window {
    __dashboard?: DashboardState;
  }
}

const TOPICS = ["cpu", "mem", "net", "alerts"] as const;
type Topic = (typeof TOPICS)[number];
/** Rates and delays are computed over this period (ms). */
const STATS_PERIOD = 500;
/**
 * Charts redraw at most this often (ms). ~30 fps looks smooth for data that
 * moves in ticks; what a redraw costs is mostly rasterizing the canvases, not
 * JavaScript, and at 60 fps a fast feed (--rate 100, ~900 msgs/s) kept a
 * software-rendered headless Chromium busy for most of each frame.
 */
const CHART_EVERY = 33;
/** Alerts kept in the list. */
const MAX_ALERTS = 50;
const RING = { capacity: 4096, windowSec: 60, maxSeries: 8 };
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#4b5563"];

const $ = <T extends HTMLElement = HTMLElement>(testid: string): T => {
  const el = document.querySelector<T>(`[data-testid="${testid}"]`);
  if (el === null) throw new Error(`the page has no element with data-testid="${testid}"`);
  return el;
};

// ---------------------------------------------------------------------------
// State. Messages write here; frames read it.

const state: DashboardState = {
  received: 0,
  byTopic: { cpu: 0, mem: 0, net: 0, alerts: 0 },
  state: "connecting",
  rate: 0,
  delayMs: -1,
  topics: [],
};
window.__dashboard = state;

interface Alert {
  t: number;
  host: string;
  msg: string;
}

const period = { at: performance.now(), received: 0, byTopic: {} as Record<string, number>, delaySum: 0, delayN: 0, delayMax: 0 };
const topicRates: Record<string, number> = {};
let delayMax = 0;
let pendingAlerts: Alert[] = [];
let link: LinkView = { state: "connecting", attempts: 0, last: "" };

// ---------------------------------------------------------------------------
// Charts.

interface Chart {
  key: "cpu" | "mem" | "net";
  el: HTMLElement;
  ring: SeriesRing;
  unit: string;
  range: [number, number] | undefined;
  plot: uPlot | undefined;
  /** New rows since the last paint. */
  dirty: boolean;
  /** A new series appeared: the plot is rebuilt at the next paint. */
  rebuild: boolean;
}

const charts: Record<Chart["key"], Chart> = {
  cpu: chart("cpu", "%", [0, 100]),
  mem: chart("mem", "%", [0, 100]),
  net: chart("net", " MB/s", undefined),
};

function chart(key: Chart["key"], unit: string, range: [number, number] | undefined): Chart {
  return { key, el: $(`chart-${key}`), ring: new SeriesRing(RING), unit, range, plot: undefined, dirty: false, rebuild: false };
}

/** The plot area's size: its box, less the legend uPlot puts below the canvas. */
function plotSize(c: Chart): { width: number; height: number } {
  const legend = c.plot?.root.querySelector<HTMLElement>(".u-legend")?.offsetHeight ?? 28;
  return { width: Math.max(200, c.el.clientWidth), height: Math.max(120, c.el.clientHeight - legend) };
}

function build(c: Chart): void {
  const size = plotSize(c);
  c.plot?.destroy();
  const unit = c.unit;
  const opts: uPlot.Options = {
    ...size,
    series: [
      {},
      ...c.ring.names.map((name, i) => ({
        label: name,
        stroke: COLORS[i % COLORS.length]!,
        width: 1.5,
        spanGaps: true,
        points: { show: false },
      })),
    ],
    scales: { x: { time: true }, y: c.range === undefined ? { auto: true } : { auto: false, range: c.range } },
    axes: [{}, { size: 56, values: (_u, ticks) => ticks.map((v) => (unit === "%" ? `${v}%` : String(v))) }],
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },
  };
  c.plot = new uPlot(opts, c.ring.snapshot(), c.el);
  c.rebuild = false;
  c.dirty = false;
}

new ResizeObserver(() => {
  for (const c of Object.values(charts)) c.plot?.setSize(plotSize(c));
}).observe($("charts"));

// ---------------------------------------------------------------------------
// Messages.

function onMessage(body: string, now: number): void {
  state.received++;
  const sp = body.indexOf(" ");
  const topic = sp < 0 ? body : body.slice(0, sp);
  const dot = topic.indexOf(".");
  const family = dot < 0 ? topic : topic.slice(0, dot);
  const name = dot < 0 ? "" : topic.slice(dot + 1);
  state.byTopic[family] = (state.byTopic[family] ?? 0) + 1;
  period.byTopic[family] = (period.byTopic[family] ?? 0) + 1;

  const rest = sp < 0 ? "" : body.slice(sp + 1);
  let data: { t?: unknown; v?: unknown; rx?: unknown; host?: unknown; msg?: unknown };
  try {
    const parsed: unknown = JSON.parse(rest);
    data = typeof parsed === "number" ? { v: parsed } : typeof parsed === "object" && parsed !== null ? parsed : {};
  } catch {
    // Not JSON: show it as an alert's text if it is one, otherwise it only counts.
    data = { msg: rest };
  }
  const t = typeof data.t === "number" ? data.t : now;
  if (typeof data.t === "number") {
    const d = now - data.t;
    period.delaySum += d;
    period.delayN++;
    if (d > period.delayMax) period.delayMax = d;
  }
  if (family === "alerts") {
    pendingAlerts.push({ t, host: typeof data.host === "string" ? data.host : name, msg: String(data.msg ?? rest) });
    if (pendingAlerts.length > MAX_ALERTS) pendingAlerts = pendingAlerts.slice(-MAX_ALERTS);
  } else if (family === "cpu" || family === "mem" || family === "net") {
    const v = family === "net" ? (typeof data.rx === "number" ? data.rx / 1e6 : data.v) : data.v;
    if (typeof v === "number" && Number.isFinite(v)) {
      const c = charts[family];
      if (c.ring.put(name || family, t / 1000, v)) c.rebuild = true;
      c.dirty = true;
    }
  }
  schedule();
}

/** Every STATS_PERIOD: turn the period's counts into rates and delays. */
function stats(): void {
  const now = performance.now();
  const dt = (now - period.at) / 1000;
  state.rate = Math.round((state.received - period.received) / dt);
  for (const t of TOPICS) topicRates[t] = Math.round((period.byTopic[t] ?? 0) / dt);
  if (period.delayN > 0) {
    state.delayMs = period.delaySum / period.delayN;
    delayMax = period.delayMax;
  }
  Object.assign(period, { at: now, received: state.received, byTopic: {}, delaySum: 0, delayN: 0, delayMax: 0 });
  schedule();
}
setInterval(() => {
  // A hidden tab paints nothing; its rates are computed when it is shown again.
  if (!document.hidden) stats();
}, STATS_PERIOD);

// ---------------------------------------------------------------------------
// Painting: at most once per animation frame, whatever the message rate.

let queued = false;
let chartsPaintedAt = -Infinity;
function schedule(): void {
  if (queued) return;
  queued = true;
  requestAnimationFrame(paint);
}

const el = {
  badge: $("badge"),
  attempts: $("attempts"),
  last: $("last-close"),
  count: $("count"),
  rate: $("rate"),
  delay: $("delay"),
  delayMax: $("delay-max"),
  alerts: $<HTMLOListElement>("alerts"),
  topicRates: Object.fromEntries(TOPICS.map((t) => [t, $(`topic-rate-${t}`)])) as Record<Topic, HTMLElement>,
};

/** Write only what changed: an unchanged text costs no layout. */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

function paint(): void {
  queued = false;
  setText(el.badge, link.state);
  el.badge.dataset.state = link.state;
  setText(el.attempts, String(link.attempts));
  setText(el.last, link.last);
  setText(el.count, String(state.received));
  setText(el.rate, String(state.rate));
  setText(el.delay, state.delayMs < 0 ? "–" : state.delayMs.toFixed(1));
  setText(el.delayMax, state.delayMs < 0 ? "–" : delayMax.toFixed(0));
  for (const t of TOPICS) setText(el.topicRates[t], `${topicRates[t] ?? 0}/s`);
  const now = performance.now();
  if (now - chartsPaintedAt >= CHART_EVERY) {
    chartsPaintedAt = now;
    for (const c of Object.values(charts)) {
      if (c.rebuild) build(c);
      else if (c.dirty && c.plot !== undefined) c.plot.setData(c.ring.snapshot());
      c.dirty = false;
    }
  } else if (Object.values(charts).some((c) => c.dirty || c.rebuild)) {
    schedule();
  }
  if (pendingAlerts.length > 0) {
    const items = pendingAlerts.map(alertItem);
    pendingAlerts = [];
    el.alerts.prepend(...items.reverse());
    while (el.alerts.childElementCount > MAX_ALERTS) el.alerts.lastElementChild!.remove();
    el.alerts.dataset.empty = "false";
  }
}

function alertItem(a: Alert): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.testid = "alert";
  const time = document.createElement("time");
  time.textContent = new Date(a.t).toLocaleTimeString("en-GB");
  const host = document.createElement("b");
  host.textContent = a.host;
  li.append(time, host, ` ${a.msg}`);
  return li;
}

// ---------------------------------------------------------------------------
// The socket.

const sub = new Sub({ recvBuffer: 4096 });
watchLink(sub, (v) => {
  link = { ...v };
  state.state = v.state;
  schedule();
});

const subscribed = new Set<Topic>();
for (const t of TOPICS) {
  const box = $<HTMLInputElement>(`topic-${t}`);
  const apply = (): void => {
    if (box.checked && !subscribed.has(t)) sub.subscribe(`${t}.`);
    if (!box.checked && subscribed.has(t)) sub.unsubscribe(`${t}.`);
    if (box.checked) subscribed.add(t);
    else subscribed.delete(t);
    state.topics = TOPICS.filter((x) => subscribed.has(x));
    // Dim the topic's panel: it stops moving because nothing of it arrives any more.
    document.querySelector(`[data-topic="${t}"]`)?.classList.toggle("off", !box.checked);
  };
  box.addEventListener("change", apply);
  // Subscribed before the dial, so the first URL already carries the choice.
  apply();
}

const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/feed`;
$("url").textContent = url;
sub.dial(url, { gateway: true });
void (async () => {
  for await (const m of sub) onMessage(m.text(), Date.now());
})().catch((err: unknown) => {
  console.error("dashboard: receiving stopped", err);
  $("last-close").textContent = `receiving stopped: ${String(err)}`;
});
