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
 *
 * The flags themselves are read in flags.ts; the defaults table, the
 * vocabularies and the zod schema with its messages are in config-schema.ts.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, extname, resolve as resolvePath } from "node:path";
import { createSecureContext } from "node:tls";
import { X509Certificate } from "node:crypto";
import YAML from "yaml";
import { z } from "zod";
import {
  CONFIG_DEFAULTS,
  ENV_TOKENS_SHAPE,
  LOG_LEVELS,
  PER_CONNECTION_BY_DEFAULT,
  ROUTE_EXAMPLE,
  defaultMessage,
  describeIssue,
  formatPath,
  inputSchema,
  isPlainObject,
  normalRoutePath,
  show,
  tokenSchema,
  type ParsedInput,
  type ParsedToken,
} from "./config-schema.js";
import { mergeFlags, readFlags } from "./flags.js";
import type {
  AuthConfig,
  BrowserProtocol,
  GatewayConfig,
  JwtConfig,
  LimitsConfig,
  LogLevel,
  QueueConfig,
  RouteConfig,
  SlowConsumerPolicy,
  StaticToken,
  UpstreamTls,
} from "./types.js";

export { CONFIG_DEFAULTS };
export { usage } from "./flags.js";

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
  /** Proxies (IP addresses or CIDR ranges) whose X-Forwarded-For gives the client's IP; absent = none is believed. */
  trustProxy?: string[];
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

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

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
    trustProxy: p.trustProxy ?? [],
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
// The command line (its flags are in flags.ts).

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
  const values = readFlags(argv, issues);
  const help = values.help === true;
  const version = values.version === true;
  if (help || version) return { config: undefined, help, version };

  const cwd = process.cwd();

  const configPath = values.config as string | undefined;
  if (issues.length === 0 && configPath === undefined && values.listen === undefined && values.route === undefined) {
    throw new ConfigError([`no configuration: give --config FILE, or --listen URL and --route ${ROUTE_EXAMPLE} (see --help)`]);
  }
  let baseDir = cwd;
  let input: Record<string, unknown> = {};
  if (configPath !== undefined) {
    const abs = resolvePath(cwd, configPath);
    const content = loadConfigFile(abs);
    if (!isPlainObject(content)) throw new ConfigError([`${configPath}: expected a mapping of settings (listen, routes, ...) at the top level`]);
    input = { ...content };
    baseDir = dirname(abs);
  }

  const { env: flagEnv, routeLabels } = mergeFlags(input, values, env, cwd, issues);
  if (issues.length > 0) throw new ConfigError(issues);

  const config = resolveWith(input, { env: flagEnv, baseDir, routeLabels });
  return { config, help: false, version: false };
}

