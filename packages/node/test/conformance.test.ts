/**
 * Runs the transport conformance suite (./conformance/suite.ts) against
 * every transport spwire has: ws, wss, tcp, tls+tcp, ipc, and core's inproc.
 * Addresses are ephemeral: port 0 on 127.0.0.1, fresh socket files in a
 * temporary directory, fresh inproc names. TLS uses a CA made at test time.
 */
import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inprocTransport } from "@spwire/node";
import { tcpTransport } from "../src/transport/tcp.js";
import { nodeWsTransport } from "../src/transport/ws.js";
import { ipcTransport } from "../src/transport/ipc.js";
import { tlsTransport } from "../src/transport/tls.js";
import { createTestCerts } from "../../../test-support/certs.js";
import { conformance } from "./conformance/suite.js";

const certs = createTestCerts();
const dir = mkdtempSync(join(tmpdir(), "spwire-conf-"));
after(() => {
  certs.remove();
  rmSync(dir, { recursive: true, force: true });
});

const serve = { cert: certs.server.cert, key: certs.server.key };
const trust = { ca: certs.ca.cert };
let n = 0;

conformance({
  name: "tcp",
  make: () => tcpTransport(),
  listenUrl: () => "tcp://127.0.0.1:0",
  mismatchDialCodes: ["EPEER"],
});

conformance({
  name: "tls+tcp",
  make: () => tlsTransport(),
  listenUrl: () => "tls+tcp://127.0.0.1:0",
  listenOptions: serve,
  dialOptions: trust,
  mismatchDialCodes: ["EPEER"],
});

conformance({
  name: "ipc",
  make: () => ipcTransport(),
  listenUrl: () => `ipc://${join(dir, `c${n++}.ipc`)}`,
  mismatchDialCodes: ["EPEER"],
});

conformance({
  name: "ws",
  make: () => nodeWsTransport(),
  listenUrl: () => "ws://127.0.0.1:0/sp",
  // nng refuses a wrong subprotocol with HTTP 400 before upgrading (sp-wire.md 2.3); a dialer sees a refused connection.
  mismatchDialCodes: ["ECONNREFUSED"],
});

conformance({
  name: "wss",
  make: () => nodeWsTransport(),
  listenUrl: () => "wss://127.0.0.1:0/sp",
  listenOptions: serve,
  dialOptions: trust,
  mismatchDialCodes: ["ECONNREFUSED"],
});

conformance({
  name: "inproc",
  make: () => inprocTransport(),
  listenUrl: () => `inproc://conformance-${n++}`,
  mismatchDialCodes: ["EPEER"],
});
