#!/usr/bin/env node
/**
 * spcat: a command line SP peer whose stdout is byte-identical to nngcat
 * 1.5.2's for the same exchange, options and format, and whose exit codes and
 * error lines are nngcat's too. The facts it copies, and the few places it
 * deliberately does not, are in NNGCAT-NOTES.md.
 *
 * Shape: args.ts turns argv into a Config; the protocol table below says how
 * to open each protocol's socket and which of the four loops drives it (the
 * same four nngcat has: receive, respond, send, send-then-receive). Adding
 * push/pull/surveyor/respondent/pair/bus is one row each.
 */
import { readFileSync } from "node:fs";
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import { Pub, Rep, Req, SPError, Sub, nodeTransports, type Message } from "@spwire/node";
import { helpText, parseCommandLine, UsageError, type Config, type ProtocolName } from "./args.js";
import { formatMessage } from "./format.js";

/** What the loops need from a socket; every spwire socket class has this shape. */
interface CliSocket {
  dial(url: string, opts: { failFast: boolean }): PromiseLike<void>;
  listen(url: string): Promise<{ readonly url: string }>;
  send(data: Uint8Array): Promise<void>;
  recv(opts?: { timeout?: number }): Promise<Message>;
  close(): Promise<void>;
}

interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The options spcat gives every socket. */
interface SocketSettings {
  sendTimeout: number;
  recvTimeout: number;
  recvMaxSize: number;
  logger: Logger;
  transports: ReturnType<typeof nodeTransports>;
}

/** An error that ends spcat with nngcat's line on stderr and exit code 1. */
class Fatal extends Error {
  override readonly name = "Fatal";
}

function fatal(message: string): never {
  throw new Fatal(message);
}

/** Where message bodies and verbose lines go. */
interface Output {
  message(body: Uint8Array): void;
  line(text: string): void;
}

type Loop = (s: CliSocket, cfg: Config, out: Output) => Promise<void>;

interface ProtocolRow {
  open(settings: SocketSettings, cfg: Config): CliSocket;
  run: Loop;
}

// nngcat's strerror texts for spwire's error codes. EPEER has no nng code of its own:
// nng reports a peer of the wrong protocol as a protocol error.
const nngErrorText: Readonly<Record<string, string>> = {
  EINVAL: "Invalid argument",
  ETIMEDOUT: "Timed out",
  ECONNREFUSED: "Connection refused",
  ECLOSED: "Object closed",
  EAGAIN: "Try again",
  ENOTSUP: "Not supported",
  EADDRINUSE: "Address in use",
  ESTATE: "Incorrect state",
  EPROTO: "Protocol error",
  EPEER: "Protocol error",
  EADDRINVAL: "Address invalid",
  EPERM: "Permission denied",
  EMSGSIZE: "Message too large",
  ECONNRESET: "Connection reset",
  ECONNSHUT: "Connection shutdown",
  ECRYPTO: "Cryptographic error",
};

function errorText(err: unknown): string {
  if (err instanceof SPError) return nngErrorText[err.code] ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

function hasCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof SPError && codes.includes(err.code);
}

const now = (): number => performance.now();

/** True when this send/receive round is the last; nngcat stops on --count, or after one round when neither --count nor --interval is given. */
function lastRound(cfg: Config, rounds: number): boolean {
  return cfg.count > 0 ? rounds >= cfg.count : cfg.interval === undefined;
}

/** Sleep out the rest of the interval that began at `start`; with no interval, just let I/O run. */
async function pace(cfg: Config, start: number): Promise<void> {
  const left = cfg.interval === undefined ? 0 : cfg.interval - (now() - start);
  if (left > 0) await sleep(left);
  else await yieldToEventLoop(); // back-to-back sends must still let the pipes write
}

/** nngcat sleeps this long after its last send before exiting, so queued messages can leave. */
const LINGER_MS = 200;

/** Receive and print until --count messages, a receive timeout, or (REQ) no request outstanding. All of those exit 0. */
const recvLoop: Loop = async (s, cfg, out) => {
  for (let n = 0; cfg.count === 0 || n < cfg.count; n++) {
    let m: Message;
    try {
      m = await s.recv();
    } catch (err) {
      if (hasCode(err, "ETIMEDOUT", "ESTATE")) return;
      fatal(`Receive error: ${errorText(err)}`);
    }
    out.message(m.body);
  }
};

/** REP with --data: print each request, answer it with the data. Here even a receive timeout is fatal, as in nngcat. */
const respondLoop: Loop = async (s, cfg, out) => {
  const data = cfg.data!;
  for (let n = 1; ; n++) {
    let m: Message;
    try {
      m = await s.recv();
    } catch (err) {
      fatal(`Receive error: ${errorText(err)}`);
    }
    out.message(m.body);
    try {
      await s.send(data);
    } catch (err) {
      fatal(`Send error: ${errorText(err)}`);
    }
    if (cfg.count > 0 && n >= cfg.count) break;
  }
  await sleep(LINGER_MS);
};

/** PUB: send the data once, --count times, or every --interval; never receives. */
const sendLoop: Loop = async (s, cfg) => {
  const data = cfg.data!;
  if (cfg.delay > 0) await sleep(cfg.delay);
  for (let n = 1; ; n++) {
    const start = now();
    try {
      await s.send(data);
    } catch (err) {
      fatal(`Send error: ${errorText(err)}`);
    }
    if (lastRound(cfg, n)) break;
    await pace(cfg, start);
  }
  await sleep(LINGER_MS);
};

/**
 * REQ: send, then print what comes back within the round. With neither
 * --interval nor --count it is one request answered within --recv-timeout.
 * With --interval each round receives until the interval (capped by
 * --recv-timeout, 0 included) runs out; REQ gets one reply per request and
 * then "no request outstanding" ends the round early.
 */
const sendRecvLoop: Loop = async (s, cfg, out) => {
  const data = cfg.data!;
  if (cfg.delay > 0) await sleep(cfg.delay);
  for (let n = 1; ; n++) {
    const start = now();
    try {
      await s.send(data);
    } catch (err) {
      fatal(`Send error: ${errorText(err)}`);
    }
    if (cfg.interval === undefined && cfg.count === 0) {
      await recvLoop(s, cfg, out);
      return;
    }
    for (;;) {
      let limit: number | undefined;
      if (cfg.interval !== undefined) {
        limit = Math.max(0, cfg.interval - (now() - start));
        if (cfg.recvTimeout !== undefined) limit = Math.min(limit, cfg.recvTimeout);
      }
      // Without --interval (--count alone) nngcat 1.5.2 computes a negative timeout and usually
      // dies with "Cannot set recv timeout"; spcat waits as long as --recv-timeout allows instead.
      // See NNGCAT-NOTES.md.
      let m: Message;
      try {
        m = await s.recv(limit === undefined ? {} : { timeout: limit });
      } catch (err) {
        if (hasCode(err, "ETIMEDOUT", "ESTATE")) break;
        fatal(`Cannot receive: ${errorText(err)}`);
      }
      out.message(m.body);
    }
    if (lastRound(cfg, n)) break;
    await pace(cfg, start);
  }
};

/** The protocols spcat runs: how to open each, and which loop drives it. */
const protocolTable: Partial<Record<ProtocolName, ProtocolRow>> = {
  req0: { open: (o) => new Req(o), run: sendRecvLoop },
  rep0: { open: (o) => new Rep(o), run: (s, cfg, out) => (cfg.data === undefined ? recvLoop : respondLoop)(s, cfg, out) },
  pub0: { open: (o) => new Pub(o), run: sendLoop },
  sub0: {
    open: (o, cfg) => {
      const sub = new Sub(o);
      for (const t of cfg.topics) sub.subscribe(t);
      return sub;
    },
    run: recvLoop,
  },
};

const supported = new Set(Object.keys(protocolTable) as ProtocolName[]);

const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** With --verbose, spwire's own log lines go to stderr; stdout stays exactly nngcat's. */
const stderrLogger: Logger = {
  debug: (m, f) => logLine("debug", m, f),
  info: (m, f) => logLine("info", m, f),
  warn: (m, f) => logLine("warn", m, f),
  error: (m, f) => logLine("error", m, f),
};

function logLine(level: string, msg: string, fields?: Record<string, unknown>): void {
  let extra = "";
  if (fields !== undefined) {
    try {
      extra = ` ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : typeof v === "bigint" ? String(v) : v))}`;
    } catch (err) {
      // A log line must never break the socket that wrote it: say what could not be shown instead.
      extra = ` (fields not printable: ${err instanceof Error ? err.message : String(err)})`;
    }
  }
  process.stderr.write(`spcat ${level}: ${msg}${extra}\n`);
}

/** The scheme of an nng URL, or undefined when it has no "://" (nng: invalid argument). */
function schemeOf(url: string): string | undefined {
  const i = url.indexOf("://");
  return i < 0 ? undefined : url.slice(0, i).toLowerCase();
}

/** Host and port text of a tcp or ws URL (a tcp URL has no path); port is undefined when absent. */
function hostPort(url: string): { host: string; port: string | undefined } {
  const authority = url.slice(url.indexOf("://") + 3).split("/")[0]!;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority);
  return { host: m?.[1] ?? authority, port: m?.[2] };
}

/**
 * The URL problems nng 1.5.2 reports when it creates a dialer or listener,
 * before any I/O ("Unable to create ..."), as opposed to when it starts one
 * ("Unable to dial on ..."). Undefined when the URL passes this stage.
 */
function createError(mode: "dial" | "listen", url: string, schemes: readonly string[]): string | undefined {
  const scheme = schemeOf(url);
  if (scheme === undefined) return "Invalid argument";
  if (!schemes.includes(scheme)) return "Not supported";
  const tcp = /^tcp[46]?$/.test(scheme);
  if (!tcp && !/^wss?[46]?$/.test(scheme)) return undefined;
  const { host, port } = hostPort(url);
  // A dialer needs a host (and tcp a port; ws defaults to 80); a tcp listener needs at least one of them.
  if (mode === "dial" && (host === "" || (tcp && port === undefined))) return "Address invalid";
  if (mode === "listen" && tcp && host === "" && port === undefined) return "Address invalid";
  return undefined;
}

/**
 * What nngcat -v prints for a listener. nng 1.5.2 reports a tcp listener's
 * URL with the bound port filled in (and a `*` host as empty), but a ws
 * listener's URL exactly as given, port 0 included.
 */
function listenerDisplayUrl(given: string, bound: string): string {
  if (!/^tcp[46]?$/.test(schemeOf(given) ?? "")) return given;
  const m = /^([^:]+:\/\/)(.*):(\d+)$/.exec(given);
  if (m === null) return given;
  let port: string;
  try {
    port = new URL(bound).port;
  } catch {
    return given; // the transport's own URL did not parse: show what the user gave
  }
  return `${m[1]}${m[2] === "*" ? "" : m[2]}:${port || m[3]}`;
}

/** Dial and listen on every address, in order, failing like nngcat on the first that cannot. */
async function attach(s: CliSocket, cfg: Config, schemes: readonly string[], out: Output): Promise<void> {
  const tlsGiven = cfg.insecure || cfg.cacert !== undefined || cfg.cert !== undefined || cfg.key !== undefined;
  for (const { mode, url } of cfg.addresses) {
    const problem = createError(mode, url, schemes);
    if (problem !== undefined) fatal(`Unable to create ${mode === "dial" ? "dialer" : "listener"} for ${url}: ${problem}`);
    // nngcat applies TLS options only to endpoints that have TLS; spcat has no TLS settings to apply yet.
    const scheme = schemeOf(url)!;
    if (tlsGiven && (scheme.startsWith("wss") || scheme.startsWith("tls+"))) fatal("Unable to configure TLS: Not supported");
    if (mode === "dial") {
      let d: PromiseLike<void>;
      try {
        d = s.dial(url, { failFast: !cfg.async });
      } catch (err) {
        // nng checks the rest of a dial URL (port range, port digits) when the dial starts.
        fatal(`Unable to dial on ${url}: ${errorText(err)}`);
      }
      if (!cfg.async) {
        try {
          await d;
        } catch (err) {
          fatal(`Unable to dial on ${url}: ${errorText(err)}`);
        }
      }
      // With --async nngcat says "Connected" before anything is connected; so do we.
      if (cfg.verbose) out.line(`Connected to: ${url}\n`);
    } else {
      let pending: Promise<{ readonly url: string }>;
      try {
        pending = s.listen(url);
      } catch (err) {
        fatal(`Unable to create listener for ${url}: ${errorText(err)}`);
      }
      let l: { readonly url: string };
      try {
        l = await pending;
      } catch (err) {
        fatal(`Unable to listen on ${url}: ${errorText(err)}`);
      }
      if (cfg.verbose) out.line(`Listening at: ${listenerDisplayUrl(url, l.url)}\n`);
    }
  }
}

function stdoutOutput(cfg: Config): Output {
  return {
    message(body) {
      const bytes = formatMessage(cfg.format, body);
      if (bytes.length > 0) process.stdout.write(bytes);
    },
    line(text) {
      process.stdout.write(text);
    },
  };
}

/** Resolves when everything written to stdout so far has been handed to the OS. */
function flushStdout(): Promise<void> {
  return new Promise((resolve) => process.stdout.write("", () => resolve()));
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function run(cfg: Config): Promise<void> {
  const row = protocolTable[cfg.protocol];
  if (row === undefined) fatal("Protocol not supported.");
  const transports = nodeTransports();
  const settings: SocketSettings = {
    // nngcat only sets a timeout that is above zero: "--recv-timeout 0" means no limit.
    sendTimeout: cfg.sendTimeout !== undefined && cfg.sendTimeout > 0 ? cfg.sendTimeout : Infinity,
    recvTimeout: cfg.recvTimeout !== undefined && cfg.recvTimeout > 0 ? cfg.recvTimeout : Infinity,
    recvMaxSize: cfg.recvMaxSize ?? 0, // nng 1.5.2 has no limit unless -Z is given
    logger: cfg.verbose ? stderrLogger : quietLogger,
    transports,
  };
  let s: CliSocket;
  try {
    s = row.open(settings, cfg);
  } catch (err) {
    fatal(`Unable to open socket: ${errorText(err)}`);
  }
  const out = stdoutOutput(cfg);
  await attach(
    s,
    cfg,
    transports.flatMap((t) => t.schemes),
    out,
  );
  await row.run(s, cfg, out);
  // nngcat exits without closing; we close so ws peers get a close frame, but never wait long for it.
  await Promise.race([s.close(), sleep(1000)]);
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const cmd = parseCommandLine(argv);
    if (cmd.kind === "help") {
      process.stdout.write(helpText(supported));
      return 1; // nngcat's help exits 1 too
    }
    if (cmd.kind === "version") {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    await run(cmd.config);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof Fatal) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  // nngcat dies of SIGPIPE when its reader goes away; Node ignores SIGPIPE, so
  // exit with the status a shell reports for that death.
  if (err.code === "EPIPE") process.exit(141);
  throw err;
});

main(process.argv.slice(2)).then(
  async (code) => {
    await flushStdout();
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`spcat: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
