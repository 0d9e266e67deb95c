/**
 * The gateway's configuration: flags, files (YAML and JSON), the
 * environment, defaults, and the messages of every kind of mistake.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ConfigError, loadConfigFile, parseArgs, resolveConfig, usage, type GatewayInput } from "../src/config.js";
import type { GatewayConfig, RouteConfig } from "../src/types.js";
import { createTestCerts } from "../../../test-support/certs.js";

const tmp = mkdtempSync(join(tmpdir(), "spwire-config-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A fresh directory under the test's temporary one. */
function dir(): string {
  const d = join(tmp, `d${++n}`);
  mkdirSync(d);
  return d;
}

const ONE_LINER = ["--listen", "ws://127.0.0.1:8080", "--route", "/feed=sub@tcp://127.0.0.1:5555", "--route", "/rpc=req@tcp://127.0.0.1:6000"];

/** A route as the defaults make it. */
function route(path: string, protocol: RouteConfig["protocol"], upstream: string, over: Partial<RouteConfig> = {}): RouteConfig {
  return {
    path,
    protocol,
    upstream,
    upstreamMode: "dial",
    upstreamTls: undefined,
    mode: "shared",
    maxMessageSize: 1048576,
    queue: { messages: 256, bytes: 1048576, policy: "drop-old", socketBytes: 262144 },
    rateLimit: undefined,
    auth: false,
    origins: undefined,
    topicDelimiter: " ",
    ...over,
  };
}

const minimal = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  listen: "ws://127.0.0.1:8080",
  routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555" }],
  ...over,
});

/** The ConfigError `f` throws. */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail("expected a ConfigError");
}

// ---------------------------------------------------------------------------
// Flags

test("the one-liner's flags resolve to the full default configuration", () => {
  const { config, help, version } = parseArgs(ONE_LINER, {});
  assert.equal(help, false);
  assert.equal(version, false);
  const expected: GatewayConfig = {
    listen: "ws://127.0.0.1:8080",
    tls: undefined,
    staticDir: undefined,
    routes: [route("/feed", "sub", "tcp://127.0.0.1:5555"), route("/rpc", "req", "tcp://127.0.0.1:6000")],
    origins: undefined,
    trustProxy: [],
    limits: { maxConnections: 10000, maxConnectionsPerIp: 256, upgradeTimeout: 10000, pingInterval: 30000, idleTimeout: 75000, closeTimeout: 5000 },
    auth: { tokens: [], jwt: undefined, cookie: "spwire_token", queryParam: "token" },
    logLevel: "info",
    shutdownTimeout: 5000,
  };
  assert.deepEqual(config, expected);
});

test("pair0 and pair1 routes default to per-connection, the others to shared", () => {
  const { config } = parseArgs(
    ["--listen", "ws://127.0.0.1:8080", "--route", "/a=pair0@tcp://127.0.0.1:1", "--route", "/b=pair1@tcp://127.0.0.1:2", "--route", "/c=sub@tcp://127.0.0.1:3", "--route", "/d=bus@tcp://127.0.0.1:4"],
    {},
  );
  assert.deepEqual(
    config!.routes.map((r) => [r.path, r.mode]),
    [
      ["/a", "per-connection"],
      ["/b", "per-connection"],
      ["/c", "shared"],
      ["/d", "shared"],
    ],
  );
});

test("PATH=PROTOCOL@listen:URL makes the upstream listen", () => {
  const { config } = parseArgs(["--listen", "ws://127.0.0.1:8080", "--route", "/in=pull@listen:tcp://0.0.0.0:7000"], {});
  assert.deepEqual(config!.routes[0], route("/in", "pull", "tcp://0.0.0.0:7000", { upstreamMode: "listen" }));
});

test("--help and --version are reported without a configuration", () => {
  assert.deepEqual(parseArgs(["--help"], {}), { config: undefined, help: true, version: false });
  assert.deepEqual(parseArgs(["-h"], {}), { config: undefined, help: true, version: false });
  assert.deepEqual(parseArgs(["-V"], {}), { config: undefined, help: false, version: true });
});

test("a malformed --route names the flag and shows the form", () => {
  const e = configError(() => parseArgs(["--listen", "ws://127.0.0.1:8080", "--route", "/feed=sub"], {}));
  assert.deepEqual(e.issues, ['--route "/feed=sub": expected PATH=PROTOCOL@URL, e.g. /feed=sub@tcp://127.0.0.1:5555']);
});

test("a --route with an unknown protocol names the flag and the protocols", () => {
  const e = configError(() => parseArgs(["--listen", "ws://127.0.0.1:8080", "--route", "/feed=sbu@tcp://127.0.0.1:5555"], {}));
  assert.deepEqual(e.issues, [
    '--route "/feed=sbu@tcp://127.0.0.1:5555": unknown protocol "sbu" (did you mean sub?); expected one of pair0, pair1, pub, sub, req, rep, push, pull, surveyor, respondent, bus',
  ]);
});

test("a --route's later problems name the flag, not routes[i]", () => {
  const e = configError(() => parseArgs(["--listen", "ws://127.0.0.1:8080", "--route", "/metrics=sub@tcp://127.0.0.1:5555"], {}));
  assert.deepEqual(e.issues, [
    '--route "/metrics=sub@tcp://127.0.0.1:5555": path: "/metrics" is reserved for the gateway\'s own endpoints (/healthz /readyz /metrics /routes)',
  ]);
});

test("an unknown flag is an error that suggests the nearest flag", () => {
  const e = configError(() => parseArgs([...ONE_LINER, "--rout", "/x=sub@tcp://127.0.0.1:1", "--bogus"], {}));
  assert.deepEqual(e.issues, [
    "--rout: unknown flag (did you mean --route?); see --help",
    'unexpected argument "/x=sub@tcp://127.0.0.1:1" (flags start with --; see --help)',
    "--bogus: unknown flag; see --help",
  ]);
});

test("a flag given no value says what value it needs, and the next flag keeps its own", () => {
  const e = configError(() => parseArgs(["--listen", "--route", "/feed=sub@tcp://127.0.0.1:5555"], {}));
  assert.deepEqual(e.issues, ["--listen: needs a value: URL, e.g. ws://127.0.0.1:8080"]);
});

test("flag values are checked: --policy, --log-level, --max-connections, --cert without --key", () => {
  const e = configError(() =>
    parseArgs([...ONE_LINER, "--policy", "drop-all", "--log-level", "loud", "--max-connections", "0", "--max-connections-per-ip", "x", "--cert", "c.pem"], {}),
  );
  assert.deepEqual(e.issues, [
    "--cert: needs --key too",
    "--log-level: expected one of fatal, error, warn, info, debug, trace, silent (got \"loud\")",
    '--max-connections: expected a positive integer (got "0")',
    '--max-connections-per-ip: expected a positive integer (got "x")',
    "--policy: expected one of drop-new, drop-old, disconnect, latest (got \"drop-all\")",
  ]);
});

test("no flags at all is an error that says how to start", () => {
  const e = configError(() => parseArgs([], {}));
  assert.match(e.message, /^no configuration: give --config FILE, or --listen URL and --route \/feed=sub@tcp:\/\/127\.0\.0\.1:5555/);
});

test("--listen without routes: routes are required", () => {
  const e = configError(() => parseArgs(["--listen", "ws://127.0.0.1:8080"], {}));
  assert.deepEqual(e.issues, ["routes: required"]);
});

test("flags override the file: --listen, limits, --policy on every route, --origin", () => {
  const d = dir();
  const file = join(d, "gw.json");
  writeFileSync(
    file,
    JSON.stringify({
      listen: "ws://127.0.0.1:1",
      limits: { maxConnections: 5, idleTimeout: 90000 },
      origins: ["https://old.example.com"],
      routes: [
        { path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555", queue: { messages: 10 } },
        { path: "/rpc", protocol: "req", upstream: "tcp://127.0.0.1:6000" },
      ],
    }),
  );
  const { config } = parseArgs(
    ["--config", file, "--listen", "ws://127.0.0.1:2", "--max-connections", "7", "--policy", "latest", "--origin", "https://a.example.com", "--origin", "https://b.example.com:8443"],
    {},
  );
  assert.equal(config!.listen, "ws://127.0.0.1:2");
  assert.equal(config!.limits.maxConnections, 7);
  assert.equal(config!.limits.idleTimeout, 90000);
  assert.deepEqual(config!.origins, ["https://a.example.com", "https://b.example.com:8443"]);
  assert.deepEqual(
    config!.routes.map((r) => r.queue),
    [
      { messages: 10, bytes: 1048576, policy: "latest", socketBytes: 262144 },
      { messages: 256, bytes: 1048576, policy: "latest", socketBytes: 262144 },
    ],
  );
});

test("a flag route replaces the file's route with its path and others are appended", () => {
  const d = dir();
  const file = join(d, "gw.yaml");
  writeFileSync(
    file,
    `listen: ws://127.0.0.1:8080
routes:
  - { path: /feed, protocol: sub, upstream: "tcp://127.0.0.1:5555", queue: { messages: 3 } }
  - { path: /rpc, protocol: req, upstream: "tcp://127.0.0.1:6000" }
`,
  );
  const { config } = parseArgs(["--config", file, "--route", "/feed=sub@tcp://10.0.0.1:5555", "--route", "/new=push@ipc:///tmp/x.ipc"], {});
  assert.deepEqual(config!.routes, [
    route("/feed", "sub", "tcp://10.0.0.1:5555"),
    route("/rpc", "req", "tcp://127.0.0.1:6000"),
    route("/new", "push", "ipc:///tmp/x.ipc"),
  ]);
});

test("two flag routes with one path are a duplicate, not a replacement", () => {
  const e = configError(() => parseArgs(["--listen", "ws://127.0.0.1:8080", "--route", "/a=sub@tcp://127.0.0.1:1", "--route", "/a=sub@tcp://127.0.0.1:2"], {}));
  assert.deepEqual(e.issues, ['--route "/a=sub@tcp://127.0.0.1:2": path: "/a" is already the path of routes[0]']);
});

test("paths in flags resolve against the working directory, paths in the file against the file's directory", () => {
  const d = dir();
  mkdirSync(join(d, "public"));
  const other = dir();
  writeFileSync(join(d, "gw.yaml"), "listen: ws://127.0.0.1:8080\nstatic: public\nroutes: [{ path: /a, protocol: sub, upstream: 'tcp://127.0.0.1:1' }]\n");
  assert.equal(parseArgs(["--config", join(d, "gw.yaml")], {}).config!.staticDir, join(d, "public"));
  const { config } = parseArgs(["--config", join(d, "gw.yaml"), "--static", relative(process.cwd(), other)], {});
  assert.equal(config!.staticDir, other);
});

test("usage() names every flag, the environment variables and the one-liner", () => {
  const u = usage();
  for (const flag of ["--config", "--listen", "--route", "--cert", "--key", "--static", "--origin", "--log-level", "--max-connections", "--max-connections-per-ip", "--policy", "--jwks", "--help", "--version", "-h", "-V"]) {
    assert.ok(u.includes(flag), `usage mentions ${flag}`);
  }
  for (const v of ["SPWIRE_JWT_SECRET", "SPWIRE_TOKENS", "SPWIRE_LOG_LEVEL", "${NAME}"]) assert.ok(u.includes(v), `usage mentions ${v}`);
  assert.ok(u.includes(ONE_LINER.join(" ")));
});

// ---------------------------------------------------------------------------
// Files

const FULL_YAML = `
listen: ws://0.0.0.0:8080
static: ./public
origins: [https://dash.example.com]
logLevel: debug
shutdownTimeout: 2000
limits: { maxConnections: 100, maxConnectionsPerIp: 10, upgradeTimeout: 5000, pingInterval: 0, idleTimeout: 0, closeTimeout: 2500 }
auth:
  cookie: sess
  queryParam: t
  tokens:
    - token: tok-one
      subject: dashboard
      routes: [/feed]
      read: [public.]
      publish: []
      expires: 2027-01-01T00:00:00Z
    - token: tok-two
  jwt: { secret: jwt-secret, jwksFile: keys.json, algorithms: [HS256, RS256], issuer: iss, audience: aud, claim: rights }
routes:
  - path: /feed
    protocol: sub
    upstream: tcp://127.0.0.1:5555
    maxMessageSize: 64KiB
    queue: { messages: 16, bytes: 1MiB, policy: latest, socketBytes: 4096 }
    rateLimit: { messages: 100 }
    origins: ["*"]
    topicDelimiter: "|"
  - path: /chat
    protocol: pair1
    upstream: tcp://127.0.0.1:6000
    auth: false
`;

const FULL_JSON = {
  listen: "ws://0.0.0.0:8080",
  static: "./public",
  origins: ["https://dash.example.com"],
  logLevel: "debug",
  shutdownTimeout: 2000,
  limits: { maxConnections: 100, maxConnectionsPerIp: 10, upgradeTimeout: 5000, pingInterval: 0, idleTimeout: 0, closeTimeout: 2500 },
  auth: {
    cookie: "sess",
    queryParam: "t",
    tokens: [
      { token: "tok-one", subject: "dashboard", routes: ["/feed"], read: ["public."], publish: [], expires: "2027-01-01T00:00:00Z" },
      { token: "tok-two" },
    ],
    jwt: { secret: "jwt-secret", jwksFile: "keys.json", algorithms: ["HS256", "RS256"], issuer: "iss", audience: "aud", claim: "rights" },
  },
  routes: [
    {
      path: "/feed",
      protocol: "sub",
      upstream: "tcp://127.0.0.1:5555",
      maxMessageSize: "64KiB",
      queue: { messages: 16, bytes: "1MiB", policy: "latest", socketBytes: 4096 },
      rateLimit: { messages: 100 },
      origins: ["*"],
      topicDelimiter: "|",
    },
    { path: "/chat", protocol: "pair1", upstream: "tcp://127.0.0.1:6000", auth: false },
  ],
};

test("a YAML file and the same JSON file resolve to the same configuration", () => {
  const d = dir();
  mkdirSync(join(d, "public"));
  writeFileSync(join(d, "keys.json"), JSON.stringify({ keys: [] }));
  writeFileSync(join(d, "gw.yaml"), FULL_YAML);
  writeFileSync(join(d, "gw.json"), JSON.stringify(FULL_JSON));
  const fromYaml = parseArgs(["--config", join(d, "gw.yaml")], {}).config!;
  const fromJson = parseArgs(["--config", join(d, "gw.json")], {}).config!;
  assert.deepEqual(fromYaml, fromJson);

  assert.equal(fromYaml.staticDir, join(d, "public"));
  assert.equal(fromYaml.logLevel, "debug");
  assert.deepEqual(fromYaml.limits, { maxConnections: 100, maxConnectionsPerIp: 10, upgradeTimeout: 5000, pingInterval: 0, idleTimeout: 0, closeTimeout: 2500 });
  assert.deepEqual(fromYaml.auth, {
    tokens: [
      { token: "tok-one", subject: "dashboard", rights: { routes: ["/feed"], read: ["public."], publish: [] }, expiresAt: Date.UTC(2027, 0, 1) },
      { token: "tok-two", subject: "token-2", rights: { routes: ["*"], read: [""], publish: [""] }, expiresAt: undefined },
    ],
    jwt: { secret: "jwt-secret", jwksFile: join(d, "keys.json"), algorithms: ["HS256", "RS256"], issuer: "iss", audience: "aud", claim: "rights" },
    cookie: "sess",
    queryParam: "t",
  });
  assert.deepEqual(fromYaml.routes, [
    route("/feed", "sub", "tcp://127.0.0.1:5555", {
      maxMessageSize: 65536,
      queue: { messages: 16, bytes: 1048576, policy: "latest", socketBytes: 4096 },
      rateLimit: { messages: 100, burst: 100 },
      auth: true,
      origins: ["*"],
      topicDelimiter: "|",
    }),
    route("/chat", "pair1", "tcp://127.0.0.1:6000", { mode: "per-connection", auth: false }),
  ]);
});

test("a file without .yaml or .json is read as JSON, else as YAML", () => {
  const d = dir();
  writeFileSync(join(d, "a.conf"), JSON.stringify(minimal()));
  writeFileSync(join(d, "b.conf"), "listen: ws://127.0.0.1:8080\nroutes:\n  - { path: /feed, protocol: sub, upstream: 'tcp://127.0.0.1:5555' }\n");
  assert.deepEqual(loadConfigFile(join(d, "a.conf")), loadConfigFile(join(d, "b.conf")));
});

test("a YAML syntax error names the file and the line, without quoting the file", () => {
  const d = dir();
  const file = join(d, "bad.yaml");
  writeFileSync(file, "listen: ws://127.0.0.1:8080\nauth:\n  tokens:\n    - token: hunter2-secret\n   bad: [1, 2\n");
  const e = configError(() => loadConfigFile(file));
  assert.equal(e.issues.length, 1);
  assert.match(e.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not valid YAML: .* at line 5, column \\d+$`));
  assert.ok(!e.message.includes("hunter2"));
});

test("${VAR} unquoted inside a YAML flow mapping: the error says to quote it", () => {
  const d = dir();
  const file = join(d, "flow.yaml");
  writeFileSync(file, "listen: ws://127.0.0.1:8080\nauth:\n  jwt: { secret: ${JWT_SECRET} }\n");
  assert.match(configError(() => loadConfigFile(file)).message, /line 3.*quote a value that uses \$\{VAR\}/);
});

test("a JSON syntax error names the file and the line, without quoting the file", () => {
  const d = dir();
  const file = join(d, "bad.json");
  writeFileSync(file, '{\n  "listen": "ws://127.0.0.1:8080",\n  "auth": { "tokens": [ { "token": "hunter2-secret", } ] }\n}\n');
  const e = configError(() => loadConfigFile(file));
  assert.match(e.message, /bad\.json: not valid JSON: .* at line 3, column \d+$/);
  assert.ok(!e.message.includes("hunter2"));
});

test("a configuration file that does not exist is named", () => {
  assert.deepEqual(configError(() => loadConfigFile(join(tmp, "nope.yaml"))).issues, [`${join(tmp, "nope.yaml")}: cannot read the configuration file (no such file)`]);
});

// ---------------------------------------------------------------------------
// The environment

test("${VAR} in any string value is replaced from the environment", () => {
  const config = resolveConfig(
    {
      listen: "ws://${HOST}:${PORT}",
      auth: { tokens: [{ token: "${DASH_TOKEN}", subject: "dash-${ENV}" }] },
      routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://${HOST}:5555", queue: { messages: "${DEPTH}" } }],
    },
    { env: { HOST: "10.1.2.3", PORT: "9000", DASH_TOKEN: "t0k", ENV: "prod", DEPTH: "32" } },
  );
  assert.equal(config.listen, "ws://10.1.2.3:9000");
  assert.equal(config.routes[0]!.upstream, "tcp://10.1.2.3:5555");
  assert.equal(config.routes[0]!.queue.messages, 32);
  assert.deepEqual(
    config.auth.tokens.map((t) => [t.token, t.subject]),
    [["t0k", "dash-prod"]],
  );
});

test("an unset ${VAR} names the field and the variable, once", () => {
  const e = configError(() =>
    resolveConfig(minimal({ auth: { tokens: [{ token: "${DASH_TOKEN}" }] }, limits: { maxConnections: "${MAX}" } }), { env: {} }),
  );
  assert.deepEqual(e.issues, ["auth.tokens[0].token: environment variable DASH_TOKEN is not set", "limits.maxConnections: environment variable MAX is not set"]);
});

test("$${ is a literal ${", () => {
  const config = resolveConfig(minimal({ auth: { tokens: [{ token: "a$${B}" }] } }), { env: {} });
  assert.equal(config.auth.tokens[0]!.token, "a${B}");
});

test("SPWIRE_JWT_SECRET creates auth.jwt with HS256, and routes then require auth", () => {
  const config = resolveConfig(minimal(), { env: { SPWIRE_JWT_SECRET: "from-env" } });
  assert.deepEqual(config.auth.jwt, { secret: "from-env", jwksFile: undefined, algorithms: ["HS256"], issuer: undefined, audience: undefined, claim: "spwire" });
  assert.equal(config.routes[0]!.auth, true);
});

test("SPWIRE_JWT_SECRET replaces the file's secret and keeps the rest of its jwt section", () => {
  const config = resolveConfig(minimal({ auth: { jwt: { secret: "from-file", issuer: "me" } } }), { env: { SPWIRE_JWT_SECRET: "from-env" } });
  assert.equal(config.auth.jwt!.secret, "from-env");
  assert.equal(config.auth.jwt!.issuer, "me");
});

test("SPWIRE_TOKENS are appended after the file's tokens, with the same defaults", () => {
  const config = resolveConfig(minimal({ auth: { tokens: [{ token: "file-token", subject: "file" }] } }), {
    env: { SPWIRE_TOKENS: JSON.stringify([{ token: "env-1", routes: ["/feed"], expires: 1800000000 }, { token: "env-2", subject: "ci", read: "metrics." }]) },
  });
  assert.deepEqual(config.auth.tokens, [
    { token: "file-token", subject: "file", rights: { routes: ["*"], read: [""], publish: [""] }, expiresAt: undefined },
    { token: "env-1", subject: "token-2", rights: { routes: ["/feed"], read: [""], publish: [""] }, expiresAt: 1800000000000 },
    { token: "env-2", subject: "ci", rights: { routes: ["*"], read: ["metrics."], publish: [""] }, expiresAt: undefined },
  ]);
  assert.equal(config.routes[0]!.auth, true);
});

test("SPWIRE_TOKENS problems are named SPWIRE_TOKENS[i].field", () => {
  const e = configError(() => resolveConfig(minimal(), { env: { SPWIRE_TOKENS: JSON.stringify([{ token: "ok" }, { token: "x", subjct: "ci" }]) } }));
  assert.deepEqual(e.issues, ['SPWIRE_TOKENS[1].subjct: unknown key (did you mean "subject"?)']);
});

test("SPWIRE_TOKENS that is not JSON is refused without quoting it", () => {
  const e = configError(() => resolveConfig(minimal(), { env: { SPWIRE_TOKENS: '[{"token": hunter2-secret}]' } }));
  assert.equal(e.issues.length, 1);
  assert.match(e.message, /^SPWIRE_TOKENS: not valid JSON/);
  assert.ok(!e.message.includes("hunter2"));
});

test("SPWIRE_LOG_LEVEL is over the file's logLevel and under --log-level", () => {
  const d = dir();
  const file = join(d, "gw.json");
  writeFileSync(file, JSON.stringify(minimal({ logLevel: "error" })));
  assert.equal(parseArgs(["--config", file], {}).config!.logLevel, "error");
  assert.equal(parseArgs(["--config", file], { SPWIRE_LOG_LEVEL: "warn" }).config!.logLevel, "warn");
  assert.equal(parseArgs(["--config", file, "--log-level", "trace"], { SPWIRE_LOG_LEVEL: "warn" }).config!.logLevel, "trace");
  assert.deepEqual(configError(() => resolveConfig(minimal(), { env: { SPWIRE_LOG_LEVEL: "loud" } })).issues, [
    'SPWIRE_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")',
  ]);
});

// ---------------------------------------------------------------------------
// Validation: each message names the field

/** The issues resolving `input` gives, with no environment. */
const issuesOf = (input: unknown, baseDir?: string): string[] => configError(() => resolveConfig(input, { env: {}, ...(baseDir ? { baseDir } : {}) })).issues;

test("listen is required", () => {
  assert.deepEqual(issuesOf({ routes: minimal().routes }), ["listen: required"]);
});

test("listen must be ws:// or wss:// with a port and no path", () => {
  assert.deepEqual(issuesOf(minimal({ listen: "http://127.0.0.1:8080/x" })), [
    'listen: expected ws://HOST:PORT or wss://HOST:PORT with no path, e.g. ws://0.0.0.0:8080 (got "http://127.0.0.1:8080/x")',
  ]);
  assert.equal(resolveConfig(minimal({ listen: "ws://[::1]:8080/" }), { env: {} }).listen, "ws://[::1]:8080");
});

test("an unknown key is an error naming the key and the nearest known one", () => {
  assert.deepEqual(issuesOf(minimal({ limits: { maxConection: 5 }, listn: "x" })), [
    'limits.maxConection: unknown key (did you mean "maxConnections"?)',
    'listn: unknown key (did you mean "listen"?)',
  ]);
});

test("an unknown key with no near match lists the known keys", () => {
  assert.deepEqual(issuesOf(minimal({ auth: { zzz: 1 } })), ["auth.zzz: unknown key (expected one of cookie, queryParam, tokens, jwt)"]);
});

test("a bad protocol names the route, the protocols and what was given", () => {
  assert.deepEqual(issuesOf(minimal({ routes: [{ path: "/feed", protocol: "foo", upstream: "tcp://127.0.0.1:5555" }] })), [
    'routes[0].protocol: expected one of pair0, pair1, pub, sub, req, rep, push, pull, surveyor, respondent, bus (got "foo")',
  ]);
});

test("a bad queue policy names the field", () => {
  assert.deepEqual(issuesOf(minimal({ routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555", queue: { policy: "drop-all" } }] })), [
    'routes[0].queue.policy: expected one of drop-new, drop-old, disconnect, latest (got "drop-all")',
  ]);
});

test("limits must be positive integers", () => {
  assert.deepEqual(issuesOf(minimal({ limits: { maxConnections: 0, maxConnectionsPerIp: 1.5, pingInterval: -1 } })), [
    "limits.maxConnections: expected a positive integer",
    "limits.maxConnectionsPerIp: expected a positive integer",
    "limits.pingInterval: expected a whole number of milliseconds, 0 = off",
  ]);
});

test("idleTimeout must be longer than pingInterval", () => {
  assert.deepEqual(issuesOf(minimal({ limits: { pingInterval: 30000, idleTimeout: 30000 } })), [
    "limits.idleTimeout: must be longer than limits.pingInterval (30000 ms), or a browser answering every ping is still closed as idle",
  ]);
});

test("routes must not be empty", () => {
  assert.deepEqual(issuesOf(minimal({ routes: [] })), ["routes: at least one route is required"]);
});

test("a duplicate route path is refused (a trailing / is the same path)", () => {
  const r = { protocol: "sub", upstream: "tcp://127.0.0.1:5555" };
  assert.deepEqual(issuesOf(minimal({ routes: [{ path: "/feed", ...r }, { path: "/other", ...r }, { path: "/feed/", ...r }] })), [
    'routes[2].path: "/feed/" is already the path of routes[0]',
  ]);
});

test("the gateway's own paths are reserved", () => {
  const r = { protocol: "sub", upstream: "tcp://127.0.0.1:5555" };
  assert.deepEqual(issuesOf(minimal({ routes: ["/healthz", "/readyz", "/metrics", "/routes", "feed"].map((path) => ({ path, ...r })) })), [
    'routes[0].path: "/healthz" is reserved for the gateway\'s own endpoints (/healthz /readyz /metrics /routes)',
    'routes[1].path: "/readyz" is reserved for the gateway\'s own endpoints (/healthz /readyz /metrics /routes)',
    'routes[2].path: "/metrics" is reserved for the gateway\'s own endpoints (/healthz /readyz /metrics /routes)',
    'routes[3].path: "/routes" is reserved for the gateway\'s own endpoints (/healthz /readyz /metrics /routes)',
    'routes[4].path: expected a path starting with "/", without spaces, "?" or "#" (got "feed")',
  ]);
});

test("an upstream URL needs an accepted scheme and, for tcp, a port", () => {
  const r = (upstream: string) => ({ path: "/feed", protocol: "sub", upstream });
  assert.deepEqual(issuesOf(minimal({ routes: [r("http://127.0.0.1:80"), r("tcp://127.0.0.1"), r("not a url")] })), [
    'routes[0].upstream: unsupported scheme "http://"; expected one of tcp, tls+tcp, ipc, ws, wss',
    "routes[1].upstream: a tcp:// URL needs a port, e.g. tcp://127.0.0.1:5555",
    'routes[2].upstream: expected a URL such as tcp://127.0.0.1:5555 (got "not a url")',
  ]);
  const ok = resolveConfig(minimal({ routes: [r("tls+tcp://h:1"), { ...r("ipc:///tmp/a"), path: "/b" }, { ...r("ws://h/x"), path: "/c" }] }), { env: {} });
  assert.equal(ok.routes.length, 3);
});

test("dialing a wildcard host is refused; listening on one is fine", () => {
  assert.deepEqual(issuesOf(minimal({ routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://0.0.0.0:5555" }] })), [
    "routes[0].upstream: cannot dial a wildcard host; name the upstream's address (or set upstreamMode: listen)",
  ]);
  resolveConfig(minimal({ routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://0.0.0.0:5555", upstreamMode: "listen" }] }), { env: {} });
});

test("wss:// without tls is refused, and tls without wss://", () => {
  assert.deepEqual(issuesOf(minimal({ listen: "wss://127.0.0.1:8443" })), [
    "tls: required for a wss:// listen address: { cert, key } (files or PEM text), or --cert and --key",
  ]);
  assert.deepEqual(issuesOf(minimal({ tls: { cert: "c.pem", key: "k.pem" } })), ["tls: only used with a wss:// listen address (listen is ws://)"]);
});

test("per-connection with upstreamMode listen is refused, also when per-connection is pair's default", () => {
  const r = { path: "/p", upstream: "tcp://127.0.0.1:5555", upstreamMode: "listen" };
  assert.deepEqual(issuesOf(minimal({ routes: [{ ...r, protocol: "sub", mode: "per-connection" }] })), [
    "routes[0].mode: per-connection needs upstreamMode dial (a listening upstream cannot tell browsers apart)",
  ]);
  assert.deepEqual(issuesOf(minimal({ routes: [{ ...r, protocol: "pair0" }] })), [
    "routes[0].mode: pair0 routes are per-connection by default, which needs upstreamMode dial (a listening upstream cannot tell browsers apart); set mode: shared to listen",
  ]);
  assert.equal(resolveConfig(minimal({ routes: [{ ...r, protocol: "pair0", mode: "shared" }] }), { env: {} }).routes[0]!.mode, "shared");
});

test("static must be an existing directory", () => {
  const d = dir();
  writeFileSync(join(d, "file.txt"), "x");
  assert.deepEqual(issuesOf(minimal({ static: "missing" }), d), [`static: "missing" does not exist (${join(d, "missing")})`]);
  assert.deepEqual(issuesOf(minimal({ static: "file.txt" }), d), [`static: "file.txt" is not a directory (${join(d, "file.txt")})`]);
});

test("origins must be exact origins or *", () => {
  assert.deepEqual(issuesOf(minimal({ origins: ["https://Dash.example.com:443/", "dash.example.com", "https://x.example.com/app"] })), [
    'origins[0]: expected an origin such as https://app.example.com (scheme://host[:port], no path) or "*" (got "https://Dash.example.com:443/"; did you mean "https://dash.example.com"?)',
    'origins[1]: expected an origin such as https://app.example.com (scheme://host[:port], no path) or "*" (got "dash.example.com")',
    'origins[2]: expected an origin such as https://app.example.com (scheme://host[:port], no path) or "*" (got "https://x.example.com/app")',
  ]);
});

test("jwt: HS256 needs a secret, RS256/ES256 a jwksFile, and the jwksFile must be a JWKS", () => {
  const d = dir();
  writeFileSync(join(d, "not-json.json"), "{");
  writeFileSync(join(d, "no-keys.json"), "{}");
  assert.deepEqual(issuesOf(minimal({ auth: { jwt: { algorithms: ["HS256", "ES256"] } } }), d), [
    "auth.jwt: needs a secret (HS256; or SPWIRE_JWT_SECRET) or a jwksFile (RS256, ES256)",
  ]);
  assert.deepEqual(issuesOf(minimal({ auth: { jwt: { secret: "s", algorithms: ["HS256", "ES256"] } } }), d), [
    "auth.jwt.jwksFile: required for ES256 (a JWKS file with the public keys)",
  ]);
  assert.deepEqual(issuesOf(minimal({ auth: { jwt: { jwksFile: "missing.json" } } }), d), [`auth.jwt.jwksFile: cannot read "missing.json" (${join(d, "missing.json")}): ENOENT`]);
  assert.deepEqual(issuesOf(minimal({ auth: { jwt: { jwksFile: "not-json.json" } } }), d), ['auth.jwt.jwksFile: "not-json.json" is not JSON; expected a JWKS: { "keys": [...] }']);
  assert.deepEqual(issuesOf(minimal({ auth: { jwt: { jwksFile: "no-keys.json" } } }), d), ['auth.jwt.jwksFile: "no-keys.json" is not a JWKS: expected { "keys": [...] }']);
});

test("jwt algorithms default from what is configured; --jwks adds a jwksFile", () => {
  const d = dir();
  writeFileSync(join(d, "keys.json"), JSON.stringify({ keys: [] }));
  const { config } = parseArgs([...ONE_LINER, "--jwks", join(d, "keys.json")], { SPWIRE_JWT_SECRET: "s" });
  assert.deepEqual(config!.auth.jwt!.algorithms, ["HS256", "RS256", "ES256"]);
  assert.equal(config!.auth.jwt!.jwksFile, join(d, "keys.json"));
  assert.deepEqual(resolveConfig(minimal({ auth: { jwt: { jwksFile: join(d, "keys.json") } } }), { env: {} }).auth.jwt!.algorithms, ["RS256", "ES256"]);
});

test("every problem is reported, a line each", () => {
  const e = configError(() => resolveConfig({ listen: "ws://h", routes: [{ path: "/a", protocol: "x", upstream: "tcp://h:1" }], bogus: 1 }, { env: {} }));
  assert.equal(e.issues.length, 3);
  assert.equal(e.message, e.issues.join("\n"));
  assert.ok(e.issues.some((i) => i.startsWith("listen: ")));
  assert.ok(e.issues.some((i) => i.startsWith("routes[0].protocol: ")));
  assert.ok(e.issues.some((i) => i.startsWith("bogus: unknown key")));
});

test("byte sizes take numbers, digit strings and unit suffixes", () => {
  const r = (maxMessageSize: unknown) => ({ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555", maxMessageSize });
  const sizes = ["4096", "64KiB", "1MiB", "2 MB", "1.5KiB", 100].map((s) => resolveConfig(minimal({ routes: [r(s)] }), { env: {} }).routes[0]!.maxMessageSize);
  assert.deepEqual(sizes, [4096, 65536, 1048576, 2000000, 1536, 100]);
  assert.deepEqual(issuesOf(minimal({ routes: [r("lots")] })), ['routes[0].maxMessageSize: expected a positive number of bytes, e.g. 1048576 or "1MiB"']);
});

test("rateLimit.burst defaults to rateLimit.messages", () => {
  const r = { path: "/feed", protocol: "pub", upstream: "tcp://127.0.0.1:5555" };
  const config = resolveConfig(minimal({ routes: [{ ...r, rateLimit: { messages: 5 } }, { ...r, path: "/b", rateLimit: { messages: 5, burst: 50 } }] }), { env: {} });
  assert.deepEqual(
    config.routes.map((x) => x.rateLimit),
    [
      { messages: 5, burst: 5 },
      { messages: 5, burst: 50 },
    ],
  );
});

// ---------------------------------------------------------------------------
// expires

const expiresOf = (expires: unknown): number | undefined =>
  resolveConfig(minimal({ auth: { tokens: [{ token: "t", expires }] } }), { env: {} }).auth.tokens[0]!.expiresAt;

test("expires takes ISO dates with a time zone, dates, epoch seconds and Dates", () => {
  assert.equal(expiresOf("2027-01-01T00:00:00Z"), Date.UTC(2027, 0, 1));
  assert.equal(expiresOf("2027-01-01T02:00:00+02:00"), Date.UTC(2027, 0, 1));
  assert.equal(expiresOf("2027-01-01"), Date.UTC(2027, 0, 1));
  assert.equal(expiresOf(1798761600), Date.UTC(2027, 0, 1));
  assert.equal(expiresOf("1798761600"), Date.UTC(2027, 0, 1));
  assert.equal(expiresOf(new Date(Date.UTC(2027, 0, 1))), Date.UTC(2027, 0, 1));
});

test("expires refuses dates without a time zone, words, and epoch milliseconds", () => {
  const expected = 'expected an ISO 8601 date with a time zone (e.g. "2027-01-01T00:00:00Z" or "2027-01-01") or epoch seconds';
  assert.deepEqual(issuesOf(minimal({ auth: { tokens: [{ token: "t", expires: "2027-01-01T00:00:00" }] } })), [`auth.tokens[0].expires: ${expected} (got "2027-01-01T00:00:00")`]);
  assert.deepEqual(issuesOf(minimal({ auth: { tokens: [{ token: "t", expires: "next week" }] } })), [`auth.tokens[0].expires: ${expected} (got "next week")`]);
  assert.deepEqual(issuesOf(minimal({ auth: { tokens: [{ token: "t", expires: 1798761600000 }] } })), ["auth.tokens[0].expires: 1798761600000 looks like epoch milliseconds; give epoch seconds"]);
});

// ---------------------------------------------------------------------------
// Secrets stay out of messages

test("token and secret values never appear in an error message", () => {
  const secret = "hunter2-secret-value";
  const e = configError(() =>
    resolveConfig(
      {
        listen: "ws://127.0.0.1:8080",
        routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555" }],
        auth: {
          tokens: [{ token: secret }, { token: secret }, { token: 42 }],
          jwt: { secret, algorithms: ["RS256"] },
        },
      },
      { env: { SPWIRE_TOKENS: JSON.stringify([{ token: secret, subject: 7 }]) } },
    ),
  );
  assert.ok(e.issues.length >= 2, e.message);
  assert.ok(!e.message.includes("hunter2"), e.message);
  const dup = configError(() =>
    resolveConfig(minimal({ auth: { tokens: [{ token: secret }], jwt: { secret, algorithms: ["RS256"] } } }), { env: { SPWIRE_TOKENS: JSON.stringify([{ token: secret }]) } }),
  );
  assert.deepEqual(dup.issues, [
    "SPWIRE_TOKENS[0].token: the same token as auth.tokens[0]; each token must be unique",
    "auth.jwt.jwksFile: required for RS256 (a JWKS file with the public keys)",
    "auth.jwt.algorithms: a secret is set (auth.jwt.secret or SPWIRE_JWT_SECRET) but HS256 is not listed; add HS256 or remove the secret",
  ]);
});

// ---------------------------------------------------------------------------
// TLS material

test("wss:// reads the certificate and key from files, or takes them inline", (t) => {
  const certs = createTestCerts();
  t.after(() => certs.remove());
  const fromFiles = resolveConfig(minimal({ listen: "wss://127.0.0.1:8443", tls: { cert: certs.server.certPath, key: certs.server.keyPath } }), { env: {} });
  assert.deepEqual(fromFiles.tls, { cert: certs.server.cert, key: certs.server.key });
  const inline = resolveConfig(minimal({ listen: "wss://127.0.0.1:8443", tls: { cert: certs.server.cert, key: certs.server.key } }), { env: {} });
  assert.deepEqual(inline.tls, fromFiles.tls);
  const { config } = parseArgs(["--listen", "wss://127.0.0.1:8443", "--cert", certs.server.certPath, "--key", certs.server.keyPath, "--route", "/feed=sub@tcp://127.0.0.1:5555"], {});
  assert.deepEqual(config!.tls, fromFiles.tls);
});

test("tls problems name the field, never the key", (t) => {
  const certs = createTestCerts();
  t.after(() => certs.remove());
  const d = dir();
  writeFileSync(join(d, "plain.txt"), "not pem");
  assert.deepEqual(issuesOf(minimal({ listen: "wss://127.0.0.1:8443", tls: { cert: "missing.pem", key: "plain.txt" } }), d), [
    `tls.cert: cannot read "missing.pem" (${join(d, "missing.pem")}): ENOENT`,
    'tls.key: "plain.txt" holds no PEM block (no "-----BEGIN" line)',
  ]);
  const mismatch = issuesOf(minimal({ listen: "wss://127.0.0.1:8443", tls: { cert: certs.server.cert, key: certs.ca.key } }));
  assert.equal(mismatch.length, 1);
  assert.match(mismatch[0]!, /^tls: the certificate and key are not a usable pair: /);
  assert.ok(!mismatch[0]!.includes("PRIVATE KEY"));
});

test("upstreamTls: read from files; only for tls+tcp:// and wss://; a listen needs cert and key", (t) => {
  const certs = createTestCerts();
  t.after(() => certs.remove());
  const dial = resolveConfig(
    minimal({ routes: [{ path: "/feed", protocol: "sub", upstream: "tls+tcp://127.0.0.1:5555", upstreamTls: { ca: certs.ca.certPath, servername: "localhost" } }] }),
    { env: {} },
  );
  assert.deepEqual(dial.routes[0]!.upstreamTls, { ca: certs.ca.cert, servername: "localhost" });
  assert.deepEqual(
    issuesOf(
      minimal({
        routes: [
          { path: "/a", protocol: "sub", upstream: "tcp://127.0.0.1:5555", upstreamTls: { insecure: true } },
          { path: "/b", protocol: "sub", upstream: "tls+tcp://127.0.0.1:5555", upstreamMode: "listen" },
          { path: "/c", protocol: "sub", upstream: "tls+tcp://127.0.0.1:5555", upstreamMode: "listen", upstreamTls: { cert: certs.server.certPath, key: certs.server.keyPath, ca: certs.ca.certPath } },
        ],
      }),
    ),
    [
      "routes[0].upstreamTls: only used with tls+tcp:// and wss:// upstreams (this one is tcp://)",
      "routes[1].upstreamTls: required to listen on tls+tcp://: { cert, key }",
      "routes[2].upstreamTls.ca: a dial option: listeners do not verify dialers' certificates",
    ],
  );
});

test("a GatewayInput object in code resolves like a file", () => {
  const input: GatewayInput = {
    listen: "ws://127.0.0.1:8080",
    routes: [{ path: "/feed", protocol: "sub", upstream: "tcp://127.0.0.1:5555", queue: { policy: "disconnect" } }],
  };
  assert.equal(resolveConfig(input, { env: {} }).routes[0]!.queue.policy, "disconnect");
});
