/**
 * The `spwire-gateway` command line: the flags, each read and checked alone;
 * the --route shorthand; how the flags are laid over a configuration file;
 * the --help text. `parseArgs` in config.ts puts these together with the
 * file, the environment and resolving.
 */
import { resolve as resolvePath } from "node:path";
import { parseArgs as parseFlags } from "node:util";
import { CONFIG_DEFAULTS, ENV_TOKENS_SHAPE, LOG_LEVELS, POLICIES, ROUTE_EXAMPLE, UPSTREAM_SCHEMES_SHOWN, closest, isPlainObject, show } from "./config-schema.js";
import { BROWSER_PROTOCOLS, type BrowserProtocol } from "./types.js";

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
  "trust-proxy": { type: "string", multiple: true },
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
  "trust-proxy": "ADDRESS or CIDR, e.g. 127.0.0.1",
  "log-level": LOG_LEVELS.join("|"),
  "max-connections": "N",
  "max-connections-per-ip": "N",
  policy: POLICIES.join("|"),
  jwks: "FILE",
};

/** The flags given, by name: a string, a list for --route, --origin and --trust-proxy, true for --help and --version. */
export type FlagValues = Partial<Record<FlagName, string | string[] | boolean>>;

/**
 * The flags in `argv` (node and the script excluded), each checked alone:
 * an unknown flag, a missing value, a flag given twice or a stray argument
 * is a line in `issues`.
 */
export function readFlags(argv: string[], issues: string[]): FlagValues {
  const values: FlagValues = {};
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
  return values;
}

/**
 * Lays the flags over `input` (the configuration file's content, or {}),
 * which it changes: a flag wins over the file; a --route replaces the file's
 * route with its path, or is appended. Relative paths in flags resolve
 * against `cwd`. Returns the environment to resolve with (--log-level wins
 * over SPWIRE_LOG_LEVEL) and, by route index, the --route each flag route
 * came from; problems are lines in `issues`.
 */
export function mergeFlags(
  input: Record<string, unknown>,
  values: FlagValues,
  env: Record<string, string | undefined>,
  cwd: string,
  issues: string[],
): { env: Record<string, string | undefined>; routeLabels: (string | undefined)[] } {
  const str = (n: FlagName): string | undefined => values[n] as string | undefined;
  const list = (n: FlagName): string[] => (values[n] as string[] | undefined) ?? [];
  const fromCwd = (p: string): string => resolvePath(cwd, p);

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
  if (list("trust-proxy").length > 0) input.trustProxy = list("trust-proxy");
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

  return { env: flagEnv, routeLabels };
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

/** A route as --route gives it: a RouteInput (config.ts, which imports this file) with no options. */
type RouteFlag = { path: string; protocol: BrowserProtocol; upstream: string; upstreamMode?: "listen" };

/** `PATH=PROTOCOL@URL` or `PATH=PROTOCOL@listen:URL` as a route input, or the problem. */
function parseRouteFlag(spec: string): RouteFlag | string {
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
  --trust-proxy ADDRESS       believe X-Forwarded-For from this proxy (IP or CIDR; repeatable); default none
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

Configuration file: every key (listen, tls, static, origins, trustProxy, logLevel,
shutdownTimeout, limits, auth, routes) with its default is in the @spwire/gateway README, "Configuration".
`;
}
