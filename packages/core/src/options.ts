/**
 * Socket options: names mirror nng's (camelCase), and this is the one table
 * of defaults. Times are milliseconds; `Infinity` means "no limit".
 */
import { SPError } from "./errors.js";

export interface SocketOptions {
  /** Open the socket raw: headers pass through untouched (nng's raw mode). */
  raw?: boolean;
  /** First reconnect delay. The dialer waits a random time in [d/2, d) and doubles d per failure. nng: `reconnect-time-min`. */
  reconnectMinTime?: number;
  /** Cap for the reconnect delay; 0 keeps it at reconnectMinTime (nng's behaviour). nng: `reconnect-time-max`. */
  reconnectMaxTime?: number;
  /** Largest message accepted from a peer, in bytes, checked before buffering; 0 = no limit. nng: `recv-size-max`. */
  recvMaxSize?: number;
  /** Default limit for `send()`. nng: `send-timeout`. */
  sendTimeout?: number;
  /** Default limit for `recv()`. nng: `recv-timeout`. */
  recvTimeout?: number;
  /** Messages the socket holds for `recv()`. nng: `recv-buffer`. */
  recvBuffer?: number;
  /** Messages each pipe may hold while the transport is busy. nng: `send-buffer`. */
  sendBuffer?: number;
  /** Deadline for a transport handshake (SP header on tcp, HTTP upgrade on ws). */
  handshakeTimeout?: number;
  /** REQ: resend an unanswered request after this long, same id; Infinity or 0 disables. nng: `req:resend-time`. */
  resendTime?: number;
  /** SURVEYOR: how long a survey accepts answers. nng: `surveyor:survey-time`. */
  surveyTime?: number;
  /** Most hops (backtrace words, pair1 hop count) a message may carry. nng: `ttl-max`. */
  ttlMax?: number;
}

export type ResolvedOptions = Required<SocketOptions>;

/** The defaults, in one place. Where they differ from nng 1.5.2, the README says why. */
export const defaults: ResolvedOptions = {
  raw: false,
  reconnectMinTime: 100, // nng 1000; browsers reconnect faster and back off instead
  reconnectMaxTime: 30_000, // nng 0 (no growth); a restarted gateway should not meet a thundering herd
  recvMaxSize: 1024 * 1024, // nng 1.5.2: unlimited; nanomsg and mangos: 1 MiB
  sendTimeout: Infinity,
  recvTimeout: Infinity,
  recvBuffer: 128,
  sendBuffer: 16,
  handshakeTimeout: 10_000,
  resendTime: 60_000,
  surveyTime: 1_000,
  ttlMax: 8,
};

/** The options counted in bytes or messages (whole numbers); every other number is a time. */
const COUNTS = ["recvMaxSize", "recvBuffer", "sendBuffer", "ttlMax"];

/** Check a time argument (ms): a non-negative number or Infinity. Throws EINVAL with the name. */
export function checkTime(name: string, v: unknown): number {
  if (typeof v !== "number" || Number.isNaN(v) || v < 0) {
    throw new SPError("EINVAL", `${name} must be a non-negative number of milliseconds or Infinity, got ${String(v)}`);
  }
  return v;
}

/** Merge user options over the defaults and validate them. Unknown keys are refused. */
export function resolveOptions(user: Record<string, unknown> = {}, protocolDefaults: Partial<ResolvedOptions> = {}): ResolvedOptions {
  const out: Record<string, unknown> = { ...defaults, ...protocolDefaults };
  for (const [k, v] of Object.entries(user)) {
    const kind = typeof (defaults as unknown as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (kind === "boolean") out[k] = Boolean(v);
    else if (kind !== "number") throw new SPError("EINVAL", `unknown socket option "${k}"`);
    else if (!COUNTS.includes(k)) out[k] = checkTime(k, v);
    else if (Number.isInteger(v) && (v as number) >= (k === "ttlMax" ? 1 : 0) && (k !== "ttlMax" || (v as number) < 256)) out[k] = v;
    else throw new SPError("EINVAL", `${k} must be ${k === "ttlMax" ? "1..255" : "a non-negative integer"}, got ${String(v)}`);
  }
  return out as ResolvedOptions;
}
