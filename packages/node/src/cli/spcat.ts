#!/usr/bin/env node
/**
 * spcat: a command line SP peer whose stdout is byte-identical to nngcat
 * 1.5.2's for the same exchange, options and format, and whose exit codes and
 * error lines are nngcat's too. The facts it copies, and the few places it
 * deliberately does not, are in NNGCAT-NOTES.md.
 *
 * Shape: args.ts turns argv into a Config; endpoints.ts knows the
 * transports, URL checks and TLS material; the protocol table below says how
 * to open each protocol's socket and which of the four loops drives it (the
 * same four nngcat has: receive, respond, send, send-then-receive).
 */
import { readFileSync } from "node:fs";
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from "node:timers/promises";
import {
  Bus,
  Pair0,
  Pair1,
  Pub,
  Pull,
  Push,
  Rep,
  Req,
  Respondent,
  SPError,
  Sub,
  Surveyor,
  type Message,
  type Transport,
} from "@spwire/node";
import { helpText, parseCommandLine, UsageError, type Config, type ProtocolName } from "./args.js";
import { cliTransports, createError, ipcDirMissing, isTlsScheme, listenerDisplayUrl, schemeOf, startError, tlsSetup } from "./endpoints.js";
import { formatMessage } from "./format.js";

/** What the loops need from a socket; every spwire socket class has this shape. */
interface CliSocket {
  dial(url: string, opts: { failFast: boolean; [transportOption: string]: unknown }): PromiseLike<void>;
  listen(url: string, opts?: Record<string, unknown>): Promise<{ readonly url: string }>;
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
  transports: Transport[];
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

/**
 * The Node error code (errno, OpenSSL verification result) of what caused
 * `err`, if any: spwire keeps the underlying error as `cause`; the ws
 * library wraps its own in an event's `error`.
 */
function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; typeof e === "object" && e !== null && depth < 6; depth++) {
    const { code, cause, error } = e as { code?: unknown; cause?: unknown; error?: unknown };
    if (typeof code === "string" && !(e instanceof SPError)) return code;
    e = cause ?? error;
  }
  return undefined;
}

/** OpenSSL's "this certificate is not trusted" results (and Node's name check), as Node reports them. */
const notTrusted: ReadonlySet<string> = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * nng's text for an error. `listen`: it came from starting a listener.
 * `trustAnchors` says whether the endpoint had
 * --cacert: nng 1.5.2 reports an untrusted listener certificate as "Peer
 * could not be authenticated" when it has no CA at all, and as
 * "Cryptographic error" when the CA given does not fit.
 */
function errorText(err: unknown, ctx: { listen?: boolean; trustAnchors?: boolean } = {}): string {
  if (err instanceof SPError) {
    const cause = causeCode(err);
    // An ipc listener in a directory that does not exist: NNG_ENOENT. (A dial there is "Connection refused".)
    if (ctx.listen === true && cause === "ENOENT") return "Entry not found";
    if (err.code === "ECRYPTO" && ctx.trustAnchors === false && cause !== undefined && notTrusted.has(cause)) {
      return "Peer could not be authenticated";
    }
    return nngErrorText[err.code] ?? err.message;
  }
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

/**
 * Receive and print until --count messages, a receive timeout, (REQ) no
 * request outstanding, or (SURVEYOR) the survey is over. All of those exit 0.
 */
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

/** REP/RESPONDENT with --data: print each request, answer it with the data. Here even a receive timeout is fatal, as in nngcat. */
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

/** PUB, PUSH: send the data once, --count times, or every --interval; never receive. A PUSH send waits for a pull (--send-timeout). */
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
 * REQ, SURVEYOR, and PAIR/BUS with --data: send, then print what comes back
 * within the round. With neither --interval nor --count it is one send, then
 * receive until --recv-timeout (or, for REQ, the one reply; for SURVEYOR,
 * the end of the survey). With --interval each round receives until the
 * interval (capped by --recv-timeout, 0 included) runs out; REQ gets one
 * reply per request and then "no request outstanding" ends the round early,
 * a survey ends at its survey time.
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
      // dies with "Cannot set recv timeout"; spcat waits as long as --recv-timeout allows (a survey:
      // until it is over) instead. See NNGCAT-NOTES.md.
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

/** Print what comes in; with --data, answer each message with it (REP, RESPONDENT). */
const answerOrPrint: Loop = (s, cfg, out) => (cfg.data === undefined ? recvLoop : respondLoop)(s, cfg, out);

/** With --data, send and print what comes back (PAIR, BUS); without, only print. */
const sendRecvOrPrint: Loop = (s, cfg, out) => (cfg.data === undefined ? recvLoop : sendRecvLoop)(s, cfg, out);

/** The protocols spcat runs: how to open each, and which of nngcat's loops drives it. */
const protocolTable: Record<ProtocolName, ProtocolRow> = {
  req0: { open: (o) => new Req(o), run: sendRecvLoop },
  rep0: { open: (o) => new Rep(o), run: answerOrPrint },
  pub0: { open: (o) => new Pub(o), run: sendLoop },
  sub0: {
    open: (o, cfg) => {
      const sub = new Sub(o);
      for (const t of cfg.topics) sub.subscribe(t);
      return sub;
    },
    run: recvLoop,
  },
  push0: { open: (o) => new Push(o), run: sendLoop },
  pull0: { open: (o) => new Pull(o), run: recvLoop },
  // Each round's survey ends when the survey time (1 s, nng's default too) is over: recv then times out.
  surveyor0: { open: (o) => new Surveyor(o), run: sendRecvLoop },
  respondent0: { open: (o) => new Respondent(o), run: answerOrPrint },
  pair0: { open: (o) => new Pair0(o), run: sendRecvOrPrint },
  pair1: { open: (o) => new Pair1(o), run: sendRecvOrPrint },
  bus0: { open: (o) => new Bus(o), run: sendRecvOrPrint },
};

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

/** Dial and listen on every address, in order, failing like nngcat on the first that cannot. */
async function attach(s: CliSocket, cfg: Config, schemes: readonly string[], out: Output): Promise<void> {
  for (const { mode, url } of cfg.addresses) {
    const problem = createError(mode, url, schemes);
    if (problem !== undefined) fatal(`Unable to create ${mode === "dial" ? "dialer" : "listener"} for ${url}: ${problem}`);
    // nngcat configures TLS (--insecure, --cacert, --cert, --key) on every endpoint that has TLS, and only there.
    let opts: Record<string, unknown> = {};
    const tls = isTlsScheme(schemeOf(url)!);
    if (tls) {
      const setup = tlsSetup(mode, cfg);
      if (!setup.ok) fatal(`Unable to configure TLS: ${setup.reason}`);
      opts = setup.options;
    }
    const early = startError(url);
    if (early !== undefined) fatal(`Unable to ${mode === "dial" ? "dial" : "listen"} on ${url}: ${early}`);
    if (mode === "dial") {
      const ctx = { trustAnchors: !tls || cfg.insecure || cfg.cacert !== undefined };
      let d: PromiseLike<void>;
      try {
        d = s.dial(url, { ...opts, failFast: !cfg.async });
      } catch (err) {
        // nng checks the rest of a dial URL (port range, port digits) when the dial starts.
        fatal(`Unable to dial on ${url}: ${errorText(err, ctx)}`);
      }
      if (!cfg.async) {
        try {
          await d;
        } catch (err) {
          fatal(`Unable to dial on ${url}: ${errorText(err, ctx)}`);
        }
      }
      // With --async nngcat says "Connected" before anything is connected; so do we.
      if (cfg.verbose) out.line(`Connected to: ${url}\n`);
    } else {
      let pending: Promise<{ readonly url: string }>;
      try {
        pending = s.listen(url, opts);
      } catch (err) {
        fatal(`Unable to create listener for ${url}: ${errorText(err, { listen: true })}`);
      }
      let l: { readonly url: string };
      try {
        l = await pending;
      } catch (err) {
        fatal(`Unable to listen on ${url}: ${ipcDirMissing(url) ? "Entry not found" : errorText(err, { listen: true })}`);
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
  const transports = cliTransports();
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
      process.stdout.write(helpText());
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
