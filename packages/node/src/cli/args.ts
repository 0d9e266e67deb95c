/**
 * spcat's command line: the option table, the tokenizer, and the checks that
 * turn argv into a Config. Everything a user can get wrong is reported here
 * as a UsageError whose message is what nngcat 1.5.2 prints for the same
 * mistake (spcat.ts writes it to stderr and exits 1, as nngcat does).
 *
 * The tokenizer is our own and not node:util parseArgs (nor commander or
 * yargs) because nngcat's grammar is not theirs: any unambiguous prefix of a
 * long option is accepted (`--req` is `--req0`, `--recv-t 5` is
 * `--recv-timeout 5`, `--v` is ambiguous between verbose and version), a long
 * option's value may follow `=` or `:`, a value may start with `-`
 * (`--data -x`), short options never cluster (`-vq` is invalid), `--` is not
 * an end-of-options marker, and the first word that is not an option ends the
 * options silently. NNGCAT-NOTES.md lists each of these with the evidence.
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import type { FormatName } from "./format.js";

/** Every protocol nngcat runs (spcat runs them all). */
export const protocolNames = [
  "req0",
  "rep0",
  "pub0",
  "sub0",
  "push0",
  "pull0",
  "surveyor0",
  "respondent0",
  "pair0",
  "pair1",
  "bus0",
] as const;
export type ProtocolName = (typeof protocolNames)[number];

/**
 * What each protocol allows, as nngcat checks it after parsing. `data`:
 * whether --data/--file is required, refused or optional; `interval`: refused,
 * allowed only together with data, or allowed; `format`: false when the
 * protocol never receives, so a format option is an error.
 */
export interface ProtocolRules {
  readonly data: "required" | "refused" | "optional";
  readonly interval: "refused" | "needs-data" | "allowed";
  readonly format: boolean;
}

export const protocolRules: Readonly<Record<ProtocolName, ProtocolRules>> = {
  req0: { data: "required", interval: "allowed", format: true },
  surveyor0: { data: "required", interval: "allowed", format: true },
  rep0: { data: "optional", interval: "refused", format: true },
  respondent0: { data: "optional", interval: "refused", format: true },
  pub0: { data: "required", interval: "allowed", format: false },
  push0: { data: "required", interval: "allowed", format: false },
  sub0: { data: "refused", interval: "refused", format: true },
  pull0: { data: "refused", interval: "refused", format: true },
  pair0: { data: "optional", interval: "needs-data", format: true },
  pair1: { data: "optional", interval: "needs-data", format: true },
  bus0: { data: "optional", interval: "needs-data", format: true },
};

export interface Address {
  readonly mode: "dial" | "listen";
  readonly url: string;
}

/** A checked command line. Times are milliseconds. */
export interface Config {
  protocol: ProtocolName;
  /** In command-line order; spcat dials and listens in this order. */
  addresses: Address[];
  /** undefined: no format option given, which prints nothing (like `--format no`). */
  format: FormatName | undefined;
  /** What to send (--data as UTF-8, or --file's bytes); undefined when neither was given. */
  data: Uint8Array | undefined;
  /** SUB prefixes; a SUB with no --subscribe gets one empty prefix (everything). */
  topics: Uint8Array[];
  /** Stop after this many messages (0: no limit). */
  count: number;
  /** Wait this long before the first send. */
  delay: number;
  /** Repeat sends this often; undefined when --interval was not given. */
  interval: number | undefined;
  /** As given, 0 included; undefined when the option was not given. */
  sendTimeout: number | undefined;
  recvTimeout: number | undefined;
  /** Largest message accepted; undefined when -Z was not given (no limit, nng 1.5.2's default). */
  recvMaxSize: number | undefined;
  /** Print "Connected to:" / "Listening at:" lines on stdout (nngcat -v). */
  verbose: boolean;
  /** Dial in the background instead of failing at once (nngcat --async, forced by --compat). */
  async: boolean;
  compat: boolean;
  /** TLS, for tls+tcp:// and wss:// endpoints only (endpoints.ts): dial without verifying the listener. */
  insecure: boolean;
  /** The --cacert, --cert and --key files' bytes, as read; checked when a TLS endpoint is configured. */
  cacert: Uint8Array | undefined;
  cert: Uint8Array | undefined;
  /** Undefined without --key: the key is then taken from the --cert file, as nngcat does. */
  key: Uint8Array | undefined;
  ztHome: string | undefined;
}

export type Command = { kind: "run"; config: Config } | { kind: "help" } | { kind: "version" };

/** A mistake on the command line; `message` is exactly what goes to stderr (before the newline). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

function fail(message: string): never {
  throw new UsageError(message);
}

/** Reads what --file, --cacert, --cert and --key name; "-" means stdin. Injectable for tests. */
export type FileReader = (path: string) => Uint8Array;

/** Parse state: the Config being built plus what nngcat tracks only while parsing. */
interface State extends Config {
  protocolSet: boolean;
  formatSet: boolean;
  rawTopics: string[];
  readFile: FileReader;
}

interface OptionSpec {
  /** Long name, matched by any unambiguous prefix. */
  readonly name: string;
  readonly short?: string;
  readonly takesValue: boolean;
  /** What the option does; `value` is "" for options without one. May throw UsageError. Returning "help"/"version" ends parsing. */
  readonly apply: (st: State, value: string) => void | "help" | "version";
}

const MAX_SECONDS = 86_400; // nngcat caps every time option at one day
const MAX_INT = 0x7fff_ffff;

/**
 * nngcat's integer rule, digit by digit: empty is an error, any non-digit is
 * an error, and the running value may not pass `max` (so "9999999x" with a
 * small max reports "too large", not "expected").
 */
export function intArg(value: string, max: number): number {
  if (value === "") fail("Empty integer argument.");
  let v = 0;
  for (const ch of value) {
    if (ch < "0" || ch > "9") fail("Integer argument expected.");
    v = v * 10 + (ch.charCodeAt(0) - 48);
    if (v > max) fail("Integer argument too large.");
  }
  return v;
}

const seconds = (value: string): number => intArg(value, MAX_SECONDS) * 1000;

function setProtocol(p: ProtocolName): OptionSpec["apply"] {
  return (st) => {
    if (st.protocolSet) fail("Only one protocol may be specified.");
    st.protocolSet = true;
    st.protocol = p;
  };
}

function setFormat(f: FormatName): OptionSpec["apply"] {
  return (st) => {
    if (st.formatSet) fail("Format may be specified only once.");
    st.formatSet = true;
    st.format = f;
  };
}

const formatWords: Readonly<Record<string, FormatName>> = {
  no: "no",
  ascii: "ascii",
  hex: "hex",
  quoted: "quoted",
  raw: "raw",
  msgpack: "msgpack",
};

function addAddress(mode: Address["mode"], toUrl: (value: string) => string = (v) => v): OptionSpec["apply"] {
  return (st, value) => {
    st.addresses.push({ mode, url: toUrl(value) });
  };
}

const localUrl = (value: string): string => `tcp://127.0.0.1:${intArg(value, 65_536)}`;
// nngcat puts three slashes before the path it is given, so `-X /tmp/s` is ipc:////tmp/s.
const ipcUrl = (value: string): string => `ipc:///${value}`;

function setData(st: State, bytes: () => Uint8Array): void {
  if (st.data !== undefined) fail("Data (--file, --data) may be specified only once.");
  st.data = bytes();
}

/**
 * The option table, with every name nngcat 1.5.2 accepts, so that prefixes
 * are ambiguous or unique exactly as they are there (`--pu` is ambiguous among
 * pub0, push0 and pull0; `--push`, `--surv`, `--bus` are unique prefixes,
 * which is all nngcat's "aliases" are).
 */
const options: readonly OptionSpec[] = [
  { name: "help", short: "h", takesValue: false, apply: () => "help" },
  { name: "verbose", short: "v", takesValue: false, apply: (st) => void (st.verbose = true) },
  { name: "silent", short: "q", takesValue: false, apply: (st) => void (st.verbose = false) },
  { name: "req0", takesValue: false, apply: setProtocol("req0") },
  { name: "rep0", takesValue: false, apply: setProtocol("rep0") },
  { name: "push0", takesValue: false, apply: setProtocol("push0") },
  { name: "pull0", takesValue: false, apply: setProtocol("pull0") },
  { name: "pub0", takesValue: false, apply: setProtocol("pub0") },
  // `--sub` needs its own entry: as a prefix it would be ambiguous with sub0 and subscribe.
  { name: "sub", takesValue: false, apply: setProtocol("sub0") },
  { name: "sub0", takesValue: false, apply: setProtocol("sub0") },
  { name: "surveyor0", takesValue: false, apply: setProtocol("surveyor0") },
  { name: "respondent0", takesValue: false, apply: setProtocol("respondent0") },
  // nngcat 1.5.2 accepts --pair and then ignores it (the result is "No protocol specified."); we match.
  { name: "pair", takesValue: false, apply: () => undefined },
  { name: "pair0", takesValue: false, apply: setProtocol("pair0") },
  { name: "pair1", takesValue: false, apply: setProtocol("pair1") },
  { name: "bus0", takesValue: false, apply: setProtocol("bus0") },
  { name: "dial", takesValue: true, apply: addAddress("dial") },
  { name: "listen", takesValue: true, apply: addAddress("listen") },
  { name: "data", short: "D", takesValue: true, apply: (st, v) => setData(st, () => new TextEncoder().encode(v)) },
  { name: "file", short: "F", takesValue: true, apply: (st, v) => setData(st, () => st.readFile(v)) },
  { name: "subscribe", takesValue: true, apply: (st, v) => void st.rawTopics.push(v) },
  {
    name: "format",
    takesValue: true,
    apply: (st, v) => {
      if (st.formatSet) fail("Format may be specified only once.");
      const f = Object.hasOwn(formatWords, v) ? formatWords[v] : undefined;
      if (f === undefined) fail("Invalid format specified.");
      st.formatSet = true;
      st.format = f;
    },
  },
  { name: "ascii", short: "A", takesValue: false, apply: setFormat("ascii") },
  { name: "quoted", short: "Q", takesValue: false, apply: setFormat("quoted") },
  { name: "raw", takesValue: false, apply: setFormat("raw") },
  { name: "hex", takesValue: false, apply: setFormat("hex") },
  { name: "compat", takesValue: false, apply: (st) => void (st.compat = true) },
  { name: "async", takesValue: false, apply: (st) => void (st.async = true) },
  { name: "msgpack", takesValue: false, apply: setFormat("msgpack") },
  {
    name: "recv-maxsz",
    short: "Z",
    takesValue: true,
    // 0 means "no limit" in nng's option, but nngcat turns a 0 here into 2^31-1.
    apply: (st, v) => void (st.recvMaxSize = intArg(v, MAX_INT) || MAX_INT),
  },
  { name: "count", short: "C", takesValue: true, apply: (st, v) => void (st.count = intArg(v, MAX_INT)) },
  { name: "delay", short: "d", takesValue: true, apply: (st, v) => void (st.delay = seconds(v)) },
  { name: "interval", short: "i", takesValue: true, apply: (st, v) => void (st.interval = seconds(v)) },
  { name: "recv-timeout", takesValue: true, apply: (st, v) => void (st.recvTimeout = seconds(v)) },
  { name: "send-timeout", takesValue: true, apply: (st, v) => void (st.sendTimeout = seconds(v)) },
  // Accepted and ignored by nngcat 1.5.2 (not in its help either).
  { name: "socket-name", takesValue: true, apply: () => undefined },
  { name: "bind", takesValue: true, apply: addAddress("listen") },
  { name: "connect", takesValue: true, apply: addAddress("dial") },
  { name: "bind-ipc", short: "X", takesValue: true, apply: addAddress("listen", ipcUrl) },
  { name: "connect-ipc", short: "x", takesValue: true, apply: addAddress("dial", ipcUrl) },
  { name: "bind-local", short: "L", takesValue: true, apply: addAddress("listen", localUrl) },
  { name: "connect-local", short: "l", takesValue: true, apply: addAddress("dial", localUrl) },
  { name: "insecure", short: "k", takesValue: false, apply: (st) => void (st.insecure = true) },
  {
    name: "cacert",
    takesValue: true,
    apply: (st, v) => {
      if (st.cacert !== undefined) fail("CA Certificate (--cacert) may be specified only once.");
      st.cacert = st.readFile(v);
    },
  },
  {
    name: "key",
    takesValue: true,
    apply: (st, v) => {
      if (st.key !== undefined) fail("Key (--key) may be specified only once.");
      st.key = st.readFile(v);
    },
  },
  {
    name: "cert",
    short: "E",
    takesValue: true,
    apply: (st, v) => {
      if (st.cert !== undefined) fail("Cert (--cert) may be specified only once.");
      st.cert = st.readFile(v);
    },
  },
  { name: "zt-home", takesValue: true, apply: (st, v) => void (st.ztHome = v) },
  { name: "version", short: "V", takesValue: false, apply: () => "version" },
];

/** Find the option a long name (without dashes) means: an exact name wins, else a unique prefix. */
function lookupLong(name: string, arg: string): OptionSpec {
  const exact = options.find((o) => o.name === name);
  if (exact !== undefined) return exact;
  const matches = options.filter((o) => o.name.startsWith(name));
  if (matches.length === 0) fail(`Option ${arg} is invalid.`);
  // An empty name (`--`, `--=x`) is a prefix of everything, so it lands here too.
  if (matches.length > 1) fail(`Option ${arg} is ambiguous (specify in full).`);
  return matches[0]!;
}

/** Glibc's strerror() texts for the errors opening or reading a file can give. */
const strerrors: Readonly<Record<string, string>> = {
  ENOENT: "No such file or directory",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
  EISDIR: "Is a directory",
  ENOTDIR: "Not a directory",
  ELOOP: "Too many levels of symbolic links",
  ENAMETOOLONG: "File name too long",
  EMFILE: "Too many open files",
  ENFILE: "Too many open files in system",
  EIO: "Input/output error",
  ENXIO: "No such device or address",
  EAGAIN: "Resource temporarily unavailable",
};

function strerror(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && Object.hasOwn(strerrors, code)) return strerrors[code]!;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Read a whole file, or stdin for "-". Opening and reading fail with different
 * messages, as in nngcat: a directory opens fine on Linux and then fails to read.
 */
export const readFileOrStdin: FileReader = (path) => {
  let fd = 0;
  if (path !== "-") {
    try {
      fd = openSync(path, "r");
    } catch (err) {
      fail(`Cannot open file ${path}: ${strerror(err)}`);
    }
  }
  try {
    return new Uint8Array(readFileSync(fd));
  } catch (err) {
    fail(`Read from ${path} failed: ${strerror(err)}`);
  } finally {
    if (fd !== 0) closeSync(fd);
  }
};

/** The checks nngcat makes after parsing, in its order. */
function check(st: State): Config {
  if (st.addresses.length === 0) fail("No address specified.");
  if (st.compat) {
    if (st.async) fail("Options --async and --compat are incompatible.");
    if (st.count !== 0) fail("Options --count and --compat are incompatible.");
    if (st.protocol === "pair1") fail("Protocol does not support --compat.");
    // --compat dials in the background, as nanocat does.
    st.async = true;
  }
  const enc = new TextEncoder();
  if (st.protocolSet && st.protocol === "sub0") {
    st.topics = (st.rawTopics.length === 0 ? [""] : st.rawTopics).map((t) => enc.encode(t));
  } else if (st.rawTopics.length > 0) {
    // Checked before "No protocol specified.", as nngcat does.
    fail("Protocol does not support --subscribe.");
  }
  if (!st.protocolSet) fail("No protocol specified.");
  const r = protocolRules[st.protocol];
  const hasData = st.data !== undefined;
  if (!r.format && st.format !== undefined) fail("Protocol does not support --format options.");
  if (r.data === "refused" && hasData) fail("Protocol does not support --file or --data.");
  if (r.data === "required" && !hasData) fail("Protocol requires either --file or --data.");
  if (r.interval === "refused" && st.interval !== undefined) fail("Protocol does not support --interval.");
  if (r.interval === "needs-data" && st.interval !== undefined && !hasData) {
    fail("Option --interval requires either --file or --data.");
  }
  const { protocolSet: _p, formatSet: _f, rawTopics: _t, readFile: _r, ...config } = st;
  return config;
}

/**
 * Parse spcat's arguments (argv without node and the script). Returns what to
 * do, or throws UsageError with nngcat's message for the first problem found,
 * in nngcat's order: option by option from the left, then the whole.
 *
 * @example
 * parseCommandLine(["--req", "--dial=tcp://127.0.0.1:5555", "-Dping", "-A"])
 * // { kind: "run", config: { protocol: "req0", addresses: [{ mode: "dial", ... }], format: "ascii", ... } }
 */
export function parseCommandLine(argv: readonly string[], readFile: FileReader = readFileOrStdin): Command {
  const st: State = {
    protocol: "req0",
    protocolSet: false,
    addresses: [],
    format: undefined,
    formatSet: false,
    data: undefined,
    topics: [],
    rawTopics: [],
    count: 0,
    delay: 0,
    interval: undefined,
    sendTimeout: undefined,
    recvTimeout: undefined,
    recvMaxSize: undefined,
    verbose: false,
    async: false,
    compat: false,
    insecure: false,
    cacert: undefined,
    cert: undefined,
    key: undefined,
    ztHome: undefined,
    readFile,
  };
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    // The first word that is not an option ends the options; nngcat ignores the rest. A lone "-" does too.
    if (!arg.startsWith("-") || arg === "-") break;
    let spec: OptionSpec;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const body = arg.slice(2);
      const cut = body.search(/[=:]/);
      spec = lookupLong(cut < 0 ? body : body.slice(0, cut), arg);
      if (cut >= 0) {
        if (!spec.takesValue) fail(`Option ${arg} is invalid.`);
        inline = body.slice(cut + 1);
      }
    } else {
      const found = options.find((o) => o.short === arg[1]);
      if (found === undefined) fail(`Option ${arg} is invalid.`);
      spec = found;
      const rest = arg.slice(2);
      if (rest !== "") {
        // No clustering: "-vq" is one unknown option, "-Z100" is -Z with 100.
        if (!spec.takesValue) fail(`Option ${arg} is invalid.`);
        inline = rest;
      }
    }
    let value = "";
    if (spec.takesValue) {
      if (inline !== undefined) {
        value = inline;
        i += 1;
      } else {
        if (i + 1 >= argv.length) fail(`Option ${arg} requires argument.`);
        value = argv[i + 1]!;
        i += 2;
      }
    } else {
      i += 1;
    }
    const outcome = spec.apply(st, value);
    if (outcome === "help") return { kind: "help" };
    if (outcome === "version") return { kind: "version" };
  }
  return { kind: "run", config: check(st) };
}

/** spcat's --help text (our own words). nngcat prints its help on stdout and exits 1; spcat does the same. */
export function helpText(): string {
  const col = (left: string, right: string): string => `  ${left.padEnd(30)}${right}`.trimEnd() + "\n";
  const p = (name: ProtocolName, alias: string | undefined, what: string): string =>
    col(alias === undefined ? `--${name}` : `--${name}, --${alias}`, what);
  return (
    "Usage: spcat <protocol> <address>... [<format>] [<option>...] [<data>]\n" +
    "\n" +
    "spcat speaks the nanomsg/nng Scalability Protocols and behaves like nngcat 1.5.2:\n" +
    "same options, same output bytes, same exit codes.\n" +
    "\n" +
    "Protocol, exactly one:\n" +
    p("req0", "req", "send --data, print the replies") +
    p("rep0", "rep", "print requests, answer each with --data") +
    p("pub0", "pub", "publish --data") +
    p("sub0", "sub", "print what is published") +
    p("push0", "push", "push --data (waits for a pull)") +
    p("pull0", "pull", "print what is pushed") +
    p("surveyor0", "surveyor", "send a survey, print the answers until it is over (1 s)") +
    p("respondent0", "respondent", "print surveys, answer each with --data") +
    p("pair0", undefined, "send --data (if any), print what the one peer sends") +
    p("pair1", undefined, "the same with pair v1 (--pair is accepted but names no protocol)") +
    p("bus0", "bus", "send --data (if any) to every peer, print what they send") +
    "\n" +
    "Addresses, one or more (tcp://, ws://, wss://, tls+tcp://, ipc://, inproc://):\n" +
    col("--dial <url>", "connect (alias --connect)") +
    col("--listen <url>", "accept (alias --bind)") +
    col("--connect-local, -l <port>", "dial tcp://127.0.0.1:<port>") +
    col("--bind-local, -L <port>", "listen on tcp://127.0.0.1:<port>") +
    col("--connect-ipc, -x <path>", "dial ipc:///<path>") +
    col("--bind-ipc, -X <path>", "listen on ipc:///<path>") +
    "\n" +
    "How received messages are printed (default: not at all):\n" +
    col("--format <fmt>", "no, ascii, hex, msgpack, quoted or raw") +
    col("--ascii, -A", "printable bytes as is, others as '.', no newline") +
    col("--quoted, -Q", "a C string per line") +
    col("--hex", "\\xNN for every byte, one quoted line per message") +
    col("--msgpack", "one MessagePack bin object per message") +
    col("--raw", "the bytes as received") +
    "\n" +
    "Other options (times are whole seconds):\n" +
    col("--subscribe <prefix>", "sub only; repeatable; default: everything") +
    col("--count, -C <n>", "stop after n messages") +
    col("--delay, -d <s>", "wait before the first send") +
    col("--interval, -i <s>", "send again every s seconds") +
    col("--recv-timeout <s>", "stop waiting for a message after s seconds") +
    col("--send-timeout <s>", "fail a send that waits longer than s seconds") +
    col("--recv-maxsz, -Z <bytes>", "refuse larger messages (0: 2^31-1)") +
    col("--async", "dial in the background instead of failing at once") +
    col("--compat", "nanocat-style: background dials, no --count") +
    col("--verbose, -v", "say where it dialed and listened (on stdout)") +
    col("--silent, -q", "do not") +
    col("--insecure, -k", "TLS dial: do not verify the listener's certificate") +
    col("--cacert <file>", "TLS dial: trust these CA certificates (PEM)") +
    col("--cert, -E <file>", "TLS: our certificate (PEM); a TLS listener needs it") +
    col("--key <file>", "TLS: its private key (default: read from the --cert file)") +
    col("--zt-home <dir>", "ignored (no ZeroTier transport)") +
    col("--version, -V", "print the version and exit") +
    "\n" +
    "Data to send, one of:\n" +
    col("--data, -D <text>", "the text, as UTF-8") +
    col("--file, -F <file>", "the file's bytes; - reads standard input") +
    "\n" +
    "Long options may be shortened to any unambiguous prefix; values may follow = or :.\n"
  );
}
