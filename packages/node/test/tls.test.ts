/**
 * tls+tcp:// and wss:// (sp-wire.md 2.1, 3, 8 V6): certificate verification
 * on by default, `ca`, `insecure`, `servername`, option checks, TLS failures
 * as ECRYPTO, one deadline over TLS and the SP handshake (or the upgrade),
 * and interop with nngcat (nng 1.5.2, mbedTLS) in both directions.
 *
 * Certificates are made at test time (test-support/certs.ts): a CA and a
 * server certificate it signed for 127.0.0.1, and a self-signed one.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import {
  SPError,
  protocols,
  type ProtocolInfo,
  type Transport,
  type TransportListener,
  type TransportOptions,
  type TransportPipe,
} from "@spwire/core";
import { tlsTransport } from "../src/transport/tls.js";
import { tcpTransport } from "../src/transport/tcp.js";
import { nodeWsTransport } from "../src/transport/ws.js";
import { freePort, startPeer, until, waitForPort, type Peer } from "../../../test-support/peers.js";
import { createTestCerts } from "../../../test-support/certs.js";
import { codeOf, hex, startPipe, text } from "../../../test-support/pipes.js";

const tls = tlsTransport();
const wss = nodeWsTransport();
const req = protocols.req!;
const rep = protocols.rep!;

const certs = createTestCerts();
const server = { cert: certs.server.cert, key: certs.server.key };
const selfSigned = { cert: certs.selfSigned.cert, key: certs.selfSigned.key };
const trustCa = { ca: certs.ca.cert };

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  certs.remove();
});


function options(protocol: ProtocolInfo, extra: Record<string, unknown> = {}): TransportOptions {
  return { protocol, recvMaxSize: 0, handshakeTimeout: 5000, ...extra };
}




interface OurListener {
  l: TransportListener;
  pipes: TransportPipe[];
  refused: SPError[];
}

async function listenOn(t: Transport, url: string, protocol: ProtocolInfo, extra: Record<string, unknown>): Promise<OurListener> {
  const pipes: TransportPipe[] = [];
  const refused: SPError[] = [];
  const l = await t.listen!(new URL(url), options(protocol, extra), (p) => pipes.push(p), (err) => refused.push(err));
  cleanups.push(() => l.close());
  return { l, pipes, refused };
}

async function tryDial(t: Transport, url: string, opts: TransportOptions): Promise<TransportPipe | unknown> {
  try {
    const p = await t.dial(new URL(url), opts);
    cleanups.push(() => p.close());
    return p;
  } catch (err) {
    return err;
  }
}

async function tryListen(t: Transport, url: string, extra: Record<string, unknown>): Promise<unknown> {
  try {
    const l = await t.listen!(new URL(url), options(rep, extra), () => undefined, () => undefined);
    cleanups.push(() => l.close());
    return l;
  } catch (err) {
    return err;
  }
}

/** Dial `url` as REQ, send one request, and return the reply's hex. */
async function requestReply(t: Transport, url: string, extra: Record<string, unknown>): Promise<string> {
  const pipe = await tryDial(t, url, options(req, extra));
  assert.ok(!(pipe instanceof Error), `dial failed: ${String(pipe)}`);
  const seen = startPipe(pipe as TransportPipe, cleanups);
  (pipe as TransportPipe).write([Uint8Array.of(0x80, 0, 0, 0x2a), text("hello")]);
  await until(() => seen.messages.length === 1, "reply");
  return seen.messages[0]!;
}

/** Our REP listener answers the first request on its newest pipe with "pong"; returns the request. */
async function answerOnce(L: OurListener): Promise<Buffer> {
  await until(() => L.pipes.length >= 1, "peer connected");
  const pipe = L.pipes[L.pipes.length - 1]!;
  const seen = startPipe(pipe, cleanups);
  await until(() => seen.messages.length === 1, "peer's request");
  const request = Buffer.from(seen.messages[0]!, "hex");
  pipe.write([request.subarray(0, 4), text("pong")]);
  return request;
}

// ---------------------------------------------------------------- tls+tcp: verification

test("tls+tcp: a dialer given the CA verifies the listener and messages flow both ways; addresses say tls+tcp://", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  assert.match(L.l.url, /^tls\+tcp:\/\/127\.0\.0\.1:\d+$/);
  const d = (await tryDial(tls, L.l.url, options(req, trustCa))) as TransportPipe;
  assert.ok(!(d instanceof Error), String(d));
  assert.equal(d.remoteAddress, L.l.url);
  assert.match(d.localAddress, /^tls\+tcp:\/\/127\.0\.0\.1:\d+$/);
  await until(() => L.pipes.length === 1, "accepted pipe");
  assert.match(L.pipes[0]!.remoteAddress, /^tls\+tcp:\/\/127\.0\.0\.1:\d+$/);
  const ds = startPipe(d, cleanups);
  const ls = startPipe(L.pipes[0]!, cleanups);
  d.write([Uint8Array.of(0x80, 0, 0, 1), text("hello")]);
  await until(() => ls.messages.length === 1, "request");
  assert.equal(ls.messages[0], "80000001" + hex(text("hello")));
  L.pipes[0]!.write([Uint8Array.of(0x80, 0, 0, 1), text("pong")]);
  await until(() => ds.messages.length === 1, "reply");
  assert.equal(ds.messages[0], "80000001" + hex(text("pong")));
});

test("tls+tcp: verification is on by default: a self-signed listener fails the dial with ECRYPTO 'self-signed certificate'", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, selfSigned);
  const err = await tryDial(tls, L.l.url, options(req));
  assert.equal(codeOf(err), "ECRYPTO");
  assert.match((err as Error).message, /self-signed certificate/);
  assert.equal(L.pipes.length, 0);
});

test("tls+tcp: a listener signed by a CA the dialer does not trust fails with ECRYPTO 'unable to verify'", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  const err = await tryDial(tls, L.l.url, options(req));
  assert.equal(codeOf(err), "ECRYPTO");
  assert.match((err as Error).message, /unable to verify the first certificate/);
});

test("tls+tcp: the wrong CA is no better than none: ECRYPTO", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  assert.equal(codeOf(await tryDial(tls, L.l.url, options(req, { ca: certs.selfSigned.cert }))), "ECRYPTO");
});

test("tls+tcp: insecure: true dials a self-signed listener", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, selfSigned);
  const d = await tryDial(tls, L.l.url, options(req, { insecure: true }));
  assert.ok(!(d instanceof Error), String(d));
  await until(() => L.pipes.length === 1, "accepted pipe");
});

test("tls+tcp: servername replaces the URL host in the name check", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  const wrong = await tryDial(tls, L.l.url, options(req, { ...trustCa, servername: "example.com" }));
  assert.equal(codeOf(wrong), "ECRYPTO");
  assert.match((wrong as Error).message, /example\.com/);
  assert.ok(!((await tryDial(tls, L.l.url, options(req, { ...trustCa, servername: "localhost" }))) instanceof Error));
});

test("tls+tcp: a wrong peer protocol inside TLS is refused with EPEER", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  assert.equal(codeOf(await tryDial(tls, L.l.url, options(protocols.pub!, trustCa))), "EPEER");
  await until(() => L.refused.length === 1, "refusal");
  assert.equal(L.refused[0]!.code, "EPEER");
});

// ---------------------------------------------------------------- tls+tcp: options

test("tls+tcp: listen without cert and key, or with ca or servername, is EINVAL naming the option", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /needs cert and key/],
    [{ cert: server.cert }, /needs cert and key/],
    [{ ...server, ca: certs.ca.cert }, /ca is a dial option/],
    [{ ...server, servername: "x" }, /servername is a dial option/],
    [{ cert: 42, key: server.key }, /cert must be a PEM/],
  ];
  for (const [extra, why] of cases) {
    const err = await tryListen(tls, "tls+tcp://127.0.0.1:0", extra);
    assert.equal(codeOf(err), "EINVAL", JSON.stringify(Object.keys(extra)));
    assert.match((err as Error).message, why);
  }
});

test("tls+tcp: a key that is not PEM is EINVAL at listen, not at the first connection", async () => {
  const err = await tryListen(tls, "tls+tcp://127.0.0.1:0", { cert: server.cert, key: "not a key" });
  assert.equal(codeOf(err), "EINVAL");
  assert.match((err as Error).message, /not usable/);
});

test("tls+tcp: dial options are checked: cert without key, insecure not a boolean, bad ca are EINVAL", async () => {
  for (const extra of [{ cert: server.cert }, { insecure: "yes" }, { ca: 7 }, { ca: "not a certificate" }, { servername: "" }]) {
    assert.equal(codeOf(await tryDial(tls, "tls+tcp://127.0.0.1:1", options(req, extra))), "EINVAL", JSON.stringify(extra));
  }
});

test("tls+tcp: URLs are tcp URLs: a path or a missing port is EINVAL; tls+tcp4 and tls+tcp6 are served", async () => {
  for (const u of ["tls+tcp://127.0.0.1:5555/p", "tls+tcp://127.0.0.1"]) {
    assert.equal(codeOf(await tryDial(tls, u, options(req, trustCa))), "EINVAL", u);
  }
  assert.deepEqual(tls.schemes, ["tls+tcp", "tls+tcp4", "tls+tcp6"]);
  const L = await listenOn(tls, "tls+tcp4://127.0.0.1:0", rep, server);
  assert.match(L.l.url, /^tls\+tcp4:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(!((await tryDial(tls, L.l.url, options(req, trustCa))) instanceof Error));
});

// ---------------------------------------------------------------- tls+tcp: plain peers and deadlines

test("tls+tcp: a plain tcp:// SP peer dialing our TLS listener is refused with ECRYPTO", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  const port = new URL(L.l.url).port;
  const plain = await tryDial(tcpTransport(), `tcp://127.0.0.1:${port}`, options(req, { handshakeTimeout: 2000 }));
  assert.ok(plain instanceof SPError, "the plain dial fails too");
  await until(() => L.refused.length === 1, "refusal");
  assert.equal(L.refused[0]!.code, "ECRYPTO");
  assert.equal(L.pipes.length, 0);
});

test("tls+tcp: our TLS dialer against a plain tcp:// listener fails with ECRYPTO", async () => {
  const pipes: TransportPipe[] = [];
  const l = await tcpTransport().listen!(new URL("tcp://127.0.0.1:0"), options(rep), (p) => pipes.push(p), () => undefined);
  cleanups.push(() => l.close());
  const err = await tryDial(tls, l.url.replace("tcp://", "tls+tcp://"), options(req, trustCa));
  assert.equal(codeOf(err), "ECRYPTO");
  assert.equal(pipes.length, 0);
});

test("tls+tcp: the listener's deadline covers TLS: a TCP client that never starts TLS is refused with ETIMEDOUT", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, { ...server, handshakeTimeout: 200 });
  const raw: Socket = connect(Number(new URL(L.l.url).port), "127.0.0.1");
  const closed = new Promise((r) => raw.once("close", r));
  raw.on("error", () => raw.destroy());
  cleanups.push(() => raw.destroy());
  await until(() => L.refused.length === 1, "refusal");
  assert.equal(L.refused[0]!.code, "ETIMEDOUT");
  await closed;
});

test("tls+tcp: the dial deadline covers TLS: a server that accepts TCP and stays silent fails with ETIMEDOUT", async () => {
  // Reads (and drops) what comes, so it sees our hang-up and can close.
  const silent = createServer((s) => s.on("error", () => s.destroy()).resume());
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => silent.close(r)));
  const port = (silent.address() as { port: number }).port;
  const err = await tryDial(tls, `tls+tcp://127.0.0.1:${port}`, options(req, { ...trustCa, handshakeTimeout: 200 }));
  assert.equal(codeOf(err), "ETIMEDOUT");
  assert.match((err as Error).message, /TLS connect did not finish within 200 ms/);
});

// ---------------------------------------------------------------- wss

test("wss: listen needs cert and key (EINVAL); with them a dialer given the CA verifies it and messages flow", async () => {
  assert.equal(codeOf(await tryListen(wss, "wss://127.0.0.1:0/sp", {})), "EINVAL");
  const L = await listenOn(wss, "wss://127.0.0.1:0/sp", rep, server);
  assert.match(L.l.url, /^wss:\/\/127\.0\.0\.1:\d+\/sp$/);
  const d = (await tryDial(wss, L.l.url, options(req, trustCa))) as TransportPipe;
  assert.ok(!(d instanceof Error), String(d));
  await until(() => L.pipes.length === 1, "accepted pipe");
  assert.match(L.pipes[0]!.remoteAddress, /^wss:\/\/127\.0\.0\.1:\d+$/);
  const ds = startPipe(d, cleanups);
  const ls = startPipe(L.pipes[0]!, cleanups);
  d.write([Uint8Array.of(0x80, 0, 0, 2), text("hello")]);
  await until(() => ls.messages.length === 1, "request");
  L.pipes[0]!.write([Uint8Array.of(0x80, 0, 0, 2), text("pong")]);
  await until(() => ds.messages.length === 1, "reply");
  assert.equal(ds.messages[0], "80000002" + hex(text("pong")));
});

test("wss: verification is on by default (self-signed: ECRYPTO); insecure: true connects", async () => {
  const L = await listenOn(wss, "wss://127.0.0.1:0/sp", rep, selfSigned);
  const err = await tryDial(wss, L.l.url, options(req));
  assert.equal(codeOf(err), "ECRYPTO");
  assert.match((err as Error).message, /self-signed certificate/);
  assert.ok(!((await tryDial(wss, L.l.url, options(req, { insecure: true }))) instanceof Error));
});

test("wss: servername replaces the URL host in the name check", async () => {
  const L = await listenOn(wss, "wss://127.0.0.1:0/sp", rep, server);
  assert.equal(codeOf(await tryDial(wss, L.l.url, options(req, { ...trustCa, servername: "example.com" }))), "ECRYPTO");
  assert.ok(!((await tryDial(wss, L.l.url, options(req, { ...trustCa, servername: "localhost" }))) instanceof Error));
});

test("wss: bad dial options are EINVAL before any connection", async () => {
  assert.equal(codeOf(await tryDial(wss, "wss://127.0.0.1:1/sp", options(req, { insecure: 1 }))), "EINVAL");
});

test("wss: a plain ws:// client to our wss listener is refused with ECRYPTO", async () => {
  const L = await listenOn(wss, "wss://127.0.0.1:0/sp", rep, server);
  const err = await tryDial(wss, L.l.url.replace("wss://", "ws://"), options(req));
  assert.ok(err instanceof SPError, "the plain dial fails");
  await until(() => L.refused.length === 1, "refusal");
  assert.equal(L.refused[0]!.code, "ECRYPTO");
});

test("wss: the upgrade deadline starts at accept and covers TLS: a silent TCP client is refused with ETIMEDOUT", async () => {
  const L = await listenOn(wss, "wss://127.0.0.1:0/sp", rep, { ...server, handshakeTimeout: 200 });
  const raw: Socket = connect(Number(new URL(L.l.url).port), "127.0.0.1");
  const closed = new Promise((r) => raw.once("close", r));
  raw.on("error", () => raw.destroy());
  cleanups.push(() => raw.destroy());
  await until(() => L.refused.length === 1, "refusal");
  assert.equal(L.refused[0]!.code, "ETIMEDOUT");
  await closed;
});

test("wss: listeners sharing a port share its certificate; another certificate is EINVAL; ws and wss do not share", async () => {
  const A = await listenOn(wss, "wss://127.0.0.1:0/a", rep, server);
  const port = new URL(A.l.url).port;
  const B = await listenOn(wss, `wss://127.0.0.1:${port}/b`, rep, server);
  assert.equal(new URL(B.l.url).port, port);
  const other = await tryListen(wss, `wss://127.0.0.1:${port}/c`, selfSigned);
  assert.equal(codeOf(other), "EINVAL");
  assert.match((other as Error).message, /another certificate/);
  assert.equal(codeOf(await tryListen(wss, `ws://127.0.0.1:${port}/d`, {})), "EADDRINUSE");
  assert.ok(!((await tryDial(wss, `wss://127.0.0.1:${port}/b`, options(req, trustCa))) instanceof Error));
});

// ---------------------------------------------------------------- interop with nngcat (nng 1.5.2, mbedTLS)

const peers: Peer[] = [];
after(() => {
  for (const p of peers) p.kill();
});
function nngcat(args: string[]): Peer {
  const p = startPeer("nngcat", args);
  peers.push(p);
  return p;
}

test("nngcat --rep0 --listen tls+tcp with a CA-signed cert answers our REQ dial that trusts the CA", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `tls+tcp://127.0.0.1:${port}`, "--cert", certs.server.certPath, "--key", certs.server.keyPath, "--data", "pong"]);
  await waitForPort(port);
  assert.equal(await requestReply(tls, `tls+tcp://127.0.0.1:${port}`, trustCa), "8000002a" + hex(text("pong")));
});

test("nngcat tls+tcp listener with a self-signed cert: our default dial fails ECRYPTO, insecure: true gets the reply", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `tls+tcp://127.0.0.1:${port}`, "--cert", certs.selfSigned.certPath, "--key", certs.selfSigned.keyPath, "--data", "pong"]);
  await waitForPort(port);
  const err = await tryDial(tls, `tls+tcp://127.0.0.1:${port}`, options(req));
  assert.equal(codeOf(err), "ECRYPTO");
  assert.match((err as Error).message, /self-signed certificate/);
  assert.equal(await requestReply(tls, `tls+tcp://127.0.0.1:${port}`, { insecure: true }), "8000002a" + hex(text("pong")));
});

test("nngcat --req0 --dial tls+tcp --cacert verifies our listener and prints our reply", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  const p = nngcat(["--req0", "--dial", L.l.url, "--cacert", certs.ca.certPath, "--data", "hello", "--ascii"]);
  const request = await answerOnce(L);
  assert.equal(request.subarray(4).toString(), "hello");
  assert.ok((request[0]! & 0x80) !== 0, "request id has its top bit set");
  assert.equal(await p.exited, 0);
  assert.equal(p.stdout().toString().trim(), "pong");
});

test("nngcat --req0 --dial tls+tcp without --cacert refuses our certificate; our listener reports ECRYPTO", async () => {
  const L = await listenOn(tls, "tls+tcp://127.0.0.1:0", rep, server);
  const p = nngcat(["--req0", "--dial", L.l.url, "--data", "hello"]);
  await until(() => L.refused.length >= 1, "refusal");
  assert.equal(L.refused[0]!.code, "ECRYPTO");
  assert.equal(L.pipes.length, 0);
  assert.notEqual(await p.exited, 0);
  assert.match(p.stderr(), /Peer could not be authenticated/);
});

test("nngcat --rep0 --listen wss with a CA-signed cert answers our wss dial that trusts the CA", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `wss://127.0.0.1:${port}/sp`, "--cert", certs.server.certPath, "--key", certs.server.keyPath, "--data", "pong"]);
  await waitForPort(port);
  assert.equal(await requestReply(wss, `wss://127.0.0.1:${port}/sp`, trustCa), "8000002a" + hex(text("pong")));
  assert.equal(codeOf(await tryDial(wss, `wss://127.0.0.1:${port}/sp`, options(req))), "ECRYPTO");
});

test("nngcat --rep0 --listen wss with a self-signed cert answers our insecure wss dial (sp-wire.md V6)", async () => {
  const port = await freePort();
  nngcat(["--rep0", "--listen", `wss://127.0.0.1:${port}/tls`, "--cert", certs.selfSigned.certPath, "--key", certs.selfSigned.keyPath, "--data", "pong"]);
  await waitForPort(port);
  assert.equal(await requestReply(wss, `wss://127.0.0.1:${port}/tls`, { insecure: true }), "8000002a" + hex(text("pong")));
});

test("nngcat --req0 --dial wss --cacert verifies our wss listener and prints our reply", async () => {
  const L = await listenOn(wss, "wss://127.0.0.1:0/sp", rep, server);
  const p = nngcat(["--req0", "--dial", L.l.url, "--cacert", certs.ca.certPath, "--data", "hello", "--ascii"]);
  const request = await answerOnce(L);
  assert.equal(request.subarray(4).toString(), "hello");
  assert.equal(await p.exited, 0);
  assert.equal(p.stdout().toString().trim(), "pong");
});

test("nngcat --req0 --dial wss without --cacert refuses our certificate; our wss listener reports ECRYPTO", async () => {
  const L = await listenOn(wss, "wss://127.0.0.1:0/sp", rep, server);
  const p = nngcat(["--req0", "--dial", L.l.url, "--data", "hello"]);
  await until(() => L.refused.length >= 1, "refusal");
  assert.equal(L.refused[0]!.code, "ECRYPTO");
  assert.equal(L.pipes.length, 0);
  assert.notEqual(await p.exited, 0);
});
