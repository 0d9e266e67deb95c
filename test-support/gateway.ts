/**
 * Gateway test helpers: start a gateway on a free loopback port with a silent
 * logger, read its metrics, and open raw WebSocket clients that record every
 * frame and the close code (to assert on bytes and codes, not on timing).
 */
import { pino } from "pino";
import { WebSocket } from "ws";
import { createGateway, type Gateway, type GatewayInput, type GatewayOptions } from "@spwire/gateway";

/** Start a gateway on ws://127.0.0.1:<free port> unless `listen` says otherwise; logs are dropped unless SPWIRE_TEST_LOG is set. */
export async function startGateway(input: Omit<GatewayInput, "listen"> & { listen?: string }, opts: GatewayOptions = {}): Promise<Gateway> {
  const logger = pino({ level: process.env.SPWIRE_TEST_LOG ?? "silent" });
  return createGateway({ listen: "ws://127.0.0.1:0", ...input } as GatewayInput, { logger, processMetrics: false, ...opts });
}

/** The http(s) base URL of a gateway: ws://h:p -> http://h:p. */
export function httpUrl(gw: Gateway): string {
  return gw.url.replace(/^ws/, "http");
}

/** One metric sample's value from the gateway's registry, e.g. metric(gw, "refusals_total", { route: "/feed", reason: "origin" }); 0 when absent. */
export async function metric(gw: Gateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await gw.metrics.render();
  const full = `spwire_gateway_${name}`;
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(full)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== full) continue;
    const have: Record<string, string> = {};
    for (const kv of (m[2] ?? "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) have[kv[1]!] = kv[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** A raw ws client: every binary frame it got, and how it closed. */
export interface RawClient {
  ws: WebSocket;
  frames: Buffer[];
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves when open (rejects if the upgrade failed). */
  opened: Promise<void>;
}

/** Open a raw WebSocket to `url` offering `protocol` (e.g. "pub.sp.nanomsg.org" for a SUB route) with optional headers (Origin, Authorization, Cookie). */
export function rawClient(url: string, protocol: string, headers: Record<string, string> = {}): RawClient {
  const ws = new WebSocket(url, protocol, { headers, perMessageDeflate: false });
  const frames: Buffer[] = [];
  ws.on("message", (d: Buffer, isBinary: boolean) => {
    if (isBinary) frames.push(Buffer.from(d));
  });
  ws.on("error", () => undefined);
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
  opened.catch(() => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
  });
  return { ws, frames, closed, opened };
}
