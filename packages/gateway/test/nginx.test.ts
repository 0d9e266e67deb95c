/**
 * Beyond one machine: two spwire-gateway processes behind nginx (Debian's
 * package, /usr/sbin/nginx) as a WebSocket load balancer, with the README's
 * configuration: docs/nginx.conf, run as it is, its {{...}} placeholders
 * filled with loopback addresses.
 *
 * Both gateways dial the same upstream Pub. Node Subs and a Chromium page
 * dial nginx; the gateway holding connections is killed (SIGKILL, no
 * goodbye); every client redials through nginx, lands on the survivor and
 * resumes: its count of received messages rises again. The gateways trust
 * nginx (`--trust-proxy 127.0.0.1`), so their logs name the browsers'
 * addresses, not nginx's.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { Pub, Sub, silentLogger } from "@spwire/node";
import { freePort, startPeer, until, waitForPort, type Peer } from "../../../test-support/peers.js";
import { startBrowserHarness, type BrowserHarness, type CoreModule } from "../../../e2e/support/browser.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const NGINX = "/usr/sbin/nginx";
const SUB_PROTOCOL = "pub.sp.nanomsg.org";

interface GatewayProc {
  port: number;
  child: ChildProcess;
  lines: () => Array<Record<string, unknown>>;
  exited: Promise<number | string>;
}

/** spwire-gateway from the sources (tsx), with one /feed route to `feed`, trusting the local nginx. */
function startGatewayProc(port: number, feed: string): GatewayProc {
  const args = ["--listen", `ws://127.0.0.1:${port}`, "--route", `/feed=sub@${feed}`, "--trust-proxy", "127.0.0.1", "--max-connections-per-ip", "64"];
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "packages/gateway/src/cli.ts", ...args], {
    cwd: root,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SPWIRE_"))),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | string>((resolve) => child.once("close", (code, signal) => resolve(code ?? signal ?? -1)));
  const lines = (): Array<Record<string, unknown>> =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { port, child, lines, exited };
}

async function ready(g: GatewayProc): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (g.child.exitCode !== null) throw new Error(`gateway on ${g.port} exited: ${JSON.stringify(g.lines())}`);
    const ok = await fetch(`http://127.0.0.1:${g.port}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gateway on ${g.port} never became ready`);
}

/** Browser connections open on a gateway now, from its own /metrics (asked directly, not through nginx). */
async function connections(g: GatewayProc): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.port}/metrics`)).text();
  const m = /^spwire_gateway_connections\{route="\/feed"\} (\d+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

async function stop(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** docs/nginx.conf with its placeholders filled, inside a minimal main configuration that keeps everything in `dir`. */
function nginxConfig(dir: string, listen: number, gateways: number[]): string {
  const site = readFileSync(join(root, "docs", "nginx.conf"), "utf8")
    .replaceAll("{{GATEWAY_1}}", `127.0.0.1:${gateways[0]}`)
    .replaceAll("{{GATEWAY_2}}", `127.0.0.1:${gateways[1]}`)
    .replaceAll("{{LISTEN}}", `127.0.0.1:${listen}`)
    .replaceAll("{{SERVER_NAME}}", "localhost")
    .replaceAll("{{ACCESS_LOG}}", `${dir}/access.log`);
  const directives = site.split("\n").filter((l) => !l.trimStart().startsWith("#"));
  assert.deepEqual(directives.filter((l) => l.includes("{{")), [], "every placeholder filled");
  writeFileSync(join(dir, "spwire.conf"), site);
  const main = [
    "daemon off;",
    "master_process off;", // one process: the test's child is all of nginx
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log info;`,
    "events { worker_connections 512; }",
    "http {",
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((k) => `  ${k}_temp_path ${dir}/${k}_temp;`),
    `  include ${dir}/spwire.conf;`,
    "}",
  ].join("\n");
  writeFileSync(join(dir, "nginx.conf"), main);
  return join(dir, "nginx.conf");
}

// In the page: a Sub through nginx, counting what it receives (on globalThis.feed).
const pageOpen = async (core: CoreModule, a: { url: string }): Promise<void> => {
  const sub = new core.Sub({ reconnectMinTime: 50, reconnectMaxTime: 500 });
  const rec = { sub, count: 0, removed: 0 };
  (globalThis as unknown as { feed: typeof rec }).feed = rec;
  sub.on("piperemove", () => rec.removed++);
  sub.subscribe("tick");
  await sub.dial(a.url, { gateway: true });
  void (async () => {
    for await (const m of sub) if (m.text().startsWith("tick ")) rec.count++;
  })();
};
const pageCount = (_core: CoreModule, _a: null): { count: number; removed: number } => {
  const f = (globalThis as unknown as { feed: { count: number; removed: number } }).feed;
  return { count: f.count, removed: f.removed };
};
const pageClose = async (_core: CoreModule, _a: null): Promise<void> => {
  await (globalThis as unknown as { feed: { sub: { close(): Promise<void> } } }).feed.sub.close();
};

test("the README shows docs/nginx.conf as it is", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const conf = readFileSync(join(root, "docs", "nginx.conf"), "utf8");
  assert.ok(readme.includes("```nginx\n" + conf + "```\n"), "README.md has docs/nginx.conf verbatim in an nginx code block");
});

test("two gateways behind nginx (docs/nginx.conf): kill the one holding connections, every client resumes through the other", { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(NGINX), `${NGINX} is missing: node scripts/system-deps.mjs installs Debian's nginx package`);
  const dir = mkdtempSync(join(tmpdir(), "spwire-nginx-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const [ngxPort, p1, p2] = await Promise.all([freePort(), freePort(), freePort()]);
  const pub = new Pub();
  let ticker: ReturnType<typeof setInterval> | undefined;
  const gateways: GatewayProc[] = [];
  let nginx: Peer | undefined;
  let harness: BrowserHarness | undefined;
  const subs: Array<{ sub: Sub; count: number; removed: number }> = [];
  let raw: WebSocket | undefined;
  try {
    const feed = (await pub.listen("tcp://127.0.0.1:0")).url;
    let n = 0;
    ticker = setInterval(() => void pub.send(`tick ${n++}`), 20);
    gateways.push(startGatewayProc(p1, feed), startGatewayProc(p2, feed));
    const conf = nginxConfig(dir, ngxPort, [p1, p2]);
    nginx = startPeer(NGINX, ["-p", dir, "-c", conf, "-e", join(dir, "error.log")]);
    await Promise.all([...gateways.map(ready), waitForPort(ngxPort)]);
    const front = `ws://127.0.0.1:${ngxPort}/feed`;

    // Through nginx: /healthz reaches a gateway; /metrics is kept for direct scrapes.
    assert.equal((await fetch(`http://127.0.0.1:${ngxPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${ngxPort}/metrics`)).status, 404);

    // Six Node Subs and one Chromium page, round-robin over the two gateways.
    for (let i = 0; i < 6; i++) {
      const sub = new Sub({ logger: silentLogger, reconnectMinTime: 50, reconnectMaxTime: 500 });
      const rec = { sub, count: 0, removed: 0 };
      subs.push(rec);
      sub.on("piperemove", () => rec.removed++);
      sub.subscribe("tick");
      void (async () => {
        for await (const m of sub) if (m.text().startsWith("tick ")) rec.count++;
      })();
      await sub.dial(front, { gateway: true });
    }
    harness = await startBrowserHarness();
    await harness.run(pageOpen, { url: front });
    const page = (): Promise<{ count: number; removed: number }> => harness!.run(pageCount, null);

    await until(() => subs.every((s) => s.count >= 3), "every Node Sub receiving", 800);
    for (let i = 0; i < 400 && (await page()).count < 3; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok((await page()).count >= 3, "the page receives through nginx");

    const before = await Promise.all(gateways.map(connections));
    assert.equal(before[0]! + before[1]!, 7, `connections per gateway: ${before.join(", ")}`);
    assert.ok(before[0]! > 0 && before[1]! > 0, `nginx spread the connections: ${before.join(", ")}`);
    const victim = before[0]! >= before[1]! ? 0 : 1;
    const survivor = gateways[1 - victim]!;

    const counts = subs.map((s) => s.count);
    const pageBefore = await page();
    gateways[victim]!.child.kill("SIGKILL");
    assert.equal(await gateways[victim]!.exited, "SIGKILL");

    // Everyone is on the survivor, and everyone's count rises again.
    for (let i = 0; i < 800 && (await connections(survivor)) < 7; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await connections(survivor), 7);
    await until(() => subs.every((s, i) => s.count >= counts[i]! + 5), "every Node Sub resumed", 800);
    for (let i = 0; i < 400 && (await page()).count < pageBefore.count + 5; i++) await new Promise((r) => setTimeout(r, 25));
    const pageAfter = await page();
    assert.ok(pageAfter.count >= pageBefore.count + 5, `the page resumed: ${pageBefore.count} -> ${pageAfter.count}`);
    // Exactly the clients that were on the killed gateway lost a pipe.
    const lost = subs.filter((s) => s.removed > 0).length + (pageAfter.removed > 0 ? 1 : 0);
    assert.equal(lost, before[victim]);

    // The survivor believes nginx's X-Forwarded-For (trustProxy): a client from 127.0.0.5 is logged as such, via nginx.
    raw = new WebSocket(`${front}?sub=tick`, SUB_PROTOCOL, { localAddress: "127.0.0.5", perMessageDeflate: false });
    raw.on("error", () => undefined);
    let rawFrames = 0;
    raw.on("message", () => rawFrames++);
    await until(() => rawFrames >= 2, "the 127.0.0.5 client receiving", 800);
    const connected = survivor.lines().filter((l) => l.msg === "browser connected");
    assert.ok(connected.length >= 8);
    assert.ok(connected.every((l) => l.via === "127.0.0.1"), "every connection came via nginx");
    assert.deepEqual(
      connected.map((l) => l.remote).filter((r) => r !== "ws://127.0.0.1"),
      ["ws://127.0.0.5"],
    );
    const errors = survivor.lines().filter((l) => Number(l.level) >= 50);
    assert.deepEqual(errors, [], "no error lines from the survivor");
  } finally {
    raw?.terminate();
    if (harness !== undefined) {
      await harness.run(pageClose, null).catch(() => undefined);
      await harness.close();
    }
    await Promise.all(subs.map((s) => s.sub.close()));
    if (nginx !== undefined) await stop(nginx.child, nginx.exited);
    await Promise.all(gateways.map((g) => stop(g.child, g.exited)));
    if (ticker !== undefined) clearInterval(ticker);
    await pub.close();
  }
  // nginx proxied the upgrades to both gateways, answered 101, and logged paths without queries (where tokens travel).
  const access = readFileSync(join(dir, "access.log"), "utf8");
  assert.match(access, /"GET \/feed HTTP\/1\.1" 101 /);
  for (const p of [p1, p2]) assert.ok(access.includes(`"127.0.0.1:${p}"`), `the access log shows gateway ${p}`);
  assert.ok(!access.includes("?"), "no query string in the access log");
  const errorLog = readFileSync(join(dir, "error.log"), "utf8");
  assert.doesNotMatch(errorLog, /\[(emerg|alert|crit)\]/, errorLog);
});
