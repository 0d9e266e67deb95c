/**
 * A Chromium page receiving 64 B messages: through the gateway into an
 * spwire `Sub` (the browser build, dist/spwire.js, imported by the page), beside
 * the browser's own `WebSocket` in the same page receiving the same messages
 * from a raw `ws` server. The page times messages `warm`..`count` itself
 * (performance.now()): the page is the bottleneck, so its own window is the
 * rate.
 *
 *   spwire: tcp Pub (process) -> gateway (process) -> page: new Sub(), for await
 *   ws:     `ws` server (process) -> page: new WebSocket(), onmessage
 *
 * Debian's Chromium (/usr/bin/chromium) is started headless directly, not
 * through playwright-core: Playwright turns on the DevTools Network domain,
 * which reports every WebSocket frame to the driver, and that alone cut the
 * raw WebSocket's rate in the page about 2.5x here (8k against 20k msgs/s),
 * so it would have measured Playwright. The page instead asks this runner
 * what to do next and posts its figures back over HTTP, on 127.0.0.1.
 * BENCH_CHROME_LOG=1 shows Chromium's log and the page's requests.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Child, benchDir, stopAll } from "../lib/proc.mjs";
import { gatewayInput } from "./fanout.mjs";

const CHROMIUM = "/usr/bin/chromium";
/** The browser build a page loads (dist/spwire.js); served as /core/. */
const coreDist = resolve(benchDir, "..", "dist");
const coreSrc = resolve(benchDir, "..", "packages", "core", "src");

/** The page: fetch a command, run it, report, repeat. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>spwire bench</title><link rel="icon" href="data:,">
<script type="module">
const core = await import("/core/spwire.js");
const post = (path, body) => fetch(path, { method: "POST", body: JSON.stringify(body) });

/** spwire: a Sub through the gateway; resolves once connected, with { counting } (a promise would be adopted). */
async function spwire({ url, count, warm }) {
  const sub = new core.Sub({ recvBuffer: 1 << 20 });
  sub.subscribe("");
  await sub.dial(url);
  const counting = (async () => {
    let n = 0, t0 = 0, t1 = 0;
    for await (const _m of sub) {
      if (++n === warm) t0 = performance.now();
      if (n === count) { t1 = performance.now(); break; }
    }
    await sub.close();
    return { seconds: (t1 - t0) / 1000, count: count - warm };
  })();
  return { counting };
}

/** The browser's own WebSocket, counting in onmessage. */
function raw({ url, count, warm }) {
  return new Promise((opened, failed) => {
    const ws = new WebSocket(url, "pub.sp.nanomsg.org");
    ws.binaryType = "arraybuffer";
    ws.onerror = () => failed(new Error("WebSocket error"));
    ws.onopen = () => opened({ counting: new Promise((done) => {
      let n = 0, t0 = 0;
      ws.onmessage = () => {
        if (++n === warm) t0 = performance.now();
        if (n === count) {
          const t1 = performance.now();
          ws.close();
          done({ seconds: (t1 - t0) / 1000, count: count - warm });
        }
      };
    }) });
  });
}

for (;;) {
  const cmd = await (await fetch("/next")).json();
  if (cmd.quit) break;
  let step = "/connected";
  try {
    const { counting } = await (cmd.variant === "spwire" ? spwire(cmd) : raw(cmd));
    await post(step, {});
    step = "/result";
    await post(step, await counting);
  } catch (err) {
    await post(step, { error: String(err && err.stack || err) });
  }
}
</script>`;

/**
 * Build dist/ (vite, as `npm run build:browser`) when it is missing or older
 * than core's sources: the page must measure the code as it is.
 */
function ensureBrowserBuild() {
  const newest = (dir) => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  const built = join(coreDist, "spwire.js");
  if (existsSync(built) && statSync(built).mtimeMs >= newest(coreSrc)) return;
  console.log("bench: building the browser build (dist/ older than packages/core/src): npm run build:browser");
  const r = spawnSync("npm", ["run", "build:browser"], { cwd: resolve(benchDir, ".."), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm run build:browser failed:\n${r.stdout}${r.stderr}`);
}

/** The page's server: `/`, `/core/*` (dist/, the browser build), and the command channel. */
async function pageServer() {
  let nextRes;
  let waiting = [];
  /** What the page said that nobody waited for yet. */
  const unclaimed = [];
  const post = (path, body) => {
    const i = waiting.findIndex((w) => w.path === path);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(body);
    else if (path !== "/next") unclaimed.push({ path, body });
  };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (process.env.BENCH_CHROME_LOG) console.error(`page server: ${req.method} ${path}`);
    if (req.method === "POST") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        res.end();
        post(path, JSON.parse(body || "{}"));
      });
      return;
    }
    if (path === "/next") {
      nextRes = res;
      post("/next", {});
      return;
    }
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      return res.end(PAGE);
    }
    const file = resolve(coreDist, `.${path.slice("/core".length)}`);
    if (!path.startsWith("/core/") || !file.startsWith(coreDist + sep) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": file.endsWith(".js") ? "text/javascript" : "application/json" });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  /** The next POST (or GET /next) to `path`, within `ms`. */
  const wait = (path, ms) =>
    new Promise((resolve, reject) => {
      const u = unclaimed.findIndex((x) => x.path === path);
      if (u >= 0) return resolve(unclaimed.splice(u, 1)[0].body);
      if (path === "/next" && nextRes !== undefined) return resolve({});
      const w = { path, resolve: (v) => (clearTimeout(w.timer), resolve(v)) };
      w.timer = setTimeout(() => {
        waiting = waiting.filter((x) => x !== w);
        reject(new Error(`the page sent no ${path} within ${ms} ms`));
      }, ms);
      waiting.push(w);
    });
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    /** Hand the page its next command, once it asks. */
    async command(cmd, ms) {
      if (nextRes === undefined) await wait("/next", ms);
      const res = nextRes;
      nextRes = undefined;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(cmd));
    },
    wait,
    close: () =>
      new Promise((r) => {
        nextRes?.end(JSON.stringify({ quit: true }));
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function browserCases(ctx) {
  // Chromium's start and its slow receive path: only in the full run.
  if (ctx.mode !== "full") return [];
  const count = ctx.count(60_000);
  const warm = Math.floor(count / 10);
  let web;
  let chrome;
  let watchdog;
  let profile;
  let pub;
  let gw;
  let raw;
  let urls;
  const once = async (variant, sender, url) => {
    await web.command({ variant, url, count, warm }, ctx.timeout);
    const c = await web.wait("/connected", ctx.timeout);
    if (c.error) throw new Error(`in the page: ${c.error}`);
    await sleep(50);
    sender.send("go");
    const r = await web.wait("/result", ctx.timeout);
    if (r.error) throw new Error(`in the page: ${r.error}`);
    return { rate: r.count / r.seconds };
  };
  return [
    {
      id: "browser-64",
      title: "Chromium page receiving 64 B messages",
      metrics: { rate: { unit: "msgs/s", better: "higher" } },
      async setup() {
        if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
        ensureBrowserBuild();
        ctx.extra.chromium = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" }).stdout.trim().replace(/^Chromium\s+/, "");
        pub = Child.node("fanout.mjs", "spwire-pub", { url: "tcp://127.0.0.1:0", size: 64, count }, { spwire: true });
        const p = await pub.next("ready");
        // A queue that never drops, as the raw server's buffer never does: both pages get every message.
        const queue = { messages: 1_000_000, bytes: 1 << 30 };
        gw = Child.node("gateway.mjs", "gateway", { input: gatewayInput(p.url, { queue }), wait: ["/feed"] }, { spwire: true });
        raw = Child.node("fanout.mjs", "ws-broadcast", { size: 64, count });
        urls = { gateway: `${(await gw.next("ready")).url}/feed`, raw: (await raw.next("ready")).url };
        web = await pageServer();
        profile = mkdtempSync(join(ctx.tmp, "chromium-"));
        chrome = spawn(
          CHROMIUM,
          [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            ...(process.env.BENCH_CHROME_LOG ? ["--enable-logging=stderr", "--log-level=0"] : []),
            `--user-data-dir=${profile}`,
            `${web.origin}/`,
          ],
          // Its own process group, so that teardown ends every Chromium process (renderers, crashpad ...).
          { stdio: process.env.BENCH_CHROME_LOG ? "inherit" : "ignore", detached: true },
        );
        // If this runner dies without a teardown, the watchdog's stdin closes and it ends that group.
        watchdog = spawn("/bin/sh", ["-c", `cat >/dev/null; kill -KILL -- -${chrome.pid} 2>/dev/null`], { stdio: ["pipe", "ignore", "ignore"] });
      },
      async teardown() {
        await web?.close();
        if (chrome !== undefined && chrome.exitCode === null) {
          const exited = new Promise((r) => chrome.once("exit", r));
          const group = (signal) => {
            try {
              process.kill(-chrome.pid, signal);
            } catch {
              // already gone
            }
          };
          group("SIGTERM");
          const t = setTimeout(() => group("SIGKILL"), 5000);
          await exited;
          clearTimeout(t);
          // The rest of the group (crashpad, zygotes) may outlive the browser process by a moment.
          await sleep(200);
          group("SIGKILL");
        }
        watchdog?.stdin.end();
        if (profile !== undefined) {
          try {
            rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
          } catch (err) {
            console.error(`bench: could not remove ${profile}: ${err.message}`);
          }
        }
        await stopAll(pub, gw, raw);
      },
      variants: [
        { id: "spwire", label: "gateway -> spwire Sub in the page", run: () => once("spwire", pub, urls.gateway) },
        { id: "ws", label: "raw WebSocket in the same page", run: () => once("raw", raw, urls.raw) },
      ],
      compare: [{ a: "spwire", b: "ws", metric: "rate", target: { op: ">=", value: 0.9 } }],
    },
  ];
}
