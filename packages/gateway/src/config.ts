/**
 * The gateway's configuration: from a file (YAML or JSON), the environment
 * and command-line flags, to the resolved {@link GatewayConfig} every other
 * module reads.
 *
 * Resolving runs in four steps, and reports every problem it finds at once
 * as one {@link ConfigError}, a line per problem naming the field:
 *
 * 1. `${NAME}` in any string value is replaced by the environment variable
 *    NAME; SPWIRE_JWT_SECRET, SPWIRE_TOKENS and SPWIRE_LOG_LEVEL are applied.
 * 2. The shape is checked with zod: types, enums, unknown keys (every object
 *    is strict, so a misspelt key is an error, not a silently ignored line),
 *    and each value that can be judged alone (URLs, paths, origins, dates).
 * 3. Cross-field rules and the file system: wss:// needs tls, duplicate
 *    route paths, per-connection routes cannot listen, JWT keys match the
 *    algorithms, files exist and hold what they should.
 * 4. Defaults are filled in from {@link CONFIG_DEFAULTS}, files are read
 *    (PEM text), relative paths become absolute.
 *
 * Secrets (static tokens, the JWT secret, private keys) never appear in an
 * error message: for those fields only the field is named.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, extname, resolve as resolvePath } from "node:path";
import { createSecureContext } from "node:tls";
import { parseArgs as parseFlags } from "node:util";
import { X509Certificate } from "node:crypto";
import YAML from "yaml";
import { z } from "zod";
import {
  BROWSER_PROTOCOLS,
  type AuthConfig,
  type BrowserProtocol,
  type GatewayConfig,
  type JwtConfig,
  type LimitsConfig,
  type LogLevel,
  type QueueConfig,
  type RouteConfig,
  type SlowConsumerPolicy,
  type StaticToken,
  type UpstreamTls,
} from "./types.js";

// ---------------------------------------------------------------------------
// One table of defaults, and the vocabularies.

/** Every default, in one place (the README's table is this one). */
export const CONFIG_DEFAULTS = Object.freeze({
  logLevel: "info" as LogLevel,
  /** ms */
  shutdownTimeout: 5000,
  limits: Object.freeze({
    maxConnections: 10_000,
    maxConnectionsPerIp: 256,
    upgradeTimeout: 10_000,
    pingInterval: 30_000,
    idleTimeout: 75_000,
  } satisfies LimitsConfig),
  auth: Object.freeze({ cookie: "spwire_token", queryParam: "token" }),
  jwtClaim: "spwire",
  route: Object.freeze({
    upstreamMode: "dial" as const,
    maxMessageSize: 1_048_576,
    queue: Object.freeze({ messages: 256, bytes: 1_048_576, policy: "drop-old", socketBytes: 262_144 } satisfies QueueConfig),
    topicDelimiter: " ",
  }),
  token: Object.freeze({ routes: ["*"], read: [""], publish: [""] }),
});

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const satisfies readonly LogLevel[];
const POLICIES = ["drop-new", "drop-old", "disconnect", "latest"] as const satisfies readonly SlowConsumerPolicy[];
const JWT_ALGORITHMS = ["HS256", "RS256", "ES256"] as const;
const PROTOCOLS = BROWSER_PROTOCOLS as readonly [BrowserProtocol, ...BrowserProtocol[]];
/** Upstream URL schemes, as @spwire/node's network transports serve them (inproc is not one: an upstream is another process). */
const UPSTREAM_SCHEMES = ["tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4", "tls+tcp6", "ipc", "ws", "wss"];
/** The schemes as the messages name them (the 4/6 variants are accepted too). */
const UPSTREAM_SCHEMES_SHOWN = "tcp, tls+tcp, ipc, ws, wss";
/** Paths the gateway's HTTP side answers itself. */
const RESERVED_PATHS = ["/healthz", "/readyz", "/metrics", "/routes"];
/** Protocols whose routes default to one upstream socket per browser: a pair has exactly one peer. */
const PER_CONNECTION_BY_DEFAULT: ReadonlySet<BrowserProtocol> = new Set(["pair0", "pair1"]);
/** The example every --route message shows. */
const ROUTE_EXAMPLE = "/feed=sub@tcp://127.0.0.1:5555";

// ---------------------------------------------------------------------------
// The error.

/**
 * A configuration that cannot run. `issues` holds one line per problem, each
 * starting with the field (`routes[0].protocol: ...`), the flag
 * (`--route "/x": ...`) or the variable (`SPWIRE_TOKENS[1].token: ...`);
 * `message` is those lines joined.
 */
export class ConfigError extends Error {
  readonly issues: string[];

  constructor(issues: string[]) {
    super(issues.join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

// ---------------------------------------------------------------------------
// The input shape: what a file holds and what a library user passes.

/** A byte count: a number, or a string such as "1MiB", "64KiB", "500kB", "4096". */
export type SizeInput = number | string;

export interface TokenInput {
  /** The secret a client presents. */
  token: string;
  /** Its name in logs and metrics. Default `token-<n>` (n counts from 1 over the file's tokens, then SPWIRE_TOKENS). */
  subject?: string;
  /** Route paths it may open, or ["*"]. Default ["*"]. */
  routes?: string[];
  /** Topic prefixes it may receive. Default [""] (everything). */
  read?: string[];
  /** Topic prefixes it may send. Default [""] (everything). */
  publish?: string[];
  /** When it stops working: an ISO 8601 date ("2027-01-01", "2027-01-01T00:00:00Z"), epoch seconds, or a Date. */
  expires?: string | number | Date;
}

export interface JwtInput {
  /** HS256 secret. SPWIRE_JWT_SECRET sets it. */
  secret?: string;
  /** Path of a JWKS file (`{ "keys": [...] }`) with the RS256/ES256 public keys. */
  jwksFile?: string;
  /** Default: HS256 if there is a secret, RS256 and ES256 if there is a jwksFile. */
  algorithms?: ("HS256" | "RS256" | "ES256")[];
  issuer?: string;
  audience?: string;
  /** The claim holding `{ routes, read, publish }`. Default "spwire". */
  claim?: string;
}

export interface AuthInput {
  /** Default "spwire_token". */
  cookie?: string;
  /** Default "token". */
  queryParam?: string;
  tokens?: TokenInput[];
  jwt?: JwtInput;
}

export interface RouteInput {
  /** The ws path browsers open: starts with "/", unique, not /healthz /readyz /metrics /routes. */
  path: string;
  /** The browser's protocol. */
  protocol: BrowserProtocol;
  /** tcp://, tls+tcp://, ipc://, ws:// or wss:// URL of the upstream. */
  upstream: string;
  /** Default "dial". */
  upstreamMode?: "dial" | "listen";
  /** TLS for a tls+tcp:// or wss:// upstream: each of ca, cert, key a file path or inline PEM. */
  upstreamTls?: UpstreamTls;
  /** Default "per-connection" for pair0/pair1, "shared" otherwise. */
  mode?: "shared" | "per-connection";
  /** Default 1 MiB. */
  maxMessageSize?: SizeInput;
  queue?: { messages?: number; bytes?: SizeInput; policy?: SlowConsumerPolicy; socketBytes?: SizeInput };
  /** Messages per second per browser; `burst` defaults to `messages`. */
  rateLimit?: { messages: number; burst?: number };
  /** Default: true when auth has tokens or a jwt section. */
  auth?: boolean;
  /** Overrides the gateway's origins on this route. */
  origins?: string[];
  /** Default " ". */
  topicDelimiter?: string;
}

/**
 * The configuration as written: a YAML/JSON file's content, or what a
 * library user passes to `createGateway`. Every key but `listen` and
 * `routes` is optional; {@link resolveConfig} fills in the defaults.
 *
 * @example
 * const input: GatewayInput = {
 *   listen: "ws://0.0.0.0:8080",
 *   routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555" }],
 * };
 */
export interface GatewayInput {
  /** ws://HOST:PORT or wss://HOST:PORT. */
  listen: string;
  /** Required iff listen is wss://. Each a file path or inline PEM. */
  tls?: { cert: string; key: string };
  /** A directory of static files to serve. */
  static?: string;
  /** Allowed browser origins (exact, or "*"); absent = any. */
  origins?: string[];
  logLevel?: LogLevel;
  /** ms. Default 5000. */
  shutdownTimeout?: number;
  limits?: Partial<LimitsConfig>;
  auth?: AuthInput;
  routes: RouteInput[];
}

// ---------------------------------------------------------------------------
// Small helpers.

type Path = (string | number)[];

/** `routes[0].queue.policy`; `root` names what the path is inside (a variable, a flag), if not the configuration. */
function formatPath(path: readonly PropertyKey[], root = ""): string {
  let out = root;
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else if (typeof k === "string" && /^[A-Za-z_$][\w$]*$/.test(k)) out += out === "" ? k : `.${k}`;
    else out += `[${JSON.stringify(String(k))}]`;
  }
  return out === "" ? "configuration" : out;
}

/** A value for a message: JSON, shortened; URL credentials hidden. */
function show(v: unknown): string {
  let s: string;
  try {
    s = v instanceof Date ? v.toISOString() : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  s = s.replace(/\/\/[^/@\s"]*@/, "//***@");
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Edits (insert, delete, replace, swap two neighbours) from `a` to `b`, ignoring case. */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word`, if it is close enough to be a typo of it. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 4))) return best;
  // "maxConn" for "maxConnections": a prefix is a typo too.
  const w = word.toLowerCase();
  return w.length >= 3 ? candidates.find((c) => c.toLowerCase().startsWith(w)) : undefined;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// ---------------------------------------------------------------------------
// Values judged alone (the zod leaf checks).

/** The problem with a listen address, or undefined. */
function listenProblem(v: string): string | undefined {
  const m = /^(wss?):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:?#@[\]]+):(\d{1,5})\/?$/.exec(v);
  const expected = `expected ws://HOST:PORT or wss://HOST:PORT with no path, e.g. ws://0.0.0.0:8080 (got ${show(v)})`;
  if (m === null) return expected;
  if (Number(m[3]) > 65535) return `port ${m[3]} is not a TCP port`;
  try {
    new URL(v);
  } catch {
    return expected;
  }
  return undefined;
}

/** The path as nng's ws matches it: one trailing "/" does not count. */
const normalRoutePath = (p: string): string => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p);

function routePathProblem(v: string): string | undefined {
  if (!/^\/[^\s?#]*$/.test(v)) return `expected a path starting with "/", without spaces, "?" or "#" (got ${show(v)})`;
  if (RESERVED_PATHS.includes(normalRoutePath(v))) {
    return `${show(v)} is reserved for the gateway's own endpoints (${RESERVED_PATHS.join(" ")})`;
  }
  return undefined;
}

function upstreamProblem(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return `expected a URL such as tcp://127.0.0.1:5555 (got ${show(v)})`;
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (!UPSTREAM_SCHEMES.includes(scheme)) return `unsupported scheme "${scheme}://"; expected one of ${UPSTREAM_SCHEMES_SHOWN}`;
  if (/^(tls\+)?tcp[46]?$/.test(scheme)) {
    if (u.port === "") return `a ${scheme}:// URL needs a port, e.g. ${scheme}://127.0.0.1:5555`;
    if (u.username !== "" || u.password !== "") return `a ${scheme}:// URL has no user or password`;
    if ((u.pathname !== "" && u.pathname !== "/") || u.search !== "" || u.hash !== "") {
      return `a ${scheme}:// URL is host:port only, with no path or query (got ${show(v)})`;
    }
  } else if (scheme === "ipc") {
    if (v.length <= "ipc://".length) return "an ipc:// URL needs a path, e.g. ipc:///tmp/feed.ipc";
  } else if (u.hostname === "") {
    return `a ${scheme}:// URL needs a host, e.g. ${scheme}://127.0.0.1:8081/feed`;
  }
  return undefined;
}

/** An origin as browsers send it ("https://host[:port]"), or "*"; the normal form, or the problem. */
function parseOrigin(v: string): { origin: string } | { problem: string } {
  if (v === "*") return { origin: v };
  const expected = `expected an origin such as https://app.example.com (scheme://host[:port], no path) or "*"`;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return { problem: `${expected} (got ${show(v)})` };
  }
  if (u.origin === "null") return { problem: `${expected} (got ${show(v)})` };
  if (v === u.origin || v === `${u.origin}/`) return { origin: u.origin };
  const bare = u.pathname === "/" && u.search === "" && u.hash === "" && u.username === "";
  return { problem: `${expected} (got ${show(v)}${bare ? `; did you mean "${u.origin}"?` : ""})` };
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** `expires` as epoch ms, or the problem. Numbers (and digit strings) are epoch seconds. */
function parseExpires(v: string | number | Date): number | string {
  const expected = 'expected an ISO 8601 date with a time zone (e.g. "2027-01-01T00:00:00Z" or "2027-01-01") or epoch seconds';
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.getTime() : `${expected} (got an invalid Date)`;
  if (typeof v === "string" && /^\d+$/.test(v.trim())) v = Number(v.trim());
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0) return `${expected} (got ${show(v)})`;
    // Epoch seconds: a value this large was surely given in ms, which would mean a date 1000x later.
    if (v > 1e11) return `${show(v)} looks like epoch milliseconds; give epoch seconds`;
    return Math.round(v * 1000);
  }
  const s = v.trim();
  const ms = ISO_DATE.test(s) || ISO_DATE_TIME.test(s) ? Date.parse(s.replace(" ", "T")) : NaN;
  return Number.isFinite(ms) ? ms : `${expected} (got ${show(v)})`;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** "1MiB" -> 1048576, "64 KiB" -> 65536, "4096" -> 4096; anything else is passed on for zod to refuse. */
function sizeToNumber(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m === null ? undefined : SIZE_UNITS[m[2]!.toLowerCase()];
  return m === null || unit === undefined ? v : Math.round(Number(m[1]) * unit);
}

/** "500" -> 500 (a number written as a string, e.g. after ${VAR} substitution). */
const digitsToNumber = (v: unknown): unknown => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v);
const wordsToBoolean = (v: unknown): unknown => (v === "true" ? true : v === "false" ? false : v);
/** A single string where a list is expected is a list of one. */
const oneToList = (v: unknown): unknown => (typeof v === "string" ? [v] : v);

// ---------------------------------------------------------------------------
// The schema.

/** `required` when absent, else `text`. */
const need =
  (text: string) =>
  (iss: { input?: unknown }): string =>
    iss.input === undefined ? "required" : text;

function integer(min: 0 | 1, text: string) {
  return z.preprocess(digitsToNumber, z.number({ error: need(text) }).int({ error: text }).min(min, { error: text }));
}
const positiveInt = () => integer(1, "expected a positive integer");
/** Milliseconds where 0 means "off". */
const msOrOff = () => integer(0, "expected a whole number of milliseconds, 0 = off");
const positiveMs = () => integer(1, "expected a positive whole number of milliseconds");
const size = () => {
  const text = 'expected a positive number of bytes, e.g. 1048576 or "1MiB"';
  return z.preprocess(sizeToNumber, z.number({ error: need(text) }).int({ error: text }).positive({ error: text }));
};
const bool = () => z.preprocess(wordsToBoolean, z.boolean({ error: need("expected true or false") }));
const text = () => z.string({ error: need("expected a string") });
const nonEmpty = () => text().min(1, { error: "must not be empty" });
const stringList = () => z.preprocess(oneToList, z.array(text(), { error: need("expected a list of strings") }));
/** An enum; its message names what was given (no enum field holds a secret). */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, {
    error: (iss) => (iss.input === undefined ? "required" : `expected one of ${values.join(", ")} (got ${show(iss.input)})`),
  });

/** A string `check` judges: it returns the problem, or undefined. */
function judged(check: (v: string) => string | undefined) {
  return text().superRefine((v, ctx) => {
    const problem = check(v);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });
}

const originList = () =>
  z
    .preprocess(oneToList, z.array(text(), { error: need("expected a list of origins") }))
    .superRefine((list, ctx) => {
      if (list.length === 0) ctx.addIssue({ code: "custom", message: 'must not be empty (leave it out to allow any origin, or use ["*"])' });
      list.forEach((o, i) => {
        const r = parseOrigin(o);
        if ("problem" in r) ctx.addIssue({ code: "custom", message: r.problem, path: [i] });
      });
    })
    .transform((list) =>
      list.map((o) => {
        const r = parseOrigin(o);
        return "origin" in r ? r.origin : o;
      }),
    );

const pemSource = () => nonEmpty();

const tokenSchema = z
  .object({
    token: nonEmpty(),
    subject: nonEmpty().optional(),
    routes: z
      .preprocess(oneToList, z.array(judged((r) => (r === "*" || r.startsWith("/") ? undefined : `expected "*" or a route path starting with "/" (got ${show(r)})`)), { error: need("expected a list of route paths") }))
      .optional(),
    read: stringList().optional(),
    publish: stringList().optional(),
    expires: z
      .union([z.string(), z.number(), z.date()], { error: need('expected an ISO 8601 date (e.g. "2027-01-01T00:00:00Z") or epoch seconds') })
      .transform((v, ctx) => {
        const r = parseExpires(v);
        if (typeof r === "string") {
          ctx.addIssue({ code: "custom", message: r });
          return z.NEVER;
        }
        return r;
      })
      .optional(),
  })
  .strict();

const jwtSchema = z
  .object({
    secret: nonEmpty().optional(),
    jwksFile: nonEmpty().optional(),
    algorithms: z.preprocess(oneToList, z.array(oneOf(JWT_ALGORITHMS)).min(1, { error: "must not be empty" })).optional(),
    issuer: nonEmpty().optional(),
    audience: nonEmpty().optional(),
    claim: nonEmpty().optional(),
  })
  .strict();

const routeSchema = z
  .object({
    path: judged(routePathProblem),
    protocol: oneOf(PROTOCOLS as unknown as readonly [string, ...string[]]).transform((p) => p as BrowserProtocol),
    upstream: judged(upstreamProblem),
    upstreamMode: oneOf(["dial", "listen"]).optional(),
    upstreamTls: z
      .object({
        ca: pemSource().optional(),
        cert: pemSource().optional(),
        key: pemSource().optional(),
        servername: nonEmpty().optional(),
        insecure: bool().optional(),
      })
      .strict()
      .optional(),
    mode: oneOf(["shared", "per-connection"]).optional(),
    maxMessageSize: size().optional(),
    queue: z
      .object({
        messages: positiveInt().optional(),
        bytes: size().optional(),
        policy: oneOf(POLICIES).optional(),
        socketBytes: size().optional(),
      })
      .strict()
      .optional(),
    rateLimit: z.object({ messages: positiveInt(), burst: positiveInt().optional() }).strict().optional(),
    auth: bool().optional(),
    origins: originList().optional(),
    topicDelimiter: text().optional(),
  })
  .strict();

const inputSchema = z
  .object({
    listen: judged(listenProblem),
    tls: z.object({ cert: pemSource(), key: pemSource() }).strict().optional(),
    static: nonEmpty().optional(),
    origins: originList().optional(),
    logLevel: oneOf(LOG_LEVELS).optional(),
    shutdownTimeout: positiveMs().optional(),
    limits: z
      .object({
        maxConnections: positiveInt().optional(),
        maxConnectionsPerIp: positiveInt().optional(),
        upgradeTimeout: positiveMs().optional(),
        pingInterval: msOrOff().optional(),
        idleTimeout: msOrOff().optional(),
      })
      .strict()
      .optional(),
    auth: z
      .object({
        cookie: judged((c) => (/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(c) ? undefined : `expected a cookie name (letters, digits, _ - . and the like; got ${show(c)})`)).optional(),
        queryParam: nonEmpty().optional(),
        tokens: z.array(tokenSchema, { error: need("expected a list of tokens") }).optional(),
        jwt: jwtSchema.optional(),
      })
      .strict()
      .optional(),
    routes: z
      .array(routeSchema, { error: need("expected a list of routes") })
      .min(1, { error: "at least one route is required" }),
  })
  .strict();

type ParsedInput = z.output<typeof inputSchema>;
type ParsedToken = z.output<typeof tokenSchema>;

/** Marks the message of an unknown-key issue, which carries the object's known keys to {@link describeIssue}. */
const KNOWN_KEYS = "\0known:";

/**
 * The messages zod's own issues get, in this file's words. Runs after each
 * schema's own `error` (which wins). Never echoes the input of a secret field.
 */
function defaultMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type": {
      if (iss.input === undefined) return "required";
      const words: Record<string, string> = {
        string: "a string",
        number: "a number",
        boolean: "true or false",
        array: "a list",
        object: "a mapping (key: value)",
        date: "a date",
      };
      return `expected ${words[iss.expected] ?? iss.expected}`;
    }
    case "unrecognized_keys": {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      return KNOWN_KEYS + Object.keys(shape ?? {}).join(",");
    }
    case "invalid_value":
      return `expected one of ${iss.values.map(String).join(", ")}`;
    case "too_small":
      return iss.origin === "array" || iss.origin === "string" ? "must not be empty" : `must be at least ${String(iss.minimum)}`;
    case "invalid_union":
      return "not a valid value";
    default:
      return undefined;
  }
}

/** One zod issue as lines `field: problem` (an unknown-key issue is a line per key). */
function describeIssue(iss: z.core.$ZodIssue, label: (path: readonly PropertyKey[]) => string): string[] {
  if (iss.code === "unrecognized_keys") {
    const known = iss.message.startsWith(KNOWN_KEYS) ? iss.message.slice(KNOWN_KEYS.length).split(",").filter(Boolean) : [];
    return iss.keys.map((k) => {
      const near = closest(k, known);
      const hint = near !== undefined ? `did you mean "${near}"?` : known.length > 0 ? `expected one of ${known.join(", ")}` : "";
      return `${label([...iss.path, k])}: unknown key${hint === "" ? "" : ` (${hint})`}`;
    });
  }
  return [`${label(iss.path)}: ${iss.message}`];
}

// ---------------------------------------------------------------------------
// The environment.

/**
 * A copy of `v` with `${NAME}` in every string replaced by env NAME (`$${`
 * is a literal `${`). Nulls in objects (YAML's `key:` with no value) are
 * dropped, so they read as absent.
 */
function substitute(v: unknown, path: Path, env: Record<string, string | undefined>, missing: (path: Path, name: string) => void): unknown {
  if (typeof v === "string") {
    return v.replace(/\$\$\{|\$\{([^}]*)\}/g, (all, name: string | undefined) => {
      if (name === undefined) return "${";
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        missing(path, `\${${name}} (not a variable name)`);
        return all;
      }
      const value = env[name];
      if (value === undefined) {
        missing(path, name);
        return all;
      }
      return value;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => substitute(x, [...path, i], env, missing));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = substitute(x, [...path, k], env, missing);
    return out;
  }
  return v;
}

const ENV_TOKENS_SHAPE = 'a JSON array of tokens, e.g. [{"token": "...", "subject": "ci", "routes": ["/feed"]}]';

/** SPWIRE_TOKENS, checked with the file's token schema; problems are named `SPWIRE_TOKENS[i].field`. */
function envTokens(raw: string | undefined, issues: string[]): ParsedToken[] {
  if (raw === undefined || raw.trim() === "") return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    // JSON.parse's message quotes the text around the error: that is the secrets. Name the problem only.
    issues.push(`SPWIRE_TOKENS: not valid JSON; expected ${ENV_TOKENS_SHAPE}`);
    return [];
  }
  if (!Array.isArray(json)) {
    issues.push(`SPWIRE_TOKENS: expected ${ENV_TOKENS_SHAPE}`);
    return [];
  }
  const r = z.array(tokenSchema).safeParse(json, { error: defaultMessage });
  if (!r.success) {
    for (const iss of r.error.issues) issues.push(...describeIssue(iss, (p) => formatPath(p, "SPWIRE_TOKENS")));
    return [];
  }
  return r.data;
}

// ---------------------------------------------------------------------------
// Resolving.

export interface ResolveOptions {
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Relative file paths resolve against this directory. Default process.cwd(). */
  baseDir?: string;
}

interface ResolveContext {
  env: Record<string, string | undefined>;
  baseDir: string;
  /** Names for routes that came from flags: `routes[i]` is shown as the flag. */
  routeLabels: (string | undefined)[];
}

/**
 * Validate a configuration and fill in its defaults.
 *
 * `input` is a {@link GatewayInput}: a parsed file, or an object in code.
 * Files it names (tls, static, jwksFile, upstreamTls) resolve against
 * `baseDir`; PEM files are read into text. Throws {@link ConfigError} listing
 * every problem.
 *
 * @example
 * const config = resolveConfig({
 *   listen: "ws://127.0.0.1:8080",
 *   routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555" }],
 * });
 * config.routes[0].mode; // "shared"
 */
export function resolveConfig(input: unknown, opts: ResolveOptions = {}): GatewayConfig {
  return resolveWith(input, { env: opts.env ?? process.env, baseDir: resolvePath(opts.baseDir ?? process.cwd()), routeLabels: [] });
}

function resolveWith(input: unknown, ctx: ResolveContext): GatewayConfig {
  const issues: string[] = [];
  const label = (path: readonly PropertyKey[]): string => {
    const i = path[1];
    const flag = path[0] === "routes" && typeof i === "number" ? ctx.routeLabels[i] : undefined;
    if (flag === undefined) return formatPath(path);
    return path.length > 2 ? `${flag}: ${formatPath(path.slice(2))}` : flag;
  };

  // 1. The environment.
  const unset = new Set<string>();
  const data = substitute(input, [], ctx.env, (path, name) => {
    unset.add(formatPath(path));
    issues.push(`${label(path)}: environment variable ${name} is not set`);
  });
  const level = ctx.env.SPWIRE_LOG_LEVEL;
  const jwtSecret = ctx.env.SPWIRE_JWT_SECRET;
  if (isPlainObject(data)) {
    if (level !== undefined && level !== "") {
      if ((LOG_LEVELS as readonly string[]).includes(level)) data.logLevel = level;
      else issues.push(`SPWIRE_LOG_LEVEL: expected one of ${LOG_LEVELS.join(", ")} (got ${show(level)})`);
    }
    if (jwtSecret !== undefined && jwtSecret !== "") {
      const auth = data.auth === undefined ? (data.auth = {}) : data.auth;
      if (isPlainObject(auth)) {
        const jwt = auth.jwt === undefined ? (auth.jwt = { algorithms: ["HS256"] }) : auth.jwt;
        if (isPlainObject(jwt)) jwt.secret = jwtSecret;
      }
    }
  }
  const fromEnv = envTokens(ctx.env.SPWIRE_TOKENS, issues);

  // 2. The shape.
  const parsed = inputSchema.safeParse(data, { error: defaultMessage });
  if (!parsed.success) {
    for (const iss of parsed.error.issues) {
      // A field whose ${VAR} is unset is already reported; its leftover "${VAR}" text is no second problem.
      if (unset.has(formatPath(iss.path))) continue;
      issues.push(...describeIssue(iss, label));
    }
  }
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);

  // 3 and 4. Cross-field rules, files, defaults.
  const config = build(parsed.data, fromEnv, ctx, (path, problem) => issues.push(`${label(path)}: ${problem}`));
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

type Report = (path: Path, problem: string) => void;

function build(p: ParsedInput, fromEnv: ParsedToken[], ctx: ResolveContext, report: Report): GatewayConfig {
  const file = (v: string): string => resolvePath(ctx.baseDir, v);

  // listen and tls
  const listen = p.listen.replace(/\/$/, "");
  const wss = listen.startsWith("wss:");
  let tls: GatewayConfig["tls"];
  if (wss && p.tls === undefined) report(["tls"], "required for a wss:// listen address: { cert, key } (files or PEM text), or --cert and --key");
  if (!wss && p.tls !== undefined) report(["tls"], "only used with a wss:// listen address (listen is ws://)");
  if (wss && p.tls !== undefined) {
    const cert = readPem(["tls", "cert"], p.tls.cert, file, report);
    const key = readPem(["tls", "key"], p.tls.key, file, report);
    if (cert !== undefined && key !== undefined) {
      try {
        createSecureContext({ cert, key });
        tls = { cert, key };
      } catch (err) {
        report(["tls"], `the certificate and key are not a usable pair: ${errText(err)}`);
      }
    }
  }

  // static
  let staticDir: string | undefined;
  if (p.static !== undefined) {
    staticDir = file(p.static);
    const st = statSync(staticDir, { throwIfNoEntry: false });
    if (st === undefined) report(["static"], `${show(p.static)} does not exist (${staticDir})`);
    else if (!st.isDirectory()) report(["static"], `${show(p.static)} is not a directory (${staticDir})`);
  }

  // limits
  const limits: LimitsConfig = { ...CONFIG_DEFAULTS.limits, ...stripUndefined(p.limits ?? {}) };
  if (limits.pingInterval > 0 && limits.idleTimeout > 0 && limits.idleTimeout <= limits.pingInterval) {
    report(
      ["limits", "idleTimeout"],
      `must be longer than limits.pingInterval (${limits.pingInterval} ms), or a browser answering every ping is still closed as idle`,
    );
  }

  // auth
  const auth = buildAuth(p, fromEnv, file, report);
  const authByDefault = auth.tokens.length > 0 || auth.jwt !== undefined;

  // routes
  const seen = new Map<string, number>();
  const routes: RouteConfig[] = p.routes.map((r, i) => {
    const at = (...rest: Path): Path => ["routes", i, ...rest];
    const key = normalRoutePath(r.path);
    const first = seen.get(key);
    if (first !== undefined) report(at("path"), `${show(r.path)} is already the path of routes[${first}]`);
    else seen.set(key, i);
    return buildRoute(r, at, authByDefault, file, report);
  });

  return {
    listen,
    tls,
    staticDir,
    routes,
    origins: p.origins,
    limits,
    auth,
    logLevel: p.logLevel ?? CONFIG_DEFAULTS.logLevel,
    shutdownTimeout: p.shutdownTimeout ?? CONFIG_DEFAULTS.shutdownTimeout,
  };
}

function buildAuth(p: ParsedInput, fromEnv: ParsedToken[], file: (v: string) => string, report: Report): AuthConfig {
  const a = p.auth ?? {};
  const all = [...(a.tokens ?? []).map((t, i) => ({ t, at: ["auth", "tokens", i] as Path })), ...fromEnv.map((t, i) => ({ t, at: ["SPWIRE_TOKENS", i] as Path }))];
  const byToken = new Map<string, Path>();
  const tokens: StaticToken[] = all.map(({ t, at }, n) => {
    const earlier = byToken.get(t.token);
    if (earlier !== undefined) report([...at, "token"], `the same token as ${formatPath(earlier)}; each token must be unique`);
    else byToken.set(t.token, at);
    return {
      token: t.token,
      subject: t.subject ?? `token-${n + 1}`,
      rights: {
        routes: t.routes ?? [...CONFIG_DEFAULTS.token.routes],
        read: t.read ?? [...CONFIG_DEFAULTS.token.read],
        publish: t.publish ?? [...CONFIG_DEFAULTS.token.publish],
      },
      expiresAt: t.expires,
    };
  });

  let jwt: JwtConfig | undefined;
  if (a.jwt !== undefined) {
    const j = a.jwt;
    const at = (k: string): Path => ["auth", "jwt", k];
    let jwksFile: string | undefined;
    if (j.jwksFile !== undefined) {
      jwksFile = file(j.jwksFile);
      checkJwks(at("jwksFile"), j.jwksFile, jwksFile, report);
    }
    const hasSecret = j.secret !== undefined;
    const algorithms = j.algorithms ?? [...(hasSecret ? ["HS256" as const] : []), ...(jwksFile !== undefined ? ["RS256" as const, "ES256" as const] : [])];
    if (!hasSecret && jwksFile === undefined) {
      report(["auth", "jwt"], "needs a secret (HS256; or SPWIRE_JWT_SECRET) or a jwksFile (RS256, ES256)");
    } else {
      if (algorithms.includes("HS256") && !hasSecret) report(at("secret"), "required for HS256 (set it here or in SPWIRE_JWT_SECRET)");
      if (algorithms.some((x) => x !== "HS256") && jwksFile === undefined) {
        report(at("jwksFile"), `required for ${algorithms.filter((x) => x !== "HS256").join(", ")} (a JWKS file with the public keys)`);
      }
      if (hasSecret && !algorithms.includes("HS256")) report(at("algorithms"), "a secret is set (auth.jwt.secret or SPWIRE_JWT_SECRET) but HS256 is not listed; add HS256 or remove the secret");
      if (jwksFile !== undefined && algorithms.every((x) => x === "HS256")) {
        report(at("algorithms"), "a jwksFile is set but neither RS256 nor ES256 is listed; add one or remove the jwksFile");
      }
    }
    jwt = {
      secret: j.secret,
      jwksFile,
      algorithms: [...new Set(algorithms)],
      issuer: j.issuer,
      audience: j.audience,
      claim: j.claim ?? CONFIG_DEFAULTS.jwtClaim,
    };
  }
  return {
    tokens,
    jwt,
    cookie: a.cookie ?? CONFIG_DEFAULTS.auth.cookie,
    queryParam: a.queryParam ?? CONFIG_DEFAULTS.auth.queryParam,
  };
}

/** The JWKS file exists and is JSON with a `keys` array (auth.ts reads the keys themselves). */
function checkJwks(at: Path, given: string, abs: string, report: Report): void {
  let textContent: string;
  try {
    textContent = readFileSync(abs, "utf8");
  } catch (err) {
    report(at, `cannot read ${show(given)} (${abs}): ${(err as NodeJS.ErrnoException).code ?? errText(err)}`);
    return;
  }
  let json: unknown;
  try {
    json = JSON.parse(textContent);
  } catch {
    report(at, `${show(given)} is not JSON; expected a JWKS: { "keys": [...] }`);
    return;
  }
  if (!isPlainObject(json) || !Array.isArray(json.keys)) report(at, `${show(given)} is not a JWKS: expected { "keys": [...] }`);
}

function buildRoute(r: ParsedInput["routes"][number], at: (...rest: Path) => Path, authByDefault: boolean, file: (v: string) => string, report: Report): RouteConfig {
  const upstreamMode = r.upstreamMode ?? CONFIG_DEFAULTS.route.upstreamMode;
  const u = new URL(r.upstream); // checked by the schema
  const scheme = u.protocol.replace(/:$/, "");
  const tcpLike = /^(tls\+)?tcp[46]?$/.test(scheme);
  const tlsLike = scheme.startsWith("tls+") || scheme === "wss";

  if (upstreamMode === "dial" && tcpLike) {
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    if (host === "" || host === "*" || host === "0.0.0.0" || host === "::") {
      report(at("upstream"), `cannot dial a wildcard host; name the upstream's address (or set upstreamMode: listen)`);
    } else if (u.port === "0") report(at("upstream"), "cannot dial port 0");
  }

  let mode = r.mode;
  if (mode === undefined) mode = PER_CONNECTION_BY_DEFAULT.has(r.protocol) ? "per-connection" : "shared";
  if (mode === "per-connection" && upstreamMode === "listen") {
    report(
      at("mode"),
      r.mode === undefined
        ? `${r.protocol} routes are per-connection by default, which needs upstreamMode dial (a listening upstream cannot tell browsers apart); set mode: shared to listen`
        : "per-connection needs upstreamMode dial (a listening upstream cannot tell browsers apart)",
    );
  }

  let upstreamTls: UpstreamTls | undefined;
  if (r.upstreamTls !== undefined) {
    const t = r.upstreamTls;
    if (!tlsLike) report(at("upstreamTls"), `only used with tls+tcp:// and wss:// upstreams (this one is ${scheme}://)`);
    const pem = (k: "ca" | "cert" | "key"): string | undefined => (t[k] === undefined ? undefined : readPem(at("upstreamTls", k), t[k], file, report));
    upstreamTls = stripUndefined({ ca: pem("ca"), cert: pem("cert"), key: pem("key"), servername: t.servername, insecure: t.insecure });
    if (upstreamMode === "listen") {
      if (t.cert === undefined || t.key === undefined) report(at("upstreamTls"), `a ${scheme}:// listen needs cert and key`);
      if (t.ca !== undefined) report(at("upstreamTls", "ca"), "a dial option: listeners do not verify dialers' certificates");
      if (t.servername !== undefined) report(at("upstreamTls", "servername"), "a dial option");
    } else if ((t.cert === undefined) !== (t.key === undefined)) {
      report(at("upstreamTls"), "a client certificate needs both cert and key");
    }
    if (upstreamTls.cert !== undefined && upstreamTls.key !== undefined) {
      try {
        createSecureContext({ cert: upstreamTls.cert, key: upstreamTls.key });
      } catch (err) {
        report(at("upstreamTls"), `the certificate and key are not a usable pair: ${errText(err)}`);
      }
    }
    if (upstreamTls.ca !== undefined) {
      try {
        new X509Certificate(upstreamTls.ca);
      } catch (err) {
        report(at("upstreamTls", "ca"), `not a PEM certificate: ${errText(err)}`);
      }
    }
  } else if (tlsLike && upstreamMode === "listen") {
    report(at("upstreamTls"), `required to listen on ${scheme}://: { cert, key }`);
  }

  const q = r.queue ?? {};
  const queue: QueueConfig = {
    messages: q.messages ?? CONFIG_DEFAULTS.route.queue.messages,
    bytes: q.bytes ?? CONFIG_DEFAULTS.route.queue.bytes,
    policy: q.policy ?? CONFIG_DEFAULTS.route.queue.policy,
    socketBytes: q.socketBytes ?? CONFIG_DEFAULTS.route.queue.socketBytes,
  };

  return {
    path: r.path,
    protocol: r.protocol,
    upstream: r.upstream,
    upstreamMode,
    upstreamTls,
    mode,
    maxMessageSize: r.maxMessageSize ?? CONFIG_DEFAULTS.route.maxMessageSize,
    queue,
    rateLimit: r.rateLimit === undefined ? undefined : { messages: r.rateLimit.messages, burst: r.rateLimit.burst ?? r.rateLimit.messages },
    auth: r.auth ?? authByDefault,
    origins: r.origins,
    topicDelimiter: r.topicDelimiter ?? CONFIG_DEFAULTS.route.topicDelimiter,
  };
}

/** PEM text: given inline, or read from a file. */
function readPem(at: Path, v: string, file: (v: string) => string, report: Report): string | undefined {
  if (v.trimStart().startsWith("-----BEGIN")) return v;
  const abs = file(v);
  let content: string;
  try {
    content = readFileSync(abs, "utf8");
  } catch (err) {
    report(at, `cannot read ${show(v)} (${abs}): ${(err as NodeJS.ErrnoException).code ?? errText(err)}`);
    return undefined;
  }
  if (!content.includes("-----BEGIN")) {
    report(at, `${show(v)} holds no PEM block (no "-----BEGIN" line)`);
    return undefined;
  }
  return content;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---------------------------------------------------------------------------
// Files.

/**
 * Read a configuration file: YAML for .yaml/.yml, JSON for .json, otherwise
 * JSON and then YAML. Returns what it holds, unchecked (give it to
 * {@link resolveConfig}, with `baseDir` the file's directory). A file that
 * cannot be read or parsed is a {@link ConfigError} naming the file and,
 * where the parser knows it, the line. The file's text is not quoted back
 * (it may hold secrets).
 */
export function loadConfigFile(path: string): unknown {
  let content: string;
  try {
    content = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([`${path}: cannot read the configuration file (${code === "ENOENT" ? "no such file" : (code ?? errText(err))})`]);
  }
  const ext = extname(path).toLowerCase();
  if (ext === ".json") return parseJson(path, content);
  if (ext === ".yaml" || ext === ".yml") return parseYaml(path, content);
  try {
    return JSON.parse(content) as unknown;
  } catch {
    return parseYaml(path, content);
  }
}

function parseJson(path: string, content: string): unknown {
  try {
    return JSON.parse(content) as unknown;
  } catch (err) {
    // V8's message quotes the text near the error; keep only what it says went wrong, and where.
    const msg = errText(err);
    const what = (/^(Unexpected token '.'|Unexpected end of JSON input|Unexpected non-whitespace character|Expected [^"]*?|Bad control character|Unterminated string|Bad escaped character|Exponent part is missing|No number after minus sign|Unexpected number|Unexpected string)/.exec(msg)?.[1] ?? "syntax error").trim();
    const pos = /at position (\d+)/.exec(msg);
    let where = "";
    if (pos !== null) {
      const before = content.slice(0, Number(pos[1]));
      const line = before.split("\n").length;
      where = ` at line ${line}, column ${Number(pos[1]) - before.lastIndexOf("\n")}`;
    }
    throw new ConfigError([`${path}: not valid JSON: ${what.replace(/ in JSON$/, "")}${where}`]);
  }
}

function parseYaml(path: string, content: string): unknown {
  try {
    return YAML.parse(content, { merge: true }) as unknown;
  } catch (err) {
    // The yaml package's message is "<what> at line L, column C:\n\n<the line>\n<caret>": keep the first part.
    const msg = errText(err).split(/:\n/)[0]!.trim();
    const linePos = (err as { linePos?: { line: number }[] }).linePos;
    const lineText = linePos?.[0] !== undefined ? content.split("\n")[linePos[0].line - 1] : undefined;
    const hint = lineText?.includes("${") ? ' (inside { } or [ ], quote a value that uses ${VAR}: secret: "${JWT_SECRET}")' : "";
    throw new ConfigError([`${path}: not valid YAML: ${msg}${hint}`]);
  }
}

// ---------------------------------------------------------------------------
// Flags.

const FLAGS = {
  config: { type: "string" },
  listen: { type: "string" },
  route: { type: "string", multiple: true },
  cert: { type: "string" },
  key: { type: "string" },
  static: { type: "string" },
  origin: { type: "string", multiple: true },
  "log-level": { type: "string" },
  "max-connections": { type: "string" },
  "max-connections-per-ip": { type: "string" },
  policy: { type: "string" },
  jwks: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

type FlagName = keyof typeof FLAGS;

/** What a value-taking flag expects, for "needs a value" messages. */
const FLAG_VALUES: Partial<Record<FlagName, string>> = {
  config: "FILE",
  listen: "URL, e.g. ws://127.0.0.1:8080",
  route: `PATH=PROTOCOL@URL, e.g. ${ROUTE_EXAMPLE}`,
  cert: "FILE",
  key: "FILE",
  static: "DIR",
  origin: "ORIGIN, e.g. https://app.example.com",
  "log-level": LOG_LEVELS.join("|"),
  "max-connections": "N",
  "max-connections-per-ip": "N",
  policy: POLICIES.join("|"),
  jwks: "FILE",
};

export interface ParsedArgs {
  /** undefined with --help or --version. */
  config: GatewayConfig | undefined;
  help: boolean;
  version: boolean;
}

/**
 * The `spwire-gateway` command line: flags over the configuration file
 * (`--config`), the environment in between where both can set a value.
 * `argv` excludes node and the script (`process.argv.slice(2)`). Relative
 * paths in flags resolve against the working directory, those in the file
 * against the file's directory. Throws {@link ConfigError}.
 *
 * @example
 * parseArgs(["--listen", "ws://127.0.0.1:8080", "--route", "/feed=sub@tcp://127.0.0.1:5555"]).config?.routes[0].mode; // "shared"
 */
export function parseArgs(argv: string[], env: Record<string, string | undefined> = process.env): ParsedArgs {
  const issues: string[] = [];
  const values: Partial<Record<FlagName, string | string[] | boolean>> = {};
  const known = Object.keys(FLAGS) as FlagName[];
  // strict: false, so every problem is ours to word (and all are reported), not node's first one.
  const { tokens } = parseFlags({ args: withoutSwallowedFlags(argv), options: FLAGS, strict: false, allowPositionals: true, tokens: true });
  let afterTerminator = false;
  for (const t of tokens) {
    if (t.kind === "option-terminator") {
      afterTerminator = true;
      continue;
    }
    if (t.kind === "positional") {
      issues.push(`unexpected argument ${show(t.value)}${afterTerminator ? "" : " (flags start with --; see --help)"}`);
      continue;
    }
    const name = t.name as FlagName;
    if (!known.includes(name)) {
      const near = closest(t.name, known);
      issues.push(`${t.rawName}: unknown flag${near !== undefined ? ` (did you mean --${near}?)` : ""}; see --help`);
      continue;
    }
    const spec = FLAGS[name];
    if (spec.type === "boolean") {
      if (t.value !== undefined) issues.push(`${t.rawName}: takes no value`);
      else values[name] = true;
      continue;
    }
    if (t.value === undefined || t.value === "") {
      issues.push(`${t.rawName}: needs a value: ${FLAG_VALUES[name]}`);
      continue;
    }
    if ("multiple" in spec) values[name] = [...((values[name] as string[] | undefined) ?? []), t.value];
    else if (values[name] !== undefined) issues.push(`${t.rawName}: given twice`);
    else values[name] = t.value;
  }
  const help = values.help === true;
  const version = values.version === true;
  if (help || version) return { config: undefined, help, version };

  const str = (n: FlagName): string | undefined => values[n] as string | undefined;
  const list = (n: FlagName): string[] => (values[n] as string[] | undefined) ?? [];
  const cwd = process.cwd();
  const fromCwd = (p: string): string => resolvePath(cwd, p);

  const configPath = str("config");
  if (issues.length === 0 && configPath === undefined && str("listen") === undefined && list("route").length === 0) {
    throw new ConfigError([`no configuration: give --config FILE, or --listen URL and --route ${ROUTE_EXAMPLE} (see --help)`]);
  }
  let baseDir = cwd;
  let input: Record<string, unknown> = {};
  if (configPath !== undefined) {
    const abs = fromCwd(configPath);
    const content = loadConfigFile(abs);
    if (!isPlainObject(content)) throw new ConfigError([`${configPath}: expected a mapping of settings (listen, routes, ...) at the top level`]);
    input = { ...content };
    baseDir = dirname(abs);
  }

  const flagEnv = { ...env };
  const listen = str("listen");
  if (listen !== undefined) input.listen = listen;
  const cert = str("cert");
  const key = str("key");
  if ((cert === undefined) !== (key === undefined)) issues.push(`${cert === undefined ? "--key" : "--cert"}: needs ${cert === undefined ? "--cert" : "--key"} too`);
  else if (cert !== undefined && key !== undefined) input.tls = { cert: fromCwd(cert), key: fromCwd(key) };
  const staticDir = str("static");
  if (staticDir !== undefined) input.static = fromCwd(staticDir);
  if (list("origin").length > 0) input.origins = list("origin");
  const logLevel = str("log-level");
  if (logLevel !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) issues.push(`--log-level: expected one of ${LOG_LEVELS.join(", ")} (got ${show(logLevel)})`);
    input.logLevel = logLevel;
    delete flagEnv.SPWIRE_LOG_LEVEL; // the flag wins over the environment
  }
  for (const [flag, field] of [
    ["max-connections", "maxConnections"],
    ["max-connections-per-ip", "maxConnectionsPerIp"],
  ] as const) {
    const v = str(flag);
    if (v === undefined) continue;
    if (!/^\d+$/.test(v) || Number(v) < 1) issues.push(`--${flag}: expected a positive integer (got ${show(v)})`);
    else input.limits = { ...(isPlainObject(input.limits) ? input.limits : {}), [field]: Number(v) };
  }
  const jwks = str("jwks");
  if (jwks !== undefined) {
    const auth = isPlainObject(input.auth) ? { ...input.auth } : {};
    auth.jwt = { ...(isPlainObject(auth.jwt) ? auth.jwt : {}), jwksFile: fromCwd(jwks) };
    input.auth = auth;
  }

  // Routes: a flag route replaces the file's route with its path, else it is appended.
  // A file's `routes` that is not a list is left for validation to report, not overwritten.
  const mergeable = input.routes === undefined || Array.isArray(input.routes);
  const routes: unknown[] = Array.isArray(input.routes) ? [...(input.routes as unknown[])] : [];
  const routeLabels: (string | undefined)[] = [];
  const flagPaths = new Set<string>();
  for (const spec of list("route")) {
    const r = parseRouteFlag(spec);
    if (typeof r === "string") {
      issues.push(r);
      continue;
    }
    const i = flagPaths.has(r.path) ? -1 : routes.findIndex((x) => isPlainObject(x) && x.path === r.path);
    flagPaths.add(r.path);
    const at = i >= 0 ? i : routes.length;
    routes[at] = r;
    routeLabels[at] = `--route ${show(spec)}`;
  }
  if (mergeable && (input.routes !== undefined || routes.length > 0)) input.routes = routes;
  const policy = str("policy");
  if (policy !== undefined) {
    if (!(POLICIES as readonly string[]).includes(policy)) issues.push(`--policy: expected one of ${POLICIES.join(", ")} (got ${show(policy)})`);
    else if (mergeable) input.routes = routes.map((r) => (isPlainObject(r) ? { ...r, queue: { ...(isPlainObject(r.queue) ? r.queue : {}), policy } } : r));
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const config = resolveWith(input, { env: flagEnv, baseDir, routeLabels });
  return { config, help: false, version: false };
}

/**
 * `--listen --route x` means the value of --listen was forgotten, but node's
 * parseArgs (not strict) would take "--route" as it. Such a flag is given an
 * empty value here (`--listen=`), so the next flag keeps its own.
 */
function withoutSwallowedFlags(argv: string[]): string[] {
  return argv.map((a, i) => {
    const name = /^--([\w-]+)$/.exec(a)?.[1];
    const next = argv[i + 1];
    const takesValue = name !== undefined && name in FLAGS && FLAGS[name as FlagName].type === "string";
    return takesValue && next !== undefined && /^-(-|[A-Za-z]$)/.test(next) ? `${a}=` : a;
  });
}

/** `PATH=PROTOCOL@URL` or `PATH=PROTOCOL@listen:URL` as a route input, or the problem. */
function parseRouteFlag(spec: string): RouteInput | string {
  const bad = (why = "") => `--route ${show(spec)}: expected PATH=PROTOCOL@URL, e.g. ${ROUTE_EXAMPLE}${why}`;
  const eq = spec.indexOf("=");
  const at = spec.indexOf("@", eq + 1);
  if (eq <= 0 || at < 0) return bad();
  const path = spec.slice(0, eq);
  const protocol = spec.slice(eq + 1, at);
  let upstream = spec.slice(at + 1);
  if (protocol === "" || upstream === "") return bad();
  if (!(BROWSER_PROTOCOLS as readonly string[]).includes(protocol)) {
    const near = closest(protocol, BROWSER_PROTOCOLS);
    return `--route ${show(spec)}: unknown protocol ${show(protocol)}${near !== undefined ? ` (did you mean ${near}?)` : ""}; expected one of ${BROWSER_PROTOCOLS.join(", ")}`;
  }
  let upstreamMode: "dial" | "listen" = "dial";
  if (upstream.startsWith("listen:")) {
    upstreamMode = "listen";
    upstream = upstream.slice("listen:".length);
  }
  return upstreamMode === "listen" ? { path, protocol: protocol as BrowserProtocol, upstream, upstreamMode } : { path, protocol: protocol as BrowserProtocol, upstream };
}

/** The --help text. */
export function usage(): string {
  const d = CONFIG_DEFAULTS;
  return `Usage: spwire-gateway [--config FILE] [flags]

Bridges browsers' WebSocket endpoints to nng/nanomsg/mangos SP services.

  spwire-gateway --listen ws://127.0.0.1:8080 --route /feed=sub@tcp://127.0.0.1:5555 --route /rpc=req@tcp://127.0.0.1:6000

Flags (over the configuration file):
  --config FILE               YAML (.yaml, .yml) or JSON configuration file
  --listen URL                where browsers connect: ws://HOST:PORT or wss://HOST:PORT
  --route PATH=PROTOCOL@URL   browsers open PATH speaking PROTOCOL; the gateway dials URL.
                              PATH=PROTOCOL@listen:URL listens on URL for the upstream instead.
                              Repeatable; replaces a file route with the same PATH.
  --cert FILE --key FILE      certificate and private key (PEM) for wss://
  --static DIR                serve the files in DIR over HTTP GET
  --origin ORIGIN             allow browsers from ORIGIN (repeatable; "*" = any); default any
  --log-level LEVEL           ${LOG_LEVELS.join(" ")} (default ${d.logLevel})
  --max-connections N         browser connections at once (default ${d.limits.maxConnections})
  --max-connections-per-ip N  browser connections at once from one IP (default ${d.limits.maxConnectionsPerIp})
  --policy POLICY             slow-consumer policy on every route: ${POLICIES.join(" ")} (default ${d.route.queue.policy})
  --jwks FILE                 accept RS256/ES256 JWTs signed by the keys in this JWKS file
  -h, --help                  print this text
  -V, --version               print the version

PROTOCOL is the browser's: ${BROWSER_PROTOCOLS.join(" ")}.
URL schemes: ${UPSTREAM_SCHEMES_SHOWN}.

Environment:
  SPWIRE_JWT_SECRET   HS256 secret for JWTs (adds auth.jwt with algorithms [HS256] if the file has none)
  SPWIRE_TOKENS       static tokens, appended to the file's auth.tokens:
                      ${ENV_TOKENS_SHAPE}
  SPWIRE_LOG_LEVEL    log level: over the file's logLevel, under --log-level
  \${NAME} in any string value of the configuration file is replaced by the variable NAME.

Configuration file: every key (listen, tls, static, origins, logLevel, shutdownTimeout,
limits, auth, routes) with its default is in the @spwire/gateway README, "Configuration".
`;
}
