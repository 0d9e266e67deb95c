/**
 * ipc:// transport (sp-wire.md 4): URLs, the framing bytes with the 0x01
 * type byte, socket-file handling (stale, live, not a socket, removal on
 * close), and interop with nngcat (nng 1.5.2) and nanocat (nanomsg 1.1.5)
 * in both directions. Every socket file lives in a fresh temporary directory.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SPError,
  protocols,
  type ProtocolInfo,
  type TransportListener,
  type TransportOptions,
  type TransportPipe,
} from "@spwire/core";
import { ipcTransport } from "../src/transport/ipc.js";
import { encodeFramePrefix, encodeHandshake } from "../src/transport/framing.js";
import { startPeer, until, type Peer } from "../../../test-support/peers.js";
import { codeOf, hex, startPipe, text } from "../../../test-support/pipes.js";

const ipc = ipcTransport();
const req = protocols.req!;
const rep = protocols.rep!;

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const dir = mkdtempSync(join(tmpdir(), "spwire-ipc-"));
cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** A fresh socket path in the temporary directory. */
const sockPath = (): string => join(dir, `s${n++}.ipc`);

const sp = (id: number): Buffer => Buffer.from(encodeHandshake(id));
const frame = (payload: Uint8Array): Buffer => Buffer.concat([Buffer.from(encodeFramePrefix(payload.length, true)), payload]);

function options(protocol: ProtocolInfo, extra: Partial<TransportOptions> = {}): TransportOptions {
  return { protocol, recvMaxSize: 1024, handshakeTimeout: 2000, ...extra };
}




async function listenOn(
  protocol: ProtocolInfo,
  url: string,
  extra: Partial<TransportOptions> = {},
): Promise<{ l: TransportListener; pipes: TransportPipe[]; refused: SPError[] }> {
  const pipes: TransportPipe[] = [];
  const refused: SPError[] = [];
  const l = await ipc.listen!(new URL(url), options(protocol, extra), (p) => pipes.push(p), (err) => refused.push(err));
  cleanups.push(() => l.close());
  return { l, pipes, refused };
}

async function tryDial(url: string, opts: TransportOptions): Promise<TransportPipe | unknown> {
  try {
    const p = await ipc.dial(new URL(url), opts);
    cleanups.push(() => p.close());
    return p;
  } catch (err) {
    return err;
  }
}

async function tryListen(url: string): Promise<unknown> {
  try {
    const l = await ipc.listen!(new URL(url), options(rep), () => undefined, () => undefined);
    cleanups.push(() => l.close());
    return l;
  } catch (err) {
    return err;
  }
}

/** A raw Unix-socket client that records everything it reads. */
interface Raw {
  socket: Socket;
  data(): Buffer;
  closed: Promise<unknown>;
}

async function rawConnect(path: string): Promise<Raw> {
  const socket = connect({ path });
  const chunks: Buffer[] = [];
  socket.on("data", (b: Buffer) => chunks.push(b));
  socket.on("error", (err) => chunks.push(Buffer.from(`<error ${String((err as NodeJS.ErrnoException).code)}>`)));
  cleanups.push(() => socket.destroy());
  const closed = new Promise((r) => socket.once("close", r));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, data: () => Buffer.concat(chunks), closed };
}

/** Leave a stale socket file at `path`: a child process binds it and is killed before it can remove it. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, [
    "-e",
    `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`,
  ]);
  await new Promise((r) => child.once("exit", r));
  assert.ok(lstatSync(path).isSocket(), "the killed child left its socket file behind");
}

// --- URLs ---

test("ipc:///abs/path: a listener and a dialer exchange a message both ways; both ends are named by the URL", async () => {
  const url = `ipc://${sockPath()}`;
  const { l, pipes } = await listenOn(rep, url);
  assert.equal(l.url, url);
  const d = (await tryDial(url, options(req))) as TransportPipe;
  assert.equal(d.localAddress, url);
  assert.equal(d.remoteAddress, url);
  await until(() => pipes.length === 1, "accepted pipe");
  const ds = startPipe(d, cleanups);
  const ls = startPipe(pipes[0]!, cleanups);
  d.write([Uint8Array.of(0x80, 0, 0, 0x11), text("hello")]);
  await until(() => ls.messages.length === 1, "request");
  assert.equal(ls.messages[0], "80000011" + hex(text("hello")));
  pipes[0]!.write([Uint8Array.of(0x80, 0, 0, 0x11), text("pong")]);
  await until(() => ds.messages.length === 1, "reply");
  assert.equal(ds.messages[0], "80000011" + hex(text("pong")));
});

test("ipc://relative/path is a path relative to the working directory", async () => {
  const sub = mkdtempSync(join(dir, "rel-"));
  const before = process.cwd();
  process.chdir(sub);
  try {
    const { l, pipes } = await listenOn(rep, "ipc://rel.ipc");
    assert.equal(l.url, "ipc://rel.ipc");
    assert.ok(lstatSync(join(sub, "rel.ipc")).isSocket(), "socket file in the working directory");
    const d = (await tryDial(`ipc://${join(sub, "rel.ipc")}`, options(req))) as TransportPipe;
    assert.ok(!(d instanceof Error), String(d));
    await until(() => pipes.length === 1, "accepted pipe");
    await l.close();
    assert.equal(existsSync(join(sub, "rel.ipc")), false);
  } finally {
    process.chdir(before);
  }
});

test("percent-escapes in an ipc URL are decoded into the file name", async () => {
  const url = `ipc://${join(dir, "with%20space.ipc")}`;
  const { l } = await listenOn(rep, url);
  assert.ok(lstatSync(join(dir, "with space.ipc")).isSocket());
  await l.close();
});

test("ipc URLs without a file path, with a query, or with a path too long for a socket are EINVAL", async () => {
  const long = `ipc://${join(dir, "x".repeat(120))}`;
  for (const u of ["ipc://", "ipc:///", `ipc://${dir}/`, `ipc://${sockPath()}?x=1`, long]) {
    assert.equal(codeOf(await tryListen(u)), "EINVAL", `listen ${u}`);
    assert.equal(codeOf(await tryDial(u, options(req))), "EINVAL", `dial ${u}`);
  }
  assert.match(((await tryListen(long)) as Error).message, /at most 10[37]/);
});

// --- wire bytes ---

test("the listener sends the SP header at once, then frames each message as 01 + u64 BE length + payload", async () => {
  const path = sockPath();
  const { pipes } = await listenOn(rep, `ipc://${path}`);
  const raw = await rawConnect(path);
  await until(() => raw.data().length >= 8, "the listener's SP header");
  assert.equal(hex(raw.data()), "0053500000310000");
  raw.socket.write(Buffer.concat([sp(req.id), frame(Buffer.from("8000001168656c6c6f", "hex"))]));
  await until(() => pipes.length === 1, "accepted pipe");
  const seen = startPipe(pipes[0]!, cleanups);
  await until(() => seen.messages.length === 1, "request");
  assert.equal(seen.messages[0], "8000001168656c6c6f");
  pipes[0]!.write([Uint8Array.of(0x80, 0, 0, 0x11), text("pong")]);
  await until(() => raw.data().length >= 8 + 17, "reply frame");
  assert.equal(hex(raw.data().subarray(8)), "01" + "0000000000000008" + "80000011" + hex(text("pong")));
});

test("a peer sending message type 02 is closed with EPROTO; messages before it are delivered", async () => {
  const path = sockPath();
  const { pipes } = await listenOn(rep, `ipc://${path}`);
  const raw = await rawConnect(path);
  raw.socket.write(Buffer.concat([sp(req.id), frame(text("ok")), Buffer.from("020000000000000002", "hex"), Buffer.from("no")]));
  await until(() => pipes.length === 1, "accepted pipe");
  const seen = startPipe(pipes[0]!, cleanups);
  await until(() => seen.closed !== undefined, "pipe closed");
  assert.deepEqual(seen.messages, [hex(text("ok"))]);
  assert.equal(seen.closed!.err?.code, "EPROTO");
  assert.match(seen.closed!.err!.message, /message type 0x02/);
  await raw.closed;
});

test("a peer framing like tcp:// (no type byte) is closed with EPROTO", async () => {
  const path = sockPath();
  const { pipes } = await listenOn(rep, `ipc://${path}`);
  const raw = await rawConnect(path);
  raw.socket.write(Buffer.concat([sp(req.id), Buffer.from(encodeFramePrefix(2)), Buffer.from("hi")]));
  await until(() => pipes.length === 1, "accepted pipe");
  const seen = startPipe(pipes[0]!, cleanups);
  await until(() => seen.closed !== undefined, "pipe closed");
  assert.equal(seen.closed!.err?.code, "EPROTO");
  assert.deepEqual(seen.messages, []);
  await raw.closed;
});

test("a peer with the wrong protocol is refused with EPEER on both sides", async () => {
  const path = sockPath();
  const { refused, pipes } = await listenOn(rep, `ipc://${path}`);
  assert.equal(codeOf(await tryDial(`ipc://${path}`, options(protocols.pub!))), "EPEER");
  await until(() => refused.length === 1, "refusal");
  assert.equal(refused[0]!.code, "EPEER");
  assert.equal(pipes.length, 0);
});

// --- socket files ---

test("listen removes a stale socket file (nobody accepts on it) and binds", async () => {
  const path = sockPath();
  await staleSocket(path);
  const { pipes } = await listenOn(rep, `ipc://${path}`);
  assert.ok(!((await tryDial(`ipc://${path}`, options(req))) instanceof Error));
  await until(() => pipes.length === 1, "accepted pipe");
});

test("listen where a listener is accepting is EADDRINUSE, and that listener keeps working", async () => {
  const path = sockPath();
  const first = await listenOn(rep, `ipc://${path}`);
  const second = await tryListen(`ipc://${path}`);
  assert.equal(codeOf(second), "EADDRINUSE");
  assert.match((second as Error).message, /another listener/);
  assert.ok(!((await tryDial(`ipc://${path}`, options(req))) instanceof Error));
  // The probe that found the first listener counted as one connection there; the dial makes the pipe.
  await until(() => first.pipes.length === 1, "pipe on the first listener");
});

test("listen on a path that is not a socket is EADDRINUSE and the file is left untouched", async () => {
  const path = join(dir, "regular.ipc");
  writeFileSync(path, "precious");
  const err = await tryListen(`ipc://${path}`);
  assert.equal(codeOf(err), "EADDRINUSE");
  assert.match((err as Error).message, /is not a socket/);
  assert.equal(readFileSync(path, "utf8"), "precious");
});

test("closing the listener removes its socket file, and the path can be listened on again", async () => {
  const path = sockPath();
  const { l } = await listenOn(rep, `ipc://${path}`);
  assert.ok(lstatSync(path).isSocket());
  await l.close();
  assert.equal(existsSync(path), false);
  const again = await listenOn(rep, `ipc://${path}`);
  assert.equal(again.l.url, `ipc://${path}`);
});

test("dialing a missing path or a stale socket is ECONNREFUSED", async () => {
  assert.equal(codeOf(await tryDial(`ipc://${sockPath()}`, options(req))), "ECONNREFUSED");
  const stale = sockPath();
  await staleSocket(stale);
  assert.equal(codeOf(await tryDial(`ipc://${stale}`, options(req))), "ECONNREFUSED");
});

test("a silent peer is refused with ETIMEDOUT at the handshake deadline", async () => {
  const path = sockPath();
  const { refused } = await listenOn(rep, `ipc://${path}`, { handshakeTimeout: 200 });
  const raw = await rawConnect(path);
  await until(() => refused.length === 1, "refusal");
  assert.equal(refused[0]!.code, "ETIMEDOUT");
  await raw.closed;
});

// --- interop: nngcat (nng 1.5.2) and nanocat (nanomsg 1.1.5) ---

const peers: Peer[] = [];
after(() => {
  for (const p of peers) p.kill();
});
function peer(cmd: "nngcat" | "nanocat", args: string[], cwd?: string): Peer {
  const p = startPeer(cmd, args, { cwd });
  peers.push(p);
  return p;
}

/**
 * Resolve once a socket at `path` is listening (polls /proc/net/unix,
 * bounded). It never connects: nng 1.5.2's ipc listener stops answering
 * requests when its very first client vanishes before nng wrote its SP
 * header, so a probe must not be that client (see the EADDRINUSE test).
 */
async function waitForListening(path: string, boundAs = path): Promise<void> {
  for (let i = 0; i < 200; i++) {
    // Columns: Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 (__SO_ACCEPTCON) marks a listener.
    const listening = readFileSync("/proc/net/unix", "utf8")
      .split("\n")
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return f[7] === boundAs && (parseInt(f[3] ?? "0", 16) & 0x10000) !== 0;
      });
    if (listening) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${path}`);
}

async function requestReply(url: string): Promise<string> {
  const pipe = (await tryDial(url, options(req))) as TransportPipe;
  assert.ok(!(pipe instanceof Error), String(pipe));
  const seen = startPipe(pipe, cleanups);
  pipe.write([Uint8Array.of(0x80, 0, 0, 0x2a), text("hello")]);
  await until(() => seen.messages.length === 1, "reply");
  pipe.close();
  return seen.messages[0]!;
}

/** Our REP listener answers the first request with "pong" and returns the request it saw. */
async function answerOnce(pipes: TransportPipe[]): Promise<Buffer> {
  await until(() => pipes.length >= 1, "peer connected");
  const pipe = pipes[pipes.length - 1]!;
  const seen = startPipe(pipe, cleanups);
  await until(() => seen.messages.length === 1, "peer's request");
  const request = Buffer.from(seen.messages[0]!, "hex");
  pipe.write([request.subarray(0, 4), text("pong")]);
  return request;
}

test("nngcat --rep0 --listen ipc:///abs answers our REQ dial: 80 00 00 2a pong", async () => {
  const path = sockPath();
  peer("nngcat", ["--rep0", "--listen", `ipc://${path}`, "--data", "pong"]);
  await waitForListening(path);
  assert.equal(await requestReply(`ipc://${path}`), "8000002a" + hex(text("pong")));
});

test("nngcat --rep0 --listen ipc://relative (in its working directory) answers our dial to the same file", async () => {
  const cwd = mkdtempSync(join(dir, "nng-"));
  peer("nngcat", ["--rep0", "--listen", "ipc://rel.ipc", "--data", "pong"], cwd);
  // The kernel shows the path as nngcat bound it: relative.
  await waitForListening(join(cwd, "rel.ipc"), "rel.ipc");
  assert.equal(await requestReply(`ipc://${join(cwd, "rel.ipc")}`), "8000002a" + hex(text("pong")));
});

test("nngcat --req0 dials our REP listener over ipc and prints our reply", async () => {
  const path = sockPath();
  const { pipes } = await listenOn(rep, `ipc://${path}`);
  const p = peer("nngcat", ["--req0", "--dial", `ipc://${path}`, "--data", "hello", "--ascii"]);
  const request = await answerOnce(pipes);
  assert.equal(request.length, 4 + 5);
  assert.ok((request[0]! & 0x80) !== 0, "request id has its top bit set");
  assert.equal(request.subarray(4).toString(), "hello");
  assert.equal(await p.exited, 0);
  assert.equal(p.stdout().toString().trim(), "pong");
});

test("nanocat --rep --bind ipc:// answers our REQ dial with the same bytes as nng", async () => {
  const path = sockPath();
  peer("nanocat", ["--rep", "--bind", `ipc://${path}`, "--data", "pong"]);
  await waitForListening(path);
  assert.equal(await requestReply(`ipc://${path}`), "8000002a" + hex(text("pong")));
});

test("nanocat --req --connect ipc:// to our REP listener prints our reply", async () => {
  const path = sockPath();
  const { pipes } = await listenOn(rep, `ipc://${path}`);
  const p = peer("nanocat", ["--req", "--connect", `ipc://${path}`, "--data", "hello", "--ascii"]);
  const request = await answerOnce(pipes);
  assert.equal(request.subarray(4).toString(), "hello");
  await until(() => p.stdout().toString().includes("pong"), "nanocat prints the reply");
  assert.equal(p.stdout().toString().trim(), "pong");
});

test("a socket file left by a killed nngcat listener is stale: we remove it and listen", async () => {
  const path = sockPath();
  const p = peer("nngcat", ["--rep0", "--listen", `ipc://${path}`, "--data", "pong"]);
  await waitForListening(path);
  p.kill();
  await p.exited;
  assert.ok(lstatSync(path).isSocket(), "nngcat killed with SIGKILL leaves its socket file");
  const { pipes } = await listenOn(rep, `ipc://${path}`);
  const q = peer("nngcat", ["--req0", "--dial", `ipc://${path}`, "--data", "hello", "--ascii"]);
  await answerOnce(pipes);
  assert.equal(await q.exited, 0);
  assert.equal(q.stdout().toString().trim(), "pong");
});

test("listening where nngcat listens is EADDRINUSE, and our probe leaves nngcat serving", async () => {
  // Our stale-socket probe is nngcat's first client here. nng 1.5.2 answers no
  // request ever again if its first ipc client vanishes before nng wrote its
  // SP header; the probe half-closes and waits, so the reply below still comes.
  const path = sockPath();
  peer("nngcat", ["--rep0", "--listen", `ipc://${path}`, "--data", "pong"]);
  await waitForListening(path);
  const err = await tryListen(`ipc://${path}`);
  assert.equal(codeOf(err), "EADDRINUSE");
  assert.match((err as Error).message, /another listener/);
  assert.ok(lstatSync(path).isSocket(), "nngcat's socket file is still there");
  assert.equal(await requestReply(`ipc://${path}`), "8000002a" + hex(text("pong")));
});
