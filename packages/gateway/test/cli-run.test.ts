/**
 * The README's one-liner, run for real: the spwire-gateway program (from the
 * sources, through tsx) in front of nngcat pub and rep upstreams. Its HTTP
 * endpoints before and after the upstreams exist, spwire sockets through it,
 * and SIGTERM: exit 0, browsers closed with 1001, stdout nothing but JSON
 * log lines.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Req, Sub, silentLogger } from "@spwire/node";
import { freePort, startPeer, until, waitForPort, type Peer } from "../../../test-support/peers.js";
import { rawClient, type RawClient } from "../../../test-support/gateway.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

async function untilAsync(cond: () => Promise<boolean>, what: string, tries = 400, every = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

test("spwire-gateway --listen --route --route: endpoints, Sub and Req through it, SIGTERM closes browsers with 1001 and exits 0", async () => {
  const [port, p1, p2] = await Promise.all([freePort(), freePort(), freePort()]);
  const peers: Peer[] = [];
  const raws: RawClient[] = [];
  const sub = new Sub({ logger: silentLogger, reconnectMinTime: 50, reconnectMaxTime: 300 });
  const req = new Req({ logger: silentLogger, reconnectMinTime: 50, reconnectMaxTime: 300 });
  let child: ChildProcess | undefined;
  try {
    // Started before its upstreams exist: it serves, but is not ready.
    const args = ["--listen", `ws://127.0.0.1:${port}`, "--route", `/feed=sub@tcp://127.0.0.1:${p1}`, "--route", `/rpc=req@tcp://127.0.0.1:${p2}`];
    const proc = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "packages/gateway/src/cli.ts", ...args], {
      cwd: root,
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SPWIRE_"))),
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let stdout = "";
    let stderr = "";
    proc.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    proc.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | string>((resolve) => proc.once("close", (code, signal) => resolve(code ?? signal ?? -1)));
    const lines = (): LogLine[] =>
      stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as LogLine);

    await until(() => stdout.includes('"gateway listening"') || proc.exitCode !== null, "the gateway to start", 800);
    assert.equal(proc.exitCode, null, stderr);
    const http = `http://127.0.0.1:${port}`;
    const listening = lines().find((l) => l.msg === "gateway listening")!;
    assert.equal(listening.url, `ws://127.0.0.1:${port}`);
    assert.equal(listening.name, "spwire-gateway");

    assert.equal((await fetch(`${http}/healthz`)).status, 200);
    const notReady = await fetch(`${http}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), {
      ready: false,
      draining: false,
      routes: [
        { path: "/feed", upstreamMode: "dial", pipes: 0, up: false },
        { path: "/rpc", upstreamMode: "dial", pipes: 0, up: false },
      ],
    });

    peers.push(startPeer("nngcat", ["--pub0", "--listen", `tcp://127.0.0.1:${p1}`, "--data", "cpu.a 1", "--interval", "1"]));
    peers.push(startPeer("nngcat", ["--rep0", "--listen", `tcp://127.0.0.1:${p2}`, "--data", "pong"]));
    await Promise.all([waitForPort(p1), waitForPort(p2)]);
    // The gateway redials with backoff (at most 5 s between tries).
    await untilAsync(async () => (await fetch(`${http}/readyz`)).status === 200, "/readyz 200 once both upstreams are connected", 400, 50);
    const ready = (await (await fetch(`${http}/readyz`)).json()) as { routes: { pipes: number; up: boolean }[] };
    assert.deepEqual(
      ready.routes.map((r) => [r.pipes, r.up]),
      [
        [1, true],
        [1, true],
      ],
    );

    const metrics = await fetch(`${http}/metrics`);
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    const samples = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    assert.ok(samples.length > 0);
    for (const l of samples) assert.match(l, /^spwire_gateway_/);
    assert.ok(samples.includes('spwire_gateway_upstream_up{route="/feed"} 1'), text);
    assert.ok(samples.includes('spwire_gateway_upstream_pipes{route="/rpc"} 1'), text);
    // The program collects the Node process metrics too.
    assert.ok(samples.some((l) => l.startsWith("spwire_gateway_process_")));

    const routes = (await (await fetch(`${http}/routes`)).json()) as { routes: { path: string; protocol: string; subprotocol: string }[] };
    assert.deepEqual(
      routes.routes.map((r) => [r.path, r.protocol, r.subprotocol]),
      [
        ["/feed", "sub", "pub.sp.nanomsg.org"],
        ["/rpc", "req", "rep.sp.nanomsg.org"],
      ],
    );

    // spwire sockets through it.
    sub.subscribe("cpu.");
    await sub.dial(`ws://127.0.0.1:${port}/feed`, { gateway: true });
    await req.dial(`ws://127.0.0.1:${port}/rpc`);
    assert.equal((await req.request("ping", { timeout: 5000 })).text(), "pong");
    // nngcat publishes once a second.
    assert.equal((await sub.recv({ timeout: 5000 })).text(), "cpu.a 1");

    // SIGTERM: a raw browser gets 1001, the program exits 0.
    const raw = rawClient(`ws://127.0.0.1:${port}/feed`, "pub.sp.nanomsg.org");
    raws.push(raw);
    await raw.opened;
    await until(() => stdout.split('"browser connected"').length - 1 === 3, "the gateway logs the third browser");
    proc.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
    assert.deepEqual(await raw.closed, { code: 1001, reason: "gateway shutting down" });
    assert.equal(stderr, "");

    // stdout is JSON lines only (pino), including the start and the shutdown.
    const all = lines();
    assert.ok(all.length >= 4);
    for (const l of all) {
      assert.equal(typeof l.level, "number");
      assert.equal(typeof l.msg, "string");
      assert.equal(l.name, "spwire-gateway");
    }
    const msgs = all.map((l) => l.msg);
    for (const m of ["gateway listening", "shutting down", "gateway closed"]) assert.ok(msgs.includes(m), `${m} in ${msgs.join(" | ")}`);
    assert.ok(msgs.indexOf("gateway listening") < msgs.indexOf("shutting down"));
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const r of raws) r.ws.terminate();
    await Promise.all([sub.close(), req.close()]);
    for (const p of peers) p.kill();
  }
});
