/**
 * ws:// for Node: dial through core's wsTransport with the `ws` package's
 * WebSocket, and listen with an http server and a `ws` WebSocketServer.
 *
 * The listener follows nng 1.5.2's server rules (sp-wire.md 2.3, 2.5):
 * refusals happen at the HTTP level, before any upgrade — a wrong path is 404,
 * a missing or wrong Sec-WebSocket-Protocol is 400. Unlike nng it also
 * accepts its token inside a comma list (as mangos does), and it puts a
 * deadline on the upgrade: nng 1.5.2 keeps a silent TCP client forever.
 *
 * Several listeners on one host:port with different paths share one http
 * server, as nng allows. The registry below starts empty and holds only
 * servers that are listening; the last listener to close removes its server.
 *
 * wss:// is the same on TLS (sp-wire.md 2.1, verified with nngcat 1.5.2).
 * A wss listener needs `cert` and `key`; a wss dialer verifies the
 * listener's certificate unless given `insecure: true`, against `ca` if
 * given (the options are tls+tcp's, see ./tls.ts). A wss listener does the
 * TLS handshake itself on each accepted TCP connection and hands the
 * decrypted stream to the http server, so the upgrade deadline starts at
 * accept and covers TLS too; TLS failures are reported as ECRYPTO.
 */
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket as NetSocket } from "node:net";
import type { Duplex } from "node:stream";
import * as wsModule from "ws";
import { WebSocket, WebSocketServer } from "ws";
import {
  SPError,
  WsPipe,
  wsProtocolName,
  wsTransport,
  type ErrorCode,
  type Transport,
  type TransportListener,
  type TransportOptions,
  type TransportPipe,
  type WebSocketLike,
  type WsPipeIo,
} from "@spwire/core";
import { fromErrno, isTlsFailure } from "./tcp.js";
import { clientTlsOptions, readTlsOptions, serverTlsSocket, type Pem, type TlsSettings } from "./tls.js";

/** Options for {@link nodeWsTransport}. */
export interface NodeWsOptions {
  /** `write()` returns false once this many bytes wait in a WebSocket's buffer (default 1 MiB). */
  highWaterMark?: number;
}

/** One listener: a path on a shared http server. */
interface Route {
  /** Our own subprotocol token, lower case. */
  token: string;
  /** The listener URL with the real port: the accepted pipes' localAddress. */
  url: string;
  wss: WebSocketServer;
  handshakeTimeout: number;
  recvMaxSize: number;
  accept: (pipe: TransportPipe) => void;
  refused: (err: SPError, remoteAddress: string) => void;
}

/** A TCP connection that has not finished (or failed) its upgrade yet. */
interface Conn {
  socket: NetSocket;
  remote: string;
  /** Upgraded, refused or dropped: nothing more to report. */
  done: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Shared {
  key: string;
  scheme: "ws" | "wss";
  http: Server;
  /** What is bound to the port: the http server itself (ws), or a TCP server that does TLS and feeds `http` (wss). */
  bound: NetServer;
  /** wss: the certificate every listener on this port serves. */
  tls: TlsSettings | undefined;
  /** path -> route; insertion order, so the first is the oldest listener. */
  routes: Map<string, Route>;
  conns: Map<NetSocket, Conn>;
}

/** Listening http servers by "host:port". Empty at import; see the file comment. */
const servers = new Map<string, Shared>();
/** Binds in progress by "host:port", so two listens on one port at once share the server. */
const binding = new Map<string, Promise<Shared>>();

const hostOf = (u: URL): string => u.hostname.replace(/^\[(.*)\]$/, "$1");

/**
 * nng's rule: the path must match exactly; one trailing "/" and any "?query" are tolerated. No path means "/".
 * Exported for servers that route upgrades themselves (the gateway), so both apply one rule.
 */
export function normalizePath(raw: string): string {
  let p = raw;
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  if (p === "") return "/";
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}

/** The offered token equal to `token` (case-insensitively), as the client spelled it; also inside a comma list, as mangos accepts. */
function pickToken(offered: string | undefined, token: string): string | undefined {
  if (offered === undefined) return undefined;
  return offered
    .split(",")
    .map((s) => s.trim())
    .find((s) => s.toLowerCase() === token);
}

function addressOf(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }, scheme = "ws"): string {
  const a = s.remoteAddress ?? "?";
  return `${scheme}://${a.includes(":") ? `[${a}]` : a}:${s.remotePort ?? 0}`;
}

/** Write a small plain-text HTTP refusal on an upgrade socket and drop the connection. Exported for the gateway. */
export function refuseRaw(socket: Duplex, status: number, body: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = `${body}\n`;
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      "Connection: close\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

/** Equal PEM material (strings or bytes). */
function samePem(a: Pem | undefined, b: Pem | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const bytes = (p: Pem): Buffer => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  return bytes(a).equals(bytes(b));
}

function spErrorFromListen(err: NodeJS.ErrnoException, href: string): SPError {
  const map: Record<string, ErrorCode> = { EADDRINUSE: "EADDRINUSE", EACCES: "EPERM", EADDRNOTAVAIL: "EADDRINVAL" };
  const code = (err.code !== undefined ? map[err.code] : undefined) ?? "EADDRINVAL";
  return new SPError(code, `cannot listen on ${href}: ${err.message}`, { cause: err });
}

/** The listener that hears about connections not (yet) tied to a path: the oldest one on the port. */
function owner(sh: Shared): Route | undefined {
  return sh.routes.values().next().value;
}

/** Report a connection's failed upgrade once, to `route` (or the port's oldest listener), and stop its deadline. */
function settle(sh: Shared, conn: Conn | undefined, err: SPError, route?: Route): void {
  if (conn !== undefined) {
    if (conn.done) return;
    conn.done = true;
    if (conn.timer !== undefined) clearTimeout(conn.timer);
    conn.timer = undefined;
  }
  const r = route ?? owner(sh);
  r?.refused(err, conn?.remote ?? "?");
}

function onConnection(sh: Shared, socket: NetSocket): void {
  const conn: Conn = { socket, remote: addressOf(socket, sh.scheme), done: false, timer: undefined };
  sh.conns.set(socket, conn);
  // The connection may be for any path on this port, so it gets the most lenient deadline among them.
  let limit = 0;
  for (const r of sh.routes.values()) {
    const t = Number.isFinite(r.handshakeTimeout) && r.handshakeTimeout > 0 ? r.handshakeTimeout : Infinity;
    limit = Math.max(limit, t);
  }
  if (Number.isFinite(limit) && limit > 0) {
    conn.timer = setTimeout(() => {
      conn.timer = undefined;
      if (conn.done) return;
      // Slowloris: nng 1.5.2 has no deadline here and keeps such clients forever.
      settle(sh, conn, new SPError("ETIMEDOUT", `${conn.remote} did not complete a WebSocket upgrade within ${limit} ms`));
      socket.destroy();
    }, limit);
  }
  socket.once("close", () => {
    if (conn.timer !== undefined) clearTimeout(conn.timer);
    conn.timer = undefined;
    sh.conns.delete(socket);
  });
}

/** Module-level, not a closure: one would hold onUpgrade's scope for the life of the connection. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function onUpgrade(sh: Shared, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const conn = sh.conns.get(socket as NetSocket);
  const remote = conn?.remote ?? addressOf(req.socket, sh.scheme);
  // Node removed its own error handling from an upgrade socket; a peer that
  // resets while we write a refusal must not become an uncaught 'error'.
  socket.on("error", destroyOnError);
  const path = normalizePath(req.url ?? "/");
  const route = sh.routes.get(path);
  if (route === undefined) {
    refuseRaw(socket, 404, `no SP listener at ${path}`);
    settle(sh, conn, new SPError("ECONNREFUSED", `${remote} asked for path ${path}, which nothing listens on`));
    return;
  }
  const offered = req.headers["sec-websocket-protocol"];
  if (pickToken(offered, route.token) === undefined) {
    const err =
      offered === undefined
        ? new SPError("EPROTO", `${remote} offered no Sec-WebSocket-Protocol; this listener needs "${route.token}"`)
        : new SPError("EPEER", `${remote} offered Sec-WebSocket-Protocol "${offered}"; this listener needs "${route.token}"`);
    refuseRaw(socket, 400, `SP protocol mismatch: this listener speaks ${route.token}`);
    settle(sh, conn, err, route);
    return;
  }
  route.wss.handleUpgrade(req, socket, head, (ws) => {
    if (conn !== undefined) {
      conn.done = true;
      if (conn.timer !== undefined) clearTimeout(conn.timer);
      conn.timer = undefined;
    }
    let pipe: WsPipe;
    try {
      pipe = new WsPipe(ws, { localAddress: route.url, remoteAddress: remote, recvMaxSize: route.recvMaxSize, io: wsPipeIo(ws) });
    } catch (err) {
      ws.terminate();
      route.refused(new SPError("ECONNRESET", `${remote}: ${String(err)}`, { cause: err }), remote);
      return;
    }
    route.accept(pipe);
  });
}

/** A request without Upgrade: this port only speaks WebSocket. */
function onRequest(sh: Shared, req: IncomingMessage, res: ServerResponse): void {
  const conn = sh.conns.get(req.socket as NetSocket);
  const remote = conn?.remote ?? addressOf(req.socket, sh.scheme);
  const path = normalizePath(req.url ?? "/");
  const route = sh.routes.get(path);
  const status = route === undefined ? 404 : 400;
  const body = route === undefined ? `no SP listener at ${path}\n` : "this is an SP WebSocket endpoint: send a WebSocket upgrade\n";
  res.writeHead(status, { Connection: "close", "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
  const err =
    route === undefined
      ? new SPError("ECONNREFUSED", `${remote} asked for path ${path}, which nothing listens on`)
      : new SPError("EPROTO", `${remote} sent a plain HTTP ${req.method ?? ""} request, not a WebSocket upgrade`);
  settle(sh, conn, err, route);
}

/** Malformed HTTP, or a connection error before the upgrade: answer 400 if we still can, report, never throw. */
function onClientError(sh: Shared, err: NodeJS.ErrnoException, socket: Duplex): void {
  const conn = sh.conns.get(socket as NetSocket);
  if (isTlsFailure(err)) {
    // wss: the TLS handshake (or a record) failed; there is no HTTP to answer in.
    settle(sh, conn, fromErrno(err, "ECRYPTO", conn?.remote ?? "?"));
    socket.destroy();
    return;
  }
  const reset = err.code === "ECONNRESET" || err.code === "EPIPE";
  settle(
    sh,
    conn,
    new SPError(reset ? "ECONNRESET" : "EPROTO", `${conn?.remote ?? "?"}: bad HTTP before the upgrade: ${err.message}`, {
      cause: err,
    }),
  );
  if (reset || !socket.writable) socket.destroy();
  else refuseRaw(socket, 400, "bad request");
}

async function bind(scheme: "ws" | "wss", host: string | undefined, port: number, href: string, tls: TlsSettings | undefined): Promise<Shared> {
  const http = createServer();
  // wss: TCP connections arrive at `bound`, get their TLS session here, and reach `http` as if it had accepted them.
  const bound: NetServer =
    tls === undefined ? http : createNetServer((raw: NetSocket) => http.emit("connection", serverTlsSocket(raw, tls)));
  const sh: Shared = { key: "", scheme, http, bound, tls, routes: new Map(), conns: new Map() };
  http.on("connection", (s: NetSocket) => onConnection(sh, s));
  http.on("upgrade", (req: IncomingMessage, s: Duplex, head: Buffer) => onUpgrade(sh, req, s, head));
  http.on("request", (req: IncomingMessage, res: ServerResponse) => onRequest(sh, req, res));
  http.on("clientError", (err: NodeJS.ErrnoException, s: Duplex) => onClientError(sh, err, s));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(spErrorFromListen(err, href));
    bound.once("error", onError);
    bound.listen(port, host, () => {
      bound.removeListener("error", onError);
      resolve();
    });
  });
  if (bound !== http) {
    // After listening, a TCP server reports only accept() failures; the connections' owner hears of them.
    bound.on("error", (err: NodeJS.ErrnoException) => settle(sh, undefined, fromErrno(err, "ECONNRESET", `${href}: accept failed`)));
  }
  const addr = bound.address();
  const real = typeof addr === "object" && addr !== null ? addr.port : port;
  sh.key = `${scheme}|${host ?? "*"}:${real}`;
  return sh;
}

/** Find or make the shared server for scheme, host and port; port 0 always makes a new one. */
async function serverFor(
  scheme: "ws" | "wss",
  host: string | undefined,
  port: number,
  href: string,
  tls: TlsSettings | undefined,
): Promise<Shared> {
  const key = `${scheme}|${host ?? "*"}:${port}`;
  if (port === 0) {
    const sh = await bind(scheme, host, 0, href, tls);
    servers.set(sh.key, sh);
    return sh;
  }
  for (;;) {
    const have = servers.get(key);
    if (have !== undefined) return have;
    const pending = binding.get(key);
    if (pending !== undefined) {
      // Another listen is binding this port: share its server once it is up (or fail as it fails).
      await pending;
      continue;
    }
    const p = bind(scheme, host, port, href, tls);
    binding.set(key, p);
    try {
      const sh = await p;
      servers.set(sh.key, sh);
      return sh;
    } finally {
      binding.delete(key);
    }
  }
}

function closeRoute(sh: Shared, path: string): void {
  const route = sh.routes.get(path);
  if (route === undefined) return;
  sh.routes.delete(path);
  route.wss.close();
  if (sh.routes.size > 0) return;
  if (servers.get(sh.key) === sh) servers.delete(sh.key);
  // Stop accepting. Upgraded pipes belong to their sockets, which close them;
  // connections still in their HTTP phase have nobody left to talk to.
  if (sh.bound !== sh.http) sh.bound.close();
  sh.http.close();
  for (const c of sh.conns.values()) {
    if (!c.done) {
      c.done = true;
      c.socket.destroy();
    }
  }
}

async function listen(
  url: URL,
  opts: TransportOptions,
  accept: (pipe: TransportPipe) => void,
  refused: (err: SPError, remoteAddress: string) => void,
): Promise<TransportListener> {
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new SPError("EINVAL", `${url.href}: the ws transport does not serve ${url.protocol}//`);
  }
  const scheme = url.protocol === "wss:" ? "wss" : "ws";
  const tls = scheme === "wss" ? readTlsOptions(opts, "listen", url.href) : undefined;
  const h = hostOf(url);
  // nng's wildcard spellings; Node binds all interfaces for an undefined host.
  const host = h === "" || h === "*" ? undefined : h;
  const port = url.port === "" ? (scheme === "wss" ? 443 : 80) : Number(url.port);
  const path = normalizePath(url.pathname);
  const token = wsProtocolName(opts.protocol.name).toLowerCase();

  const sh = await serverFor(scheme, host, port, url.href, tls);
  if (tls !== undefined && sh.tls !== undefined && !(samePem(tls.cert, sh.tls.cert) && samePem(tls.key, sh.tls.key))) {
    throw new SPError("EINVAL", `${url.href}: the wss listeners on this port already serve another certificate; one port has one certificate`);
  }
  if (sh.routes.has(path)) {
    throw new SPError("EADDRINUSE", `${url.href}: another listener already serves path ${path} on this port`);
  }
  const addr = sh.bound.address();
  const real = new URL(url.href);
  if (typeof addr === "object" && addr !== null) real.port = String(addr.port);

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // ws treats 0 as "no limit", as recvMaxSize does; it refuses a larger frame before buffering it.
    maxPayload: opts.recvMaxSize,
    clientTracking: false,
    // Only reached after our own check: answer with the token as the client spelled it (nng echoes it too).
    handleProtocols: (offered: Set<string>) => [...offered].find((p) => p.toLowerCase() === token) ?? false,
  });
  wss.on("wsClientError", (err: Error, socket: Duplex) => {
    // ws found a bad upgrade request (method, key, version): refuse at the HTTP level as nng does.
    refuseRaw(socket, err.message === "Invalid HTTP method" ? 405 : 400, err.message);
    const conn = sh.conns.get(socket as NetSocket);
    settle(sh, conn, new SPError("EPROTO", `${conn?.remote ?? "?"}: bad WebSocket upgrade: ${err.message}`, { cause: err }), route);
  });
  const route: Route = {
    token,
    url: real.href,
    wss,
    handshakeTimeout: opts.handshakeTimeout,
    recvMaxSize: opts.recvMaxSize,
    accept,
    refused,
  };
  sh.routes.set(path, route);

  let closed = false;
  return {
    url: real.href,
    close: async () => {
      if (closed) return;
      closed = true;
      closeRoute(sh, path);
    },
  };
}

/**
 * A peer that sends a frame a few bytes per read makes the `ws` package hold
 * each read as its own Buffer, ~200 bytes of bookkeeping each, until the
 * message completes: a 1 MiB frame trickled a byte at a time would cost
 * ~200 MB. Once the `ws` receiver holds TRICKLE_READS parts (reads of an
 * unfinished frame, fragments of an unfinished message) averaging under
 * TRICKLE_AVG_BYTES, the pipe ends. Real peers send frames in reads of a
 * segment or more.
 */
const TRICKLE_READS = 64;
const TRICKLE_AVG_BYTES = 256;

/** A tick's batch is flushed early once this many bytes wait in it, so memory stays bounded. */
const BATCH_BYTES = 64 * 1024;
/** How often a blocked pipe looks again when the socket will not emit `drain`. */
const DRAIN_RETRY_MS = 10;

type WsEventSink = Parameters<NonNullable<WsPipeIo["listen"]>>[0];

/** The `ws` package's receiver fields the trickle check reads (ws 8). */
interface WsReceiverState {
  _buffers: unknown[];
  _bufferedBytes: number;
  _fragments: unknown[];
  _messageLength: number;
}

/**
 * The pipe a `ws` WebSocket reports to, and the WebSocket a socket's reads
 * belong to. Kept on the objects themselves so that one set of module-level
 * listeners (`this` is the emitter) serves every connection: a gateway holds
 * thousands of idle ones, and a closure per listener per connection added up.
 */
const kSink = Symbol("spwire.wsSink");
const kWs = Symbol("spwire.ws");

/** The `ws` package's Sender fields that say it has nothing of its own waiting (ws 8). */
interface WsSenderState {
  _state: number;
  _queue: unknown[];
  _bufferedBytes: number;
  _firstFragment: boolean;
}

type SinkWs = WebSocket & {
  [kSink]?: WsEventSink | undefined;
  _isServer?: boolean;
  _extensions?: Record<string, unknown>;
  _sender?: Partial<WsSenderState> | null;
  _receiver?: Partial<WsReceiverState>;
  _closeFrameReceived?: boolean;
  _closeFrameSent?: boolean;
};
type WatchedSocket = Duplex & { [kWs]?: SinkWs | undefined };

function onWsMessage(this: SinkWs, data: unknown, isBinary: boolean): void {
  // A text frame reaches the pipe as a string, as through the WHATWG API, and is refused there.
  this[kSink]?.wsMessage(isBinary ? data : String(data));
}

function onWsError(this: SinkWs, error: Error): void {
  // The fields of the `ws` package's ErrorEvent that the pipe reads and reports as the close's cause.
  this[kSink]?.wsError({ type: "error", error, message: error.message });
}

function onWsClose(this: SinkWs, code: number, reason: Buffer): void {
  const sink = this[kSink];
  this[kSink] = undefined;
  this.off("message", onWsMessage);
  this.off("error", onWsError);
  this.off("close", onWsClose);
  const sock = (this as { _socket?: WatchedSocket | null })._socket;
  if (sock) {
    sock.off("data", onSockData);
    sock[kWs] = undefined;
  }
  sink?.wsClose({ code, reason: reason.toString(), wasClean: this._closeFrameReceived === true && this._closeFrameSent === true });
}

/** Registered after the `ws` package's own `data` listener: the receiver has taken the read already. */
function onSockData(this: WatchedSocket): void {
  const ws = this[kWs];
  const r = ws?._receiver as WsReceiverState | undefined;
  if (r === undefined) return;
  const parts = r._buffers.length + r._fragments.length;
  if (parts < TRICKLE_READS) return;
  const bytes = r._bufferedBytes + r._messageLength;
  if (bytes >= parts * TRICKLE_AVG_BYTES) return;
  ws![kSink]?.wsFail(new SPError("EPROTO", `peer sent ${bytes} bytes in ${parts} reads without completing a message (a trickled frame)`));
  // Close at once: a graceful close would keep reading (and holding) until the peer answers.
  this.destroy();
}

/** The receiver exposes what the trickle check reads (the `ws` package's internals; checked once per pipe). */
function watchable(ws: SinkWs): boolean {
  const r = ws._receiver;
  return r !== undefined && Array.isArray(r._buffers) && Array.isArray(r._fragments) && typeof r._bufferedBytes === "number" && typeof r._messageLength === "number";
}

/**
 * The frame of the last message sent directly, by its payload: a PUB (the
 * gateway's fan-out) sends one payload to every pipe in turn, so the frame is
 * built once per message, not once per connection.
 */
let framedData: Uint8Array | undefined;
let framed: Buffer = Buffer.alloc(0);
/** Messages up to this size go out as one Buffer, header and payload copied together; larger ones as two writes. */
const FRAME_COPY_MAX = 16 * 1024;

/** The frame of `data`: header and payload in one Buffer when small, else the header alone. */
function frameOf(data: Uint8Array): Buffer {
  if (data === framedData) return framed;
  // `ws`'s own framing: unmasked, so it only writes the header and leaves the payload alone.
  const head = wsSender!.frame!(data as Buffer, UNMASKED_BINARY)[0]!;
  framed = data.byteLength <= FRAME_COPY_MAX ? Buffer.concat([head, data], head.length + data.byteLength) : head;
  framedData = data;
  return framed;
}

/**
 * A dialer's large messages: masked into a reused buffer, not a fresh one.
 *
 * A client must mask every frame, so `ws.send` allocates a new Buffer the
 * size of each message and masks into it. At 64 KiB and up that allocation
 * is what costs: glibc hands freed heap back to the kernel once V8 collects
 * those Buffers, and each new one is page-faulted in again (bench/README.md,
 * "Push -> Pull over ws, 64 KiB"). Here the payload is copied into a pooled
 * Buffer, `ws` frames it (header, random mask, masking in place, as for any
 * message of its own), and the Buffer returns to the pool once the socket
 * has taken it.
 */
const MASK_POOL_MIN = 16 * 1024;
/** Larger messages go through `ws.send`: pooling them would hold too much memory idle. */
const MASK_POOL_MAX = 1024 * 1024;
/** Idle pooled bytes kept across all connections; beyond this, released Buffers are left to the GC. */
const MASK_POOL_BYTES = 4 * 1024 * 1024;
/** Idle Buffers by capacity (a power of two). */
const maskPool = new Map<number, Buffer[]>();
let maskPoolIdle = 0;
/** What `ws`'s Sender.frame needs to mask a binary message in place: FIN, opcode 2, masked, data ours to change. */
const MASKED_BINARY = { fin: true, mask: true, opcode: 2, readOnly: false, rsv1: false } as const;
/** A server's binary message: FIN, opcode 2, not masked (the payload is not touched). */
const UNMASKED_BINARY = { fin: true, mask: false, opcode: 2, readOnly: false, rsv1: false } as const;
/** `ws`'s Sender, whose public static frame() builds a frame (ws 8; its type declarations leave it out). */
type FrameFn = (data: Buffer, options: typeof MASKED_BINARY | typeof UNMASKED_BINARY) => Buffer[];
const wsSender = (wsModule as unknown as { Sender?: { frame?: FrameFn } }).Sender;
const canFrame = typeof wsSender?.frame === "function";

function poolCapacity(len: number): number {
  return 2 ** Math.ceil(Math.log2(len));
}

function takeMaskBuffer(len: number): Buffer {
  const cap = poolCapacity(len);
  const b = maskPool.get(cap)?.pop();
  if (b === undefined) return Buffer.allocUnsafeSlow(cap);
  maskPoolIdle -= cap;
  return b;
}

function giveMaskBuffer(b: Buffer): void {
  const cap = b.length;
  if (maskPoolIdle + cap > MASK_POOL_BYTES) return;
  let list = maskPool.get(cap);
  if (list === undefined) maskPool.set(cap, (list = []));
  list.push(b);
  maskPoolIdle += cap;
}

/**
 * Whether a message may bypass `ws.send` and go to the socket as a frame of
 * ours: only on a server's open WebSocket (a client must mask every frame)
 * without permessage-deflate, while the `ws` package's sender has nothing
 * queued of its own and is not inside a fragmented message. Anything `ws`
 * writes later (a pong, its Close frame) then follows ours on the socket,
 * as it would have after `ws.send`, and ws's bufferedAmount still counts our
 * bytes (it reads the socket's buffer).
 */
function direct(ws: SinkWs): boolean {
  const s = ws._sender;
  return ws.readyState === 1 && s != null && s._state === 0 && s._queue!.length === 0 && s._bufferedBytes === 0 && s._firstFragment === true;
}

/**
 * Write help for a WsPipe over a `ws` package WebSocket, from its TCP (or
 * TLS) socket: the sends of one tick leave in one writev (the socket is
 * corked until the next tick, or until BATCH_BYTES wait), and a blocked pipe
 * waits for the socket's `drain` instead of polling. `_socket` is the `ws`
 * package's own field, set once the connection is open.
 */
class NodeWsIo implements WsPipeIo {
  #ws: SinkWs;
  #sock: Duplex;
  #corked = false;
  /** What the socket still held when this batch began: the backlog while corked. */
  #base = 0;
  /** Its frames may be our own (see direct()): a server WebSocket, no extension negotiated, a sender as ws 8 has it. */
  #own: boolean;
  /** A client WebSocket that may send its large messages masked in pooled Buffers (see takeMaskBuffer). */
  #pooled: boolean;
  /** Pooled Buffers written and not yet taken by the socket, oldest first (a stream calls write callbacks in order). */
  #inflight: Buffer[] = [];
  /** The write callback of a pooled Buffer: made once per connection, not per message. */
  #written = (): void => {
    const b = this.#inflight.shift();
    if (b !== undefined) giveMaskBuffer(b);
  };

  constructor(ws: SinkWs, sock: Duplex) {
    this.#ws = ws;
    this.#sock = sock;
    const s = ws._sender;
    const plain =
      ws._extensions !== undefined &&
      Object.keys(ws._extensions).length === 0 &&
      s != null &&
      typeof s._state === "number" &&
      Array.isArray(s._queue) &&
      typeof s._bufferedBytes === "number" &&
      typeof s._firstFragment === "boolean";
    this.#own = plain && ws._isServer === true && canFrame;
    this.#pooled = plain && ws._isServer === false && canFrame;
  }

  send(data: Uint8Array): void {
    const ws = this.#ws;
    if (!this.#own) {
      const len = data.byteLength;
      if (this.#pooled && len >= MASK_POOL_MIN && len <= MASK_POOL_MAX && direct(ws)) this.#sendPooled(data);
      else ws.send(data);
      return;
    }
    if (!direct(ws)) {
      ws.send(data);
      return;
    }
    const f = frameOf(data);
    const sock = this.#sock;
    if (data.byteLength <= FRAME_COPY_MAX) sock.write(f);
    else {
      // A large message: header and payload as two writes (the socket is corked by batch(): one writev).
      sock.write(f);
      sock.write(data);
    }
  }

  /** A client's large message: copied into a pooled Buffer, which `ws` frames and masks in place. */
  #sendPooled(data: Uint8Array): void {
    const len = data.byteLength;
    const buf = takeMaskBuffer(len);
    buf.set(data);
    const body = buf.length === len ? buf : buf.subarray(0, len);
    // Data it may change and not empty: frame() returns the header and `body` masked in place, never one merged copy.
    const [head, masked] = wsSender!.frame!(body, MASKED_BINARY);
    this.#inflight.push(buf);
    this.#sock.write(head!);
    this.#sock.write(masked!, this.#written);
  }

  static #uncork(io: NodeWsIo): void {
    io.#corked = false;
    io.#sock.uncork();
  }

  batch(): void {
    const sock = this.#sock;
    if (!this.#corked) {
      this.#corked = true;
      this.#base = sock.writableLength;
      sock.cork();
      process.nextTick(NodeWsIo.#uncork, this);
    } else if (sock.writableLength - this.#base >= BATCH_BYTES) {
      sock.uncork();
      this.#base = sock.writableLength;
      sock.cork();
    }
  }

  backlog(): number {
    return this.#corked ? this.#base : this.#sock.writableLength;
  }

  /** A Buffer view: the `ws` package would otherwise make one for every send of it. */
  wire(d: Uint8Array): Uint8Array {
    return Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }

  listen(sink: WsEventSink): void {
    const ws = this.#ws;
    ws[kSink] = sink;
    ws.on("message", onWsMessage);
    ws.on("error", onWsError);
    ws.on("close", onWsClose);
    if (!watchable(ws)) return;
    const sock = this.#sock as WatchedSocket;
    sock[kWs] = ws;
    sock.on("data", onSockData);
  }

  onDrain(fn: () => void): void {
    // `drain` follows only a write that found the stream's own 16 KiB buffer full.
    if (this.#sock.writableNeedDrain) this.#sock.once("drain", fn);
    else setTimeout(fn, DRAIN_RETRY_MS);
  }
}

/**
 * Write help (and event delivery) for a WsPipe over an open `ws` package
 * WebSocket; undefined when it has no TCP socket, and the pipe then works as
 * in a browser.
 */
export function wsPipeIo(ws: WebSocketLike): WsPipeIo | undefined {
  const sock = (ws as { _socket?: unknown })._socket as Duplex | undefined;
  if (sock === undefined || sock === null || typeof sock.cork !== "function") return undefined;
  return new NodeWsIo(ws as SinkWs, sock);
}

/** TLS settings of wss dials in progress, by their options object (core's dialer hands the factory that same object). */
const dialTls = new WeakMap<TransportOptions, TlsSettings>();

/**
 * core's wsTransport reports every failure before open as ECONNREFUSED; the
 * `ws` package says on the error event (the cause) when it was TLS.
 */
function tlsDialError(err: unknown): unknown {
  if (!(err instanceof SPError) || err.code !== "ECONNREFUSED") return err;
  const inner = (err.cause as { error?: unknown } | undefined)?.error;
  if (!isTlsFailure(inner)) return err;
  return new SPError("ECRYPTO", err.message, { cause: err.cause });
}

/**
 * ws:// and wss:// (listen and dial) for Node, using the `ws` package.
 *
 * @example
 * const rep = new Rep({ transports: [nodeWsTransport()] });
 * const l = await rep.listen("ws://127.0.0.1:0/sp");
 * console.log(l.url); // ws://127.0.0.1:41235/sp
 *
 * @example
 * // wss: the listener needs cert and key; the dialer verifies unless insecure
 * const l = await rep.listen("wss://127.0.0.1:0/sp", { cert, key });
 * await req.dial(l.url, { ca });
 */
export function nodeWsTransport(options: NodeWsOptions = {}): Transport {
  const dialer = wsTransport({
    highWaterMark: options.highWaterMark,
    io: wsPipeIo,
    factory: (url, protocol, opts) => {
      const t = opts.handshakeTimeout;
      const tls = dialTls.get(opts);
      return new WebSocket(url, protocol, {
        perMessageDeflate: false,
        // ws treats 0 as "no limit"; a larger frame is refused (Close 1009) before it is buffered.
        maxPayload: opts.recvMaxSize,
        // core's own deadline (armed first) normally wins; this one also bounds ws's request.
        ...(Number.isFinite(t) && t > 0 ? { handshakeTimeout: t } : {}),
        // ws sends the host as SNI (none for an IP) and checks the certificate against servername or host.
        ...(tls !== undefined ? clientTlsOptions(tls) : {}),
      });
    },
  });
  return {
    schemes: ["ws", "wss"],
    dial: (url, opts) => {
      if (url.protocol !== "wss:") return dialer.dial(url, opts);
      let tls: TlsSettings;
      try {
        tls = readTlsOptions(opts, "dial", url.href);
      } catch (err) {
        return Promise.reject(err);
      }
      const o: TransportOptions = { ...opts };
      dialTls.set(o, tls);
      return dialer.dial(url, o).catch((err: unknown) => {
        throw tlsDialError(err);
      });
    },
    listen,
  };
}
