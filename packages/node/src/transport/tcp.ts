/**
 * tcp:// (and tcp4://, tcp6://) for Node: dial and listen.
 *
 * Wire contract (sp-wire.md 3, verified against nngcat 1.5.2): right after
 * connecting, both sides send the 8-byte SP header (`00 53 50 00`, protocol
 * id, `00 00`) without waiting for the other's; then every message is a u64
 * big-endian length and the payload (SP header words + body).
 *
 * We are as strict as nng on the header (bad magic, version or reserved bytes
 * close the connection) and stricter on the peer's protocol id: nng's
 * transport accepts a wrong id and its SP layer drops the pipe a moment
 * later; we refuse it during the handshake with EPEER, so a wrong peer never
 * becomes a pipe. nng's handshake deadline is a fixed 10 s; ours is the
 * socket's `handshakeTimeout`, and on dial it also bounds the TCP connect.
 *
 * URLs: `tcp://host:port`, `tcp://[v6]:port`; a listener may use `*` (nng's
 * wildcard) for all interfaces and port 0 for any free port. Paths, queries
 * and credentials are refused, as nng refuses them.
 *
 * The stream machinery here (handshake, pipe, dial and accept loops) is also
 * what ipc:// and tls+tcp:// run on: they differ only in how a connection is
 * opened or wrapped ({@link dialStream}, {@link serveStream}, {@link TcpLayer}).
 */
import { connect, createServer, isIP, type Server, type Socket } from "node:net";
import {
  PipeInbox,
  SPError,
  type ErrorCode,
  type Transport,
  type TransportListener,
  type TransportOptions,
  type TransportPipe,
  type TransportPipeHandler,
} from "@spwire/core";
import { FrameDecoder, HANDSHAKE_SIZE, checkHandshake, encodeFramePrefix, encodeHandshake } from "./framing.js";

/**
 * How long a cleanly closed pipe waits for its queued bytes to leave before
 * the socket is destroyed anyway: a peer that stopped reading must not keep
 * our socket open forever.
 */
const CLOSE_LINGER_MS = 1000;

/** errno codes from Node's net module, as spwire codes. Anything else is ECONNRESET on a pipe, ECONNREFUSED on a dial. */
const errnoCodes: Readonly<Record<string, ErrorCode>> = {
  ECONNREFUSED: "ECONNREFUSED",
  EHOSTUNREACH: "ECONNREFUSED",
  ENETUNREACH: "ECONNREFUSED",
  EHOSTDOWN: "ECONNREFUSED",
  ENETDOWN: "ECONNREFUSED",
  ECONNRESET: "ECONNRESET",
  ECONNABORTED: "ECONNRESET",
  EPIPE: "ECONNRESET",
  ETIMEDOUT: "ETIMEDOUT",
  ENOTFOUND: "EADDRINVAL",
  EAI_AGAIN: "EADDRINVAL",
  EAI_FAIL: "EADDRINVAL",
  EADDRNOTAVAIL: "EADDRINVAL",
  EADDRINUSE: "EADDRINUSE",
  EACCES: "EPERM",
  EPERM: "EPERM",
};

/** OpenSSL's certificate verification results, as Node's tls module puts them in `err.code`. */
const x509Codes: ReadonlySet<string> = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "ERROR_IN_CRL_LAST_UPDATE_FIELD",
  "ERROR_IN_CRL_NEXT_UPDATE_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
]);

/**
 * True for a failure of TLS itself (tls+tcp://, wss://): an OpenSSL error
 * (bad record, alert from the peer, no shared cipher), a certificate the
 * verification refused, or Node's own TLS checks (ERR_TLS_CERT_ALTNAME_INVALID).
 */
export function isTlsFailure(err: unknown): boolean {
  const e = err as { code?: unknown; library?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  return (
    code.startsWith("ERR_SSL_") ||
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_OSSL_") ||
    x509Codes.has(code) ||
    typeof e?.library === "string" ||
    // A TLS record or alert error on a socket's read or write path comes as
    // errno EPROTO with OpenSSL's error line in the message (Node 20).
    (code === "EPROTO" && tlsReason(err) !== undefined)
  );
}

/** The readable part of an OpenSSL error: `reason`, or the field after "SSL routines:<function>:" in the message. */
function tlsReason(err: unknown): string | undefined {
  const e = err as { reason?: unknown; message?: unknown } | null;
  if (typeof e?.reason === "string" && e.reason !== "") return e.reason;
  const m = typeof e?.message === "string" ? /SSL routines:[^:]*:([^:]+)/.exec(e.message) : null;
  return m?.[1];
}

/**
 * A Node error from a stream socket (net or tls) as an SPError: errno codes
 * by the table above, TLS failures as ECRYPTO with OpenSSL's reason
 * ("self-signed certificate", "wrong version number"), anything else as
 * `fallback`. An SPError passes through unchanged.
 */
export function fromErrno(err: unknown, fallback: ErrorCode, what: string): SPError {
  if (err instanceof SPError) return err;
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  const tls = isTlsFailure(err);
  const code = (errno !== undefined ? errnoCodes[errno] : undefined) ?? (tls ? "ECRYPTO" : fallback);
  let detail = err instanceof Error ? err.message : String(err);
  if (tls) {
    // OpenSSL's message is "error:0A00010B:SSL routines::wrong version number"; give the readable part.
    detail = `TLS failed: ${tlsReason(err) ?? detail}`;
  }
  return new SPError(code, `${what}: ${detail}`, { cause: err });
}

/** `tcp://1.2.3.4:5`, `tcp://[::1]:5`. */
export function formatAddress(ip: string | undefined, port: number | undefined, scheme = "tcp"): string {
  const a = ip ?? "?";
  return `${scheme}://${a.includes(":") ? `[${a}]` : a}:${port ?? 0}`;
}

/** A deadline in ms, or undefined for none (0, negative, Infinity, NaN). */
export function deadline(ms: number): number | undefined {
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** Where a tcp (or tls+tcp) URL points. */
export interface TcpWhere {
  scheme: string;
  /** undefined: all interfaces (listen only). */
  host: string | undefined;
  port: number;
  family: 0 | 4 | 6;
  ipv6Only: boolean;
}

/**
 * Read a tcp URL the way nng does: host and port only. Returns the reason
 * when it is not one. `prefix` is "tls+" for tls+tcp:// URLs, which have the
 * same shape.
 */
export function parseTcpUrl(url: URL, role: "dial" | "listen", prefix = ""): TcpWhere | SPError {
  const scheme = url.protocol.replace(/:$/, "");
  const kind = `${prefix}tcp`;
  const bad = (why: string): SPError => new SPError("EINVAL", `${url.href}: ${why}`);
  const base = scheme.startsWith(prefix) ? scheme.slice(prefix.length) : "";
  if (base !== "tcp" && base !== "tcp4" && base !== "tcp6") return bad(`the ${kind} transport does not serve ${scheme}://`);
  if (url.username !== "" || url.password !== "") return bad(`a ${kind} URL has no user or password`);
  if (url.pathname !== "" && url.pathname !== "/") return bad(`a ${kind} URL has no path (got "${url.pathname}")`);
  if (url.search !== "" || url.hash !== "") return bad(`a ${kind} URL has no query or fragment`);
  if (url.port === "") return bad(`a ${kind} URL needs a port, e.g. ${scheme}://127.0.0.1:5555`);
  const port = Number(url.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return bad(`port ${url.port} is not a TCP port`);
  const family = base === "tcp4" ? 4 : base === "tcp6" ? 6 : 0;
  const h = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const wildcard = h === "" || h === "*";
  if (role === "dial") {
    if (wildcard) return bad("cannot dial a wildcard host; name the peer's address");
    if (port === 0) return bad("cannot dial port 0");
  }
  const literal = isIP(h);
  if (family !== 0 && literal !== 0 && literal !== family) return bad(`${h} is not an IPv${family} address`);
  let host: string | undefined = wildcard ? undefined : h;
  // Node binds "all interfaces" dual-stack for an undefined host; tcp4/tcp6 ask for one family.
  if (wildcard && family === 4) host = "0.0.0.0";
  if (wildcard && family === 6) host = "::";
  return { scheme, host, port, family, ipv6Only: family === 6 };
}

/** Options for {@link TcpPipe}. */
/** `write()` returns false once this many bytes wait in the socket (as the ws pipes do). */
const WRITE_HIGH_WATER_MARK = 1024 * 1024;

export interface TcpPipeOptions {
  localAddress: string;
  remoteAddress: string;
  /** Largest message accepted, bytes, checked on the declared length; 0 = no limit. */
  recvMaxSize: number;
  /** Bytes that arrived after the peer's handshake, in the same read. */
  first?: Uint8Array;
  /** ipc:// framing (one 0x01 type byte before each length); the stream and its rules are otherwise the same. */
  ipc?: boolean;
}

/**
 * One SP pipe over a connected stream socket whose handshake is done.
 *
 * Reading stops while nobody has called `start()` (and while paused), so a
 * pipe nobody takes costs a kernel buffer, not memory here; the messages of
 * a read already made are held until `start()`.
 */
export class TcpPipe implements TransportPipe {
  readonly localAddress: string;
  readonly remoteAddress: string;

  readonly #s: Socket;
  readonly #decoder: FrameDecoder;
  readonly #ipc: boolean;
  /** Held messages, pause, and the one end report. */
  readonly #in = new PipeInbox();
  /** A cork is open until the next tick: writes of this tick leave in one syscall. */
  #corked = false;
  #wantDrain = false;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: Socket, opts: TcpPipeOptions) {
    this.#s = socket;
    this.localAddress = opts.localAddress;
    this.remoteAddress = opts.remoteAddress;
    this.#ipc = opts.ipc === true;
    this.#decoder = new FrameDecoder({ maxSize: opts.recvMaxSize, ipc: this.#ipc, remote: opts.remoteAddress });
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
    socket.on("drain", this.#onDrain);
    if (opts.first !== undefined && opts.first.length > 0) this.#onData(opts.first);
    this.#flow();
    if (socket.destroyed) this.#end(new SPError("ECONNRESET", `${this.remoteAddress}: connection lost right after the handshake`));
  }

  start(h: TransportPipeHandler): void {
    if (this.#in.start(h)) this.#flow();
  }

  write(parts: readonly Uint8Array[]): boolean {
    if (this.#in.ended) return true;
    const s = this.#s;
    let n = 0;
    for (const p of parts) n += p.length;
    if (!this.#corked) {
      // Everything written in this tick (several messages, each prefix + parts) goes out in one writev.
      this.#corked = true;
      s.cork();
      process.nextTick(this.#uncork);
    }
    s.write(encodeFramePrefix(n, this.#ipc));
    for (const p of parts) if (p.length > 0) s.write(p);
    // Not the streams' own answer: while corked every write "fills" the 16 KiB
    // stream buffer, and a large message would then wait for a drain each.
    // Blocked means WRITE_HIGH_WATER_MARK bytes wait; `drain` then follows,
    // since the write that got there found the stream's buffer full.
    if (s.writableLength < WRITE_HIGH_WATER_MARK) return true;
    this.#wantDrain = true;
    return false;
  }

  pause(): void {
    if (this.#in.pause()) this.#flow();
  }

  resume(): void {
    if (this.#in.resume()) this.#flow();
  }

  close(err?: SPError): void {
    // "ended": the peer ended it first; only held messages kept the report back.
    if (this.#in.closeLocal() !== "open") return;
    this.#end(err);
    const s = this.#s;
    if (err !== undefined) {
      s.destroy();
      return;
    }
    // Clean close: let queued replies leave, then FIN. Keep reading so the
    // peer's FIN is seen (we ignore its data now) and the socket can close.
    s.end();
    s.resume();
    this.#linger = setTimeout(() => s.destroy(), CLOSE_LINGER_MS);
    this.#linger.unref();
  }

  /** Read from the socket only when someone takes the messages. */
  #flow(): void {
    if (this.#in.ended) return;
    if (this.#in.handler === undefined || this.#in.paused) this.#s.pause();
    else this.#s.resume();
  }

  #uncork = (): void => {
    this.#corked = false;
    this.#s.uncork();
  };

  #onData = (chunk: Uint8Array): void => {
    if (this.#in.ended) return;
    const err = this.#decoder.push(chunk, this.#receive);
    if (err !== undefined) {
      // Bad bytes close only this pipe, with the decoder's reason.
      this.#end(err);
      this.#s.destroy();
    }
  };

  #receive = (m: Uint8Array): void => this.#in.receive(m);

  #onEnd = (): void => {
    const cut = this.#decoder.pending;
    const what = cut > 0 ? `peer closed the connection in the middle of a message (${cut} bytes of it arrived)` : "peer closed the connection";
    this.#end(new SPError("ECONNSHUT", `${this.remoteAddress}: ${what}`));
  };

  #onError = (err: Error): void => {
    // 'close' follows; the first reason wins (a no-op when the pipe already ended).
    this.#end(fromErrno(err, "ECONNRESET", this.remoteAddress));
  };

  #onClose = (hadError: boolean): void => {
    if (this.#linger !== undefined) clearTimeout(this.#linger);
    this.#linger = undefined;
    this.#end(
      new SPError(hadError ? "ECONNRESET" : "ECONNSHUT", `${this.remoteAddress}: connection ${hadError ? "lost" : "closed"}`),
    );
  };

  #onDrain = (): void => {
    if (this.#in.ended || !this.#wantDrain) return;
    this.#wantDrain = false;
    this.#in.handler?.drain();
  };

  #end(err: SPError | undefined): void {
    this.#in.end(err);
  }
}

/** A handshake in progress; `cancel` ends it with `err` (destroying the socket) unless it already ended. */
interface Negotiation {
  cancel(err: unknown): void;
}

/**
 * Run the SP handshake on a freshly connected socket: send our 8 bytes at
 * once, read the peer's 8, check them. `done` gets the pipe, or the reason
 * (the socket is then destroyed). The caller owns the deadline.
 */
export function negotiate(
  socket: Socket,
  opts: TransportOptions,
  addresses: { local: string; remote: string },
  done: (err: unknown, pipe?: TcpPipe) => void,
  ipc = false,
): Negotiation {
  const got = new Uint8Array(HANDSHAKE_SIZE);
  let have = 0;
  let settled = false;
  const remote = addresses.remote;

  const fail = (err: unknown, gentle = false): void => {
    if (settled) return;
    settled = true;
    // The error and close listeners stay: they are no-ops now, and a socket must never be left without an error listener.
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    if (gentle) {
      // The peer's header was wrong. Ours was written first, but a TLS layer
      // may still hold it: end (FIN after it) rather than destroy, so the
      // peer reads it and can say why it was refused (EPEER) too.
      socket.end();
      socket.resume();
      const linger = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
      linger.unref();
      socket.once("close", () => clearTimeout(linger));
    } else {
      socket.destroy();
    }
    done(err);
  };
  function onData(chunk: Uint8Array): void {
    if (settled) return;
    const take = Math.min(HANDSHAKE_SIZE - have, chunk.length);
    got.set(chunk.subarray(0, take), have);
    have += take;
    if (have < HANDSHAKE_SIZE) return;
    const bad = checkHandshake(got, opts.protocol, remote);
    if (bad !== undefined) {
      fail(bad, true);
      return;
    }
    settled = true;
    // The pipe takes the socket (and its listeners) in this same call, so no data event falls between us.
    const pipe = new TcpPipe(socket, {
      localAddress: addresses.local,
      remoteAddress: remote,
      recvMaxSize: opts.recvMaxSize,
      first: chunk.subarray(take),
      ipc,
    });
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.removeListener("error", onError);
    socket.removeListener("close", onClose);
    done(undefined, pipe);
  }
  function onEnd(): void {
    fail(new SPError("ECONNSHUT", `${remote}: peer closed the connection during the SP handshake (${have} of ${HANDSHAKE_SIZE} bytes came)`));
  }
  function onError(err: Error): void {
    // On a TLS listener the TLS handshake runs under this one too: its failures speak for themselves.
    fail(fromErrno(err, "ECONNRESET", isTlsFailure(err) ? remote : `${remote}: during the SP handshake`));
  }
  function onClose(): void {
    fail(new SPError("ECONNRESET", `${remote}: connection lost during the SP handshake`));
  }

  socket.on("data", onData);
  socket.on("end", onEnd);
  socket.on("error", onError);
  socket.on("close", onClose);
  // nng turns Nagle off on every pipe (tcp-nodelay defaults to true): small requests must not wait for an ACK.
  socket.setNoDelay(true);
  // nng sends its header without waiting for ours, and so do we.
  socket.write(encodeHandshake(opts.protocol.id));
  return { cancel: fail };
}

/** @internal How a stream transport opens one connection for {@link dialStream}. */
export interface StreamDial {
  /** The address dialed, for error messages: `tcp://127.0.0.1:5555`, `ipc:///tmp/sp.ipc`. */
  readonly target: string;
  /** Start connecting. Errors before `ready` are dial failures (ECONNREFUSED unless the errno says more). */
  open(): Socket;
  /** The event after which the SP handshake starts: "connect", or "secureConnect" once TLS is up. */
  readonly ready: "connect" | "secureConnect";
  /** Names that first phase in the deadline message: "TCP connect", "TLS connect". */
  readonly phase: string;
  /** The pipe's addresses, read from the connected socket. */
  addresses(socket: Socket): { local: string; remote: string };
  /** ipc:// framing. */
  readonly ipc: boolean;
}

/**
 * Dial once over a stream socket: connect (and whatever `open` adds, such as
 * TLS), then the SP handshake, all under one `handshakeTimeout` deadline.
 * Resolves with the pipe; rejects with an SPError, or the abort reason.
 */
export function dialStream(d: StreamDial, opts: TransportOptions): Promise<TransportPipe> {
  return new Promise<TransportPipe>((resolve, reject) => {
    const signal = opts.signal;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const target = d.target;
    let settled = false;
    let negotiation: Negotiation | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;

    let socket: Socket;
    try {
      socket = d.open();
    } catch (err) {
      // Node checks connect options synchronously (and TLS material, when it builds a context).
      reject(fromErrno(err, "EINVAL", `cannot connect to ${target}`));
      return;
    }

    /** `negotiated`: the handshake ended it and has already closed the socket its way. */
    const finish = (err: unknown, pipe?: TransportPipe, negotiated = false): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      signal?.removeEventListener("abort", onAbort);
      if (pipe !== undefined) {
        resolve(pipe);
        return;
      }
      if (!negotiated) socket.destroy();
      reject(err);
    };
    function onConnectError(err: Error): void {
      finish(fromErrno(err, "ECONNREFUSED", `cannot connect to ${target}`));
    }
    function onAbort(): void {
      // An abort rejects with the signal's reason, unchanged.
      negotiation?.cancel(signal!.reason);
      finish(signal!.reason);
    }

    socket.on("error", onConnectError);
    socket.once(d.ready, () => {
      if (settled) return;
      negotiation = negotiate(socket, opts, d.addresses(socket), (err, pipe) => finish(err, pipe, true), d.ipc);
      // From here the handshake (and then the pipe) listens for errors.
      socket.removeListener("error", onConnectError);
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    const limit = deadline(opts.handshakeTimeout);
    if (limit !== undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        const err =
          negotiation === undefined
            ? new SPError("ETIMEDOUT", `${target}: ${d.phase} did not finish within ${limit} ms`)
            : new SPError("ETIMEDOUT", `${target}: peer sent no SP handshake within ${limit} ms`);
        negotiation?.cancel(err);
        finish(err);
      }, limit);
    }
  });
}

/** @internal How a stream listener names (and wraps) accepted connections, for {@link serveStream}. */
export interface StreamServe {
  /** ipc:// framing. */
  readonly ipc: boolean;
  /** The pipe's addresses, read from the accepted (unwrapped) socket. */
  addresses(socket: Socket): { local: string; remote: string };
  /** Put a layer (TLS) between the accepted connection and the SP handshake; its errors fail the handshake. */
  wrap?(raw: Socket): Socket;
}

/**
 * Run the SP handshake on every connection `server` accepts, each under the
 * `handshakeTimeout` deadline (which starts at accept, so it also covers a
 * `wrap` layer such as TLS); hand finished pipes to `accept`, failures to
 * `refused`. Returns the function that stops it: handshakes still running
 * are dropped with `reason`, and later ones are not reported.
 */
export function serveStream(
  server: Server,
  spec: StreamServe,
  opts: TransportOptions,
  accept: (pipe: TransportPipe) => void,
  refused: (err: SPError, remoteAddress: string) => void,
): (reason: SPError) => void {
  /** Connections still in their handshake; a closing listener drops them. */
  const shaking = new Map<Socket, Negotiation>();
  let closed = false;

  server.on("connection", (raw: Socket) => {
    const { local, remote } = spec.addresses(raw);
    let socket: Socket;
    try {
      socket = spec.wrap !== undefined ? spec.wrap(raw) : raw;
    } catch (err) {
      raw.destroy();
      if (!closed) refused(fromErrno(err, "ECONNRESET", remote), remote);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let over = false;
    const n = negotiate(socket, opts, { local, remote }, (err, pipe) => {
      over = true;
      shaking.delete(socket);
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (closed) {
        // Nobody to hand it to; a handshake cut short by close() is not a refusal.
        pipe?.close();
        return;
      }
      if (pipe !== undefined) accept(pipe);
      else refused(err instanceof SPError ? err : fromErrno(err, "ECONNRESET", remote), remote);
    }, spec.ipc);
    if (over) return;
    shaking.set(socket, n);
    const limit = deadline(opts.handshakeTimeout);
    if (limit !== undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        n.cancel(new SPError("ETIMEDOUT", `${remote}: peer sent no SP handshake within ${limit} ms`));
      }, limit);
    }
  });

  return (reason: SPError) => {
    if (closed) return;
    closed = true;
    for (const n of [...shaking.values()]) n.cancel(reason);
    shaking.clear();
  };
}

/**
 * @internal What tls+tcp:// puts on top of tcp://: its URL prefix, how a
 * dialer opens a connection, and how a listener wraps an accepted one.
 */
export interface TcpLayer {
  /** "tls+": the layer serves tls+tcp, tls+tcp4 and tls+tcp6. */
  readonly prefix: string;
  /** Open a connection to `where` (a dial URL, so host is set); it emits "secureConnect" when ready. */
  connect(where: TcpWhere): Socket;
  /** Wrap an accepted connection (server side). */
  wrap(raw: Socket): Socket;
}

/** Dial a tcp URL, or a tls+tcp URL through `layer`. */
export function dialTcp(url: URL, opts: TransportOptions, layer?: TcpLayer): Promise<TransportPipe> {
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  const where = parseTcpUrl(url, "dial", layer?.prefix);
  if (where instanceof SPError) return Promise.reject(where);
  // Pipe addresses say tcp:// (also for tcp4/tcp6) or tls+tcp://.
  const label = layer !== undefined ? `${layer.prefix}tcp` : "tcp";
  const addresses = (s: Socket): { local: string; remote: string } => ({
    local: formatAddress(s.localAddress, s.localPort, label),
    remote: formatAddress(s.remoteAddress, s.remotePort, label),
  });
  return dialStream(
    {
      target: formatAddress(where.host, where.port, where.scheme),
      open: () =>
        layer !== undefined ? layer.connect(where) : connect({ host: where.host, port: where.port, family: where.family }),
      ready: layer !== undefined ? "secureConnect" : "connect",
      phase: layer !== undefined ? "TLS connect" : "TCP connect",
      addresses,
      ipc: false,
    },
    opts,
  );
}

/** Listen on a tcp URL, or a tls+tcp URL through `layer`. */
export async function listenTcp(
  url: URL,
  opts: TransportOptions,
  accept: (pipe: TransportPipe) => void,
  refused: (err: SPError, remoteAddress: string) => void,
  layer?: TcpLayer,
): Promise<TransportListener> {
  const where = parseTcpUrl(url, "listen", layer?.prefix);
  if (where instanceof SPError) throw where;
  if (opts.signal?.aborted) throw opts.signal.reason;
  const label = layer !== undefined ? `${layer.prefix}tcp` : "tcp";

  const server: Server = createServer();
  let real = where.port;
  const stop = serveStream(
    server,
    {
      ipc: false,
      addresses: (s) => ({
        local: formatAddress(s.localAddress, s.localPort, label),
        remote: formatAddress(s.remoteAddress, s.remotePort, label),
      }),
      wrap: layer !== undefined ? (raw) => layer.wrap(raw) : undefined,
    },
    opts,
    accept,
    refused,
  );

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(fromErrno(err, "EADDRINVAL", `cannot listen on ${url.href}`));
    server.once("error", onError);
    server.listen({ host: where.host, port: where.port, ipv6Only: where.ipv6Only }, () => {
      server.removeListener("error", onError);
      const addr = server.address();
      if (typeof addr === "object" && addr !== null) real = addr.port;
      resolve();
    });
  });
  // After listening, the server reports only accept() failures (e.g. EMFILE): a connection we could not take.
  server.on("error", (err: Error) => refused(fromErrno(err, "ECONNRESET", `${url.href}: accept failed`), "?"));

  const hostPart = url.hostname === "" ? "*" : url.hostname;
  const listenerUrl = `${where.scheme}://${hostPart}:${real}`;
  let closed = false;
  return {
    url: listenerUrl,
    close: async () => {
      if (closed) return;
      closed = true;
      // Stop accepting. Accepted pipes belong to their sockets, which close them.
      server.close();
      stop(new SPError("ECLOSED", `listener ${listenerUrl} closed`));
      // The listening handle is released on the next turn of the event loop; after that the port can be bound again.
      await new Promise<void>((r) => setImmediate(r));
    },
  };
}

/**
 * The tcp:// transport: dial and listen, nng-compatible (sp-wire.md 3).
 *
 * @example
 * const rep = new Rep({ transports: [tcpTransport()] });
 * const l = await rep.listen("tcp://127.0.0.1:0");
 * console.log(l.url); // tcp://127.0.0.1:40123
 */
export function tcpTransport(): Transport {
  return {
    schemes: ["tcp", "tcp4", "tcp6"],
    dial: (url, opts) => dialTcp(url, opts),
    listen: (url, opts, accept, refused) => listenTcp(url, opts, accept, refused),
  };
}
