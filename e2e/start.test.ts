/**
 * `npm start` end to end, without a browser: scripts/start.mjs runs as a user
 * runs it (a child process whose output is read, stopped with SIGINT), and is
 * checked from outside over HTTP and with spwire's Node sockets through the
 * gateway it started: the pages are served, `/feed` filters at the gateway,
 * `/rpc` reaches the sample Rep service, and Ctrl-C stops everything with
 * exit code 0 and frees the ports.
 *
 * The sample feed and service listen on tcp port 0 (`--feed`, `--rpc`), so a
 * developer's own `npm start` on 5555/5556 does not get in the way. The first
 * start builds the dashboard if examples/dashboard/dist is stale; later ones
 * find it built.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { Pub, Req, Sub } from "@spwire/node";
import { freePort, until } from "../test-support/peers.js";

const root = fileURLToPath(new URL("..", import.meta.url));

interface Started {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** http://127.0.0.1:<port>/ as printed on the "dashboard" line. */
  base: string;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Run `node scripts/start.mjs ...args` and wait for the URL it prints (a first run may build the dashboard). */
async function start(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ["scripts/start.mjs", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  // Bounded: 60 s covers a cold dashboard build on a slow machine.
  await until(() => /dashboard\s+http:\/\/\S+/.test(out) || gone, "scripts/start.mjs to print the dashboard URL", 2400, 25);
  const m = /dashboard\s+(http:\/\/\S+)/.exec(out);
  assert.ok(m, `scripts/start.mjs ended before printing the dashboard URL:\n${out}`);
  const base = m[1]!;
  return { child, output: () => out, base, port: Number(new URL(base).port), exited };
}

/** SIGINT, as Ctrl-C would; resolves with how the process ended. */
async function interrupt(s: Started): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  s.child.kill("SIGINT");
  return s.exited;
}

/** Kill a run a failed test left behind (its child stops when its IPC channel closes). */
function cleanup(s: Started | undefined): void {
  if (s !== undefined && s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
}

/** True when nothing listens on 127.0.0.1:port (we can bind it ourselves). */
async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** The next `n` messages, each within 10 s. */
async function take(sub: Sub, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) out.push((await sub.recv({ timeout: 10_000 })).text());
  return out;
}

describe("npm start with the sample feed and rpc service", () => {
  let run: Started | undefined;
  let gwPort = 0;

  before(async () => {
    gwPort = await freePort();
    run = await start(["--port", String(gwPort), "--feed", "tcp://127.0.0.1:0", "--rpc", "tcp://127.0.0.1:0"]);
  });
  after(() => cleanup(run));

  test("prints the dashboard and rpc page URLs on the port asked for", () => {
    assert.equal(run!.base, `http://127.0.0.1:${gwPort}/`);
    assert.match(run!.output(), new RegExp(`rpc page\\s+http://127\\.0\\.0\\.1:${gwPort}/rpc\\.html`));
    assert.match(run!.output(), /\/feed\s+<- tcp:\/\/127\.0\.0\.1:\d+ \(the sample feed\)/);
    assert.match(run!.output(), /\/rpc\s+-> tcp:\/\/127\.0\.0\.1:\d+ \(the sample rpc service\)/);
  });

  test("GET / serves the built dashboard, and its script", async () => {
    const res = await fetch(run!.base);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const html = await res.text();
    for (const id of ["badge", "attempts", "rate", "delay", "count", "topic-cpu", "topic-alerts", "chart-cpu", "chart-mem", "alerts"]) {
      assert.ok(html.includes(`data-testid="${id}"`), `the page has data-testid="${id}"`);
    }
    const src = /<script type="module"[^>]* src="\.\/(assets\/[^"]+\.js)"/.exec(html);
    assert.ok(src, "the page loads a built module script from ./assets/");
    const js = await fetch(new URL(src[1]!, run!.base));
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    await js.arrayBuffer();
  });

  test("GET /rpc.html serves the rpc page", async () => {
    const res = await fetch(new URL("rpc.html", run!.base));
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.ok(html.includes('data-testid="rpc-send-many"'));
  });

  test("GET /healthz answers 200", async () => {
    const res = await fetch(new URL("healthz", run!.base));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  test("a gateway Sub on /feed subscribed to cpu. gets only cpu.<host> messages, each stamped with its send time", async () => {
    const sub = new Sub({ recvBuffer: 1024 });
    try {
      sub.subscribe("cpu.");
      await sub.dial(`ws://127.0.0.1:${gwPort}/feed`, { gateway: true });
      const bodies = await take(sub, 30);
      const hosts = new Set<string>();
      for (const b of bodies) {
        const m = /^cpu\.(\S+) (\{.*\})$/.exec(b);
        assert.ok(m, `a cpu message as "cpu.<host> {json}": ${JSON.stringify(b)}`);
        hosts.add(m[1]!);
        const v = JSON.parse(m[2]!) as { t: unknown; v: unknown };
        assert.equal(typeof v.t, "number");
        assert.equal(typeof v.v, "number");
      }
      assert.deepEqual([...hosts].sort(), ["db-1", "web-1", "web-2"]);
      // The gateway filtered: nothing else crossed the WebSocket for the Sub's own filter to drop.
      assert.equal(sub.stats.filtered, 0);
    } finally {
      await sub.close();
    }
  });

  test("a Req on /rpc gets the sample service's answer", async () => {
    const req = new Req();
    try {
      await req.dial(`ws://127.0.0.1:${gwPort}/rpc`);
      const reply = (await req.request("hello", { timeout: 10_000 })).json() as { echo: unknown; at: unknown };
      assert.equal(reply.echo, "hello");
      assert.equal(typeof reply.at, "number");
    } finally {
      await req.close();
    }
  });

  test("through /rpc a quick request is answered while a slow one waits, and the slow one can be cancelled", async () => {
    const req = new Req();
    try {
      await req.dial(`ws://127.0.0.1:${gwPort}/rpc`);
      const ac = new AbortController();
      let slowSettled = false;
      const slow = req.request("slow", { signal: ac.signal }).finally(() => (slowSettled = true));
      const quick = (await req.request("quick", { timeout: 10_000 })).json() as { echo: unknown };
      assert.equal(quick.echo, "quick");
      assert.equal(slowSettled, false, "the slow request is still in flight");
      const reason = new Error("cancelled by the test");
      ac.abort(reason);
      await assert.rejects(slow, (err) => err === reason);
    } finally {
      await req.close();
    }
  });

  test("SIGINT stops everything, exits 0 and frees the gateway's and the feed's ports", async () => {
    const feedPort = Number(/\/feed\s+<- tcp:\/\/127\.0\.0\.1:(\d+)/.exec(run!.output())![1]);
    const { code, signal } = await interrupt(run!);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, run!.output());
    assert.match(run!.output(), /start: stopped/);
    assert.equal(await portIsFree(gwPort), true, "the gateway's port is free");
    assert.equal(await portIsFree(feedPort), true, "the feed's port is free");
  });
});

describe("npm start -- --upstream", () => {
  let run: Started | undefined;
  let pub: Pub | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;

  after(async () => {
    clearInterval(timer);
    cleanup(run);
    await pub?.close();
  });

  test("points /feed at the given publisher and starts no sample feed", async () => {
    pub = new Pub();
    const l = await pub.listen("tcp://127.0.0.1:0");
    timer = setInterval(() => {
      void pub!.send(`cpu.external ${JSON.stringify({ t: Date.now(), v: 42 })}`);
      void pub!.send(`mem.external ${JSON.stringify({ t: Date.now(), v: 7 })}`);
    }, 20);
    const port = await freePort();
    run = await start(["--port", String(port), "--upstream", l.url, "--rpc", "tcp://127.0.0.1:0", "--no-build"]);
    assert.match(run.output(), new RegExp(`/feed\\s+<- ${l.url.replace(/\./g, "\\.")}\\n`));
    assert.doesNotMatch(run.output(), /the sample feed/);

    const sub = new Sub();
    let bodies: string[];
    try {
      sub.subscribe("cpu.");
      await sub.dial(`ws://127.0.0.1:${port}/feed`, { gateway: true });
      bodies = await take(sub, 5);
    } finally {
      await sub.close();
    }
    for (const b of bodies) assert.match(b, /^cpu\.external \{/);

    const { code } = await interrupt(run);
    assert.equal(code, 0, run.output());
  });
});
