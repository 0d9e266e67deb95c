/**
 * The gateway's shared vocabulary: the resolved configuration every module
 * reads, the rights a connection carries, and the close codes and refusal
 * reasons a browser and an operator see. config.ts produces these shapes
 * (from a file, flags and the environment, validated); everything else only
 * reads them.
 */
import type { IncomingMessage } from "node:http";

/** The browser's protocol on a route (the gateway speaks its peer on the ws side). */
export type BrowserProtocol =
  | "pair0"
  | "pair1"
  | "pub"
  | "sub"
  | "req"
  | "rep"
  | "push"
  | "pull"
  | "surveyor"
  | "respondent"
  | "bus";

export const BROWSER_PROTOCOLS: readonly BrowserProtocol[] = [
  "pair0",
  "pair1",
  "pub",
  "sub",
  "req",
  "rep",
  "push",
  "pull",
  "surveyor",
  "respondent",
  "bus",
];

/** What happens when a browser's bounded queue is full. */
export type SlowConsumerPolicy = "drop-new" | "drop-old" | "disconnect" | "latest";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/** TLS material for an upstream (tls+tcp://, wss://): PEM text, already read from files. */
export interface UpstreamTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  insecure?: boolean;
}

export interface QueueConfig {
  /** Messages waiting for one browser, at most (beyond what the socket itself buffers). */
  messages: number;
  /** Bytes waiting for one browser, at most. */
  bytes: number;
  policy: SlowConsumerPolicy;
  /** Bytes the WebSocket itself may buffer before the queue above fills (its high water mark). */
  socketBytes: number;
}

export interface RateLimitConfig {
  /** Messages per second a browser may send on this route (token bucket refill). */
  messages: number;
  /** Bucket size: the burst allowed above the rate. */
  burst: number;
}

export interface RouteConfig {
  /** The ws path browsers open, e.g. "/feed". Starts with "/"; unique. */
  path: string;
  /** The browser's protocol; the gateway listens for it with the peer protocol, raw. */
  protocol: BrowserProtocol;
  /** Where the upstream SP peers are: tcp://, tls+tcp://, ipc://, ws://, wss://. */
  upstream: string;
  /** "dial" (default): the gateway connects to the upstream. "listen": backends connect to the gateway. */
  upstreamMode: "dial" | "listen";
  /** TLS options for the upstream dial or listen. */
  upstreamTls: UpstreamTls | undefined;
  /** "shared" (one upstream socket for all browsers; default except pair) or "per-connection". */
  mode: "shared" | "per-connection";
  /** Largest message accepted from a browser (bytes; also the upstream's recvMaxSize). */
  maxMessageSize: number;
  queue: QueueConfig;
  /** Inbound limit per browser connection; undefined = none. */
  rateLimit: RateLimitConfig | undefined;
  /** A token is required on this route. */
  auth: boolean;
  /** Origin allowlist for this route (overrides the gateway's); undefined = the gateway's. */
  origins: string[] | undefined;
  /** For `latest`: the topic of a message is its body up to (not including) the first of these bytes; the whole body if absent. */
  topicDelimiter: string;
}

export interface StaticToken {
  /** The secret token string a client presents. */
  token: string;
  /** A name for logs and metrics (never the token itself). */
  subject: string;
  rights: Rights;
  /** Epoch ms after which the token is refused as expired; undefined = never. */
  expiresAt: number | undefined;
}

export interface JwtConfig {
  /** HS256 shared secret (from the environment, usually). */
  secret: string | undefined;
  /** Path of a JWKS file (RS256/ES256 public keys). */
  jwksFile: string | undefined;
  /** Algorithms accepted. */
  algorithms: ("HS256" | "RS256" | "ES256")[];
  issuer: string | undefined;
  audience: string | undefined;
  /** The claim holding `{ routes, read, publish }`. Default "spwire". */
  claim: string;
}

export interface AuthConfig {
  tokens: StaticToken[];
  jwt: JwtConfig | undefined;
  /** Cookie that may carry the token. Default "spwire_token". */
  cookie: string;
  /** URL query parameter that may carry the token. Default "token". */
  queryParam: string;
}

export interface LimitsConfig {
  /** Browser connections at once, all routes. */
  maxConnections: number;
  /** Browser connections at once from one client IP address. */
  maxConnectionsPerIp: number;
  /** ms from TCP accept to a finished WebSocket upgrade (TLS included for wss). */
  upgradeTimeout: number;
  /** ms between ws pings to each browser; 0 = never. */
  pingInterval: number;
  /** ms without any frame (pong or message) from a browser before it is closed; 0 = never. */
  idleTimeout: number;
  /**
   * ms a browser has to finish the close handshake once its pipe has ended
   * (answer our Close frame, or close TCP after answering its own); then the
   * TCP connection is destroyed and its slot freed. The `ws` package alone
   * would wait 30 s.
   */
  closeTimeout: number;
}

export interface GatewayConfig {
  /** ws://host:port or wss://host:port (no path). */
  listen: string;
  /** PEM certificate and key for wss://. */
  tls: { cert: string; key: string } | undefined;
  /** Directory of static files served over plain HTTP GET. */
  staticDir: string | undefined;
  routes: RouteConfig[];
  /** Allowed browser origins (exact "https://host:port" strings, or "*"); undefined = any origin. */
  origins: string[] | undefined;
  /**
   * Proxies whose X-Forwarded-For is believed (IP addresses or CIDR ranges,
   * e.g. "127.0.0.1", "10.0.0.0/8"). A connection from one of them counts,
   * and is logged, as the rightmost address in its X-Forwarded-For that is
   * not itself a trusted proxy; any other connection as its TCP peer. Empty
   * (the default): the header is ignored, so no client can choose its IP.
   */
  trustProxy: string[];
  limits: LimitsConfig;
  auth: AuthConfig;
  logLevel: LogLevel;
  /** ms to wait for browsers' queues to flush on shutdown. */
  shutdownTimeout: number;
}

/** What a connection may do. Prefixes are byte prefixes of message bodies, given as UTF-8 strings. */
export interface Rights {
  /** Route paths this connection may open; ["*"] = all. */
  routes: string[];
  /** Topic prefixes it may receive; [""] = everything. */
  read: string[];
  /** Topic prefixes it may send (routes where the browser sends); [""] = everything. */
  publish: string[];
}

/** Everything allowed: what a connection on a route without auth gets. */
export const ALL_RIGHTS: Rights = Object.freeze({ routes: ["*"], read: [""], publish: [""] }) as Rights;

/** Who a connection is, once authenticated. */
export interface Identity {
  /** Token subject for logs; "anonymous" without a token. */
  subject: string;
  rights: Rights;
}

/**
 * Why an upgrade was refused (the metric label) and the WebSocket close code
 * the browser reads (it cannot read HTTP statuses). Refusals use 4400-4499
 * (and 1011 for a failing hook), which core's dialer treats as a failed dial:
 * it reports `dialerror` (ECONNREFUSED, the code in `error.cause.code`) and
 * backs off. Closes of accepted connections (CLOSE) stay outside that range,
 * so after them the browser redials at once.
 */
export const REFUSALS = {
  "bad-request": 4400,
  "token-missing": 4401,
  "token-invalid": 4402,
  "route-forbidden": 4403,
  "no-route": 4404,
  origin: 4405,
  "token-expired": 4440,
  "max-connections": 4429,
  "max-connections-ip": 4429,
  "auth-error": 1011,
  "shutting-down": 1001,
} as const;

export type RefusalReason = keyof typeof REFUSALS;

/** Close codes for connections that were accepted and are then closed by the gateway. */
export const CLOSE = {
  /** Shutdown (SIGTERM/SIGINT). */
  goingAway: 1001,
  /** A text frame (nng's behaviour). */
  textFrame: 1003,
  /** A message over the route's maxMessageSize. */
  tooBig: 1009,
  /** No frame from the browser within idleTimeout. */
  idle: 4008,
  /** Slow consumer under the `disconnect` policy. */
  slowConsumer: 4009,
} as const;

/** The outcome of authenticating one upgrade request. */
export type AuthOutcome = { ok: true; identity: Identity } | { ok: false; reason: RefusalReason; message: string };

/**
 * A library user's own check, run instead of the token checks when given.
 * Return an Identity to accept, or `{ reason, message }` to refuse.
 */
export type AuthenticateHook = (
  req: IncomingMessage,
  ctx: { route: RouteConfig; token: string | undefined },
) => Promise<Identity | { reason: RefusalReason; message: string }> | Identity | { reason: RefusalReason; message: string };
