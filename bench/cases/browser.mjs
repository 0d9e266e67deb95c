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
 *
 * Each variant runs once untimed before its reps, and the first waits 3 s
 * (BENCH_CHROME_SETTLE ms) after Chromium is up: see `once` and `setup`.
 *
 * Diagnostics, none of them in a normal run (bench/README.md, "Chromium page"):
 *   BENCH_BROWSER_WARM=0.5 times only the second half of the messages (default 0.1).
 *   BENCH_BROWSER_SPLIT=1 (or a list of ids) adds variants that split the gap:
 *     gw-ws     gateway -> the page's raw WebSocket (what the gateway path costs)
 *     ws-data   raw WebSocket whose onmessage reads ev.data as bytes (what any real page pays)
 *     ws-sub    raw ws server -> spwire Sub, no gateway (what the page's spwire layer costs)
 *     spwire-b, ws-sub-b   the same with the build in BENCH_BROWSER_AB=DIR, in the same page (an A/B)
 *   BENCH_CHROME_PROFILE=DIR writes a CPU profile of the page per timed run and
 *     prints its µs per message: idle, Blink/V8 outside JS, GC, JS, top functions.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
import { Child, benchDir, newestMtime, stopAll } from "../lib/proc.mjs";
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
async function spwire({ url, count, warm, alt }) {
  const lib = alt ? await import("/alt/spwire.js") : core;
  const sub = new lib.Sub({ recvBuffer: 1 << 20 });
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
function raw({ url, count, warm, protocol, touch }) {
  return new Promise((opened, failed) => {
    const ws = new WebSocket(url, protocol);
    ws.binaryType = "arraybuffer";
    ws.onerror = () => failed(new Error("WebSocket error"));
    ws.onopen = () => opened({ counting: new Promise((done) => {
      let n = 0, t0 = 0;
      ws.onmessage = touch ? (ev) => { if (new Uint8Array(ev.data).length > 0) tick(); } : tick;
      function tick() {
        if (++n === warm) t0 = performance.now();
        if (n === count) {
          const t1 = performance.now();
          ws.close();
          done({ seconds: (t1 - t0) / 1000, count: count - warm });
        }
      }
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
  const built = join(coreDist, "spwire.js");
  if (existsSync(built) && statSync(built).mtimeMs >= newestMtime(coreSrc)) return;
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
    // BENCH_BROWSER_AB=DIR: /alt/ serves another browser build, for an A/B in the same page.
    const alt = path.startsWith("/alt/") && process.env.BENCH_BROWSER_AB;
    const dist = alt ? resolve(alt) : coreDist;
    const file = resolve(dist, `.${path.slice(alt ? 4 : 5)}`);
    if (!(alt || path.startsWith("/core/")) || !file.startsWith(dist + sep) || !existsSync(file)) {
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

/**
 * BENCH_CHROME_PROFILE=DIR: a V8 CPU profile of the page per run, written to
 * DIR/<variant>-<n>.cpuprofile (open it in DevTools' Performance panel), and
 * its summary printed: the share of the page's main thread that is idle, in
 * GC, in Blink/V8 outside JavaScript ("(program)") and in each JS function.
 * Only the Profiler domain is enabled over the DevTools protocol; the Network
 * domain, which reports every WebSocket frame (see above), stays off.
 */
async function pageProfiler(profileDir) {
  let port;
  for (let i = 0; port === undefined; i++) {
    try {
      port = readFileSync(join(profileDir, "DevToolsActivePort"), "utf8").split("\n")[0];
    } catch {
      if (i > 100) throw new Error("Chromium wrote no DevToolsActivePort");
      await sleep(100);
    }
  }
  let target;
  for (let i = 0; target === undefined; i++) {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    target = list.find((t) => t.type === "page");
    if (target === undefined) await sleep(100);
  }
  const cdp = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((r, j) => (cdp.once("open", r), cdp.once("error", j)));
  let id = 0;
  const pending = new Map();
  cdp.on("message", (d) => {
    const m = JSON.parse(d.toString());
    if (m.id !== undefined) pending.get(m.id)?.(m.result);
  });
  const call = (method, params = {}) =>
    new Promise((r) => {
      pending.set(++id, r);
      cdp.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 200 });
  return { start: () => call("Profiler.start"), stop: async () => (await call("Profiler.stop")).profile, close: () => cdp.close() };
}

/** Self time per node name ("(idle)", "(garbage collector)", "fn file:line"), largest first, as shares. */
function summarize(profile) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = profile.timeDeltas;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byId.get(profile.samples[i]);
    const f = n.callFrame;
    const name = f.url ? `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\//, "")}:${f.lineNumber + 1}:${f.columnNumber + 1}` : f.functionName;
    const d = dt[i + 1] ?? 0;
    self.set(name, (self.get(name) ?? 0) + d);
    total += d;
  }
  return [...self].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, share: us / total, us }));
}

export function browserCases(ctx) {
  // Chromium's start and its slow receive path: only in the full run.
  if (ctx.mode !== "full") return [];
  // The diagnostic variants (bench/README.md, "Chromium page"): BENCH_BROWSER_SPLIT=1 for all, or a list of ids.
  const alt = process.env.BENCH_BROWSER_AB;
  const splitEnv = process.env.BENCH_BROWSER_SPLIT ?? "";
  const split = splitEnv === "1" ? ["gw-ws", "ws-data", "ws-sub", "spwire-b", "ws-sub-b"] : splitEnv.split(",");
  const count = ctx.count(60_000);
  // BENCH_BROWSER_WARM: the share of messages before the timed window (0.1); at 0.5 the senders have finished before it.
  const warm = Math.floor(count * Number(process.env.BENCH_BROWSER_WARM ?? 0.1));
  let web;
  let chrome;
  let watchdog;
  let profile;
  let pub;
  let gw;
  let raw;
  let urls;
  let profiler;
  let profiled = 0;
  const run1 = async (id, variant, sender, url, extra, profiling) => {
    await web.command({ variant, url, count, warm, protocol: "pub.sp.nanomsg.org", ...extra }, ctx.timeout);
    const c = await web.wait("/connected", ctx.timeout);
    if (c.error) throw new Error(`in the page: ${c.error}`);
    await sleep(50);
    if (profiling) await profiler.start();
    sender.send("go");
    const r = await web.wait("/result", ctx.timeout);
    if (profiling) {
      const prof = await profiler.stop();
      const file = join(process.env.BENCH_CHROME_PROFILE, `${id}-${++profiled}.cpuprofile`);
      writeFileSync(file, JSON.stringify(prof));
      const rows = summarize(prof);
      const us = (name) => rows.find((x) => x.name === name)?.us ?? 0;
      const all = rows.reduce((n, x) => n + x.us, 0);
      const [idle, program, gc] = [us("(idle)"), us("(program)"), us("(garbage collector)")];
      const per = (t) => (t / count).toFixed(1);
      const js = rows.filter((x) => !x.name.startsWith("("));
      console.error(
        `page profile ${file}: µs per message: idle ${per(idle)}, Blink/V8 ${per(program)}, GC ${per(gc)}, JS ${per(all - idle - program - gc)}` +
          js.slice(0, 6).map((x) => `\n  ${per(x.us).padStart(5)}  ${x.name}`).join(""),
      );
    }
    if (r.error) throw new Error(`in the page: ${r.error}`);
    return { rate: r.count / r.seconds };
  };
  /**
   * Each variant runs once untimed first, and setup lets a fresh Chromium
   * settle: rep 1 of spwire (always the first run) was 0.45-0.7x its later
   * reps, its page profile 40-50 µs idle per message against ~20, so rep 1
   * measured Chromium's start-up and a cold page rather than the path.
   */
  const warmed = new Set();
  const once = async (id, variant, sender, url, extra = {}) => {
    if (!warmed.has(id)) {
      warmed.add(id);
      await run1(id, variant, sender, url, extra, false);
    }
    return run1(id, variant, sender, url, extra, profiler !== undefined);
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
            ...(process.env.BENCH_CHROME_PROFILE ? ["--remote-debugging-port=0"] : []),
            `--user-data-dir=${profile}`,
            `${web.origin}/`,
          ],
          // Its own process group, so that teardown ends every Chromium process (renderers, crashpad ...).
          { stdio: process.env.BENCH_CHROME_LOG ? "inherit" : "ignore", detached: true },
        );
        // If this runner dies without a teardown, the watchdog's stdin closes and it ends that group.
        watchdog = spawn("/bin/sh", ["-c", `cat >/dev/null; kill -KILL -- -${chrome.pid} 2>/dev/null`], { stdio: ["pipe", "ignore", "ignore"] });
        if (process.env.BENCH_CHROME_PROFILE) {
          mkdirSync(process.env.BENCH_CHROME_PROFILE, { recursive: true });
          profiler = await pageProfiler(profile);
        }
        // A fresh Chromium keeps a CPU busy for seconds after the page is up (its own
        // start-up work): measured from the start, rep 1 had half the CPU of the others.
        await web.wait("/next", ctx.timeout);
        await sleep(Number(process.env.BENCH_CHROME_SETTLE ?? 3000));
      },
      async teardown() {
        profiler?.close();
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
        { id: "spwire", label: "gateway -> spwire Sub in the page", run: () => once("spwire", "spwire", pub, urls.gateway) },
        { id: "ws", label: "raw WebSocket in the same page", run: () => once("ws", "raw", raw, urls.raw) },
        { id: "gw-ws", label: "gateway -> the page's raw WebSocket", run: () => once("gw-ws", "raw", pub, urls.gateway) },
        { id: "ws-data", label: "raw WebSocket, onmessage reads ev.data", run: () => once("ws-data", "raw", raw, urls.raw, { touch: true }) },
        { id: "ws-sub", label: "raw ws server -> spwire Sub (no gateway)", run: () => once("ws-sub", "spwire", raw, urls.raw) },
        { id: "spwire-b", label: `gateway -> Sub of ${alt}`, run: () => once("spwire-b", "spwire", pub, urls.gateway, { alt: true }) },
        { id: "ws-sub-b", label: `raw ws server -> Sub of ${alt}`, run: () => once("ws-sub-b", "spwire", raw, urls.raw, { alt: true }) },
      ].filter((v) => v.id === "spwire" || v.id === "ws" || (split.includes(v.id) && (alt || !v.id.endsWith("-b")))),
      compare: [{ a: "spwire", b: "ws", metric: "rate", target: { op: ">=", value: 0.9 } }],
    },
  ];
}
