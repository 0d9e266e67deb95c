/**
 * The configuration's vocabulary and shape: the one table of defaults, the
 * values each field accepts, and the zod schema that checks a configuration
 * (step 2 in config.ts), with its messages in this package's words. It reads
 * no file and no environment; config.ts and flags.ts build on it.
 */
import { isIP } from "node:net";
import { z } from "zod";
import {
  BROWSER_PROTOCOLS,
  type BrowserProtocol,
  type LimitsConfig,
  type LogLevel,
  type QueueConfig,
  type SlowConsumerPolicy,
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
    closeTimeout: 5000,
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

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const satisfies readonly LogLevel[];
export const POLICIES = ["drop-new", "drop-old", "disconnect", "latest"] as const satisfies readonly SlowConsumerPolicy[];
const JWT_ALGORITHMS = ["HS256", "RS256", "ES256"] as const;
const PROTOCOLS = BROWSER_PROTOCOLS as readonly [BrowserProtocol, ...BrowserProtocol[]];
/** Upstream URL schemes, as @spwire/node's network transports serve them (inproc is not one: an upstream is another process). */
const UPSTREAM_SCHEMES = ["tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4", "tls+tcp6", "ipc", "ws", "wss"];
/** The schemes as the messages name them (the 4/6 variants are accepted too). */
export const UPSTREAM_SCHEMES_SHOWN = "tcp, tls+tcp, ipc, ws, wss";
/** Paths the gateway's HTTP side answers itself. */
const RESERVED_PATHS = ["/healthz", "/readyz", "/metrics", "/routes"];
/** Protocols whose routes default to one upstream socket per browser: a pair has exactly one peer. */
export const PER_CONNECTION_BY_DEFAULT: ReadonlySet<BrowserProtocol> = new Set(["pair0", "pair1"]);
/** The example every --route message shows. */
export const ROUTE_EXAMPLE = "/feed=sub@tcp://127.0.0.1:5555";
/** What SPWIRE_TOKENS holds, as its messages and --help show it. */
export const ENV_TOKENS_SHAPE = 'a JSON array of tokens, e.g. [{"token": "...", "subject": "ci", "routes": ["/feed"]}]';

// ---------------------------------------------------------------------------
// Small helpers.

/** `routes[0].queue.policy`; `root` names what the path is inside (a variable, a flag), if not the configuration. */
export function formatPath(path: readonly PropertyKey[], root = ""): string {
  let out = root;
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else if (typeof k === "string" && /^[A-Za-z_$][\w$]*$/.test(k)) out += out === "" ? k : `.${k}`;
    else out += `[${JSON.stringify(String(k))}]`;
  }
  return out === "" ? "configuration" : out;
}

/** A value for a message: JSON, shortened; URL credentials hidden. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = v instanceof Date ? v.toISOString() : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  s = s.replace(/\/\/[^/@\s"]*@/, "//***@");
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
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
export function closest(word: string, candidates: readonly string[]): string | undefined {
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
export const normalRoutePath = (p: string): string => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p);

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

/**
 * A trusted proxy as written: an IP address ("127.0.0.1", "::1") or a CIDR
 * range ("10.0.0.0/8", "fd00::/8"); the normal form, or the problem.
 * IPv4-mapped IPv6 ("::ffff:10.0.0.1") is written as the IPv4 address.
 */
export function parseProxy(v: string): { proxy: string } | { problem: string } {
  const expected = `expected an IP address or a CIDR range, e.g. 127.0.0.1, ::1 or 10.0.0.0/8 (got ${show(v)})`;
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(v.trim());
  if (m === null) return { problem: expected };
  const addr = m[1]!.replace(/^\[(.*)\]$/, "$1").replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  const family = isIP(addr);
  if (family === 0) return { problem: expected };
  if (m[2] === undefined) return { proxy: addr.toLowerCase() };
  const bits = Number(m[2]);
  if (bits > (family === 4 ? 32 : 128)) return { problem: `${show(v)}: a /${bits} prefix is longer than an IPv${family} address` };
  return { proxy: `${addr.toLowerCase()}/${bits}` };
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

const proxyList = () =>
  z
    .preprocess(oneToList, z.array(text(), { error: need("expected a list of proxy addresses") }))
    .superRefine((list, ctx) => {
      list.forEach((x, i) => {
        const r = parseProxy(x);
        if ("problem" in r) ctx.addIssue({ code: "custom", message: r.problem, path: [i] });
      });
    })
    .transform((list) =>
      list.map((x) => {
        const r = parseProxy(x);
        return "proxy" in r ? r.proxy : x;
      }),
    );

const pemSource = () => nonEmpty();

export const tokenSchema = z
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

export const inputSchema = z
  .object({
    listen: judged(listenProblem),
    tls: z.object({ cert: pemSource(), key: pemSource() }).strict().optional(),
    static: nonEmpty().optional(),
    origins: originList().optional(),
    trustProxy: proxyList().optional(),
    logLevel: oneOf(LOG_LEVELS).optional(),
    shutdownTimeout: positiveMs().optional(),
    limits: z
      .object({
        maxConnections: positiveInt().optional(),
        maxConnectionsPerIp: positiveInt().optional(),
        upgradeTimeout: positiveMs().optional(),
        pingInterval: msOrOff().optional(),
        idleTimeout: msOrOff().optional(),
        closeTimeout: positiveMs().optional(),
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

export type ParsedInput = z.output<typeof inputSchema>;
export type ParsedToken = z.output<typeof tokenSchema>;

/** Marks the message of an unknown-key issue, which carries the object's known keys to {@link describeIssue}. */
const KNOWN_KEYS = "\0known:";

/**
 * The messages zod's own issues get, in this file's words. Runs after each
 * schema's own `error` (which wins). Never echoes the input of a secret field.
 */
export function defaultMessage(iss: z.core.$ZodRawIssue): string | undefined {
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
export function describeIssue(iss: z.core.$ZodIssue, label: (path: readonly PropertyKey[]) => string): string[] {
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
