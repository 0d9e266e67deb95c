/**
 * The interop matrix (issue #3): every protocol pair against the real
 * nngcat (nng 1.5.2) and nanocat (nanomsg 1.1.5), on every transport both
 * sides have, with spwire as dialer and as listener. Each cell checks the
 * bodies that arrive on both sides byte for byte (the peer prints with
 * `--hex`, one line per message) and the header where the cooked socket
 * exposes it. The results become the table in README.md (between the
 * interop-matrix markers) and in interop-matrix.md; see interop-matrix-table.ts.
 *
 * Cells whose transport spwire does not have yet (not in nodeTransports())
 * are "pending" and start running the moment it is exported; cells the peer
 * cannot run are "n/a". Peers that send on their own (pub, push, pair, bus,
 * surveyor) repeat every second (`--interval 1`: nanocat has no --count, and
 * nngcat's --count without --interval fails on its own timer, see
 * NNGCAT-NOTES.md); every peer is killed when its cell ends, and again in
 * `after`.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
  Sub,
  Surveyor,
  nodeTransports,
  silentLogger,
  type Message,
  type Socket,
  type SocketConfig,
} from "@spwire/node";
import * as browser from "@spwire/core/browser";
import { WebSocket } from "ws";
import { freePort, startPeer, until, waitForPort, type Peer } from "../../../test-support/peers.js";
import { createTestCerts, type TestCerts } from "../../../test-support/certs.js";
import { hexQuoted, parseHexLines } from "../../../test-support/cat-output.js";
import {
  COLUMNS,
  ROWS,
  cellKey,
  peerLacks,
  renderMatrix,
  spliceMatrix,
  type CellResult,
  type Column,
  type Proto,
  type Row,
  type Scheme,
} from "./interop-matrix-table.js";

/** Everything one cell may take, peer start included; the test's own timeout is above it, so every cell records a result. */
const CELL_BUDGET_MS = 30_000;
/** How long a cell waits for any one thing (a connection, a message, a line printed by the peer). */
const WAIT_MS = 10_000;

const results = new Map<string, CellResult>();
const peers = new Set<Peer>();
const sockets = new Set<Socket>();
const dir = mkdtempSync(join(tmpdir(), "spwire-mx-"));
let seq = 0;

let certs: TestCerts | undefined;
/** TLS material, made on first use (only wss and tls+tcp cells need it). */
function tls(): TestCerts {
  certs ??= createTestCerts();
  return certs;
}

const haveSchemes = new Set(nodeTransports().flatMap((t) => t.schemes));

const socketOptions: SocketConfig = { logger: silentLogger, reconnectMinTime: 20, reconnectMaxTime: 200 };

/**
 * The browser build's sockets over the `ws` package's WebSocket (Node 20 has
 * none of its own). They have the verbs this file uses (dial, send, recv,
 * request, reply, survey, respond, pipes, close) with core's meaning, so the
 * cells drive them through the same code, typed as core's Socket.
 */
const browserOptions: browser.BrowserSocketConfig = {
  reconnectMinTime: 20,
  reconnectMaxTime: 200,
  WebSocket: WebSocket as unknown as browser.BrowserSocketConfig["WebSocket"],
};
const asSocket = (s: browser.BrowserSocket): Socket => s as unknown as Socket;
const BROWSER: Record<Proto, () => Socket> = {
  pair0: () => asSocket(new browser.Pair0(browserOptions)),
  pair1: () => asSocket(new browser.Pair1(browserOptions)),
  pub0: () => asSocket(new browser.Pub(browserOptions)),
  sub0: () => asSocket(new browser.Sub(browserOptions)),
  req0: () => asSocket(new browser.Req(browserOptions)),
  rep0: () => asSocket(new browser.Rep(browserOptions)),
  push0: () => asSocket(new browser.Push(browserOptions)),
  pull0: () => asSocket(new browser.Pull(browserOptions)),
  surveyor0: () => asSocket(new browser.Surveyor(browserOptions)),
  respondent0: () => asSocket(new browser.Respondent(browserOptions)),
  bus0: () => asSocket(new browser.Bus(browserOptions)),
};

const OURS: Record<Proto, () => Socket> = {
  pair0: () => new Pair0(socketOptions),
  pair1: () => new Pair1(socketOptions),
  pub0: () => new Pub(socketOptions),
  sub0: () => new Sub(socketOptions),
  req0: () => new Req(socketOptions),
  rep0: () => new Rep(socketOptions),
  push0: () => new Push(socketOptions),
  pull0: () => new Pull(socketOptions),
  surveyor0: () => new Surveyor(socketOptions),
  respondent0: () => new Respondent(socketOptions),
  bus0: () => new Bus(socketOptions),
};

/** The one prefix both sides subscribe to; every body in the matrix starts with it. */
const TOPIC = "t.";

/** What spwire sends: binary on purpose (NUL, DEL, high bytes, newline, quote, backslash). */
function ourBody(row: Row, col: Column): Buffer {
  return Buffer.concat([
    Buffer.from(`${TOPIC}spwire ${row.id} ${col.scheme} `),
    Buffer.from([0x00, 0x7f, 0x80, 0xff, 0x0a, 0x22, 0x5c]),
  ]);
}

/** What the peer sends (its --data, so text; UTF-8 beyond ASCII to check nothing re-encodes it). */
function peerBody(row: Row, col: Column): Buffer {
  return Buffer.from(`${TOPIC}${col.peer} ${row.id} ${col.scheme} é→`, "utf8");
}

/** A message spwire publishes that the peer's subscription must drop. */
const UNSUBSCRIBED = Buffer.from("u.not subscribed");

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- peers

function peerProtoFlag(peer: Column["peer"], p: Proto): string {
  if (peer === "nngcat") return `--${p}`;
  return p === "pair0" ? "--pair" : `--${p.replace(/0$/, "")}`;
}

/** The peer's own behaviour for its socket: what it sends, how often, how it prints. */
function peerBehaviour(row: Row, col: Column): string[] {
  const data = ["--data", peerBody(row, col).toString("utf8")];
  // nngcat caps each --interval round's receive wait by --recv-timeout (NNGCAT-NOTES.md), so give it one above the interval.
  const every = ["--interval", "1", ...(col.peer === "nngcat" ? ["--recv-timeout", "2"] : [])];
  switch (row.theirs) {
    case "pair0":
    case "pair1":
    case "bus0":
    case "surveyor0":
      return [...data, ...every, "--hex"];
    case "pub0":
    case "push0":
      // nngcat pub/push refuse any format option; they print nothing anyway.
      return [...data, "--interval", "1"];
    case "sub0":
      return ["--subscribe", TOPIC, "--hex"];
    case "pull0":
      return ["--hex"];
    case "req0":
    case "rep0":
    case "respondent0":
      return [...data, "--hex"];
  }
}

function launch(col: Column, args: string[]): Peer {
  const p = startPeer(col.peer, args, { cwd: dir });
  peers.add(p);
  // Bound every process, whatever happens to the cell.
  const t = setTimeout(() => p.kill(), CELL_BUDGET_MS + 5_000);
  t.unref();
  void p.exited.then(() => clearTimeout(t));
  return p;
}

function tlsListenArgs(col: Column): string[] {
  return col.scheme === "wss" || col.scheme === "tls+tcp" ? ["--cert", tls().server.certPath, "--key", tls().server.keyPath] : [];
}

function tlsDialArgs(col: Column): string[] {
  return col.scheme === "wss" || col.scheme === "tls+tcp" ? ["--cacert", tls().ca.certPath] : [];
}

function isTls(s: Scheme): boolean {
  return s === "wss" || s === "tls+tcp";
}

/** A URL for the peer to listen on (a fresh port or socket file), and how to know it is listening. */
async function peerListenUrl(col: Column): Promise<{ url: string; ready: () => Promise<void> }> {
  if (col.scheme === "ipc") {
    const path = join(dir, `p${seq++}.ipc`);
    return { url: `ipc://${path}`, ready: () => until(() => existsSync(path), `${col.peer} made ${path}`) };
  }
  const port = await freePort();
  // nng checks the ws Host header against its listen host: 127.0.0.1 on both sides.
  // nanomsg's ws bind takes no path at all (sp-wire.md 2.8).
  const path = col.scheme === "ws" || col.scheme === "wss" ? (col.peer === "nanocat" ? "" : "/matrix") : "";
  return { url: `${col.scheme}://127.0.0.1:${port}${path}`, ready: () => waitForPort(port) };
}

function ourListenUrl(col: Column): string {
  switch (col.scheme) {
    case "ipc":
      return `ipc://${join(dir, `s${seq++}.ipc`)}`;
    case "ws":
    case "wss":
      return `${col.scheme}://127.0.0.1:0/matrix`;
    default:
      return `${col.scheme}://127.0.0.1:0`;
  }
}

/** Reject when `p` is not settled within `ms`, or when the peer exits first (with its stderr). */
async function bounded<T>(p: Promise<T>, what: string, peer?: Peer, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${ms} ms waiting for: ${what}${peerSays(peer)}`)), ms);
  });
  const exit =
    peer === undefined
      ? new Promise<never>(() => undefined)
      : peer.exited.then((code): never => {
          throw new Error(`peer exited (${code}) while waiting for: ${what}${peerSays(peer)}`);
        });
  // Whichever loses the race may settle later: nobody is left to hear it.
  p.catch(() => undefined);
  exit.catch(() => undefined);
  try {
    return await Promise.race([p, timeout, exit]);
  } finally {
    clearTimeout(timer);
  }
}

function peerSays(peer: Peer | undefined): string {
  if (peer === undefined) return "";
  const err = peer.stderr().trim();
  const out = peer.stdout().toString("latin1").trim();
  return `${err ? `; peer stderr: ${err.slice(-300)}` : ""}${out ? `; peer stdout: ${out.slice(-300)}` : ""}`;
}

/** Poll until `cond()`; fail with the peer's output if it does not come within WAIT_MS. */
async function waitUntil(cond: () => boolean, what: string, peer: Peer): Promise<void> {
  for (const end = Date.now() + WAIT_MS; !cond(); ) {
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}${peerSays(peer)}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------- one cell

interface Connected {
  peer: Peer;
  /** Bodies the peer printed so far, one per message. */
  printed(): Buffer[];
  /** True once the peer has exited and all its output is read. */
  exited(): boolean;
}

/** Start the peer and join it to `sock` with spwire in the column's role; resolves once a pipe is up. */
async function connect(row: Row, col: Column, sock: Socket): Promise<Connected> {
  const proto = peerProtoFlag(col.peer, row.theirs);
  const [listenFlag, dialFlag] = col.peer === "nngcat" ? ["--listen", "--dial"] : ["--bind", "--connect"];
  let peer: Peer;
  if (col.role === "listener") {
    const l = await sock.listen(ourListenUrl(col), isTls(col.scheme) ? { cert: tls().server.cert, key: tls().server.key } : {});
    peer = launch(col, [proto, dialFlag, l.url, ...tlsDialArgs(col), ...peerBehaviour(row, col)]);
    await bounded(
      until(() => sock.pipes.length > 0, "a pipe", WAIT_MS / 25),
      `${col.peer} dialing ${l.url}`,
      peer,
    );
  } else {
    // A port from freePort() can be taken again before the peer binds it: try another.
    for (let attempt = 1; ; attempt++) {
      const { url, ready } = await peerListenUrl(col);
      peer = launch(col, [proto, listenFlag, url, ...tlsListenArgs(col), ...peerBehaviour(row, col)]);
      try {
        await bounded(ready(), `${col.peer} listening on ${url}`, peer);
      } catch (err) {
        peer.kill();
        if (attempt < 3 && /in use/i.test(peer.stderr())) continue;
        throw err;
      }
      await bounded(
        Promise.resolve(sock.dial(url, isTls(col.scheme) ? { ca: tls().ca.cert } : {})),
        `spwire dialing ${url}`,
        peer,
      );
      break;
    }
  }
  const p = peer;
  let gone = false;
  void p.exited.then(() => (gone = true));
  return { peer: p, printed: () => parseHexLines(p.stdout()), exited: () => gone };
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(hexQuoted(actual), hexQuoted(expected), what);
}

function assertNoHeader(m: Message, what: string): void {
  assert.equal(m.header.length, 0, `${what}: a cooked ${what} message exposes no header`);
}

/** A REQ or SURVEYOR id as it arrives at REP/RESPONDENT: one word, top bit set (nng, nanomsg both set it). */
function assertIdHeader(h: Uint8Array, what: string): void {
  assert.equal(h.length, 4, `${what}: the backtrace is exactly the one id word (no device between)`);
  assert.ok((h[0]! & 0x80) !== 0, `${what}: the id ${hexQuoted(h)} has its top bit set`);
}

/** Every body the peer printed is exactly ours (nothing else, nothing mangled), and there is at least one. */
async function peerPrintsOnly(c: Connected, ours: Buffer, what: string, keepSending?: () => Promise<void>): Promise<void> {
  const has = (): boolean => c.printed().some((b) => b.equals(ours));
  // Resend now and then, not in a tight loop: nngcat 1.5.2 under --interval dies ("Cannot set recv
  // timeout: Invalid argument") when a message it is busy printing pushes a round past its interval.
  let nextSend = 0;
  for (const end = Date.now() + WAIT_MS; !has(); ) {
    if (c.exited()) throw new Error(`${what}: the peer exited without printing ${hexQuoted(ours)}${peerSays(c.peer)}`);
    if (Date.now() > end) throw new Error(`${what}: the peer never printed ${hexQuoted(ours)}${peerSays(c.peer)}`);
    if (keepSending !== undefined && Date.now() >= nextSend) {
      nextSend = Date.now() + 250;
      await keepSending();
    }
    await sleep(25);
  }
  for (const b of c.printed()) assertBytes(b, ours, `${what}: every message the peer printed`);
}

/** send() that waits at most a moment: a send that cannot go now is retried by the caller's loop. */
async function trySend(sock: Socket, body: Uint8Array): Promise<void> {
  try {
    await sock.send(body, { timeout: 500 });
  } catch (err) {
    if ((err as { code?: string }).code !== "ETIMEDOUT") throw err;
  }
}

/** What spwire does once joined, per row; every assertion of the cell is here. */
async function exchange(row: Row, col: Column, sock: Socket, c: Connected): Promise<void> {
  const ours = ourBody(row, col);
  const theirs = peerBody(row, col);
  const what = cellKey(row, col);
  switch (row.ours) {
    case "pair0":
    case "pair1":
    case "bus0": {
      // Both directions at once: the peer sends every second, we send until it prints ours.
      const got = bounded(sock.recv({ timeout: WAIT_MS }), "the peer's message", c.peer);
      got.catch(() => undefined); // awaited below, unless the other direction fails first
      await peerPrintsOnly(c, ours, what, () => trySend(sock, ours));
      const m = await got;
      assertBytes(m.body, theirs, `${what}: body spwire received`);
      assertNoHeader(m, row.ours);
      return;
    }
    case "pub0":
      await peerPrintsOnly(c, ours, what, async () => {
        await sock.send(UNSUBSCRIBED);
        await sock.send(ours);
      });
      return;
    case "sub0": {
      const m = await bounded(sock.recv({ timeout: WAIT_MS }), "a published message", c.peer);
      assertBytes(m.body, theirs, `${what}: body spwire received`);
      assertNoHeader(m, "sub");
      return;
    }
    case "req0": {
      const reply = await bounded((sock as Req).request(ours, { timeout: WAIT_MS }), "the reply", c.peer);
      assertBytes(reply.body, theirs, `${what}: reply body`);
      assertIdHeader(reply.header, `${what}: reply header (our request id, echoed)`);
      await peerPrintsOnly(c, ours, what);
      return;
    }
    case "rep0": {
      const q = await bounded(sock.recv({ timeout: WAIT_MS }), "a request", c.peer);
      assertBytes(q.body, theirs, `${what}: request body`);
      assertIdHeader(q.header, `${what}: request header`);
      await (sock as Rep).reply(q, ours);
      // nngcat/nanocat --req exit once they printed the one reply, so no bounded() on the peer here.
      await waitUntil(() => c.printed().some((b) => b.equals(ours)), `the peer printing ${hexQuoted(ours)}`, c.peer);
      for (const b of c.printed()) assertBytes(b, ours, `${what}: every reply the peer printed`);
      return;
    }
    case "push0":
      await bounded(sock.send(ours, { timeout: WAIT_MS }), "push send", c.peer);
      await peerPrintsOnly(c, ours, what);
      return;
    case "pull0": {
      const m = await bounded(sock.recv({ timeout: WAIT_MS }), "a pushed message", c.peer);
      assertBytes(m.body, theirs, `${what}: body spwire received`);
      assertNoHeader(m, "pull");
      return;
    }
    case "surveyor0": {
      // A survey goes only to pipes up at that moment and ends after `time`: survey again until one is answered.
      let answer: { m: Message; id: number } | undefined;
      for (const end = Date.now() + WAIT_MS; answer === undefined; ) {
        if (Date.now() > end) throw new Error(`${what}: no answer to any survey${peerSays(c.peer)}`);
        const s = (sock as Surveyor).survey(ours, { time: 1000 });
        for await (const m of s) {
          answer = { m, id: s.id };
          break;
        }
      }
      assertBytes(answer.m.body, theirs, `${what}: answer body`);
      const id = Buffer.alloc(4);
      id.writeUInt32BE(answer.id);
      assertBytes(answer.m.header, id, `${what}: the answer echoes our survey id`);
      assertIdHeader(answer.m.header, `${what}: answer header`);
      await peerPrintsOnly(c, ours, what);
      return;
    }
    case "respondent0": {
      // The peer surveys every second; a survey already replaced by the next one drops our answer, so answer until it prints.
      const has = (): boolean => c.printed().some((b) => b.equals(ours));
      for (const end = Date.now() + WAIT_MS; !has(); ) {
        if (Date.now() > end) throw new Error(`${what}: the peer never printed ${hexQuoted(ours)}${peerSays(c.peer)}`);
        let q: Message;
        try {
          q = await (sock as Respondent).recv({ timeout: 1500 });
        } catch (err) {
          if ((err as { code?: string }).code === "ETIMEDOUT") continue;
          throw err;
        }
        assertBytes(q.body, theirs, `${what}: survey body`);
        assertIdHeader(q.header, `${what}: survey header`);
        await (sock as Respondent).respond(q, ours);
        await sleep(100);
      }
      for (const b of c.printed()) assertBytes(b, ours, `${what}: every answer the peer printed`);
      return;
    }
  }
}

async function runCell(row: Row, col: Column): Promise<void> {
  const sock = (col.build === "browser" ? BROWSER : OURS)[row.ours]();
  sockets.add(sock);
  if (row.ours === "sub0") (sock as Sub).subscribe(TOPIC);
  let c: Connected | undefined;
  try {
    c = await connect(row, col, sock);
    await exchange(row, col, sock, c);
  } finally {
    c?.peer.kill();
    await sock.close();
    sockets.delete(sock);
  }
}

async function withBudget(p: Promise<void>, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  p.catch(() => undefined); // past the budget, the cell's own failure has no one to report to
  try {
    await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: over the cell budget of ${CELL_BUDGET_MS} ms`)), CELL_BUDGET_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- the matrix

function pendingReason(s: Scheme): string | undefined {
  if (haveSchemes.has(s)) return undefined;
  return `spwire has no ${s}:// transport in nodeTransports() yet; the cells run once it is exported`;
}

describe("interop matrix: spwire against nngcat and nanocat", { concurrency: 4 }, () => {
  for (const row of ROWS) {
    for (const col of COLUMNS) {
      const key = cellKey(row, col);
      const lacks = peerLacks(row, col);
      if (lacks !== undefined) {
        results.set(key, { kind: "n/a", reason: `${col.peer}: ${lacks}` });
        test(key, { skip: `n/a: ${lacks}` }, () => undefined);
        continue;
      }
      const pending = pendingReason(col.scheme);
      if (pending !== undefined) {
        results.set(key, { kind: "pending", reason: pending });
        test(key, { skip: `pending: ${pending}` }, () => undefined);
        continue;
      }
      test(key, { timeout: CELL_BUDGET_MS + 10_000 }, async () => {
        try {
          await withBudget(runCell(row, col), key);
          results.set(key, { kind: "pass" });
        } catch (err) {
          results.set(key, { kind: "fail", reason: (err instanceof Error ? err.message : String(err)).slice(0, 400) });
          throw err;
        }
      });
    }
  }
});

function version(cmd: string, args: string[], pick: (out: string) => string): string | undefined {
  try {
    return pick(execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()) || undefined;
  } catch {
    return undefined; // only decorates the table's first line
  }
}

after(async () => {
  for (const p of peers) p.kill();
  for (const s of sockets) await s.close();
  certs?.remove();
  rmSync(dir, { recursive: true, force: true });

  // A filtered run (--test-name-pattern) leaves cells without a result: then the files stay as they are.
  const missing = ROWS.flatMap((r) => COLUMNS.map((c) => cellKey(r, c))).filter((k) => !results.has(k));
  if (missing.length > 0) {
    console.log(`interop matrix: ${missing.length} cells did not run, README.md and interop-matrix.md left unchanged`);
    return;
  }
  const nng = version("nngcat", ["--version"], (s) => s);
  const nn = version("dpkg-query", ["-W", "-f", "${Version}", "nanomsg-utils"], (s) => s.replace(/[+-].*$/, ""));
  const table = renderMatrix(results, {
    peers: [`nngcat ${nng ?? "(version unknown)"}`, `nanocat (nanomsg ${nn ?? "version unknown"})`],
    command: "node --conditions=source --import tsx --test packages/node/test/interop-matrix.test.ts",
  });
  writeFileSync(fileURLToPath(new URL("./interop-matrix.md", import.meta.url)), `# Interop matrix\n\n${table}`);
  const readme = fileURLToPath(new URL("../../../README.md", import.meta.url));
  writeFileSync(readme, spliceMatrix(readFileSync(readme, "utf8"), table));
});
